/**
 * The traffic policy that applies to one cluster and its connection-pool translation.
 *
 * Effective policy (Istio's MergeTrafficPolicy): the DestinationRule's top-level policy with its
 * portLevelSettings for the port applied, then the subset's policy over it field by field
 * (connectionPool, loadBalancer, outlierDetection, tls, tunnel, proxyProtocol), then the
 * subset's own portLevelSettings. A port-level entry does not inherit: it replaces all four of
 * connectionPool, loadBalancer, outlierDetection and tls, unset ones included.
 */
import type { MeshConfig } from '../../../api/mesh/mesh-config.ts';
import type { DestinationRule } from '../../../api/networking/destination-rule.ts';
import type { ConnectionPoolSettings, TrafficPolicy } from '../../../api/networking/shared.ts';
import { MAX_UINT32 } from '../../model/well-known.ts';
import { durationSeconds, type ProtoObject, protoDuration, u32 } from './values.ts';

export function mergeTrafficPolicy(
  original: TrafficPolicy | undefined,
  subsetPolicy: TrafficPolicy | undefined,
  port: number | undefined,
): TrafficPolicy | undefined {
  if (!subsetPolicy) return original;
  if (original?.portLevelSettings?.length) original = mergeTrafficPolicy(undefined, original, port);
  const merged: TrafficPolicy = {};
  const take = (from: TrafficPolicy | undefined) => {
    if (!from) return;
    if (from.connectionPool) merged.connectionPool = from.connectionPool;
    if (from.loadBalancer) merged.loadBalancer = from.loadBalancer;
    if (from.outlierDetection) merged.outlierDetection = from.outlierDetection;
    if (from.tls) merged.tls = from.tls;
    if (from.tunnel) merged.tunnel = from.tunnel;
    if (from.proxyProtocol) merged.proxyProtocol = from.proxyProtocol;
    if (from.retryBudget) merged.retryBudget = from.retryBudget;
  };
  take(original);
  take(subsetPolicy);
  if (port !== undefined) {
    const pl = subsetPolicy.portLevelSettings?.find((p) => p.port?.number === port);
    if (pl) {
      for (const k of ['connectionPool', 'loadBalancer', 'outlierDetection', 'tls'] as const) {
        if (pl[k] !== undefined) (merged as Record<string, unknown>)[k] = pl[k];
        else delete merged[k];
      }
    }
  }
  return merged;
}

/** The policy of `rule` for traffic to `port` (and `subset`, when given). */
export function effectivePolicy(
  rule: DestinationRule | undefined,
  port: number,
  subset?: string,
): TrafficPolicy | undefined {
  if (!rule) return undefined;
  const base = mergeTrafficPolicy(undefined, rule.trafficPolicy, port);
  if (!subset) return base;
  const s = rule.subsets?.find((x) => x.name === subset);
  return mergeTrafficPolicy(base, s?.trafficPolicy, port);
}

/** Envoy's circuit breaker thresholds Istio starts from: everything unlimited. */
export function defaultCircuitBreakerThresholds(): ProtoObject {
  return {
    max_connections: u32(MAX_UINT32),
    max_pending_requests: u32(MAX_UINT32),
    max_requests: u32(MAX_UINT32),
    max_retries: u32(MAX_UINT32),
    track_remaining: true,
  };
}

/** Upstream HTTP options being assembled for `typed_extension_protocol_options`. */
export interface HttpOptionsDraft {
  common?: ProtoObject;
  /** The upstream protocol choice (one of explicit_http_config, use_downstream_protocol_config). */
  upstream?: { explicit_http_config: ProtoObject } | { use_downstream_protocol_config: ProtoObject };
  /** HTTP/2 max_concurrent_streams, applied when the upstream ends up explicitly HTTP/2 (as Istio). */
  maxConcurrentStreams?: number;
  /** HTTP/2 connection_keepalive (PINGs), applied wherever the upstream may speak HTTP/2. */
  http2KeepAlive?: ProtoObject;
}

export function http2Upstream(): HttpOptionsDraft['upstream'] {
  return { explicit_http_config: { http2_protocol_options: {} } };
}

export function downstreamUpstream(): HttpOptionsDraft['upstream'] {
  return { use_downstream_protocol_config: { http_protocol_options: {}, http2_protocol_options: {} } };
}

