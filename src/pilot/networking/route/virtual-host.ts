/**
 * Virtual hosts of sidecar outbound route configurations (Istio's httproute.go and
 * route.BuildSidecarVirtualHostWrapper): one virtual host per (service or VirtualService host,
 * port), named `host:port`, whose domains are every name a client may use for the service —
 * the FQDN, the short names the proxy's DNS search path allows (`name`, `name.ns`,
 * `name.ns.svc`), and its VIPs — without ports when the route configuration ignores the port in
 * host matching (Envoy sidecars), with and without `:port` otherwise (proxyless gRPC). Services
 * with a VirtualService get its routes; the others a default route to their cluster. Domains are
 * never repeated across virtual hosts of one route configuration.
 */
import { isIP } from 'node:net';
import type { ConsistentHashLb } from '../../../api/networking/shared.ts';
import type { HTTPRetry } from '../../../api/networking/virtual-service.ts';
import { hostsMatch, isWildcardHost, mostSpecificHostMatch } from '../../../registry/host.ts';
import { Provider, Resolution, type Service, type ServicePort } from '../../../registry/model.ts';
import { isHttpProtocol, isUnsupportedProtocol } from '../../../registry/protocol.ts';
import type { VirtualServiceConfig } from '../../model/indexes/virtual-service-index.ts';
import { outboundClusterName } from '../../model/naming.ts';
import { BLACK_HOLE_ROUTE_NAME, PASSTHROUGH_ROUTE_NAME } from '../../model/well-known.ts';
import type { Proto } from './match.ts';
import {
  buildDefaultOutboundRoute,
  buildHttpRoutesForVirtualService,
  type RouteBuildContext,
  traceOperation,
} from './route.ts';

/** HTTP, or unknown (sniffed as HTTP when it is): Istio's IsHTTPOrSniffed. */
export function isHttpOrSniffed(port: ServicePort): boolean {
  return isHttpProtocol(port.protocol) || isUnsupportedProtocol(port.protocol);
}

/** `host:port`, with IPv6 addresses bracketed (Go's net.JoinHostPort). */
export function domainName(host: string, port: number): string {
  return `${ipv6Compliant(host)}:${port}`;
}

function ipv6Compliant(host: string): string {
  return isIP(host) === 6 ? `[${host}]` : host;
}

/** Signals "no :port variants" (the route configuration ignores ports in host matching). */
const NO_PORT = 0;

function appendDomainPort(domains: string[], domain: string, port: number): void {
  domains.push(ipv6Compliant(domain));
  if (port !== NO_PORT) domains.push(domainName(domain, port));
}

/**
 * Names under which the proxy may reach `hostname` besides the FQDN (Istio's
 * GenerateAltVirtualHosts), given the proxy's DNS domain (`ns.svc.cluster.local` in Kubernetes):
 * same namespace: `name`, `name.ns.svc`, `name.ns`; other namespace: `name.ns`, `name.ns.svc`;
 * non-Kubernetes domains: the unique part of the name relative to the shared suffix.
 */
export function generateAltVirtualHosts(hostname: string, port: number, proxyDomain: string): string[] {
  const out: string[] = [];
  const svcIdx = proxyDomain.indexOf('.svc.');
  if (svcIdx >= 0) {
    if (!hostname.endsWith(proxyDomain.slice(svcIdx))) return out;
    const ih = hostname.indexOf('.svc.');
    if (ih <= 0) return out;
    const ns = hostname.indexOf('.');
    if (ns + 1 >= hostname.length || ns + 1 > ih) return out;
    const name = hostname.slice(0, ns);
    const nameNs = hostname.slice(0, ih);
    if (hostname.slice(ns + 1, ih) === proxyDomain.slice(0, svcIdx)) {
      appendDomainPort(out, name, port);
      appendDomainPort(out, `${nameNs}.svc`, port);
      appendDomainPort(out, nameNs, port);
    } else {
      appendDomainPort(out, nameNs, port);
      appendDomainPort(out, `${nameNs}.svc`, port);
    }
    return out;
  }
  // Split off the DNS suffix shared with the proxy's domain; the rest is the unique name.
  const parts = hostname.split('.');
  const proxyParts = proxyDomain.split('.');
  let shared = 0;
  while (
    shared < parts.length &&
    shared < proxyParts.length &&
    parts[parts.length - 1 - shared] === proxyParts[proxyParts.length - 1 - shared]
  ) {
    shared++;
  }
  if (shared === 0) return out;
  const unique = parts.slice(0, parts.length - shared);
  if (unique.length === 0) return out;
  appendDomainPort(out, unique.join('.'), port);
  if (unique.length === 2) {
    appendDomainPort(out, `${unique.join('.')}.${parts[parts.length - shared]}`, port);
  }
  return out;
}

