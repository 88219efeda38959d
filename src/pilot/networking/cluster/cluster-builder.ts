/**
 * Builds every cluster of a proxy (Istio's ClusterBuilder / BuildClusters):
 *
 * - outbound: one per port of every service in the proxy's Sidecar scope
 *   (`outbound|PORT||HOST`), plus one per subset of the DestinationRule that applies
 *   (`outbound|PORT|SUBSET|HOST`), with the effective traffic policy translated; UDP ports get
 *   none. Discovery type from resolution: EDS (ClientSideLB, and Passthrough on gateways or with
 *   subset labels), STRICT_DNS (DNSLB), LOGICAL_DNS (DNSRoundRobinLB, one endpoint), ORIGINAL_DST
 *   (Passthrough). DNS clusters carry their endpoints in load_assignment and are left out when
 *   they have none.
 * - inbound (sidecars): `inbound|PORT||` per port the workload serves (from its service targets,
 *   or the Sidecar's ingress listeners when it has some), to the original destination from
 *   127.0.0.6 — or to 127.0.0.1:PORT / the ingress listener's defaultEndpoint without capture.
 * - catch-alls: BlackHoleCluster, PassthroughCluster (both always, as Istio: the listeners pick
 *   one by outboundTrafficPolicy), InboundPassthroughCluster for sidecars.
 * - gateways with AUTO_PASSTHROUGH servers: SNI-DNAT clusters `outbound_.PORT_.SUBSET_.HOST`.
 * Proxyless gRPC clients (GENERATOR=grpc) get outbound clusters only.
 */

import { ipFamily } from '../../../api/common/validators.ts';
import type { MeshConfig } from '../../../api/mesh/mesh-config.ts';
import type { Subset } from '../../../api/networking/destination-rule.ts';
import type { ConnectionPoolSettings, TrafficPolicy } from '../../../api/networking/shared.ts';
import { logger } from '../../../lib/log.ts';
import { typed } from '../../../lib/xds/any.ts';
import { HTTP_PROTOCOL_OPTIONS_TYPE_URL } from '../../../lib/xds/type-urls.ts';
import { toProtoStruct } from '../../../lib/xds/well-known.ts';
import {
  Provider,
  Resolution,
  type Service,
  type ServicePort,
  type ServiceTarget,
} from '../../../registry/model.ts';
import {
  isHttp2Protocol,
  isHttpProtocol,
  isUnsupportedProtocol,
  Protocol,
  parseProtocol,
} from '../../../registry/protocol.ts';
import {
  buildDnsSrvSubsetKey,
  clusterStatName,
  inboundClusterName,
  outboundClusterName,
  TrafficDirection,
} from '../../model/naming.ts';
import type { Proxy } from '../../model/proxy.ts';
import type { ConsolidatedDestinationRule, PushContext } from '../../model/push-context.ts';
import {
  BLACK_HOLE_CLUSTER,
  HTTP_PROTOCOL_OPTIONS_KEY,
  INBOUND_PASSTHROUGH_BIND_IPV4,
  INBOUND_PASSTHROUGH_CLUSTER,
  ISTIO_METADATA_KEY,
  LOCALHOST_IPV4,
  PASSTHROUGH_CLUSTER,
} from '../../model/well-known.ts';
import { buildLocalityLbEndpoints, localityGroupsFor } from '../endpoint/endpoint-builder.ts';
import { applyLoadBalancer, localityLbSettingFor } from './lb-policy.ts';
import { applyOutlierDetection } from './outlier.ts';
import { GRPC_FLAVOUR, isProxyless } from './proxyless.ts';
import { applyUpstreamTls } from './tls.ts';
import {
  applyConnectionPool,
  defaultCircuitBreakerThresholds,
  downstreamUpstream,
  effectivePolicy,
  finishHttpOptions,
  type HttpOptionsDraft,
  hasHttpOptions,
  http2Upstream,
} from './traffic-policy.ts';
import { type ProtoObject, protoDuration } from './values.ts';

const log = logger('pilot:cds');

export { GRPC_FLAVOUR, isProxyless };

