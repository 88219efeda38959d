/**
 * Per-push memo tables. A generator that builds the same thing for many proxies (a cluster, a
 * ClusterLoadAssignment, a route configuration, a listener list) keeps it here, keyed by what
 * it really depends on. The tables belong to one PushContext, so an entry can never outlive the
 * snapshot it was computed from (house rules 1 and 2): a new push starts with empty tables, and
 * nothing is cached across pushes in hidden module state.
 *
 *   const CLUSTERS = new PushCacheSlot('cds.clusters', () => new Map<string, XdsResource>());
 *   const clusters = push.cache(CLUSTERS);   // created on first use, per push
 *
 * The one exception to "immutable once built" is EDS: endpoint-only pushes reuse the
 * PushContext, so EDS entries carry the endpoint version they were built at and are rebuilt
 * when it moves.
 */

/** Names one table and how to create it; declare one per module, at module level. */
export class PushCacheSlot<T> {
  readonly name: string;
  readonly create: () => T;

  constructor(name: string, create: () => T) {
    this.name = name;
    this.create = create;
  }
}

/** The tables of one push. */
export class PushCaches {
  readonly #tables = new Map<PushCacheSlot<unknown>, unknown>();

  get<T>(slot: PushCacheSlot<T>): T {
    let table = this.#tables.get(slot as PushCacheSlot<unknown>) as T | undefined;
    if (table === undefined) {
      table = slot.create();
      this.#tables.set(slot as PushCacheSlot<unknown>, table);
    }
    return table;
  }

  /** Entries per table — a Map or Set, or an object of them (`name.field`) — for debug output. */
  sizes(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [slot, table] of this.#tables) {
      if (table instanceof Map || table instanceof Set) out[slot.name] = table.size;
      else if (table && typeof table === 'object') {
        for (const [k, v] of Object.entries(table)) {
          if (v instanceof Map || v instanceof Set) out[`${slot.name}.${k}`] = v.size;
        }
      }
    }
    return out;
  }
}

/** A Map lookup that builds and stores on a miss. */
export function memo<K, V>(map: Map<K, V>, key: K, build: () => V): V {
  let v = map.get(key);
  if (v === undefined && !map.has(key)) {
    v = build();
    map.set(key, v);
  }
  return v as V;
}

/** `a=1,b=2`: a stable key of a label set. */
export function labelsKey(labels: Readonly<Record<string, string>>): string {
  const keys = Object.keys(labels);
  if (keys.length === 0) return '';
  if (keys.length === 1) return `${keys[0]}=${labels[keys[0]]}`;
  return keys
    .sort()
    .map((k) => `${k}=${labels[k]}`)
    .join(',');
}
