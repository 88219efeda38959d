/**
 * PushContext: the immutable snapshot every generator reads (Istio's model.PushContext), built
 * once per push from (config snapshot, registry snapshot, mesh config) and shared read-only
 * by every proxy. The work lives in `indexes/`; this file wires them and answers per-proxy
 * questions (Sidecar scoping, exportTo) with memoised, never-mutated results.
 *
 *   initPushContext(input)                 build every index
 *   updatePushContext(previous, input, r)  rebuild only the indexes a push request can affect
 *
 * Endpoints are not part of the snapshot: EDS reads `endpointIndex` (the incremental side
 * path), so an endpoint change pushes with the same PushContext and never rebuilds it.
 */
import type { MeshConfig } from '../../api/mesh/mesh-config.ts';
import type { Gateway } from '../../api/networking/gateway.ts';
import type { ConfigKey, ConfigResource } from '../../api/resource.ts';
import type { ConfigReader } from '../../config/snapshot.ts';
import { logger } from '../../lib/log.ts';
import type { DiscoverySnapshot } from '../../registry/discovery.ts';
import { SERVICE_CONFIG_KIND } from '../../registry/discovery.ts';
import type { EndpointIndex } from '../../registry/endpoint-index.ts';
import { DEFAULT_DOMAIN_SUFFIX } from '../../registry/host.ts';
import type { Service, ServiceTarget } from '../../registry/model.ts';
import { type ConsolidatedDestinationRule, DestinationRuleIndex } from './indexes/destination-rule-index.ts';
import { GatewayIndex, type MergedGateway } from './indexes/gateway-index.ts';
import { ServiceIndex } from './indexes/service-index.ts';
import { type SidecarScope, SidecarScopeIndex } from './indexes/sidecar-scope.ts';
import {
  MESH_GATEWAY,
  type VirtualServiceConfig,
  VirtualServiceIndex,
} from './indexes/virtual-service-index.ts';
import type { Proxy } from './proxy.ts';
import { labelsKey, type PushCacheSlot, PushCaches } from './push-cache.ts';
import type { PushRequest } from './push-request.ts';

export type { ConsolidatedDestinationRule } from './indexes/destination-rule-index.ts';
export type { GatewayPortServers, GatewayServerInfo, MergedGateway } from './indexes/gateway-index.ts';
export type { EgressListenerScope, HostImport, SidecarScope } from './indexes/sidecar-scope.ts';
export { MESH_GATEWAY, type VirtualServiceConfig } from './indexes/virtual-service-index.ts';

const log = logger('pilot:push-context');

/** Everything a PushContext is built from. */
export interface PushContextInput {
  readonly config: ConfigReader;
  readonly registry: DiscoverySnapshot;
  readonly endpointIndex: EndpointIndex;
  readonly mesh: MeshConfig;
  /** DNS suffix of in-mesh names (`cluster.local`). */
  readonly domainSuffix?: string;
  /** Push version for logs and debug output; defaults to a counter. */
  readonly version?: string;
}

/** A problem found while indexing (a conflict, an unsupported field); logged once per push. */
export interface PushWarning {
  readonly config?: ConfigKey;
  readonly message: string;
}

/** Kinds whose changes each index depends on; everything else reuses the previous index. */
const SERVICE_KINDS: ReadonlySet<string> = new Set([SERVICE_CONFIG_KIND, 'WorkloadEntry', 'WorkloadGroup']);
const VS_KINDS: ReadonlySet<string> = new Set(['VirtualService']);
const DR_KINDS: ReadonlySet<string> = new Set(['DestinationRule']);
const GATEWAY_KINDS: ReadonlySet<string> = new Set(['Gateway']);

let versionCounter = 0;

export class PushContext {
  readonly mesh: MeshConfig;
  readonly version: string;
  readonly domainSuffix: string;
  /** The config the snapshot was built from (read-only). */
  readonly config: ConfigReader;
  readonly registry: DiscoverySnapshot;
  /** Live endpoint shards: read by EDS at generation time (the incremental side path). */
  readonly endpointIndex: EndpointIndex;
  readonly serviceIndex: ServiceIndex;
  readonly virtualServiceIndex: VirtualServiceIndex;
  readonly destinationRuleIndex: DestinationRuleIndex;
  readonly gatewayIndex: GatewayIndex;
  readonly sidecarIndex: SidecarScopeIndex;
  readonly #targets = new Map<string, readonly ServiceTarget[]>();
  /** Per proxy object: its scope is asked for many times per push by every generator. */
  readonly #scopes = new WeakMap<Proxy, SidecarScope>();
  /** Generators' per-push memo tables (push-cache.ts). */
  readonly caches = new PushCaches();

