/**
 * The route table: a RouteConfiguration compiled when config arrives into virtual-host lookup
 * structures and ordered route entries with pre-built matchers (RE2 regexes compiled once).
 * Per request: one virtual-host lookup (exact map, then longest suffix wildcard, longest prefix
 * wildcard, then '*'), then the first route whose match holds.
 *
 * Compile errors name the field path (`virtual_hosts[1].routes[0].match.safe_regex.regex`) so
 * the xDS client can NACK; every behaviour-changing field that is not implemented is an error.
 */
import { readFileSync } from 'node:fs';
import {
  type AnyDecoder,
  CompileContext,
  type CompileResult,
  type ProtoReader,
  ProtoReader as Reader,
  readDataSource,
} from '../../../config/proto.ts';
import {
  compileRe2,
  compileRegexMatcher,
  type Re2Regex,
  re2SubstitutionToJs,
} from '../../../matcher/string-matcher.ts';
import { isValidFieldValue } from '../headers.ts';
import { compileHeaderMutations, type HeaderMutations, NO_MUTATIONS } from './header-mutation.ts';
import {
  compileHeaderMatcher,
  compileQueryParameterMatcher,
  compileRuntimeFraction,
  type HeaderMatcher,
  parseQuery,
  type QueryParameterMatcher,
  type RequestView,
} from './matchers.ts';
import { compileRetryPolicy, type RetryPolicy } from './retry.ts';

export const PATH_PREFIX = 0;
export const PATH_EXACT = 1;
export const PATH_REGEX = 2;
export const PATH_SEPARATED_PREFIX = 3;

export const ACTION_ROUTE = 0;
export const ACTION_REDIRECT = 1;
export const ACTION_DIRECT_RESPONSE = 2;

export const TLS_NONE = 0;
export const TLS_EXTERNAL_ONLY = 1;
export const TLS_ALL = 2;

/** Envoy's default route timeout when RouteAction.timeout is unset. */
export const DEFAULT_ROUTE_TIMEOUT_MS = 15_000;

export interface WeightedClusterEntry {
  readonly name: string;
  readonly weight: number;
  readonly requestMutations: HeaderMutations;
  readonly responseMutations: HeaderMutations;
  readonly hostRewriteLiteral: string | undefined;
}

export interface WeightedClusters {
  readonly clusters: readonly WeightedClusterEntry[];
  readonly totalWeight: number;
  /** Header whose uint64 value picks the cluster instead of a random number. */
  readonly headerName: string | undefined;
}

export interface RedirectSpec {
  readonly scheme: string | undefined;
  readonly host: string | undefined;
  readonly port: number;
  readonly pathRedirect: string | undefined;
  readonly prefixRewrite: string | undefined;
  readonly regexRewrite: { readonly regex: Re2Regex; readonly substitution: string } | undefined;
  readonly status: number;
  readonly stripQuery: boolean;
}

export class VirtualHost {
  name = '';
  domains: string[] = [];
  routes: RouteEntry[] = [];
  requireTls = TLS_NONE;
  requestMutations: HeaderMutations = NO_MUTATIONS;
  responseMutations: HeaderMutations = NO_MUTATIONS;
  retryPolicy: RetryPolicy | undefined;
  includeRequestAttemptCount = false;
  includeAttemptCountInResponse = false;
  includeIsTimeoutRetryHeader = false;
  perRequestBufferLimit: number | undefined;
  /** Per-filter config by filter name (compiled by the filter's registration). */
  perFilterConfig: ReadonlyMap<string, unknown> = EMPTY_MAP;
}

const EMPTY_MAP: ReadonlyMap<string, unknown> = new Map();

export class RouteEntry {
  name = '';
  vhost!: VirtualHost;
  // Match.
  pathKind = PATH_PREFIX;
  pathValue = '';
  regex: Re2Regex | undefined;
  caseSensitive = true;
  headers: readonly HeaderMatcher[] = [];
  queryParameters: readonly QueryParameterMatcher[] = [];
  grpcOnly = false;
  fraction: { numerator: number; denominator: number } | undefined;
  // Action.
  action = ACTION_ROUTE;
  cluster: string | undefined;
  clusterHeader: string | undefined;
  weighted: WeightedClusters | undefined;
  clusterNotFoundStatus = 503;
  prefixRewrite: string | undefined;
  regexRewrite: { regex: Re2Regex; substitution: string } | undefined;
  hostRewriteLiteral: string | undefined;
  autoHostRewrite = false;
  hostRewriteHeader: string | undefined;
  hostRewritePathRegex: { regex: Re2Regex; substitution: string } | undefined;
  appendXForwardedHost = false;
  timeoutMs = DEFAULT_ROUTE_TIMEOUT_MS;
  /** undefined: inherit the connection manager's stream idle timeout. */
  idleTimeoutMs: number | undefined;
  maxStreamDurationMs: number | undefined;
  grpcTimeoutHeaderMaxMs: number | undefined;
  grpcTimeoutHeaderOffsetMs = 0;
  /**
   * Deprecated RouteAction.max_grpc_timeout: for gRPC requests the grpc-timeout header (absent =
   * no limit) replaces the route timeout, capped at this (0 = no cap).
   */
  maxGrpcTimeoutMs: number | undefined;
  grpcTimeoutOffsetMs = 0;
  retryPolicy: RetryPolicy | undefined;
  /** Route-level upgrade switches (upgrade type lowercase → enabled). */
  upgrades: ReadonlyMap<string, boolean> = EMPTY_MAP as ReadonlyMap<string, boolean>;
  redirect: RedirectSpec | undefined;
  directStatus = 0;
  directBody: Buffer | undefined;
  requestMutations: HeaderMutations = NO_MUTATIONS;
  responseMutations: HeaderMutations = NO_MUTATIONS;
  perRequestBufferLimit: number | undefined;
  perFilterConfig: ReadonlyMap<string, unknown> = EMPTY_MAP;
  decoratorOperation: string | undefined;

