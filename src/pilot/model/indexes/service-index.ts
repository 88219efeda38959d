/**
 * Services of one push, indexed by host name, and which of them each namespace may see
 * (exportTo, with the mesh's defaultServiceExportTo for services that set none).
 */
import type { MeshConfig } from '../../../api/mesh/mesh-config.ts';
import type { DiscoverySnapshot } from '../../../registry/discovery.ts';
import { type Service, serviceVisibleTo } from '../../../registry/model.ts';
import type { PushWarning } from '../push-context.ts';

export class ServiceIndex {
  /** Every service, sorted by hostname, then namespace. */
  readonly all: readonly Service[];
  readonly warnings: readonly PushWarning[] = [];
  readonly #byHostname = new Map<string, Service[]>();
  readonly #defaults: readonly string[];
  readonly #visible = new Map<string, readonly Service[]>();

  constructor(registry: DiscoverySnapshot, mesh: MeshConfig) {
    this.all = registry.services;
    this.#defaults = mesh.defaultServiceExportTo;
    for (const s of this.all) {
      let list = this.#byHostname.get(s.hostname);
      if (!list) this.#byHostname.set(s.hostname, (list = []));
      list.push(s);
    }
    // Istio resolves duplicates oldest first.
    for (const list of this.#byHostname.values()) list.sort(compareAge);
  }

  /** Services named `hostname` in any namespace, oldest first. */
  byHostname(hostname: string): readonly Service[] {
    return this.#byHostname.get(hostname) ?? [];
  }

  isVisible(service: Service, namespace: string): boolean {
    return serviceVisibleTo(service, namespace, this.#defaults);
  }

  /**
   * Services `namespace` may see, one per host name: the one declared in `namespace` when
   * there is one, else the oldest visible one.
   */
  visibleTo(namespace: string): readonly Service[] {
    let out = this.#visible.get(namespace);
    if (out) return out;
    const list: Service[] = [];
    for (const [hostname, candidates] of this.#byHostname) {
      const s = this.#pick(hostname, candidates, namespace);
      if (s) list.push(s);
    }
    list.sort((a, b) => (a.hostname < b.hostname ? -1 : a.hostname > b.hostname ? 1 : 0));
    out = Object.freeze(list);
    this.#visible.set(namespace, out);
    return out;
  }

  /** The service named `hostname` that `namespace` sees (see visibleTo). */
  serviceForHostname(hostname: string, namespace: string): Service | undefined {
    const candidates = this.#byHostname.get(hostname);
    return candidates ? this.#pick(hostname, candidates, namespace) : undefined;
  }

  /** The service named `hostname` declared in `namespace`, visible or not. */
  serviceInNamespace(hostname: string, namespace: string): Service | undefined {
    return this.#byHostname.get(hostname)?.find((s) => s.namespace === namespace);
  }

  #pick(_hostname: string, candidates: readonly Service[], namespace: string): Service | undefined {
    let first: Service | undefined;
    for (const s of candidates) {
      if (!this.isVisible(s, namespace)) continue;
      if (s.namespace === namespace) return s;
      first ??= s;
    }
    return first;
  }
}

function compareAge(a: Service, b: Service): number {
  const at = a.creationTimestamp ?? '';
  const bt = b.creationTimestamp ?? '';
  if (at !== bt) return at < bt ? -1 : 1;
  if (a.namespace !== b.namespace) return a.namespace < b.namespace ? -1 : 1;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}