/** Domains of a service's virtual host and which of them are expanded short names. */
export function generateVirtualHostDomains(
  service: Service,
  listenerPort: number,
  port: number,
  proxyDomain: string,
  ignorePort: boolean,
): { domains: string[]; altHosts: string[] } {
  const p = ignorePort && listenerPort !== 0 ? NO_PORT : port;
  const domains: string[] = [];
  appendDomainPort(domains, service.hostname, p);
  const altHosts = generateAltVirtualHosts(service.hostname, p, proxyDomain);
  domains.push(...altHosts);
  if (service.resolution === Resolution.PASSTHROUGH && service.provider === Provider.KUBERNETES) {
    for (const d of [...domains]) domains.push(`*.${d}`);
  }
  for (const address of service.addresses) {
    // CIDR blocks (ServiceEntry addresses) are not Host values.
    if (address === '' || address === '0.0.0.0' || address.includes('/')) continue;
    appendDomainPort(domains, address, p);
  }
  return { domains, altHosts };
}

/** A set of routes and the services/hosts that share them on one port (Istio's VirtualHostWrapper). */
interface VirtualHostWrapper {
  readonly port: number;
  readonly services: readonly Service[];
  readonly virtualServiceHosts: readonly string[];
  readonly routes: readonly Proto[];
}

export interface SidecarVirtualHostInputs {
  /** The proxy's DNS domain from its node id (`ns.svc.cluster.local`). */
  readonly proxyDomain: string;
  /** Proxyless gRPC: domains with ports, no port-ignoring. */
  readonly proxyless: boolean;
  /** The route's port; 0 means every port (HTTP_PROXY and unix-socket listeners). */
  readonly listenerPort: number;
  /** Services the egress listener imports, in a stable order. */
  readonly services: readonly Service[];
  /** VirtualServices the egress listener imports that bind to `mesh`. */
  readonly virtualServices: readonly VirtualServiceConfig[];
  /** Everything route building needs except the port, which varies per virtual host. */
  readonly routeContext: Omit<RouteBuildContext, 'listenPort'>;
  readonly defaultRetryPolicy?: HTTPRetry;
  /** DestinationRule consistent hash of a service port (for the default route). */
  readonly hashForServicePort: (service: Service, port: number) => ConsistentHashLb | undefined;
  /**
   * Builds the default route of a service port; buildDefaultOutboundRoute unless a caller that
   * builds many route configurations shares the (equal) routes between them.
   */
  readonly defaultRoute?: DefaultRouteBuilder;
}

export type DefaultRouteBuilder = (
  cluster: string,
  operation: string,
  options: { readonly defaultRetryPolicy?: HTTPRetry; readonly hash?: ConsistentHashLb },
) => Proto;

/** VirtualService `namespace/name`. */
function vsKey(vs: VirtualServiceConfig): string {
  return `${vs.meta.namespace}/${vs.meta.name}`;
}

/**
 * For each service named only by wildcard VirtualService hosts, the VirtualService with the most
 * specific one (the oldest wins a tie), so a service gets one VirtualService's routes (Istio's
 * mostSpecificWildcardVsIndex).
 */
export function mostSpecificWildcardVirtualServices(
  virtualServices: readonly VirtualServiceConfig[],
  services: readonly Service[],
): Map<string, string> {
  const exact = new Set<string>();
  const wildcard = new Map<string, VirtualServiceConfig>();
  for (const vs of virtualServices) {
    for (const h of vs.spec.hosts ?? []) {
      if (isWildcardHost(h)) {
        const existing = wildcard.get(h);
        if (!existing || olderThan(vs, existing)) wildcard.set(h, vs);
      } else {
        exact.add(h);
      }
    }
  }
  const out = new Map<string, string>();
  for (const svc of services) {
    if (exact.has(svc.hostname)) continue;
    const best = mostSpecificHostMatch(svc.hostname, wildcard.keys());
    if (best !== undefined) out.set(svc.hostname, vsKey(wildcard.get(best) as VirtualServiceConfig));
  }
  return out;
}

function olderThan(a: VirtualServiceConfig, b: VirtualServiceConfig): boolean {
  const ta = a.meta.creationTimestamp ?? '';
  const tb = b.meta.creationTimestamp ?? '';
  if (ta !== tb) return ta < tb;
  return vsKey(a) < vsKey(b);
}

