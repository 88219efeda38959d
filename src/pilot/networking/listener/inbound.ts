/**
 * Sidecar inbound listeners (Istio's listener_inbound.go). Captured inbound traffic lands on
 * `virtualInbound` (15006), whose filter chains are selected by the original destination port:
 *
 * - `virtualInbound-blackhole`: connections addressed to 15006 itself (no loop);
 * - passthrough chains for ports no service declares: `virtualInbound-catchall-http` (HCM) and
 *   `virtualInbound` (tcp_proxy) to InboundPassthroughCluster;
 * - one chain set per inbound port, from the proxy's service targets or from the Sidecar's
 *   `ingress` listeners: HTTP ports get an HCM with an inline route to `inbound|PORT||`, TCP
 *   ports a tcp_proxy to it, ports of unknown protocol both (told apart by ALPN).
 *
 * Which chains exist per port also depends on the port's mTLS mode (PeerAuthentication: the
 * security work supplies it; DISABLE until then). An ingress listener with `captureMode: NONE`
 * (or a proxy without capture) gets a real listener bound to its address instead.
 */
import { isIP } from 'node:net';
import type { ServerTlsSettings } from '../../../api/networking/gateway.ts';
import { parseDuration } from '../../../lib/duration.ts';
import { toProtoDuration } from '../../../lib/xds/well-known.ts';
import { isHttp2Protocol, Protocol, parseProtocol } from '../../../registry/protocol.ts';
import {
  inboundClusterName,
  inboundVirtualHostName,
  listenerName,
  VIRTUAL_INBOUND_BLACKHOLE_FILTER_CHAIN_NAME,
  VIRTUAL_INBOUND_CATCH_ALL_HTTP_FILTER_CHAIN_NAME,
  VIRTUAL_INBOUND_LISTENER_NAME,
  WILDCARD_ADDRESS,
} from '../../model/naming.ts';
import { BLACK_HOLE_CLUSTER, INBOUND_PASSTHROUGH_CLUSTER } from '../../model/well-known.ts';
import { ISTIO_ENVOY_SERVER_NAME } from '../filters/hcm.ts';
import {
  buildHttpInspector,
  buildOriginalDstFilter,
  buildTlsInspector,
  disabledOnPorts,
  enabledOnlyOnPorts,
} from '../filters/listener-filters.ts';
import { TRANSPORT_PROTOCOL_RAW_BUFFER, TRANSPORT_PROTOCOL_TLS } from '../filters/names.ts';
import { buildTcpProxyFilter, type NetworkFilter } from '../filters/tcp-proxy.ts';
import { buildConfigInfoMetadata, buildDefaultInboundRoute, traceOperation } from '../route/route.ts';
import {
  buildAddress,
  canBindToPort,
  delimitedStatPrefix,
  interceptionMode,
  type ListenerProtocol,
  listenerProtocol,
  proxyIdleTimeoutMs,
} from './common.ts';
import type { InboundMtlsSettings, Proto, SidecarListenerContext } from './context.ts';
import { buildFilterChain, type FilterChainOpts } from './filter-chain.ts';
import { buildServerTlsContext } from './tls-context.ts';

/** Plaintext HTTP ALPNs the HTTP inspector reports. */
const PLAINTEXT_HTTP_ALPNS = ['http/1.1', 'h2c'];
/** ALPNs of HTTP from another sidecar over Istio mTLS (Istio's mtlsHTTPALPNs). */
const MTLS_HTTP_ALPNS = ['istio-http/1.0', 'istio-http/1.1', 'istio-h2'];
/** All ALPNs of Istio mTLS (Istio's allIstioMtlsALPNs). */
const ALL_ISTIO_MTLS_ALPNS = ['istio', 'istio-peer-exchange', 'istio-http/1.0', 'istio-http/1.1', 'istio-h2'];
/** ALPNs of TCP from another sidecar with metadata exchange (Istio's mtlsTCPWithMxcALPNs). */
const MTLS_TCP_WITH_MXC_ALPNS = ['istio-peer-exchange', 'istio'];

