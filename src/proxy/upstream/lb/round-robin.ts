/**
 * ROUND_ROBIN: plain rotation when all weights are equal (starting at a random index, as
 * Envoy does so workers do not move in lockstep), weighted EDF otherwise.
 */
import type { Host } from '../host.ts';
import {
  allWeightsEqual,
  EdfScheduler,
  type LbContext,
  type LoadBalancer,
  registerLoadBalancer,
} from './load-balancer.ts';

export class RoundRobinLoadBalancer implements LoadBalancer {
  private readonly hosts: readonly Host[];
  private next: number;
  private readonly edf: EdfScheduler<Host> | undefined;

  constructor(hosts: readonly Host[], random: () => number) {
    this.hosts = hosts;
    this.next = hosts.length > 0 ? Math.floor(random() * hosts.length) : 0;
    if (!allWeightsEqual(hosts)) {
      this.edf = new EdfScheduler<Host>();
      for (const h of hosts) this.edf.add(h, h.weight);
      // Advance by a random number of picks so workers start at different points of the cycle.
      const skip = Math.floor(random() * hosts.length);
      for (let i = 0; i < skip; i++) this.edf.pickAndAdd(weightOf);
    }
  }

  pick(_ctx: LbContext | undefined): Host | null {
    const hosts = this.hosts;
    if (hosts.length === 0) return null;
    if (this.edf !== undefined) return this.edf.pickAndAdd(weightOf) ?? null;
    const h = hosts[this.next];
    this.next = this.next + 1 === hosts.length ? 0 : this.next + 1;
    return h;
  }
}

function weightOf(h: Host): number {
  return h.weight;
}

registerLoadBalancer('ROUND_ROBIN', (hosts, _settings, random) => new RoundRobinLoadBalancer(hosts, random));
