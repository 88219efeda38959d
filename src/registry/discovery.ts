/**
 * The registry contracts. A `ServiceDiscovery` answers questions about services and workloads
 * from an immutable snapshot; a `Registry` is one running source of them (ServiceEntry store,
 * in-memory, Kubernetes later) identified by provider and cluster; a `RegistryUpdater` is how
 * registries report changes upward, so that exactly one place (the push trigger) turns them
 * into push requests (Istio's XDSUpdater).
 */
import type { ConfigKey } from '../api/resource.ts';
import type { Endpoint, Provider, ProxyIdentity, Service, ServiceTarget, Workload } from './model.ts';

/** Read side of a registry, at one point in time. Never changes once handed out. */
export interface DiscoverySnapshot {
  /** Every service, sorted by hostname, then namespace. */
  readonly services: readonly Service[];
  /** Every workload (instances a service may select), sorted by namespace, then name. */
  readonly workloads: readonly Workload[];
  /** The service with `hostname` in `namespace` (any namespace when omitted: the oldest). */
  getService(hostname: string, namespace?: string): Service | undefined;
  /** Service ports the proxy serves itself (for inbound listeners and clusters). */
  serviceTargets(proxy: ProxyIdentity): readonly ServiceTarget[];
}

export interface ServiceDiscovery {
  /** The current state; the same object until something changes. */
  snapshot(): DiscoverySnapshot;
}

/** Endpoints are sharded by the registry that produced them (Istio's ShardKey). */
export interface ShardKey {
  readonly provider: Provider;
  readonly cluster: string;
}

export function formatShardKey(k: ShardKey): string {
  return `${k.provider}/${k.cluster}`;
}

/** One running registry. */
export interface Registry extends ServiceDiscovery {
  readonly provider: Provider;
  readonly clusterId: string;
  /** Runs until `signal` aborts, reporting changes to the updater it was built with. */
  run(signal: AbortSignal): Promise<void>;
  /** Initial state handed over. */
  hasSynced(): boolean;
}

export type ServiceEvent = 'add' | 'update' | 'delete';

/**
 * How registries report changes (Istio's XDSUpdater). Implementations turn these into push
 * requests at one spot; registries never push themselves.
 */
export interface RegistryUpdater {
  /** A service appeared, changed or went away: clusters and listeners change (full push). */
  serviceUpdate(shard: ShardKey, hostname: string, namespace: string, event: ServiceEvent): void;
  /**
   * The complete endpoint list of one service from one shard. The endpoint index decides
   * whether it is an incremental (EDS only) or a full push.
   */
  endpointUpdate(shard: ShardKey, hostname: string, namespace: string, endpoints: readonly Endpoint[]): void;
  /** Like endpointUpdate, but only records the endpoints: a full push follows anyway. */
  endpointCacheUpdate(
    shard: ShardKey,
    hostname: string,
    namespace: string,
    endpoints: readonly Endpoint[],
  ): void;
  /** Anything else that needs a full push (e.g. endpoints of DNS services, which live in CDS). */
  configUpdate(update: { readonly configsUpdated: readonly ConfigKey[]; readonly reason: string }): void;
}

/** Config key under which service and endpoint changes travel in push requests (Istio's ServiceEntry kind). */
export const SERVICE_CONFIG_KIND = 'ServiceEntry';

/** The ConfigKey of a service by host name, as Istio marks endpoint and service updates. */
export function serviceConfigKey(hostname: string, namespace: string): ConfigKey {
  return { kind: SERVICE_CONFIG_KIND, namespace, name: hostname };
}
