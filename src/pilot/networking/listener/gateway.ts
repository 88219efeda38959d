/**
 * Gateway listeners (Istio's buildGatewayListeners): one bound listener per server port
 * (`0.0.0.0_8080`, or `<bind>_8080`).
 *
 * - Plain HTTP servers of a port share one HCM routed by `http.<port>`.
 * - Each HTTPS server terminating TLS gets a chain matched by its hosts as SNI, with its
 *   DownstreamTlsContext (SDS references: `kubernetes://<credentialName>`, files, or the
 *   workload certificate for ISTIO_MUTUAL) and an HCM routed by
 *   `https.<port>.<port name>.<gateway>.<namespace>`.
 * - TCP servers, and TLS servers terminating TLS, forward by the `tcp[]` routes of the
 *   VirtualServices bound to the gateway.
 * - PASSTHROUGH servers get one chain per `tls[]` route match (SNI hosts -> tcp_proxy);
 *   AUTO_PASSTHROUGH servers one per service port (and subset) named by its SNI-DNAT cluster
 *   `outbound_.PORT_.SUBSET_.HOST`, for Istio mTLS from other networks.
 */
import type { MeshConfig } from '../../../api/mesh/mesh-config.ts';
import type { DestinationRule } from '../../../api/networking/destination-rule.ts';
import type { L4MatchAttributes, RouteDestination } from '../../../api/networking/virtual-service.ts';
import { logger } from '../../../lib/log.ts';
import { toProtoDuration } from '../../../lib/xds/well-known.ts';
import { hostSubsetOf, hostsMatch } from '../../../registry/host.ts';
import type { Service } from '../../../registry/model.ts';
import { isHttpProtocol, Protocol } from '../../../registry/protocol.ts';
import type {
  GatewayPortServers,
  GatewayServerInfo,
  MergedGateway,
} from '../../model/indexes/gateway-index.ts';
import type { VirtualServiceConfig } from '../../model/indexes/virtual-service-index.ts';
import {
  buildDnsSrvSubsetKey,
  listenerName,
  TrafficDirection,
  WILDCARD_ADDRESS,
} from '../../model/naming.ts';
import type { Proxy } from '../../model/proxy.ts';
import { ISTIO_ENVOY_SERVER_NAME } from '../filters/hcm.ts';
import { buildTlsInspector } from '../filters/listener-filters.ts';
import { buildAddress, canBindToPort, delimitedStatPrefix, proxyIdleTimeoutMs } from './common.ts';
import type { FilterPlugins, Proto } from './context.ts';
import { buildFilterChain, type FilterChainOpts, toFilterChainMatch } from './filter-chain.ts';
import {
  buildOutboundNetworkFilters,
  buildSingleDestinationFilters,
  type NetworkFilterContext,
} from './network-filters.ts';
import { addTelemetryFilters } from './telemetry.ts';
import { buildServerTlsContext } from './tls-context.ts';

const log = logger('pilot:lds');

/** ALPNs of Istio mTLS: AUTO_PASSTHROUGH only admits Istio mTLS clients. */
const ALL_ISTIO_MTLS_ALPNS = ['istio', 'istio-peer-exchange', 'istio-http/1.0', 'istio-http/1.1', 'istio-h2'];

export interface GatewayListenerContext {
  readonly proxy: Proxy;
  readonly mesh: MeshConfig;
  readonly merged: MergedGateway;
  /** VirtualServices bound to a gateway (`namespace/name`) visible to the proxy. */
  readonly virtualServicesForGateway: (gatewayName: string) => readonly VirtualServiceConfig[];
  /** Services the gateway proxy sees (AUTO_PASSTHROUGH builds a chain per service port). */
  readonly services: readonly Service[];
  readonly serviceForHostname: (hostname: string) => Service | undefined;
  readonly destinationRule: (service: Service) => DestinationRule | undefined;
  readonly plugins?: FilterPlugins;
}

/** Server hosts without their namespace part, deduplicated and sorted: the SNI names of a server. */
export function sniHostsOf(info: GatewayServerInfo): string[] {
  return [...new Set(info.hosts.map((h) => h.host))].sort();
}

