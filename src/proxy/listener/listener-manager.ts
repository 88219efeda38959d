/**
 * The listener manager: the set of bound listeners as LDS changes it, and the RDS route
 * providers their connection managers read.
 *
 * - A listener whose address and port stay the same is updated in place: new connections use
 *   the new filter chains while established ones keep theirs (Envoy drains the old chains).
 * - A listener that moved to another port binds its new socket first; the old one then stops
 *   accepting and drains (and keeps serving if the new bind fails). Removed listeners drain too.
 * - Draining listeners are closed hard after `drainTimeMs` (Envoy's --drain-time-s).
 * - Removals are applied before additions, so a port that moves from one listener name to
 *   another is free when the new listener binds.
 */
import { logger } from '../../lib/log.ts';
import { RdsRouteConfigProvider } from '../network/http/hcm-config.ts';
import type { RouteTable } from '../network/http/router/route-table.ts';
import type { StatsStore } from '../stats/store.ts';
import type { XdsUpdate } from '../xds/client.ts';
import { Listener, type ListenerConfig, listenerStatName } from './listener.ts';

const log = logger('proxy:listener-manager');

export interface ListenerManagerOptions {
  /** How long a removed or replaced listener's connections may finish (default 45 s, Istio's). */
  readonly drainTimeMs?: number;
}

/** One listener as the admin API shows it. */
export interface ListenerInfo {
  readonly name: string;
  readonly address: string;
  /** The bound port (the configured one, or the one the OS picked for port 0). */
  readonly port: number;
  readonly version: string;
  readonly connections: number;
}

interface Active {
  readonly listener: Listener;
  version: string;
}

export class ListenerManager {
  readonly #stats: StatsStore;
  readonly #drainTimeMs: number;
  readonly #active = new Map<string, Active>();
  /** Bind failures by listener name (shown by /listeners; retried on the next update). */
  readonly #failed = new Map<string, string>();
  /** Listeners that stopped accepting, with the timer that closes them at the end of the drain time. */
  readonly #draining = new Map<Listener, NodeJS.Timeout>();
  readonly #routes = new Map<string, RdsRouteConfigProvider>();
  /** Serialises LDS updates: binding is asynchronous. */
  #queue: Promise<void> = Promise.resolve();
  #stopped = false;

  constructor(stats: StatsStore, options: ListenerManagerOptions = {}) {
    this.#stats = stats;
    this.#drainTimeMs = options.drainTimeMs ?? 45_000;
  }

  /** The provider a connection manager reads for `name` (created on first use, kept). */
  rdsProvider = (name: string): RdsRouteConfigProvider => {
    let p = this.#routes.get(name);
    if (!p) {
      p = new RdsRouteConfigProvider(name);
      this.#routes.set(name, p);
    }
    return p;
  };

  /** Applies an RDS update: connection managers see the new table on their next request. */
  applyRoutes(update: XdsUpdate): void {
    for (const r of [...update.added, ...update.updated]) {
      this.rdsProvider(r.name).update(r.resource.compiled as RouteTable);
    }
    // A removed route configuration makes its connection managers answer 404 (Envoy: no route).
    for (const name of update.removed) this.#routes.get(name)?.update(undefined);
  }

