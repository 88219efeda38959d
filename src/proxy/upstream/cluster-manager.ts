/**
 * The cluster manager: every cluster by name, created, updated and removed as CDS changes
 * (removed clusters drain their pools), endpoint updates for EDS clusters, and the lookup the
 * router and tcp_proxy do per request (one Map.get).
 */
import type { StatsStore } from '../stats/store.ts';
import { Cluster, type ClusterConfig, type ClusterRuntimeOptions, type LoadAssignment } from './cluster.ts';

export class ClusterManager {
  readonly stats: StatsStore;
  private readonly clusters = new Map<string, Cluster>();
  private readonly options: ClusterRuntimeOptions;
  /** Endpoints that arrived before their cluster (EDS can race CDS): applied on creation. */
  private readonly pendingAssignments = new Map<string, LoadAssignment>();

  constructor(stats: StatsStore, options: ClusterRuntimeOptions = {}) {
    this.stats = stats;
    this.options = options;
  }

  get(name: string): Cluster | undefined {
    return this.clusters.get(name);
  }

  has(name: string): boolean {
    return this.clusters.has(name);
  }

  names(): string[] {
    return [...this.clusters.keys()];
  }

  all(): IterableIterator<Cluster> {
    return this.clusters.values();
  }

  /** Adds or updates a cluster. A changed type replaces it (the old one drains). */
  addOrUpdate(config: ClusterConfig): Cluster {
    const existing = this.clusters.get(config.name);
    if (existing && existing.config.type === config.type) {
      existing.updateConfig(config);
      return existing;
    }
    existing?.drain();
    const c = new Cluster(config, this.stats, this.options);
    this.clusters.set(config.name, c);
    if (config.type === 'EDS') {
      const la = this.pendingAssignments.get(config.edsServiceName);
      if (la) {
        this.pendingAssignments.delete(config.edsServiceName);
        c.updateLoadAssignment(la);
      }
    }
    return c;
  }

  remove(name: string): boolean {
    const c = this.clusters.get(name);
    if (!c) return false;
    this.clusters.delete(name);
    c.drain();
    return true;
  }

  /** Applies EDS endpoints to every EDS cluster whose service name is `serviceName`. */
  updateEndpoints(serviceName: string, la: LoadAssignment): number {
    let n = 0;
    for (const c of this.clusters.values()) {
      if (c.config.type === 'EDS' && c.config.edsServiceName === serviceName) {
        c.updateLoadAssignment(la);
        n++;
      }
    }
    if (n === 0) this.pendingAssignments.set(serviceName, la);
    return n;
  }

  /** Closes every connection and stops every timer. */
  destroy(): void {
    for (const c of this.clusters.values()) c.destroy();
    this.clusters.clear();
  }

  /** Drains every cluster; calls back when all pools are empty. */
  drain(onDrained?: () => void): void {
    const list = [...this.clusters.values()];
    let left = list.length;
    if (left === 0) {
      onDrained?.();
      return;
    }
    for (const c of list) {
      c.drain(() => {
        if (--left === 0) onDrained?.();
      });
    }
  }
}
