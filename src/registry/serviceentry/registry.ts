/**
 * The ServiceEntry registry (Istio's serviceentry controller): services from ServiceEntries,
 * workloads from WorkloadEntries (and inline ServiceEntry endpoints), endpoints for each
 * service reported to a RegistryUpdater. Changes are incremental: a WorkloadEntry change
 * recomputes only the services whose workloadSelector picks it (before or after), and is an
 * endpoint update (incremental EDS) unless the service resolves by DNS — those endpoints live
 * in CDS, so they need a full push.
 *
 * WorkloadGroups are kept for auto-registration (workloadEntryFromGroup); on their own they
 * produce no workloads, as in Istio.
 */
import type { ServiceEntry } from '../../api/networking/service-entry.ts';
import type { WorkloadEntry } from '../../api/networking/workload-entry.ts';
import type { WorkloadGroup } from '../../api/networking/workload-group.ts';
import { type ConfigResource, formatConfigKey } from '../../api/resource.ts';
import type { ConfigReader } from '../../config/snapshot.ts';
import type { ConfigHandler } from '../../config/store.ts';
import { logger } from '../../lib/log.ts';
import type { DiscoverySnapshot, Registry, RegistryUpdater, ShardKey } from '../discovery.ts';
import {
  compareServices,
  compareWorkloads,
  type Endpoint,
  Provider,
  type ProxyIdentity,
  Resolution,
  type Service,
  type ServiceTarget,
  type Workload,
} from '../model.ts';
import {
  type ConvertOptions,
  convertServiceEntry,
  inlineWorkloads,
  selects,
  serviceEndpoints,
  workloadFromEntry,
  workloadPort,
} from './convert.ts';

const log = logger('registry:serviceentry');

const SE = 'ServiceEntry';
const WE = 'WorkloadEntry';
const WG = 'WorkloadGroup';

/** The part of the config store this registry needs. */
export interface ConfigEvents {
  on(kind: string, handler: ConfigHandler, options?: { name?: string; replay?: boolean }): () => void;
  /** The store's sources synced and its handlers (ours included) processed that state. */
  hasSynced?(): boolean;
}

export interface ServiceEntryRegistryOptions {
  readonly updater: RegistryUpdater;
  /** The config store to follow in run(); not needed with load(). */
  readonly store?: ConfigEvents;
  readonly clusterId?: string;
  /** For the SPIFFE ids of workload service accounts. */
  readonly trustDomain?: string;
}

export interface RegistryIssue {
  readonly key: string;
  readonly message: string;
}

interface Entry {
  readonly resource: ConfigResource<ServiceEntry>;
  readonly services: readonly Service[];
  readonly inline: readonly Workload[];
  /** Workloads the selector picks, by WorkloadEntry key. */
  readonly selected: Map<string, Workload>;
  readonly problem?: string;
}

function key(r: { kind: string; meta: { namespace: string; name: string } }): string {
  return formatConfigKey({ kind: r.kind, namespace: r.meta.namespace, name: r.meta.name });
}

function ageOf(r: ConfigResource): string {
  return `${r.meta.creationTimestamp ?? ''}\u0000${r.meta.namespace}\u0000${r.meta.name}`;
}

export class ServiceEntryRegistry implements Registry {
  readonly provider = Provider.EXTERNAL;
  readonly clusterId: string;
  readonly #opts: ConvertOptions;
  readonly #updater: RegistryUpdater;
  readonly #store: ConfigEvents | undefined;
  readonly #shard: ShardKey;
  readonly #entries = new Map<string, Entry>();
  readonly #workloads = new Map<string, Workload>();
  readonly #groups = new Map<string, ConfigResource<WorkloadGroup>>();
  /** namespace -> keys of entries with a workloadSelector. */
  readonly #selectorEntries = new Map<string, Set<string>>();
  /** `namespace/hostname` -> keys of entries declaring it. */
  readonly #hostOwners = new Map<string, Set<string>>();
  /** `namespace/hostname` -> endpoints last reported. */
  readonly #reported = new Map<string, readonly Endpoint[]>();
  #snapshot: DiscoverySnapshot | undefined;
  #synced = false;

  constructor(options: ServiceEntryRegistryOptions) {
    this.clusterId = options.clusterId ?? 'Kubernetes';
    this.#opts = { clusterId: this.clusterId, trustDomain: options.trustDomain ?? 'cluster.local' };
    this.#updater = options.updater;
    this.#store = options.store;
    this.#shard = { provider: Provider.EXTERNAL, cluster: this.clusterId };
  }

