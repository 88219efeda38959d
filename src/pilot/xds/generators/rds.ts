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
import { ROUTE_TYPE_URL } from '../../../lib/xds/type-urls.ts';
import type { Service } from '../../../registry/model.ts';
import { MESH_GATEWAY } from '../../model/indexes/virtual-service-index.ts';
import type { Proxy } from '../../model/proxy.ts';
import type { PushContext } from '../../model/push-context.ts';
import { configsOfKindsChanged, type PushRequest } from '../../model/push-request.ts';
import { isProxyless } from '../../networking/listener/common.ts';
import { grpcRouteName } from '../../networking/listener/pending-names.ts';
import { buildGatewayRouteConfiguration } from '../../networking/route/gateway-routes.ts';
import type { RouteBuildContext } from '../../networking/route/route.ts';
import {
  buildGrpcRouteConfiguration,
  buildSidecarRouteConfiguration,
  emptyRouteConfiguration,
  grpcRouteNames,
  type SidecarRouteInputs,
} from '../../networking/route/route-config.ts';
import {
  type Generator,
  type WatchedResourceView,
  type XdsResource,
  xdsResource,
} from '../generator-registry.ts';
import { buildListenersFor } from './lds.ts';

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
  const names = new Set<string>();
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) {
      for (const x of v) walk(x);
    } else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if (k === 'route_config_name' && typeof x === 'string') names.add(x);
        else walk(x);
      }
    }
  };
  walk(buildListenersFor(push, proxy));
  return [...names].sort();
}

function pack(rc: Proto): XdsResource {
  return xdsResource(ROUTE_TYPE_URL, rc.name as string, rc);
}

/**
 * Route configurations depend on the proxy only through its type, generator flavour, namespace,
 * labels and DNS domain (never its address), so proxies of one workload share them: cached per
 * push context, encoded once.
 */
const routeCache = new WeakMap<PushContext, Map<string, XdsResource>>();

function routeCacheKey(proxy: Proxy, name: string): string {
  const labels = Object.keys(proxy.labels)
    .sort()
    .map((k) => `${k}=${proxy.labels[k]}`)
    .join(',');
  return [proxy.type, proxy.metadata.generator ?? '', proxy.namespace, proxy.dnsDomain, labels, name].join(
    '|',
  );
}

function cachedRoute(
  push: PushContext,
  proxy: Proxy,
  name: string,
  build: () => Proto | undefined,
): XdsResource | undefined {
  let cache = routeCache.get(push);
  if (!cache) routeCache.set(push, (cache = new Map()));
  const key = routeCacheKey(proxy, name);
  let r = cache.get(key);
  if (!r) {
    const rc = build();
    if (!rc) return undefined;
    r = pack(rc);
    cache.set(key, r);
  }
  return r;
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
    return names.map(
      (n) => cachedRoute(push, proxy, n, () => buildRouteConfigurationFor(push, proxy, n)) as XdsResource,
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
    const out: XdsResource[] = [];
    for (const n of names) {
      // gRPC treats a missing route configuration as "does not exist" for that target.
      const r = cachedRoute(push, proxy, n, () => {
        inputs ??= sidecarRouteInputs(push, proxy);
        return buildGrpcRouteConfiguration(n, inputs);
      });
      if (r) out.push(r);
    }
    return out;
  },
};
