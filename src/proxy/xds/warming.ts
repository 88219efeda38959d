/**
 * Warming, Envoy's way: what the data plane is shown ("active") versus what the control plane
 * has sent and the client accepted.
 *
 * - A cluster or listener (a parent) becomes active only when every resource it depends on has
 *   resolved — arrived, been declared absent, or been rejected — or its warming timer (the
 *   config source's initial_fetch_timeout, default 15 s) has fired. Until then its previous
 *   version, if any, keeps serving.
 * - Endpoints, route configurations and secrets (leaves) are shown exactly when an active parent
 *   references them and they have arrived.
 * - Every reconcile returns the changes as update events in make-before-break order: secrets,
 *   endpoints, clusters, route configurations, listeners; leaves that lost their last parent are
 *   removed after the parents.
 */
import {
  CLUSTER_TYPE_URL,
  ENDPOINT_TYPE_URL,
  LISTENER_TYPE_URL,
  ROUTE_TYPE_URL,
  SECRET_TYPE_URL,
} from '../../lib/xds/type-urls.ts';
import type { DecodedResource, Dependency } from './resource-types/resource-type.ts';

/** Types whose resources depend on others, in the order Envoy warms them. */
export const PARENT_TYPES: readonly string[] = [CLUSTER_TYPE_URL, LISTENER_TYPE_URL];
/** Types that are only depended on. */
export const LEAF_TYPES: readonly string[] = [SECRET_TYPE_URL, ENDPOINT_TYPE_URL, ROUTE_TYPE_URL];
const UPSERT_ORDER: readonly string[] = [
  SECRET_TYPE_URL,
  ENDPOINT_TYPE_URL,
  CLUSTER_TYPE_URL,
  ROUTE_TYPE_URL,
  LISTENER_TYPE_URL,
];
const LEAF_REMOVAL_ORDER: readonly string[] = [ROUTE_TYPE_URL, ENDPOINT_TYPE_URL, SECRET_TYPE_URL];

/** A resource the client accepted. `version` is refreshed when an identical copy arrives. */
export interface AcceptedResource<C = unknown> {
  readonly resource: DecodedResource<C>;
  version: string;
  /** Date.now() when this value was accepted. */
  readonly acceptedAt: number;
}

export interface ResourceUpdate<C = unknown> {
  readonly name: string;
  readonly version: string;
  readonly resource: DecodedResource<C>;
}

/** What changed for the data plane, for one type. */
export interface XdsUpdate<C = unknown> {
  readonly typeUrl: string;
  readonly added: readonly ResourceUpdate<C>[];
  readonly updated: readonly ResourceUpdate<C>[];
  readonly removed: readonly string[];
}

/** The client's accepted state, as the view reads it. */
export interface ViewSource {
  accepted(typeUrl: string): ReadonlyMap<string, AcceptedResource>;
  /** Arrived, declared absent, or rejected: nothing more to wait for. */
  resolved(dep: Dependency): boolean;
}

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

interface Warming {
  readonly resource: DecodedResource;
  readonly since: number;
  timer: unknown;
  timedOut: boolean;
}

export interface WarmingOptions {
  /** Warming timeout when a config source sets none (Envoy: 15 s); 0 waits forever. */
  readonly defaultTimeoutMs: number;
  readonly timers: Timers;
  /** A parent's timer fired; the owner should reconcile. */
  readonly onTimeout: (typeUrl: string, name: string, missing: readonly Dependency[]) => void;
  /** Dependencies still missing when a timer fires (for the log line). */
  readonly missing?: (resource: DecodedResource) => readonly Dependency[];
}

export class ConfigView {
  readonly #options: WarmingOptions;
  #active = new Map<string, Map<string, AcceptedResource>>();
  readonly #warming = new Map<string, Map<string, Warming>>();

  constructor(options: WarmingOptions) {
    this.#options = options;
    for (const t of [...PARENT_TYPES, ...LEAF_TYPES]) this.#active.set(t, new Map());
    for (const t of PARENT_TYPES) this.#warming.set(t, new Map());
  }

  /** What the data plane holds for `typeUrl`. */
  active(typeUrl: string): ReadonlyMap<string, AcceptedResource> {
    return this.#active.get(typeUrl) ?? new Map();
  }

  /** Accepted parents not serving yet (their previous version may be). */
  warming(typeUrl: string): ReadonlyMap<string, { resource: DecodedResource; since: number }> {
    return this.#warming.get(typeUrl) ?? new Map();
  }

  isWarming(typeUrl: string, name: string): boolean {
    return this.#warming.get(typeUrl)?.has(name) ?? false;
  }

  warmingCount(typeUrl: string): number {
    return this.#warming.get(typeUrl)?.size ?? 0;
  }

