/**
 * Reading an Envoy admin `/config_dump` (mizzen-proxy's or Envoy's) and mizzend's
 * `/debug/config_dump` into the rows of `mizzenctl proxy-config`'s tables, with istioctl's
 * columns and filters. Resources are first brought to proto3 JSON: mizzen-proxy dumps them as
 * decoded protobuf objects (durations as {seconds, nanos}, oneof member names), Envoy and
 * mizzend as proto3 JSON; after `normalizeResource` both read, and compare, the same.
 */
import { X509Certificate } from 'node:crypto';
import { canonicalStringify, toProto3Json } from '../../lib/xds/canonical-json.ts';
import { hasMessageType } from '../../lib/xds/protos.ts';
import { HTTP_CONNECTION_MANAGER_TYPE_URL, TCP_PROXY_TYPE_URL } from '../../lib/xds/type-urls.ts';

export type Json = Record<string, unknown>;

const ADMIN = 'type.googleapis.com/envoy.admin.v3.';

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const obj = (v: unknown): Json => (isObject(v) ? v : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '');

/**
 * proto3 JSON of one resource carrying `@type`. A decoded protobuf object converts; a resource
 * already in proto3 JSON (which the decoded form's checks refuse) is returned as it is.
 */
export function normalizeResource(resource: unknown): Json {
  if (!isObject(resource)) return {};
  const { '@type': type, ...rest } = resource;
  if (typeof type !== 'string' || !hasMessageType(type)) return resource;
  try {
    return { '@type': type, ...(toProto3Json(type, rest) as Json) };
  } catch {
    return resource;
  }
}

export interface SecretEntry {
  readonly name: string;
  readonly state: 'ACTIVE' | 'WARMING';
  readonly secret: Json;
}

/** What a config dump holds, resources in proto3 JSON. */
export interface DumpView {
  readonly bootstrap?: Json;
  readonly clusters: Json[];
  readonly listeners: Json[];
  readonly routes: Json[];
  readonly endpoints: Json[];
  readonly secrets: SecretEntry[];
  /** The resources that come from the bootstrap (static_*), not from xDS. */
  readonly statics: ReadonlySet<Json>;
  /** The sections the dump has (mizzend's has only the types the proxy subscribes to). */
  readonly present: ReadonlySet<DumpSection>;
  /** The config dump as given, for `-o json` of `all`. */
  readonly raw: Json;
}

export type DumpSection = 'clusters' | 'listeners' | 'routes' | 'endpoints' | 'secrets';
const SECTIONS: Readonly<Record<string, DumpSection>> = {
  [`${ADMIN}ClustersConfigDump`]: 'clusters',
  [`${ADMIN}ListenersConfigDump`]: 'listeners',
  [`${ADMIN}RoutesConfigDump`]: 'routes',
  [`${ADMIN}EndpointsConfigDump`]: 'endpoints',
  [`${ADMIN}SecretsConfigDump`]: 'secrets',
};

