/**
 * HttpConnectionManager config: the Envoy v3 proto compiled into `HcmConfig` (settings, stats
 * names, the route provider, compiled HTTP filter factories). Unsupported behaviour-changing
 * fields are errors with their paths.
 */
import { readFileSync } from 'node:fs';
import { messageNameOf, ROUTE_FILTER_CONFIG_TYPE_URL } from '../../../lib/xds/type-urls.ts';
import { type CidrRange, parseCidr } from '../../common/cidr.ts';
import {
  type AnyDecoder,
  CompileContext,
  type CompileResult,
  type ProtoReader,
  ProtoReader as Reader,
  readAny,
} from '../../config/proto.ts';
import { TYPE } from '../../config/type-names.ts';
import type { StatsStore } from '../../stats/store.ts';
import { CodeCounters, type Counter, type Gauge, type Histogram } from '../../stats/store.ts';
import type { ClusterManager } from '../../upstream/cluster-manager.ts';
import type { HttpFilterFactory } from './filters/filter.ts';
import { ASSERT_FILTER_ORDER } from './filters/order-check.ts';
import { type FilterCompileEnv, httpFilterRegistration } from './filters/registry.ts';
import {
  type CommonHttpSettings,
  compileCommonHttpOptions,
  compileHttp1Options,
  compileHttp2Options,
  defaultCommonHttpSettings,
  defaultHttp1Settings,
  defaultHttp2Settings,
  type Http1Settings,
  type Http2Settings,
} from './protocol-options.ts';
import { compileRouteConfigurationInto, type RouteTable } from './router/route-table.ts';
// The router registers itself as the terminal filter.
import './router/router-filter.ts';

/** Where the connection manager gets its route table: inline, or RDS kept current by xDS. */
export interface RouteConfigProvider {
  readonly name: string;
  current(): RouteTable | undefined;
}

export class StaticRouteConfigProvider implements RouteConfigProvider {
  readonly name: string;
  private readonly table: RouteTable;
  constructor(table: RouteTable) {
    this.table = table;
    this.name = table.name;
  }
  current(): RouteTable {
    return this.table;
  }
}

/** An RDS subscription's latest table; the xDS client calls `update`. */
export class RdsRouteConfigProvider implements RouteConfigProvider {
  readonly name: string;
  private table: RouteTable | undefined;
  constructor(name: string) {
    this.name = name;
  }
  current(): RouteTable | undefined {
    return this.table;
  }
  update(table: RouteTable | undefined): void {
    this.table = table;
  }
}

export interface HcmEnv {
  readonly clusterManager: ClusterManager;
  readonly stats: StatsStore;
  readonly decodeAny?: AnyDecoder;
  /** RDS: the provider for a route configuration name (the xDS client owns them). */
  readonly rds?: (routeConfigName: string) => RouteConfigProvider;
  readonly readFile?: (path: string) => Buffer;
  /** Randomness for routing decisions (tests seed it). */
  readonly random?: () => number;
  /** The enclosing listener's traffic_direction (telemetry filters read it). */
  readonly trafficDirection?: string;
}

export const CODEC_AUTO = 0;
export const CODEC_HTTP1 = 1;
export const CODEC_HTTP2 = 2;

export const SERVER_OVERWRITE = 0;
export const SERVER_APPEND_IF_ABSENT = 1;
export const SERVER_PASS_THROUGH = 2;

export const FCC_SANITIZE = 0;
export const FCC_FORWARD_ONLY = 1;
export const FCC_APPEND_FORWARD = 2;
export const FCC_SANITIZE_SET = 3;
export const FCC_ALWAYS_FORWARD_ONLY = 4;

export const SLASHES_KEEP = 0;
export const SLASHES_REJECT = 1;
export const SLASHES_UNESCAPE_AND_REDIRECT = 2;
export const SLASHES_UNESCAPE_AND_FORWARD = 3;

export const STRIP_PORT_NONE = 0;
export const STRIP_PORT_ANY = 1;
export const STRIP_PORT_MATCHING = 2;