  /** Whether the route's match holds for the request. */
  matches(req: RequestView, m: MatchScratch): boolean {
    const path = req.path;
    switch (this.pathKind) {
      case PATH_PREFIX:
        if (this.caseSensitive) {
          if (!path.startsWith(this.pathValue)) return false;
        } else if (!m.lowerPath(path).startsWith(this.pathValue)) return false;
        break;
      case PATH_EXACT: {
        const p = this.caseSensitive ? path : m.lowerPath(path);
        const q = m.queryAt(path);
        if (q !== this.pathValue.length || !p.startsWith(this.pathValue)) return false;
        break;
      }
      case PATH_SEPARATED_PREFIX: {
        const p = this.caseSensitive ? path : m.lowerPath(path);
        const q = m.queryAt(path);
        const v = this.pathValue;
        if (q < v.length || !p.startsWith(v)) return false;
        if (q !== v.length && p.charCodeAt(v.length) !== 47 /* '/' */) return false;
        break;
      }
      default:
        if (!this.regex!.match(m.pathOnly(path))) return false;
    }
    if (this.grpcOnly) {
      const ct = req.headers.get('content-type');
      if (ct === undefined || !ct.startsWith('application/grpc')) return false;
    }
    for (let i = 0; i < this.headers.length; i++) if (!this.headers[i].matches(req)) return false;
    if (this.queryParameters.length > 0) {
      const params = m.query(path);
      for (let i = 0; i < this.queryParameters.length; i++)
        if (!this.queryParameters[i].matches(params)) return false;
    }
    if (this.fraction !== undefined) {
      const f = this.fraction;
      if (Math.floor(m.random() * f.denominator) >= f.numerator) return false;
    }
    return true;
  }

  /** Length of the path the match consumed (for prefix_rewrite). */
  matchedLength(path: string, m: MatchScratch): number {
    switch (this.pathKind) {
      case PATH_PREFIX:
      case PATH_SEPARATED_PREFIX:
        return this.pathValue.length;
      default:
        return m.queryAt(path);
    }
  }

  /** The path after prefix_rewrite / regex_rewrite, or undefined when unchanged. */
  rewritePath(path: string, m: MatchScratch): string | undefined {
    if (this.prefixRewrite !== undefined) {
      const n = this.matchedLength(path, m);
      return this.prefixRewrite + path.slice(n);
    }
    if (this.regexRewrite !== undefined) {
      const q = m.queryAt(path);
      const only = path.slice(0, q);
      return this.regexRewrite.regex.replaceAll(only, this.regexRewrite.substitution) + path.slice(q);
    }
    return undefined;
  }
}

/** Per-request lazily computed views of the path shared by all route matchers. */
export class MatchScratch {
  private lower: string | undefined;
  private q = -2;
  private params: Map<string, string> | undefined;
  private rnd = -1;
  private readonly randomFn: () => number;
  constructor(randomFn: () => number = Math.random) {
    this.randomFn = randomFn;
  }
  reset(): void {
    this.lower = undefined;
    this.q = -2;
    this.params = undefined;
    this.rnd = -1;
  }
  lowerPath(path: string): string {
    if (this.lower === undefined) this.lower = path.toLowerCase();
    return this.lower;
  }
  /** Index of '?' (or the path length). */
  queryAt(path: string): number {
    if (this.q === -2) {
      const i = path.indexOf('?');
      this.q = i < 0 ? path.length : i;
    }
    return this.q;
  }
  pathOnly(path: string): string {
    const q = this.queryAt(path);
    return q === path.length ? path : path.slice(0, q);
  }
  query(path: string): Map<string, string> {
    if (this.params === undefined) this.params = parseQuery(path);
    return this.params;
  }
  /** One random value per request, shared by runtime fractions (Envoy's stable random). */
  random(): number {
    if (this.rnd < 0) this.rnd = this.randomFn();
    return this.rnd;
  }
}

