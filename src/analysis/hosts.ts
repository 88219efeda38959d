/**
 * Istio's host-name rules as the analyzers need them: short names resolved against the
 * namespace of the object that wrote them, wildcard matching, `exportTo` visibility and
 * gateway references (`name`, `ns/name`, legacy `name.ns...`, the reserved `mesh`).
 */

import { MESH_GATEWAY } from '../api/networking/validate-virtual-service.ts';

/** The reserved gateway name for all sidecars of the mesh. */
export { MESH_GATEWAY };

export const CLUSTER_DOMAIN = 'cluster.local';

/**
 * `reviews` written in namespace `default` means `reviews.default.svc.cluster.local`; names
 * with a dot, wildcards and IP addresses are taken as written (Istio does the same, so
 * `reviews.default` stays as it is and matches nothing).
 */
export function toFqdn(host: string, namespace: string): string {
  const h = host.toLowerCase();
  if (h === '' || h.startsWith('*') || h.includes('.') || h.includes(':')) return h;
  return `${h}.${namespace}.svc.${CLUSTER_DOMAIN}`;
}

export function isWildcard(host: string): boolean {
  return host.startsWith('*');
}

/** Whether two hosts, either of which may be a wildcard, have a name in common. */
export function hostsIntersect(a: string, b: string): boolean {
  const aw = isWildcard(a);
  const bw = isWildcard(b);
  if (aw && bw) {
    const as = a.slice(1);
    const bs = b.slice(1);
    return as.length < bs.length ? bs.endsWith(as) : as.endsWith(bs);
  }
  if (aw) return b.endsWith(a.slice(1));
  if (bw) return a.endsWith(b.slice(1));
  return a === b;
}

/** Whether every name `a` stands for is also a name of `b`. */
export function hostSubsetOf(a: string, b: string): boolean {
  if (isWildcard(b)) return isWildcard(a) ? a.slice(1).endsWith(b.slice(1)) : a.endsWith(b.slice(1));
  return !isWildcard(a) && a === b;
}

/**
 * Wildcards that could cover `host`: `*.b.c` and `*.c` and `*` for `a.b.c` (and for
 * `*.b.c` itself). Lets an index of wildcard hosts be probed in O(labels), not O(n).
 */
export function wildcardCandidates(host: string): string[] {
  if (host === '*') return ['*'];
  const out: string[] = [];
  const bare = isWildcard(host) ? host.slice(2) : host;
  if (isWildcard(host)) out.push(host);
  let rest = bare;
  for (;;) {
    const dot = rest.indexOf('.');
    if (dot < 0) break;
    rest = rest.slice(dot + 1);
    out.push(`*.${rest}`);
  }
  out.push('*');
  return out;
}

/**
 * Who may see an object, from its `exportTo`: "*" all namespaces, "." its own, "~" none,
 * or namespace names. Absent means "*" (Istio's default without mesh-config overrides).
 */
export class Visibility {
  readonly all: boolean;
  readonly namespaces: ReadonlySet<string>;
  constructor(exportTo: readonly string[] | undefined, ownNamespace: string) {
    const list = exportTo && exportTo.length > 0 ? exportTo : ['*'];
    this.all = list.includes('*');
    const ns = new Set<string>();
    for (const v of list) {
      if (v === '.') ns.add(ownNamespace);
      else if (v !== '*' && v !== '~') ns.add(v);
    }
    this.namespaces = ns;
  }
  visibleFrom(namespace: string): boolean {
    return this.all || this.namespaces.has(namespace);
  }
  /** Whether some namespace sees both. */
  overlaps(other: Visibility): boolean {
    if (this.all) return other.all || other.namespaces.size > 0;
    if (other.all) return this.namespaces.size > 0;
    for (const n of this.namespaces) if (other.namespaces.has(n)) return true;
    return false;
  }
}

/** `ns/name` of the Gateway a VirtualService (or Sidecar...) in `namespace` refers to. */
export function resolveGatewayName(ref: string, namespace: string): string {
  const slash = ref.indexOf('/');
  if (slash >= 0) {
    const ns = ref.slice(0, slash);
    return `${ns === '.' ? namespace : ns}/${ref.slice(slash + 1)}`;
  }
  // Legacy form `name.namespace[.svc.cluster.local]`.
  const parts = ref.split('.');
  if (parts.length >= 2) return `${parts[1]}/${parts[0]}`;
  return `${namespace}/${ref}`;
}

/** A Gateway server host `ns/host` split; without a namespace part it is `*` (any). */
export function splitNamespacedHost(value: string): { namespace: string; host: string } {
  const slash = value.indexOf('/');
  if (slash < 0) return { namespace: '*', host: value.toLowerCase() };
  return { namespace: value.slice(0, slash), host: value.slice(slash + 1).toLowerCase() };
}