export class HcmStats {
  readonly downstreamCxTotal: Counter;
  readonly downstreamCxActive: Gauge;
  readonly downstreamCxHttp1Total: Counter;
  readonly downstreamCxHttp1Active: Gauge;
  readonly downstreamCxHttp2Total: Counter;
  readonly downstreamCxHttp2Active: Gauge;
  readonly downstreamCxDestroy: Counter;
  readonly downstreamCxDestroyRemote: Counter;
  readonly downstreamCxDestroyLocal: Counter;
  readonly downstreamCxDestroyActiveRq: Counter;
  readonly downstreamCxProtocolError: Counter;
  readonly downstreamCxRxBytesTotal: Counter;
  readonly downstreamCxTxBytesTotal: Counter;
  readonly downstreamCxIdleTimeout: Counter;
  readonly downstreamCxDrainClose: Counter;
  readonly downstreamCxMaxDurationReached: Counter;
  readonly downstreamCxMaxRequestsReached: Counter;
  readonly downstreamCxUpgradesTotal: Counter;
  readonly downstreamCxUpgradesActive: Gauge;
  readonly downstreamRqTotal: Counter;
  readonly downstreamRqHttp1Total: Counter;
  readonly downstreamRqHttp2Total: Counter;
  readonly downstreamRqActive: Gauge;
  readonly downstreamRqCompleted: Counter;
  readonly downstreamRqCodes: CodeCounters;
  readonly downstreamRqTimeout: Counter;
  readonly downstreamRqHeaderTimeout: Counter;
  readonly downstreamRqIdleTimeout: Counter;
  readonly downstreamRqMaxDurationReached: Counter;
  readonly downstreamRqRxReset: Counter;
  readonly downstreamRqTxReset: Counter;
  readonly downstreamRqNonRelativePath: Counter;
  readonly downstreamRqTooLarge: Counter;
  readonly downstreamRqWsOnNonWsRoute: Counter;
  readonly downstreamRqResponseBeforeRqComplete: Counter;
  readonly downstreamRqTime: Histogram;
  // Router stats share the http.<prefix> scope.
  readonly noRoute: Counter;
  readonly noCluster: Counter;
  readonly rqRedirect: Counter;
  readonly rqDirectResponse: Counter;
  readonly rqTotal: Counter;
  readonly rqResetAfterDownstreamResponseStarted: Counter;

  constructor(store: StatsStore, statPrefix: string) {
    const s = store.scope(`http.${statPrefix}`);
    this.downstreamCxTotal = s.counter('downstream_cx_total');
    this.downstreamCxActive = s.gauge('downstream_cx_active');
    this.downstreamCxHttp1Total = s.counter('downstream_cx_http1_total');
    this.downstreamCxHttp1Active = s.gauge('downstream_cx_http1_active');
    this.downstreamCxHttp2Total = s.counter('downstream_cx_http2_total');
    this.downstreamCxHttp2Active = s.gauge('downstream_cx_http2_active');
    this.downstreamCxDestroy = s.counter('downstream_cx_destroy');
    this.downstreamCxDestroyRemote = s.counter('downstream_cx_destroy_remote');
    this.downstreamCxDestroyLocal = s.counter('downstream_cx_destroy_local');
    this.downstreamCxDestroyActiveRq = s.counter('downstream_cx_destroy_active_rq');
    this.downstreamCxProtocolError = s.counter('downstream_cx_protocol_error');
    this.downstreamCxRxBytesTotal = s.counter('downstream_cx_rx_bytes_total');
    this.downstreamCxTxBytesTotal = s.counter('downstream_cx_tx_bytes_total');
    this.downstreamCxIdleTimeout = s.counter('downstream_cx_idle_timeout');
    this.downstreamCxDrainClose = s.counter('downstream_cx_drain_close');
    this.downstreamCxMaxDurationReached = s.counter('downstream_cx_max_duration_reached');
    this.downstreamCxMaxRequestsReached = s.counter('downstream_cx_max_requests_reached');
    this.downstreamCxUpgradesTotal = s.counter('downstream_cx_upgrades_total');
    this.downstreamCxUpgradesActive = s.gauge('downstream_cx_upgrades_active');
    this.downstreamRqTotal = s.counter('downstream_rq_total');
    this.downstreamRqHttp1Total = s.counter('downstream_rq_http1_total');
    this.downstreamRqHttp2Total = s.counter('downstream_rq_http2_total');
    this.downstreamRqActive = s.gauge('downstream_rq_active');
    this.downstreamRqCompleted = s.counter('downstream_rq_completed');
    this.downstreamRqCodes = new CodeCounters(s, 'downstream_rq');
    this.downstreamRqTimeout = s.counter('downstream_rq_timeout');
    this.downstreamRqHeaderTimeout = s.counter('downstream_rq_header_timeout');
    this.downstreamRqIdleTimeout = s.counter('downstream_rq_idle_timeout');
    this.downstreamRqMaxDurationReached = s.counter('downstream_rq_max_duration_reached');
    this.downstreamRqRxReset = s.counter('downstream_rq_rx_reset');
    this.downstreamRqTxReset = s.counter('downstream_rq_tx_reset');
    this.downstreamRqNonRelativePath = s.counter('downstream_rq_non_relative_path');
    this.downstreamRqTooLarge = s.counter('downstream_rq_too_large');
    this.downstreamRqWsOnNonWsRoute = s.counter('downstream_rq_ws_on_non_ws_route');
    this.downstreamRqResponseBeforeRqComplete = s.counter('downstream_rq_response_before_rq_complete');
    this.downstreamRqTime = s.histogram('downstream_rq_time');
    this.noRoute = s.counter('no_route');
    this.noCluster = s.counter('no_cluster');
    this.rqRedirect = s.counter('rq_redirect');
    this.rqDirectResponse = s.counter('rq_direct_response');
    this.rqTotal = s.counter('rq_total');
    this.rqResetAfterDownstreamResponseStarted = s.counter('rq_reset_after_downstream_response_started');
  }
}