export class RouteTable {
  name = '';
  virtualHosts: VirtualHost[] = [];
  exact = new Map<string, VirtualHost>();
  /** Longest first. */
  suffixes: { suffix: string; vhost: VirtualHost }[] = [];
  prefixes: { prefix: string; vhost: VirtualHost }[] = [];
  defaultVhost: VirtualHost | undefined;
  ignorePortInHostMatching = false;
  internalOnlyHeaders: string[] = [];
  requestMutations: HeaderMutations = NO_MUTATIONS;
  responseMutations: HeaderMutations = NO_MUTATIONS;
  mostSpecificHeaderMutationsWins = false;
  /** Cluster names this table can route to (for warming and validate_clusters). */
  clusterNames = new Set<string>();

  /** Virtual host for a Host/:authority value (lowercased by the caller or not). */
  findVirtualHost(authority: string): VirtualHost | undefined {
    let host = authority;
    if (hasUpper(host)) host = host.toLowerCase();
    if (this.ignorePortInHostMatching) host = stripPort(host);
    const ex = this.exact.get(host);
    if (ex !== undefined) return ex;
    for (let i = 0; i < this.suffixes.length; i++) {
      const s = this.suffixes[i];
      if (host.length > s.suffix.length && host.endsWith(s.suffix)) return s.vhost;
    }
    for (let i = 0; i < this.prefixes.length; i++) {
      const p = this.prefixes[i];
      if (host.length > p.prefix.length && host.startsWith(p.prefix)) return p.vhost;
    }
    return this.defaultVhost;
  }

  /** First matching route, or undefined (NR). */
  route(req: RequestView, scratch: MatchScratch): RouteEntry | undefined {
    const vh = this.findVirtualHost(req.authority);
    if (vh === undefined) return undefined;
    const routes = vh.routes;
    for (let i = 0; i < routes.length; i++) if (routes[i].matches(req, scratch)) return routes[i];
    return undefined;
  }
}

function hasUpper(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 65 && c <= 90) return true;
  }
  return false;
}

/** "host:port" → "host"; "[v6]:port" → "[v6]"; a bare IPv6 literal is left alone. */
export function stripPort(host: string): string {
  if (host.charCodeAt(0) === 91 /* '[' */) {
    const end = host.indexOf(']');
    return end < 0 ? host : host.slice(0, end + 1);
  }
  const colon = host.lastIndexOf(':');
  if (colon < 0 || host.indexOf(':') !== colon) return host;
  return host.slice(0, colon);
}

/** Options for compiling a route configuration. */
export interface RouteCompileOptions {
  decodeAny?: AnyDecoder;
  /** For validate_clusters: whether a cluster exists. Without it, validation is skipped. */
  clusterExists?: (name: string) => boolean;
  /** Compiles typed_per_filter_config entries; undefined result means "not supported". */
  perFilterConfig?: (filterName: string, config: unknown, path: string, ctx: CompileContext) => unknown;
  readFile?: (path: string) => Buffer;
  /** Whether the table is inline in the HCM (Envoy validates clusters by default then). */
  inline?: boolean;
}

const TLS_NAMES = ['NONE', 'EXTERNAL_ONLY', 'ALL'] as const;
const REDIRECT_CODES = [301, 302, 303, 307, 308];
const REDIRECT_NAMES = [
  'MOVED_PERMANENTLY',
  'FOUND',
  'SEE_OTHER',
  'TEMPORARY_REDIRECT',
  'PERMANENT_REDIRECT',
] as const;
const NOT_FOUND_CODES: Record<string, number> = {
  SERVICE_UNAVAILABLE: 503,
  NOT_FOUND: 404,
  INTERNAL_SERVER_ERROR: 500,
};

/** config.route.v3.RouteConfiguration → RouteTable. */
export function compileRouteConfiguration(
  proto: unknown,
  options: RouteCompileOptions = {},
): CompileResult<RouteTable> {
  const ctx = new CompileContext({ decodeAny: options.decodeAny });
  const table = compileRouteConfigurationInto(
    new Reader(ctx, proto, '', 'envoy.config.route.v3.RouteConfiguration'),
    options,
  );
  return ctx.result(table);
}

