/**
 * The primary's side of `--concurrency N`: forks N worker processes (node:cluster), keeps the
 * config the primary's single xDS client accepted and sends it to them — all of it to a worker
 * that (re)starts, each later update to every worker — restarts a worker that dies, sums the
 * workers' stats into the primary's store for its admin API, and drains them all on shutdown.
 *
 * Listening sockets: a worker's listen() goes through node:cluster, so every worker serves the
 * same socket; with cluster's default round-robin policy the primary accepts and hands each
 * connection to the next worker, which spreads connections evenly (the kernel's shared-accept
 * alternative piles them onto one worker). The primary does one accept per connection, no
 * per-request work.
 *
 * NACK is decided once: the primary compiles every resource before it ACKs and forwards it, and
 * workers run the same compile code on the same input. A worker that still fails logs and
 * reports it (a bug, not a config error).
 */
import cluster, { type Worker } from 'node:cluster';
import { EventEmitter } from 'node:events';
import { getCompileCacheDir } from 'node:module';
import { fileURLToPath } from 'node:url';
import { logger } from '../../lib/log.ts';
import {
  CLUSTER_TYPE_URL,
  ENDPOINT_TYPE_URL,
  LISTENER_TYPE_URL,
  ROUTE_TYPE_URL,
  SECRET_TYPE_URL,
} from '../../lib/xds/type-urls.ts';
import type { StatsStore } from '../stats/store.ts';
import type { XdsUpdate } from '../xds/warming.ts';
import { type FromWorker, type ToWorker, toWire, type WireResource, type WireUpdate } from './protocol.ts';
import { accumulate, applySnapshots, EMPTY_SNAPSHOT, type StatsSnapshot } from './stats-snapshot.ts';

const log = logger('proxy:workers');

const WORKER_MAIN = fileURLToPath(new URL('./worker-main.ts', import.meta.url));
/** Order a fresh worker applies the full config in: what a listener refers to comes first. */
const FULL_ORDER = [CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL, SECRET_TYPE_URL, ROUTE_TYPE_URL, LISTENER_TYPE_URL];

export interface WorkerPoolOptions {
  readonly workers: number;
  readonly bootstrap: {
    readonly node: { readonly id?: string; readonly metadata?: unknown };
    readonly metadata?: unknown;
  };
  readonly listenerDrainMs?: number;
  /** The primary's store: workers' stats are summed into it. */
  readonly stats: StatsStore;
  /** How often workers send their stats (default 1 s). */
  readonly statsIntervalMs?: number;
  readonly execArgv?: readonly string[];
  /** First restart delay after a worker dies (doubles while it keeps dying; default 100 ms). */
  readonly restartDelayMs?: number;
}

interface Slot {
  readonly id: number;
  worker: Worker | undefined;
  /** Highest config seq the current worker applied (-1: none yet). */
  applied: number;
  snapshot: StatsSnapshot;
  listeners: Readonly<Record<string, number>>;
  startedAt: number;
  crashes: number;
  restartTimer: NodeJS.Timeout | undefined;
}

export interface WorkerPoolEvents {
  /** A worker (re)started and applied the current config. */
  'worker-ready': [id: number, pid: number];
  'worker-exit': [id: number, pid: number, code: number | null, signal: string | null];
}

export class WorkerPool extends EventEmitter<WorkerPoolEvents> {
  readonly #o: WorkerPoolOptions;
  readonly #slots: Slot[] = [];
  /** The accepted config, per type and name, as the workers get it. */
  readonly #state = new Map<string, Map<string, WireResource>>();
  #seq = 0;
  #retired: StatsSnapshot = EMPTY_SNAPSHOT;
  #stopping = false;
  #started = false;
  #waiters: { seq: number; resolve: () => void }[] = [];