/** One inbound port's chain configuration (Istio's inboundChainConfig). */
interface InboundChainConfig {
  readonly clusterName: string;
  readonly port: {
    readonly port: number;
    readonly name: string;
    protocol: Protocol;
    readonly targetPort: number;
  };
  readonly bind: string;
  readonly bindToPort: boolean;
  readonly passthrough: boolean;
  /** Service hostname for tracing (a synthetic `sidecar.namespace` for Sidecar ingress). */
  readonly hostname: string;
  tls?: ServerTlsSettings;
  readonly metadata?: Proto;
}

/** Istio's FilterChainMatchOptions. */
interface MatchOption {
  readonly applicationProtocols?: readonly string[];
  readonly transportProtocol: string;
  readonly protocol: 'HTTP' | 'TCP';
  readonly tls?: boolean;
}

function options(mode: InboundMtlsSettings['mode'], lp: ListenerProtocol): MatchOption[] {
  const RAW = TRANSPORT_PROTOCOL_RAW_BUFFER;
  const TLS = TRANSPORT_PROTOCOL_TLS;
  switch (lp) {
    case 'HTTP':
      if (mode === 'STRICT') return [{ protocol: 'HTTP', transportProtocol: TLS, tls: true }];
      if (mode === 'PERMISSIVE') {
        return [
          { applicationProtocols: ALL_ISTIO_MTLS_ALPNS, transportProtocol: TLS, protocol: 'HTTP', tls: true },
          { protocol: 'HTTP', transportProtocol: RAW },
        ];
      }
      return [{ protocol: 'HTTP', transportProtocol: RAW }];
    case 'AUTO':
      if (mode === 'STRICT') {
        return [
          { applicationProtocols: MTLS_HTTP_ALPNS, protocol: 'HTTP', transportProtocol: TLS, tls: true },
          { protocol: 'TCP', transportProtocol: TLS, tls: true },
        ];
      }
      if (mode === 'PERMISSIVE') {
        return [
          { applicationProtocols: MTLS_HTTP_ALPNS, transportProtocol: TLS, protocol: 'HTTP', tls: true },
          { applicationProtocols: PLAINTEXT_HTTP_ALPNS, protocol: 'HTTP', transportProtocol: RAW },
          {
            applicationProtocols: MTLS_TCP_WITH_MXC_ALPNS,
            transportProtocol: TLS,
            protocol: 'TCP',
            tls: true,
          },
          { protocol: 'TCP', transportProtocol: RAW },
          { transportProtocol: TLS, protocol: 'TCP' },
        ];
      }
      return [
        { applicationProtocols: PLAINTEXT_HTTP_ALPNS, protocol: 'HTTP', transportProtocol: RAW },
        { protocol: 'TCP', transportProtocol: RAW },
      ];
    default:
      if (mode === 'STRICT') return [{ protocol: 'TCP', transportProtocol: TLS, tls: true }];
      if (mode === 'PERMISSIVE') {
        return [
          { applicationProtocols: ALL_ISTIO_MTLS_ALPNS, transportProtocol: TLS, protocol: 'TCP', tls: true },
          { protocol: 'TCP', transportProtocol: RAW },
          { transportProtocol: TLS, protocol: 'TCP' },
        ];
      }
      return [{ protocol: 'TCP', transportProtocol: RAW }];
  }
}

/** HTTPS -> HTTP, TLS -> TCP once the sidecar terminates TLS itself. */
function afterTlsTermination(p: Protocol): Protocol {
  if (p === Protocol.HTTPS) return Protocol.HTTP;
  if (p === Protocol.TLS) return Protocol.TCP;
  return p;
}

/** Istio's getSidecarInboundBindIPs: the proxy's first global unicast address, else 0.0.0.0. */
function sidecarInboundBind(ctx: SidecarListenerContext): string {
  for (const ip of ctx.proxy.ipAddresses) {
    if (isIP(ip) !== 4) continue;
    const [a, b] = ip.split('.').map(Number);
    const special = a === 0 || a === 127 || (a === 169 && b === 254) || a >= 224;
    if (!special) return ip;
  }
  return WILDCARD_ADDRESS;
}

