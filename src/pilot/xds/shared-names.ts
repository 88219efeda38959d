/**
 * One shared Set per distinct subscription. Proxies of one kind subscribe to the same
 * thousands of names (every EDS cluster their CDS named); handing generators the same Set
 * object for equal subscriptions lets them, and the server, cache per subscription by identity
 * instead of walking every name of every proxy on every push. Sets are reference-counted by
 * the connections holding them and dropped with the last one.
 *
 * Equal content is found by an order-independent hash (two 32-bit lanes summed over the names)
 * and confirmed name by name, so a hash collision costs time, never correctness.
 */

interface Entry {
  readonly set: ReadonlySet<string>;
  refs: number;
}

export class SharedNameSets {
  readonly #buckets = new Map<string, Entry[]>();

  /** The shared Set equal to `names` (a copy of it the first time), counted as one more holder. */
  acquire(typeUrl: string, names: ReadonlySet<string>): ReadonlySet<string> {
    const key = bucketKey(typeUrl, names);
    let bucket = this.#buckets.get(key);
    if (!bucket) this.#buckets.set(key, (bucket = []));
    for (const e of bucket) {
      if (e.set === names || sameNames(e.set, names)) {
        e.refs++;
        return e.set;
      }
    }
    const entry: Entry = { set: new Set(names), refs: 1 };
    bucket.push(entry);
    return entry.set;
  }

  /** One holder fewer; the Set is forgotten with its last holder. */
  release(typeUrl: string, set: ReadonlySet<string>): void {
    const key = bucketKey(typeUrl, set);
    const bucket = this.#buckets.get(key);
    const i = bucket?.findIndex((e) => e.set === set) ?? -1;
    if (!bucket || i < 0) return;
    if (--bucket[i].refs > 0) return;
    bucket.splice(i, 1);
    if (bucket.length === 0) this.#buckets.delete(key);
  }

  /** Distinct sets held (for tests and debug). */
  get size(): number {
    let n = 0;
    for (const b of this.#buckets.values()) n += b.length;
    return n;
  }
}

function sameNames(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  if (a.size !== b.size) return false;
  for (const n of b) if (!a.has(n)) return false;
  return true;
}

function bucketKey(typeUrl: string, names: ReadonlySet<string>): string {
  let h1 = 0;
  let h2 = 0;
  for (const n of names) {
    let a = 0x811c9dc5;
    let b = 0x9747b28c;
    for (let i = 0; i < n.length; i++) {
      const c = n.charCodeAt(i);
      a = Math.imul(a ^ c, 16777619);
      b = Math.imul(b ^ c, 2246822507);
    }
    h1 = (h1 + a) | 0;
    h2 = (h2 + (b ^ (b >>> 15))) | 0;
  }
  return `${typeUrl}|${names.size}|${h1}|${h2}`;
}
