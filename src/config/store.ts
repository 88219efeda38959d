/**
 * The config store: every Istio object Mizzen currently serves, keyed by (kind, namespace,
 * name), fed by one or more sources, read by the control plane through snapshots and change
 * events. See README.md in this folder for the event model.
 */
import { type ConfigKey, type ConfigResource, configKey, formatConfigKey } from '../api/resource.ts';
import { KIND_NAMES, kindDefinition } from '../api/schema/kinds.ts';
import { ErrorCode, errorMessage, MizzenError } from '../lib/errors.ts';
import { logger } from '../lib/log.ts';
import { SourceMerge } from './aggregate.ts';
import { deepEqual, deepFreeze, sameContent } from './compare.ts';
import { type ConfigEvent, type ConfigHandler, HandlerQueue } from './dispatch.ts';
import { type ConfigReader, type ConfigSnapshot, KindView, objectKey, Snapshot } from './snapshot.ts';
import type { ConfigSink, ConfigSource, SourceChange } from './source.ts';
import { type ConfigStatus, compareStatuses } from './status.ts';

export type { ConfigEvent, ConfigEventType, ConfigHandler } from './dispatch.ts';
export type { ConfigReader, ConfigSnapshot } from './snapshot.ts';

const log = logger('config:store');

/** Read side of the store. */
export interface ConfigStore extends ConfigReader {
  /** A consistent, immutable view across every kind at the current revision. */
  snapshot(): ConfigSnapshot;
}

export interface HandlerOptions {
  /** Name for logs (a slow or failing handler is reported by it). */
  readonly name?: string;
  /**
   * Deliver an `add` (with `event.replay`) for every object that exists when the handler
   * registers, before any later event (default true), so a late handler cannot miss state.
   */
  readonly replay?: boolean;
}

export interface ConfigStoreController extends ConfigStore {
  /**
   * Calls `handler` for every add, update and delete of objects of `kind` (`'*'`: all kinds),
   * in the order the store applied them. Returns a function that unregisters the handler.
   */
  on(kind: string, handler: ConfigHandler, options?: HandlerOptions): () => void;
  /** Runs every source until `signal` aborts; resolves once they have all stopped. */
  run(signal: AbortSignal): Promise<void>;
  /**
   * Every source has handed over its initial state and every handler registered by then has
   * processed it. Once true, stays true.
   */
  hasSynced(): boolean;
  /** Resolves once `hasSynced()`; rejects if `signal` aborts first. */
  waitForSync(signal?: AbortSignal): Promise<void>;
  /** Resolves once every handler has processed every event enqueued so far. */
  idle(): Promise<void>;
  /** Problems and remarks of every source, plus conflicts between sources. */
  statuses(): readonly ConfigStatus[];
  /** Revision of the last change (0 before any). Every resourceVersion is a past revision. */
  readonly revision: number;
}

export interface ConfigStoreOptions {
  /** The sources, in priority order: on a (kind, namespace, name) held by several, the first wins. */
  readonly sources: readonly ConfigSource[];
  /**
   * Events a handler may fall behind before its queue coalesces per object (default 10000).
   * Memory per handler stays bounded by this plus the number of objects.
   */
  readonly handlerQueueCapacity?: number;
}

export const DEFAULT_HANDLER_QUEUE_CAPACITY = 10_000;

export function createConfigStore(options: ConfigStoreOptions): ConfigStoreController {
  return new Store(options);
}

interface Entry {
  /** What readers get: the source's object with the store's resourceVersion, deep-frozen. */
  resource: ConfigResource;
  /** The object as the winning source gave it (compared by reference first on the next change). */
  from: ConfigResource;
}

interface Waiter {
  readonly ready: () => boolean;
  readonly resolve: () => void;
}

class Store implements ConfigStoreController {
  readonly #sources: readonly ConfigSource[];
  readonly #sinks: readonly ConfigSink[];
  readonly #synced: boolean[];
  readonly #merge: SourceMerge;
  readonly #capacity: number;
  readonly #live = new Map<string, Map<string, Entry>>();
  readonly #views = new Map<string, KindView>();
  #snapshot: Snapshot | undefined;
  #revision = 0;
  /** Revision at which the last source synced; -1 until then. */
  #syncRevision = -1;
  readonly #handlers = new Set<HandlerQueue>();
  #waiters: Waiter[] = [];
  #running = false;
  #syncLatched = false;
  #handlerCount = 0;

