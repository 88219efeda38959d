/**
 * Route configurations of gateway HTTP servers (Istio's buildGatewayHTTPRouteConfig): for each
 * server sharing the route configuration (`http.80`, `https.443.<port>.<gw>.<ns>`), the
 * VirtualServices bound to its gateway whose hosts intersect the server's hosts; one virtual
 * host per intersecting host name (`host:port`, domain = the host), routes of several
 * VirtualServices for one host concatenated with catch-alls moved last. `httpsRedirect` servers
 * mark their virtual hosts `require_tls: ALL` (a 301 to https). No virtual host at all gives a
 * `blackhole:PORT` virtual host without routes (404).
 */
import { hostSubsetOf, hostsMatch } from '../../../registry/host.ts';
import type { GatewayServerInfo } from '../../model/indexes/gateway-index.ts';
import type { VirtualServiceConfig } from '../../model/indexes/virtual-service-index.ts';
import { gatewayBlackholeVirtualHostName } from '../../model/naming.ts';
import type { Proto } from './match.ts';
import { buildHttpRoutesForVirtualService, type RouteBuildContext, sortVirtualHostRoutes } from './route.ts';
import { domainName, sortVirtualHosts } from './virtual-host.ts';

/** Istio's limit for direct response bodies (1 MiB), as its webhook validates. */
export const MAX_DIRECT_RESPONSE_BODY_SIZE_BYTES = 1024 * 1024;

export interface GatewayRouteInputs {
  /** The servers that share the route configuration. */
  readonly servers: readonly GatewayServerInfo[];
  /** VirtualServices bound to a gateway (`namespace/name`) visible to the proxy. */
  readonly virtualServicesForGateway: (gatewayName: string) => readonly VirtualServiceConfig[];
  /** Route context without the per-server parts (port, gateway, TLS). */
  readonly routeContext: Omit<RouteBuildContext, 'listenPort' | 'gatewayNames' | 'isTls'>;
}

/**
 * Host names a VirtualService serves on a server (Istio's Names.Intersection): of every pair
 * that matches, the more specific one. Server hosts are first narrowed to those open to the
 * VirtualService's namespace.
 */
export function intersectServerHosts(server: GatewayServerInfo, vs: VirtualServiceConfig): string[] {
  const serverHosts = server.hosts
    .filter((h) => h.namespace === '*' || h.namespace === vs.meta.namespace)
    .map((h) => h.host);
  const out = new Set<string>();
  for (const a of serverHosts) {
    for (const b of vs.spec.hosts ?? []) {
      if (!hostsMatch(a, b)) continue;
      out.add(hostSubsetOf(a, b) ? a : b);
    }
  }
  return [...out].sort();
}

export function buildGatewayRouteConfiguration(name: string, inputs: GatewayRouteInputs): Proto {
  const vhosts = new Map<string, Proto>();
  const routesByGatewayVs = new Map<string, Proto[]>();
  for (const info of inputs.servers) {
    const port = info.server.port.number;
    const redirect = info.server.tls?.httpsRedirect === true;
    for (const vs of inputs.virtualServicesForGateway(info.gatewayName)) {
      const hosts = intersectServerHosts(info, vs);
      if (hosts.length === 0) continue;
      const key = `${info.gatewayName}|${vs.meta.namespace}/${vs.meta.name}`;
      let routes = routesByGatewayVs.get(key);
      if (!routes) {
        routes = buildHttpRoutesForVirtualService(vs, {
          ...inputs.routeContext,
          listenPort: port,
          gatewayNames: new Set([info.gatewayName]),
          isTls: info.server.tls !== undefined,
        });
        routesByGatewayVs.set(key, routes);
      }
      if (routes.length === 0) continue;
      for (const h of hosts) {
        const host = h.toLowerCase();
        const existing = vhosts.get(host);
        if (existing) {
          existing.routes = [...(existing.routes as Proto[]), ...routes];
          if (redirect) existing.require_tls = 'ALL';
          continue;
        }
        const vh: Proto = {
          name: domainName(host, port),
          domains: [host],
          routes: [...routes],
          include_request_attempt_count: true,
        };
        if (redirect) vh.require_tls = 'ALL';
        vhosts.set(host, vh);
      }
    }
    if (!redirect) continue;
    // Redirect even hosts no VirtualService serves: the client only needs to learn the https URL.
    for (const h of info.hosts) {
      const host = h.host.toLowerCase();
      const existing = vhosts.get(host);
      if (existing) {
        existing.require_tls = 'ALL';
        continue;
      }
      vhosts.set(host, {
        name: domainName(host, port),
        domains: [host],
        include_request_attempt_count: true,
        require_tls: 'ALL',
      });
    }
  }

  let virtualHosts: Proto[];
  if (vhosts.size === 0) {
    const port = inputs.servers[0]?.server.port.number ?? 0;
    virtualHosts = [{ name: gatewayBlackholeVirtualHostName(port), domains: ['*'] }];
  } else {
    virtualHosts = sortVirtualHosts(
      [...vhosts.values()].map((vh) =>
        vh.routes ? { ...vh, routes: sortVirtualHostRoutes(vh.routes as Proto[]) } : vh,
      ),
    );
  }
  return {
    name,
    virtual_hosts: virtualHosts,
    validate_clusters: { value: false },
    ignore_port_in_host_matching: !inputs.routeContext.proxyless,
    max_direct_response_body_size_bytes: { value: MAX_DIRECT_RESPONSE_BODY_SIZE_BYTES },
  };
}
