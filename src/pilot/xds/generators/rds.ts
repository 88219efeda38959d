/**
 * RDS generators: RouteConfigurations by name for sidecars (`9080`, `host:port`,
 * `http_proxy`), gateways (`http.80`, `https.443.<port>.<gw>.<ns>`) and, in the `grpc`
 * flavour, proxyless gRPC clients (`outbound|9080||host`). A name that cannot be built gets an
 * empty configuration, as Istio answers, so Envoy never waits on it. A wildcard subscription
 * (not valid xDS for RDS, but used by the golden harness and debug dumps) means "every route
 * configuration the proxy's listeners name".
 */

import type { DestinationRule } from '../../../api/networking/destination-rule.ts';
import type { ConsistentHashLb, Destination } from '../../../api/networking/shared.ts';
import { encodeFieldEntry, encodeSpliced, type SplicedField, splicedField } from '../../../lib/xds/splice.ts';
import { ROUTE_TYPE_URL } from '../../../lib/xds/type-urls.ts';
import type { Service } from '../../../registry/model.ts';
import { MESH_GATEWAY } from '../../model/indexes/virtual-service-index.ts';
import { grpcRouteName } from '../../model/naming.ts';
import type { Proxy } from '../../model/proxy.ts';
import { labelsKey, memo, PushCacheSlot } from '../../model/push-cache.ts';
import type { PushContext } from '../../model/push-context.ts';
import { configsOfKindsChanged, type PushRequest } from '../../model/push-request.ts';
import { isProxyless } from '../../networking/listener/common.ts';
import { buildGatewayRouteConfiguration } from '../../networking/route/gateway-routes.ts';
import type { RouteBuildContext } from '../../networking/route/route.ts';
import { buildDefaultOutboundRoute } from '../../networking/route/route.ts';
import {
  buildGrpcRouteConfiguration,
  buildSidecarRouteConfiguration,
  emptyRouteConfiguration,
  grpcRouteNames,
  type SidecarRouteInputs,
} from '../../networking/route/route-config.ts';
import {
  encodedXdsResource,
  type Generator,
  type WatchedResourceView,
  type XdsResource,
  xdsResource,
} from '../generator-registry.ts';
import { listenerRouteNames } from './lds.ts';

type Proto = Record<string, unknown>;

/** Whether a change of each config kind can change a proxy's routes (house rule 3). */
export const RDS_KIND_EFFECTS: Readonly<Record<string, boolean>> = {
  VirtualService: true,
  DestinationRule: true, // consistent-hash hash policies, subsets in cluster names
  Gateway: true,
  ServiceEntry: true, // also the key of every registry change
  WorkloadEntry: false, // reaches pushes as ServiceEntry keys
  WorkloadGroup: false,
  Sidecar: true,
  PeerAuthentication: false,
  AuthorizationPolicy: false,
  RequestAuthentication: false,
  Telemetry: false,
};

const RDS_KINDS: ReadonlySet<string> = new Set(
  Object.entries(RDS_KIND_EFFECTS)
    .filter(([, v]) => v)
    .map(([k]) => k),
);

/** DestinationRule consistent hash of a destination: subset port-level, subset, port-level, top. */
export function consistentHashForDestination(
  rule: DestinationRule | undefined,
  destination: Destination,
): ConsistentHashLb | undefined {
  if (!rule) return undefined;
  const port = destination.port?.number;
  const portHash = (pls: DestinationRule['trafficPolicy'] | undefined) =>
    port === undefined
      ? undefined
      : pls?.portLevelSettings?.find((s) => s.port?.number === port)?.loadBalancer?.consistentHash;
  const subset = rule.subsets?.find((s) => s.name === destination.subset);
  return (
    portHash(subset?.trafficPolicy) ??
    subset?.trafficPolicy?.loadBalancer?.consistentHash ??
    portHash(rule.trafficPolicy) ??
    rule.trafficPolicy?.loadBalancer?.consistentHash
  );
}

/** DestinationRule consistent hash of a service port (default routes): port-level wins. */
export function consistentHashForServicePort(
  rule: DestinationRule | undefined,
  port: number,
): ConsistentHashLb | undefined {
  if (!rule) return undefined;
  const pls = rule.trafficPolicy?.portLevelSettings?.find((s) => s.port?.number === port);
  return pls?.loadBalancer?.consistentHash ?? rule.trafficPolicy?.loadBalancer?.consistentHash;
}

