/**
 * VirtualService `fault` -> envoy.extensions.filters.http.fault.v3.HTTPFault, the per-route
 * config of the fault filter (Istio's TranslateFault). Percentages become FractionalPercent per
 * million (value × 10,000, truncated, as Istio does); the deprecated integer `percent` per
 * hundred. exponentialDelay and http2Error aborts are rejected by validation before this runs.
 */
import type { HTTPFaultInjection } from '../../../api/networking/virtual-service.ts';
import { parseDuration } from '../../../lib/duration.ts';
import { GrpcStatus } from '../../../lib/grpc-status.ts';
import { toProtoDuration } from '../../../lib/xds/well-known.ts';
import type { Proto } from './match.ts';

/** gRPC status names as Istio's webhook accepts them, by code. */
const GRPC_STATUS_CODES: Readonly<Record<string, number>> = GrpcStatus;

/** Istio Percent (0-100, fractions allowed) -> FractionalPercent per million. */
export function percentPerMillion(value: number): Proto {
  return { numerator: Math.trunc(value * 10_000), denominator: 'MILLION' };
}

/** An integer percentage -> FractionalPercent per hundred. */
export function percentPerHundred(value: number): Proto {
  return { numerator: value, denominator: 'HUNDRED' };
}

export function buildHttpFault(fault: HTTPFaultInjection | undefined): Proto | undefined {
  if (!fault) return undefined;
  const out: Proto = {};
  const delay = fault.delay;
  if (delay?.fixedDelay !== undefined) {
    const ms = parseDuration(delay.fixedDelay) ?? 0;
    out.delay = {
      fixed_delay: toProtoDuration(ms),
      percentage:
        delay.percentage !== undefined
          ? percentPerMillion(delay.percentage.value ?? 0)
          : percentPerHundred(delay.percent ?? 0),
    };
  }
  const abort = fault.abort;
  if (abort && (abort.httpStatus !== undefined || abort.grpcStatus !== undefined)) {
    const a: Proto = {};
    if (abort.httpStatus !== undefined) a.http_status = abort.httpStatus;
    else a.grpc_status = GRPC_STATUS_CODES[abort.grpcStatus as string];
    if (abort.percentage !== undefined) a.percentage = percentPerMillion(abort.percentage.value ?? 0);
    out.abort = a;
  }
  return out.delay || out.abort ? out : undefined;
}
