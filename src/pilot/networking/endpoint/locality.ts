/**
 * Locality load balancing relative to the proxy (Istio's loadbalancer.ApplyLocalityLoadBalancer):
 *
 * - `distribute`: the first entry whose `from` matches the proxy's locality sets each matching
 *   destination locality's weight (a wildcard destination's weight is shared by the localities
 *   it covers in proportion to their own weights); localities it does not name get no traffic.
 * - failover (only with outlier detection, or nothing would ever fail over): priority 0 for the
 *   proxy's own region/zone/subzone, 1 same zone, 2 same region, 3 other regions, 4 other
 *   regions that are not the `failover.to` of the proxy's region.
 * - `failoverPriority`: endpoints matching the proxy on every listed label first, then those
 *   matching all but the last, …; a `key=value` entry compares with the value instead of the
 *   proxy's label. Locality failover applies on top when `failover` is also set.
 * Priorities are renumbered 0..N without gaps, as Envoy requires.
 */
import type { LocalityLoadBalancerSetting } from '../../../api/networking/shared.ts';
import type { Endpoint, LocalityParts } from '../../../registry/model.ts';
import { parseLocality } from '../../../registry/model.ts';

/** One locality group while it is being built. */
export interface LocalityGroup {
  readonly locality: LocalityParts;
  readonly endpoints: readonly WeightedEndpoint[];
  weight: number;
  priority: number;
}

export interface WeightedEndpoint {
  readonly endpoint: Endpoint;
  readonly weight: number;
}

/** Istio's util.LocalityMatch: `region/zone/subzone` with `*` parts; missing parts match all. */
export function localityMatch(l: LocalityParts, rule: string): boolean {
  const r = parseLocality(rule);
  const region = r.region === '*' || l.region === r.region;
  const zone = r.zone === '*' || r.zone === '' || l.zone === r.zone;
  const subZone = r.subZone === '*' || r.subZone === '' || l.subZone === r.subZone;
  return region && zone && subZone;
}

/** Istio's util.LbPriority. */
export function localityPriority(proxy: LocalityParts, ep: LocalityParts): number {
  if (proxy.region !== ep.region) return 3;
  if (proxy.zone !== ep.zone) return 2;
  if (proxy.subZone !== ep.subZone) return 1;
  return 0;
}

export const REGION_LABEL = 'topology.kubernetes.io/region';
export const ZONE_LABEL = 'topology.kubernetes.io/zone';
export const SUBZONE_LABEL = 'topology.istio.io/subzone';
export const NETWORK_LABEL = 'topology.istio.io/network';
export const CLUSTER_LABEL = 'topology.istio.io/cluster';

/** Labels plus the topology labels Istio derives from locality, network and cluster. */
export function augmentLabels(
  labels: Readonly<Record<string, string>>,
  locality: LocalityParts,
  network: string | undefined,
  cluster: string | undefined,
): Record<string, string> {
  const out: Record<string, string> = { ...labels };
  if (locality.region) out[REGION_LABEL] ??= locality.region;
  if (locality.zone) out[ZONE_LABEL] ??= locality.zone;
  if (locality.subZone) out[SUBZONE_LABEL] ??= locality.subZone;
  if (network) out[NETWORK_LABEL] ??= network;
  if (cluster) out[CLUSTER_LABEL] ??= cluster;
  return out;
}

export interface ProxyLocalityView {
  readonly locality: LocalityParts;
  /** The proxy's labels, augmented with its topology labels. */
  readonly labels: Readonly<Record<string, string>>;
}

/**
 * Applies the setting to `groups` (mutated and returned, possibly split or filtered).
 * `enableFailover` is whether the cluster has outlier detection.
 */