export function readConfigDump(dump: unknown): DumpView {
  const present = new Set<DumpSection>();
  const statics = new Set<Json>();
  const keep = (list: Json[], resource: unknown, isStatic: boolean) => {
    const r = normalizeResource(resource);
    if (isStatic) statics.add(r);
    list.push(r);
  };
  const view: DumpView = {
    statics,
    clusters: [],
    listeners: [],
    routes: [],
    endpoints: [],
    secrets: [],
    present,
    raw: obj(dump),
  };
  let bootstrap: Json | undefined;
  for (const section of arr(obj(dump).configs)) {
    const s = obj(section);
    const known = SECTIONS[str(s['@type'])];
    if (known) present.add(known);
    switch (s['@type']) {
      case `${ADMIN}BootstrapConfigDump`:
        bootstrap = s;
        break;
      case `${ADMIN}ClustersConfigDump`:
        for (const c of arr(s.static_clusters)) keep(view.clusters, obj(c).cluster, true);
        for (const c of arr(s.dynamic_active_clusters)) keep(view.clusters, obj(c).cluster, false);
        break;
      case `${ADMIN}ListenersConfigDump`:
        for (const l of arr(s.static_listeners)) keep(view.listeners, obj(l).listener, true);
        for (const l of arr(s.dynamic_listeners)) {
          const active = obj(l).active_state;
          if (isObject(active)) keep(view.listeners, active.listener, false);
        }
        break;
      case `${ADMIN}RoutesConfigDump`:
        for (const r of arr(s.static_route_configs)) keep(view.routes, obj(r).route_config, true);
        for (const r of arr(s.dynamic_route_configs)) {
          const e = obj(r);
          // An entry with only an error_state names a route config that was rejected and never held.
          if (e.error_state !== undefined && e.version_info === undefined) continue;
          keep(view.routes, e.route_config, false);
        }
        break;
      case `${ADMIN}EndpointsConfigDump`:
        for (const e of arr(s.static_endpoint_configs)) keep(view.endpoints, obj(e).endpoint_config, true);
        for (const e of arr(s.dynamic_endpoint_configs)) keep(view.endpoints, obj(e).endpoint_config, false);
        break;
      case `${ADMIN}SecretsConfigDump`:
        for (const e of [...arr(s.static_secrets), ...arr(s.dynamic_active_secrets)]) {
          view.secrets.push({
            name: str(obj(e).name),
            state: 'ACTIVE',
            secret: normalizeResource(obj(e).secret),
          });
        }
        for (const e of arr(s.dynamic_warming_secrets)) {
          view.secrets.push({
            name: str(obj(e).name),
            state: 'WARMING',
            secret: normalizeResource(obj(e).secret),
          });
        }
        break;
    }
  }
  return bootstrap ? { ...view, bootstrap } : view;
}

/** The node id a dump's bootstrap names, if any. */
export function dumpNodeId(view: DumpView): string | undefined {
  const id = obj(obj(obj(view.bootstrap).bootstrap).node).id;
  return typeof id === 'string' ? id : undefined;
}

const byString = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** `/apis/<group>/<version>/namespaces/<ns>/<kind>/<name>` in Istio metadata → `name.ns`. */
function istioConfigRef(metadata: unknown): string {
  const config = str(obj(obj(obj(metadata).filter_metadata).istio).config);
  const m = /\/namespaces\/([^/]+)\/[^/]+\/([^/]+)$/.exec(config);
  return m ? `${m[2]}.${m[1]}` : '';
}

// ---- clusters --------------------------------------------------------------------------

export const CLUSTER_HEADER = ['SERVICE FQDN', 'PORT', 'SUBSET', 'DIRECTION', 'TYPE', 'DESTINATION RULE'];

export interface ClusterFilter {
  readonly fqdn?: string;
  readonly port?: number;
  readonly subset?: string;
  readonly direction?: string;
}

interface ClusterKey {
  readonly direction: string;
  readonly port: string;
  readonly subset: string;
  readonly fqdn: string;
}

/** Istio's `direction|port|subset|fqdn` cluster names; other names are their own FQDN. */
function clusterKey(name: string): ClusterKey {
  const parts = name.split('|');
  if (parts.length === 4 && (parts[0] === 'inbound' || parts[0] === 'outbound') && /^\d+$/.test(parts[1])) {
    return { direction: parts[0], port: parts[1], subset: parts[2], fqdn: parts[3] };
  }
  return { direction: '-', port: '-', subset: '-', fqdn: name };
}

export function selectClusters(clusters: readonly Json[], f: ClusterFilter): Json[] {
  return clusters
    .filter((c) => {
      const k = clusterKey(str(c.name));
      if (f.fqdn !== undefined && !k.fqdn.includes(f.fqdn)) return false;
      if (f.port !== undefined && k.port !== String(f.port)) return false;
      if (f.subset !== undefined && k.subset !== f.subset) return false;
      if (f.direction !== undefined && k.direction !== f.direction) return false;
      return true;
    })
    .sort((a, b) => {
      const x = clusterKey(str(a.name));
      const y = clusterKey(str(b.name));
      return (
        byString(x.fqdn, y.fqdn) ||
        (Number(x.port) || 0) - (Number(y.port) || 0) ||
        byString(x.subset, y.subset) ||
        byString(x.direction, y.direction)
      );
    });
}

export function clusterRows(clusters: readonly Json[]): string[][] {
  return clusters.map((c) => {
    const k = clusterKey(str(c.name));
    const type = str(c.type) || str(obj(c.cluster_type).name) || 'STATIC';
    return [k.fqdn, k.port, k.subset, k.direction, type, istioConfigRef(c.metadata)];
  });
}