/** The draft as an HttpProtocolOptions message (HTTP/1.1 when nothing picked a protocol). */
export function finishHttpOptions(d: HttpOptionsDraft): ProtoObject {
  let upstream: ProtoObject = d.upstream ?? { explicit_http_config: { http_protocol_options: {} } };
  const explicit = (upstream as { explicit_http_config?: ProtoObject }).explicit_http_config;
  if ((d.maxConcurrentStreams || d.http2KeepAlive) && explicit?.http2_protocol_options) {
    upstream = {
      explicit_http_config: {
        http2_protocol_options: {
          ...(d.maxConcurrentStreams ? { max_concurrent_streams: u32(d.maxConcurrentStreams) } : {}),
          ...(d.http2KeepAlive ? { connection_keepalive: d.http2KeepAlive } : {}),
        },
      },
    };
  }
  const byDownstream = (upstream as { use_downstream_protocol_config?: ProtoObject })
    .use_downstream_protocol_config;
  if (d.http2KeepAlive && byDownstream) {
    upstream = {
      use_downstream_protocol_config: {
        ...byDownstream,
        http2_protocol_options: { connection_keepalive: d.http2KeepAlive },
      },
    };
  }
  return { ...(d.common ? { common_http_protocol_options: d.common } : {}), ...upstream };
}

/** True when anything was set that needs typed_extension_protocol_options. */
export function hasHttpOptions(d: HttpOptionsDraft): boolean {
  return d.common !== undefined || d.upstream !== undefined;
}

/**
 * connectionPool -> circuit breakers, connect timeout, idle timeout, max requests per
 * connection, max connection duration, HTTP/2 max concurrent streams, client protocol, and TCP
 * keepalive (mesh-wide keepalive first, the rule's fields over it) — Istio's applyConnectionPool.
 */
export function applyConnectionPool(
  cluster: ProtoObject,
  http: HttpOptionsDraft,
  settings: ConnectionPoolSettings | undefined,
  mesh: MeshConfig,
): void {
  const threshold = defaultCircuitBreakerThresholds();
  let idleTimeout: string | undefined;
  let maxRequestsPerConnection = 0;
  let maxConcurrentStreams = 0;
  let maxConnectionDuration: string | undefined;
  if (settings?.http) {
    const h = settings.http;
    // Envoy applies max_requests to HTTP/2 and max_pending_requests to HTTP/1.1 clusters.
    if ((h.http2MaxRequests ?? 0) > 0) threshold.max_requests = u32(h.http2MaxRequests as number);
    if ((h.http1MaxPendingRequests ?? 0) > 0)
      threshold.max_pending_requests = u32(h.http1MaxPendingRequests as number);
    if ((h.maxRetries ?? 0) > 0) threshold.max_retries = u32(h.maxRetries as number);
    idleTimeout = h.idleTimeout;
    maxRequestsPerConnection = h.maxRequestsPerConnection ?? 0;
    maxConcurrentStreams = h.maxConcurrentStreams ?? 0;
  }
  if (settings?.tcp) {
    const t = settings.tcp;
    if (t.connectTimeout) cluster.connect_timeout = protoDuration(t.connectTimeout);
    if ((t.maxConnections ?? 0) > 0) threshold.max_connections = u32(t.maxConnections as number);
    if (t.maxConnectionDuration) maxConnectionDuration = t.maxConnectionDuration;
    idleTimeout ??= t.idleTimeout;
  }
  applyTcpKeepalive(cluster, mesh, settings);
  cluster.circuit_breakers = { thresholds: [threshold] };
  if (idleTimeout || maxRequestsPerConnection > 0 || maxConnectionDuration || maxConcurrentStreams > 0) {
    const common: ProtoObject = { ...http.common };
    if (idleTimeout) common.idle_timeout = protoDuration(idleTimeout);
    if (maxRequestsPerConnection > 0) common.max_requests_per_connection = u32(maxRequestsPerConnection);
    if (maxConnectionDuration) common.max_connection_duration = protoDuration(maxConnectionDuration);
    if (Object.keys(common).length > 0) http.common = common;
    if (maxConcurrentStreams > 0) http.maxConcurrentStreams = maxConcurrentStreams;
  }
  if (settings?.http?.useClientProtocol) http.upstream = downstreamUpstream();
  const ka = settings?.http?.http2KeepAlive;
  if (ka && (ka.interval || ka.timeout)) {
    http.http2KeepAlive = {
      ...(ka.interval ? { interval: protoDuration(ka.interval) } : {}),
      ...(ka.timeout ? { timeout: protoDuration(ka.timeout) } : {}),
    };
  }
}

/** Keepalive: mesh `tcpKeepalive` first, the rule's `tcp.tcpKeepalive` fields over it. */
function applyTcpKeepalive(
  cluster: ProtoObject,
  mesh: MeshConfig,
  settings: ConnectionPoolSettings | undefined,
): void {
  const layers = [mesh.tcpKeepalive, settings?.tcp?.tcpKeepalive].filter((k) => k !== undefined);
  if (layers.length === 0) return;
  const ka: ProtoObject = {};
  for (const k of layers) {
    if ((k.probes ?? 0) > 0) ka.keepalive_probes = u32(k.probes as number);
    if (k.time) ka.keepalive_time = u32(durationSeconds(k.time));
    if (k.interval) ka.keepalive_interval = u32(durationSeconds(k.interval));
  }
  cluster.upstream_connection_options = { tcp_keepalive: ka };
}