/** Istio's gateway HCM: remote address trusted, client certificate details sanitized and set. */
function gatewayConnectionManagerBase(ctx: GatewayListenerContext): Record<string, unknown> {
  const pc = ctx.proxy.metadata.proxyConfig as { gatewayTopology?: Record<string, unknown> } | undefined;
  const topology = (pc?.gatewayTopology ?? ctx.mesh.defaultConfig.gatewayTopology) as
    | { numTrustedProxies?: number; forwardClientCertDetails?: string }
    | undefined;
  const xfcc =
    topology?.forwardClientCertDetails && topology.forwardClientCertDetails !== 'UNDEFINED'
      ? topology.forwardClientCertDetails
      : 'SANITIZE_SET';
  const base: Record<string, unknown> = {
    forward_client_cert_details: xfcc,
    server_name: ISTIO_ENVOY_SERVER_NAME,
    http_protocol_options: ctx.proxy.metadata.raw.HTTP10 === '1' ? { accept_http_10: true } : {},
  };
  if (topology?.numTrustedProxies) base.xff_num_trusted_hops = topology.numTrustedProxies;
  if (xfcc === 'APPEND_FORWARD' || xfcc === 'SANITIZE_SET') {
    base.set_current_client_cert_details = { subject: { value: true }, cert: true, dns: true, uri: true };
  }
  return base;
}

function httpChain(ctx: GatewayListenerContext, rds: string, statPrefix?: string): FilterChainOpts {
  return {
    http: {
      routes: { rds },
      class: 'GATEWAY',
      useRemoteAddress: true,
      pathNormalization: ctx.mesh.pathNormalization?.normalization,
      idleTimeoutMs: proxyIdleTimeoutMs(ctx.proxy),
      base: gatewayConnectionManagerBase(ctx),
      ...(statPrefix ? { statPrefix } : {}),
      policyFilters: ctx.plugins?.httpPolicyFilters,
      telemetryFilters: ctx.plugins?.httpTelemetryFilters,
    },
  };
}

function networkContext(ctx: GatewayListenerContext): NetworkFilterContext {
  return {
    serviceForHostname: ctx.serviceForHostname,
    destinationRule: ctx.destinationRule,
    idleTimeoutMs: proxyIdleTimeoutMs(ctx.proxy),
    prefixFilters: ctx.plugins?.tcpFilters,
  };
}

/** VirtualService hosts that some server host (namespace-scoped) matches. */
function matchesServerHosts(info: GatewayServerInfo, vs: VirtualServiceConfig): boolean {
  return info.hosts.some(
    (h) =>
      (h.namespace === '*' || h.namespace === vs.meta.namespace) &&
      (vs.spec.hosts ?? []).some((v) => hostsMatch(h.host, v)),
  );
}

/** Istio's l4SingleMatch for gateways: port and gateway predicates. */
function l4Matches(m: Pick<L4MatchAttributes, 'port' | 'gateways'>, info: GatewayServerInfo): boolean {
  const portOk = !m.port || m.port === info.server.port.number;
  const gwOk = !m.gateways?.length || m.gateways.includes(info.gatewayName);
  return portOk && gwOk;
}

function tcpRouteFilters(ctx: GatewayListenerContext, info: GatewayServerInfo) {
  for (const vs of ctx.virtualServicesForGateway(info.gatewayName)) {
    if (!matchesServerHosts(info, vs)) continue;
    for (const tcp of vs.spec.tcp ?? []) {
      const matches = tcp.match ?? [];
      if (matches.length > 0 && !matches.some((m) => l4Matches(m, info))) continue;
      if (!tcp.route?.length) continue;
      return buildOutboundNetworkFilters(
        networkContext(ctx),
        tcp.route as RouteDestination[],
        info.server.port.number,
        vs,
      );
    }
  }
  return undefined;
}

function passthroughChains(
  ctx: GatewayListenerContext,
  info: GatewayServerInfo,
  seenSni: Set<string>,
): FilterChainOpts[] {
  const out: FilterChainOpts[] = [];
  const port = info.server.port.number;
  if (info.server.tls?.mode === 'AUTO_PASSTHROUGH') {
    const hosts = sniHostsOf(info);
    const net = networkContext(ctx);
    for (const service of ctx.services) {
      if (service.meshExternal) continue;
      if (!hosts.some((h) => hostSubsetOf(service.hostname, h))) continue;
      const rule = ctx.destinationRule(service);
      for (const sp of service.ports) {
        if (sp.protocol === Protocol.UDP) continue;
        for (const subset of ['', ...(rule?.subsets ?? []).map((s) => s.name)]) {
          const cluster = buildDnsSrvSubsetKey(TrafficDirection.OUTBOUND, subset, service.hostname, sp.port);
          out.push({
            sniHosts: [cluster],
            applicationProtocols: ALL_ISTIO_MTLS_ALPNS,
            // The SNI-DNAT cluster, not a tunnel: the client's mTLS passes through untouched.
            networkFilters: buildSingleDestinationFilters(net, cluster, cluster, subset, rule, {
              tunnel: false,
            }),
          });
        }
      }
    }
    return out;
  }
  for (const vs of ctx.virtualServicesForGateway(info.gatewayName)) {
    if (!matchesServerHosts(info, vs)) continue;
    for (const tls of vs.spec.tls ?? []) {
      if (!tls.route?.length) continue;
      for (const m of tls.match) {
        if (!l4Matches(m, info)) continue;
        // Two chains with one SNI would make Envoy reject the listener: the first wins.
        const dup = m.sniHosts.filter((h) => seenSni.has(h));
        if (dup.length > 0) {
          log.warn('skipping TLS route with SNI hosts already routed on this gateway port', {
            virtualService: `${vs.meta.namespace}/${vs.meta.name}`,
            port,
            hosts: dup.join(','),
          });
          continue;
        }
        for (const h of m.sniHosts) seenSni.add(h);
        out.push({
          sniHosts: m.sniHosts,
          networkFilters: buildOutboundNetworkFilters(
            networkContext(ctx),
            tls.route as RouteDestination[],
            port,
            vs,
          ),
        });
      }
    }
  }
  return out;
}

