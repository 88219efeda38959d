/**
 * All listeners of a sidecar, in Istio's order (outbound, HTTP proxy, virtualOutbound, inbound),
 * and the capture listener for outbound traffic: `virtualOutbound` on 15001 accepts what
 * iptables redirected and, by `use_original_dst`, hands each connection to the listener of its
 * original destination (`0.0.0.0_9080`, `10.0.0.5_27017`); what no listener claims passes
 * through or is dropped by the outbound traffic policy. A proxy without capture
 * (INTERCEPTION_MODE NONE) gets neither virtual listener; its Sidecar's egress and ingress
 * listeners are bound for real instead.
 */
import { toProtoDuration } from '../../../lib/xds/well-known.ts';
import {
  HTTP_PROXY_ROUTE_NAME,
  listenerName,
  VIRTUAL_OUTBOUND_BLACKHOLE_FILTER_CHAIN_NAME,
  VIRTUAL_OUTBOUND_CATCH_ALL_TCP_FILTER_CHAIN_NAME,
  VIRTUAL_OUTBOUND_LISTENER_NAME,
  WILDCARD_ADDRESS,
} from '../../model/naming.ts';
import { BLACK_HOLE_CLUSTER, LOCALHOST_IPV4 } from '../../model/well-known.ts';
import { buildTcpProxyFilter } from '../filters/tcp-proxy.ts';
import { buildAddress, delimitedStatPrefix, interceptionMode, proxyIdleTimeoutMs } from './common.ts';
import type { Proto, SidecarListenerContext } from './context.ts';
import { buildFilterChain } from './filter-chain.ts';
import { buildSidecarInboundListeners } from './inbound.ts';
import { buildOutboundCatchAllNetworkFilters, buildSidecarOutboundListeners } from './outbound.ts';
import { addTelemetryFilters } from './telemetry.ts';

export function buildVirtualOutboundListener(ctx: SidecarListenerContext): Proto | undefined {
  const mode = interceptionMode(ctx.proxy);
  if (mode === 'NONE') return undefined;
  const port = ctx.mesh.proxyListenPort;
  const l: Proto = {
    name: VIRTUAL_OUTBOUND_LISTENER_NAME,
    address: buildAddress(WILDCARD_ADDRESS, port),
  };
  if (mode === 'TPROXY') l.transparent = { value: true };
  l.use_original_dst = { value: true };
  l.filter_chains = [
    {
      name: VIRTUAL_OUTBOUND_BLACKHOLE_FILTER_CHAIN_NAME,
      // Connections addressed to 15001 itself were not redirected: refuse them, or they loop.
      filter_chain_match: { destination_port: { value: port } },
      filters: [
        ...(ctx.outboundPlugins?.tcpTelemetryFilters ?? []),
        buildTcpProxyFilter({ statPrefix: BLACK_HOLE_CLUSTER, cluster: BLACK_HOLE_CLUSTER }),
      ],
    },
    {
      name: VIRTUAL_OUTBOUND_CATCH_ALL_TCP_FILTER_CHAIN_NAME,
      filters: [
        ...(ctx.outboundPlugins?.tcpTelemetryFilters ?? []),
        ...buildOutboundCatchAllNetworkFilters(ctx),
      ],
    },
  ];
  l.traffic_direction = 'OUTBOUND';
  return l;
}

/**
 * The HTTP proxy listener (MeshConfig.proxyHttpPort): clients configured with it as their
 * HTTP proxy send absolute URLs to 127.0.0.1:PORT, routed by `http_proxy` over every service.
 */
export function buildHttpProxyListener(ctx: SidecarListenerContext): Proto | undefined {
  const fromMeta = ctx.proxy.metadata.raw.HTTP_PROXY_PORT;
  const port =
    typeof fromMeta === 'string' && /^\d+$/.test(fromMeta) ? Number(fromMeta) : (ctx.mesh.proxyHttpPort ?? 0);
  if (!port) return undefined;
  const name = listenerName(LOCALHOST_IPV4, port);
  const http1: Record<string, unknown> = { allow_absolute_url: { value: true } };
  if (ctx.proxy.metadata.raw.HTTP10 === '1') http1.accept_http_10 = true;
  const chain = buildFilterChain(
    {
      http: {
        routes: { rds: HTTP_PROXY_ROUTE_NAME },
        class: 'SIDECAR_OUTBOUND',
        useRemoteAddress: false,
        pathNormalization: ctx.mesh.pathNormalization?.normalization,
        idleTimeoutMs: proxyIdleTimeoutMs(ctx.proxy),
        base: { http_protocol_options: http1 },
        policyFilters: ctx.outboundPlugins?.httpPolicyFilters,
        telemetryFilters: ctx.outboundPlugins?.httpTelemetryFilters,
      },
    },
    delimitedStatPrefix(`outbound_${name}`),
  );
  return {
    name,
    address: buildAddress(LOCALHOST_IPV4, port),
    traffic_direction: 'OUTBOUND',
    continue_on_listener_filters_timeout: true,
    filter_chains: [chain],
    listener_filters_timeout: toProtoDuration(0),
  };
}

/**
 * The outbound half of a sidecar's listeners, in Istio's order: outbound ports, the HTTP proxy
 * port, virtualOutbound. Together with buildSidecarInboundListeners it is the whole set; the two
 * halves depend on different parts of the proxy (its Sidecar scope vs. its own service targets),
 * so the LDS generator caches them apart. Both halves carry Istio's telemetry filters.
 */
export function buildSidecarOutboundPart(ctx: SidecarListenerContext): Proto[] {
  if (ctx.mesh.proxyListenPort <= 0) return [];
  const out = [...buildSidecarOutboundListeners(ctx)];
  const httpProxy = buildHttpProxyListener(ctx);
  if (httpProxy) out.push(httpProxy);
  const virtualOutbound = buildVirtualOutboundListener(ctx);
  if (virtualOutbound) out.push(virtualOutbound);
  return addTelemetryFilters(out, 'sidecar');
}

/** The inbound half (virtualInbound and bound ingress listeners); see buildSidecarOutboundPart. */
export function buildSidecarInboundPart(ctx: SidecarListenerContext): Proto[] {
  if (ctx.mesh.proxyListenPort <= 0) return [];
  return addTelemetryFilters(buildSidecarInboundListeners(ctx), 'sidecar');
}

/** Every listener of a sidecar proxy. */
export function buildSidecarListeners(ctx: SidecarListenerContext): Proto[] {
  return [...buildSidecarOutboundPart(ctx), ...buildSidecarInboundPart(ctx)];
}
