/**
 * EDS generator: a ClusterLoadAssignment per watched cluster (networking/endpoint/), read from
 * the live EndpointIndex — the incremental side path, so an endpoint change pushes with the
 * same PushContext. Incremental pushes (`full: false`) carry `ServiceEntry/<ns>/<hostname>`
 * keys: only proxies whose scope holds one of those services are pushed, and generateDelta
 * builds only those services' clusters (computed from the service, never by scanning what the
 * proxy watches). Assignments are cached in the PushContext (push-cache.ts) by what they
 * depend on (cluster, rule, endpoint version, and the proxy's locality when a locality setting
 * uses it), and whole answers per proxy class and subscription, while no endpoint moved.
 */
import { ENDPOINT_TYPE_URL } from '../../../lib/xds/type-urls.ts';
import { SERVICE_CONFIG_KIND } from '../../../registry/discovery.ts';
import { outboundClusterName } from '../../model/naming.ts';
import type { Proxy } from '../../model/proxy.ts';
import { labelsKey, memo, PushCacheSlot } from '../../model/push-cache.ts';
import type { PushContext } from '../../model/push-context.ts';
import { configsOfKindsChanged, isGlobalPush, type PushRequest } from '../../model/push-request.ts';
import {
  clusterDiscoveryType,
  outboundClassKey,
  outboundClusterTargets,
} from '../../networking/cluster/cluster-builder.ts';
import { localityLbSettingFor } from '../../networking/cluster/lb-policy.ts';
import {
  buildLocalityLbEndpoints,
  localityGroupsFor,
  proxyLocalityView,
  resolveOutboundCluster,
} from '../../networking/endpoint/endpoint-builder.ts';
import {
  type DeltaGeneration,
  type Generator,
  type WatchedResourceView,
  type XdsResource,
  xdsResource,
} from '../generator-registry.ts';

/** Whether a change of each config kind can change a proxy's endpoints (house rule 3). */
export const EDS_KIND_EFFECTS: Readonly<Record<string, boolean>> = {
  VirtualService: true, // Sidecar scopes: which services a proxy resolves
  DestinationRule: true, // subsets and locality settings
  Gateway: false,
  ServiceEntry: true, // also the key of every registry service and endpoint change
  WorkloadEntry: false, // reaches pushes as ServiceEntry keys through the registry
  WorkloadGroup: false,
  Sidecar: true,
  PeerAuthentication: false,
  AuthorizationPolicy: false,
  RequestAuthentication: false,
  Telemetry: false,
};

const EDS_KINDS: ReadonlySet<string> = new Set(
  Object.entries(EDS_KIND_EFFECTS)
    .filter(([, v]) => v)
    .map(([k]) => k),
);

interface CacheEntry {
  /** The service whose endpoint version the entry was built at (none for unknown clusters). */
  readonly hostname?: string;
  readonly namespace?: string;
  readonly version: number;
  /** The index's global version when the entry was last known current (a fast path). */
  indexVersion: number;
  readonly resource: XdsResource;
}
interface EdsCache {
  /** edsClassKey -> cluster name -> assignment. */
  readonly assignments: Map<string, Map<string, CacheEntry>>;
  /** What an assignment really depends on -> assignment, shared between proxy classes. */
  readonly byContent: Map<string, CacheEntry>;
  /** outboundClassKey -> names of the EDS clusters (what a wildcard subscription means). */
  readonly names: Map<string, readonly string[]>;
  readonly nameSets: Map<string, ReadonlySet<string>>;
  /** `edsClassKey|namespace/hostname` -> the clusters a change of that service's endpoints can change. */
  readonly changed: Map<string, readonly string[]>;
  /**
   * Whole answers: by `edsClassKey#outboundClassKey` for wildcard subscriptions, by edsClassKey
   * and the subscription's name Set (shared by equal subscriptions, see xds/shared-names.ts)
   * otherwise. Valid while the endpoint index has not moved.
   */
  readonly wildcardLists: Map<string, AssignmentList>;
  readonly namedLists: Map<string, WeakMap<ReadonlySet<string>, AssignmentList>>;
}