  /** Leaf names that active or warming parents need: the subscription for `leafType`. */
  wanted(leafType: string): Set<string> {
    const names = new Set<string>();
    const add = (r: DecodedResource) => {
      for (const d of r.dependencies) if (d.typeUrl === leafType) names.add(d.name);
    };
    for (const t of PARENT_TYPES) {
      for (const a of this.#active.get(t)?.values() ?? []) add(a.resource);
      for (const w of this.#warming.get(t)?.values() ?? []) add(w.resource);
    }
    return names;
  }

  /** Brings the active view up to date with `src`; returns the changes in apply order. */
  reconcile(src: ViewSource, now = Date.now()): XdsUpdate[] {
    const next = new Map<string, Map<string, AcceptedResource>>();
    for (const p of PARENT_TYPES) next.set(p, this.#reconcileParent(p, src, now));
    const refs = new Map<string, Set<string>>(LEAF_TYPES.map((t) => [t, new Set()]));
    for (const p of PARENT_TYPES) {
      for (const a of next.get(p)?.values() ?? []) {
        for (const d of a.resource.dependencies) refs.get(d.typeUrl)?.add(d.name);
      }
    }
    for (const leaf of LEAF_TYPES) {
      const accepted = src.accepted(leaf);
      const m = new Map<string, AcceptedResource>();
      for (const name of refs.get(leaf) ?? []) {
        const a = accepted.get(name);
        if (a) m.set(name, a);
      }
      next.set(leaf, m);
    }

    const events: XdsUpdate[] = [];
    const leafRemovals = new Map<string, string[]>();
    for (const typeUrl of UPSERT_ORDER) {
      const before = this.#active.get(typeUrl) ?? new Map<string, AcceptedResource>();
      const after = next.get(typeUrl) ?? new Map<string, AcceptedResource>();
      const added: ResourceUpdate[] = [];
      const updated: ResourceUpdate[] = [];
      const removed: string[] = [];
      for (const [name, a] of after) {
        const b = before.get(name);
        if (!b) added.push({ name, version: a.version, resource: a.resource });
        else if (b.resource !== a.resource) updated.push({ name, version: a.version, resource: a.resource });
      }
      for (const name of before.keys()) if (!after.has(name)) removed.push(name);
      const parent = PARENT_TYPES.includes(typeUrl);
      if (!parent && removed.length > 0) leafRemovals.set(typeUrl, removed);
      if (added.length > 0 || updated.length > 0 || (parent && removed.length > 0)) {
        events.push({ typeUrl, added, updated, removed: parent ? removed : [] });
      }
    }
    for (const typeUrl of LEAF_REMOVAL_ORDER) {
      const removed = leafRemovals.get(typeUrl);
      if (removed) events.push({ typeUrl, added: [], updated: [], removed });
    }
    this.#active = next;
    return events;
  }

  #reconcileParent(typeUrl: string, src: ViewSource, now: number): Map<string, AcceptedResource> {
    const accepted = src.accepted(typeUrl);
    const current = this.#active.get(typeUrl) ?? new Map<string, AcceptedResource>();
    const warming = this.#warming.get(typeUrl) as Map<string, Warming>;
    const next = new Map<string, AcceptedResource>();
    for (const [name, a] of accepted) {
      const cur = current.get(name);
      if (cur && cur.resource === a.resource) {
        next.set(name, a);
        this.#stopWarming(typeUrl, name);
        continue;
      }
      let w = warming.get(name);
      if (w && w.resource !== a.resource) {
        this.#stopWarming(typeUrl, name);
        w = undefined;
      }
      const ready = w?.timedOut || a.resource.dependencies.every((d) => src.resolved(d));
      if (ready) {
        next.set(name, a);
        this.#stopWarming(typeUrl, name);
        continue;
      }
      if (!w) this.#startWarming(typeUrl, name, a.resource, now);
      if (cur) next.set(name, cur);
    }
    for (const name of [...warming.keys()]) if (!accepted.has(name)) this.#stopWarming(typeUrl, name);
    return next;
  }

  /** Envoy's per-target timeouts: the parent is ready once the longest of them has passed. */
  #timeoutOf(resource: DecodedResource): number {
    let longest = 0;
    for (const d of resource.dependencies) {
      const t = d.initialFetchTimeoutMs ?? this.#options.defaultTimeoutMs;
      if (t === 0) return 0;
      longest = Math.max(longest, t);
    }
    return longest;
  }

  #startWarming(typeUrl: string, name: string, resource: DecodedResource, now: number): void {
    const w: Warming = { resource, since: now, timer: undefined, timedOut: false };
    const timeout = this.#timeoutOf(resource);
    if (timeout > 0) {
      w.timer = this.#options.timers.setTimeout(() => {
        w.timer = undefined;
        if (this.#warming.get(typeUrl)?.get(name) !== w) return;
        w.timedOut = true;
        this.#options.onTimeout(typeUrl, name, this.#options.missing?.(resource) ?? []);
      }, timeout);
    }
    this.#warming.get(typeUrl)?.set(name, w);
  }

  #stopWarming(typeUrl: string, name: string): void {
    const m = this.#warming.get(typeUrl);
    const w = m?.get(name);
    if (!w) return;
    if (w.timer !== undefined) this.#options.timers.clearTimeout(w.timer);
    m?.delete(name);
  }

  /** Stops every warming timer (the client is closing). */
  close(): void {
    for (const [typeUrl, m] of this.#warming)
      for (const name of [...m.keys()]) this.#stopWarming(typeUrl, name);
  }
}