export class HcmConfig {
  statPrefix = '';
  stats!: HcmStats;
  routes!: RouteConfigProvider;
  filterFactories: HttpFilterFactory[] = [];
  clusterManager!: ClusterManager;
  maxRequestHeadersBytes = 60 * 1024;
  common: CommonHttpSettings = defaultCommonHttpSettings(3_600_000);
  http1: Http1Settings = defaultHttp1Settings();
  /** codec_type: which protocols a cleartext connection may speak (TLS follows ALPN). */
  codec = CODEC_AUTO;
  http2: Http2Settings = defaultHttp2Settings();
  serverName = 'envoy';
  serverTransform = SERVER_OVERWRITE;
  /** scheme_header_transformation.scheme_to_overwrite, or undefined. */
  schemeOverwrite: string | undefined;
  streamIdleTimeoutMs = 300_000;
  requestTimeoutMs = 0;
  requestHeadersTimeoutMs = 0;
  drainTimeoutMs = 5000;
  delayedCloseTimeoutMs = 1000;
  useRemoteAddress = false;
  xffNumTrustedHops = 0;
  skipXffAppend = false;
  internalRanges: CidrRange[] | undefined;
  via = '';
  generateRequestId = true;
  preserveExternalRequestId = false;
  alwaysSetRequestIdInResponse = false;
  forwardClientCertDetails = FCC_SANITIZE;
  proxy100Continue = false;
  /** Upgrade types (lowercase) → enabled. */
  upgrades = new Map<string, boolean>();
  normalizePath = false;
  mergeSlashes = false;
  escapedSlashes = SLASHES_KEEP;
  stripPort = STRIP_PORT_NONE;
  stripTrailingHostDot = false;
  appendXForwardedPort = false;
  random: () => number = Math.random;
  /** Debug: wrap filters in call-order assertions (MIZZEN_PROXY_ASSERT_FILTER_ORDER). */
  assertFilterOrder = false;
}

const CODEC_TYPES = ['AUTO', 'HTTP1', 'HTTP2', 'HTTP3'] as const;
const SERVER_TRANSFORMS = ['OVERWRITE', 'APPEND_IF_ABSENT', 'PASS_THROUGH'] as const;
const FCC = ['SANITIZE', 'FORWARD_ONLY', 'APPEND_FORWARD', 'SANITIZE_SET', 'ALWAYS_FORWARD_ONLY'] as const;
const SLASH_ACTIONS = [
  'IMPLEMENTATION_SPECIFIC_DEFAULT',
  'KEEP_UNCHANGED',
  'REJECT_REQUEST',
  'UNESCAPE_AND_REDIRECT',
  'UNESCAPE_AND_FORWARD',
] as const;