/** Same, inside an enclosing compile (an HCM with an inline route_config). */
export function compileRouteConfigurationInto(r: ProtoReader, options: RouteCompileOptions): RouteTable {
  const t = new RouteTable();
  t.name = r.string('name');
  t.ignorePortInHostMatching = r.bool('ignore_port_in_host_matching');
  t.mostSpecificHeaderMutationsWins = r.bool('most_specific_header_mutations_wins');
  t.internalOnlyHeaders = r.strings('internal_only_headers').map((h) => h.toLowerCase());
  t.requestMutations = compileHeaderMutations(
    r,
    'request_headers_to_add',
    'request_headers_to_remove',
    false,
  );
  t.responseMutations = compileHeaderMutations(
    r,
    'response_headers_to_add',
    'response_headers_to_remove',
    true,
  );
  const maxBody = r.wrappedNumber('max_direct_response_body_size_bytes', 4096);
  const validate = r.wrappedBool('validate_clusters', options.inline === true);
  r.unsupported('vhds', 'VHDS (on-demand virtual hosts) is not supported');
  r.unsupported('cluster_specifier_plugins', 'cluster specifier plugins are not supported');
  r.unsupported('request_mirror_policies', 'request mirroring is not supported yet');
  r.unsupported('ignore_path_parameters_in_path_matching', 'path parameter stripping is not supported');
  r.unsupported('vhost_header', 'vhost_header is not supported');
  const perFilter = compilePerFilterConfig(r, options);
  if (perFilter.size > 0)
    r.ctx.error(
      r.at('typed_per_filter_config'),
      'route-configuration-level per-filter config is not supported',
    );
  r.ignore('metadata');

  const seen = new Map<string, string>();
  for (const vr of r.messages('virtual_hosts')) {
    const vh = compileVirtualHost(vr, options, maxBody);
    t.virtualHosts.push(vh);
    vh.domains.forEach((domain, di) => {
      const path = `${vr.at('domains')}[${di}]`;
      const d = domain.toLowerCase();
      const prev = seen.get(d);
      if (prev !== undefined) {
        r.ctx.error(
          path,
          `domain ${JSON.stringify(domain)} is also used by virtual host ${JSON.stringify(prev)} (domains must be unique)`,
        );
        return;
      }
      seen.set(d, vh.name);
      if (d === '*') {
        t.defaultVhost = vh;
      } else if (d.startsWith('*')) {
        t.suffixes.push({ suffix: d.slice(1), vhost: vh });
      } else if (d.endsWith('*')) {
        t.prefixes.push({ prefix: d.slice(0, -1), vhost: vh });
      } else if (d.includes('*')) {
        r.ctx.error(path, `wildcard in ${JSON.stringify(domain)} must be the first or last character`);
      } else {
        t.exact.set(d, vh);
      }
    });
  }
  t.suffixes.sort((a, b) => b.suffix.length - a.suffix.length);
  t.prefixes.sort((a, b) => b.prefix.length - a.prefix.length);
  for (const vh of t.virtualHosts) {
    for (const route of vh.routes) {
      if (route.cluster !== undefined) t.clusterNames.add(route.cluster);
      for (const w of route.weighted?.clusters ?? []) t.clusterNames.add(w.name);
    }
  }
  if (validate && options.clusterExists) {
    t.virtualHosts.forEach((vh, vi) => {
      vh.routes.forEach((route, ri) => {
        const names =
          route.cluster !== undefined ? [route.cluster] : (route.weighted?.clusters.map((c) => c.name) ?? []);
        for (const n of names) {
          if (!options.clusterExists!(n)) {
            r.ctx.error(
              `virtual_hosts[${vi}].routes[${ri}].route`,
              `unknown cluster ${JSON.stringify(n)} (validate_clusters)`,
            );
          }
        }
      });
    });
  }
  r.done();
  return t;
}

function compilePerFilterConfig(r: ProtoReader, options: RouteCompileOptions): Map<string, unknown> {
  const out = new Map<string, unknown>();
  const raw = r.raw('typed_per_filter_config');
  if (raw === undefined || raw === null) return out;
  if (typeof raw !== 'object') {
    r.ctx.error(r.at('typed_per_filter_config'), 'expected a map');
    return out;
  }
  for (const [name, cfg] of Object.entries(raw as Record<string, unknown>)) {
    const path = `${r.at('typed_per_filter_config')}[${JSON.stringify(name)}]`;
    const compiled = options.perFilterConfig?.(name, cfg, path, r.ctx);
    if (compiled === undefined)
      r.ctx.error(path, `per-route config for filter ${JSON.stringify(name)} is not supported`);
    else out.set(name, compiled);
  }
  return out;
}