// ---- listeners -------------------------------------------------------------------------

export const LISTENER_HEADER = ['ADDRESSES', 'PORT', 'MATCH', 'DESTINATION'];
export const LISTENER_TYPES = ['HTTP', 'TCP', 'HTTP+TCP'] as const;

export interface ListenerFilter {
  readonly address?: string;
  readonly port?: number;
  readonly type?: (typeof LISTENER_TYPES)[number];
}

function socketAddress(address: unknown): { address: string; port: number } {
  const s = obj(obj(address).socket_address);
  return { address: str(s.address), port: Number(s.port_value ?? 0) };
}

function listenerAddresses(l: Json): string[] {
  return [
    socketAddress(l.address).address,
    ...arr(l.additional_addresses).map((a) => socketAddress(obj(a).address).address),
  ];
}

function chains(l: Json): Json[] {
  const out = arr(l.filter_chains).map(obj);
  if (isObject(l.default_filter_chain)) out.push(l.default_filter_chain);
  return out;
}

function filterType(f: unknown): string {
  return str(obj(obj(f).typed_config)['@type']);
}

/** HTTP when every filter chain ends in an HTTP connection manager, TCP when none does. */
function listenerProtocol(l: Json): string {
  let http = 0;
  let other = 0;
  for (const c of chains(l)) {
    if (arr(c.filters).some((f) => filterType(f) === HTTP_CONNECTION_MANAGER_TYPE_URL)) http++;
    else other++;
  }
  return http > 0 && other > 0 ? 'HTTP+TCP' : http > 0 ? 'HTTP' : 'TCP';
}

export function selectListeners(listeners: readonly Json[], f: ListenerFilter): Json[] {
  return listeners
    .filter((l) => {
      if (f.address !== undefined && !listenerAddresses(l).includes(f.address)) return false;
      if (f.port !== undefined && socketAddress(l.address).port !== f.port) return false;
      if (f.type !== undefined && listenerProtocol(l) !== f.type) return false;
      return true;
    })
    .sort((a, b) => {
      const x = socketAddress(a.address);
      const y = socketAddress(b.address);
      return x.port - y.port || byString(x.address, y.address) || byString(str(a.name), str(b.name));
    });
}

function describeChainMatch(m: unknown): string {
  if (!isObject(m)) return 'ALL';
  const conds: string[] = [];
  const names = arr(m.server_names).map(str);
  if (names.length) conds.push(`SNI: ${names.join(',')}`);
  if (m.transport_protocol) conds.push(`Trans: ${str(m.transport_protocol)}`);
  const alpn = arr(m.application_protocols).map(str);
  if (alpn.length) conds.push(`App: ${alpn.join(',')}`);
  const ranges = arr(m.prefix_ranges).map(
    (r) => `${str(obj(r).address_prefix)}/${str(obj(r).prefix_len) || '0'}`,
  );
  if (ranges.length) conds.push(`Addr: ${ranges.join(',')}`);
  if (m.destination_port !== undefined) conds.push(`DPort: ${str(m.destination_port)}`);
  const sources = arr(m.source_prefix_ranges).map(
    (r) => `${str(obj(r).address_prefix)}/${str(obj(r).prefix_len) || '0'}`,
  );
  if (sources.length) conds.push(`SrcAddr: ${sources.join(',')}`);
  return conds.length ? conds.join('; ') : 'ALL';
}

function describeChainDestination(chain: Json): string {
  for (const f of arr(chain.filters)) {
    const type = filterType(f);
    const cfg = obj(obj(f).typed_config);
    if (type === HTTP_CONNECTION_MANAGER_TYPE_URL) {
      if (isObject(cfg.rds)) return `Route: ${str(cfg.rds.route_config_name)}`;
      const rc = obj(cfg.route_config);
      const vhosts = arr(rc.virtual_hosts).map(obj);
      const routes = vhosts.flatMap((v) => arr(v.routes).map(obj));
      if (routes.length === 1) return `Inline Route: ${describeRouteMatch(routes[0].match)}`;
      return `Inline Route: ${str(rc.name) || `${routes.length} routes`}`;
    }
    if (type === TCP_PROXY_TYPE_URL) {
      if (cfg.cluster !== undefined) return `Cluster: ${str(cfg.cluster)}`;
      const weighted = arr(obj(cfg.weighted_clusters).clusters).map((c) => str(obj(c).name));
      return `WeightedCluster: ${weighted.join(',')}`;
    }
  }
  return 'Non-HTTP/Non-TCP';
}