  /** Loads every ServiceEntry, WorkloadEntry and WorkloadGroup of `config` (tests, one-shot tools). */
  load(config: ConfigReader): this {
    for (const r of config.list<WorkloadGroup>(WG)) this.applyWorkloadGroup(undefined, r);
    for (const r of config.list<WorkloadEntry>(WE)) this.applyWorkloadEntry(undefined, r);
    for (const r of config.list<ServiceEntry>(SE)) this.applyServiceEntry(undefined, r);
    this.#synced = true;
    return this;
  }

  /** Follows the store's ServiceEntry, WorkloadEntry and WorkloadGroup events until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    const store = this.#store;
    if (!store)
      throw new TypeError('ServiceEntryRegistry.run needs options.store (the config store to follow)');
    if (signal.aborted) return;
    const offs = [
      store.on(WG, (p, c) => this.applyWorkloadGroup(p as never, c as never), {
        name: 'registry:serviceentry:wg',
      }),
      store.on(WE, (p, c) => this.applyWorkloadEntry(p as never, c as never), {
        name: 'registry:serviceentry:we',
      }),
      store.on(SE, (p, c) => this.applyServiceEntry(p as never, c as never), {
        name: 'registry:serviceentry:se',
      }),
    ];
    this.#synced = true;
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    for (const off of offs) off();
  }

  /** The initial config was loaded, or the store says our handlers have processed it. */
  hasSynced(): boolean {
    return this.#synced && (this.#store?.hasSynced?.() ?? true);
  }