type DiscoveryType = 'EDS' | 'STRICT_DNS' | 'LOGICAL_DNS' | 'ORIGINAL_DST' | 'STATIC';

/** Istio's convertResolution. */
export function clusterDiscoveryType(service: Service, proxy: Proxy): DiscoveryType {
  switch (service.resolution) {
    case Resolution.DNS_LB:
      // gRPC clients resolve one name (LOGICAL_DNS); they have no STRICT_DNS.
      return isProxyless(proxy) ? 'LOGICAL_DNS' : 'STRICT_DNS';
    case Resolution.DNS_ROUND_ROBIN_LB:
      return 'LOGICAL_DNS';
    case Resolution.PASSTHROUGH:
      // Gateways and proxyless clients cannot forward to an original destination.
      return proxy.type === 'router' || isProxyless(proxy) ? 'EDS' : 'ORIGINAL_DST';
    default:
      return 'EDS';
  }
}

/** Every cluster of the proxy, in no particular order (generators sort by name). */
export function buildClusters(push: PushContext, proxy: Proxy): ProtoObject[] {
  const out = buildOutboundClusters(push, proxy);
  if (isProxyless(proxy)) return out;
  if (proxy.type === 'router' && push.gatewaysForProxy(proxy)?.containsAutoPassthrough) {
    out.push(...buildSniDnatClusters(out));
  }
  out.push(buildBlackHoleCluster(push.mesh), buildPassthroughCluster(push.mesh));
  if (proxy.type === 'sidecar') {
    out.push(...buildInboundClusters(push, proxy), buildInboundPassthroughCluster(push.mesh));
  }
  return out;
}

export function buildOutboundClusters(push: PushContext, proxy: Proxy): ProtoObject[] {
  const out: ProtoObject[] = [];
  for (const t of outboundClusterTargets(push, proxy)) {
    const c = buildOutboundCluster(push, proxy, t.service, t.port, t.subset, t.dr);
    if (c) out.push(c);
  }
  return out;
}

/** One outbound cluster to build: a service port, maybe a subset, and the rule that applies. */
export interface OutboundClusterTarget {
  readonly service: Service;
  readonly port: ServicePort;
  readonly subset?: Subset;
  readonly dr?: ConsolidatedDestinationRule;
  /**
   * Everything besides the PushContext the cluster depends on: equal keys build equal clusters
   * within one push (generators cache on it).
   */
  readonly cacheKey: string;
}

/** The outbound clusters of a proxy, unbuilt (services of its scope × ports × subsets). */
export function* outboundClusterTargets(push: PushContext, proxy: Proxy): Generator<OutboundClusterTarget> {
  const proxyKey = `${proxy.type}|${isProxyless(proxy) ? 'grpc' : ''}`;
  for (const service of push.services(proxy)) {
    const dr = push.destinationRule(proxy, service);
    const drKey = dr ? dr.from.map((k) => `${k.namespace}/${k.name}`).join(',') : '';
    // DNS clusters embed endpoints, whose locality handling depends on the proxy.
    const dnsKey = isDnsService(service) ? `|${dnsProxyKey(proxy)}` : '';
    const base = `${service.namespace}/${service.hostname}|${drKey}|${proxyKey}${dnsKey}`;
    for (const port of service.ports) {
      if (port.protocol === Protocol.UDP) continue;
      yield { service, port, ...(dr ? { dr } : {}), cacheKey: `${port.port}||${base}` };
      for (const subset of dr?.rule.subsets ?? []) {
        yield {
          service,
          port,
          subset,
          ...(dr ? { dr } : {}),
          cacheKey: `${port.port}|${subset.name}|${base}`,
        };
      }
    }
  }
}

function isDnsService(service: Service): boolean {
  return service.resolution === Resolution.DNS_LB || service.resolution === Resolution.DNS_ROUND_ROBIN_LB;
}

function dnsProxyKey(proxy: Proxy): string {
  const l = proxy.locality;
  return `${dnsLookupFamily(proxy)}|${l.region}/${l.zone}/${l.subZone}|${labelKey(proxy.labels)}`;
}

const scopeHasDns = new WeakMap<object, boolean>();

