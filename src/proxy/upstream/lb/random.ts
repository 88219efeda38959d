/** RANDOM: a uniformly random host of the list (weights are not consulted, as in Envoy). */
import type { Host } from '../host.ts';
import { type LbContext, type LoadBalancer, registerLoadBalancer } from './load-balancer.ts';

export class RandomLoadBalancer implements LoadBalancer {
  private readonly hosts: readonly Host[];
  private readonly random: () => number;
  constructor(hosts: readonly Host[], random: () => number) {
    this.hosts = hosts;
    this.random = random;
  }
  pick(_ctx: LbContext | undefined): Host | null {
    const n = this.hosts.length;
    return n === 0 ? null : this.hosts[Math.floor(this.random() * n)];
  }
}

registerLoadBalancer('RANDOM', (hosts, _settings, random) => new RandomLoadBalancer(hosts, random));
