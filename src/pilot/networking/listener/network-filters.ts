/**
 * Network filter stacks of outbound TCP and TLS chains (Istio's networkfilter.go): tcp_proxy to
 * one destination's cluster, or to weighted clusters for a `tcp[]`/`tls[]` route with several
 * destinations, with the DestinationRule's TCP idle timeout, maximum connection duration,
 * source-IP hashing and tunnel applied.
 */
import type { DestinationRule } from '../../../api/networking/destination-rule.ts';
import type { RouteDestination } from '../../../api/networking/virtual-service.ts';
import { parseDuration } from '../../../lib/duration.ts';
import type { Service } from '../../../registry/model.ts';
import type { VirtualServiceConfig } from '../../model/indexes/virtual-service-index.ts';
import { buildTcpProxyFilter, type NetworkFilter } from '../filters/tcp-proxy.ts';
import { destinationCluster } from '../route/route.ts';

export interface NetworkFilterContext {
  /** The service a FQDN names for this proxy. */
  readonly serviceForHostname: (hostname: string) => Service | undefined;
  readonly destinationRule: (service: Service) => DestinationRule | undefined;
  /** Node metadata IDLE_TIMEOUT in milliseconds, the default when the DestinationRule sets none. */
  readonly idleTimeoutMs?: number;
  /** Network filters that run before tcp_proxy (RBAC, stats), from the security/telemetry work. */
  readonly prefixFilters?: readonly NetworkFilter[];
}

function ms(d: string | undefined): number | undefined {
  return d === undefined ? undefined : parseDuration(d);
}

/** Istio's maybeSetHashPolicy: source-IP hashing from the rule, or from the subset's own policy. */
function hashBySourceIp(rule: DestinationRule | undefined, subset: string): boolean {
  if (!rule) return false;
  let useSourceIp = rule.trafficPolicy?.loadBalancer?.consistentHash?.useSourceIp ?? false;
  const s = rule.subsets?.find((x) => x.name === subset);
  const lb = s?.trafficPolicy?.loadBalancer;
  if (lb) useSourceIp = lb.consistentHash?.useSourceIp ?? false;
  return useSourceIp;
}

/** DestinationRule trafficPolicy.tunnel (the subset's wins) -> tcp_proxy tunneling_config. */
function tunnelOf(rule: DestinationRule | undefined, subset: string) {
  const t =
    rule?.subsets?.find((x) => x.name === subset)?.trafficPolicy?.tunnel ?? rule?.trafficPolicy?.tunnel;
  if (!t) return undefined;
  return { hostname: `${t.targetHost}:${t.targetPort}`, usePost: t.protocol === 'POST' };
}

export function buildSingleDestinationFilters(
  ctx: NetworkFilterContext,
  statPrefix: string,
  cluster: string,
  subset: string,
  rule: DestinationRule | undefined,
  options: { readonly tunnel: boolean } = { tunnel: true },
): NetworkFilter[] {
  const tcp = rule?.trafficPolicy?.connectionPool?.tcp;
  return [
    ...(ctx.prefixFilters ?? []),
    buildTcpProxyFilter({
      statPrefix,
      cluster,
      idleTimeoutMs: ms(tcp?.idleTimeout) ?? ctx.idleTimeoutMs,
      maxDownstreamConnectionDurationMs: ms(tcp?.maxConnectionDuration),
      hashBySourceIp: hashBySourceIp(rule, subset),
      tunnel: options.tunnel ? tunnelOf(rule, subset) : undefined,
    }),
  ];
}

/** Filters for the destinations of one `tcp[]` or `tls[]` route on `port`. */
export function buildOutboundNetworkFilters(
  ctx: NetworkFilterContext,
  routes: readonly RouteDestination[],
  port: number,
  vs: VirtualServiceConfig,
): NetworkFilter[] {
  const first = routes[0].destination;
  const service = ctx.serviceForHostname(first.host);
  const rule = service ? ctx.destinationRule(service) : undefined;
  if (routes.length === 1) {
    const cluster = destinationCluster(first, service, port);
    return buildSingleDestinationFilters(ctx, cluster, cluster, first.subset ?? '', rule);
  }
  const clusters = routes
    .filter((r) => (r.weight ?? 0) > 0)
    .map((r) => ({
      name: destinationCluster(r.destination, ctx.serviceForHostname(r.destination.host), port),
      weight: r.weight as number,
    }));
  const tcp = rule?.trafficPolicy?.connectionPool?.tcp;
  return [
    ...(ctx.prefixFilters ?? []),
    buildTcpProxyFilter({
      statPrefix: `${vs.meta.name}.${vs.meta.namespace}`,
      weightedClusters: clusters,
      idleTimeoutMs: ms(tcp?.idleTimeout) ?? ctx.idleTimeoutMs,
      maxDownstreamConnectionDurationMs: ms(tcp?.maxConnectionDuration),
      hashBySourceIp: hashBySourceIp(rule, ''),
      // A tunnel set on a subset cannot apply to a listener shared by several subsets.
      tunnel: tunnelOf(rule, ''),
    }),
  ];
}
