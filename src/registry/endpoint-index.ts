/**
 * Endpoint shards (Istio's EndpointIndex): for every (hostname, namespace), the endpoints each
 * registry shard (provider/cluster) reported. This is the incremental side path of pushes:
 * EDS reads it at generation time, so an endpoint-only change never rebuilds the push context.
 * Every update replaces a shard's list with a new frozen array (copy on write), so a reader
 * holding a `ServiceShards` never sees it change.
 */
import { formatShardKey, type ShardKey } from './discovery.ts';
import type { Endpoint } from './model.ts';

/** What an endpoint update needs pushed. */
export type EndpointPushType =
  /** Nothing changed. */
  | 'none'
  /** Only endpoints changed: EDS for the affected clusters. */
  | 'incremental'
  /** The service's shards are new or its identities changed: CDS too (SANs), so a full push. */
  | 'full';

/** The endpoints of one service, per shard; immutable. */
export interface ServiceShards {
  readonly hostname: string;
  readonly namespace: string;
  /** Shard key (`provider/cluster`) -> endpoints, sorted by address then port. */
  readonly shards: ReadonlyMap<string, readonly Endpoint[]>;
  /** Every endpoint's service account (SPIFFE ids), sorted. */
  readonly serviceAccounts: readonly string[];
  /** Bumped on every change of this service's endpoints. */
  readonly version: number;
}

function serviceKey(hostname: string, namespace: string): string {
  return `${namespace}/${hostname}`;
}

function compareEndpoints(a: Endpoint, b: Endpoint): number {
  if (a.address !== b.address) return a.address < b.address ? -1 : 1;
  if (a.port !== b.port) return a.port - b.port;
  return a.servicePortName < b.servicePortName ? -1 : a.servicePortName > b.servicePortName ? 1 : 0;
}

function sameEndpoints(a: readonly Endpoint[] | undefined, b: readonly Endpoint[]): boolean {
  if (!a || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!sameEndpoint(a[i], b[i])) return false;
  return true;
}

function sameEndpoint(a: Endpoint, b: Endpoint): boolean {
  if (a === b) return true;
  return (
    a.address === b.address &&
    a.port === b.port &&
    a.servicePortName === b.servicePortName &&
    a.serviceAccount === b.serviceAccount &&
    a.network === b.network &&
    a.locality === b.locality &&
    a.clusterId === b.clusterId &&
    a.weight === b.weight &&
    a.healthStatus === b.healthStatus &&
    a.tlsMode === b.tlsMode &&
    a.workloadName === b.workloadName &&
    a.namespace === b.namespace &&
    sameLabels(a.labels, b.labels)
  );
}

function sameLabels(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const ak = Object.keys(a);
  if (ak.length !== Object.keys(b).length) return false;
  for (const k of ak) if (a[k] !== b[k]) return false;
  return true;
}

export class EndpointIndex {
  readonly #services = new Map<string, ServiceShards>();
  #version = 0;

  /** Bumped on every change; lets caches tell whether anything moved. */
  get version(): number {
    return this.#version;
  }

  /**
   * Replaces the endpoints `shard` reports for the service and says what must be pushed.
   * An empty list removes the shard (the service keeps its other shards).
   */
  update(
    shard: ShardKey,
    hostname: string,
    namespace: string,
    endpoints: readonly Endpoint[],
  ): EndpointPushType {
    const key = serviceKey(hostname, namespace);
    const shardId = formatShardKey(shard);
    const current = this.#services.get(key);
    const sorted = Object.freeze([...endpoints].sort(compareEndpoints));
    const previous = current?.shards.get(shardId);
    if (sorted.length === 0 && !previous) return 'none';
    if (previous && sameEndpoints(previous, sorted)) return 'none';
    const shards = new Map(current?.shards ?? []);
    if (sorted.length === 0) shards.delete(shardId);
    else shards.set(shardId, sorted);
    const serviceAccounts = collectServiceAccounts(shards);
    const next: ServiceShards = Object.freeze({
      hostname,
      namespace,
      shards,
      serviceAccounts,
      version: (current?.version ?? 0) + 1,
    });
    this.#services.set(key, next);
    this.#version++;
    // A service the index did not know needs CDS (it may be the first sign of the service);
    // new identities change the SANs that clusters verify.
    if (!current) return 'full';
    if (!sameList(current.serviceAccounts, serviceAccounts)) return 'full';
    return 'incremental';
  }

  /** Drops every shard of the service (the service was deleted). */
  deleteService(hostname: string, namespace: string): boolean {
    const removed = this.#services.delete(serviceKey(hostname, namespace));
    if (removed) this.#version++;
    return removed;
  }

  /** Drops one shard of the service; true when it held endpoints. */
  deleteShard(shard: ShardKey, hostname: string, namespace: string): boolean {
    return this.update(shard, hostname, namespace, []) !== 'none';
  }

  /** The service's endpoint version (0 when it has none): changes with every endpoint change. */
  versionOf(hostname: string, namespace: string): number {
    return this.#services.get(serviceKey(hostname, namespace))?.version ?? 0;
  }

  shards(hostname: string, namespace: string): ServiceShards | undefined {
    return this.#services.get(serviceKey(hostname, namespace));
  }

  /** Every endpoint of the service across shards, shards in key order. */
  endpoints(hostname: string, namespace: string): readonly Endpoint[] {
    const s = this.#services.get(serviceKey(hostname, namespace));
    if (!s) return [];
    if (s.shards.size === 1) return s.shards.values().next().value as readonly Endpoint[];
    const out: Endpoint[] = [];
    for (const id of [...s.shards.keys()].sort()) out.push(...(s.shards.get(id) as readonly Endpoint[]));
    return out;
  }

  /** Services with endpoints, as `{hostname, namespace}`, sorted (for debug endpoints). */
  services(): { hostname: string; namespace: string }[] {
    return [...this.#services.values()]
      .map((s) => ({ hostname: s.hostname, namespace: s.namespace }))
      .sort((a, b) => (a.namespace + a.hostname < b.namespace + b.hostname ? -1 : 1));
  }
}

function collectServiceAccounts(shards: ReadonlyMap<string, readonly Endpoint[]>): readonly string[] {
  const out = new Set<string>();
  for (const list of shards.values()) for (const e of list) if (e.serviceAccount) out.add(e.serviceAccount);
  return Object.freeze([...out].sort());
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