interface AssignmentList {
  readonly indexVersion: number;
  readonly resources: readonly XdsResource[];
}

const EDS_CACHE = new PushCacheSlot<EdsCache>('eds', () => ({
  assignments: new Map(),
  byContent: new Map(),
  names: new Map(),
  nameSets: new Map(),
  changed: new Map(),
  wildcardLists: new Map(),
  namedLists: new Map(),
}));

/**
 * Proxies with equal keys get equal assignments within one push (for one endpoint version):
 * same Sidecar scope and namespace (which service a host name means, which rule applies),
 * labels where workload-selected rules or failoverPriority make them matter, flavour, and
 * locality (distribute and failover are relative to it).
 */
export function edsClassKey(push: PushContext, proxy: Proxy): string {
  const l = proxy.locality;
  const labelsMatter =
    push.destinationRuleIndex.labelsMatter(proxy.namespace) ||
    push.destinationRuleIndex.usesFailoverPriority ||
    (push.mesh.localityLbSetting?.failoverPriority?.length ?? 0) > 0;
  return [
    proxy.namespace,
    push.sidecarScope(proxy).name,
    proxy.metadata.generator ?? '',
    `${l.region}/${l.zone}/${l.subZone}`,
    labelsMatter ? `${labelsKey(proxy.labels)}|${proxy.metadata.network ?? ''}|${proxy.clusterId ?? ''}` : '',
  ].join('|');
}

/** The ClusterLoadAssignment of one cluster for the proxy, packed. */
export function generateAssignment(
  push: PushContext,
  proxy: Proxy,
  clusterName: string,
  classKey: string = edsClassKey(push, proxy),
): XdsResource {
  const cache = classCache(push, classKey);
  const hit = cache.get(clusterName);
  return hit && current(push, hit) ? hit.resource : build(push, proxy, clusterName, cache);
}

function classCache(push: PushContext, classKey: string): Map<string, CacheEntry> {
  return memo(push.cache(EDS_CACHE).assignments, classKey, () => new Map<string, CacheEntry>());
}

/** A cached entry still current: nothing moved in the index, or not this service's endpoints. */
function current(push: PushContext, e: CacheEntry): boolean {
  const index = push.endpointIndex;
  if (e.indexVersion === index.version || e.hostname === undefined) return true;
  if (index.versionOf(e.hostname, e.namespace as string) !== e.version) return false;
  e.indexVersion = index.version;
  return true;
}

function build(
  push: PushContext,
  proxy: Proxy,
  clusterName: string,
  cache: Map<string, CacheEntry>,
): XdsResource {
  const indexVersion = push.endpointIndex.version;
  const sel = resolveOutboundCluster(push, proxy, clusterName);
  if (!sel) {
    const resource = xdsResource(ENDPOINT_TYPE_URL, clusterName, {
      cluster_name: clusterName,
      endpoints: [],
    });
    cache.set(clusterName, { version: 0, indexVersion, resource });
    return resource;
  }
  const { hostname, namespace } = sel.service;
  const version = push.endpointIndex.versionOf(hostname, namespace);
  const contentKey = assignmentContentKey(push, proxy, clusterName, sel);
  const shared = push.cache(EDS_CACHE).byContent;
  const same = shared.get(contentKey);
  if (same && same.version === version) {
    cache.set(clusterName, same);
    return same.resource;
  }
  const resource = xdsResource(ENDPOINT_TYPE_URL, clusterName, {
    cluster_name: clusterName,
    endpoints: buildLocalityLbEndpoints(localityGroupsFor(push, proxy, sel)),
  });
  const entry: CacheEntry = { hostname, namespace, version, indexVersion, resource };
  cache.set(clusterName, entry);
  shared.set(contentKey, entry);
  return resource;
}

/**
 * Everything an assignment depends on besides the endpoints: the service, the rule, and the
 * proxy only where the locality setting acts (its locality for distribute and failover, its
 * labels for failoverPriority) or where it is a gRPC client (no unix sockets).
 */