export function listenerRows(listeners: readonly Json[]): string[][] {
  const rows: string[][] = [];
  for (const l of listeners) {
    const addresses = listenerAddresses(l).join(',');
    const port = String(socketAddress(l.address).port);
    for (const c of chains(l)) {
      rows.push([addresses, port, describeChainMatch(c.filter_chain_match), describeChainDestination(c)]);
    }
    if (chains(l).length === 0) rows.push([addresses, port, 'ALL', 'Non-HTTP/Non-TCP']);
  }
  return rows;
}

// ---- routes ----------------------------------------------------------------------------

export const ROUTE_HEADER = ['NAME', 'VHOST NAME', 'DOMAINS', 'MATCH', 'VIRTUAL SERVICE'];

export function selectRoutes(routes: readonly Json[], name: string | undefined): Json[] {
  return routes
    .filter((r) => name === undefined || str(r.name) === name)
    .sort((a, b) => byString(str(a.name), str(b.name)));
}

/** One domain as it is; several as the shortest one without a port and how many more. */
function describeDomains(domains: readonly string[]): string {
  if (domains.length <= 1) return domains[0] ?? '';
  const candidates = domains.filter((d) => !/:\d+$/.test(d));
  const shortest = (candidates.length ? candidates : domains).reduce((a, b) => (b.length < a.length ? b : a));
  return `${shortest} + ${domains.length - 1} more...`;
}

function describeHeader(h: Json): string {
  const name = str(h.name);
  const sm = obj(h.string_match);
  const neg = h.invert_match === true ? '!' : '';
  if (sm.exact !== undefined) return `${name}${neg}=${str(sm.exact)}`;
  if (sm.prefix !== undefined) return `${name}${neg}=^${str(sm.prefix)}`;
  if (sm.suffix !== undefined) return `${name}${neg}=${str(sm.suffix)}$`;
  if (sm.contains !== undefined) return `${name}${neg}~${str(sm.contains)}`;
  if (isObject(sm.safe_regex)) return `${name}${neg}~/${str(sm.safe_regex.regex)}/`;
  if (h.present_match !== undefined) return `${neg}${name}`;
  return name;
}

export function describeRouteMatch(match: unknown): string {
  const m = obj(match);
  let path: string;
  if (m.prefix !== undefined) path = str(m.prefix) === '/' ? '/*' : `${str(m.prefix)}*`;
  else if (m.path !== undefined) path = str(m.path);
  else if (isObject(m.safe_regex)) path = `regex ${str(m.safe_regex.regex)}`;
  else if (m.path_separated_prefix !== undefined) path = `${str(m.path_separated_prefix)}/*`;
  else if (isObject(m.connect_matcher)) path = 'CONNECT';
  else path = '/*';
  const headers = arr(m.headers).map((h) => describeHeader(obj(h)));
  const query = arr(m.query_parameters).map((q) => `?${str(obj(q).name)}`);
  const extra = [...headers, ...query];
  return extra.length ? `${path} [${extra.join(', ')}]` : path;
}

export function routeRows(routes: readonly Json[]): string[][] {
  const rows: string[][] = [];
  for (const rc of routes) {
    for (const vh of arr(rc.virtual_hosts).map(obj)) {
      const domains = describeDomains(arr(vh.domains).map(str));
      const list = arr(vh.routes).map(obj);
      for (const r of list) {
        rows.push([
          str(rc.name),
          str(vh.name),
          domains,
          describeRouteMatch(r.match),
          istioConfigRef(r.metadata),
        ]);
      }
      if (list.length === 0) rows.push([str(rc.name), str(vh.name), domains, '', '']);
    }
  }
  return rows;
}

// ---- endpoints (admin /clusters?format=json) -------------------------------------------

export const ENDPOINT_HEADER = ['ENDPOINT', 'STATUS', 'OUTLIER CHECK', 'CLUSTER'];
export const ENDPOINT_STATUSES = [
  'HEALTHY',
  'UNHEALTHY',
  'DRAINING',
  'TIMEOUT',
  'DEGRADED',
  'UNKNOWN',
] as const;