export function applyLocalityLoadBalancing(
  groups: LocalityGroup[],
  proxy: ProxyLocalityView,
  setting: LocalityLoadBalancerSetting | undefined,
  enableFailover: boolean,
): LocalityGroup[] {
  if (!setting || groups.length === 0) return groups;
  if (setting.distribute?.length) return applyDistribute(groups, proxy.locality, setting.distribute);
  if (!enableFailover) return groups;
  let out = groups;
  const priorities = setting.failoverPriority ?? [];
  if (priorities.length > 0) out = applyFailoverPriority(out, proxy.labels, priorities);
  if (priorities.length === 0 || (setting.failover?.length ?? 0) > 0) {
    out = applyLocalityFailover(out, proxy.locality, setting.failover ?? []);
  }
  return out;
}

function applyDistribute(
  groups: LocalityGroup[],
  proxy: LocalityParts,
  distribute: NonNullable<LocalityLoadBalancerSetting['distribute']>,
): LocalityGroup[] {
  const rule = distribute.find((d) => localityMatch(proxy, d.from ?? ''));
  if (!rule) return groups;
  const unmatched = new Set(groups.map((_, i) => i));
  for (const [target, weight] of Object.entries(rule.to ?? {})) {
    const hits: number[] = [];
    let total = 0;
    for (const i of unmatched) {
      if (!localityMatch(groups[i].locality, target)) continue;
      hits.push(i);
      total += groups[i].weight || 1;
    }
    for (const i of hits) {
      unmatched.delete(i);
      const w = ((groups[i].weight || 1) * weight) / total;
      if (w > 0) groups[i].weight = Math.ceil(w);
    }
  }
  // Localities the rule does not send traffic to are left out.
  return groups.filter((_, i) => !unmatched.has(i));
}

function applyFailoverPriority(
  groups: LocalityGroup[],
  proxyLabels: Readonly<Record<string, string>>,
  priorities: readonly string[],
): LocalityGroup[] {
  if (Object.keys(proxyLabels).length === 0) return groups;
  const lowest = priorities.length;
  const out: LocalityGroup[] = [];
  for (const g of groups) {
    const byPriority = new Map<number, WeightedEndpoint[]>();
    for (const we of g.endpoints) {
      const e = we.endpoint;
      const labels = augmentLabels(e.labels, parseLocality(e.locality), e.network, e.clusterId);
      let priority = 0;
      for (const [j, entry] of priorities.entries()) {
        const eq = entry.indexOf('=');
        const key = eq >= 0 ? entry.slice(0, eq) : entry;
        const want = eq >= 0 ? entry.slice(eq + 1) : proxyLabels[key];
        if (want !== labels[key]) {
          priority = lowest - j;
          break;
        }
      }
      let list = byPriority.get(priority);
      if (!list) byPriority.set(priority, (list = []));
      list.push(we);
    }
    for (const p of [...byPriority.keys()].sort((a, b) => a - b)) {
      const eps = byPriority.get(p) as WeightedEndpoint[];
      out.push({
        locality: g.locality,
        endpoints: eps,
        weight: eps.reduce((s, x) => s + x.weight, 0),
        priority: p,
      });
    }
  }
  return renumber(out);
}

function applyLocalityFailover(
  groups: LocalityGroup[],
  proxy: LocalityParts,
  failover: NonNullable<LocalityLoadBalancerSetting['failover']>,
): LocalityGroup[] {
  for (const g of groups) {
    let p = localityPriority(proxy, g.locality);
    if (p === 3) {
      const f = failover.find((x) => x.from === proxy.region);
      if (f && g.locality.region !== f.to) p = 4;
    }
    // Keep what failoverPriority decided as the major order.
    g.priority = g.priority * 5 + p;
  }
  return renumber(groups);
}

function renumber(groups: LocalityGroup[]): LocalityGroup[] {
  const used = [...new Set(groups.map((g) => g.priority))].sort((a, b) => a - b);
  const map = new Map(used.map((p, i) => [p, i]));
  for (const g of groups) g.priority = map.get(g.priority) as number;
  return groups;
}