function compileVirtualHost(r: ProtoReader, options: RouteCompileOptions, maxBody: number): VirtualHost {
  const vh = new VirtualHost();
  vh.name = r.string('name');
  if (vh.name === '') r.ctx.error(r.at('name'), 'virtual host name is required');
  vh.domains = r.strings('domains');
  if (vh.domains.length === 0) r.ctx.error(r.at('domains'), 'at least one domain is required');
  vh.requireTls = TLS_NAMES.indexOf(r.enumName('require_tls', TLS_NAMES));
  vh.requestMutations = compileHeaderMutations(
    r,
    'request_headers_to_add',
    'request_headers_to_remove',
    false,
  );
  vh.responseMutations = compileHeaderMutations(
    r,
    'response_headers_to_add',
    'response_headers_to_remove',
    true,
  );
  vh.includeRequestAttemptCount = r.bool('include_request_attempt_count');
  vh.includeAttemptCountInResponse = r.bool('include_attempt_count_in_response');
  vh.includeIsTimeoutRetryHeader = r.bool('include_is_timeout_retry_header');
  vh.perRequestBufferLimit = r.wrappedNumber('per_request_buffer_limit_bytes');
  const rp = r.message('retry_policy');
  if (rp) vh.retryPolicy = compileRetryPolicy(rp);
  vh.perFilterConfig = compilePerFilterConfig(r, options);
  r.unsupported('matcher', 'the virtual host matcher tree is not supported');
  r.unsupported('virtual_clusters', 'virtual clusters are not supported');
  r.unsupported('rate_limits', 'rate limits are not supported');
  r.unsupported('cors', 'the deprecated virtual host cors field is not supported (use the CORS filter)');
  r.unsupported('retry_policy_typed_config', 'typed retry policies are not supported');
  r.unsupported('hedge_policy', 'request hedging is not supported');
  r.unsupported('request_mirror_policies', 'request mirroring is not supported yet');
  r.ignore('metadata');
  vh.routes = r.messages('routes').map((rr) => compileRoute(rr, vh, options, maxBody));
  r.done();
  return vh;
}

function compileRoute(
  r: ProtoReader,
  vh: VirtualHost,
  options: RouteCompileOptions,
  maxBody: number,
): RouteEntry {
  const e = new RouteEntry();
  e.vhost = vh;
  e.name = r.string('name');
  const match = r.message('match');
  if (match) compileRouteMatch(match, e);
  else r.ctx.error(r.at('match'), 'match is required');
  e.requestMutations = compileHeaderMutations(
    r,
    'request_headers_to_add',
    'request_headers_to_remove',
    false,
  );
  e.responseMutations = compileHeaderMutations(
    r,
    'response_headers_to_add',
    'response_headers_to_remove',
    true,
  );
  e.perRequestBufferLimit = r.wrappedNumber('per_request_buffer_limit_bytes') ?? vh.perRequestBufferLimit;
  e.perFilterConfig = compilePerFilterConfig(r, options);
  const decorator = r.message('decorator');
  if (decorator) {
    // Decorators only name tracing spans; without tracing they change nothing.
    e.decoratorOperation = decorator.string('operation');
    decorator.ignore('propagate');
    decorator.done();
  }
  // Tracing overrides, stat prefixes and metadata do not change how requests are handled.
  r.ignore('metadata', 'tracing', 'stat_prefix');
  const which = r.oneof(['route', 'redirect', 'direct_response', 'filter_action', 'non_forwarding_action']);
  r.raw('action');
  switch (which) {
    case 'route': {
      e.action = ACTION_ROUTE;
      compileRouteAction(r.message('route')!, e, vh);
      break;
    }
    case 'redirect':
      e.action = ACTION_REDIRECT;
      e.redirect = compileRedirect(r.message('redirect')!);
      break;
    case 'direct_response': {
      e.action = ACTION_DIRECT_RESPONSE;
      const d = r.message('direct_response')!;
      e.directStatus = d.number('status');
      if (e.directStatus < 200 || e.directStatus >= 600)
        d.ctx.error(d.at('status'), 'status must be in [200, 600)');
      const body = d.message('body');
      if (body) e.directBody = readDataSource(body, options.readFile ?? readFileSync, maxBody);
      d.unsupported('body_format', 'direct response body formats are not supported');
      d.done();
      break;
    }
    case 'filter_action':
      r.unsupported('filter_action', 'filter actions are not supported');
      break;
    case 'non_forwarding_action':
      r.unsupported('non_forwarding_action', 'non-forwarding actions are not supported');
      break;
    default:
      r.ctx.error(r.path, 'one of route, redirect or direct_response is required');
  }
  r.done();
  return e;
}