function assignmentContentKey(
  push: PushContext,
  proxy: Proxy,
  clusterName: string,
  sel: NonNullable<ReturnType<typeof resolveOutboundCluster>>,
): string {
  const dr = push.destinationRule(proxy, sel.service);
  const setting = localityLbSettingFor(push.mesh, sel.policy?.loadBalancer);
  const failover = setting !== undefined && sel.policy?.outlierDetection !== undefined;
  const usesLocality = setting !== undefined && ((setting.distribute?.length ?? 0) > 0 || failover);
  const usesLabels = failover && (setting?.failoverPriority?.length ?? 0) > 0;
  const view = usesLocality || usesLabels ? proxyLocalityView(proxy) : undefined;
  return [
    clusterName,
    sel.service.namespace,
    dr ? dr.from.map((k) => `${k.namespace}/${k.name}`).join(',') : '',
    proxy.metadata.generator ?? '',
    view && usesLocality ? `${view.locality.region}/${view.locality.zone}/${view.locality.subZone}` : '',
    view && usesLabels ? labelsKey(view.labels) : '',
  ].join('|');
}

/** Names of the proxy's EDS clusters (for wildcard subscriptions); one array per proxy class. */
export function edsClusterNames(push: PushContext, proxy: Proxy): readonly string[] {
  return classNames(push, proxy, outboundClassKey(push, proxy));
}

function classNames(push: PushContext, proxy: Proxy, classKey: string): readonly string[] {
  return memo(push.cache(EDS_CACHE).names, classKey, () => {
    const out: string[] = [];
    for (const t of outboundClusterTargets(push, proxy)) {
      let type = clusterDiscoveryType(t.service, proxy);
      if (t.subset && type === 'ORIGINAL_DST' && Object.keys(t.subset.labels ?? {}).length > 0) type = 'EDS';
      if (type !== 'EDS') continue;
      if (t.dr && effectivePassthrough(t)) continue;
      out.push(outboundClusterName(t.port.port, t.service.hostname, t.subset?.name ?? ''));
    }
    return Object.freeze(out);
  });
}

function classNameSet(push: PushContext, proxy: Proxy): ReadonlySet<string> {
  const classKey = outboundClassKey(push, proxy);
  return memo(push.cache(EDS_CACHE).nameSets, classKey, () => new Set(classNames(push, proxy, classKey)));
}

/**
 * The clusters whose assignment a change of the endpoints of `namespace/hostname` can change for
 * the proxy: the ports of the service the proxy resolves the host name to (when it is that
 * one), whole and per subset of the rule that applies. Any other cluster name resolves to
 * other endpoints or to an empty assignment, which the change leaves as it was.
 */
function changedClusterNames(
  push: PushContext,
  proxy: Proxy,
  classKey: string,
  namespace: string,
  hostname: string,
): readonly string[] {
  return memo(push.cache(EDS_CACHE).changed, `${classKey}|${namespace}/${hostname}`, () => {
    const service =
      push.sidecarScope(proxy).serviceForHostname(hostname) ??
      push.serviceForHostname(hostname, proxy.namespace);
    if (!service || service.namespace !== namespace) return [];
    const subsets = push.destinationRule(proxy, service)?.rule.subsets ?? [];
    const out: string[] = [];
    for (const p of service.ports) {
      out.push(outboundClusterName(p.port, hostname, ''));
      for (const subset of subsets) out.push(outboundClusterName(p.port, hostname, subset.name));
    }
    return Object.freeze(out);
  });
}

/** A PASSTHROUGH load balancer turns the cluster into ORIGINAL_DST (no EDS). */
function effectivePassthrough(t: {
  dr?: { rule: { trafficPolicy?: { loadBalancer?: { simple?: string } } } };
}): boolean {
  return t.dr?.rule.trafficPolicy?.loadBalancer?.simple === 'PASSTHROUGH';
}

