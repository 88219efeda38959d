/**
 * VirtualServices of one push: normalized once (short host names -> FQDNs relative to the
 * VirtualService's namespace, gateway names -> `namespace/name` or `mesh`), delegates merged
 * into the routes of their root (Istio's mergeVirtualServicesIfNeeded), and indexed by gateway
 * with exportTo visibility (the mesh's defaultVirtualServiceExportTo when unset).
 */
import type { MeshConfig } from '../../../api/mesh/mesh-config.ts';
import type { Destination, StringMatch } from '../../../api/networking/shared.ts';
import type { HTTPMatchRequest, HTTPRoute, VirtualService } from '../../../api/networking/virtual-service.ts';
import { type ConfigResource, configKey } from '../../../api/resource.ts';
import type { ConfigReader } from '../../../config/snapshot.ts';
import { hostsMatch, resolveShortnameToFqdn } from '../../../registry/host.ts';
import { exportToAllows, resolveExportTo } from '../../../registry/model.ts';
import type { PushWarning } from '../push-context.ts';

/** The implicit gateway of every sidecar. */
export const MESH_GATEWAY = 'mesh';

/**
 * A VirtualService as the index hands it out: a new object whose spec has FQDN hosts and
 * destinations, `namespace/name` gateways (also in matches), and delegates merged into `http`.
 * `gateways` is never empty (`[mesh]` when the source had none).
 */
export type VirtualServiceConfig = ConfigResource<VirtualService>;

const VS_KIND = 'VirtualService';

/** Istio's resolveGatewayName: `name` and `./name` -> `ns/name`; `name.ns.svc...` -> `ns/name`. */
export function resolveGatewayName(gateway: string, namespace: string): string {
  if (gateway === MESH_GATEWAY) return gateway;
  const slash = gateway.indexOf('/');
  if (slash >= 0)
    return gateway.slice(0, slash) === '.' ? `${namespace}/${gateway.slice(slash + 1)}` : gateway;
  const dot = gateway.indexOf('.');
  if (dot < 0) return `${namespace}/${gateway}`;
  const rest = gateway.slice(dot + 1);
  const next = rest.indexOf('.');
  return `${next < 0 ? rest : rest.slice(0, next)}/${gateway.slice(0, dot)}`;
}

interface Entry {
  readonly vs: VirtualServiceConfig;
  readonly exportTo: ReadonlySet<string>;
}

export class VirtualServiceIndex {
  readonly warnings: PushWarning[] = [];
  /** Root (non-delegate) VirtualServices, in creation order. */
  readonly all: readonly VirtualServiceConfig[];
  /**
   * Whether any route matches on `sourceLabels` (http, tcp or tls): only then can two proxies
   * that differ only in labels get different routes or listeners, so generators cache by label
   * only when this is true.
   */
  readonly usesSourceLabels: boolean;
  readonly #byGateway = new Map<string, Entry[]>();
  readonly #visible = new Map<string, readonly VirtualServiceConfig[]>();

  constructor(config: ConfigReader, mesh: MeshConfig, domainSuffix: string) {
    const raw = [...config.list<VirtualService>(VS_KIND)].sort(compareAge);
    const defaults = mesh.defaultVirtualServiceExportTo;
    // Delegates are VirtualServices without hosts; roots refer to them by name.
    const delegates = new Map<string, ConfigResource<VirtualService>>();
    for (const vs of raw)
      if ((vs.spec.hosts ?? []).length === 0) delegates.set(`${vs.meta.namespace}/${vs.meta.name}`, vs);
    const all: VirtualServiceConfig[] = [];
    for (const vs of raw) {
      if ((vs.spec.hosts ?? []).length === 0) continue;
      const normalized = this.#normalize(vs, delegates, defaults, domainSuffix);
      all.push(normalized);
      const exportTo = resolveExportTo(vs.spec.exportTo ?? defaults, vs.meta.namespace);
      for (const gw of normalized.spec.gateways ?? []) {
        let list = this.#byGateway.get(gw);
        if (!list) this.#byGateway.set(gw, (list = []));
        list.push({ vs: normalized, exportTo });
      }
    }
    this.all = Object.freeze(all);
    this.usesSourceLabels = all.some(hasSourceLabels);
  }