function routeContext(
  push: PushContext,
  proxy: Proxy,
): Omit<RouteBuildContext, 'listenPort' | 'gatewayNames' | 'isTls'> {
  const scope = push.sidecarScope(proxy);
  const lookup = (h: string): Service | undefined =>
    scope.serviceForHostname(h) ?? push.serviceForHostname(h, proxy.namespace);
  return {
    proxyLabels: proxy.labels,
    proxyNamespace: proxy.namespace,
    proxyless: isProxyless(proxy),
    ...(push.mesh.defaultHttpRetryPolicy ? { defaultRetryPolicy: push.mesh.defaultHttpRetryPolicy } : {}),
    lookupService: lookup,
    consistentHashFor: (destination) => {
      const service = lookup(destination.host);
      return service
        ? consistentHashForDestination(push.destinationRule(proxy, service)?.rule, destination)
        : undefined;
    },
  };
}

function sidecarRouteInputs(push: PushContext, proxy: Proxy): SidecarRouteInputs {
  const scope = push.sidecarScope(proxy);
  const policy = scope.outboundTrafficPolicy;
  return {
    proxyDomain: proxy.dnsDomain,
    egressListeners: scope.egressListeners,
    routeContext: { ...routeContext(push, proxy), gatewayNames: new Set([MESH_GATEWAY]), isTls: false },
    hashForServicePort: (service, port) =>
      consistentHashForServicePort(push.destinationRule(proxy, service)?.rule, port),
    defaultRoute: (cluster, operation, options) =>
      sharedDefaultRoute(
        push,
        `${cluster}|${operation}|${options.hash ? JSON.stringify(options.hash) : ''}|${options.defaultRetryPolicy ? JSON.stringify(options.defaultRetryPolicy) : ''}`,
        () => buildDefaultOutboundRoute(cluster, operation, options),
      ),
    outboundTrafficPolicy: {
      mode: policy.mode,
      ...(policy.egressProxy ? { egressProxy: policy.egressProxy as Destination } : {}),
    },
  };
}

/** One RouteConfiguration of the proxy by name (empty when the name means nothing here). */
export function buildRouteConfigurationFor(push: PushContext, proxy: Proxy, name: string): Proto {
  if (proxy.type === 'router') {
    const servers = push.gatewaysForProxy(proxy)?.serversByRouteName.get(name);
    // A gateway recently deleted: Envoy may still ask while draining its listeners.
    if (!servers || servers.length === 0) return emptyRouteConfiguration(name);
    return buildGatewayRouteConfiguration(name, {
      servers,
      virtualServicesForGateway: (gw) => push.virtualServicesForGateway(proxy, gw),
      routeContext: routeContext(push, proxy),
    });
  }
  return buildSidecarRouteConfiguration(name, sidecarRouteInputs(push, proxy));
}

/** Every `route_config_name` the proxy's listeners refer to, sorted. */
export function routeNamesFor(push: PushContext, proxy: Proxy): string[] {
  return [...listenerRouteNames(push, proxy)];
}

/**
 * Encoded virtual hosts by content, per push: route configurations of different namespaces or
 * ports repeat most of their virtual hosts (a service's routes do not depend on who calls it,
 * only its domains do), so each distinct one is encoded once.
 */
const VIRTUAL_HOSTS = new PushCacheSlot('rds.virtual-hosts', () => new Map<string, Uint8Array>());
/**
 * Default routes (no VirtualService) by what they are built from: one object per service port
 * and push, so route configurations of every namespace hold the same route objects, and their
 * virtual hosts can be told equal by identity rather than by content.
 */
const DEFAULT_ROUTES = new PushCacheSlot('rds.default-routes', () => new Map<string, Proto>());
/** Identity numbers of the shared default routes, for virtual host keys. */
const ROUTE_IDS = new PushCacheSlot('rds.route-ids', () => ({ ids: new WeakMap<object, number>(), next: 0 }));

function sharedDefaultRoute(push: PushContext, key: string, build: () => Proto): Proto {
  return memo(push.cache(DEFAULT_ROUTES), key, () => {
    const route = build();
    const table = push.cache(ROUTE_IDS);
    table.ids.set(route, table.next++);
    return route;
  });
}

/**
 * What a virtual host is, as a string: its fields, shared default routes by identity (one
 * object per push always encodes the same) and other routes by content, so keying costs little
 * where most routes are shared.
 */
