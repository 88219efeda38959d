/**
 * The tcp_proxy network filter: opaque TCP to one cluster or to weighted clusters (Istio's
 * networkfilter.go shapes). Used by outbound TCP/TLS chains, inbound TCP chains, passthrough and
 * blackhole chains, and gateway TCP/TLS servers.
 */
import { typed } from '../../../lib/xds/any.ts';
import { TCP_PROXY_TYPE_URL } from '../../../lib/xds/type-urls.ts';
import { toProtoDuration } from '../../../lib/xds/well-known.ts';
import { TCP_PROXY } from './names.ts';

export interface NetworkFilter {
  readonly name: string;
  readonly typed_config: object;
}

export interface WeightedTcpCluster {
  readonly name: string;
  readonly weight: number;
}

export type TcpProxyTarget =
  | { readonly cluster: string; readonly weightedClusters?: undefined }
  | { readonly cluster?: undefined; readonly weightedClusters: readonly WeightedTcpCluster[] };

export type TcpProxyOptions = TcpProxyTarget & {
  readonly statPrefix: string;
  /** Milliseconds; unset keeps Envoy's default (1h). */
  readonly idleTimeoutMs?: number;
  /** Milliseconds (DestinationRule connectionPool.tcp.maxConnectionDuration). */
  readonly maxDownstreamConnectionDurationMs?: number;
  /** Consistent hashing on the source IP (DestinationRule consistentHash.useSourceIp). */
  readonly hashBySourceIp?: boolean;
  /** DestinationRule trafficPolicy.tunnel: carry the stream in an HTTP CONNECT (or POST) tunnel. */
  readonly tunnel?: { readonly hostname: string; readonly usePost: boolean };
};

export function buildTcpProxy(options: TcpProxyOptions): Record<string, unknown> {
  const out: Record<string, unknown> = { stat_prefix: options.statPrefix };
  if (options.weightedClusters) {
    out.weighted_clusters = {
      clusters: options.weightedClusters.map((c) => ({ name: c.name, weight: c.weight })),
    };
  } else {
    out.cluster = options.cluster;
  }
  if (options.idleTimeoutMs !== undefined) out.idle_timeout = toProtoDuration(options.idleTimeoutMs);
  if (options.maxDownstreamConnectionDurationMs !== undefined) {
    out.max_downstream_connection_duration = toProtoDuration(options.maxDownstreamConnectionDurationMs);
  }
  if (options.hashBySourceIp) out.hash_policy = [{ source_ip: {} }];
  if (options.tunnel) {
    out.tunneling_config = {
      hostname: options.tunnel.hostname,
      ...(options.tunnel.usePost ? { use_post: true } : {}),
    };
  }
  return out;
}

export function buildTcpProxyFilter(options: TcpProxyOptions): NetworkFilter {
  return { name: TCP_PROXY, typed_config: typed(TCP_PROXY_TYPE_URL, buildTcpProxy(options)) };
}