  constructor(options: WorkerPoolOptions) {
    super();
    if (!Number.isInteger(options.workers) || options.workers < 1)
      throw new RangeError(`WorkerPool: workers must be a positive integer, got ${options.workers}`);
    this.#o = options;
    for (let id = 0; id < options.workers; id++) {
      this.#slots.push({
        id,
        worker: undefined,
        applied: -1,
        snapshot: EMPTY_SNAPSHOT,
        listeners: {},
        startedAt: 0,
        crashes: 0,
        restartTimer: undefined,
      });
    }
  }

  get size(): number {
    return this.#slots.length;
  }

  /** Worker pids by slot (undefined while a slot restarts). */
  pids(): (number | undefined)[] {
    return this.#slots.map((s) => s.worker?.process.pid);
  }

  /** Listener name → bound port, as the workers report them. */
  listenerPorts(): Readonly<Record<string, number>> {
    return this.#slots.find((s) => s.applied >= 0)?.listeners ?? {};
  }

  start(): void {
    if (this.#started) return;
    this.#started = true;
    cluster.setupPrimary({
      exec: WORKER_MAIN,
      execArgv: [...(this.#o.execArgv ?? process.execArgv)],
      args: [],
    });
    for (const slot of this.#slots) this.#fork(slot);
  }

  #fork(slot: Slot): void {
    slot.restartTimer = undefined;
    if (this.#stopping) return;
    const cacheDir = getCompileCacheDir();
    const env: Record<string, string> = { MIZZEN_WORKER_ID: String(slot.id) };
    if (cacheDir) env.NODE_COMPILE_CACHE = cacheDir;
    const worker = cluster.fork(env);
    slot.worker = worker;
    slot.applied = -1;
    slot.startedAt = Date.now();
    worker.on('message', (m: FromWorker) => this.#onMessage(slot, worker, m));
    worker.on('exit', (code, signal) => this.#onExit(slot, worker, code, signal));
    // IPC errors (a worker gone mid-send) surface as its exit.
    worker.on('error', (err) => log.debug('worker IPC error', { worker: slot.id, error: err.message }));
  }

  #send(worker: Worker, m: ToWorker): void {
    if (worker.isConnected()) worker.send(m);
  }

  #onMessage(slot: Slot, worker: Worker, m: FromWorker): void {
    if (slot.worker !== worker) return;
    switch (m.t) {
      case 'ready':
        this.#send(worker, {
          t: 'init',
          init: {
            node: this.#o.bootstrap.node,
            metadata: this.#o.bootstrap.metadata,
            listenerDrainMs: this.#o.listenerDrainMs,
            statsIntervalMs: this.#o.statsIntervalMs ?? 1000,
          },
        });
        this.#send(worker, { t: 'config', seq: this.#seq, updates: this.#fullState() });
        return;
      case 'applied': {
        const first = slot.applied < 0;
        slot.applied = Math.max(slot.applied, m.seq);
        slot.listeners = m.listeners;
        if (m.errors.length > 0) {
          log.error('a worker failed to apply config the primary accepted', {
            worker: slot.id,
            errors: m.errors.join(' | '),
          });
        }
        if (first) this.emit('worker-ready', slot.id, worker.process.pid ?? 0);
        this.#settleWaiters();
        return;
      }
      case 'stats':
        slot.snapshot = m.snapshot;
        applySnapshots(
          this.#o.stats,
          this.#slots.map((s) => s.snapshot),
          this.#retired,
        );
        return;
    }
  }

  #onExit(slot: Slot, worker: Worker, code: number | null, signal: string | null): void {
    if (slot.worker !== worker) return;
    const pid = worker.process.pid ?? 0;
    slot.worker = undefined;
    // Its counters stay in the totals; its gauges (open connections, ...) went with it.
    this.#retired = accumulate(this.#retired, slot.snapshot);
    slot.snapshot = EMPTY_SNAPSHOT;
    slot.applied = -1;
    this.emit('worker-exit', slot.id, pid, code, signal);
    this.#settleWaiters();
    if (this.#stopping) return;
    // A worker that keeps dying right after start backs off; one that ran a while restarts fast.
    slot.crashes = Date.now() - slot.startedAt > 10_000 ? 0 : slot.crashes + 1;
    const delay = Math.min(5_000, (this.#o.restartDelayMs ?? 100) * 2 ** Math.max(0, slot.crashes - 1));
    log.warn('worker exited; restarting', { worker: slot.id, pid, code, signal, restartInMs: delay });
    slot.restartTimer = setTimeout(() => this.#fork(slot), delay);
  }

  #fullState(): WireUpdate[] {
    const out: WireUpdate[] = [];
    for (const typeUrl of FULL_ORDER) {
      const m = this.#state.get(typeUrl);
      if (m && m.size > 0) out.push({ typeUrl, added: [...m.values()], updated: [], removed: [] });
    }
    return out;
  }

  /** Records an update the primary accepted and applied, and sends it to every live worker. */
  publish(u: XdsUpdate): void {
    const wire = toWire(u);
    let m = this.#state.get(u.typeUrl);
    if (!m) {
      m = new Map();
      this.#state.set(u.typeUrl, m);
    }
    for (const r of [...wire.added, ...wire.updated]) m.set(r.name, r);
    for (const name of wire.removed) m.delete(name);
    this.#seq++;
    for (const slot of this.#slots) {
      // A worker that has not had its full config yet gets this update inside it.
      if (slot.worker && slot.applied >= 0)
        this.#send(slot.worker, { t: 'config', seq: this.#seq, updates: [wire] });
    }
  }

  /** Resolves once every worker runs all config published so far (restarting ones included). */
  whenCurrent(): Promise<void> {
    const seq = this.#seq;
    return new Promise((resolve) => {
      this.#waiters.push({ seq, resolve });
      this.#settleWaiters();
    });
  }

  #settleWaiters(): void {
    const min = Math.min(...this.#slots.map((s) => (s.worker ? s.applied : -1)));
    this.#waiters = this.#waiters.filter((w) => {
      if (min < w.seq) return true;
      w.resolve();
      return false;
    });
  }

  /**
   * Graceful stop: every worker stops accepting and lets its connections finish within
   * `drainMs`, then exits; a worker still there after that (plus a grace second) is killed.
   */
  async drain(drainMs: number): Promise<void> {
    this.#stopping = true;
    const live = this.#slots.filter((s) => s.worker).map((s) => s.worker as Worker);
    for (const s of this.#slots) clearTimeout(s.restartTimer);
    await Promise.all(
      live.map(
        (w) =>
          new Promise<void>((resolve) => {
            if (w.isDead()) return resolve();
            const timer = setTimeout(() => w.process.kill('SIGKILL'), drainMs + 1_000);
            w.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
            this.#send(w, { t: 'drain', ms: drainMs });
          }),
      ),
    );
  }

  /** Stops every worker now. */
  async close(): Promise<void> {
    this.#stopping = true;
    for (const s of this.#slots) clearTimeout(s.restartTimer);
    await Promise.all(
      this.#slots
        .filter((s) => s.worker && !s.worker.isDead())
        .map(
          (s) =>
            new Promise<void>((resolve) => {
              const w = s.worker as Worker;
              w.once('exit', () => resolve());
              w.process.kill('SIGKILL');
            }),
        ),
    );
    for (const w of this.#waiters.splice(0)) w.resolve();
  }
}