  /** Use initPushContext / updatePushContext. */
  constructor(
    input: PushContextInput,
    indexes: {
      serviceIndex: ServiceIndex;
      virtualServiceIndex: VirtualServiceIndex;
      destinationRuleIndex: DestinationRuleIndex;
      gatewayIndex: GatewayIndex;
    },
  ) {
    this.mesh = input.mesh;
    this.version = input.version ?? String(++versionCounter);
    this.domainSuffix = input.domainSuffix ?? DEFAULT_DOMAIN_SUFFIX;
    this.config = input.config;
    this.registry = input.registry;
    this.endpointIndex = input.endpointIndex;
    this.serviceIndex = indexes.serviceIndex;
    this.virtualServiceIndex = indexes.virtualServiceIndex;
    this.destinationRuleIndex = indexes.destinationRuleIndex;
    this.gatewayIndex = indexes.gatewayIndex;
    // Sidecar scopes combine every other index, so they are rebuilt (lazily) for each push.
    this.sidecarIndex = new SidecarScopeIndex({
      config: input.config,
      mesh: input.mesh,
      domainSuffix: this.domainSuffix,
      services: this.serviceIndex,
      virtualServices: this.virtualServiceIndex,
    });
  }

  /** Problems found while indexing, for debug output. */
  get warnings(): readonly PushWarning[] {
    return [
      ...this.serviceIndex.warnings,
      ...this.virtualServiceIndex.warnings,
      ...this.destinationRuleIndex.warnings,
      ...this.gatewayIndex.warnings,
      ...this.sidecarIndex.warnings,
    ];
  }

  // ---- services ----

  /** Every service in the registry, sorted by hostname then namespace. */
  allServices(): readonly Service[] {
    return this.serviceIndex.all;
  }

  /** Services the proxy can reach: its Sidecar scope (exportTo and egress hosts applied). */
  services(proxy: Proxy): readonly Service[] {
    return this.sidecarScope(proxy).services;
  }

  /**
   * The service named `hostname` visible from `namespace` (exportTo), preferring one declared
   * in `namespace` itself.
   */
  serviceForHostname(hostname: string, namespace: string): Service | undefined {
    return this.serviceIndex.serviceForHostname(hostname, namespace);
  }

  /** The proxy's own service ports (inbound listeners and clusters), from the registry. */
  serviceTargets(proxy: Proxy): readonly ServiceTarget[] {
    const key = `${proxy.namespace}|${proxy.ipAddresses.join(',')}|${labelsKey(proxy.labels)}`;
    let t = this.#targets.get(key);
    if (!t) {
      t = Object.freeze(this.registry.serviceTargets(proxy));
      this.#targets.set(key, t);
    }
    return t;
  }

  /** SPIFFE identities of a service's workloads: its declared ones plus its endpoints'. */
  serviceAccounts(service: Service): readonly string[] {
    const fromEndpoints =
      this.endpointIndex.shards(service.hostname, service.namespace)?.serviceAccounts ?? [];
    if (fromEndpoints.length === 0) return service.serviceAccounts;
    return [...new Set([...service.serviceAccounts, ...fromEndpoints])].sort();
  }

  // ---- scoping ----

  /** The Sidecar scope of the proxy (the matching Sidecar resource, or the namespace default). */
  sidecarScope(proxy: Proxy): SidecarScope {
    let scope = this.#scopes.get(proxy);
    if (!scope) {
      scope = this.sidecarIndex.scopeFor(proxy);
      this.#scopes.set(proxy, scope);
    }
    return scope;
  }

  /** The push's memo table of `slot`, created on first use (see push-cache.ts). */
  cache<T>(slot: PushCacheSlot<T>): T {
    return this.caches.get(slot);
  }

  // ---- routing config ----

  /**
   * VirtualServices bound to `gateway` (`mesh`, or `namespace/name`) and visible to the
   * proxy's namespace; delegates merged, hosts and destinations resolved to FQDNs.
   * For `mesh`, the proxy's Sidecar egress hosts further narrow them (per listener: see
   * SidecarScope.egressListeners).
   */
  virtualServicesForGateway(proxy: Proxy, gateway: string): readonly VirtualServiceConfig[] {
    return this.virtualServiceIndex.forGateway(proxy.namespace, gateway);
  }