/**
 * Proxies with equal keys get equal outbound clusters within one push: same Sidecar scope,
 * same namespace (DestinationRule lookup), same labels where workload-selected rules exist,
 * same proxy type and flavour, and — only when DNS clusters carry endpoints — same DNS family,
 * locality and labels. Generators cache whole cluster lists on it.
 */
export function outboundClassKey(push: PushContext, proxy: Proxy): string {
  const scope = push.sidecarScope(proxy);
  let dns = scopeHasDns.get(scope);
  if (dns === undefined) {
    dns = scope.services.some(isDnsService);
    scopeHasDns.set(scope, dns);
  }
  const labels = push.destinationRuleIndex.labelsMatter(proxy.namespace) ? labelKey(proxy.labels) : '';
  return [
    proxy.namespace,
    scope.name,
    labels,
    proxy.type,
    isProxyless(proxy) ? 'grpc' : '',
    dns ? dnsProxyKey(proxy) : '',
  ].join('|');
}

function labelKey(labels: Readonly<Record<string, string>>): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`)
    .join(',');
}

/** One outbound cluster; undefined for a DNS cluster without endpoints (as Istio). */
export function buildOutboundCluster(
  push: PushContext,
  proxy: Proxy,
  service: Service,
  port: ServicePort,
  subset: Subset | undefined,
  dr: ConsolidatedDestinationRule | undefined,
): ProtoObject | undefined {
  const mesh = push.mesh;
  const subsetName = subset?.name ?? '';
  const name = outboundClusterName(port.port, service.hostname, subsetName);
  let type = clusterDiscoveryType(service, proxy);
  if (subset && type === 'ORIGINAL_DST' && Object.keys(subset.labels ?? {}).length > 0) type = 'EDS';
  const policy = effectivePolicy(dr?.rule, port.port, subset?.name);
  const cluster: ProtoObject = { name, type, connect_timeout: protoDuration(mesh.connectTimeout) };
  if (type === 'EDS') cluster.eds_cluster_config = edsClusterConfig(name);
  if (type === 'STRICT_DNS' || type === 'LOGICAL_DNS') {
    cluster.dns_lookup_family = dnsLookupFamily(proxy);
    cluster.dns_refresh_rate = protoDuration(mesh.dnsRefreshRate);
    cluster.respect_dns_ttl = true;
    let groups = localityGroupsFor(push, proxy, {
      service,
      port,
      subset: subsetName,
      ...(subset ? { subsetLabels: subset.labels ?? {} } : {}),
      ...(policy ? { policy } : {}),
    });
    if (groups.length === 0) return undefined;
    // LOGICAL_DNS resolves exactly one name.
    if (type === 'LOGICAL_DNS')
      groups = [{ ...groups[0], endpoints: [groups[0].endpoints[0]], weight: groups[0].endpoints[0].weight }];
    cluster.load_assignment = { cluster_name: name, endpoints: buildLocalityLbEndpoints(groups) };
  }
  const http: HttpOptionsDraft = {};
  setUpstreamProtocol(http, port, proxy);
  applyConnectionPool(cluster, http, policy?.connectionPool, mesh);
  if (shouldH2Upgrade(port, policy?.connectionPool, mesh)) http.upstream = http2Upstream();
  applyOutlierDetection(cluster, policy?.outlierDetection);
  applyLoadBalancer(cluster, policy?.loadBalancer, {
    proxyless: isProxyless(proxy),
    locality: localityLbSettingFor(mesh, policy?.loadBalancer),
  });
  applyRetryBudget(cluster, policy);
  const upstreamH2 = isHttp2Upstream(http);
  applyUpstreamTls(cluster, {
    tls: policy?.tls,
    service,
    port,
    subset: subsetName,
    serviceAccounts: push.serviceAccounts(service),
    autoMtls: mesh.enableAutoMtls && !isProxyless(proxy),
    http2: upstreamH2,
  });
  reportUnsupported(policy, name);
  if (hasHttpOptions(http)) {
    cluster.typed_extension_protocol_options = {
      [HTTP_PROTOCOL_OPTIONS_KEY]: typed(HTTP_PROTOCOL_OPTIONS_TYPE_URL, finishHttpOptions(http)),
    };
  }
  cluster.metadata = clusterMetadata([service], subsetName, dr);
  if (mesh.outboundClusterStatName) {
    cluster.alt_stat_name = clusterStatName(mesh.outboundClusterStatName, {
      ...statService(service),
      port: port.port,
      portName: port.name,
      subset: subsetName,
    });
  }
  return cluster;
}

/** `%SERVICE%` is `name.namespace` for Kubernetes-style services (Istio's shortHostName). */
function statService(service: Service): { service: string; fqdn: string } {
  const kube = service.provider === Provider.KUBERNETES || service.provider === Provider.MEMORY;
  return {
    service: kube ? `${service.name}.${service.namespace}` : service.hostname,
    fqdn: service.hostname,
  };
}

function edsClusterConfig(serviceName: string): ProtoObject {
  return {
    service_name: serviceName,
    eds_config: { ads: {}, initial_fetch_timeout: { seconds: 0 }, resource_api_version: 'V3' },
  };
}

function dnsLookupFamily(proxy: Proxy): string {
  const families = new Set(proxy.ipAddresses.map((ip) => ipFamily(ip)));
  if (families.size === 1 && families.has(4)) return 'V4_ONLY';
  if (families.size === 1 && families.has(6)) return 'V6_ONLY';
  return 'ALL';
}

/**
 * HTTP/2 ports talk HTTP/2 upstream; a sidecar forwards a port of unknown protocol in whatever
 * protocol the client used (gateways do not: they would offer h2 by ALPN to anyone).
 */
function setUpstreamProtocol(http: HttpOptionsDraft, port: ServicePort, proxy: Proxy): void {
  if (isHttp2Protocol(port.protocol)) http.upstream = http2Upstream();
  else if (proxy.type === 'sidecar' && isUnsupportedProtocol(port.protocol))
    http.upstream = downstreamUpstream();
}

/**
 * Istio's shouldH2Upgrade: an explicit UPGRADE in the rule upgrades (the user vouches for the
 * port); otherwise the mesh's h2UpgradePolicy upgrades HTTP ports unless the rule says
 * DO_NOT_UPGRADE. A rule that keeps the client's protocol is never upgraded.
 */
function shouldH2Upgrade(
  port: ServicePort,
  cp: ConnectionPoolSettings | undefined,
  mesh: MeshConfig,
): boolean {
  if (cp?.http?.useClientProtocol) return false;
  if (isHttp2Protocol(port.protocol)) return false;
  const policy = cp?.http?.h2UpgradePolicy;
  if (policy === 'UPGRADE') return true;
  if (!isHttpProtocol(port.protocol) || policy === 'DO_NOT_UPGRADE') return false;
  return mesh.h2UpgradePolicy === 'UPGRADE';
}

function isHttp2Upstream(http: HttpOptionsDraft): boolean {
  const explicit = (http.upstream as { explicit_http_config?: ProtoObject } | undefined)
    ?.explicit_http_config;
  return explicit?.http2_protocol_options !== undefined;
}

/** retryBudget -> the default-priority threshold's retry_budget. */
function applyRetryBudget(cluster: ProtoObject, policy: TrafficPolicy | undefined): void {
  const rb = policy?.retryBudget;
  if (!rb) return;
  const thresholds = (cluster.circuit_breakers as { thresholds: ProtoObject[] }).thresholds;
  thresholds[0].retry_budget = {
    ...(rb.percent !== undefined ? { budget_percent: { value: rb.percent } } : {}),
    ...(rb.minRetryConcurrency !== undefined
      ? { min_retry_concurrency: { value: rb.minRetryConcurrency } }
      : {}),
  };
}

/** Policy parts CDS cannot express: said once per build, not dropped silently. */
function reportUnsupported(policy: TrafficPolicy | undefined, cluster: string): void {
  const lb = policy?.loadBalancer;
  if (
    (lb?.warmup || lb?.warmupDurationSecs) &&
    (lb.consistentHash || lb.simple === 'RANDOM' || lb.simple === 'PASSTHROUGH')
  ) {
    log.warn('loadBalancer warmup applies to ROUND_ROBIN and LEAST_REQUEST only (as in Envoy); ignored', {
      cluster,
    });
  }
  if (policy?.proxyProtocol) {
    log.warn(
      'trafficPolicy.proxyProtocol is not supported yet (no upstream proxy protocol transport socket); ignored',
      {
        cluster,
      },
    );
  }
}

/** Istio's cluster metadata: the services behind the cluster, the subset, the rule that shaped it. */
function clusterMetadata(
  services: readonly Service[],
  subset: string,
  dr: ConsolidatedDestinationRule | undefined,
): ProtoObject {
  const istio: Record<string, unknown> = {
    services: services.map((s) => ({ host: s.hostname, name: s.name, namespace: s.namespace })),
  };
  if (subset) istio.subset = subset;
  if (dr) {
    const k = dr.from[0];
    istio.config = `/apis/networking.istio.io/v1/namespaces/${k.namespace}/destination-rule/${k.name}`;
  }
  return { filter_metadata: { [ISTIO_METADATA_KEY]: toProtoStruct(istio) } };
}

// ---- inbound ----

export function buildInboundClusters(push: PushContext, proxy: Proxy): ProtoObject[] {
  const scope = push.sidecarScope(proxy);
  const capture = proxy.metadata.interceptionMode !== 'NONE';
  const byPort = new Map<number, ServiceTarget[]>();
  for (const t of push.serviceTargets(proxy)) {
    let list = byPort.get(t.targetPort);
    if (!list) byPort.set(t.targetPort, (list = []));
    list.push(t);
  }
  const out = new Map<number, ProtoObject>();
  if (scope.ingressListeners.length > 0) {
    // A Sidecar with ingress listeners says exactly which ports the workload serves.
    for (const ingress of scope.ingressListeners) {
      const port = ingress.port.number ?? 0;
      if (out.has(port)) continue;
      const target = parseDefaultEndpoint(ingress.defaultEndpoint);
      const local = target ?? (capture ? undefined : { host: LOCALHOST_IPV4, port });
      const pool = ingress.connectionPool ?? scope.inboundConnectionPool;
      const protocol = parseProtocol(ingress.port.protocol);
      out.set(port, inboundCluster(push, port, byPort.get(port) ?? [], local, pool, protocol));
    }
    return [...out.values()];
  }
  for (const [port, targets] of [...byPort].sort((a, b) => a[0] - b[0])) {
    // Circuit breakers must hold on the receiving side too: the Sidecar's inbound pool, else
    // the top-level pool of the rule for the (first) service.
    const dr = push.destinationRule(proxy, targets[0].service);
    const pool = scope.inboundConnectionPool ?? dr?.rule.trafficPolicy?.connectionPool;
    const local = capture ? undefined : { host: LOCALHOST_IPV4, port };
    out.set(port, inboundCluster(push, port, targets, local, pool, targets[0].port.protocol));
  }
  return [...out.values()];
}

interface StaticTarget {
  readonly host: string;
  readonly port: number;
  readonly pipe?: string;
}

/** `127.0.0.1:8080`, `[::1]:8080`, `unix:///path`; `0.0.0.0:PORT` means the original destination. */
function parseDefaultEndpoint(text: string | undefined): StaticTarget | undefined {
  if (!text) return undefined;
  if (text.startsWith('unix://')) return { host: '', port: 0, pipe: text.slice('unix://'.length) };
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(text);
  if (!m) return undefined;
  if (m[1] === '0.0.0.0' || m[1] === '::') return undefined;
  return { host: m[1], port: Number(m[2]) };
}

