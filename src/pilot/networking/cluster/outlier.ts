/**
 * outlierDetection -> Envoy outlier_detection (Istio's applyOutlierDetection): success-rate
 * ejection off; consecutive 5xx and gateway errors enforced at 100% when set (the deprecated
 * consecutiveErrors counts as 5xx when consecutive5xxErrors is unset); local-origin errors split
 * on request; and the panic threshold set from minHealthPercent (0 by default: Istio disables
 * Envoy's 50% panic mode, which rarely helps with few endpoints).
 */
import type { OutlierDetection } from '../../../api/networking/shared.ts';
import { type ProtoObject, protoDuration, u32 } from './values.ts';

export function applyOutlierDetection(cluster: ProtoObject, od: OutlierDetection | undefined): void {
  if (!od) return;
  const out: ProtoObject = { enforcing_success_rate: u32(0) };
  const five =
    od.consecutive5xxErrors ??
    (od.consecutiveErrors && od.consecutiveErrors > 0 ? od.consecutiveErrors : undefined);
  if (five !== undefined) {
    out.consecutive_5xx = u32(five);
    out.enforcing_consecutive_5xx = u32(five > 0 ? 100 : 0);
  }
  if (od.consecutiveGatewayErrors !== undefined) {
    out.consecutive_gateway_failure = u32(od.consecutiveGatewayErrors);
    out.enforcing_consecutive_gateway_failure = u32(od.consecutiveGatewayErrors > 0 ? 100 : 0);
  }
  if (od.interval) out.interval = protoDuration(od.interval);
  if (od.baseEjectionTime) out.base_ejection_time = protoDuration(od.baseEjectionTime);
  if ((od.maxEjectionPercent ?? 0) > 0) out.max_ejection_percent = u32(od.maxEjectionPercent as number);
  if (od.splitExternalLocalOriginErrors) {
    out.split_external_local_origin_errors = true;
    if ((od.consecutiveLocalOriginFailures ?? 0) > 0) {
      out.consecutive_local_origin_failure = u32(od.consecutiveLocalOriginFailures as number);
      out.enforcing_consecutive_local_origin_failure = u32(100);
    }
    out.enforcing_local_origin_success_rate = u32(0);
  }
  cluster.outlier_detection = out;
  const min = od.minHealthPercent ?? 0;
  if (min >= 0) {
    cluster.common_lb_config = {
      ...(cluster.common_lb_config as ProtoObject),
      healthy_panic_threshold: { value: min },
    };
  }
}
