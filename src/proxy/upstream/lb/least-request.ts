/**
 * LEAST_REQUEST: with equal weights, power-of-N-choices (N = choice_count, default 2): sample N
 * hosts at random, with replacement, and take the one with the fewest active requests. With
 * unequal weights, EDF where a host's effective weight is weight / (active + 1)^bias, evaluated
 * when it is re-queued (Envoy's weighted least request).
 */
import type { Host } from '../host.ts';
import {
  allWeightsEqual,
  EdfScheduler,
  type LbContext,
  type LbSettings,
  type LoadBalancer,
  registerLoadBalancer,
} from './load-balancer.ts';

export class LeastRequestLoadBalancer implements LoadBalancer {
  private readonly hosts: readonly Host[];
  private readonly choices: number;
  private readonly random: () => number;
  private readonly edf: EdfScheduler<Host> | undefined;
  private readonly bias: number;
  private readonly weightFn = (h: Host): number => this.effectiveWeight(h);

  constructor(hosts: readonly Host[], settings: LbSettings, random: () => number) {
    this.hosts = hosts;
    this.choices = Math.max(2, settings.choiceCount);
    this.random = random;
    this.bias = settings.activeRequestBias;
    if (!allWeightsEqual(hosts)) {
      this.edf = new EdfScheduler<Host>();
      for (const h of hosts) this.edf.add(h, this.effectiveWeight(h));
    }
  }

  private effectiveWeight(h: Host): number {
    if (this.bias === 0) return h.weight;
    const div = this.bias === 1 ? h.activeRequests + 1 : (h.activeRequests + 1) ** this.bias;
    return h.weight / div;
  }

  pick(_ctx: LbContext | undefined): Host | null {
    const hosts = this.hosts;
    const n = hosts.length;
    if (n === 0) return null;
    if (this.edf !== undefined) return this.edf.pickAndAdd(this.weightFn) ?? null;
    if (n === 1) return hosts[0];
    let best = hosts[Math.floor(this.random() * n)];
    for (let i = 1; i < this.choices; i++) {
      const c = hosts[Math.floor(this.random() * n)];
      if (c.activeRequests < best.activeRequests) best = c;
    }
    return best;
  }
}

registerLoadBalancer(
  'LEAST_REQUEST',
  (hosts, settings, random) => new LeastRequestLoadBalancer(hosts, settings, random),
);