function compileRouteMatch(r: ProtoReader, e: RouteEntry): void {
  const which = r.oneof([
    'prefix',
    'path',
    'safe_regex',
    'connect_matcher',
    'path_separated_prefix',
    'path_match_policy',
  ]);
  r.raw('path_specifier');
  e.caseSensitive = r.wrappedBool('case_sensitive', true);
  switch (which) {
    case 'prefix':
      e.pathKind = PATH_PREFIX;
      e.pathValue = r.string('prefix');
      break;
    case 'path':
      e.pathKind = PATH_EXACT;
      e.pathValue = r.string('path');
      break;
    case 'path_separated_prefix': {
      e.pathKind = PATH_SEPARATED_PREFIX;
      const v = r.string('path_separated_prefix');
      if (!v.startsWith('/') || v.endsWith('/') || v.includes('?') || v.includes('#')) {
        r.ctx.error(
          r.at('path_separated_prefix'),
          'must start with "/", not end with "/" and contain no "?" or "#"',
        );
      }
      e.pathValue = v;
      break;
    }
    case 'safe_regex': {
      e.pathKind = PATH_REGEX;
      const m = r.message('safe_regex');
      e.regex = m ? compileRegexMatcher(m) : undefined;
      if (!e.caseSensitive)
        r.ctx.error(r.at('case_sensitive'), 'case_sensitive has no effect on safe_regex (use (?i))');
      break;
    }
    case 'connect_matcher':
      r.unsupported('connect_matcher', 'CONNECT matching is not supported');
      break;
    case 'path_match_policy':
      r.unsupported('path_match_policy', 'path match policy extensions are not supported');
      break;
    default:
      r.ctx.error(r.path, 'one of prefix, path, safe_regex or path_separated_prefix is required');
  }
  if (!e.caseSensitive) e.pathValue = e.pathValue.toLowerCase();
  e.headers = r
    .messages('headers')
    .map(compileHeaderMatcher)
    .filter((m): m is HeaderMatcher => m !== undefined);
  e.queryParameters = r
    .messages('query_parameters')
    .map(compileQueryParameterMatcher)
    .filter((m): m is QueryParameterMatcher => m !== undefined);
  const grpc = r.message('grpc');
  if (grpc) {
    e.grpcOnly = true;
    grpc.done();
  }
  const rf = r.message('runtime_fraction');
  if (rf) e.fraction = compileRuntimeFraction(rf);
  r.unsupported('tls_context', 'TLS context matching is not supported yet');
  r.unsupported('dynamic_metadata', 'dynamic metadata matching is not supported');
  r.unsupported('filter_state', 'filter state matching is not supported');
  r.done();
}

function compileRegexSubstitute(r: ProtoReader): { regex: Re2Regex; substitution: string } | undefined {
  const pattern = r.message('pattern');
  const regex = pattern ? compileRegexMatcher(pattern) : undefined;
  if (!pattern) r.ctx.error(r.at('pattern'), 'pattern is required');
  const sub = re2SubstitutionToJs(r.ctx, r.string('substitution'), r.at('substitution'));
  r.done();
  if (!regex || sub === undefined) return undefined;
  // Substitution matches anywhere in the input (not a full match): use the plain pattern.
  const search = compileRe2(r.ctx, regex.source, r.at('pattern.regex'));
  return search ? { regex: search, substitution: sub } : undefined;
}

