/**
 * Sidecar outbound listeners (Istio's buildSidecarOutboundListeners):
 *
 * - HTTP service ports share one listener per port, `0.0.0.0_PORT`, whose HCM takes routes by
 *   RDS from the configuration named by the port (`9080`). On the wildcard address the HTTP
 *   chain matches plaintext HTTP ALPNs (the HTTP inspector sets them), so other traffic falls to
 *   the passthrough default chain.
 * - TCP and TLS service ports get a listener on the service VIP (`10.0.0.5_27017`), or on
 *   0.0.0.0 with a CIDR or SNI match; `tcp[]` and `tls[]` VirtualService routes become the
 *   chains (weighted tcp_proxy, SNI matches), else the service port's cluster.
 * - Ports of unknown protocol get both: TCP chains and an HTTP chain selected by ALPN, routed
 *   by the service's own route configuration (`host:port`).
 * - Sidecar egress listeners with a port define their own listener (bound for real with
 *   `captureMode: NONE` or a unix socket: how workloads without iptables reach the mesh); the
 *   catch-all egress listener adds every imported service's ports not taken yet.
 *
 * Listeners without capture are not bound (`bind_to_port: false`): virtualOutbound hands
 * connections to them by original destination.
 */
import type { RouteDestination } from '../../../api/networking/virtual-service.ts';
import { parseDuration } from '../../../lib/duration.ts';
import { logger } from '../../../lib/log.ts';
import { toProtoDuration } from '../../../lib/xds/well-known.ts';
import { hostsMatch } from '../../../registry/host.ts';
import { Provider, Resolution, type Service, UNSPECIFIED_IP } from '../../../registry/model.ts';
import {
  isHttpProtocol,
  isTcpProtocol,
  isTlsProtocol,
  Protocol,
  parseProtocol,
} from '../../../registry/protocol.ts';
import { MESH_GATEWAY, type VirtualServiceConfig } from '../../model/indexes/virtual-service-index.ts';
import {
  listenerName,
  outboundClusterName,
  PASSTHROUGH_FILTER_CHAIN_NAME,
  sidecarRouteName,
  sniffedServiceRouteName,
  WILDCARD_ADDRESS,
} from '../../model/naming.ts';
import { BLACK_HOLE_CLUSTER, LOCALHOST_IPV4, PASSTHROUGH_CLUSTER } from '../../model/well-known.ts';
import { buildHttpInspector, buildTlsInspector } from '../filters/listener-filters.ts';
import { TRANSPORT_PROTOCOL_RAW_BUFFER } from '../filters/names.ts';
import type { NetworkFilter } from '../filters/tcp-proxy.ts';
import { buildConfigInfoMetadata, destinationCluster } from '../route/route.ts';
import {
  buildAddress,
  canBindToPort,
  delimitedStatPrefix,
  interceptionMode,
  type ListenerProtocol,
  listenerProtocol,
  proxyIdleTimeoutMs,
  UNIX_ADDRESS_PREFIX,
} from './common.ts';
import type { Proto, SidecarListenerContext } from './context.ts';
import {
  buildFilterChain,
  chainsConflict,
  type FilterChainOpts,
  type HttpChainOptions,
  isMatchAll,
  toFilterChainMatch,
} from './filter-chain.ts';
import {
  buildOutboundNetworkFilters,
  buildSingleDestinationFilters,
  type NetworkFilterContext,
} from './network-filters.ts';

const log = logger('pilot:lds');

/** Plaintext HTTP ALPNs the HTTP inspector reports (Istio's plaintextHTTPALPNs). */
export const PLAINTEXT_HTTP_ALPNS: readonly string[] = ['http/1.1', 'h2c'];

interface ListenerBinding {
  /** First entry is the listener address; empty until decided. */
  binds: string[];
  bindToPort: boolean;
}

interface ListenPort {
  readonly port: number;
  readonly protocol: Protocol;
  readonly name: string;
}

interface OutboundListenerEntry {
  readonly port: ListenPort;
  readonly bind: ListenerBinding;
  locked: boolean;
  chains: FilterChainOpts[];
  protocol: Protocol;
}

