/**
 * LDS generators: every listener of a sidecar or gateway proxy (networking/listener), and the
 * `grpc` flavour for proxyless gRPC clients (API listeners named by their targets). The
 * push-context adapters here turn one PushContext into the narrow inputs the listener builders
 * take; they are the only place LDS reads the push context. A sidecar's listeners are cached in
 * the PushContext in two halves keyed by what each depends on: outbound by Sidecar scope (and
 * the few proxy facts the builders read), inbound by the proxy's own service targets.
 */
import type { Destination } from '../../../api/networking/shared.ts';
import { LISTENER_TYPE_URL } from '../../../lib/xds/type-urls.ts';
import { Resolution, type Service, UNSPECIFIED_IP } from '../../../registry/model.ts';
import type { Proxy } from '../../model/proxy.ts';
import { labelsKey, memo, PushCacheSlot } from '../../model/push-cache.ts';
import type { PushContext, SidecarScope } from '../../model/push-context.ts';
import { configsOfKindsChanged, type PushRequest } from '../../model/push-request.ts';
import { isProxyless } from '../../networking/listener/common.ts';
import type { SidecarListenerContext } from '../../networking/listener/context.ts';
import { buildGatewayListeners } from '../../networking/listener/gateway.ts';
import { buildGrpcListeners } from '../../networking/listener/grpc.ts';
import {
  buildSidecarInboundPart,
  buildSidecarListeners,
  buildSidecarOutboundPart,
} from '../../networking/listener/listener-builder.ts';
import {
  type Generator,
  type WatchedResourceView,
  type XdsResource,
  xdsResource,
} from '../generator-registry.ts';

type Proto = Record<string, unknown>;

/**
 * Whether a change of each config kind can change a proxy's listeners (house rule 3: every kind
 * of the kinds table is listed; a test enforces it). Istio skips Gateway changes for sidecars.
 */
export const LDS_KIND_EFFECTS: Readonly<Record<string, { sidecar: boolean; router: boolean }>> = {
  VirtualService: { sidecar: true, router: true }, // tcp[] / tls[] routes, sniffed ports
  DestinationRule: { sidecar: true, router: true }, // tcp idle timeout, source-IP hash, tunnel
  Gateway: { sidecar: false, router: true },
  ServiceEntry: { sidecar: true, router: true }, // also the key of every registry change
  WorkloadEntry: { sidecar: false, router: false }, // reaches pushes as ServiceEntry keys
  WorkloadGroup: { sidecar: false, router: false },
  Sidecar: { sidecar: true, router: true },
  PeerAuthentication: { sidecar: true, router: true }, // inbound mTLS chains
  AuthorizationPolicy: { sidecar: true, router: true }, // RBAC filters
  RequestAuthentication: { sidecar: true, router: true }, // jwt_authn filters
  Telemetry: { sidecar: true, router: true }, // access logs, stats filters
};

const kindsFor = (type: 'sidecar' | 'router') =>
  new Set(
    Object.entries(LDS_KIND_EFFECTS)
      .filter(([, v]) => v[type])
      .map(([k]) => k),
  );
const SIDECAR_KINDS = kindsFor('sidecar');
const ROUTER_KINDS = kindsFor('router');

/** The proxy's view of a host: its Sidecar scope first, else any service visible to it. */
function serviceLookup(push: PushContext, proxy: Proxy): (hostname: string) => Service | undefined {
  const scope = push.sidecarScope(proxy);
  return (h) => scope.serviceForHostname(h) ?? push.serviceForHostname(h, proxy.namespace);
}

