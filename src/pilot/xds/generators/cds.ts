/**
 * CDS generator: every cluster of the proxy (networking/cluster/cluster-builder.ts), packed.
 * Outbound clusters are cached per PushContext by what they depend on, so proxies that see
 * the same service with the same rule share one encoded cluster.
 */
import { CLUSTER_TYPE_URL } from '../../../lib/xds/type-urls.ts';
import type { Proxy } from '../../model/proxy.ts';
import type { PushContext } from '../../model/push-context.ts';
import { configsOfKindsChanged, type PushRequest } from '../../model/push-request.ts';
import {
  buildBlackHoleCluster,
  buildClusters,
  buildInboundClusters,
  buildInboundPassthroughCluster,
  buildOutboundCluster,
  buildPassthroughCluster,
  isProxyless,
  outboundClassKey,
  outboundClusterTargets,
} from '../../networking/cluster/cluster-builder.ts';
import type { ProtoObject } from '../../networking/cluster/values.ts';
import {
  type Generator,
  type WatchedResourceView,
  type XdsResource,
  xdsResource,
} from '../generator-registry.ts';

/**
 * Whether a change of each config kind can change a proxy's clusters (house rule 3: every
 * kind of the kinds table must be listed; a test enforces it).
 */
export const CDS_KIND_EFFECTS: Readonly<Record<string, boolean>> = {
  VirtualService: true, // Sidecar scopes import the services VirtualServices route to
  DestinationRule: true,
  Gateway: true, // AUTO_PASSTHROUGH SNI-DNAT clusters on gateways
  ServiceEntry: true, // also the key of every registry service and endpoint change
  WorkloadEntry: false, // reaches pushes as ServiceEntry keys through the registry
  WorkloadGroup: false,
  Sidecar: true,
  PeerAuthentication: true, // decides auto mTLS once security lands; pushing is safe meanwhile
  AuthorizationPolicy: false,
  RequestAuthentication: false,
  Telemetry: false,
};

const CDS_KINDS: ReadonlySet<string> = new Set(
  Object.entries(CDS_KIND_EFFECTS)
    .filter(([, v]) => v)
    .map(([k]) => k),
);

/** Per push: outbound cluster by target key, and whole outbound lists by proxy class. */
interface PushCache {
  readonly clusters: Map<string, XdsResource | null>;
  readonly lists: Map<string, readonly XdsResource[]>;
}
const caches = new WeakMap<PushContext, PushCache>();

function pack(c: ProtoObject): XdsResource {
  return xdsResource(CLUSTER_TYPE_URL, c.name as string, c);
}

/** The proxy's outbound clusters, packed; shared by every proxy of the same class. */
function outboundClusters(push: PushContext, proxy: Proxy): readonly XdsResource[] {
  let cache = caches.get(push);
  if (!cache) caches.set(push, (cache = { clusters: new Map(), lists: new Map() }));
  const classKey = outboundClassKey(push, proxy);
  const list = cache.lists.get(classKey);
  if (list) return list;
  const out: XdsResource[] = [];
  for (const t of outboundClusterTargets(push, proxy)) {
    let r = cache.clusters.get(t.cacheKey);
    if (r === undefined) {
      const c = buildOutboundCluster(push, proxy, t.service, t.port, t.subset, t.dr);
      r = c ? pack(c) : null;
      cache.clusters.set(t.cacheKey, r);
    }
    if (r) out.push(r);
  }
  cache.lists.set(classKey, out);
  return out;
}

/** Every cluster of the proxy, packed (outbound ones shared across proxies of one push). */
export function generateClusters(push: PushContext, proxy: Proxy): XdsResource[] {
  const out = [...outboundClusters(push, proxy)];
  if (isProxyless(proxy)) return out;
  if (proxy.type === 'router' && push.gatewaysForProxy(proxy)?.containsAutoPassthrough) {
    // Rare: build the full set once more for the SNI-DNAT twins.
    const names = new Set(out.map((r) => r.name));
    for (const c of buildClusters(push, proxy)) {
      if (!names.has(c.name as string) && String(c.name).startsWith('outbound_.')) out.push(pack(c));
    }
  }
  out.push(pack(buildBlackHoleCluster(push.mesh)), pack(buildPassthroughCluster(push.mesh)));
  if (proxy.type === 'sidecar') {
    for (const c of buildInboundClusters(push, proxy)) out.push(pack(c));
    out.push(pack(buildInboundPassthroughCluster(push.mesh)));
  }
  return out;
}

export const cdsGenerator: Generator<PushContext> = {
  typeUrl: CLUSTER_TYPE_URL,
  needsPush(_proxy: Proxy, req: PushRequest<PushContext>): boolean {
    // Endpoint-only pushes never change clusters (DNS endpoints come as full pushes).
    if (!req.full) return false;
    return configsOfKindsChanged(req, CDS_KINDS);
  },
  generate(
    proxy: Proxy,
    _watched: WatchedResourceView,
    req: PushRequest<PushContext>,
  ): readonly XdsResource[] {
    return generateClusters(req.push, proxy);
  },
};