/** Only VirtualServices with a host naming one of the services (Istio's selectVirtualServices). */
function selectVirtualServices(
  virtualServices: readonly VirtualServiceConfig[],
  servicesByHost: ReadonlyMap<string, Service>,
): VirtualServiceConfig[] {
  return virtualServices.filter((vs) =>
    (vs.spec.hosts ?? []).some((h) => {
      if (servicesByHost.has(h)) return true;
      for (const svcHost of servicesByHost.keys()) if (hostsMatch(h, svcHost)) return true;
      return false;
    }),
  );
}

function buildWrappers(
  inputs: SidecarVirtualHostInputs,
  servicesByHost: Map<string, Service>,
  virtualServices: readonly VirtualServiceConfig[],
): VirtualHostWrapper[] {
  const out: VirtualHostWrapper[] = [];
  const wildcardIndex = mostSpecificWildcardVirtualServices(virtualServices, [...servicesByHost.values()]);
  for (const vs of virtualServices) {
    const routes = buildHttpRoutesForVirtualService(vs, {
      ...inputs.routeContext,
      listenPort: inputs.listenerPort,
    });
    if (routes.length === 0) continue;
    const hosts: string[] = [];
    const matching: Service[] = [];
    for (const h of vs.spec.hosts ?? []) {
      if (isWildcardHost(h)) continue;
      const svc = servicesByHost.get(h);
      if (svc) matching.push(svc);
      else hosts.push(h);
    }
    for (const h of vs.spec.hosts ?? []) {
      if (!isWildcardHost(h)) continue;
      let found = false;
      for (const [svcHost, svc] of servicesByHost) {
        if (!hostsMatch(svcHost, h)) continue;
        found = true;
        if (wildcardIndex.get(svcHost) === vsKey(vs)) matching.push(svc);
      }
      if (!found) hosts.push(h);
    }
    const byPort = new Map<number, Service[]>();
    for (const svc of matching) {
      for (const p of svc.ports) {
        if (!isHttpOrSniffed(p)) continue;
        const list = byPort.get(p.port) ?? [];
        list.push(svc);
        byPort.set(p.port, list);
      }
    }
    // Istio serves hosts of VirtualServices without a registry service on port 80 only.
    if (byPort.size === 0 && inputs.listenerPort === 80) byPort.set(80, []);
    for (const [port, services] of byPort) {
      // Routes are per port: a multi-port VirtualService on an all-ports route needs them rebuilt.
      const portRoutes =
        inputs.listenerPort === 0
          ? buildHttpRoutesForVirtualService(vs, { ...inputs.routeContext, listenPort: port })
          : routes;
      out.push({ port, services, virtualServiceHosts: hosts, routes: portRoutes });
    }
  }
  for (const wrapper of out) for (const svc of wrapper.services) servicesByHost.delete(svc.hostname);
  for (const svc of servicesByHost.values()) {
    for (const p of svc.ports) {
      if (!isHttpOrSniffed(p)) continue;
      const cluster = outboundClusterName(p.port, svc.hostname, '');
      out.push({
        port: p.port,
        services: [svc],
        virtualServiceHosts: [],
        routes: [
          (inputs.defaultRoute ?? buildDefaultOutboundRoute)(cluster, traceOperation(svc.hostname, p.port), {
            defaultRetryPolicy: inputs.defaultRetryPolicy,
            hash: inputs.hashForServicePort(svc, p.port),
          }),
        ],
      });
    }
  }
  return out;
}

/**
 * The virtual hosts of one sidecar outbound route configuration, before sorting and before the
 * catch-all virtual host is appended.
 */