function virtualHostKey(push: PushContext, vh: Proto): string {
  const routes = vh.routes;
  if (!Array.isArray(routes)) return JSON.stringify(vh);
  const ids = push.cache(ROUTE_IDS).ids;
  return JSON.stringify({ ...vh, routes: routes.map((r: object) => ids.get(r) ?? JSON.stringify(r)) });
}

/** Below this many virtual hosts, encoding the whole configuration is as cheap. */
const SPLICE_MIN_VIRTUAL_HOSTS = 16;
let virtualHostsField: SplicedField | undefined;

function pack(push: PushContext, rc: Proto): XdsResource {
  const vhosts = rc.virtual_hosts as Proto[] | undefined;
  if (!vhosts || vhosts.length < SPLICE_MIN_VIRTUAL_HOSTS)
    return xdsResource(ROUTE_TYPE_URL, rc.name as string, rc);
  virtualHostsField ??= splicedField(ROUTE_TYPE_URL, 'virtual_hosts');
  const f = virtualHostsField;
  const cache = push.cache(VIRTUAL_HOSTS);
  const entries = vhosts.map((vh) => memo(cache, virtualHostKey(push, vh), () => encodeFieldEntry(f, vh)));
  return encodedXdsResource(ROUTE_TYPE_URL, rc.name as string, encodeSpliced(f, rc, entries));
}

/**
 * Route configurations depend on the proxy only through its type and generator flavour, its
 * Sidecar scope and namespace, its DNS domain, and its labels where something can select on
 * them (a gateway's selector, `sourceLabels` route matches, workload-selected
 * DestinationRules) — never its address. So proxies of one class share one encoded route
 * configuration per name, in the push's cache.
 */
const RDS_CACHE = new PushCacheSlot('rds', () => new Map<string, XdsResource | null>());

function routeClassKey(push: PushContext, proxy: Proxy): string {
  const labelsMatter =
    proxy.type === 'router' ||
    push.virtualServiceIndex.usesSourceLabels ||
    push.destinationRuleIndex.labelsMatter(proxy.namespace);
  return [
    proxy.type,
    proxy.metadata.generator ?? '',
    proxy.namespace,
    push.sidecarScope(proxy).name,
    proxy.dnsDomain,
    labelsMatter ? labelsKey(proxy.labels) : '',
  ].join('|');
}

function cachedRoute(
  push: PushContext,
  classKey: string,
  name: string,
  build: () => Proto | undefined,
): XdsResource | undefined {
  return (
    memo(push.cache(RDS_CACHE), `${classKey}|${name}`, () => {
      const rc = build();
      return rc ? pack(push, rc) : null;
    }) ?? undefined
  );
}

function needsPush(_proxy: Proxy, req: PushRequest<PushContext>): boolean {
  if (!req.full) return false;
  return configsOfKindsChanged(req, RDS_KINDS);
}

export const rdsGenerator: Generator<PushContext> = {
  typeUrl: ROUTE_TYPE_URL,
  needsPush,
  generate(
    proxy: Proxy,
    watched: WatchedResourceView,
    req: PushRequest<PushContext>,
  ): readonly XdsResource[] {
    const push = req.push;
    const names = watched.wildcard ? routeNamesFor(push, proxy) : [...watched.resourceNames].sort();
    const classKey = routeClassKey(push, proxy);
    return names.map(
      (n) => cachedRoute(push, classKey, n, () => buildRouteConfigurationFor(push, proxy, n)) as XdsResource,
    );
  },
};

/** Proxyless gRPC: route configurations named like the clusters of the service ports. */
export const grpcRdsGenerator: Generator<PushContext> = {
  typeUrl: ROUTE_TYPE_URL,
  needsPush,
  generate(
    proxy: Proxy,
    watched: WatchedResourceView,
    req: PushRequest<PushContext>,
  ): readonly XdsResource[] {
    const push = req.push;
    const names = watched.wildcard
      ? grpcRouteNames(push.services(proxy), grpcRouteName)
      : [...watched.resourceNames].sort();
    let inputs: SidecarRouteInputs | undefined;
    const classKey = routeClassKey(push, proxy);
    const out: XdsResource[] = [];
    for (const n of names) {
      // gRPC treats a missing route configuration as "does not exist" for that target.
      const r = cachedRoute(push, classKey, n, () => {
        inputs ??= sidecarRouteInputs(push, proxy);
        return buildGrpcRouteConfiguration(n, inputs);
      });
      if (r) out.push(r);
    }
    return out;
  },
};