/** Compiles a standalone HttpConnectionManager message. */
export function compileHttpConnectionManager(proto: unknown, env: HcmEnv): CompileResult<HcmConfig> {
  const ctx = new CompileContext({ decodeAny: env.decodeAny });
  const cfg = compileHttpConnectionManagerInto(new Reader(ctx, proto, '', TYPE.HTTP_CONNECTION_MANAGER), env);
  return ctx.result(cfg);
}

/** Compiles an HttpConnectionManager read from an enclosing resource (a listener's filter). */
export function compileHttpConnectionManagerInto(r: ProtoReader, env: HcmEnv): HcmConfig {
  const ctx = r.ctx;
  const c = new HcmConfig();
  c.clusterManager = env.clusterManager;
  c.assertFilterOrder = ASSERT_FILTER_ORDER.get();
  if (env.random) c.random = env.random;
  const codec = r.enumName('codec_type', CODEC_TYPES);
  if (codec === 'HTTP3') ctx.error(r.at('codec_type'), 'HTTP3 connections are not supported');
  c.codec = codec === 'HTTP2' ? CODEC_HTTP2 : codec === 'HTTP1' ? CODEC_HTTP1 : CODEC_AUTO;
  c.statPrefix = r.string('stat_prefix');
  if (c.statPrefix === '') ctx.error(r.at('stat_prefix'), 'stat_prefix is required');
  c.stats = new HcmStats(env.stats, c.statPrefix);

  const which = r.oneof(['rds', 'route_config', 'scoped_routes']);
  r.raw('route_specifier');
  if (which === 'route_config') {
    const table = compileRouteConfigurationInto(r.message('route_config')!, {
      decodeAny: env.decodeAny,
      readFile: env.readFile ?? readFileSync,
      inline: true,
      clusterExists: (n) => env.clusterManager.has(n),
      perFilterConfig: perFilterConfigCompiler,
    });
    c.routes = new StaticRouteConfigProvider(table);
  } else if (which === 'rds') {
    const rds = r.message('rds')!;
    const name = rds.string('route_config_name');
    // The config source is the xDS client's concern (ADS).
    rds.ignore('config_source');
    rds.done();
    if (name === '') ctx.error(rds.at('route_config_name'), 'route_config_name is required');
    c.routes = env.rds ? env.rds(name) : new RdsRouteConfigProvider(name);
  } else if (which === 'scoped_routes') {
    r.unsupported('scoped_routes', 'scoped routes are not supported');
  } else {
    ctx.error(r.path, 'one of rds or route_config is required');
  }

  // HTTP filters.
  const filters = r.messages('http_filters');
  const fenv: FilterCompileEnv = {
    services: {
      clusterManager: env.clusterManager,
      stats: env.stats,
      hcm: c,
      trafficDirection: env.trafficDirection ?? 'UNSPECIFIED',
    },
  };
  filters.forEach((f, i) => {
    const name = f.string('name');
    const optional = f.bool('is_optional');
    const disabled = f.bool('disabled');
    const any = f.raw('typed_config');
    f.raw('config_type');
    f.unsupported('config_discovery', 'filter config discovery (ECDS) is not supported');
    f.done();
    if (disabled) {
      ctx.error(f.at('disabled'), 'filters disabled by default (enabled per route) are not supported');
      return;
    }
    if (any === undefined || any === null) {
      ctx.error(f.at('typed_config'), 'typed_config is required');
      return;
    }
    const opened = readAny(ctx, any, f.at('typed_config'));
    if (!opened) return;
    const reg = httpFilterRegistration(opened.typeName);
    if (!reg) {
      if (optional) return;
      ctx.error(
        f.at('typed_config'),
        `HTTP filter ${name || opened.typeName} (${opened.typeName}) is not supported`,
      );
      return;
    }
    const factory = reg.compile(opened.reader, name, fenv);
    if (!factory) return;
    if (factory.terminal && i !== filters.length - 1)
      ctx.error(f.path, `terminal filter ${name} must be the last filter`);
    c.filterFactories.push(factory);
  });
  if (c.filterFactories.length === 0 || !c.filterFactories[c.filterFactories.length - 1].terminal) {
    if (ctx.ok)
      ctx.error(r.at('http_filters'), 'the last HTTP filter must be a terminal filter (the router)');
  }

  r.unsupported('add_user_agent', 'add_user_agent is not supported');
  r.unsupported('tracing', 'tracing is not supported yet');
  const common = r.message('common_http_protocol_options');
  if (common) compileCommonHttpOptions(common, c.common);
  const h1 = r.message('http_protocol_options');
  if (h1) compileHttp1Options(h1, c.http1);
  const h2 = r.message('http2_protocol_options');
  if (h2) compileHttp2Options(h2, c.http2);
  r.unsupported('http3_protocol_options', 'HTTP/3 is not supported');
  c.serverName = r.string('server_name', 'envoy');
  c.serverTransform = SERVER_TRANSFORMS.indexOf(
    r.enumName('server_header_transformation', SERVER_TRANSFORMS),
  );
  const sht = r.message('scheme_header_transformation');
  if (sht) {
    const which2 = sht.oneof(['scheme_to_overwrite']);
    sht.raw('transformation');
    if (which2) {
      const s = sht.string('scheme_to_overwrite');
      if (s !== 'http' && s !== 'https') ctx.error(sht.at('scheme_to_overwrite'), 'must be http or https');
      c.schemeOverwrite = s;
    }
    sht.unsupported('match_upstream', 'match_upstream is not supported');
    sht.done();
  }
  const kb = r.wrappedNumber('max_request_headers_kb');
  if (kb !== undefined) {
    if (kb < 1 || kb > 8192) ctx.error(r.at('max_request_headers_kb'), 'must be between 1 and 8192');
    c.maxRequestHeadersBytes = kb * 1024;
  }
  const sit = r.duration('stream_idle_timeout');
  if (sit !== undefined) c.streamIdleTimeoutMs = sit;
  c.requestTimeoutMs = r.duration('request_timeout') ?? 0;
  c.requestHeadersTimeoutMs = r.duration('request_headers_timeout') ?? 0;
  c.drainTimeoutMs = r.duration('drain_timeout') ?? 5000;
  c.delayedCloseTimeoutMs = r.duration('delayed_close_timeout') ?? 1000;
  r.unsupported('access_log', 'access logs are not supported yet');
  r.unsupported('access_log_flush_interval', 'access logs are not supported yet');
  r.unsupported('flush_access_log_on_new_request', 'access logs are not supported yet');
  r.unsupported('access_log_options', 'access logs are not supported yet');
  c.useRemoteAddress = r.wrappedBool('use_remote_address', false);
  c.xffNumTrustedHops = r.number('xff_num_trusted_hops');
  r.unsupported('original_ip_detection_extensions', 'original IP detection extensions are not supported');
  r.unsupported('early_header_mutation_extensions', 'early header mutation extensions are not supported');
  const iac = r.message('internal_address_config');
  if (iac) {
    // Unix sockets are never used by these listeners, so the flag cannot matter.
    iac.ignore('unix_sockets');
    const ranges: CidrRange[] = [];
    for (const cr of iac.messages('cidr_ranges')) {
      const prefix = cr.string('address_prefix');
      const len = cr.wrappedNumber('prefix_len', 0);
      cr.done();
      const parsed = parseCidr(prefix, len);
      if (!parsed) ctx.error(cr.path, `invalid CIDR ${prefix}/${len}`);
      else ranges.push(parsed);
    }
    iac.done();
    c.internalRanges = ranges;
  }
  c.skipXffAppend = r.bool('skip_xff_append');
  c.via = r.string('via');
  c.generateRequestId = r.wrappedBool('generate_request_id', true);
  c.preserveExternalRequestId = r.bool('preserve_external_request_id');
  c.alwaysSetRequestIdInResponse = r.bool('always_set_request_id_in_response');
  c.forwardClientCertDetails = FCC.indexOf(r.enumName('forward_client_cert_details', FCC));
  // Which client-cert fields to add only matters for TLS connections, which have none here yet.
  r.ignore('set_current_client_cert_details');
  c.proxy100Continue = r.bool('proxy_100_continue');
  r.unsupported(
    'represent_ipv4_remote_address_as_ipv4_mapped_ipv6',
    'IPv4-mapped remote addresses are not supported',
  );
  for (const u of r.messages('upgrade_configs')) {
    const type = u.string('upgrade_type').toLowerCase();
    if (type === '') ctx.error(u.at('upgrade_type'), 'upgrade_type is required');
    if (type === 'connect') ctx.error(u.at('upgrade_type'), 'CONNECT upgrades are not supported');
    u.unsupported('filters', 'per-upgrade filter chains are not supported');
    c.upgrades.set(type, u.wrappedBool('enabled', true));
    u.done();
  }
  c.normalizePath = r.wrappedBool('normalize_path', false);
  c.mergeSlashes = r.bool('merge_slashes');
  const slashes = r.enumName('path_with_escaped_slashes_action', SLASH_ACTIONS);
  c.escapedSlashes =
    slashes === 'REJECT_REQUEST'
      ? SLASHES_REJECT
      : slashes === 'UNESCAPE_AND_REDIRECT'
        ? SLASHES_UNESCAPE_AND_REDIRECT
        : slashes === 'UNESCAPE_AND_FORWARD'
          ? SLASHES_UNESCAPE_AND_FORWARD
          : SLASHES_KEEP;
  const rid = r.message('request_id_extension');
  if (rid) {
    const any = rid.raw('typed_config');
    rid.done();
    const opened = any ? readAny(ctx, any, rid.at('typed_config')) : undefined;
    if (opened && opened.typeName !== TYPE.UUID_REQUEST_ID) {
      ctx.error(
        rid.at('typed_config'),
        `request ID extension ${opened.typeName} is not supported (only UUID)`,
      );
    } else if (opened) {
      // UUID is the built-in behaviour; its trace-bit options only matter with tracing.
      opened.reader.ignore('pack_trace_reason', 'use_request_id_for_trace_sampling');
      opened.reader.done();
    }
  }
  r.unsupported('local_reply_config', 'custom local replies are not supported');
  const matching = r.bool('strip_matching_host_port');
  r.raw('strip_port_mode');
  const any = r.bool('strip_any_host_port');
  if (matching && any)
    ctx.error(r.at('strip_any_host_port'), 'strip_matching_host_port and strip_any_host_port are exclusive');
  c.stripPort = any ? STRIP_PORT_ANY : matching ? STRIP_PORT_MATCHING : STRIP_PORT_NONE;
  // HTTP/1 always ends the connection on a malformed message, whatever this says.
  r.ignore('stream_error_on_invalid_http_message');
  r.unsupported('path_normalization_options', 'path normalization options are not supported');
  c.stripTrailingHostDot = r.bool('strip_trailing_host_dot');
  r.unsupported('proxy_status_config', 'the Proxy-Status header is not supported');
  r.unsupported('typed_header_validation_config', 'header validation extensions are not supported');
  c.appendXForwardedPort = r.bool('append_x_forwarded_port');
  r.unsupported('append_local_overload', 'the overload manager is not supported');
  r.unsupported('add_proxy_protocol_connection_state', 'PROXY protocol state is not supported');
  r.done();
  return c;
}