export interface EndpointFilter {
  readonly address?: string;
  readonly port?: number;
  readonly cluster?: string;
  readonly status?: string;
}

export interface EndpointRow {
  readonly address: string;
  readonly port: number;
  readonly status: string;
  readonly outlierFailed: boolean;
  readonly cluster: string;
  /** The host status as the admin API gave it, for `-o json|yaml`. */
  readonly hostStatus: Json;
}

export function readEndpoints(clustersJson: unknown): EndpointRow[] {
  const rows: EndpointRow[] = [];
  for (const c of arr(obj(clustersJson).cluster_statuses).map(obj)) {
    for (const h of arr(c.host_statuses).map(obj)) {
      const a = socketAddress(h.address);
      const health = obj(h.health_status);
      rows.push({
        address: a.address,
        port: a.port,
        status: str(health.eds_health_status) || 'HEALTHY',
        outlierFailed: health.failed_outlier_check === true,
        cluster: str(c.name),
        hostStatus: h,
      });
    }
  }
  return rows;
}

const hostPort = (address: string, port: number) =>
  address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;

export function selectEndpoints(rows: readonly EndpointRow[], f: EndpointFilter): EndpointRow[] {
  return rows
    .filter(
      (r) =>
        (f.address === undefined || r.address === f.address) &&
        (f.port === undefined || r.port === f.port) &&
        (f.cluster === undefined || r.cluster === f.cluster) &&
        (f.status === undefined || r.status === f.status),
    )
    .sort((a, b) => byString(a.address, b.address) || a.port - b.port || byString(a.cluster, b.cluster));
}

export function endpointRows(rows: readonly EndpointRow[]): string[][] {
  return rows.map((r) => [
    hostPort(r.address, r.port),
    r.status,
    r.outlierFailed ? 'FAILED' : 'OK',
    r.cluster,
  ]);
}

// ---- secrets ---------------------------------------------------------------------------

export const SECRET_HEADER = [
  'RESOURCE NAME',
  'TYPE',
  'STATUS',
  'VALID CERT',
  'SERIAL NUMBER',
  'NOT AFTER',
  'NOT BEFORE',
];

/** The first certificate of a DataSource holding PEM (inline_bytes is base64 in proto3 JSON). */
function firstCertificate(source: unknown): X509Certificate | undefined {
  const s = obj(source);
  const pem =
    typeof s.inline_bytes === 'string'
      ? Buffer.from(s.inline_bytes, 'base64').toString('utf8')
      : typeof s.inline_string === 'string'
        ? s.inline_string
        : undefined;
  if (!pem) return undefined;
  const first = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(pem);
  if (!first) return undefined;
  try {
    return new X509Certificate(first[0]);
  } catch {
    return undefined;
  }
}

const isoDate = (d: string) => {
  const t = new Date(d);
  return Number.isNaN(t.getTime()) ? d : t.toISOString().replace(/\.000Z$/, 'Z');
};

export function secretRows(secrets: readonly SecretEntry[], now: Date): string[][] {
  return [...secrets]
    .sort((a, b) => byString(a.name, b.name))
    .map((s) => {
      const tls = s.secret.tls_certificate;
      const ca = obj(s.secret.validation_context).trusted_ca;
      const type = tls !== undefined ? 'Cert Chain' : ca !== undefined ? 'CA' : 'Unknown';
      const cert = firstCertificate(tls !== undefined ? obj(tls).certificate_chain : ca);
      if (!cert) return [s.name, type, s.state, 'false', '', '', ''];
      const valid = new Date(cert.validFrom) <= now && now <= new Date(cert.validTo);
      return [
        s.name,
        type,
        s.state,
        String(valid),
        cert.serialNumber.toLowerCase(),
        isoDate(cert.validTo),
        isoDate(cert.validFrom),
      ];
    });
}

// ---- comparison (proxy-status <proxy>) -------------------------------------------------

/** Resources by name, as sorted canonical JSON text (keys sorted, two-space indent). */
export function canonicalResources(resources: readonly Json[]): string {
  const name = (r: Json) => str(r.name) || str(r.cluster_name);
  return canonicalStringify([...resources].sort((a, b) => byString(name(a), name(b))));
}
