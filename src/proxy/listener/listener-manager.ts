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
 * - `bind_to_port: false` listeners are registered without a socket; the manager is the lookup
 *   a use_original_dst listener hands connections through (exact ip:port, then the wildcard
 *   address of the family on that port).
 * - SDS secrets live in `secrets`; listeners read them when they build a TLS context.
 */
import { isIPv4, SocketAddress } from 'node:net';
import { logger } from '../../lib/log.ts';
import { RdsRouteConfigProvider } from '../network/http/hcm-config.ts';
import type { RouteTable } from '../network/http/router/route-table.ts';
import type { StatsStore } from '../stats/store.ts';
import { SecretStore } from '../tls/secret-store.ts';
import type { XdsUpdate } from '../xds/client.ts';
import { Listener, type ListenerConfig, type ListenerLookup, listenerStatName } from './listener.ts';
import type { OriginalDstLookup } from './listener-filters.ts';

const log = logger('proxy:listener-manager');

export interface ListenerManagerOptions {
  /** How long a removed or replaced listener's connections may finish (default 45 s, Istio's). */
  readonly drainTimeMs?: number;
  /** Original-destination lookup for capture listeners (tests inject one). */
  readonly originalDst?: OriginalDstLookup;
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

/** Canonical address text, so "::ffff:10.0.0.1" and "10.0.0.1" or v6 spellings compare equal. */
function canonicalAddress(address: string): string {
  if (address.startsWith('::ffff:') && isIPv4(address.slice(7))) return address.slice(7);
  if (address.includes(':')) {
    try {
      return new SocketAddress({ address, family: 'ipv6' }).address;
    } catch {
      return address;
    }
  }
  return address;
}

export class ListenerManager implements ListenerLookup {
  /** SDS secrets (ListenerEnv.secrets); `applySecrets` keeps them current. */
  readonly secrets = new SecretStore();
  readonly #stats: StatsStore;
  readonly #originalDst: OriginalDstLookup | undefined;
  /** "address|port" → listener, rebuilt when the active set changes. */
  #byAddress: Map<string, Listener> | undefined;
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
    this.#originalDst = options.originalDst;
  }

  /** Applies an SDS update; TLS contexts pick the new secrets up for new connections. */
  applySecrets(update: XdsUpdate): void {
    this.secrets.apply(update);
  }

  /** The listener for an original destination: exact ip:port, then 0.0.0.0:port / [::]:port. */
  find(address: string, port: number): Listener | undefined {
    if (!this.#byAddress) {
      this.#byAddress = new Map();
      for (const a of this.#active.values()) {
        const c = a.listener.config;
        this.#byAddress.set(`${canonicalAddress(c.address)}|${a.listener.port}`, a.listener);
      }
    }
    const addr = canonicalAddress(address);
    return (
      this.#byAddress.get(`${addr}|${port}`) ??
      this.#byAddress.get(`${isIPv4(addr) ? '0.0.0.0' : '::'}|${port}`)
    );
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
        this.#byAddress = undefined;
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
      existing.listener.config.port === config.port &&
      existing.listener.config.bindToPort === config.bindToPort
    ) {
      existing.listener.update(config);
      existing.version = version;
      log.info('listener updated in place', { listener: name, version });
      return;
    }
    const listener = new Listener(config, this.#stats, { lookup: this, originalDst: this.#originalDst });
    // Same port on another address: the old socket must go first, or the new bind could clash.
    // Otherwise the new socket binds first and the old one keeps serving if that fails.
    // (A listener without a socket never clashes.)
    const freeFirst =
      existing !== undefined &&
      existing.listener.config.port === config.port &&
      existing.listener.config.bindToPort &&
      config.bindToPort;
    if (existing && freeFirst) {
      this.#active.delete(name);
      this.#byAddress = undefined;
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
      this.#byAddress = undefined;
      this.#failed.delete(name);
      log.info(config.bindToPort ? 'listener bound' : 'virtual listener registered (bind_to_port false)', {
        listener: name,
        address: config.address,
        port,
      });
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
    this.#byAddress = undefined;
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
    this.#byAddress = undefined;
    for (const [l, timer] of this.#draining) {
      clearTimeout(timer);
      all.push(l);
    }
    this.#draining.clear();
    await Promise.all(all.map((l) => l.close()));
  }
}
