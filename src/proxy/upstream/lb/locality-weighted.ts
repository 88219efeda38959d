/**
 * Locality-weighted balancing (common_lb_config.locality_weighted_lb_config), a layer over any
 * endpoint balancer: a locality is chosen first, by EDF over its effective weight —
 * load_balancing_weight × its healthy share scaled by the overprovisioning factor (capped at
 * 1), as Envoy computes it — then the policy's balancer picks a host inside that locality.
 * Localities with no weight or no healthy host take no load. When no locality can take load,
 * the flat balancer over all the given hosts is used (Envoy falls back the same way).
 */
import type { Host } from '../host.ts';
import {
  EdfScheduler,
  type LbContext,
  type LbSettings,
  type LoadBalancer,
  type LoadBalancerFactory,
} from './load-balancer.ts';

export interface LocalityHosts {
  /** load_balancing_weight of the locality (0 = unset: no load). */
  readonly weight: number;
  /** Every host of the locality in this priority. */
  readonly hosts: readonly Host[];
  /** The hosts eligible for picking (healthy ones). */
  readonly eligible: readonly Host[];
}

interface WeightedLocality {
  readonly effectiveWeight: number;
  readonly lb: LoadBalancer;
}

export class LocalityWeightedLoadBalancer implements LoadBalancer {
  private readonly localities: WeightedLocality[] = [];
  private readonly edf = new EdfScheduler<WeightedLocality>();
  private readonly fallback: LoadBalancer;

  constructor(
    localities: readonly LocalityHosts[],
    fallbackHosts: readonly Host[],
    factory: LoadBalancerFactory,
    settings: LbSettings,
    random: () => number,
    overprovisioningFactor: number,
  ) {
    this.fallback = factory(fallbackHosts, settings, random);
    for (const l of localities) {
      const w = effectiveLocalityWeight(l, overprovisioningFactor);
      if (w <= 0) continue;
      const wl = { effectiveWeight: w, lb: factory(l.eligible, settings, random) };
      this.localities.push(wl);
      this.edf.add(wl, w);
    }
    // Start at a random point of the cycle so processes do not move in lockstep.
    const skip = Math.floor(random() * this.localities.length);
    for (let i = 0; i < skip; i++) this.edf.pickAndAdd(effectiveWeightOf);
  }

  pick(ctx: LbContext | undefined): Host | null {
    if (this.localities.length === 0) return this.fallback.pick(ctx);
    const l = this.edf.pickAndAdd(effectiveWeightOf)!;
    return l.lb.pick(ctx);
  }
}

/** weight × min(1, healthy/total × overprovisioning%). */
export function effectiveLocalityWeight(l: LocalityHosts, overprovisioningFactor: number): number {
  if (l.weight <= 0 || l.hosts.length === 0) return 0;
  const availability = Math.min(1, (l.eligible.length * overprovisioningFactor) / 100 / l.hosts.length);
  return l.weight * availability;
}

function effectiveWeightOf(l: WeightedLocality): number {
  return l.effectiveWeight;
}
