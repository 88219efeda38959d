/**
 * Listeners for proxyless gRPC clients (Istio's grpcgen): a client dialing
 * `xds:///reviews.default.svc.cluster.local:9080` asks for the Listener named by its target and
 * gets an API listener — no address to bind, just an HttpConnectionManager with the fault and
 * router filters (the HTTP filters gRPC implements) whose routes come by RDS from
 * `outbound|9080||reviews.default.svc.cluster.local`. Short names (`reviews:9080`,
 * `reviews.default:9080`) resolve against the client's DNS domain and get a listener under the
 * name asked for. A name without a port gets one listener per service port.
 */
import { typed } from '../../../lib/xds/any.ts';
import { HTTP_CONNECTION_MANAGER_TYPE_URL } from '../../../lib/xds/type-urls.ts';
import type { Service } from '../../../registry/model.ts';
import { grpcListenerName, grpcRouteName } from '../../model/naming.ts';
import type { Proxy } from '../../model/proxy.ts';
import { buildFaultFilter } from '../filters/fault.ts';
import { buildRouterFilter } from '../filters/router.ts';
import type { Proto } from './context.ts';

interface RequestedName {
  /** Host names as the client asked for them. */
  readonly requested: Set<string>;
  /** Ports asked for; undefined means every port. */
  ports?: Set<number>;
}

/** `host:port` or `host` -> parts; IPv6 hosts in brackets. */
function splitHostPort(name: string): { host: string; port?: number } {
  const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(name);
  if (!m) return { host: name };
  return { host: m[1].replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

/**
 * The FQDN a short name stands for from the client's DNS domain (`ns.svc.cluster.local`), as
 * Istio's tryFindFQDN: `reviews` and `reviews.<ns>` / `reviews.<ns>.svc` of the client's own
 * namespace.
 */
function tryFindFqdn(name: string, proxy: Proxy): string | undefined {
  if (!proxy.dnsDomain) return undefined;
  if (!name.includes('.')) return `${name}.${proxy.dnsDomain}`;
  for (const suffix of [proxy.namespace, `${proxy.namespace}.svc`]) {
    if (name.endsWith(`.${suffix}`) && proxy.dnsDomain.startsWith(suffix)) {
      return `${name.slice(0, -(suffix.length + 1))}.${proxy.dnsDomain}`;
    }
  }
  return undefined;
}

/** Requested names keyed by every host they may name (as asked and as FQDN). */
function nameFilter(names: Iterable<string>, proxy: Proxy): Map<string, RequestedName> {
  const filter = new Map<string, RequestedName>();
  for (const name of names) {
    const { host, port } = splitHostPort(name);
    const all = [host];
    const fqdn = tryFindFqdn(host, proxy);
    if (fqdn) all.push(fqdn);
    for (const key of all) {
      let entry = filter.get(key);
      const fresh = !entry;
      if (!entry) filter.set(key, (entry = { requested: new Set() }));
      entry.requested.add(host);
      if (port === undefined) entry.ports = undefined;
      else if (fresh || entry.ports) (entry.ports ??= new Set()).add(port);
    }
  }
  return filter;
}

export function buildGrpcApiListener(name: string, service: Service, port: number): Proto {
  const hcm = {
    http_filters: [buildFaultFilter(), buildRouterFilter()],
    rds: { config_source: { ads: {} }, route_config_name: grpcRouteName(service.hostname, port) },
  };
  return {
    name,
    address: { socket_address: { address: service.defaultAddress, port_value: port } },
    api_listener: { api_listener: typed(HTTP_CONNECTION_MANAGER_TYPE_URL, hcm) },
  };
}

/**
 * Listeners for the names a proxyless client subscribed to; a wildcard subscription gets one
 * per service port under the FQDN.
 */
export function buildGrpcListeners(
  proxy: Proxy,
  services: readonly Service[],
  names: ReadonlySet<string> | undefined,
): Proto[] {
  const filter = names && names.size > 0 ? nameFilter(names, proxy) : undefined;
  const out: Proto[] = [];
  for (const svc of services) {
    const match = filter ? filter.get(svc.hostname) : { requested: new Set([svc.hostname]) };
    if (!match) continue;
    for (const requested of [...match.requested].sort()) {
      for (const p of svc.ports) {
        if (match.ports && !match.ports.has(p.port)) continue;
        out.push(buildGrpcApiListener(grpcListenerName(requested, p.port), svc, p.port));
      }
    }
  }
  return out;
}