  /** Entries refused or ignored, with why (for debug output). */
  issues(): readonly RegistryIssue[] {
    const out: RegistryIssue[] = [];
    for (const [k, e] of this.#entries) if (e.problem) out.push({ key: k, message: e.problem });
    for (const [hk, owners] of this.#hostOwners) {
      if (owners.size < 2) continue;
      const [winner, ...rest] = this.#ownersByAge(owners);
      for (const k of rest) {
        out.push({ key: k, message: `host ${hk} is already declared by ${winner}; the older entry wins` });
      }
    }
    return out;
  }

  workloadGroups(): readonly ConfigResource<WorkloadGroup>[] {
    return [...this.#groups.values()];
  }

  // ---- event handlers (also used directly by tests) ----

  applyWorkloadGroup(
    prev: ConfigResource<WorkloadGroup> | undefined,
    cur: ConfigResource<WorkloadGroup> | undefined,
  ): void {
    if (prev) this.#groups.delete(key(prev));
    if (cur) this.#groups.set(key(cur), cur);
  }

  applyServiceEntry(
    prev: ConfigResource<ServiceEntry> | undefined,
    cur: ConfigResource<ServiceEntry> | undefined,
  ): void {
    const k = key((cur ?? prev) as ConfigResource);
    const old = this.#entries.get(k);
    const affected = new Set<string>();
    if (old) {
      for (const s of old.services) {
        affected.add(`${s.namespace}/${s.hostname}`);
        this.#hostOwners.get(`${s.namespace}/${s.hostname}`)?.delete(k);
      }
      this.#selectorEntries.get(old.resource.meta.namespace)?.delete(k);
      this.#entries.delete(k);
    }
    if (cur) {
      const converted = convertServiceEntry(cur, this.#opts);
      if (converted.problem) log.warn(converted.problem, { config: k });
      const selected = new Map<string, Workload>();
      const selector = cur.spec.workloadSelector;
      if (selector) {
        let set = this.#selectorEntries.get(cur.meta.namespace);
        if (!set) this.#selectorEntries.set(cur.meta.namespace, (set = new Set()));
        set.add(k);
        const probe = { selector: selector.labels ?? {}, namespace: cur.meta.namespace };
        for (const [wk, w] of this.#workloads) if (selects(probe, w)) selected.set(wk, w);
      }
      const entry: Entry = {
        resource: cur,
        services: converted.services,
        inline: inlineWorkloads(cur, this.#opts),
        selected,
        ...(converted.problem ? { problem: converted.problem } : {}),
      };
      this.#entries.set(k, entry);
      for (const s of entry.services) {
        const hk = `${s.namespace}/${s.hostname}`;
        affected.add(hk);
        let owners = this.#hostOwners.get(hk);
        if (!owners) this.#hostOwners.set(hk, (owners = new Set()));
        owners.add(k);
      }
    }
    this.#snapshot = undefined;
    for (const hk of affected) this.#publishService(hk);
  }

  applyWorkloadEntry(
    prev: ConfigResource<WorkloadEntry> | undefined,
    cur: ConfigResource<WorkloadEntry> | undefined,
  ): void {
    const k = key((cur ?? prev) as ConfigResource);
    const old = this.#workloads.get(k);
    const next = cur ? workloadFromEntry(cur, this.#opts) : undefined;
    if (next) this.#workloads.set(k, next);
    else this.#workloads.delete(k);
    this.#snapshot = undefined;
    // Entries whose selector picked the old or picks the new workload.
    const affected = new Set<string>();
    for (const w of [old, next]) {
      if (!w) continue;
      for (const ek of this.#selectorEntries.get(w.namespace) ?? []) {
        const e = this.#entries.get(ek) as Entry;
        const probe = {
          selector: e.resource.spec.workloadSelector?.labels ?? {},
          namespace: e.resource.meta.namespace,
        };
        const picks = next !== undefined && selects(probe, next);
        const had = e.selected.has(k);
        if (picks) e.selected.set(k, next);
        else e.selected.delete(k);
        if (picks || had) for (const s of e.services) affected.add(`${s.namespace}/${s.hostname}`);
      }
    }
    for (const hk of affected) this.#publishEndpoints(hk);
  }

  // ---- reporting ----

  /** The service a (namespace/hostname) resolves to: the oldest declaring entry's. */
  #owner(hk: string): { entry: Entry; service: Service } | undefined {
    const owners = this.#hostOwners.get(hk);
    if (!owners || owners.size === 0) return undefined;
    const [first] = this.#ownersByAge(owners);
    const entry = this.#entries.get(first) as Entry;
    const service = entry.services.find((s) => `${s.namespace}/${s.hostname}` === hk) as Service;
    return { entry, service };
  }

  #ownersByAge(owners: Iterable<string>): string[] {
    return [...owners].sort((a, b) => {
      const ea = ageOf((this.#entries.get(a) as Entry).resource);
      const eb = ageOf((this.#entries.get(b) as Entry).resource);
      return ea < eb ? -1 : ea > eb ? 1 : 0;
    });
  }

  #endpointsOf(owner: { entry: Entry; service: Service }): readonly Endpoint[] {
    return serviceEndpoints(
      owner.service,
      owner.entry.inline,
      [...owner.entry.selected.values()],
      this.#opts,
    );
  }

  /** A service was added, changed or removed: full push, endpoints recorded alongside. */
  #publishService(hk: string): void {
    const [namespace, hostname] = splitHostKey(hk);
    const owner = this.#owner(hk);
    if (!owner) {
      this.#reported.delete(hk);
      this.#updater.serviceUpdate(this.#shard, hostname, namespace, 'delete');
      return;
    }
    const endpoints = this.#endpointsOf(owner);
    this.#reported.set(hk, endpoints);
    this.#updater.endpointCacheUpdate(this.#shard, hostname, namespace, endpoints);
    this.#updater.serviceUpdate(this.#shard, hostname, namespace, 'update');
  }

  /** Only workloads changed: incremental EDS, except for DNS services (endpoints in CDS). */
  #publishEndpoints(hk: string): void {
    const [namespace, hostname] = splitHostKey(hk);
    const owner = this.#owner(hk);
    if (!owner) return;
    const endpoints = this.#endpointsOf(owner);
    this.#reported.set(hk, endpoints);
    const r = owner.service.resolution;
    if (r === Resolution.DNS_LB || r === Resolution.DNS_ROUND_ROBIN_LB) {
      this.#updater.endpointCacheUpdate(this.#shard, hostname, namespace, endpoints);
      this.#updater.configUpdate({
        configsUpdated: [{ kind: SE, namespace, name: hostname }],
        reason: 'endpoint',
      });
      return;
    }
    this.#updater.endpointUpdate(this.#shard, hostname, namespace, endpoints);
  }

  // ---- read side ----

  snapshot(): DiscoverySnapshot {
    this.#snapshot ??= this.#buildSnapshot();
    return this.#snapshot;
  }

  #buildSnapshot(): DiscoverySnapshot {
    const services: Service[] = [];
    for (const hk of this.#hostOwners.keys()) {
      const owner = this.#owner(hk);
      if (owner) services.push(owner.service);
    }
    services.sort(compareServices);
    const workloads: Workload[] = [...this.#workloads.values()];
    for (const e of this.#entries.values()) workloads.push(...e.inline);
    workloads.sort(compareWorkloads);
    const byHost = new Map<string, Service[]>();
    for (const s of services) {
      let l = byHost.get(s.hostname);
      if (!l) byHost.set(s.hostname, (l = []));
      l.push(s);
    }
    const entries = [...this.#entries.values()];
    const frozenServices = Object.freeze(services);
    const frozenWorkloads = Object.freeze(workloads);
    // Targets are computed from this snapshot's own data, so the snapshot stays immutable:
    // `services` holds exactly the owning service of every host key.
    const owners = new Map<string, Service>();
    for (const s of services) owners.set(`${s.namespace}/${s.hostname}`, s);
    const owner = (hk: string) => owners.get(hk);
    const inlineOwner = new Map<Workload, Entry>();
    for (const e of entries) for (const w of e.inline) if (!inlineOwner.has(w)) inlineOwner.set(w, e);
    // A workloadSelector selects workloads of its own namespace only; index each entry by its
    // namespace and one of its selector labels, so a workload meets only the entries that can
    // select it. Candidates keep the entries' order (targets come out in a stable order).
    const selectorIndex = new Map<string, Map<string, { order: number; entry: Entry }[]>>();
    entries.forEach((e, order) => {
      const selector = e.resource.spec.workloadSelector?.labels;
      if (!e.resource.spec.workloadSelector) return;
      const first = Object.keys(selector ?? {}).sort()[0];
      const label = first === undefined ? '' : `${first}=${(selector as Record<string, string>)[first]}`;
      let byLabel = selectorIndex.get(e.resource.meta.namespace);
      if (!byLabel) selectorIndex.set(e.resource.meta.namespace, (byLabel = new Map()));
      let l = byLabel.get(label);
      if (!l) byLabel.set(label, (l = []));
      l.push({ order, entry: e });
    });
    const selectorCandidates = (w: Workload): Entry[] => {
      const byLabel = selectorIndex.get(w.namespace);
      if (!byLabel) return [];
      const out = [...(byLabel.get('') ?? [])];
      for (const k in w.labels) out.push(...(byLabel.get(`${k}=${w.labels[k]}`) ?? []));
      return out.sort((a, b) => a.order - b.order).map((c) => c.entry);
    };
    const byAddress = new Map<string, Workload[]>();
    for (const w of frozenWorkloads) {
      let l = byAddress.get(w.address);
      if (!l) byAddress.set(w.address, (l = []));
      l.push(w);
    }
    return Object.freeze({
      services: frozenServices,
      workloads: frozenWorkloads,
      getService(hostname: string, namespace?: string): Service | undefined {
        const list = byHost.get(hostname);
        if (!list) return undefined;
        return namespace === undefined ? list[0] : list.find((s) => s.namespace === namespace);
      },
      serviceTargets(proxy: ProxyIdentity): readonly ServiceTarget[] {
        const ips = new Set(proxy.ipAddresses);
        const out: ServiceTarget[] = [];
        const seen = new Set<string>();
        const addTargets = (services: readonly Service[], w: Workload) => {
          for (const s of services) {
            const svc = owner(`${s.namespace}/${s.hostname}`);
            if (svc !== s) continue;
            for (const port of s.ports) {
              const id = `${s.namespace}/${s.hostname}:${port.port}`;
              if (seen.has(id)) continue;
              seen.add(id);
              out.push({ service: s, port, targetPort: workloadPort(w, port) });
            }
          }
        };
        for (const w of [...ips].flatMap((ip) => byAddress.get(ip) ?? [])) {
          if (w.kind === 'ServiceEntryEndpoint') {
            const e = inlineOwner.get(w);
            if (e) addTargets(e.services, w);
            continue;
          }
          for (const e of selectorCandidates(w)) {
            if (
              selects(
                {
                  selector: e.resource.spec.workloadSelector?.labels ?? {},
                  namespace: e.resource.meta.namespace,
                },
                w,
              )
            ) {
              addTargets(e.services, w);
            }
          }
        }
        return out;
      },
    });
  }
}

function splitHostKey(hk: string): [string, string] {
  const i = hk.indexOf('/');
  return [hk.slice(0, i), hk.slice(i + 1)];
}
