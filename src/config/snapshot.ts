/**
 * Immutable views of the store. A `ConfigSnapshot` is a consistent picture across every kind
 * at one store revision: it never changes after it is taken, whatever the sources do next.
 * Views are per kind and shared between snapshots until that kind changes, so taking a
 * snapshot after a change copies only the kinds that changed.
 */
import type { ConfigResource } from '../api/resource.ts';

/** Read access to config objects, from the live store or from a snapshot. */
export interface ConfigReader {
  /** The object, or undefined. */
  get<Spec = unknown>(kind: string, namespace: string, name: string): ConfigResource<Spec> | undefined;
  /** Objects of a kind, optionally in one namespace, sorted by namespace then name. */
  list<Spec = unknown>(kind: string, namespace?: string): readonly ConfigResource<Spec>[];
}

export interface ConfigSnapshot extends ConfigReader {
  /** Store revision the snapshot reflects: every event with `revision <= this` is included. */
  readonly revision: number;
  /** Kinds that have at least one object, sorted. */
  kinds(): readonly string[];
  /** Number of objects across all kinds. */
  readonly size: number;
}

export function objectKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

const EMPTY: readonly ConfigResource[] = Object.freeze([]);

/** The objects of one kind at one revision. */
export class KindView {
  readonly items: readonly ConfigResource[];
  readonly #byKey: ReadonlyMap<string, ConfigResource>;
  #byNamespace: Map<string, readonly ConfigResource[]> | undefined;

  constructor(objects: Iterable<ConfigResource>) {
    const items = [...objects].sort(
      (a, b) => compare(a.meta.namespace, b.meta.namespace) || compare(a.meta.name, b.meta.name),
    );
    this.items = Object.freeze(items);
    this.#byKey = new Map(items.map((r) => [objectKey(r.meta.namespace, r.meta.name), r]));
  }

  get(namespace: string, name: string): ConfigResource | undefined {
    return this.#byKey.get(objectKey(namespace, name));
  }

  inNamespace(namespace: string): readonly ConfigResource[] {
    // Built on first use: most readers list all namespaces.
    if (!this.#byNamespace) {
      const groups = new Map<string, ConfigResource[]>();
      for (const r of this.items) {
        let g = groups.get(r.meta.namespace);
        if (!g) groups.set(r.meta.namespace, (g = []));
        g.push(r);
      }
      this.#byNamespace = new Map([...groups].map(([ns, list]) => [ns, Object.freeze(list)]));
    }
    return this.#byNamespace.get(namespace) ?? EMPTY;
  }
}

export class Snapshot implements ConfigSnapshot {
  readonly revision: number;
  readonly size: number;
  readonly #views: ReadonlyMap<string, KindView>;
  readonly #checkKind: (kind: string) => void;

  constructor(revision: number, views: ReadonlyMap<string, KindView>, checkKind: (kind: string) => void) {
    this.revision = revision;
    this.#views = views;
    this.#checkKind = checkKind;
    let size = 0;
    for (const v of views.values()) size += v.items.length;
    this.size = size;
    Object.freeze(this);
  }

  get<Spec = unknown>(kind: string, namespace: string, name: string): ConfigResource<Spec> | undefined {
    this.#checkKind(kind);
    return this.#views.get(kind)?.get(namespace, name) as ConfigResource<Spec> | undefined;
  }

  list<Spec = unknown>(kind: string, namespace?: string): readonly ConfigResource<Spec>[] {
    this.#checkKind(kind);
    const view = this.#views.get(kind);
    if (!view) return EMPTY as readonly ConfigResource<Spec>[];
    return (
      namespace === undefined ? view.items : view.inNamespace(namespace)
    ) as readonly ConfigResource<Spec>[];
  }

  kinds(): readonly string[] {
    return [...this.#views.keys()].filter((k) => this.#views.get(k)!.items.length > 0).sort();
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