function chainsForPort(ctx: GatewayListenerContext, port: GatewayPortServers): FilterChainOpts[] {
  if (isHttpProtocol(port.protocol)) {
    const routeName = port.servers[0]?.routeName;
    return routeName ? [httpChain(ctx, routeName)] : [];
  }
  const out: FilterChainOpts[] = [];
  const seenSni = new Set<string>();
  for (const info of port.servers) {
    const tls = info.server.tls;
    if (info.protocol === Protocol.HTTPS && tls && !info.passthrough && info.routeName) {
      out.push({
        ...httpChain(ctx, info.routeName, info.server.name || undefined),
        sniHosts: sniHostsOf(info),
        tlsContext: buildServerTlsContext(tls, { mesh: ctx.mesh }),
      });
      continue;
    }
    if (!tls) {
      const filters = tcpRouteFilters(ctx, info);
      if (filters) out.push({ networkFilters: filters });
      else
        log.warn('gateway server has no VirtualService tcp route', {
          gateway: info.gatewayName,
          port: port.port,
        });
      continue;
    }
    if (!info.passthrough) {
      const filters = tcpRouteFilters(ctx, info);
      if (filters) {
        out.push({
          sniHosts: sniHostsOf(info),
          tlsContext: buildServerTlsContext(tls, { mesh: ctx.mesh, tcpIstioMutual: true }),
          networkFilters: filters,
        });
      } else {
        log.warn('gateway server has no VirtualService tcp route', {
          gateway: info.gatewayName,
          port: port.port,
        });
      }
      continue;
    }
    out.push(...passthroughChains(ctx, info, seenSni));
  }
  return out;
}

export function buildGatewayListeners(ctx: GatewayListenerContext): Proto[] {
  const listeners: Proto[] = [];
  for (const port of ctx.merged.ports) {
    if (ctx.proxy.metadata.unprivilegedPod && port.port > 0 && port.port < 1024) {
      log.warn('skipping privileged gateway port on an unprivileged proxy', {
        proxy: ctx.proxy.id,
        port: port.port,
      });
      continue;
    }
    const bind = port.bind ?? WILDCARD_ADDRESS;
    if (
      !canBindToPort(ctx.proxy, ctx.mesh, {
        bindToPort: true,
        bind,
        port: port.port,
        protocol: port.protocol,
      })
    ) {
      log.warn('skipping gateway port that a proxy listener already uses', {
        proxy: ctx.proxy.id,
        port: port.port,
      });
      continue;
    }
    const chains = chainsForPort(ctx, port);
    if (chains.length === 0) {
      log.warn('gateway omits listener without filter chains', { proxy: ctx.proxy.id, port: port.port });
      continue;
    }
    const name = listenerName(bind, port.port);
    const l: Proto = { name, address: buildAddress(bind, port.port) };
    const needsInspector = chains.some(
      (c) =>
        (c.sniHosts ?? []).length > 0 ||
        (
          ((c.tlsContext?.common_tls_context as Proto | undefined)?.alpn_protocols as
            | unknown[]
            | undefined) ?? []
        ).length > 0,
    );
    if (needsInspector) l.listener_filters = [buildTlsInspector()];
    const statPrefix = delimitedStatPrefix(`outbound_${name}`);
    l.filter_chains = chains.map((c) => {
      const match = toFilterChainMatch(c);
      return match
        ? { filter_chain_match: match, ...buildFilterChain(c, statPrefix) }
        : buildFilterChain(c, statPrefix);
    });
    l.traffic_direction = 'OUTBOUND';
    // Gateways wait for the TLS ClientHello as long as it takes: the inspector is required.
    l.listener_filters_timeout = toProtoDuration(0);
    listeners.push(l);
  }
  listeners.sort((a, b) => (String(a.name) < String(b.name) ? -1 : String(a.name) > String(b.name) ? 1 : 0));
  return addTelemetryFilters(listeners, 'gateway');
}