function chainConfigs(ctx: SidecarListenerContext): InboundChainConfig[] {
  const noneMode = interceptionMode(ctx.proxy) === 'NONE';
  const byPort = new Map<number, InboundChainConfig>();
  if (ctx.ingressListeners.length === 0) {
    // Without a Sidecar ingress, a proxy without capture would bind the app's own ports.
    if (noneMode) return [];
    // Several services on one port: the oldest decides (Istio's conflict rule).
    const targets = [...ctx.serviceTargets].sort((a, b) => {
      const ta = a.service.creationTimestamp ?? '';
      const tb = b.service.creationTimestamp ?? '';
      if (ta !== tb) return ta < tb ? -1 : 1;
      const ka = `${a.service.hostname}/${a.service.namespace}`;
      const kb = `${b.service.hostname}/${b.service.namespace}`;
      return ka < kb ? -1 : ka > kb ? 1 : 0;
    });
    for (const t of targets) {
      if (
        !canBindToPort(ctx.proxy, ctx.mesh, {
          bindToPort: false,
          bind: WILDCARD_ADDRESS,
          port: t.targetPort,
          protocol: t.port.protocol,
        })
      ) {
        continue;
      }
      if (byPort.has(t.targetPort)) continue;
      byPort.set(t.targetPort, {
        clusterName: inboundClusterName(t.targetPort),
        port: { port: t.port.port, name: t.port.name, protocol: t.port.protocol, targetPort: t.targetPort },
        bind: WILDCARD_ADDRESS,
        bindToPort: false,
        passthrough: false,
        hostname: t.service.hostname,
      });
    }
  } else {
    for (const il of ctx.ingressListeners) {
      const number = il.port.number ?? 0;
      const protocol = parseProtocol(il.port.protocol);
      const bindToPort =
        il.captureMode === undefined || il.captureMode === 'DEFAULT' ? noneMode : il.captureMode === 'NONE';
      const bind = il.bind || sidecarInboundBind(ctx);
      if (!canBindToPort(ctx.proxy, ctx.mesh, { bindToPort, bind, port: number, protocol })) continue;
      if (byPort.has(number)) continue;
      const sidecar = ctx.sidecar;
      const cc: InboundChainConfig = {
        clusterName: inboundClusterName(number),
        port: { port: number, name: il.port.name ?? '', protocol, targetPort: number },
        bind,
        bindToPort,
        passthrough: false,
        hostname: sidecar ? `${sidecar.name}.${sidecar.namespace}` : '',
        metadata: sidecar
          ? buildConfigInfoMetadata({
              kind: 'Sidecar',
              group: 'networking.istio.io',
              version: sidecar.version,
              meta: sidecar,
            })
          : undefined,
      };
      if (il.tls) {
        cc.tls = il.tls;
        cc.port.protocol = afterTlsTermination(protocol);
      }
      byPort.set(number, cc);
    }
  }
  return [...byPort.values()].sort((a, b) => a.port.targetPort - b.port.targetPort);
}

function chainName(cc: InboundChainConfig, protocol: 'HTTP' | 'TCP'): string {
  if (cc.passthrough) {
    return protocol === 'HTTP'
      ? VIRTUAL_INBOUND_CATCH_ALL_HTTP_FILTER_CHAIN_NAME
      : VIRTUAL_INBOUND_LISTENER_NAME;
  }
  return listenerName(cc.bind, cc.port.targetPort);
}