export function sidecarListenerContext(push: PushContext, proxy: Proxy): SidecarListenerContext {
  const scope = push.sidecarScope(proxy);
  const sidecar = scope.sidecar;
  const policy = scope.outboundTrafficPolicy;
  return {
    proxy,
    mesh: push.mesh,
    egressListeners: scope.egressListeners,
    ingressListeners: scope.ingressListeners,
    ...(sidecar
      ? { sidecar: { name: sidecar.meta.name, namespace: sidecar.meta.namespace, version: sidecar.version } }
      : {}),
    outboundTrafficPolicy: {
      mode: policy.mode,
      ...(policy.egressProxy ? { egressProxy: policy.egressProxy as Destination } : {}),
    },
    serviceTargets: push.serviceTargets(proxy),
    destinationRule: (service) => push.destinationRule(proxy, service)?.rule,
    serviceForHostname: serviceLookup(push, proxy),
    endpointAddresses: (service, port) => {
      const sp = service.ports.find((p) => p.port === port);
      if (!sp) return [];
      const addresses = push.endpointIndex
        .endpoints(service.hostname, service.namespace)
        .filter((e) => e.servicePortName === sp.name)
        .map((e) => e.address);
      return [...new Set(addresses)].sort();
    },
  };
}

/** Every listener of the proxy, unpacked (snake_case objects), for RDS name discovery and debug. */
export function buildListenersFor(push: PushContext, proxy: Proxy, names?: ReadonlySet<string>): Proto[] {
  if (isProxyless(proxy)) return buildGrpcListeners(proxy, push.services(proxy), names);
  if (proxy.type === 'router') {
    const merged = push.gatewaysForProxy(proxy);
    if (!merged) return [];
    return buildGatewayListeners({
      proxy,
      mesh: push.mesh,
      merged,
      virtualServicesForGateway: (gw) => push.virtualServicesForGateway(proxy, gw),
      services: push.services(proxy),
      serviceForHostname: serviceLookup(push, proxy),
      destinationRule: (service) => push.destinationRule(proxy, service)?.rule,
    });
  }
  return buildSidecarListeners(sidecarListenerContext(push, proxy));
}

function pack(listeners: readonly Proto[]): XdsResource[] {
  return listeners.map((l) => xdsResource(LISTENER_TYPE_URL, l.name as string, l));
}

/** Packed listeners and the route names they refer to (wildcard RDS). */
interface ListenerSet {
  readonly resources: readonly XdsResource[];
  readonly routeNames: readonly string[];
}

interface LdsCache {
  /** Outbound half by outboundListenerKey. */
  readonly outbound: Map<string, ListenerSet>;
  /** Inbound half by inboundListenerKey. */
  readonly inbound: Map<string, ListenerSet>;
  /** Both halves, so proxies of one workload get one array. */
  readonly sidecars: Map<string, ListenerSet>;
  /** Whether a scope has headless services (per-endpoint listeners, which read live endpoints). */
  readonly headless: Map<SidecarScope, boolean>;
}

const LDS_CACHE = new PushCacheSlot<LdsCache>('lds', () => ({
  outbound: new Map(),
  inbound: new Map(),
  sidecars: new Map(),
  headless: new Map(),
}));

/** Node metadata the sidecar listener builders read (interception, idle timeout, ports, HTTP/1.0). */
function listenerMetadataKey(proxy: Proxy): string {
  const m = proxy.metadata;
  const raw = (k: string) => (m.raw[k] === undefined ? '' : JSON.stringify(m.raw[k]));
  return [
    m.interceptionMode ?? '',
    raw('IDLE_TIMEOUT'),
    raw('HTTP10'),
    raw('HTTP_PROXY_PORT'),
    m.unprivilegedPod ? 'unprivileged' : '',
    m.envoyStatusPort ?? '',
    m.envoyPrometheusPort ?? '',
  ].join('|');
}

function hasHeadless(push: PushContext, scope: SidecarScope): boolean {
  return memo(push.cache(LDS_CACHE).headless, scope, () =>
    scope.services.some(
      (s) => s.resolution === Resolution.PASSTHROUGH && s.defaultAddress === UNSPECIFIED_IP,
    ),
  );
}

/**
 * Everything the outbound half depends on: the Sidecar scope and namespace, the node metadata
 * above, labels only where a route or a rule can select on them, and — only for scopes with
 * headless services, whose listeners are per endpoint — the proxy's address (its own endpoint
 * gets none) and the endpoint index version.
 */
