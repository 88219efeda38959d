/**
 * CDS generator: every cluster of the proxy (networking/cluster/cluster-builder.ts), packed.
 * Clusters are cached in the PushContext by what they depend on (push-cache.ts), so proxies that
 * see the same service with the same rule share one encoded cluster, and proxies of one class
 * share the whole list.
 */
import { CLUSTER_TYPE_URL } from '../../../lib/xds/type-urls.ts';
import type { Proxy } from '../../model/proxy.ts';
import { labelsKey, memo, PushCacheSlot } from '../../model/push-cache.ts';
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

interface CdsCache {
  /** Outbound cluster by target key (null: a DNS cluster without endpoints, left out). */
  readonly clusters: Map<string, XdsResource | null>;
  /** Outbound clusters by proxy class (outboundClassKey). */
  readonly outbound: Map<string, readonly XdsResource[]>;
  /** Inbound clusters (and InboundPassthroughCluster) by inboundKey. */
  readonly inbound: Map<string, readonly XdsResource[]>;
  /** Whole answers by (class, inbound key): proxies of one workload get one array. */
  readonly lists: Map<string, readonly XdsResource[]>;
  /** BlackHoleCluster and PassthroughCluster: the same for every proxy of a push. */
  catchAll?: readonly XdsResource[];
}

const CDS_CACHE = new PushCacheSlot<CdsCache>('cds', () => ({
  clusters: new Map(),
  outbound: new Map(),
  inbound: new Map(),
  lists: new Map(),
}));

function pack(c: ProtoObject): XdsResource {
  return xdsResource(CLUSTER_TYPE_URL, c.name as string, c);
}

/** The proxy's outbound clusters, packed; shared by every proxy of the same class. */
function outboundClusters(push: PushContext, proxy: Proxy, classKey: string): readonly XdsResource[] {
  const cache = push.cache(CDS_CACHE);
  return memo(cache.outbound, classKey, () => {
    const out: XdsResource[] = [];
    for (const t of outboundClusterTargets(push, proxy)) {
      const r = memo(cache.clusters, t.cacheKey, () => {
        const c = buildOutboundCluster(push, proxy, t.service, t.port, t.subset, t.dr);
        return c ? pack(c) : null;
      });
      if (r) out.push(r);
    }
    return Object.freeze(out);
  });
}

/**
 * Everything a sidecar's inbound clusters depend on: its Sidecar scope (ingress listeners,
 * inbound pool), capture, the rule for its first service (labels only where rules select
 * workloads) and its service targets by value, so replicas of one workload share them.
 */
function inboundKey(push: PushContext, proxy: Proxy): string {
  const targets = push
    .serviceTargets(proxy)
    .map((t) => `${t.service.namespace}/${t.service.hostname}:${t.port.name}:${t.port.port}>${t.targetPort}`)
    .join(',');
  return [
    push.sidecarScope(proxy).name,
    proxy.namespace,
    proxy.metadata.interceptionMode === 'NONE' ? 'none' : '',
    push.destinationRuleIndex.labelsMatter(proxy.namespace) ? labelsKey(proxy.labels) : '',
    targets,
  ].join('|');
}

function inboundClusters(push: PushContext, proxy: Proxy, key: string): readonly XdsResource[] {
  return memo(push.cache(CDS_CACHE).inbound, key, () =>
    Object.freeze([
      ...buildInboundClusters(push, proxy).map(pack),
      pack(buildInboundPassthroughCluster(push.mesh)),
    ]),
  );
}

function catchAllClusters(push: PushContext): readonly XdsResource[] {
  const cache = push.cache(CDS_CACHE);
  cache.catchAll ??= Object.freeze([
    pack(buildBlackHoleCluster(push.mesh)),
    pack(buildPassthroughCluster(push.mesh)),
  ]);
  return cache.catchAll;
}

/**
 * Every cluster of the proxy, packed. Clusters are encoded once per push and shared; proxies of
 * one class (and, for sidecars, with the same service targets) get the same array.
 */
export function generateClusters(push: PushContext, proxy: Proxy): readonly XdsResource[] {
  const classKey = outboundClassKey(push, proxy);
  const outbound = outboundClusters(push, proxy, classKey);
  if (isProxyless(proxy)) return outbound;
  if (proxy.type === 'router') {
    if (!push.gatewaysForProxy(proxy)?.containsAutoPassthrough) {
      return memo(push.cache(CDS_CACHE).lists, `${classKey}#`, () =>
        Object.freeze([...outbound, ...catchAllClusters(push)]),
      );
    }
    // Rare: build the full set once more for the SNI-DNAT twins.
    const out = [...outbound];
    const names = new Set(out.map((r) => r.name));
    for (const c of buildClusters(push, proxy)) {
      if (!names.has(c.name as string) && String(c.name).startsWith('outbound_.')) out.push(pack(c));
    }
    out.push(...catchAllClusters(push));
    return out;
  }
  const inKey = inboundKey(push, proxy);
  return memo(push.cache(CDS_CACHE).lists, `${classKey}#${inKey}`, () =>
    Object.freeze([...outbound, ...catchAllClusters(push), ...inboundClusters(push, proxy, inKey)]),
  );
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