/**
 * Route-level typed_per_filter_config goes through the filter registry. A FilterConfig wrapper
 * may mark the override optional (skipped when the filter is unknown); `disabled` (turning a
 * filter off for a route) is not supported.
 */
function perFilterConfigCompiler(
  _filterName: string,
  config: unknown,
  path: string,
  ctx: CompileContext,
): unknown {
  let opened = readAny(ctx, config, path);
  if (!opened) return null;
  let optional = false;
  if (opened.typeName === FILTER_CONFIG) {
    const w = opened.reader;
    optional = w.bool('is_optional');
    w.unsupported('disabled', 'disabling a filter per route is not supported');
    const inner = w.raw('config');
    w.done();
    if (inner === undefined || inner === null) return null;
    opened = readAny(ctx, inner, `${path}.config`);
    if (!opened) return null;
  }
  const reg = httpFilterRegistration(opened.typeName);
  if (!reg?.compilePerRoute) {
    opened.reader.ignore(...Object.keys(opened.reader.msg));
    opened.reader.done();
    // Optional overrides for filters this proxy does not have are skipped, as in Envoy.
    return optional ? SKIPPED : undefined;
  }
  return reg.compilePerRoute(opened.reader, ctx) ?? null;
}

const FILTER_CONFIG = messageNameOf(ROUTE_FILTER_CONFIG_TYPE_URL);
/** Marker for a skipped optional per-route config (kept so the route compiles). */
const SKIPPED = Object.freeze({ skipped: true });