  /** VirtualServices bound to `gateway` that `namespace` may see, in creation order. */
  forGateway(namespace: string, gateway: string): readonly VirtualServiceConfig[] {
    const key = `${namespace}|${gateway}`;
    let out = this.#visible.get(key);
    if (!out) {
      out = Object.freeze(
        (this.#byGateway.get(gateway) ?? [])
          .filter((e) => exportToAllows(e.exportTo, e.vs.meta.namespace, namespace))
          .map((e) => e.vs),
      );
      this.#visible.set(key, out);
    }
    return out;
  }

  /** forGateway narrowed to VirtualServices with a host matching `hostname`. */
  forHost(
    namespace: string,
    hostname: string,
    gateway: string = MESH_GATEWAY,
  ): readonly VirtualServiceConfig[] {
    return this.forGateway(namespace, gateway).filter((vs) =>
      (vs.spec.hosts ?? []).some((h) => hostsMatch(h, hostname)),
    );
  }

  /** Every gateway name some VirtualService binds to. */
  gateways(): readonly string[] {
    return [...this.#byGateway.keys()].sort();
  }

  #normalize(
    vs: ConfigResource<VirtualService>,
    delegates: ReadonlyMap<string, ConfigResource<VirtualService>>,
    defaults: readonly string[],
    suffix: string,
  ): VirtualServiceConfig {
    const ns = vs.meta.namespace;
    const spec = vs.spec;
    const gateways = (spec.gateways?.length ? spec.gateways : [MESH_GATEWAY]).map((g) =>
      resolveGatewayName(g, ns),
    );
    const http: HTTPRoute[] = [];
    for (const [i, route] of (spec.http ?? []).entries()) {
      if (!route.delegate) {
        http.push(normalizeHttpRoute(route, ns, suffix));
        continue;
      }
      const dNs = route.delegate.namespace || ns;
      const dName = route.delegate.name ?? '';
      const delegate = delegates.get(`${dNs}/${dName}`);
      if (!delegate) {
        this.warnings.push({
          config: configKey(vs),
          message: `http[${i}].delegate: VirtualService ${dNs}/${dName} does not exist or has hosts; the route is dropped`,
        });
        continue;
      }
      const dExport = resolveExportTo(delegate.spec.exportTo ?? defaults, dNs);
      if (!exportToAllows(dExport, dNs, ns)) {
        this.warnings.push({
          config: configKey(vs),
          message: `http[${i}].delegate: VirtualService ${dNs}/${dName} is not exported to namespace ${ns}; the route is dropped`,
        });
        continue;
      }
      const root = normalizeHttpRoute(route, ns, suffix);
      for (const [j, leaf] of (delegate.spec.http ?? []).entries()) {
        if (leaf.delegate) {
          this.warnings.push({
            config: configKey(delegate),
            message: `http[${j}].delegate: a delegate VirtualService cannot delegate again; the route is dropped`,
          });
          continue;
        }
        const merged = mergeHttpRoute(root, normalizeHttpRoute(leaf, dNs, suffix));
        if (merged) http.push(merged);
        else {
          this.warnings.push({
            config: configKey(delegate),
            message: `http[${j}]: its matches conflict with the matches of root ${ns}/${vs.meta.name} http[${i}]; the route is dropped`,
          });
        }
      }
    }
    const out: VirtualService = {
      ...spec,
      hosts: (spec.hosts ?? []).map((h) => resolveShortnameToFqdn(h, ns, suffix)),
      gateways,
      ...(spec.http ? { http } : {}),
      ...(spec.tcp
        ? {
            tcp: spec.tcp.map((r) => ({
              ...r,
              ...(r.match ? { match: r.match.map((m) => ({ ...m, ...gatewaysOf(m.gateways, ns) })) } : {}),
              ...(r.route
                ? {
                    route: r.route.map((d) => ({
                      ...d,
                      destination: fqdnDestination(d.destination, ns, suffix),
                    })),
                  }
                : {}),
            })),
          }
        : {}),
      ...(spec.tls
        ? {
            tls: spec.tls.map((r) => ({
              ...r,
              match: r.match.map((m) => ({ ...m, ...gatewaysOf(m.gateways, ns) })),
              ...(r.route
                ? {
                    route: r.route.map((d) => ({
                      ...d,
                      destination: fqdnDestination(d.destination, ns, suffix),
                    })),
                  }
                : {}),
            })),
          }
        : {}),
    };
    return Object.freeze({ ...vs, spec: out });
  }
}

function gatewaysOf(gateways: readonly string[] | undefined, ns: string): { gateways?: string[] } {
  return gateways ? { gateways: gateways.map((g) => resolveGatewayName(g, ns)) } : {};
}

function fqdnDestination(d: Destination, ns: string, suffix: string): Destination {
  return { ...d, host: resolveShortnameToFqdn(d.host, ns, suffix) };
}

function normalizeHttpRoute(route: HTTPRoute, ns: string, suffix: string): HTTPRoute {
  return {
    ...route,
    ...(route.match ? { match: route.match.map((m) => ({ ...m, ...gatewaysOf(m.gateways, ns) })) } : {}),
    ...(route.route
      ? { route: route.route.map((d) => ({ ...d, destination: fqdnDestination(d.destination, ns, suffix) })) }
      : {}),
    ...(route.mirror ? { mirror: fqdnDestination(route.mirror, ns, suffix) } : {}),
    ...(route.mirrors
      ? {
          mirrors: route.mirrors.map((m) => ({
            ...m,
            destination: fqdnDestination(m.destination, ns, suffix),
          })),
        }
      : {}),
  };
}

/**
 * A delegate's route under its root's (Istio's mergeHTTPRoute): matches merged (every
 * delegate match must fit inside some root match), and whatever the delegate leaves unset
 * taken from the root. Undefined when the matches conflict.
 */
export function mergeHttpRoute(root: HTTPRoute, leaf: HTTPRoute): HTTPRoute | undefined {
  const match = mergeMatches(root.match ?? [], leaf.match ?? []);
  if (match === undefined) return undefined;
  const out: HTTPRoute = { ...leaf };
  if (match.length > 0) out.match = match;
  else delete out.match;
  if (!leaf.name) {
    if (root.name) out.name = root.name;
  } else if (root.name) out.name = `${root.name}-${leaf.name}`;
  const inherit = [
    'rewrite',
    'directResponse',
    'timeout',
    'retries',
    'fault',
    'mirror',
    'mirrors',
    'mirrorPercent',
    'mirror_percent',
    'mirrorPercentage',
    'corsPolicy',
    'headers',
  ] as const;
  const target = out as Record<string, unknown>;
  for (const k of inherit) if (leaf[k] === undefined && root[k] !== undefined) target[k] = root[k];
  return out;
}

function mergeMatches(
  root: readonly HTTPMatchRequest[],
  leaf: readonly HTTPMatchRequest[],
): HTTPMatchRequest[] | undefined {
  if (root.length === 0) return [...leaf];
  if (leaf.length === 0) return [...root];
  const out: HTTPMatchRequest[] = [];
  for (const sub of leaf) {
    let found = false;
    for (const r of root) {
      if (matchConflict(r, sub)) continue;
      out.push(mergeMatch(r, sub));
      found = true;
    }
    if (!found) return undefined;
  }
  return out.length > 0 ? out : undefined;
}

function mergeMatch(root: HTTPMatchRequest, leaf: HTTPMatchRequest): HTTPMatchRequest {
  const out: HTTPMatchRequest = { ...leaf };
  if (!leaf.name) {
    if (root.name) out.name = root.name;
  } else if (root.name) out.name = `${root.name}-${leaf.name}`;
  for (const k of ['uri', 'scheme', 'method', 'authority'] as const)
    if (!leaf[k] && root[k]) out[k] = root[k];
  for (const k of ['headers', 'withoutHeaders', 'queryParams', 'sourceLabels'] as const) {
    if (root[k] || leaf[k]) (out as Record<string, unknown>)[k] = { ...root[k], ...leaf[k] };
  }
  if (!leaf.port && root.port) out.port = root.port;
  if (!leaf.sourceNamespace && root.sourceNamespace) out.sourceNamespace = root.sourceNamespace;
  if (!leaf.gateways?.length && root.gateways) out.gateways = root.gateways;
  if (!leaf.statPrefix && root.statPrefix) out.statPrefix = root.statPrefix;
  return out;
}

function matchConflict(root: HTTPMatchRequest, leaf: HTTPMatchRequest): boolean {
  for (const k of ['uri', 'scheme', 'method', 'authority'] as const)
    if (stringMatchConflict(root[k], leaf[k])) return true;
  for (const k of ['headers', 'withoutHeaders', 'queryParams'] as const) {
    for (const [name, m] of Object.entries(leaf[k] ?? {}))
      if (stringMatchConflict(root[k]?.[name], m)) return true;
  }
  if ((root.ignoreUriCase ?? false) !== (leaf.ignoreUriCase ?? false)) return true;
  if (root.port && leaf.port && root.port !== leaf.port) return true;
  if (root.sourceNamespace && leaf.sourceNamespace !== root.sourceNamespace) return true;
  for (const [k, v] of Object.entries(leaf.sourceLabels ?? {})) {
    const rv = root.sourceLabels?.[k];
    if (rv !== undefined && rv !== v) return true;
  }
  const rg = root.gateways ?? [];
  const lg = leaf.gateways ?? [];
  if (rg.length > 0 && lg.length > 0 && !lg.every((g) => rg.includes(g))) return true;
  return false;
}

/** Istio's stringMatchConflict: the leaf must be as narrow as the root. */
function stringMatchConflict(root: StringMatch | undefined, leaf: StringMatch | undefined): boolean {
  if (!root || !leaf) return false;
  if (root.regex !== undefined) return true;
  if (leaf.regex !== undefined) return true;
  if (root.exact !== undefined) return leaf.exact !== root.exact;
  if (root.prefix !== undefined) {
    if (leaf.prefix !== undefined) return !leaf.prefix.startsWith(root.prefix);
    if (leaf.exact !== undefined) return !leaf.exact.startsWith(root.prefix);
  }
  return true;
}

function compareAge(a: ConfigResource, b: ConfigResource): number {
  const at = a.meta.creationTimestamp ?? '';
  const bt = b.meta.creationTimestamp ?? '';
  if (at !== bt) return at < bt ? -1 : 1;
  if (a.meta.namespace !== b.meta.namespace) return a.meta.namespace < b.meta.namespace ? -1 : 1;
  return a.meta.name < b.meta.name ? -1 : a.meta.name > b.meta.name ? 1 : 0;
}

function hasSourceLabels(vs: VirtualServiceConfig): boolean {
  const some = (matches: readonly { sourceLabels?: Readonly<Record<string, string>> }[] | undefined) =>
    (matches ?? []).some((m) => Object.keys(m.sourceLabels ?? {}).length > 0);
  const { http, tcp, tls } = vs.spec;
  return (
    (http ?? []).some((r) => some(r.match)) ||
    (tcp ?? []).some((r) => some(r.match)) ||
    (tls ?? []).some((r) => some(r.match))
  );
}