  /** VirtualServices for `gateway` (default `mesh`) visible to the proxy whose hosts match `hostname`. */
  virtualServicesForHost(
    proxy: Proxy,
    hostname: string,
    gateway: string = MESH_GATEWAY,
  ): readonly VirtualServiceConfig[] {
    return this.virtualServiceIndex.forHost(proxy.namespace, hostname, gateway);
  }

  /** The DestinationRule that applies to traffic from the proxy to `service` (Istio's lookup order). */
  destinationRule(proxy: Proxy, service: Service): ConsolidatedDestinationRule | undefined {
    return this.destinationRuleIndex.lookup(proxy.namespace, proxy.labels, service);
  }

  /** Labels of subset `subset` of `service` as the proxy's DestinationRule defines it. */
  subsetLabels(proxy: Proxy, service: Service, subset: string): Readonly<Record<string, string>> | undefined {
    return this.destinationRule(proxy, service)?.rule.subsets?.find((s) => s.name === subset)?.labels;
  }

  /** Gateways selecting a router proxy, merged per port; undefined for sidecars or when none selects it. */
  gatewaysForProxy(proxy: Proxy): MergedGateway | undefined {
    if (proxy.type !== 'router') return undefined;
    return this.gatewayIndex.mergedFor(proxy.labels);
  }

  /** A Gateway by `namespace/name`. */
  gateway(name: string): ConfigResource<Gateway> | undefined {
    return this.gatewayIndex.byName(name);
  }
}

/** Builds every index from scratch. */
export function initPushContext(input: PushContextInput): PushContext {
  const started = performance.now();
  const suffix = input.domainSuffix ?? DEFAULT_DOMAIN_SUFFIX;
  const indexes = {
    serviceIndex: new ServiceIndex(input.registry, input.mesh),
    virtualServiceIndex: new VirtualServiceIndex(input.config, input.mesh, suffix),
    destinationRuleIndex: new DestinationRuleIndex(input.config, input.mesh, suffix),
    gatewayIndex: new GatewayIndex(input.config),
  };
  const push = new PushContext(input, indexes);
  logBuilt(push, Object.values(indexes), started);
  return push;
}

/**
 * The next PushContext after `req`: indexes whose kinds `req` did not touch are reused from
 * `previous` (they are immutable). A non-full request (endpoints only) returns `previous`
 * itself — EDS reads the endpoint index directly.
 */
export function updatePushContext(
  previous: PushContext,
  input: PushContextInput,
  req: Pick<PushRequest<unknown>, 'full' | 'configsUpdated'>,
): PushContext {
  if (!req.full) return previous;
  if (req.configsUpdated.size === 0 || input.mesh !== previous.mesh) return initPushContext(input);
  const started = performance.now();
  const kinds = new Set([...req.configsUpdated.values()].map((k) => k.kind));
  const touches = (set: ReadonlySet<string>) => [...kinds].some((k) => set.has(k));
  const suffix = input.domainSuffix ?? DEFAULT_DOMAIN_SUFFIX;
  const indexes = {
    serviceIndex:
      touches(SERVICE_KINDS) || input.registry !== previous.registry
        ? new ServiceIndex(input.registry, input.mesh)
        : previous.serviceIndex,
    virtualServiceIndex: touches(VS_KINDS)
      ? new VirtualServiceIndex(input.config, input.mesh, suffix)
      : previous.virtualServiceIndex,
    destinationRuleIndex: touches(DR_KINDS)
      ? new DestinationRuleIndex(input.config, input.mesh, suffix)
      : previous.destinationRuleIndex,
    gatewayIndex: touches(GATEWAY_KINDS) ? new GatewayIndex(input.config) : previous.gatewayIndex,
  };
  const push = new PushContext(input, indexes);
  const reused = new Set<object>([
    previous.serviceIndex,
    previous.virtualServiceIndex,
    previous.destinationRuleIndex,
    previous.gatewayIndex,
  ]);
  logBuilt(
    push,
    Object.values(indexes).filter((i) => !reused.has(i)),
    started,
  );
  return push;
}

/** Logs the warnings of freshly built indexes only, so a reused index does not repeat itself. */
function logBuilt(
  push: PushContext,
  fresh: readonly { warnings: readonly PushWarning[] }[],
  started: number,
): void {
  for (const index of fresh) {
    for (const w of index.warnings) {
      log.warn(
        w.message,
        w.config ? { config: `${w.config.kind}/${w.config.namespace}/${w.config.name}` } : {},
      );
    }
  }
  log.debug('push context built', {
    version: push.version,
    services: push.serviceIndex.all.length,
    rebuilt: fresh.length,
    ms: Math.round(performance.now() - started),
  });
}
