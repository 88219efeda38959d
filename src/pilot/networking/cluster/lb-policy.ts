/**
 * loadBalancer -> Envoy load-balancing config (Istio's applyLoadBalancer):
 *   simple LEAST_REQUEST/LEAST_CONN -> LEAST_REQUEST, RANDOM -> RANDOM, ROUND_ROBIN ->
 *   ROUND_ROBIN, PASSTHROUGH -> ORIGINAL_DST cluster with CLUSTER_PROVIDED; unset/UNSPECIFIED ->
 *   Istio's default LEAST_REQUEST (ROUND_ROBIN for proxyless gRPC, which supports only that
 *   and RING_HASH); warmup -> slow_start_config;
 *   consistentHash -> RING_HASH (ring_hash_lb_config.minimum_ring_size, 1024 by default) or
 *   MAGLEV (maglev_lb_config.table_size). The hash key itself is a route setting: buildHashPolicy.
 * localityLbSetting: the rule's setting over the mesh's (Istio's GetLocalityLbSetting); when
 * one applies, clusters weight localities (locality_weighted_lb_config).
 */
import type { MeshConfig } from '../../../api/mesh/mesh-config.ts';
import type {
  ConsistentHashLb,
  LoadBalancerSettings,
  LocalityLoadBalancerSetting,
  TrafficPolicy,
} from '../../../api/networking/shared.ts';
import { parseDuration } from '../../../lib/duration.ts';
import { type ProtoObject, protoDuration } from './values.ts';

/**
 * The locality setting in force (Istio's GetLocalityLbSetting): on unless the mesh disables it
 * and the rule does not re-enable it, or the rule disables it; the rule's setting wins when set.
 */
export function localityLbSettingFor(
  mesh: MeshConfig,
  lb: LoadBalancerSettings | undefined,
): LocalityLoadBalancerSetting | undefined {
  const meshSetting = mesh.localityLbSetting;
  const rule = lb?.localityLbSetting;
  let enabled = meshSetting !== undefined && meshSetting.enabled !== false;
  if (rule) enabled = rule.enabled !== false;
  if (!enabled) return undefined;
  return rule ?? meshSetting;
}

export interface LoadBalancerOptions {
  /** Proxyless gRPC clients (node metadata GENERATOR=grpc) get ROUND_ROBIN as default. */
  readonly proxyless: boolean;
  readonly locality: LocalityLoadBalancerSetting | undefined;
}

/** Applies `lb` to an Envoy cluster object (its `type` must already be set). */
export function applyLoadBalancer(
  cluster: ProtoObject,
  lb: LoadBalancerSettings | undefined,
  opts: LoadBalancerOptions,
): void {
  if (opts.locality) {
    cluster.common_lb_config = {
      ...(cluster.common_lb_config as ProtoObject),
      locality_weighted_lb_config: {},
    };
  }
  if (cluster.type === 'ORIGINAL_DST') {
    cluster.lb_policy = 'CLUSTER_PROVIDED';
    return;
  }
  if (lb?.consistentHash) {
    applyConsistentHash(cluster, lb.consistentHash);
    return;
  }
  const slowStart = slowStartConfig(lb);
  switch (lb?.simple) {
    case 'ROUND_ROBIN':
      cluster.lb_policy = 'ROUND_ROBIN';
      if (slowStart) cluster.round_robin_lb_config = { slow_start_config: slowStart };
      return;
    case 'RANDOM':
      cluster.lb_policy = 'RANDOM';
      return;
    case 'PASSTHROUGH':
      cluster.type = 'ORIGINAL_DST';
      cluster.lb_policy = 'CLUSTER_PROVIDED';
      delete cluster.eds_cluster_config;
      delete cluster.load_assignment;
      delete cluster.dns_lookup_family;
      delete cluster.dns_refresh_rate;
      delete cluster.respect_dns_ttl;
      return;
    case 'LEAST_CONN':
    case 'LEAST_REQUEST':
      cluster.lb_policy = 'LEAST_REQUEST';
      if (slowStart) cluster.least_request_lb_config = { slow_start_config: slowStart };
      return;
    default:
      if (opts.proxyless) {
        cluster.lb_policy = 'ROUND_ROBIN';
        if (slowStart) cluster.round_robin_lb_config = { slow_start_config: slowStart };
        return;
      }
      cluster.lb_policy = 'LEAST_REQUEST';
      if (slowStart) cluster.least_request_lb_config = { slow_start_config: slowStart };
  }
}

function applyConsistentHash(cluster: ProtoObject, ch: ConsistentHashLb): void {
  if (ch.maglev) {
    cluster.lb_policy = 'MAGLEV';
    if (ch.maglev.tableSize) cluster.maglev_lb_config = { table_size: { value: ch.maglev.tableSize } };
    return;
  }
  cluster.lb_policy = 'RING_HASH';
  if (ch.ringHash) {
    if (ch.ringHash.minimumRingSize) {
      cluster.ring_hash_lb_config = { minimum_ring_size: { value: ch.ringHash.minimumRingSize } };
    }
    return;
  }
  // The deprecated field, or Envoy's own default (1024), written out as Istio does.
  cluster.ring_hash_lb_config = { minimum_ring_size: { value: ch.minimumRingSize || 1024 } };
}

function slowStartConfig(lb: LoadBalancerSettings | undefined): ProtoObject | undefined {
  if (lb?.warmup) {
    const w = lb.warmup;
    return {
      slow_start_window: protoDuration(w.duration),
      ...(w.aggression !== undefined
        ? { aggression: { default_value: w.aggression, runtime_key: 'upstream.slow_start.aggression' } }
        : {}),
      ...(w.minimumPercent !== undefined ? { min_weight_percent: { value: w.minimumPercent } } : {}),
    };
  }
  if (lb?.warmupDurationSecs && (parseDuration(lb.warmupDurationSecs) ?? 0) > 0) {
    return { slow_start_window: protoDuration(lb.warmupDurationSecs) };
  }
  return undefined;
}

/** The consistent-hash settings of a policy, if it load-balances by hash. */
export function consistentHashOf(policy: TrafficPolicy | undefined): ConsistentHashLb | undefined {
  return policy?.loadBalancer?.consistentHash;
}

/**
 * Route `hash_policy` entries for a consistent-hash destination (Istio's
 * consistentHashToHashPolicy): header, cookie (name, ttl, path, attributes), source IP, or
 * query parameter. Empty when the settings name no key (Envoy then hashes nothing).
 */
export function buildHashPolicy(ch: ConsistentHashLb | undefined): ProtoObject[] {
  if (!ch) return [];
  if (ch.httpHeaderName) return [{ header: { header_name: ch.httpHeaderName } }];
  if (ch.httpCookie) {
    const c = ch.httpCookie;
    return [
      {
        cookie: {
          name: c.name,
          ...(c.ttl !== undefined ? { ttl: protoDuration(c.ttl) } : {}),
          ...(c.path ? { path: c.path } : {}),
          ...(c.attributes?.length
            ? {
                attributes: c.attributes.map((a) => ({
                  name: a.name,
                  ...(a.value ? { value: a.value } : {}),
                })),
              }
            : {}),
        },
      },
    ];
  }
  if (ch.useSourceIp) return [{ connection_properties: { source_ip: true } }];
  if (ch.httpQueryParameterName) return [{ query_parameter: { name: ch.httpQueryParameterName } }];
  return [];
}