function inboundCluster(
  push: PushContext,
  port: number,
  targets: readonly ServiceTarget[],
  local: StaticTarget | undefined,
  pool: ConnectionPoolSettings | undefined,
  protocol: Protocol,
): ProtoObject {
  const name = inboundClusterName(port);
  const cluster: ProtoObject = { name, connect_timeout: protoDuration(push.mesh.connectTimeout) };
  if (local) {
    cluster.type = 'STATIC';
    const address = local.pipe
      ? { pipe: { path: local.pipe } }
      : { socket_address: { address: local.host, port_value: local.port } };
    cluster.load_assignment = {
      cluster_name: name,
      endpoints: [
        { locality: {}, lb_endpoints: [{ endpoint: { address } }], load_balancing_weight: { value: 1 } },
      ],
    };
  } else {
    cluster.type = 'ORIGINAL_DST';
    cluster.lb_policy = 'CLUSTER_PROVIDED';
    // Traffic to the workload comes from 127.0.0.6 so capture rules let it through (Istio's
    // passthrough bind address).
    cluster.upstream_bind_config = {
      source_address: { address: INBOUND_PASSTHROUGH_BIND_IPV4, port_value: 0 },
    };
  }
  const http: HttpOptionsDraft = {};
  // The workload speaks the port's protocol: HTTP/2 (gRPC) ports get HTTP/2 to the app, and a
  // port of unknown protocol forwards whatever the caller spoke, as Istio's inbound clusters.
  if (isHttp2Protocol(protocol)) http.upstream = http2Upstream();
  else if (isUnsupportedProtocol(protocol)) http.upstream = downstreamUpstream();
  if (pool) applyConnectionPool(cluster, http, pool, push.mesh);
  else cluster.circuit_breakers = { thresholds: [defaultCircuitBreakerThresholds()] };
  if (hasHttpOptions(http)) {
    cluster.typed_extension_protocol_options = {
      [HTTP_PROTOCOL_OPTIONS_KEY]: typed(HTTP_PROTOCOL_OPTIONS_TYPE_URL, finishHttpOptions(http)),
    };
  }
  if (targets.length > 0) {
    cluster.metadata = clusterMetadata([...new Set(targets.map((t) => t.service))], '', undefined);
    const pattern = push.mesh.inboundClusterStatName;
    if (pattern) {
      const t = targets[0];
      cluster.alt_stat_name = clusterStatName(pattern, {
        ...statService(t.service),
        port: t.port.port,
        portName: t.port.name,
        targetPort: port,
      });
    }
  }
  return cluster;
}