  constructor(options: ConfigStoreOptions) {
    const { sources, handlerQueueCapacity = DEFAULT_HANDLER_QUEUE_CAPACITY } = options;
    if (!Array.isArray(sources)) {
      throw new MizzenError(
        ErrorCode.INVALID_ARGUMENT,
        'config store: sources must be an array of ConfigSource',
      );
    }
    const names = new Set<string>();
    for (const s of sources) {
      if (names.has(s.name)) {
        throw new MizzenError(
          ErrorCode.INVALID_ARGUMENT,
          `config store: two sources are named "${s.name}"; give each source a unique name`,
        );
      }
      names.add(s.name);
    }
    if (!Number.isInteger(handlerQueueCapacity) || handlerQueueCapacity < 1) {
      throw new MizzenError(
        ErrorCode.INVALID_ARGUMENT,
        `config store: handlerQueueCapacity must be an integer >= 1, got ${handlerQueueCapacity}`,
      );
    }
    this.#sources = [...sources];
    this.#capacity = handlerQueueCapacity;
    this.#merge = new SourceMerge(sources.map((s) => s.name));
    this.#synced = sources.map(() => false);
    this.#sinks = sources.map((_, i) => this.#sinkFor(i));
    if (sources.length === 0) this.#syncRevision = 0;
  }

  get revision(): number {
    return this.#revision;
  }

  // ---- read side ----

  get<Spec = unknown>(kind: string, namespace: string, name: string): ConfigResource<Spec> | undefined {
    checkKind(kind);
    return this.#live.get(kind)?.get(objectKey(namespace, name))?.resource as
      | ConfigResource<Spec>
      | undefined;
  }

  list<Spec = unknown>(kind: string, namespace?: string): readonly ConfigResource<Spec>[] {
    return this.snapshot().list<Spec>(kind, namespace);
  }