function compileRouteAction(r: ProtoReader, e: RouteEntry, vh: VirtualHost): void {
  const which = r.oneof([
    'cluster',
    'cluster_header',
    'weighted_clusters',
    'cluster_specifier_plugin',
    'inline_cluster_specifier_plugin',
  ]);
  r.raw('cluster_specifier');
  switch (which) {
    case 'cluster':
      e.cluster = r.string('cluster');
      if (e.cluster === '') r.ctx.error(r.at('cluster'), 'cluster name must not be empty');
      break;
    case 'cluster_header':
      e.clusterHeader = r.string('cluster_header').toLowerCase();
      if (!isValidFieldValue(e.clusterHeader) || e.clusterHeader === '')
        r.ctx.error(r.at('cluster_header'), 'invalid header name');
      break;
    case 'weighted_clusters':
      e.weighted = compileWeightedClusters(r.message('weighted_clusters')!);
      break;
    case 'cluster_specifier_plugin':
    case 'inline_cluster_specifier_plugin':
      r.unsupported(which, 'cluster specifier plugins are not supported');
      break;
    default:
      r.ctx.error(r.path, 'one of cluster, cluster_header or weighted_clusters is required');
  }
  e.clusterNotFoundStatus =
    NOT_FOUND_CODES[
      r.enumName('cluster_not_found_response_code', [
        'SERVICE_UNAVAILABLE',
        'NOT_FOUND',
        'INTERNAL_SERVER_ERROR',
      ] as const)
    ];
  const rewrite = r.oneof(['prefix_rewrite', 'regex_rewrite', 'path_rewrite_policy']);
  if (rewrite === 'prefix_rewrite') e.prefixRewrite = r.string('prefix_rewrite');
  else r.ignore('prefix_rewrite');
  if (rewrite === 'regex_rewrite') e.regexRewrite = compileRegexSubstitute(r.message('regex_rewrite')!);
  else r.ignore('regex_rewrite');
  r.unsupported('path_rewrite_policy', 'path rewrite policy extensions are not supported');
  // On a regex route prefix_rewrite replaces the whole path before the query (Envoy's rule):
  // matchedLength() of a regex route is the path length.
  const host = r.oneof([
    'host_rewrite_literal',
    'auto_host_rewrite',
    'host_rewrite_header',
    'host_rewrite_path_regex',
  ]);
  r.raw('host_rewrite_specifier');
  switch (host) {
    case 'host_rewrite_literal':
      e.hostRewriteLiteral = r.string('host_rewrite_literal');
      if (!isValidFieldValue(e.hostRewriteLiteral))
        r.ctx.error(r.at('host_rewrite_literal'), 'invalid host value');
      break;
    case 'auto_host_rewrite':
      e.autoHostRewrite = r.wrappedBool('auto_host_rewrite', false);
      break;
    case 'host_rewrite_header':
      e.hostRewriteHeader = r.string('host_rewrite_header').toLowerCase();
      break;
    case 'host_rewrite_path_regex':
      e.hostRewritePathRegex = compileRegexSubstitute(r.message('host_rewrite_path_regex')!);
      break;
  }
  r.ignore('host_rewrite_literal', 'auto_host_rewrite', 'host_rewrite_header', 'host_rewrite_path_regex');
  e.appendXForwardedHost = r.bool('append_x_forwarded_host');
  const timeout = r.duration('timeout');
  e.timeoutMs = timeout ?? DEFAULT_ROUTE_TIMEOUT_MS;
  e.idleTimeoutMs = r.duration('idle_timeout');
  const rp = r.message('retry_policy');
  e.retryPolicy = rp ? compileRetryPolicy(rp) : vh.retryPolicy;
  const msd = r.message('max_stream_duration');
  if (msd) {
    e.maxStreamDurationMs = msd.duration('max_stream_duration');
    e.grpcTimeoutHeaderMaxMs = msd.duration('grpc_timeout_header_max');
    e.grpcTimeoutHeaderOffsetMs = msd.duration('grpc_timeout_header_offset') ?? 0;
    msd.done();
  }
  // Deprecated: the grpc-timeout header as the route timeout (not a stream duration).
  e.maxGrpcTimeoutMs = r.duration('max_grpc_timeout');
  e.grpcTimeoutOffsetMs = r.duration('grpc_timeout_offset') ?? 0;
  const upgrades = new Map<string, boolean>();
  for (const u of r.messages('upgrade_configs')) {
    const type = u.string('upgrade_type').toLowerCase();
    if (type === '') u.ctx.error(u.at('upgrade_type'), 'upgrade_type is required');
    if (type === 'connect') u.ctx.error(u.at('upgrade_type'), 'CONNECT upgrades are not supported');
    upgrades.set(type, u.wrappedBool('enabled', true));
    u.unsupported('connect_config', 'CONNECT configuration is not supported');
    u.done();
  }
  e.upgrades = upgrades;
  // Priority only selects circuit-breaker thresholds; only DEFAULT thresholds exist here.
  const priority = r.enumName('priority', ['DEFAULT', 'HIGH'] as const);
  if (priority !== 'DEFAULT') r.ctx.error(r.at('priority'), 'only DEFAULT routing priority is supported');
  r.unsupported('metadata_match', 'subset load balancing (metadata_match) is not supported');
  r.unsupported('retry_policy_typed_config', 'typed retry policies are not supported');
  r.unsupported('request_mirror_policies', 'request mirroring is not supported yet');
  r.unsupported('rate_limits', 'rate limits are not supported');
  r.unsupported('include_vh_rate_limits', 'rate limits are not supported');
  r.unsupported('hash_policy', 'hash policies need a hashing load balancer, which is not supported yet');
  r.unsupported('cors', 'the deprecated route cors field is not supported (use the CORS filter)');
  r.unsupported('internal_redirect_policy', 'internal redirects are not supported');
  r.unsupported('internal_redirect_action', 'internal redirects are not supported');
  r.unsupported('max_internal_redirects', 'internal redirects are not supported');
  r.unsupported('hedge_policy', 'request hedging is not supported');
  r.unsupported('early_data_policy', 'early data is not supported');
  r.done();
}

function compileWeightedClusters(r: ProtoReader): WeightedClusters {
  const clusters: WeightedClusterEntry[] = [];
  for (const c of r.messages('clusters')) {
    const name = c.string('name');
    if (name === '') c.ctx.error(c.at('name'), 'cluster name is required');
    c.unsupported('cluster_header', 'cluster_header in weighted clusters is not supported');
    const weight = c.wrappedNumber('weight', 0);
    const requestMutations = compileHeaderMutations(
      c,
      'request_headers_to_add',
      'request_headers_to_remove',
      false,
    );
    const responseMutations = compileHeaderMutations(
      c,
      'response_headers_to_add',
      'response_headers_to_remove',
      true,
    );
    const hostRewriteLiteral = c.has('host_rewrite_literal') ? c.string('host_rewrite_literal') : undefined;
    c.ignore('host_rewrite_literal');
    c.raw('host_rewrite_specifier');
    c.unsupported('metadata_match', 'subset load balancing (metadata_match) is not supported');
    if (c.has('typed_per_filter_config'))
      c.unsupported('typed_per_filter_config', 'per-cluster filter config is not supported');
    else c.ignore('typed_per_filter_config');
    c.done();
    clusters.push({ name, weight, requestMutations, responseMutations, hostRewriteLiteral });
  }
  const total = clusters.reduce((s, c) => s + c.weight, 0);
  const declared = r.wrappedNumber('total_weight');
  if (declared !== undefined && declared !== total) {
    r.ctx.error(r.at('total_weight'), `total_weight ${declared} does not equal the sum of weights ${total}`);
  }
  if (clusters.length === 0) r.ctx.error(r.at('clusters'), 'at least one cluster is required');
  else if (total === 0) r.ctx.error(r.at('clusters'), 'the sum of weights must be greater than zero');
  // runtime_key_prefix only names runtime overrides of the weights; with no runtime layer the
  // configured weights apply, as they do in Envoy when the keys are absent.
  r.ignore('runtime_key_prefix');
  const headerName = r.has('header_name') ? r.string('header_name').toLowerCase() : undefined;
  r.ignore('header_name');
  r.raw('random_value_specifier');
  r.unsupported('use_hash_policy', 'hash-based weighted cluster selection is not supported');
  r.done();
  return { clusters, totalWeight: total, headerName };
}

