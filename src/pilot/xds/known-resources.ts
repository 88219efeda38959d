/**
 * What a delta proxy holds of one type (name -> version), stored as a reference to a shared,
 * immutable generated list plus a small per-proxy overlay of differences.
 *
 * Why: 2,000 proxies × ~4,400 resources as per-proxy Maps were ~1 GB of heap, and every full
 * push diffed each proxy's map resource by resource. Proxies of one class hold the same list,
 * so the index of a list (`baseIndexOf`) and the diff between two lists (`diffLists`) are
 * computed once and shared; a proxy in step with a list costs one reference.
 */
import type { XdsResource } from './generator-registry.ts';
import { resourceVersion } from './resource-version.ts';

/** A generated list and its name -> version index (built once per list object). */
export interface BaseIndex {
  readonly list: readonly XdsResource[];
  readonly versions: ReadonlyMap<string, string>;
}

/** The index of holding nothing (a new stream): diffs from it are shared like any other. */
export const EMPTY_INDEX: BaseIndex = Object.freeze({ list: Object.freeze([]), versions: new Map() });

const indexes = new WeakMap<readonly XdsResource[], BaseIndex>();

/** The shared index of a generated list; the first resource of a name wins (as the diff does). */
export function baseIndexOf(list: readonly XdsResource[]): BaseIndex {
  let index = indexes.get(list);
  if (!index) {
    const versions = new Map<string, string>();
    for (const r of list) if (!versions.has(r.name)) versions.set(r.name, resourceVersion(r.resource.value));
    index = Object.freeze({ list, versions });
    indexes.set(list, index);
  }
  return index;
}

/** What must be sent to move a proxy from holding exactly `from` to holding exactly `to`. */
export interface ListDiff {
  readonly changed: readonly {
    readonly name: string;
    readonly version: string;
    readonly resource: XdsResource['resource'];
  }[];
  readonly removed: readonly string[];
}

const diffs = new WeakMap<BaseIndex, WeakMap<BaseIndex, ListDiff>>();

/** The diff between two indexes, computed once per pair and shared by every proxy making that move. */
export function diffLists(from: BaseIndex, to: BaseIndex): ListDiff {
  let byTarget = diffs.get(from);
  if (!byTarget) {
    byTarget = new WeakMap();
    diffs.set(from, byTarget);
  }
  let diff = byTarget.get(to);
  if (!diff) {
    const changed: ListDiff['changed'][number][] = [];
    const seen = new Set<string>();
    for (const r of to.list) {
      if (seen.has(r.name)) continue;
      seen.add(r.name);
      const version = to.versions.get(r.name) as string;
      if (from.versions.get(r.name) !== version)
        changed.push({ name: r.name, version, resource: r.resource });
    }
    const removed: string[] = [];
    for (const name of from.versions.keys()) if (!to.versions.has(name)) removed.push(name);
    diff = Object.freeze({ changed: Object.freeze(changed), removed: Object.freeze(removed) });
    byTarget.set(to, diff);
  }
  return diff;
}

/** Marks a base name the proxy no longer holds. */
const GONE = null;

/**
 * Map-like view of name -> version the proxy holds: `base` (shared) overridden by `overlay`
 * (this proxy's own changes since it was last brought in line with a whole list).
 */
export class KnownResources {
  #base: BaseIndex | undefined;
  readonly #overlay = new Map<string, string | typeof GONE>();
  #size = 0;

  get size(): number {
    return this.#size;
  }

  /** The shared list this proxy holds exactly, when it has no changes of its own. */
  get exactBase(): BaseIndex | undefined {
    return this.#overlay.size === 0 ? this.#base : undefined;
  }

  get(name: string): string | undefined {
    if (this.#overlay.has(name)) return this.#overlay.get(name) ?? undefined;
    return this.#base?.versions.get(name);
  }

  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  set(name: string, version: string): this {
    if (!this.has(name)) this.#size++;
    if (this.#base?.versions.get(name) === version) this.#overlay.delete(name);
    else this.#overlay.set(name, version);
    return this;
  }

  delete(name: string): boolean {
    if (!this.has(name)) return false;
    this.#size--;
    if (this.#base?.versions.has(name)) this.#overlay.set(name, GONE);
    else this.#overlay.delete(name);
    return true;
  }

  clear(): void {
    this.#base = undefined;
    this.#overlay.clear();
    this.#size = 0;
  }

  /** The proxy now holds exactly `base` (after a response that brought it in line). */
  resetTo(base: BaseIndex): void {
    this.#base = base;
    this.#overlay.clear();
    this.#size = base.versions.size;
  }

  *keys(): IterableIterator<string> {
    for (const [name] of this.entries()) yield name;
  }

  *entries(): IterableIterator<[string, string]> {
    if (this.#base) {
      for (const [name, version] of this.#base.versions) {
        if (!this.#overlay.has(name)) yield [name, version];
      }
    }
    for (const [name, version] of this.#overlay) if (version !== GONE) yield [name, version];
  }

  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.entries();
  }
}
