/**
 * Label selectors (Kubernetes equality-based `matchLabels`) and an index that answers
 * "which items carry all these labels" by intersecting posting lists, so that analyzers
 * stay linear in the number of objects.
 */

export type Labels = Readonly<Record<string, string>>;

export function selectorMatches(selector: Labels, labels: Labels): boolean {
  for (const [k, v] of Object.entries(selector)) if (labels[k] !== v) return false;
  return true;
}

/** `app=reviews,version=v1`, keys sorted: a stable identity for a selector. */
export function formatSelector(selector: Labels): string {
  return Object.keys(selector)
    .sort()
    .map((k) => `${k}=${selector[k]}`)
    .join(',');
}

export class LabelIndex<T extends { readonly labels: Labels }> {
  readonly all: T[] = [];
  readonly #byLabel = new Map<string, T[]>();

  add(item: T): void {
    this.all.push(item);
    for (const [k, v] of Object.entries(item.labels)) {
      const key = `${k}=${v}`;
      const list = this.#byLabel.get(key);
      if (list) list.push(item);
      else this.#byLabel.set(key, [item]);
    }
  }

  /** Items whose labels include every pair of `selector` (all items for an empty selector). */
  select(selector: Labels): T[] {
    const entries = Object.entries(selector);
    if (entries.length === 0) return this.all;
    let smallest: T[] | undefined;
    for (const [k, v] of entries) {
      const list = this.#byLabel.get(`${k}=${v}`);
      if (!list) return [];
      if (!smallest || list.length < smallest.length) smallest = list;
    }
    return (smallest ?? []).filter((item) => selectorMatches(selector, item.labels));
  }

  /** Same as `select(...).length > 0` without building the list. */
  any(selector: Labels): boolean {
    const entries = Object.entries(selector);
    if (entries.length === 0) return this.all.length > 0;
    let smallest: T[] | undefined;
    for (const [k, v] of entries) {
      const list = this.#byLabel.get(`${k}=${v}`);
      if (!list) return false;
      if (!smallest || list.length < smallest.length) smallest = list;
    }
    return (smallest ?? []).some((item) => selectorMatches(selector, item.labels));
  }
}