function compileRedirect(r: ProtoReader): RedirectSpec {
  const schemeWhich = r.oneof(['https_redirect', 'scheme_redirect']);
  r.raw('scheme_rewrite_specifier');
  let scheme: string | undefined;
  if (schemeWhich === 'https_redirect') {
    if (r.bool('https_redirect')) scheme = 'https';
  } else if (schemeWhich === 'scheme_redirect') {
    scheme = r.string('scheme_redirect').toLowerCase();
  }
  r.ignore('https_redirect', 'scheme_redirect');
  const host = r.has('host_redirect') ? r.string('host_redirect') : undefined;
  r.ignore('host_redirect');
  const port = r.number('port_redirect');
  const pathWhich = r.oneof(['path_redirect', 'prefix_rewrite', 'regex_rewrite']);
  r.raw('path_rewrite_specifier');
  let pathRedirect: string | undefined;
  let prefixRewrite: string | undefined;
  let regexRewrite: { regex: Re2Regex; substitution: string } | undefined;
  if (pathWhich === 'path_redirect') pathRedirect = r.string('path_redirect');
  else if (pathWhich === 'prefix_rewrite') prefixRewrite = r.string('prefix_rewrite');
  else if (pathWhich === 'regex_rewrite') regexRewrite = compileRegexSubstitute(r.message('regex_rewrite')!);
  r.ignore('path_redirect', 'prefix_rewrite', 'regex_rewrite');
  const code = REDIRECT_CODES[REDIRECT_NAMES.indexOf(r.enumName('response_code', REDIRECT_NAMES))];
  const stripQuery = r.bool('strip_query');
  r.done();
  for (const [f, v] of [
    ['host_redirect', host],
    ['path_redirect', pathRedirect],
    ['prefix_rewrite', prefixRewrite],
  ] as const) {
    if (v !== undefined && !isValidFieldValue(v))
      r.ctx.error(r.at(f), 'value contains characters not allowed in a header');
  }
  return { scheme, host, port, pathRedirect, prefixRewrite, regexRewrite, status: code, stripQuery };
}

/**
 * Location for a redirect route, from the request as seen by the proxy. Follows Envoy: the
 * scheme is swapped (and a default port for the old scheme dropped), host and port replaced,
 * the path redirected or rewritten, and the query kept unless stripped or the new path has one.
 */
export function redirectLocation(
  spec: RedirectSpec,
  route: RouteEntry,
  req: { readonly path: string; readonly authority: string; readonly scheme: string },
  scratch: MatchScratch,
): string {
  const origScheme = req.scheme;
  const scheme = spec.scheme ?? origScheme;
  let host: string;
  if (spec.host !== undefined) {
    host = spec.host;
  } else {
    // The request's host, without its port when a new port is given or when the scheme changes
    // away from one whose default port the request spelled out.
    host = req.authority;
    const hostOnly = stripPort(host);
    if (hostOnly.length < host.length) {
      const reqPort = host.slice(hostOnly.length + 1);
      let removePort = spec.port !== 0;
      if (scheme !== origScheme) {
        removePort ||=
          (origScheme === 'https' && reqPort === '443') || (origScheme === 'http' && reqPort === '80');
      }
      if (removePort) host = hostOnly;
    }
  }
  if (spec.port !== 0) host = `${host}:${spec.port}`;

  const path = req.path;
  const q = scratch.queryAt(path);
  let newPath = path.slice(0, q);
  let query = path.slice(q); // includes '?'
  if (spec.pathRedirect !== undefined) {
    const pq = spec.pathRedirect.indexOf('?');
    if (pq >= 0) {
      newPath = spec.pathRedirect.slice(0, pq);
      query = spec.pathRedirect.slice(pq);
      return `${scheme}://${host}${newPath}${query}`;
    }
    newPath = spec.pathRedirect;
  } else if (spec.prefixRewrite !== undefined) {
    const n = route.matchedLength(path, scratch);
    newPath = spec.prefixRewrite + path.slice(n, q);
  } else if (spec.regexRewrite !== undefined) {
    newPath = spec.regexRewrite.regex.replaceAll(newPath, spec.regexRewrite.substitution);
  }
  if (spec.stripQuery) query = '';
  return `${scheme}://${host}${newPath}${query}`;
}