function httpChain(ctx: SidecarListenerContext, cc: InboundChainConfig): FilterChainOpts {
  const routeConfig = {
    name: cc.clusterName,
    virtual_hosts: [
      {
        name: inboundVirtualHostName(cc.port.port),
        domains: ['*'],
        routes: [buildDefaultInboundRoute(cc.clusterName, traceOperation(cc.hostname, cc.port.port))],
      },
    ],
    validate_clusters: { value: false },
  };
  const base: Record<string, unknown> = {
    forward_client_cert_details: 'APPEND_FORWARD',
    set_current_client_cert_details: { subject: { value: true }, uri: true, dns: true },
    server_name: ISTIO_ENVOY_SERVER_NAME,
  };
  if (isHttp2Protocol(cc.port.protocol)) base.http2_protocol_options = {};
  if (ctx.proxy.metadata.raw.HTTP10 === '1') base.http_protocol_options = { accept_http_10: true };
  const statPrefix = cc.passthrough
    ? delimitedStatPrefix(cc.clusterName)
    : delimitedStatPrefix(`inbound_${chainName(cc, 'HTTP')}`);
  return {
    http: {
      routes: { routeConfig },
      class: 'SIDECAR_INBOUND',
      useRemoteAddress: false,
      pathNormalization: ctx.mesh.pathNormalization?.normalization,
      idleTimeoutMs: proxyIdleTimeoutMs(ctx.proxy),
      base,
      statPrefix,
      policyFilters: ctx.inboundPlugins?.httpPolicyFilters,
      telemetryFilters: ctx.inboundPlugins?.httpTelemetryFilters,
    },
  };
}

function tcpFilters(ctx: SidecarListenerContext, cc: InboundChainConfig): NetworkFilter[] {
  return [
    ...(ctx.inboundPlugins?.tcpFilters ?? []),
    buildTcpProxyFilter({
      statPrefix: cc.clusterName,
      cluster: cc.clusterName,
      idleTimeoutMs: proxyIdleTimeoutMs(ctx.proxy),
    }),
  ];
}

function chainsFor(ctx: SidecarListenerContext, cc: InboundChainConfig, mtls: InboundMtlsSettings): Proto[] {
  let opts: MatchOption[];
  let settings = mtls;
  if (cc.tls && mtls.mode === 'DISABLE') {
    // The workload's own TLS settings: terminate with them (only without Istio mTLS on the port).
    const lp = listenerProtocol(cc.port.protocol);
    opts = [
      { protocol: lp === 'HTTP' ? 'HTTP' : 'TCP', transportProtocol: TRANSPORT_PROTOCOL_TLS, tls: true },
    ];
    const tlsContext = buildServerTlsContext(cc.tls, { mesh: ctx.mesh });
    settings = { mode: 'DISABLE', tcp: tlsContext, http: tlsContext };
  } else {
    opts = options(mtls.mode, listenerProtocol(cc.port.protocol));
  }
  return opts.map((opt) => {
    const match: Proto = {};
    if (cc.port.targetPort > 0) match.destination_port = { value: cc.port.targetPort };
    if (opt.transportProtocol) match.transport_protocol = opt.transportProtocol;
    if (opt.applicationProtocols) match.application_protocols = [...opt.applicationProtocols];
    const tlsContext = opt.tls ? (opt.protocol === 'HTTP' ? settings.http : settings.tcp) : undefined;
    const chainOpts: FilterChainOpts =
      opt.protocol === 'HTTP'
        ? { ...httpChain(ctx, cc), name: chainName(cc, 'HTTP'), tlsContext, metadata: cc.metadata }
        : {
            networkFilters: tcpFilters(ctx, cc),
            name: chainName(cc, 'TCP'),
            tlsContext,
            metadata: cc.metadata,
          };
    return { filter_chain_match: match, ...buildFilterChain(chainOpts, '') };
  });
}

function blackholeChain(ctx: SidecarListenerContext): Proto {
  return {
    name: VIRTUAL_INBOUND_BLACKHOLE_FILTER_CHAIN_NAME,
    filter_chain_match: { destination_port: { value: ctx.mesh.proxyInboundListenPort } },
    filters: [
      ...(ctx.inboundPlugins?.tcpTelemetryFilters ?? []),
      buildTcpProxyFilter({ statPrefix: BLACK_HOLE_CLUSTER, cluster: BLACK_HOLE_CLUSTER }),
    ],
  };
}

function passthroughChains(ctx: SidecarListenerContext): Proto[] {
  const mtls = ctx.inboundMtls?.(0) ?? { mode: 'DISABLE' };
  const cc: InboundChainConfig = {
    clusterName: INBOUND_PASSTHROUGH_CLUSTER,
    port: { port: 0, name: VIRTUAL_INBOUND_LISTENER_NAME, protocol: Protocol.UNSUPPORTED, targetPort: 0 },
    bind: WILDCARD_ADDRESS,
    bindToPort: false,
    passthrough: true,
    hostname: '',
  };
  return chainsFor(ctx, cc, mtls);
}

