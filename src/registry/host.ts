/**
 * Host names as Istio compares them (pkg/config/host): exact names, `*.suffix` wildcards and
 * the lone `*`; short names resolved to FQDNs relative to a namespace; and the most specific
 * match among a set of rule hosts.
 */

/** The DNS domain of in-mesh service names, as Istio's default `cluster.local`. */
export const DEFAULT_DOMAIN_SUFFIX = 'cluster.local';

export function isWildcardHost(h: string): boolean {
  return h.startsWith('*');
}

/**
 * True when the two hosts can name the same service: equal, or one wildcard covers the other
 * (Istio's host.Name.Matches; symmetric).
 */
export function hostsMatch(a: string, b: string): boolean {
  const aw = isWildcardHost(a);
  const bw = isWildcardHost(b);
  if (aw && bw) {
    return a.length < b.length ? b.slice(1).endsWith(a.slice(1)) : a.slice(1).endsWith(b.slice(1));
  }
  if (aw) return b.endsWith(a.slice(1));
  if (bw) return a.endsWith(b.slice(1));
  return a === b;
}

/** True when every name `h` covers is also covered by `of` (Istio's host.Name.SubsetOf). */
export function hostSubsetOf(h: string, of: string): boolean {
  if (isWildcardHost(of)) {
    if (isWildcardHost(h)) return h.length >= of.length && h.slice(1).endsWith(of.slice(1));
    return h.endsWith(of.slice(1));
  }
  if (isWildcardHost(h)) return false;
  return h === of;
}

/**
 * Resolves a short name (`reviews`) to `reviews.<namespace>.svc.<suffix>`, as Istio does for
 * hosts in VirtualServices, DestinationRules and Sidecars. FQDNs, wildcards and IPs are kept.
 */
export function resolveShortnameToFqdn(
  host: string,
  namespace: string,
  domainSuffix: string = DEFAULT_DOMAIN_SUFFIX,
): string {
  if (host === '*' || host.includes('.') || host.includes(':')) return host;
  if (isWildcardHost(host)) return host;
  return `${host}.${namespace}.svc.${domainSuffix}`;
}

/**
 * The most specific of `hosts` that matches `needle` (Istio's MostSpecificHostMatch): an exact
 * entry first, else the longest wildcard that covers it. Undefined when none matches.
 */
export function mostSpecificHostMatch(needle: string, hosts: Iterable<string>): string | undefined {
  let best: string | undefined;
  for (const h of hosts) {
    if (h === needle) return h;
    if (!hostsMatch(needle, h)) continue;
    if (best === undefined || compareHostSpecificity(h, best) < 0) best = h;
  }
  return best;
}

/** Sorts hosts the way Istio orders them for matching: exact names before wildcards, then longer first. */
export function compareHostSpecificity(a: string, b: string): number {
  const aw = isWildcardHost(a);
  const bw = isWildcardHost(b);
  if (aw !== bw) return aw ? 1 : -1;
  if (a.length !== b.length) return b.length - a.length;
  return a < b ? -1 : a > b ? 1 : 0;
}