export function buildSidecarOutboundVirtualHosts(inputs: SidecarVirtualHostInputs): Proto[] {
  const listenerPort = inputs.listenerPort;
  const servicesByHost = new Map<string, Service>();
  for (const svc of inputs.services) {
    if (listenerPort === 0) {
      servicesByHost.set(svc.hostname, svc);
      continue;
    }
    const p = svc.ports.find((sp) => sp.port === listenerPort);
    if (p) servicesByHost.set(svc.hostname, { ...svc, ports: [p] });
  }
  // Istio's long-standing quirk: only port 80 keeps VirtualServices for non-registry hosts.
  const virtualServices =
    listenerPort !== 80
      ? selectVirtualServices(inputs.virtualServices, servicesByHost)
      : inputs.virtualServices;
  const wrappers = buildWrappers(inputs, servicesByHost, virtualServices);

  const ignorePort = !inputs.proxyless;
  const knownFqdn = new Set<string>();
  for (const w of wrappers) {
    for (const svc of w.services) {
      knownFqdn.add(domainName(svc.hostname, w.port));
      knownFqdn.add(svc.hostname);
    }
  }
  const vhostNames = new Set<string>();
  const usedDomains = new Set<string>();
  const byPort = new Map<number, Proto[]>();
  const build = (hostname: string, w: VirtualHostWrapper, svc: Service | undefined): Proto | undefined => {
    const name = domainName(hostname, w.port);
    if (vhostNames.has(name)) return undefined;
    vhostNames.add(name);
    let domains: string[];
    let altHosts: string[] = [];
    if (!svc) {
      domains = ignorePort ? [ipv6Compliant(hostname)] : [ipv6Compliant(hostname), name];
    } else {
      ({ domains, altHosts } = generateVirtualHostDomains(
        svc,
        listenerPort,
        w.port,
        inputs.proxyDomain,
        ignorePort,
      ));
    }
    const kept = domains.filter((d) => {
      const lower = d.toLowerCase();
      if (usedDomains.has(lower)) return false;
      // An expanded short name must not shadow a real service of that exact name.
      if (altHosts.includes(d) && knownFqdn.has(d)) return false;
      usedDomains.add(lower);
      return true;
    });
    if (kept.length === 0) return undefined;
    return { name, domains: kept, routes: [...w.routes], include_request_attempt_count: true };
  };
  for (const w of wrappers) {
    if (w.routes.length === 0) continue;
    const list = byPort.get(w.port) ?? [];
    for (const h of w.virtualServiceHosts) {
      const vh = build(h, w, undefined);
      if (vh) list.push(vh);
    }
    for (const svc of w.services) {
      const vh = build(svc.hostname, w, svc);
      if (vh) list.push(vh);
    }
    byPort.set(w.port, list);
  }
  if (listenerPort !== 0) return byPort.get(listenerPort) ?? [];
  // All-ports route: off port 80, only `host:port` domains can tell services apart.
  const merged: Proto[] = [];
  for (const [port, vhosts] of byPort) {
    for (const vh of vhosts) {
      if (port === 80) {
        merged.push(vh);
        continue;
      }
      const domains = (vh.domains as string[]).filter((d) => d.includes(':'));
      if (domains.length > 0) merged.push({ ...vh, domains });
    }
  }
  return merged;
}

/** Virtual hosts sorted by name, for stable output (Istio's SortVirtualHosts). */
export function sortVirtualHosts(vhosts: Proto[]): Proto[] {
  return [...vhosts].sort((a, b) =>
    String(a.name) < String(b.name) ? -1 : String(a.name) > String(b.name) ? 1 : 0,
  );
}

/**
 * The last virtual host of sidecar outbound route configurations: unknown hosts pass through
 * (`allow_any`, to PassthroughCluster or the egress proxy's cluster) or get a 502 (`block_all`).
 */
export function buildCatchAllVirtualHost(options: {
  readonly allowAny: boolean;
  /** PassthroughCluster, or the cluster of Sidecar outboundTrafficPolicy.egressProxy. */
  readonly passthroughCluster: string;
}): Proto {
  if (options.allowAny) {
    const zero = { seconds: 0, nanos: 0 };
    return {
      name: PASSTHROUGH_ROUTE_NAME,
      domains: ['*'],
      routes: [
        {
          name: PASSTHROUGH_ROUTE_NAME,
          match: { prefix: '/' },
          route: { cluster: options.passthroughCluster, timeout: zero, max_grpc_timeout: zero },
        },
      ],
      include_request_attempt_count: true,
    };
  }
  return {
    name: BLACK_HOLE_ROUTE_NAME,
    domains: ['*'],
    routes: [{ name: BLACK_HOLE_ROUTE_NAME, match: { prefix: '/' }, direct_response: { status: 502 } }],
    include_request_attempt_count: true,
  };
}

/**
 * For a route named `host:port` (a sniffed service's own listener), only the virtual host of
 * that service, answering every domain (Istio's getVirtualHostsForSniffedServicePort).
 */
export function virtualHostsForSniffedServicePort(vhosts: readonly Proto[], routeName: string): Proto[] {
  const colon = routeName.lastIndexOf(':');
  const hostOnly = colon > 0 ? routeName.slice(0, colon) : routeName;
  const out = vhosts.filter((vh) => (vh.domains as string[]).some((d) => d === routeName || d === hostOnly));
  if (out.length === 1) return [{ ...out[0], domains: ['*'] }];
  return out;
}