/** `ServiceEntry` keys (namespace, hostname) of an incremental push. */
function updatedServices(req: PushRequest<unknown>): { namespace: string; hostname: string }[] {
  const out: { namespace: string; hostname: string }[] = [];
  for (const k of req.configsUpdated.values()) {
    if (k.kind === SERVICE_CONFIG_KIND) out.push({ namespace: k.namespace, hostname: k.name });
  }
  return out;
}

function names(push: PushContext, proxy: Proxy, watched: WatchedResourceView): readonly string[] {
  return watched.wildcard ? edsClusterNames(push, proxy) : [...watched.resourceNames];
}

/**
 * Every subscribed assignment. Proxies of one class with equal subscriptions get the same
 * array, so neither this nor the server walks thousands of names again for each of them.
 */
function subscribedAssignments(
  push: PushContext,
  proxy: Proxy,
  watched: WatchedResourceView,
): readonly XdsResource[] {
  const cache = push.cache(EDS_CACHE);
  const classKey = edsClassKey(push, proxy);
  const indexVersion = push.endpointIndex.version;
  const fresh = (e: AssignmentList | undefined) =>
    e !== undefined && e.indexVersion === indexVersion ? e.resources : undefined;
  const compute = () =>
    Object.freeze({
      indexVersion,
      resources: Object.freeze(assignments(push, proxy, names(push, proxy, watched), classKey)),
    });
  if (watched.wildcard) {
    const key = `${classKey}#${outboundClassKey(push, proxy)}`;
    const hit = fresh(cache.wildcardLists.get(key));
    if (hit) return hit;
    const list = compute();
    cache.wildcardLists.set(key, list);
    return list.resources;
  }
  const byNames = memo(cache.namedLists, classKey, () => new WeakMap<ReadonlySet<string>, AssignmentList>());
  const hit = fresh(byNames.get(watched.resourceNames));
  if (hit) return hit;
  const list = compute();
  byNames.set(watched.resourceNames, list);
  return list.resources;
}

function assignments(
  push: PushContext,
  proxy: Proxy,
  clusterNames: Iterable<string>,
  classKey: string = edsClassKey(push, proxy),
): XdsResource[] {
  const cache = classCache(push, classKey);
  const out: XdsResource[] = [];
  for (const n of clusterNames) {
    const hit = cache.get(n);
    out.push(hit && current(push, hit) ? hit.resource : build(push, proxy, n, cache));
  }
  return out;
}

export const edsGenerator: Generator<PushContext> = {
  typeUrl: ENDPOINT_TYPE_URL,
  needsPush(proxy: Proxy, req: PushRequest<PushContext>): boolean {
    if (req.full) return configsOfKindsChanged(req, EDS_KINDS);
    if (isGlobalPush(req) || req.configsUpdated.size === 0) return true;
    // Incremental: only proxies that can see an updated service.
    const scope = req.push.sidecarScope(proxy);
    return updatedServices(req).some((u) => scope.serviceForHostname(u.hostname)?.namespace === u.namespace);
  },
  generate(
    proxy: Proxy,
    watched: WatchedResourceView,
    req: PushRequest<PushContext>,
  ): readonly XdsResource[] {
    return subscribedAssignments(req.push, proxy, watched);
  },
  generateDelta(proxy: Proxy, watched: WatchedResourceView, req: PushRequest<PushContext>): DeltaGeneration {
    const push = req.push;
    const updated = updatedServices(req);
    if (req.full || updated.length === 0) {
      return {
        resources: subscribedAssignments(push, proxy, watched),
        removed: [],
      };
    }
    // Only the clusters of the changed services, never a scan of every watched name.
    const classKey = edsClassKey(push, proxy);
    const subscribed = watched.wildcard ? classNameSet(push, proxy) : watched.resourceNames;
    const affected = new Set<string>();
    for (const u of updated) {
      for (const n of changedClusterNames(push, proxy, classKey, u.namespace, u.hostname))
        if (subscribed.has(n)) affected.add(n);
    }
    return { resources: assignments(push, proxy, affected, classKey), removed: [] };
  },
};