  snapshot(): ConfigSnapshot {
    if (!this.#snapshot) {
      for (const [kind, objects] of this.#live) {
        if (!this.#views.has(kind))
          this.#views.set(kind, new KindView([...objects.values()].map((e) => e.resource)));
      }
      this.#snapshot = new Snapshot(this.#revision, new Map(this.#views), checkKind);
    }
    return this.#snapshot;
  }

  statuses(): readonly ConfigStatus[] {
    const all = [...this.#sources.flatMap((s) => s.statuses()), ...this.#merge.conflicts()];
    return Object.freeze(all.sort(compareStatuses));
  }

  // ---- events ----

  on(kind: string, handler: ConfigHandler, options: HandlerOptions = {}): () => void {
    if (kind !== '*') checkKind(kind);
    if (typeof handler !== 'function') {
      throw new MizzenError(ErrorCode.INVALID_ARGUMENT, 'config store: on() needs a handler function');
    }
    const queue = new HandlerQueue({
      name: options.name ?? `${kind === '*' ? 'all' : kind}#${++this.#handlerCount}`,
      kind,
      capacity: this.#capacity,
      handler,
      log,
      onDelivered: () => this.#checkWaiters(),
    });
    this.#handlers.add(queue);
    if (options.replay ?? true) {
      const snap = this.snapshot();
      for (const k of kind === '*' ? snap.kinds() : [kind]) {
        for (const r of snap.list(k)) queue.push(configKey(r), undefined, r, snap.revision, true);
      }
    }
    return () => {
      queue.close();
      this.#handlers.delete(queue);
      this.#checkWaiters();
    };
  }

  hasSynced(): boolean {
    if (this.#syncLatched) return true;
    if (this.#syncRevision < 0) return false;
    for (const h of this.#handlers) if (h.oldestPendingRevision() <= this.#syncRevision) return false;
    // Latched: readiness must not flap when a handler registers later (it gets replayed adds).
    this.#syncLatched = true;
    return true;
  }

  waitForSync(signal?: AbortSignal): Promise<void> {
    return this.#wait(() => this.hasSynced(), signal);
  }

  idle(): Promise<void> {
    return this.#wait(() => [...this.#handlers].every((h) => h.idle));
  }

  // ---- running the sources ----

  async run(signal: AbortSignal): Promise<void> {
    if (this.#running)
      throw new MizzenError(ErrorCode.INVALID_ARGUMENT, 'config store: run() was already called');
    this.#running = true;
    if (signal.aborted) return;
    await Promise.all(
      this.#sources.map((s, i) =>
        s.run(this.#sinks[i], signal).catch((err: unknown) => {
          log.error('config source failed', { source: s.name, error: errorMessage(err) });
          throw err;
        }),
      ),
    );
  }

  #sinkFor(index: number): ConfigSink {
    return {
      apply: (changes) => this.#apply(index, changes),
      replace: (resources) => this.#replace(index, resources),
      synced: () => {
        if (this.#synced[index]) return;
        this.#synced[index] = true;
        log.debug('config source synced', { source: this.#sources[index].name, revision: this.#revision });
        if (this.#synced.every(Boolean)) {
          this.#syncRevision = this.#revision;
          log.info('config synced', { sources: this.#sources.length, objects: this.snapshot().size });
        }
        this.#checkWaiters();
      },
    };
  }

  #replace(source: number, resources: readonly ConfigResource[]): void {
    const changes: SourceChange[] = [];
    const listed = new Set<string>();
    for (const resource of resources) {
      checkResource(this.#sources[source].name, resource);
      const id = formatConfigKey(configKey(resource));
      if (listed.has(id)) {
        log.warn('config source listed an object twice; the first one is kept', {
          source: this.#sources[source].name,
          key: id,
        });
        continue;
      }
      listed.add(id);
      changes.push({ type: 'upsert', resource });
    }
    for (const id of this.#merge.keys(source)) {
      if (!listed.has(id)) changes.push({ type: 'delete', key: configKey(this.#merge.held(source, id)!) });
    }
    this.#mutate(source, changes);
  }

  #apply(source: number, changes: readonly SourceChange[]): void {
    for (const c of changes) {
      if (c.type === 'upsert') checkResource(this.#sources[source].name, c.resource);
      else if (c.type === 'delete') checkKind(c.key.kind);
      else
        throw new MizzenError(
          ErrorCode.INVALID_ARGUMENT,
          `config store: unknown change type ${(c as { type: unknown }).type}`,
        );
    }
    this.#mutate(source, changes);
  }

  /** Applies one batch: every change lands before any handler hears of the first. */
  #mutate(source: number, changes: readonly SourceChange[]): void {
    const events: {
      key: ConfigKey;
      previous?: ConfigResource;
      current?: ConfigResource;
      revision: number;
    }[] = [];
    for (const change of changes) {
      const key = Object.freeze(change.type === 'upsert' ? configKey(change.resource) : { ...change.key });
      const id = formatConfigKey(key);
      const next = change.type === 'upsert' ? change.resource : undefined;
      const held = this.#merge.held(source, id);
      if (held === next) continue; // the very same object, or deleting what is not there
      const winner = this.#merge.set(source, id, next);
      let objects = this.#live.get(key.kind);
      const oKey = objectKey(key.namespace, key.name);
      const entry = objects?.get(oKey);
      if (!winner) {
        if (!entry) continue;
        objects!.delete(oKey);
        events.push({ key, previous: entry.resource, revision: ++this.#revision });
        continue;
      }
      if (entry && (entry.from === winner.resource || sameContent(entry.from, winner.resource))) {
        entry.from = winner.resource; // re-read but unchanged: no new version, no event
        continue;
      }
      const revision = ++this.#revision;
      const resource = deepFreeze({
        ...winner.resource,
        meta: {
          ...winner.resource.meta,
          resourceVersion: String(revision),
          generation: winner.resource.meta.generation ?? nextGeneration(entry?.resource, winner.resource),
        },
      });
      if (!objects) this.#live.set(key.kind, (objects = new Map()));
      objects.set(oKey, { resource, from: winner.resource });
      events.push({ key, previous: entry?.resource, current: resource, revision });
    }
    if (events.length === 0) return;
    this.#snapshot = undefined;
    for (const e of events) this.#views.delete(e.key.kind);
    for (const e of events) {
      for (const h of this.#handlers) {
        if (h.kind === '*' || h.kind === e.key.kind) h.push(e.key, e.previous, e.current, e.revision);
      }
    }
    if (log.enabled('debug')) {
      for (const e of events) {
        const type: ConfigEvent['type'] = !e.previous ? 'add' : !e.current ? 'delete' : 'update';
        log.debug('config changed', { event: type, key: formatConfigKey(e.key), revision: e.revision });
      }
    }
  }

  #wait(ready: () => boolean, signal?: AbortSignal): Promise<void> {
    if (ready()) return Promise.resolve();
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(signal!.reason);
      };
      const waiter: Waiter = {
        ready,
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  #checkWaiters(): void {
    if (this.#waiters.length === 0) return;
    const still: Waiter[] = [];
    const done: Waiter[] = [];
    for (const w of this.#waiters) (w.ready() ? done : still).push(w);
    this.#waiters = still;
    for (const w of done) w.resolve();
  }
}

/** Kubernetes semantics: 1 on creation, +1 whenever the spec changes. */
function nextGeneration(previous: ConfigResource | undefined, next: ConfigResource): number {
  if (!previous) return 1;
  const g = previous.meta.generation ?? 0;
  return deepEqual(previous.spec, next.spec) ? g : g + 1;
}

function checkKind(kind: string): void {
  if (!kindDefinition(kind)) {
    throw new MizzenError(
      ErrorCode.INVALID_ARGUMENT,
      `unknown config kind ${JSON.stringify(kind)}; known kinds: ${KIND_NAMES.join(', ')}`,
    );
  }
}

function checkResource(source: string, r: ConfigResource): void {
  const def = kindDefinition(r?.kind);
  if (!def) {
    throw new MizzenError(
      ErrorCode.INVALID_ARGUMENT,
      `config source ${source} produced an object of unknown kind ${JSON.stringify(r?.kind)}; sources must decode through src/api/decode.ts`,
    );
  }
  if (!r.meta?.name || !r.meta.namespace) {
    throw new MizzenError(
      ErrorCode.INVALID_ARGUMENT,
      `config source ${source} produced a ${def.kind} without ${r.meta?.name ? 'namespace' : 'name'}`,
    );
  }
}