// ---- catch-alls ----

export function buildBlackHoleCluster(mesh: MeshConfig): ProtoObject {
  return { name: BLACK_HOLE_CLUSTER, type: 'STATIC', connect_timeout: protoDuration(mesh.connectTimeout) };
}

export function buildPassthroughCluster(mesh: MeshConfig): ProtoObject {
  return {
    name: PASSTHROUGH_CLUSTER,
    type: 'ORIGINAL_DST',
    connect_timeout: protoDuration(mesh.connectTimeout),
    lb_policy: 'CLUSTER_PROVIDED',
    circuit_breakers: { thresholds: [defaultCircuitBreakerThresholds()] },
    typed_extension_protocol_options: {
      [HTTP_PROTOCOL_OPTIONS_KEY]: typed(
        HTTP_PROTOCOL_OPTIONS_TYPE_URL,
        finishHttpOptions({ upstream: downstreamUpstream() }),
      ),
    },
  };
}

export function buildInboundPassthroughCluster(mesh: MeshConfig): ProtoObject {
  return {
    ...buildPassthroughCluster(mesh),
    name: INBOUND_PASSTHROUGH_CLUSTER,
    upstream_bind_config: { source_address: { address: INBOUND_PASSTHROUGH_BIND_IPV4, port_value: 0 } },
  };
}

/**
 * SNI-DNAT clusters for AUTO_PASSTHROUGH gateway servers: for every EDS outbound cluster, a
 * twin named by its SNI (`outbound_.9080_.v1_.reviews...`) sharing its endpoints, without TLS
 * (the client's mTLS passes through).
 */
function buildSniDnatClusters(outbound: readonly ProtoObject[]): ProtoObject[] {
  const out: ProtoObject[] = [];
  for (const c of outbound) {
    if (c.type !== 'EDS') continue;
    const [, port, subset, host] = String(c.name).split('|');
    const name = buildDnsSrvSubsetKey(TrafficDirection.OUTBOUND, subset, host, Number(port));
    const { transport_socket: _t, transport_socket_matches: _m, ...rest } = c;
    out.push({
      ...rest,
      name,
      eds_cluster_config: { ...(c.eds_cluster_config as ProtoObject), service_name: c.name },
    });
  }
  return out;
}