interface OutboundListenerOpts {
  readonly bind: ListenerBinding;
  readonly port: ListenPort;
  readonly service: Service;
  cidr?: string;
}

function primary(bind: ListenerBinding): string {
  return bind.binds[0] ?? '';
}

/** Builds every outbound listener of a sidecar (virtualOutbound excluded). */
export function buildSidecarOutboundListeners(ctx: SidecarListenerContext): Proto[] {
  const builder = new OutboundBuilder(ctx);
  return builder.build();
}

class OutboundBuilder {
  readonly #ctx: SidecarListenerContext;
  readonly #listeners = new Map<string, OutboundListenerEntry>();
  readonly #net: NetworkFilterContext;

  constructor(ctx: SidecarListenerContext) {
    this.#ctx = ctx;
    this.#net = {
      serviceForHostname: ctx.serviceForHostname,
      destinationRule: ctx.destinationRule,
      idleTimeoutMs: proxyIdleTimeoutMs(ctx.proxy),
      prefixFilters: ctx.outboundPlugins?.tcpFilters,
    };
  }

  build(): Proto[] {
    const ctx = this.#ctx;
    const noneMode = interceptionMode(ctx.proxy) === 'NONE';
    for (const egress of ctx.egressListeners) {
      const il = egress.listener;
      const bind: ListenerBinding = { binds: [], bindToPort: false };
      if (noneMode) bind.bindToPort = true;
      else if (il?.captureMode === 'NONE') bind.bindToPort = true;
      else if (il?.bind?.startsWith(UNIX_ADDRESS_PREFIX)) bind.bindToPort = true;
      if (il?.bind) bind.binds = [il.bind];
      else if (bind.bindToPort) bind.binds = [LOCALHOST_IPV4];

      if (il?.port) {
        const listenPort: ListenPort = {
          port: il.port.number ?? 0,
          protocol: parseProtocol(il.port.protocol),
          name: il.port.name ?? '',
        };
        if (!this.#canBind(bind, listenPort)) continue;
        for (const service of egress.services) {
          this.#buildListener({ bind: copyBinding(bind), port: listenPort, service }, egress.virtualServices);
        }
        continue;
      }
      // The catch-all listener must not add to ports an explicit egress listener declared.
      for (const entry of this.#listeners.values()) entry.locked = true;
      for (const service of egress.services) {
        for (const sp of service.ports) {
          const listenPort: ListenPort = { port: sp.port, protocol: sp.protocol, name: sp.name };
          if (!this.#canBind(bind, listenPort)) continue;
          const opts: OutboundListenerOpts = { bind: copyBinding(bind), port: listenPort, service };
          const lp = listenerProtocol(sp.protocol);
          const headless =
            primary(bind) === '' &&
            service.resolution === Resolution.PASSTHROUGH &&
            service.defaultAddress === UNSPECIFIED_IP &&
            (lp === 'TCP' || lp === 'AUTO');
          if (!headless) {
            this.#buildListener(opts, egress.virtualServices);
            continue;
          }
          // Headless TCP: one listener per endpoint, since no VIP tells the services apart.
          const addresses = ctx.endpointAddresses?.(service, sp.port) ?? [];
          if (service.provider !== Provider.KUBERNETES && addresses.length === 0 && !service.selector) {
            this.#buildListener(opts, egress.virtualServices);
            continue;
          }
          for (const address of addresses) {
            if (address === ctx.proxy.ipAddresses[0] || address.startsWith(UNIX_ADDRESS_PREFIX)) continue;
            this.#buildListener(
              { ...opts, bind: { binds: [address], bindToPort: bind.bindToPort } },
              egress.virtualServices,
            );
          }
        }
      }
    }
    const fallthrough = buildOutboundCatchAllNetworkFilters(this.#ctx);
    return [...this.#listeners.values()]
      .map((entry) => buildListenerFromEntry(this.#ctx, entry, fallthrough))
      .sort((a, b) => (String(a.name) < String(b.name) ? -1 : String(a.name) > String(b.name) ? 1 : 0));
  }

  #canBind(bind: ListenerBinding, port: ListenPort): boolean {
    const ok = canBindToPort(this.#ctx.proxy, this.#ctx.mesh, {
      bindToPort: bind.bindToPort,
      bind: primary(bind),
      port: port.port,
      protocol: port.protocol,
    });
    if (!ok)
      log.debug('skipping outbound port the proxy cannot listen on', {
        proxy: this.#ctx.proxy.id,
        port: port.port,
      });
    return ok;
  }

  #buildListener(opts: OutboundListenerOpts, virtualServices: readonly VirtualServiceConfig[]): void {
    const lp = listenerProtocol(opts.port.protocol);
    let portProtocol = opts.port.protocol;
    if (lp === 'TCP' || lp === 'AUTO') {
      if (primary(opts.bind) === '') {
        const address = opts.service.defaultAddress;
        if (address !== '') {
          if (!address.includes('/')) opts.bind.binds = [address];
          else {
            opts.bind.binds = [WILDCARD_ADDRESS];
            opts.cidr = address;
          }
        }
      }
    } else if (lp === 'HTTP') {
      if (primary(opts.bind) === '') opts.bind.binds = [WILDCARD_ADDRESS];
    }
    const key = `${primary(opts.bind)}|${opts.port.port}`;
    const current = this.#listeners.get(key);
    if (current?.locked) return;

    let chains: FilterChainOpts[];
    let conflict:
      | 'NONE'
      | 'HTTP_OVER_TCP'
      | 'TCP_OVER_HTTP'
      | 'TCP_OVER_TCP'
      | 'TCP_OVER_AUTO'
      | 'AUTO_OVER_HTTP'
      | 'AUTO_OVER_TCP' = 'NONE';
    if (opts.port.protocol === Protocol.HTTP_PROXY) {
      chains = [this.#httpChain(opts, lp)];
    } else {
      switch (lp) {
        case 'HTTP': {
          if (current) {
            if (isTcpProtocol(current.protocol)) conflict = 'HTTP_OVER_TCP';
            else return;
          }
          const chain = this.#httpChain(opts, lp);
          if (primary(opts.bind) === WILDCARD_ADDRESS) {
            chains = [
              {
                ...chain,
                applicationProtocols: PLAINTEXT_HTTP_ALPNS,
                transportProtocol: TRANSPORT_PROTOCOL_RAW_BUFFER,
              },
            ];
            // A TCP fallthrough shares the port with the HTTP chain: protocol detection decides.
            portProtocol = Protocol.UNSUPPORTED;
          } else {
            chains = [chain];
          }
          break;
        }
        case 'TCP':
          chains = this.#tcpChains(opts, virtualServices);
          if (current) {
            if (isHttpProtocol(current.protocol)) conflict = 'TCP_OVER_HTTP';
            else if (isTcpProtocol(current.protocol)) conflict = 'TCP_OVER_TCP';
            else conflict = 'TCP_OVER_AUTO';
          }
          break;
        case 'AUTO': {
          if (current) {
            if (isHttpProtocol(current.protocol)) conflict = 'AUTO_OVER_HTTP';
            else if (isTcpProtocol(current.protocol)) conflict = 'AUTO_OVER_TCP';
            else return;
          }
          const http = this.#httpChain(opts, lp);
          chains = [
            ...this.#tcpChains(opts, virtualServices),
            {
              ...http,
              applicationProtocols: PLAINTEXT_HTTP_ALPNS,
              transportProtocol: TRANSPORT_PROTOCOL_RAW_BUFFER,
            },
          ];
          break;
        }
        default:
          // UDP and other protocols Envoy listeners cannot carry.
          return;
      }
    }

    if (current && !compatibleWithWellKnown(opts.port.protocol, current.protocol)) {
      log.warn('protocol conflict on a well-known port; keeping the first service', {
        port: opts.port.port,
        incoming: opts.port.protocol,
        existing: current.protocol,
      });
      return;
    }
    switch (conflict) {
      case 'NONE':
      case 'AUTO_OVER_HTTP':
        this.#listeners.set(key, {
          port: opts.port,
          bind: opts.bind,
          locked: false,
          chains,
          protocol: portProtocol,
        });
        break;
      case 'HTTP_OVER_TCP':
      case 'TCP_OVER_HTTP':
      case 'AUTO_OVER_TCP':
        mergeChains(current as OutboundListenerEntry, chains);
        (current as OutboundListenerEntry).protocol = Protocol.UNSUPPORTED;
        break;
      case 'TCP_OVER_TCP':
      case 'TCP_OVER_AUTO':
        mergeChains(current as OutboundListenerEntry, chains);
        break;
    }
  }

  #httpChain(opts: OutboundListenerOpts, lp: ListenerProtocol): FilterChainOpts {
    const ctx = this.#ctx;
    const bind = primary(opts.bind);
    let rds: string;
    if (opts.port.port === 0) rds = bind;
    else if (lp === 'AUTO' && bind !== WILDCARD_ADDRESS)
      rds = sniffedServiceRouteName(opts.service.hostname, opts.port.port);
    else rds = sidecarRouteName(opts.port.port);
    const base: Record<string, unknown> = {};
    const http1: Record<string, unknown> = {};
    if (opts.port.protocol === Protocol.HTTP_PROXY) http1.allow_absolute_url = { value: true };
    if (ctx.proxy.metadata.raw.HTTP10 === '1') http1.accept_http_10 = true;
    if (Object.keys(http1).length > 0) base.http_protocol_options = http1;
    const http: HttpChainOptions = {
      routes: { rds },
      class: 'SIDECAR_OUTBOUND',
      useRemoteAddress: false,
      pathNormalization: ctx.mesh.pathNormalization?.normalization,
      idleTimeoutMs: proxyIdleTimeoutMs(ctx.proxy),
      base,
      policyFilters: ctx.outboundPlugins?.httpPolicyFilters,
      telemetryFilters: ctx.outboundPlugins?.httpTelemetryFilters,
    };
    return { http };
  }

  #tcpChains(
    opts: OutboundListenerOpts,
    virtualServices: readonly VirtualServiceConfig[],
  ): FilterChainOpts[] {
    const configs = virtualServices.filter((vs) =>
      (vs.spec.hosts ?? []).some((h) => hostsMatch(h, opts.service.hostname)),
    );
    const cidrs = opts.cidr ? [opts.cidr] : [];
    return [...this.#tlsChainOpts(opts, cidrs, configs), ...this.#tcpChainOpts(opts, cidrs, configs)];
  }

  /** Istio's matchTCP / matchTLS: the static predicates of an L4 match, for this proxy and port. */
  #l4Match(
    m: {
      readonly gateways?: readonly string[];
      readonly sourceLabels?: Readonly<Record<string, string>>;
      readonly port?: number;
      readonly sourceNamespace?: string;
    },
    port: number,
  ): boolean {
    const proxy = this.#ctx.proxy;
    if (m.gateways && m.gateways.length > 0 && !m.gateways.includes(MESH_GATEWAY)) return false;
    if (!Object.entries(m.sourceLabels ?? {}).every(([k, v]) => proxy.labels[k] === v)) return false;
    if (m.port !== undefined && m.port !== 0 && m.port !== port) return false;
    return m.sourceNamespace === undefined || m.sourceNamespace === proxy.namespace;
  }

  #defaultPort(opts: OutboundListenerOpts): number {
    // A Sidecar port that is not the service's: single-port services still reach their port.
    return opts.service.ports.length === 1 ? opts.service.ports[0].port : opts.port.port;
  }

  #tlsChainOpts(
    opts: OutboundListenerOpts,
    cidrs: string[],
    configs: readonly VirtualServiceConfig[],
  ): FilterChainOpts[] {
    if (!isTlsProtocol(opts.port.protocol)) return [];
    const out: FilterChainOpts[] = [];
    const handled = new Set<string>();
    let hasTlsMatch = false;
    for (const vs of configs) {
      for (const tls of vs.spec.tls ?? []) {
        for (const m of tls.match) {
          if (!this.#l4Match(m, opts.port.port)) continue;
          const destCidrs = m.destinationSubnets?.length && opts.port.port > 0 ? m.destinationSubnets : cidrs;
          const hash = `${m.sniHosts.join(',')}|${(m.destinationSubnets ?? []).join(',')}`;
          if (!handled.has(hash) && (tls.route ?? []).length > 0) {
            out.push({
              metadata: buildConfigInfoMetadata(vs),
              sniHosts: m.sniHosts,
              destinationCidrs: destCidrs,
              networkFilters: buildOutboundNetworkFilters(
                this.#net,
                tls.route as RouteDestination[],
                opts.port.port,
                vs,
              ),
            });
            hasTlsMatch = true;
          }
          handled.add(hash);
        }
      }
    }
    if (hasTlsMatch) return out;
    const port = this.#defaultPort(opts);
    const cluster = outboundClusterName(port, opts.service.hostname);
    let address = opts.service.defaultAddress;
    if (address.includes('/')) address = '';
    const bind = primary(opts.bind);
    // Only SNI can tell services apart on a wildcard (or CIDR) listener.
    const sniHosts =
      cidrs.length > 0 || address === '' || (address === WILDCARD_ADDRESS && bind === WILDCARD_ADDRESS)
        ? [opts.service.hostname]
        : [];
    out.push({
      sniHosts,
      destinationCidrs: cidrs,
      networkFilters: buildSingleDestinationFilters(
        this.#net,
        cluster,
        cluster,
        '',
        this.#ctx.destinationRule(opts.service),
      ),
    });
    return out;
  }

  #tcpChainOpts(
    opts: OutboundListenerOpts,
    cidrs: string[],
    configs: readonly VirtualServiceConfig[],
  ): FilterChainOpts[] {
    if (isTlsProtocol(opts.port.protocol)) return [];
    const out: FilterChainOpts[] = [];
    let defaultRouteAdded = false;
    outer: for (const vs of configs) {
      for (const tcp of vs.spec.tcp ?? []) {
        const routes = (tcp.route ?? []) as RouteDestination[];
        if (routes.length === 0) continue;
        if (!tcp.match || tcp.match.length === 0) {
          out.push({
            metadata: buildConfigInfoMetadata(vs),
            destinationCidrs: cidrs,
            networkFilters: buildOutboundNetworkFilters(this.#net, routes, opts.port.port, vs),
          });
          defaultRouteAdded = true;
          break outer;
        }
        const subnets: string[] = [];
        for (const m of tcp.match) {
          if (!this.#l4Match(m, opts.port.port)) continue;
          if (!m.destinationSubnets?.length || opts.port.port === 0) {
            out.push({
              metadata: buildConfigInfoMetadata(vs),
              destinationCidrs: cidrs,
              networkFilters: buildOutboundNetworkFilters(this.#net, routes, opts.port.port, vs),
            });
            defaultRouteAdded = true;
            break outer;
          }
          subnets.push(...m.destinationSubnets);
        }
        if (subnets.length > 0) {
          out.push({
            destinationCidrs: subnets,
            networkFilters: buildOutboundNetworkFilters(this.#net, routes, opts.port.port, vs),
          });
          const a = [...subnets].sort().join(',');
          const b = [...cidrs].sort().join(',');
          if (a === b) defaultRouteAdded = true;
        }
      }
    }
    if (!defaultRouteAdded) {
      const cluster = outboundClusterName(this.#defaultPort(opts), opts.service.hostname);
      out.push({
        destinationCidrs: cidrs,
        networkFilters: buildSingleDestinationFilters(
          this.#net,
          cluster,
          cluster,
          '',
          this.#ctx.destinationRule(opts.service),
        ),
      });
    }
    return out;
  }
}

function copyBinding(b: ListenerBinding): ListenerBinding {
  return { binds: [...b.binds], bindToPort: b.bindToPort };
}

/** Mongo and MySQL speak first from the server: they cannot share a port with sniffing. */
function compatibleWithWellKnown(incoming: Protocol, existing: Protocol): boolean {
  const special = (p: Protocol) => p === Protocol.MONGO || p === Protocol.MYSQL;
  return !((special(incoming) || special(existing)) && incoming !== existing);
}

/** Adds chains whose matches differ from every existing chain (Istio's mergeTCPFilterChains). */
function mergeChains(current: OutboundListenerEntry, incoming: readonly FilterChainOpts[]): void {
  const merged = [...current.chains];
  for (const c of incoming) {
    if (merged.some((e) => chainsConflict(e, c))) {
      log.debug('dropping outbound filter chain with a duplicate match', { port: current.port.port });
      continue;
    }
    merged.push(c);
  }
  current.chains = merged;
}

/**
 * The tcp_proxy of unmatched outbound traffic: PassthroughCluster (or the egress proxy's
 * cluster) under ALLOW_ANY, BlackHoleCluster under REGISTRY_ONLY.
 */
export function buildOutboundCatchAllNetworkFilters(ctx: SidecarListenerContext): NetworkFilter[] {
  let cluster: string;
  if (ctx.outboundTrafficPolicy.mode === 'ALLOW_ANY') {
    const egress = ctx.outboundTrafficPolicy.egressProxy;
    cluster = egress ? destinationCluster(egress, undefined, 0) : PASSTHROUGH_CLUSTER;
  } else {
    cluster = BLACK_HOLE_CLUSTER;
  }
  return buildSingleDestinationFilters(
    {
      serviceForHostname: () => undefined,
      destinationRule: () => undefined,
      idleTimeoutMs: proxyIdleTimeoutMs(ctx.proxy),
    },
    cluster,
    cluster,
    '',
    undefined,
  );
}

function buildListenerFromEntry(
  ctx: SidecarListenerContext,
  entry: OutboundListenerEntry,
  fallthrough: readonly NetworkFilter[],
): Proto {
  const bind = primary(entry.bind);
  const name = listenerName(bind, entry.port.port);
  const l: Proto = {
    name,
    address: buildAddress(bind, entry.port.port),
    traffic_direction: 'OUTBOUND',
    continue_on_listener_filters_timeout: true,
  };
  if (!entry.bind.bindToPort) l.bind_to_port = { value: false };

  let needTls = false;
  let needHttp = false;
  for (const c of entry.chains) {
    const alpn = (c.tlsContext?.common_tls_context as Proto | undefined)?.alpn_protocols as
      | unknown[]
      | undefined;
    if ((c.sniHosts ?? []).length > 0 || (alpn ?? []).length > 0) needTls = true;
    if ((c.applicationProtocols ?? []).length > 0) needHttp = true;
  }
  const listenerFilters: Proto[] = [];
  // The TLS inspector also runs for HTTP detection: an ALPN match without it would make Envoy
  // inject one implicitly.
  if (needTls || needHttp) listenerFilters.push(buildTlsInspector() as unknown as Proto);
  if (needHttp) listenerFilters.push(buildHttpInspector() as unknown as Proto);
  if (listenerFilters.length > 0) l.listener_filters = listenerFilters;
  // Only detection may wait (MeshConfig.protocolDetectionTimeout, 0s: wait for the client).
  l.listener_filters_timeout = toProtoDuration(
    needHttp ? (parseDuration(ctx.mesh.protocolDetectionTimeout) ?? 0) : 0,
  );

  const statPrefix = delimitedStatPrefix(`outbound_${name}`);
  const chains: Proto[] = [];
  let defaultChain: Proto | undefined;
  for (const opt of entry.chains) {
    const chain = buildFilterChain(opt, statPrefix);
    if (isMatchAll(opt)) {
      defaultChain = chain;
    } else {
      const match = toFilterChainMatch(opt);
      chains.push(match ? { filter_chain_match: match, ...chain } : chain);
    }
  }
  if (defaultChain && chains.length === 0) {
    l.filter_chains = [defaultChain];
  } else {
    l.filter_chains = chains;
    l.default_filter_chain = defaultChain ?? {
      filter_chain_match: {},
      name: PASSTHROUGH_FILTER_CHAIN_NAME,
      filters: fallthrough,
    };
  }
  return l;
}