/**
 * Listener filters from what the chains match on (Istio's populateListenerFilters): the TLS
 * and HTTP inspectors run only on ports whose chains need them.
 */
function listenerFilters(chains: readonly Proto[], bindToPort: boolean): Proto[] {
  const out: Proto[] = [];
  if (!bindToPort) out.push(buildOriginalDstFilter() as unknown as Proto);
  const inspectors = new Map<number, { tls: boolean; http: boolean }>();
  for (const fc of chains) {
    const m = (fc.filter_chain_match ?? {}) as Proto;
    const port = ((m.destination_port as { value: number } | undefined)?.value ?? 0) as number;
    const alpn = (m.application_protocols as string[] | undefined) ?? [];
    const prev = inspectors.get(port) ?? { tls: false, http: false };
    inspectors.set(port, {
      tls: prev.tls || m.transport_protocol === TRANSPORT_PROTOCOL_TLS,
      http: prev.http || alpn.some((a) => a === 'http/1.1' || a === 'h2c'),
    });
  }
  const any = (k: 'tls' | 'http') => [...inspectors.values()].some((i) => i[k]);
  if (any('tls')) {
    const defaultOn = inspectors.get(0)?.tls ?? false;
    const ports = [...inspectors].filter(([p, i]) => p !== 0 && (defaultOn ? !i.tls : i.tls)).map(([p]) => p);
    if (ports.length === 0) out.push(buildTlsInspector() as unknown as Proto);
    else
      out.push(
        buildTlsInspector(defaultOn ? disabledOnPorts(ports) : enabledOnlyOnPorts(ports)) as unknown as Proto,
      );
  }
  // The HTTP inspector must come after the TLS inspector: it skips connections found to be TLS.
  if (any('http')) {
    const off = [...inspectors].filter(([, i]) => !i.http).map(([p]) => p);
    out.push(buildHttpInspector(off.length > 0 ? disabledOnPorts(off) : undefined) as unknown as Proto);
  }
  return out;
}

function inboundListener(
  ctx: SidecarListenerContext,
  name: string,
  bind: string,
  port: number,
  bindToPort: boolean,
  chains: Proto[],
): Proto {
  const l: Proto = {
    name,
    address: buildAddress(bind, port),
    traffic_direction: 'INBOUND',
    continue_on_listener_filters_timeout: true,
  };
  if (!bindToPort && interceptionMode(ctx.proxy) === 'TPROXY') l.transparent = { value: true };
  l.filter_chains = chains;
  const lf = listenerFilters(chains, bindToPort);
  if (lf.length > 0) l.listener_filters = lf;
  l.listener_filters_timeout = toProtoDuration(parseDuration(ctx.mesh.protocolDetectionTimeout) ?? 0);
  return l;
}

/** virtualInbound (unless the proxy has no capture) and any ingress listeners bound to a port. */
export function buildSidecarInboundListeners(ctx: SidecarListenerContext): Proto[] {
  const listeners: Proto[] = [];
  const virtualChains: Proto[] = [];
  for (const cc of chainConfigs(ctx)) {
    const mtls = ctx.inboundMtls?.(cc.port.targetPort) ?? { mode: 'DISABLE' };
    const chains = chainsFor(ctx, cc, mtls);
    if (cc.bindToPort)
      listeners.push(
        inboundListener(
          ctx,
          listenerName(cc.bind, cc.port.targetPort),
          cc.bind,
          cc.port.targetPort,
          true,
          chains,
        ),
      );
    else virtualChains.push(...chains);
  }
  if (interceptionMode(ctx.proxy) !== 'NONE') {
    const all = [blackholeChain(ctx), ...passthroughChains(ctx), ...virtualChains];
    listeners.unshift(
      inboundListener(
        ctx,
        VIRTUAL_INBOUND_LISTENER_NAME,
        WILDCARD_ADDRESS,
        ctx.mesh.proxyInboundListenPort,
        false,
        all,
      ),
    );
  }
  return listeners;
}
