/**
 * Several registries as one (Istio's aggregate controller): services of all of them (the
 * first registry listed wins a (hostname, namespace) several declare, as Kubernetes wins over
 * ServiceEntries in Istio when listed first), workloads and service targets of all.
 */
import type { DiscoverySnapshot, Registry, ServiceDiscovery } from './discovery.ts';
import {
  compareServices,
  compareWorkloads,
  type ProxyIdentity,
  type Service,
  type ServiceTarget,
  type Workload,
} from './model.ts';

export class AggregateRegistry implements ServiceDiscovery {
  readonly #registries: readonly ServiceDiscovery[];
  #parts: readonly DiscoverySnapshot[] = [];
  #snapshot: DiscoverySnapshot | undefined;

  constructor(registries: readonly ServiceDiscovery[]) {
    this.#registries = [...registries];
  }

  get registries(): readonly ServiceDiscovery[] {
    return this.#registries;
  }

  /** Runs every member that is a running Registry. */
  async run(signal: AbortSignal): Promise<void> {
    await Promise.all(
      this.#registries
        .filter((r): r is Registry => typeof (r as Registry).run === 'function')
        .map((r) => r.run(signal)),
    );
  }

  hasSynced(): boolean {
    return this.#registries.every(
      (r) => typeof (r as Registry).hasSynced !== 'function' || (r as Registry).hasSynced(),
    );
  }

  /** Rebuilt only when a member's snapshot changed (members hand out the same object until then). */
  snapshot(): DiscoverySnapshot {
    const parts = this.#registries.map((r) => r.snapshot());
    if (
      this.#snapshot &&
      parts.length === this.#parts.length &&
      parts.every((p, i) => p === this.#parts[i])
    ) {
      return this.#snapshot;
    }
    this.#parts = parts;
    this.#snapshot = mergeSnapshots(parts);
    return this.#snapshot;
  }
}

export function mergeSnapshots(parts: readonly DiscoverySnapshot[]): DiscoverySnapshot {
  if (parts.length === 1) return parts[0];
  const seen = new Set<string>();
  const services: Service[] = [];
  for (const p of parts) {
    for (const s of p.services) {
      const k = `${s.namespace}/${s.hostname}`;
      if (seen.has(k)) continue;
      seen.add(k);
      services.push(s);
    }
  }
  services.sort(compareServices);
  const workloads: Workload[] = parts.flatMap((p) => p.workloads);
  workloads.sort(compareWorkloads);
  return Object.freeze({
    services: Object.freeze(services),
    workloads: Object.freeze(workloads),
    getService(hostname: string, namespace?: string): Service | undefined {
      for (const p of parts) {
        const s = p.getService(hostname, namespace);
        if (s) return s;
      }
      return undefined;
    },
    serviceTargets(proxy: ProxyIdentity): readonly ServiceTarget[] {
      const out: ServiceTarget[] = [];
      const seen = new Set<string>();
      for (const p of parts) {
        for (const t of p.serviceTargets(proxy)) {
          const k = `${t.service.namespace}/${t.service.hostname}:${t.port.port}`;
          if (seen.has(k)) continue;
          seen.add(k);
          out.push(t);
        }
      }
      return out;
    },
  });
}