  /** Applies an LDS update; resolves when new listeners are bound (or failed to bind). */
  applyListeners(update: XdsUpdate): Promise<void> {
    const run = async () => {
      if (this.#stopped) return;
      for (const name of update.removed) {
        const a = this.#active.get(name);
        this.#failed.delete(name);
        if (!a) continue;
        this.#active.delete(name);
        log.info('listener removed; draining', { listener: name });
        this.#drain(a.listener);
      }
      for (const r of [...update.added, ...update.updated]) {
        await this.#upsert(r.name, r.version, r.resource.compiled as ListenerConfig);
      }
    };
    this.#queue = this.#queue.then(run, run);
    return this.#queue;
  }

  async #upsert(name: string, version: string, config: ListenerConfig): Promise<void> {
    const existing = this.#active.get(name);
    if (
      existing &&
      existing.listener.config.address === config.address &&
      existing.listener.config.port === config.port
    ) {
      existing.listener.update(config);
      existing.version = version;
      log.info('listener updated in place', { listener: name, version });
      return;
    }
    const listener = new Listener(config, this.#stats);
    // Same port on another address: the old socket must go first, or the new bind could clash.
    // Otherwise the new socket binds first and the old one keeps serving if that fails.
    const freeFirst = existing !== undefined && existing.listener.config.port === config.port;
    if (existing && freeFirst) {
      this.#active.delete(name);
      this.#drain(existing.listener);
    }
    try {
      const port = await listener.start();
      if (this.#stopped) {
        await listener.close();
        return;
      }
      if (existing && !freeFirst) this.#drain(existing.listener);
      this.#active.set(name, { listener, version });
      this.#failed.delete(name);
      log.info('listener bound', { listener: name, address: config.address, port });
    } catch (err) {
      const reason = (err as Error).message;
      this.#failed.set(name, reason);
      log.error('listener failed to bind', {
        listener: name,
        address: config.address,
        port: config.port,
        reason,
        keptPrevious: existing !== undefined && !freeFirst,
      });
    }
  }

  /** Stops accepting on `l` and lets its connections finish, closing it hard after the drain time. */
  #drain(l: Listener): void {
    const timer = setTimeout(() => {
      log.warn('drain time over; closing remaining connections', {
        listener: l.config.name,
        connections: l.connectionCount,
      });
      this.#draining.delete(l);
      void l.close();
    }, this.#drainTimeMs);
    this.#draining.set(l, timer);
    void l.drain().then(() => {
      clearTimeout(timer);
      this.#draining.delete(l);
    });
  }

  /** The bound listeners. */
  listeners(): ListenerInfo[] {
    return [...this.#active].map(([name, a]) => ({
      name,
      address: a.listener.config.address,
      port: a.listener.port,
      version: a.version,
      connections: a.listener.connectionCount,
    }));
  }

  /** Listener name → bind error, for listeners that could not bind. */
  failures(): ReadonlyMap<string, string> {
    return this.#failed;
  }

  /** Stat-name prefixes of bound listeners (`listener.<this>.downstream_cx_total`). */
  statNames(): string[] {
    return [...this.#active.values()].map(
      (a) => a.listener.config.statPrefix || listenerStatName(a.listener.config.address, a.listener.port),
    );
  }

  /** Stat prefixes of the bound listeners' connection managers (`http.<this>.downstream_rq_total`). */
  httpStatPrefixes(): string[] {
    const out = new Set<string>();
    for (const a of this.#active.values()) {
      const c = a.listener.config;
      for (const fc of [...c.filterChains, ...(c.defaultFilterChain ? [c.defaultFilterChain] : [])]) {
        if (fc.filter?.kind === 'http') out.add(fc.filter.config.statPrefix);
      }
    }
    return [...out];
  }

  /** The bound port of a listener by name (0 when it is not bound). */
  port(name: string): number {
    return this.#active.get(name)?.listener.port ?? 0;
  }

  /**
   * Stops accepting on every listener (Envoy's /drain_listeners, and SIGTERM). Established
   * connections finish; the promise resolves when they have, or when `deadlineMs` passed and
   * the rest were closed.
   */
  async drainAll(deadlineMs: number = this.#drainTimeMs): Promise<void> {
    this.#stopped = true;
    await this.#queue;
    const all = [...this.#active.values()].map((a) => a.listener);
    this.#active.clear();
    let timer: NodeJS.Timeout | undefined;
    const drained = Promise.all(all.map((l) => l.drain())).then(() => true);
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), deadlineMs);
    });
    const clean = await Promise.race([drained, timedOut]);
    clearTimeout(timer);
    if (!clean) {
      log.warn('drain period over; closing remaining connections', {
        connections: all.reduce((n, l) => n + l.connectionCount, 0),
      });
      await Promise.all(all.map((l) => l.close()));
    }
    await this.close();
  }

  /** Closes every listener and connection now. */
  async close(): Promise<void> {
    this.#stopped = true;
    await this.#queue;
    const all = [...this.#active.values()].map((a) => a.listener);
    this.#active.clear();
    for (const [l, timer] of this.#draining) {
      clearTimeout(timer);
      all.push(l);
    }
    this.#draining.clear();
    await Promise.all(all.map((l) => l.close()));
  }
}