function outboundListenerKey(push: PushContext, proxy: Proxy, scope: SidecarScope): string {
  const labelsMatter =
    push.virtualServiceIndex.usesSourceLabels || push.destinationRuleIndex.labelsMatter(proxy.namespace);
  return [
    proxy.namespace,
    scope.name,
    listenerMetadataKey(proxy),
    labelsMatter ? labelsKey(proxy.labels) : '',
    hasHeadless(push, scope) ? `${proxy.ipAddresses[0] ?? ''}@${push.endpointIndex.version}` : '',
  ].join('|');
}

/**
 * Everything the inbound half depends on: the scope's ingress listeners, the node metadata,
 * the proxy's addresses only when ingress listeners bind to them, and its service targets by value.
 */
function inboundListenerKey(push: PushContext, proxy: Proxy, scope: SidecarScope): string {
  const targets = push
    .serviceTargets(proxy)
    .map((t) => `${t.service.namespace}/${t.service.hostname}:${t.port.name}:${t.port.port}>${t.targetPort}`)
    .join(',');
  return [
    proxy.namespace,
    scope.name,
    listenerMetadataKey(proxy),
    scope.ingressListeners.length > 0 ? proxy.ipAddresses.join(',') : '',
    targets,
  ].join('|');
}

function listenerSet(listeners: readonly Proto[]): ListenerSet {
  return Object.freeze({
    resources: Object.freeze(pack(listeners)),
    routeNames: Object.freeze(collectRouteNames(listeners)),
  });
}

/** A sidecar's listeners, packed; both halves shared by every proxy with the same keys. */
function sidecarListeners(push: PushContext, proxy: Proxy): ListenerSet {
  const cache = push.cache(LDS_CACHE);
  const scope = push.sidecarScope(proxy);
  const outKey = outboundListenerKey(push, proxy, scope);
  const inKey = inboundListenerKey(push, proxy, scope);
  return memo(cache.sidecars, `${outKey}#${inKey}`, () => {
    let ctx: SidecarListenerContext | undefined;
    const context = () => (ctx ??= sidecarListenerContext(push, proxy));
    const outbound = memo(cache.outbound, outKey, () => listenerSet(buildSidecarOutboundPart(context())));
    const inbound = memo(cache.inbound, inKey, () => listenerSet(buildSidecarInboundPart(context())));
    return Object.freeze({
      resources: Object.freeze([...outbound.resources, ...inbound.resources]),
      routeNames: Object.freeze([...new Set([...outbound.routeNames, ...inbound.routeNames])].sort()),
    });
  });
}

/** Every `route_config_name` in `listeners`, sorted. */
export function collectRouteNames(listeners: readonly Proto[]): string[] {
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
  walk(listeners);
  return [...names].sort();
}

/** Every `route_config_name` the proxy's listeners refer to, sorted (cached for sidecars). */
export function listenerRouteNames(push: PushContext, proxy: Proxy): readonly string[] {
  if (proxy.type === 'sidecar' && !isProxyless(proxy)) return sidecarListeners(push, proxy).routeNames;
  return collectRouteNames(buildListenersFor(push, proxy));
}

function needsPush(proxy: Proxy, req: PushRequest<PushContext>): boolean {
  if (!req.full) return false;
  return configsOfKindsChanged(req, proxy.type === 'router' ? ROUTER_KINDS : SIDECAR_KINDS);
}

export const ldsGenerator: Generator<PushContext> = {
  typeUrl: LISTENER_TYPE_URL,
  needsPush,
  generate(
    proxy: Proxy,
    _watched: WatchedResourceView,
    req: PushRequest<PushContext>,
  ): readonly XdsResource[] {
    if (proxy.type === 'sidecar' && !isProxyless(proxy)) return sidecarListeners(req.push, proxy).resources;
    return pack(buildListenersFor(req.push, proxy));
  },
};

/** Proxyless gRPC: API listeners for the names the client watches (`host:port`). */
export const grpcLdsGenerator: Generator<PushContext> = {
  typeUrl: LISTENER_TYPE_URL,
  needsPush,
  generate(
    proxy: Proxy,
    watched: WatchedResourceView,
    req: PushRequest<PushContext>,
  ): readonly XdsResource[] {
    const names = watched.wildcard ? undefined : watched.resourceNames;
    return pack(buildGrpcListeners(proxy, req.push.services(proxy), names));
  },
};
