/**
 * Clusters: `compileCluster` turns an Envoy v3 Cluster into ClusterConfig (NACK-able errors with
 * field paths), `compileClusterLoadAssignment` does the same for EDS payloads, and `Cluster` is
 * the runtime: membership by priority, health-aware host lists with panic mode, one load
 * balancer per list (rebuilt on membership change), per-host HTTP/1.1 pools, DNS resolution
 * for STRICT_DNS / LOGICAL_DNS with periodic refresh, and on-demand hosts for ORIGINAL_DST.
 */
import dns from 'node:dns';
import net, { isIP } from 'node:net';
import { logger } from '../../lib/log.ts';
import { fromProtoStruct, type JsonValue } from '../../lib/xds/well-known.ts';
import {
  type AnyDecoder,
  CompileContext,
  type CompileResult,
  type ProtoReader,
  ProtoReader as Reader,
  readAny,
} from '../config/proto.ts';
import { EXTENSION, TYPE } from '../config/type-names.ts';
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
} from '../network/http/protocol-options.ts';
import type { StatsStore } from '../stats/store.ts';
import { ClusterStats, DEFAULT_THRESHOLDS, ResourceManager, type Thresholds } from './cluster-stats.ts';
import { HEALTH_DEGRADED, HEALTH_HEALTHY, HEALTH_UNHEALTHY, Host, hostKey } from './host.ts';
import './lb/index.ts';
import {
  type LbContext,
  type LbSettings,
  type LoadBalancer,
  loadBalancerFactory,
  pickWithPredicate,
} from './lb/load-balancer.ts';
import { type LocalityHosts, LocalityWeightedLoadBalancer } from './lb/locality-weighted.ts';
import { H1Pool, type PoolSettings } from './pool/h1.ts';
import { H2Pool, type H2PoolSettings } from './pool/h2.ts';
import {
  compileTransportSocket,
  SDS_CERTIFICATES_UNAVAILABLE,
  SDS_VALIDATION_UNAVAILABLE,
  type TransportSocketFactory,
} from './transport-socket.ts';

const log = logger('proxy:cluster');

export const CLUSTER_TYPES = ['STATIC', 'STRICT_DNS', 'LOGICAL_DNS', 'EDS', 'ORIGINAL_DST'] as const;
export type ClusterType = (typeof CLUSTER_TYPES)[number];
const LB_POLICIES = [
  'ROUND_ROBIN',
  'LEAST_REQUEST',
  'RING_HASH',
  'RANDOM',
  'MAGLEV',
  'CLUSTER_PROVIDED',
  'LOAD_BALANCING_POLICY_CONFIG',
] as const;
const DNS_FAMILIES = ['AUTO', 'V4_ONLY', 'V6_ONLY', 'V4_PREFERRED', 'ALL'] as const;
export type DnsFamily = (typeof DNS_FAMILIES)[number];

export interface LbEndpointConfig {
  /** IP, or a DNS name for STRICT_DNS / LOGICAL_DNS. */
  readonly address: string;
  readonly port: number;
  readonly hostname: string;
  readonly health: number;
  readonly weight: number;
  readonly metadata: unknown;
}

export interface LocalityEndpointsConfig {
  readonly locality: string;
  readonly priority: number;
  /** load_balancing_weight; 0 when unset (such a locality gets no load when weighted). */
  readonly weight: number;
  readonly metadata: unknown;
  readonly endpoints: readonly LbEndpointConfig[];
}

export interface LoadAssignment {
  readonly clusterName: string;
  readonly localities: readonly LocalityEndpointsConfig[];
  /** Percent (Envoy default 140). */
  readonly overprovisioningFactor: number;
}

export interface OriginalDstSettings {
  readonly useHttpHeader: boolean;
  readonly httpHeaderName: string;
  readonly upstreamPortOverride: number;
  readonly cleanupIntervalMs: number;
}

/** HTTP/1.1 upstream (the default). */
export const UPSTREAM_HTTP1 = 0;
/** HTTP/2 upstream (explicit_http_config.http2_protocol_options, or the deprecated field). */
export const UPSTREAM_HTTP2 = 1;
/** The downstream request's protocol (use_downstream_protocol_config). */
export const UPSTREAM_DOWNSTREAM = 2;
/** auto_config: HTTP/2 when TLS ALPN negotiates h2, else HTTP/1.1. */
export const UPSTREAM_AUTO = 3;

export interface ClusterConfig {
  readonly name: string;
  readonly statName: string;
  readonly type: ClusterType;
  /** EDS resource name to subscribe to (service_name or the cluster name). */
  readonly edsServiceName: string;
  readonly connectTimeoutMs: number;
  readonly bufferLimit: number;
  readonly lbPolicy: string;
  readonly lbSettings: LbSettings;
  /** Percent; below it a priority ignores health (panic). */
  readonly healthyPanicThreshold: number;
  readonly loadAssignment: LoadAssignment | undefined;
  readonly thresholds: Thresholds;
  readonly common: CommonHttpSettings;
  readonly http1: Http1Settings;
  /** Which HTTP version requests use upstream (UPSTREAM_*). */
  readonly upstreamProtocol: number;
  readonly http2: Http2Settings;
  readonly dnsRefreshRateMs: number;
  readonly dnsFailureRefreshRateMs: number;
  readonly dnsFamily: DnsFamily;
  readonly originalDst: OriginalDstSettings;
  readonly transport: TransportSocketFactory;
  /** transport_socket_matches, in order; the first whose `match` fits a host wins. */
  readonly transportMatches: readonly TransportSocketMatch[];
  /** upstream_bind_config.source_address. */
  readonly bindAddress: { readonly address: string; readonly port: number } | undefined;
  /** common_lb_config.locality_weighted_lb_config: pick a locality first, then a host in it. */
  readonly localityWeighted: boolean;
  readonly tcpKeepaliveMs: number;
  /**
   * The first service of Istio's cluster metadata (`filter_metadata.istio.services[0].host`):
   * what telemetry reports as destination_service for clusters whose name carries no host
   * (inbound|PORT||).
   */
  readonly istioServiceHost: string | undefined;
}

/** Metadata namespace transport_socket_matches match endpoints and localities against. */
export const TRANSPORT_SOCKET_MATCH_KEY = 'envoy.transport_socket_match';

export interface TransportSocketMatch {
  readonly name: string;
  /** Every key must equal the endpoint's (or its locality's) metadata value; {} matches all. */
  readonly match: Readonly<Record<string, JsonValue>>;
  /** Undefined when the socket needs secrets this proxy cannot get (see `unavailable`). */
  readonly transport: TransportSocketFactory | undefined;
  /** Why the socket cannot be built, as "field path: message" (SDS secrets). */
  readonly unavailable: string | undefined;
}

export interface ClusterCompileOptions {
  decodeAny?: AnyDecoder;
  readFile?: (path: string) => Buffer;
}

/** config.cluster.v3.Cluster → ClusterConfig. */
export function compileCluster(
  proto: unknown,
  options: ClusterCompileOptions = {},
): CompileResult<ClusterConfig> {
  const ctx = new CompileContext({ decodeAny: options.decodeAny });
  const r = new Reader(ctx, proto, '', 'envoy.config.cluster.v3.Cluster');
  const name = r.string('name');
  if (name === '') ctx.error('name', 'cluster name is required');
  const statName = r.string('alt_stat_name', name);
  const which = r.oneof(['type', 'cluster_type']);
  r.raw('cluster_discovery_type');
  if (which === 'cluster_type') r.unsupported('cluster_type', 'custom cluster types are not supported');
  const type = r.enumName('type', CLUSTER_TYPES);
  let edsServiceName = name;
  const eds = r.message('eds_cluster_config');
  if (eds) {
    // The config source is the xDS client's business (ADS); the service name picks the resource.
    eds.ignore('eds_config');
    edsServiceName = eds.string('service_name', name);
    eds.done();
  }
  const connectTimeoutMs = r.duration('connect_timeout') ?? 5000;
  const bufferLimit = r.wrappedNumber('per_connection_buffer_limit_bytes', 1024 * 1024);
  let lbPolicy: string = r.enumName('lb_policy', LB_POLICIES);
  if (type === 'ORIGINAL_DST') {
    if (lbPolicy !== 'CLUSTER_PROVIDED')
      ctx.error('lb_policy', 'ORIGINAL_DST clusters need lb_policy CLUSTER_PROVIDED');
  } else if (lbPolicy === 'CLUSTER_PROVIDED') {
    ctx.error('lb_policy', 'CLUSTER_PROVIDED is only valid for ORIGINAL_DST clusters');
  } else if (!loadBalancerFactory(lbPolicy)) {
    ctx.error('lb_policy', `load balancing policy ${lbPolicy} is not supported`);
    lbPolicy = 'ROUND_ROBIN';
  }
  let choiceCount = 2;
  let activeRequestBias = 1;
  const lr = r.message('least_request_lb_config');
  if (lr) {
    choiceCount = lr.wrappedNumber('choice_count', 2);
    if (choiceCount < 2) ctx.error(lr.at('choice_count'), 'choice_count must be at least 2');
    const bias = lr.message('active_request_bias');
    if (bias) {
      activeRequestBias = bias.double('default_value', 1);
      bias.ignore('runtime_key');
      bias.done();
    }
    lr.unsupported('slow_start_config', 'slow start is not supported');
    lr.unsupported('locality_lb_config', 'locality LB config is not supported');
    lr.done();
  }
  const rr = r.message('round_robin_lb_config');
  if (rr) {
    rr.unsupported('slow_start_config', 'slow start is not supported');
    rr.unsupported('locality_lb_config', 'locality LB config is not supported');
    rr.done();
  }
  let healthyPanicThreshold = 50;
  let localityWeighted = false;
  const common = r.message('common_lb_config');
  if (common) {
    const p = common.message('healthy_panic_threshold');
    if (p) {
      healthyPanicThreshold = p.double('value', 0);
      p.done();
    }
    // Only the timing of applying membership updates; they are applied immediately here.
    common.ignore('update_merge_window');
    // Without active health checks there is no first health check to wait for.
    common.ignore('ignore_new_hosts_until_first_hc');
    common.unsupported('zone_aware_lb_config', 'zone-aware load balancing is not supported');
    const lw = common.message('locality_weighted_lb_config');
    if (lw) {
      localityWeighted = true;
      lw.done();
    }
    common.unsupported('close_connections_on_host_set_change');
    common.unsupported('consistent_hashing_lb_config', 'hashing load balancers are not supported yet');
    common.unsupported('override_host_status');
    common.raw('locality_config_specifier');
    common.done();
  }
  let loadAssignment: LoadAssignment | undefined;
  const la = r.message('load_assignment');
  if (la) loadAssignment = compileLoadAssignmentInto(la, type !== 'STATIC' && type !== 'EDS');
  if (type === 'STATIC' && !la) {
    // Envoy accepts a STATIC cluster without endpoints (Istio's BlackHoleCluster): it has no
    // hosts, so requests get 503 UH and TCP connections are closed.
    loadAssignment = { clusterName: name, localities: [], overprovisioningFactor: 140 };
  }
  if ((type === 'STRICT_DNS' || type === 'LOGICAL_DNS') && !la) {
    ctx.error('load_assignment', `${type} clusters need a load_assignment`);
  }
  if (type === 'LOGICAL_DNS' && loadAssignment) {
    const n = loadAssignment.localities.reduce((s, l) => s + l.endpoints.length, 0);
    if (n !== 1) ctx.error('load_assignment', 'LOGICAL_DNS clusters need exactly one endpoint');
  }
  if (type === 'ORIGINAL_DST' && la)
    ctx.error('load_assignment', 'ORIGINAL_DST clusters take no load_assignment');

  let thresholds = DEFAULT_THRESHOLDS;
  const cb = r.message('circuit_breakers');
  if (cb) thresholds = compileCircuitBreakers(cb);

  const commonHttp = defaultCommonHttpSettings(3_600_000);
  const http1 = defaultHttp1Settings();
  const mrpc = r.wrappedNumber('max_requests_per_connection');
  if (mrpc !== undefined) commonHttp.maxRequestsPerConnection = mrpc;
  const deprecatedCommon = r.message('common_http_protocol_options');
  if (deprecatedCommon) compileCommonHttpOptions(deprecatedCommon, commonHttp);
  const deprecatedH1 = r.message('http_protocol_options');
  if (deprecatedH1) compileHttp1Options(deprecatedH1, http1);
  const httpProto = { upstream: UPSTREAM_HTTP1, http2: defaultHttp2Settings() };
  const deprecatedH2 = r.message('http2_protocol_options');
  if (deprecatedH2) {
    compileHttp2Options(deprecatedH2, httpProto.http2);
    httpProto.upstream = UPSTREAM_HTTP2;
  }
  const deprecatedUp = r.message('upstream_http_protocol_options');
  if (deprecatedUp) compileUpstreamHttpOptions(deprecatedUp);
  const teo = r.raw('typed_extension_protocol_options');
  if (teo !== undefined && teo !== null) {
    if (typeof teo !== 'object') ctx.error('typed_extension_protocol_options', 'expected a map');
    else {
      for (const [key, any] of Object.entries(teo as Record<string, unknown>)) {
        const path = `typed_extension_protocol_options[${JSON.stringify(key)}]`;
        const opened = readAny(ctx, any, path);
        if (!opened) continue;
        if (
          opened.typeName !== TYPE.HTTP_PROTOCOL_OPTIONS ||
          (key !== EXTENSION.HTTP_PROTOCOL_OPTIONS && key !== TYPE.HTTP_PROTOCOL_OPTIONS)
        ) {
          ctx.error(path, `protocol options ${key} (${opened.typeName}) are not supported`);
          continue;
        }
        compileHttpProtocolOptions(opened.reader, commonHttp, http1, httpProto);
      }
    }
  }

  const dnsRefreshRateMs = r.duration('dns_refresh_rate') ?? 5000;
  let dnsFailureRefreshRateMs = dnsRefreshRateMs;
  const fr = r.message('dns_failure_refresh_rate');
  if (fr) {
    dnsFailureRefreshRateMs = fr.duration('base_interval') ?? dnsRefreshRateMs;
    fr.ignore('max_interval');
    fr.done();
  }
  const dnsFamily = r.enumName('dns_lookup_family', DNS_FAMILIES);
  r.unsupported('respect_dns_ttl', 'respect_dns_ttl is not supported (getaddrinfo reports no TTL)');
  r.unsupported('dns_resolvers', 'custom DNS resolvers are not supported');
  r.unsupported('use_tcp_for_dns_lookups', 'DNS over TCP is not supported');
  r.unsupported('dns_resolution_config', 'custom DNS resolution config is not supported');
  r.unsupported('typed_dns_resolver_config', 'custom DNS resolvers are not supported');
  // Warming is the xDS client's decision; the flag only tells it whether to wait.
  r.ignore('wait_for_warm_on_init');
  r.unsupported('health_checks', 'active health checking is not supported yet');
  r.unsupported('outlier_detection', 'outlier detection is not supported yet');
  const cleanupIntervalMs = r.duration('cleanup_interval') ?? 5000;
  let bindAddress: ClusterConfig['bindAddress'];
  const bind = r.message('upstream_bind_config');
  if (bind) bindAddress = compileBindConfig(bind);
  r.unsupported('lb_subset_config', 'subset load balancing is not supported');
  r.unsupported('ring_hash_lb_config', 'ring hash load balancing is not supported yet');
  r.unsupported('maglev_lb_config', 'maglev load balancing is not supported yet');
  const originalDst: OriginalDstSettings = {
    useHttpHeader: false,
    httpHeaderName: 'x-envoy-original-dst-host',
    upstreamPortOverride: 0,
    cleanupIntervalMs,
  };
  const od = r.message('original_dst_lb_config');
  if (od) {
    const useHttpHeader = od.bool('use_http_header');
    const httpHeaderName = od.string('http_header_name', 'x-envoy-original-dst-host').toLowerCase();
    const upstreamPortOverride = od.wrappedNumber('upstream_port_override', 0);
    od.unsupported('metadata_key', 'metadata-based original destination is not supported');
    od.done();
    Object.assign(originalDst, { useHttpHeader, httpHeaderName, upstreamPortOverride });
  }
  r.raw('lb_config');
  const ts = r.message('transport_socket');
  const transport = compileTransportSocket(ts, options.readFile);
  const transportMatches = compileTransportSocketMatches(r, options);
  // Endpoints known now (STATIC) that pick a socket this proxy cannot build refuse the cluster.
  if (loadAssignment && transportMatches.some((m) => m.unavailable)) {
    for (const loc of loadAssignment.localities) {
      for (const ep of loc.endpoints) {
        const m = matchTransportSocket(transportMatches, ep.metadata, loc.metadata);
        if (m?.unavailable) ctx.error('transport_socket_matches', `endpoint ${ep.address}: ${m.unavailable}`);
      }
    }
  }
  const istioServiceHost = istioServiceHostOf(r.raw('metadata'));
  const protocolSelection = r.enumName('protocol_selection', [
    'USE_CONFIGURED_PROTOCOL',
    'USE_DOWNSTREAM_PROTOCOL',
  ] as const);
  // Downstream is HTTP/1.1 only for now, so both selections mean HTTP/1.1 upstream.
  void protocolSelection;
  let tcpKeepaliveMs = 0;
  const uco = r.message('upstream_connection_options');
  if (uco) {
    const ka = uco.message('tcp_keepalive');
    if (ka) {
      tcpKeepaliveMs = (ka.wrappedNumber('keepalive_time', 7200) || 7200) * 1000;
      // Probe count and interval are kernel defaults; Node exposes only the idle time.
      ka.ignore('keepalive_probes', 'keepalive_interval');
      ka.done();
      if (tcpKeepaliveMs === 0) tcpKeepaliveMs = 7_200_000;
    }
    uco.unsupported('set_local_interface_name_on_upstream_connections');
    uco.unsupported('happy_eyeballs_config', 'happy eyeballs config is not supported');
    uco.done();
  }
  // Without health checking there is nothing to act on for these two.
  r.ignore('close_connections_on_host_health_failure', 'ignore_health_on_host_removal');
  r.unsupported('filters', 'upstream network filters are not supported');
  r.unsupported(
    'load_balancing_policy',
    'load_balancing_policy extensions are not supported (use lb_policy)',
  );
  r.unsupported('lrs_server', 'load reporting is not supported');
  r.unsupported('lrs_report_endpoint_metrics', 'load reporting is not supported');
  // Extra statistics only.
  r.ignore('track_timeout_budgets', 'track_cluster_stats');
  r.unsupported('upstream_config', 'custom upstream config is not supported');
  r.unsupported('preconnect_policy', 'preconnect policies are not supported');
  r.unsupported(
    'connection_pool_per_downstream_connection',
    'per-downstream-connection pools are not supported',
  );
  r.done();
  if (!transport) return ctx.result(undefined as never);
  return ctx.result<ClusterConfig>({
    name,
    statName,
    type,
    edsServiceName,
    connectTimeoutMs,
    bufferLimit,
    lbPolicy,
    lbSettings: { choiceCount, activeRequestBias },
    healthyPanicThreshold,
    loadAssignment,
    thresholds,
    common: commonHttp,
    http1,
    upstreamProtocol: httpProto.upstream,
    http2: httpProto.http2,
    dnsRefreshRateMs,
    dnsFailureRefreshRateMs,
    dnsFamily,
    originalDst,
    transport,
    transportMatches,
    bindAddress,
    localityWeighted,
    tcpKeepaliveMs,
    istioServiceHost,
  });
}

/** config.core.v3.BindConfig → the local address upstream sockets bind. */
function compileBindConfig(r: ProtoReader): { address: string; port: number } | undefined {
  const sa = r.message('source_address');
  let out: { address: string; port: number } | undefined;
  if (sa) {
    const address = sa.string('address');
    const port = sa.number('port_value');
    sa.enumName('protocol', ['TCP', 'UDP'] as const);
    sa.oneof(['port_value', 'named_port']);
    sa.raw('port_specifier');
    sa.unsupported('named_port', 'named ports are not supported');
    sa.unsupported('resolver_name', 'custom resolvers are not supported');
    sa.unsupported('ipv4_compat', 'ipv4_compat is not supported');
    sa.unsupported('network_namespace_filepath', 'network namespaces are not supported');
    sa.done();
    if (isIP(address) === 0) r.ctx.error(sa.at('address'), 'source address must be an IP address');
    else if (port < 0 || port > 65535) r.ctx.error(sa.at('port_value'), 'port out of range');
    else out = { address, port };
  } else {
    r.ctx.error(r.at('source_address'), 'source_address is required');
  }
  r.unsupported('freebind', 'IP_FREEBIND is not supported (Node cannot set it)');
  r.unsupported('socket_options', 'socket options are not supported');
  r.unsupported('extra_source_addresses', 'extra source addresses are not supported');
  r.unsupported('additional_source_addresses', 'additional source addresses are not supported');
  r.unsupported('local_address_selector', 'local address selectors are not supported');
  r.done();
  return out;
}

function compileTransportSocketMatches(
  r: ProtoReader,
  options: ClusterCompileOptions,
): TransportSocketMatch[] {
  const out: TransportSocketMatch[] = [];
  for (const m of r.messages('transport_socket_matches')) {
    const name = m.string('name');
    const match = fromProtoStruct(m.raw('match') as { fields?: unknown } | null);
    const rawSocket = m.raw('transport_socket');
    m.done();
    // Compiled in its own context: a socket that fails only for want of SDS secrets is kept as
    // unavailable (the cluster still serves hosts that do not select it); other errors refuse.
    const sub = new CompileContext({ decodeAny: r.ctx.decodeAny });
    const socketPath = m.at('transport_socket');
    const reader =
      rawSocket === undefined || rawSocket === null
        ? undefined
        : new Reader(sub, rawSocket, socketPath, 'envoy.config.core.v3.TransportSocket');
    const transport = compileTransportSocket(reader, options.readFile);
    const needsSds = sub.issues.filter(
      (i) => i.message === SDS_CERTIFICATES_UNAVAILABLE || i.message === SDS_VALIDATION_UNAVAILABLE,
    );
    for (const i of sub.issues) if (!needsSds.includes(i)) r.ctx.error(i.path, i.message);
    const unavailable =
      needsSds.length > 0 ? needsSds.map((i) => `${i.path}: ${i.message}`).join('; ') : undefined;
    out.push({ name, match, transport: sub.ok ? transport : undefined, unavailable });
  }
  return out;
}

function matchFits(match: Readonly<Record<string, JsonValue>>, md: Record<string, JsonValue>): boolean {
  for (const [k, v] of Object.entries(match)) {
    if (JSON.stringify(md[k]) !== JSON.stringify(v)) return false;
  }
  return true;
}

/** `filter_metadata.istio.services[0].host` of a cluster's metadata (Istio puts its services there). */
function istioServiceHostOf(metadata: unknown): string | undefined {
  const fm = (metadata as { filter_metadata?: Record<string, unknown> } | null | undefined)?.filter_metadata;
  const istio = fm?.istio;
  if (istio === undefined || istio === null) return undefined;
  const services = fromProtoStruct(istio as { fields?: unknown }).services;
  if (!Array.isArray(services)) return undefined;
  const host = (services[0] as { host?: unknown } | undefined)?.host;
  return typeof host === 'string' && host !== '' ? host : undefined;
}

/** The endpoint's `envoy.transport_socket_match` metadata (filter_metadata), as plain JSON. */
function socketMatchMetadata(metadata: unknown): Record<string, JsonValue> | undefined {
  const fm = (metadata as { filter_metadata?: Record<string, unknown> } | null | undefined)?.filter_metadata;
  const s = fm?.[TRANSPORT_SOCKET_MATCH_KEY];
  return s === undefined || s === null ? undefined : fromProtoStruct(s as { fields?: unknown });
}

/**
 * First transport_socket_matches entry fitting the endpoint's metadata, else its locality's
 * (Envoy's order); undefined = the cluster's transport_socket.
 */
export function matchTransportSocket(
  matches: readonly TransportSocketMatch[],
  endpointMetadata: unknown,
  localityMetadata: unknown,
): TransportSocketMatch | undefined {
  if (matches.length === 0) return undefined;
  // Absent metadata is empty metadata: only a catch-all (empty `match`) fits it.
  const ep = socketMatchMetadata(endpointMetadata) ?? {};
  for (const m of matches) if (matchFits(m.match, ep)) return m;
  const loc = socketMatchMetadata(localityMetadata) ?? {};
  for (const m of matches) if (matchFits(m.match, loc)) return m;
  return undefined;
}

function compileCircuitBreakers(r: ProtoReader): Thresholds {
  let out = DEFAULT_THRESHOLDS;
  for (const t of r.messages('thresholds')) {
    const priority = t.enumName('priority', ['DEFAULT', 'HIGH'] as const);
    const th: Thresholds = {
      maxConnections: t.wrappedNumber('max_connections', 1024),
      maxPendingRequests: t.wrappedNumber('max_pending_requests', 1024),
      maxRequests: t.wrappedNumber('max_requests', 1024),
      maxRetries: t.wrappedNumber('max_retries', 3),
    };
    t.unsupported('retry_budget', 'retry budgets are not supported');
    // Stats switches only.
    t.ignore('track_remaining');
    t.unsupported('max_connection_pools', 'max_connection_pools is not supported');
    t.done();
    // Only DEFAULT routing priority exists (routes with HIGH are NACKed), so HIGH never applies.
    if (priority === 'DEFAULT') out = th;
  }
  r.unsupported('per_host_thresholds', 'per-host circuit breakers are not supported');
  r.done();
  return out;
}

function compileUpstreamHttpOptions(r: ProtoReader): void {
  r.unsupported('auto_sni', 'auto_sni is not supported yet');
  r.unsupported('auto_san_validation', 'auto_san_validation is not supported yet');
  r.unsupported('override_auto_sni_header', 'override_auto_sni_header is not supported');
  r.done();
}

/** extensions.upstreams.http.v3.HttpProtocolOptions. */
function compileHttpProtocolOptions(
  r: ProtoReader,
  common: CommonHttpSettings,
  http1: Http1Settings,
  proto: { upstream: number; http2: Http2Settings },
): void {
  const c = r.message('common_http_protocol_options');
  if (c) compileCommonHttpOptions(c, common);
  const up = r.message('upstream_http_protocol_options');
  if (up) compileUpstreamHttpOptions(up);
  const which = r.oneof(['explicit_http_config', 'use_downstream_protocol_config', 'auto_config']);
  r.raw('upstream_protocol_options');
  if (which === 'explicit_http_config') {
    const e = r.message('explicit_http_config')!;
    const h = e.oneof(['http_protocol_options', 'http2_protocol_options', 'http3_protocol_options']);
    e.raw('protocol_config');
    if (h === 'http_protocol_options') {
      compileHttp1Options(e.message('http_protocol_options')!, http1);
      proto.upstream = UPSTREAM_HTTP1;
    } else if (h === 'http2_protocol_options') {
      compileHttp2Options(e.message('http2_protocol_options')!, proto.http2);
      proto.upstream = UPSTREAM_HTTP2;
    } else if (h !== undefined) e.unsupported(h, 'HTTP/3 upstreams are not supported');
    e.done();
  } else if (which === 'use_downstream_protocol_config') {
    const d = r.message('use_downstream_protocol_config')!;
    const h1 = d.message('http_protocol_options');
    if (h1) compileHttp1Options(h1, http1);
    const h2 = d.message('http2_protocol_options');
    if (h2) compileHttp2Options(h2, proto.http2);
    proto.upstream = UPSTREAM_DOWNSTREAM;
    d.unsupported('http3_protocol_options', 'HTTP/3 is not supported');
    d.done();
  } else if (which === 'auto_config') {
    const a = r.message('auto_config')!;
    const h1 = a.message('http_protocol_options');
    if (h1) compileHttp1Options(h1, http1);
    const h2 = a.message('http2_protocol_options');
    if (h2) compileHttp2Options(h2, proto.http2);
    a.unsupported('http3_protocol_options', 'HTTP/3 is not supported');
    a.unsupported('alternate_protocols_cache_options', 'alternate protocols caches are not supported');
    a.done();
    proto.upstream = UPSTREAM_AUTO;
  }
  r.unsupported('http_filters', 'upstream HTTP filters are not supported');
  r.unsupported('header_validation_config', 'header validation extensions are not supported');
  r.done();
}

/** config.endpoint.v3.ClusterLoadAssignment → LoadAssignment (EDS). */
export function compileClusterLoadAssignment(
  proto: unknown,
  options: { decodeAny?: AnyDecoder } = {},
): CompileResult<LoadAssignment> {
  const ctx = new CompileContext(options);
  const la = compileLoadAssignmentInto(
    new Reader(ctx, proto, '', 'envoy.config.endpoint.v3.ClusterLoadAssignment'),
    false,
  );
  return ctx.result(la);
}

const HEALTH_NAMES = ['UNKNOWN', 'HEALTHY', 'UNHEALTHY', 'DRAINING', 'TIMEOUT', 'DEGRADED'] as const;

function compileLoadAssignmentInto(r: ProtoReader, allowNames: boolean): LoadAssignment {
  const clusterName = r.string('cluster_name');
  const localities: LocalityEndpointsConfig[] = [];
  for (const l of r.messages('endpoints')) {
    let locality = '';
    const loc = l.message('locality');
    if (loc) {
      locality = `${loc.string('region')}/${loc.string('zone')}/${loc.string('sub_zone')}`;
      loc.done();
    }
    const priority = l.number('priority');
    const weight = l.wrappedNumber('load_balancing_weight', 0);
    const endpoints: LbEndpointConfig[] = [];
    for (const e of l.messages('lb_endpoints')) {
      const ep = compileLbEndpoint(e, allowNames);
      if (ep) endpoints.push(ep);
    }
    l.unsupported('leds_cluster_locality_config', 'LEDS is not supported');
    l.raw('lb_config');
    // Proximity only matters for locality-aware routing (zone-aware), which is refused.
    l.ignore('proximity');
    const metadata = l.raw('metadata');
    l.done();
    localities.push({ locality, priority, weight, metadata, endpoints });
  }
  let overprovisioningFactor = 140;
  const policy = r.message('policy');
  if (policy) {
    overprovisioningFactor = policy.wrappedNumber('overprovisioning_factor', 140);
    policy.unsupported('drop_overloads', 'drop overloads are not supported');
    // Staleness only ends the endpoints' validity when the control plane goes silent; the last
    // good endpoints keep serving here.
    policy.ignore('endpoint_stale_after');
    policy.ignore('weighted_priority_health');
    policy.done();
  }
  r.unsupported('named_endpoints', 'named endpoints are not supported');
  r.done();
  return { clusterName, localities, overprovisioningFactor };
}

function compileLbEndpoint(r: ProtoReader, allowNames: boolean): LbEndpointConfig | undefined {
  const which = r.oneof(['endpoint', 'endpoint_name']);
  r.raw('host_identifier');
  if (which === 'endpoint_name') {
    r.unsupported('endpoint_name', 'named endpoints are not supported');
    r.done();
    return undefined;
  }
  const e = r.message('endpoint');
  const health = r.enumName('health_status', HEALTH_NAMES);
  const weight = r.wrappedNumber('load_balancing_weight', 1);
  if (weight < 1) r.ctx.error(r.at('load_balancing_weight'), 'weight must be at least 1');
  const metadata = r.raw('metadata');
  r.done();
  if (!e) {
    r.ctx.error(r.at('endpoint'), 'endpoint is required');
    return undefined;
  }
  const addr = e.message('address');
  const hostname = e.string('hostname');
  e.unsupported('health_check_config', 'health check config is not supported');
  e.unsupported('additional_addresses', 'additional addresses are not supported');
  e.done();
  if (!addr) {
    r.ctx.error(e.at('address'), 'address is required');
    return undefined;
  }
  const sa = compileSocketAddress(addr, allowNames);
  if (!sa) return undefined;
  const h =
    health === 'UNKNOWN' || health === 'HEALTHY'
      ? HEALTH_HEALTHY
      : health === 'DEGRADED'
        ? HEALTH_DEGRADED
        : HEALTH_UNHEALTHY;
  return {
    address: sa.address,
    port: sa.port,
    hostname: hostname || (isIP(sa.address) ? '' : sa.address),
    health: h,
    weight,
    metadata,
  };
}

/** core.v3.Address with a socket_address → {address, port}. */
export function compileSocketAddress(
  r: ProtoReader,
  allowNames: boolean,
): { address: string; port: number } | undefined {
  const which = r.oneof(['socket_address', 'pipe', 'envoy_internal_address']);
  r.raw('address');
  if (which !== 'socket_address') {
    if (which) r.unsupported(which, `${which} addresses are not supported`);
    else r.ctx.error(r.path, 'socket_address is required');
    r.done();
    return undefined;
  }
  const s = r.message('socket_address')!;
  const protocol = s.enumName('protocol', ['TCP', 'UDP'] as const);
  if (protocol !== 'TCP') s.ctx.error(s.at('protocol'), 'only TCP is supported');
  const address = s.string('address');
  s.oneof(['port_value', 'named_port']);
  s.raw('port_specifier');
  const port = s.number('port_value');
  s.unsupported('named_port', 'named ports are not supported');
  s.unsupported('resolver_name', 'custom resolvers are not supported');
  s.unsupported('ipv4_compat', 'ipv4_compat is not supported');
  s.unsupported('network_namespace_filepath', 'network namespaces are not supported');
  s.done();
  r.done();
  if (address === '') {
    s.ctx.error(s.at('address'), 'address is required');
    return undefined;
  }
  if (!allowNames && isIP(address) === 0) {
    s.ctx.error(
      s.at('address'),
      `${JSON.stringify(address)} is not an IP address (names need a DNS cluster type)`,
    );
    return undefined;
  }
  if (port < 0 || port > 65535) {
    s.ctx.error(s.at('port_value'), 'port out of range');
    return undefined;
  }
  return { address, port };
}

/** A priority level's hosts and the balancers built over them. */
interface PrioritySet {
  hosts: Host[];
  healthy: Host[];
  degraded: Host[];
  lbHealthy: LoadBalancer;
  lbAll: LoadBalancer;
  /** Health percent after overprovisioning, capped at 100. */
  health: number;
}

type DnsLookup = (
  hostname: string,
  options: dns.LookupAllOptions,
  callback: (err: NodeJS.ErrnoException | null, addresses: dns.LookupAddress[]) => void,
) => void;

export interface ClusterRuntimeOptions {
  random?: () => number;
  lookup?: DnsLookup;
}

export class Cluster {
  readonly name: string;
  config: ClusterConfig;
  readonly stats: ClusterStats;
  readonly rm: ResourceManager;
  private priorities: PrioritySet[] = [];
  /** Cumulative percentage per priority for picking a priority. */
  private priorityLoad: number[] = [100];
  private readonly hostsByKey = new Map<string, Host>();
  private readonly random: () => number;
  private readonly lookup: DnsLookup;
  private dnsTimer: NodeJS.Timeout | undefined;
  private cleanupTimer: NodeJS.Timeout | undefined;
  private destroyed = false;
  initialized = false;
  private initWaiters: (() => void)[] = [];
  poolSettings: PoolSettings;
  h2PoolSettings: H2PoolSettings;
  /** Set on hosts for ORIGINAL_DST when last used. */
  private readonly lastUsed = new Map<Host, number>();

  get istioServiceHost(): string | undefined {
    return this.config.istioServiceHost;
  }

  constructor(config: ClusterConfig, store: StatsStore, options: ClusterRuntimeOptions = {}) {
    this.name = config.name;
    this.config = config;
    this.stats = new ClusterStats(store, config.statName);
    this.rm = new ResourceManager(config.thresholds);
    this.random = options.random ?? Math.random;
    this.lookup = options.lookup ?? (dns.lookup as unknown as DnsLookup);
    this.poolSettings = this.buildPoolSettings();
    this.h2PoolSettings = this.buildH2PoolSettings();
    this.start();
  }

  private buildH2PoolSettings(): H2PoolSettings {
    const c = this.config;
    return { ...this.poolSettings, http2: c.http2, alpnAuto: c.upstreamProtocol === UPSTREAM_AUTO };
  }

  private buildPoolSettings(): PoolSettings {
    const c = this.config;
    return {
      clusterName: c.name,
      connectTimeoutMs: c.connectTimeoutMs,
      idleTimeoutMs: c.common.idleTimeoutMs,
      maxRequestsPerConnection: c.common.maxRequestsPerConnection,
      maxConnectionDurationMs: c.common.maxConnectionDurationMs,
      maxResponseHeadersBytes: 60 * 1024,
      maxResponseHeadersCount: c.common.maxHeadersCount,
      bufferLimit: c.bufferLimit,
      tcpKeepaliveMs: c.tcpKeepaliveMs,
      transport: c.transport,
      stats: this.stats,
      rm: this.rm,
    };
  }

  private start(): void {
    const c = this.config;
    switch (c.type) {
      case 'STATIC':
        this.applyAssignment(c.loadAssignment!);
        this.markInitialized();
        break;
      case 'EDS':
        // Waits for updateLoadAssignment (warming).
        break;
      case 'STRICT_DNS':
      case 'LOGICAL_DNS':
        this.resolve();
        break;
      case 'ORIGINAL_DST':
        this.markInitialized();
        this.cleanupTimer = setInterval(this.cleanupOriginalDst, c.originalDst.cleanupIntervalMs);
        this.cleanupTimer.unref();
        break;
    }
  }

  /** Calls `cb` once the cluster has its first membership (at once if it has). */
  onInitialized(cb: () => void): void {
    if (this.initialized) cb();
    else this.initWaiters.push(cb);
  }

  private markInitialized(): void {
    if (this.initialized) return;
    this.initialized = true;
    const w = this.initWaiters;
    this.initWaiters = [];
    for (const cb of w) cb();
  }

  /**
   * Applies a config update that keeps the cluster's identity (same name and type; the cluster
   * manager replaces the cluster otherwise): hosts stay, existing pools drain and new requests
   * get pools with the new settings (as Envoy drains the old cluster's pools on update).
   */
  updateConfig(config: ClusterConfig): void {
    if (config.type !== this.config.type)
      throw new Error(`cluster ${this.name}: a type change needs a new Cluster`);
    this.config = config;
    this.rm.thresholds = config.thresholds;
    this.poolSettings = this.buildPoolSettings();
    this.h2PoolSettings = this.buildH2PoolSettings();
    for (const h of this.hostsByKey.values()) {
      h.alpnH2 = undefined;
      this.configureHost(h);
      // Existing connections finish their requests; new ones use the new settings.
      h.pool?.drain();
      h.pool = undefined;
      h.h2Pool?.drain();
      h.h2Pool = undefined;
    }
    if (config.type === 'STATIC') this.applyAssignment(config.loadAssignment!);
    if (config.type === 'STRICT_DNS' || config.type === 'LOGICAL_DNS') {
      if (this.dnsTimer) clearTimeout(this.dnsTimer);
      this.resolve();
    }
  }

  /** EDS: new endpoints for this cluster. */
  updateLoadAssignment(la: LoadAssignment): void {
    if (this.config.type !== 'EDS') throw new Error(`cluster ${this.name} is not an EDS cluster`);
    this.applyAssignment(la);
    this.markInitialized();
  }

  /** Rebuilds membership from resolved endpoint lists, reusing hosts by address. */
  private applyAssignment(la: LoadAssignment, resolved?: Map<LbEndpointConfig, string[]>): void {
    this.stats.updateAttempt.value++;
    const byPriority: Host[][] = [];
    const localityWeights: Map<string, number>[] = [];
    const keep = new Set<Host>();
    for (const loc of la.localities) {
      for (const ep of loc.endpoints) {
        const addrs = resolved?.get(ep) ?? [ep.address];
        for (const address of addrs) {
          const key = hostKey(address, ep.port);
          let host = this.hostsByKey.get(key);
          if (host === undefined) {
            host = new Host(this, address, ep.port);
            this.hostsByKey.set(key, host);
          }
          host.hostname = ep.hostname;
          host.weight = ep.weight;
          host.health = ep.health;
          host.priority = loc.priority;
          host.locality = loc.locality;
          host.metadata = ep.metadata;
          host.localityMetadata = loc.metadata;
          this.configureHost(host);
          keep.add(host);
          (byPriority[loc.priority] ??= []).push(host);
          const weights = (localityWeights[loc.priority] ??= new Map());
          weights.set(loc.locality, loc.weight);
        }
      }
    }
    for (const [key, host] of this.hostsByKey) {
      if (!keep.has(host)) {
        this.hostsByKey.delete(key);
        this.retireHost(host);
      }
    }
    this.setHosts(byPriority, la.overprovisioningFactor, localityWeights);
    this.stats.updateSuccess.value++;
    if (keep.size === 0) this.stats.updateEmpty.value++;
  }

  /** Per-host connection settings from the cluster config: bind address, transport socket. */
  private configureHost(host: Host): void {
    const c = this.config;
    host.bindAddress = c.bindAddress;
    const before = host.transport;
    const m = matchTransportSocket(c.transportMatches, host.metadata, host.localityMetadata);
    if (m === undefined) host.transport = undefined;
    else if (m.transport) host.transport = m.transport;
    else if (before?.kind === 'unavailable' && (before as UnavailableTransportSocket).match === m) {
      return;
    } else {
      // Only reachable through EDS (a STATIC cluster with such endpoints is refused at compile).
      const why = `transport_socket_matches "${m.name}": ${m.unavailable}`;
      log.error('endpoint selects a transport socket this proxy cannot build', {
        cluster: this.name,
        host: host.key,
        error: why,
      });
      host.transport = new UnavailableTransportSocket(why, m);
    }
    if (host.transport !== before) {
      // Connections opened with the old socket finish their requests; new ones use the new one.
      host.pool?.drain();
      host.pool = undefined;
      host.h2Pool?.drain();
      host.h2Pool = undefined;
    }
  }

  private retireHost(host: Host): void {
    host.removed = true;
    host.pool?.drain();
    host.h2Pool?.drain();
  }

  private setHosts(
    byPriority: Host[][],
    overprovisioningFactor: number,
    localityWeights: readonly (Map<string, number> | undefined)[] = [],
  ): void {
    const factory = loadBalancerFactory(
      this.config.lbPolicy === 'CLUSTER_PROVIDED' ? 'ROUND_ROBIN' : this.config.lbPolicy,
    )!;
    const sets: PrioritySet[] = [];
    let total = 0;
    let healthy = 0;
    let degraded = 0;
    const n = Math.max(byPriority.length, 1);
    for (let p = 0; p < n; p++) {
      const hosts = byPriority[p] ?? [];
      const h = hosts.filter((x) => x.health === HEALTH_HEALTHY);
      const d = hosts.filter((x) => x.health === HEALTH_DEGRADED);
      total += hosts.length;
      healthy += h.length;
      degraded += d.length;
      const health =
        hosts.length === 0
          ? 0
          : Math.min(100, Math.floor((h.length * overprovisioningFactor) / hosts.length));
      sets.push({
        hosts,
        healthy: h,
        degraded: d,
        lbHealthy: this.config.localityWeighted
          ? this.localityBalancer(hosts, h, localityWeights[p], overprovisioningFactor)
          : factory(h, this.config.lbSettings, this.random),
        lbAll: factory(hosts, this.config.lbSettings, this.random),
        health,
      });
    }
    this.priorities = sets;
    // Priority load: each level takes what its health covers, the rest spills to the next.
    const load: number[] = [];
    let left = 100;
    for (const s of sets) {
      const take = Math.min(left, s.health);
      load.push(take);
      left -= take;
    }
    const sum = 100 - left;
    // Normalise when total health is below 100% (Envoy scales loads to sum to 100).
    const cumulative: number[] = [];
    let acc = 0;
    for (let i = 0; i < load.length; i++) {
      acc += sum === 0 ? (i === 0 ? 100 : 0) : (load[i] * 100) / sum;
      cumulative.push(acc);
    }
    this.priorityLoad = cumulative;
    this.stats.membershipTotal.set(total);
    this.stats.membershipHealthy.set(healthy);
    this.stats.membershipDegraded.set(degraded);
    this.stats.membershipChange.value++;
  }

  /** Locality first, then the policy's balancer inside the locality (healthy hosts only). */
  private localityBalancer(
    hosts: readonly Host[],
    healthy: readonly Host[],
    weights: Map<string, number> | undefined,
    overprovisioningFactor: number,
  ): LoadBalancer {
    const byLocality = new Map<string, { all: Host[]; eligible: Host[] }>();
    for (const h of hosts) {
      let g = byLocality.get(h.locality);
      if (!g) byLocality.set(h.locality, (g = { all: [], eligible: [] }));
      g.all.push(h);
      if (h.health === HEALTH_HEALTHY) g.eligible.push(h);
    }
    const localities: LocalityHosts[] = [...byLocality].map(([name, g]) => ({
      weight: weights?.get(name) ?? 0,
      hosts: g.all,
      eligible: g.eligible,
    }));
    const factory = loadBalancerFactory(
      this.config.lbPolicy === 'CLUSTER_PROVIDED' ? 'ROUND_ROBIN' : this.config.lbPolicy,
    )!;
    return new LocalityWeightedLoadBalancer(
      localities,
      healthy,
      factory,
      this.config.lbSettings,
      this.random,
      overprovisioningFactor,
    );
  }

  /** All hosts of every priority (admin, tests). */
  hosts(): Host[] {
    return this.priorities.flatMap((p) => p.hosts);
  }

  /** Chooses a host for a request (null = no healthy upstream). */
  chooseHost(ctx: LbContext | undefined): Host | null {
    if (this.config.type === 'ORIGINAL_DST') return this.originalDstHost(ctx);
    const sets = this.priorities;
    let set = sets[0];
    if (sets.length > 1) {
      const r = this.random() * 100;
      const load = this.priorityLoad;
      let p = 0;
      while (p < load.length - 1 && r >= load[p]) p++;
      set = sets[p];
    }
    if (set === undefined || set.hosts.length === 0) return null;
    let lb = set.lbHealthy;
    if (
      set.healthy.length === 0 ||
      (set.healthy.length * 100) / set.hosts.length < this.config.healthyPanicThreshold
    ) {
      // Panic: too few healthy hosts, so balance over all of them (Envoy's healthy panic).
      this.stats.lbHealthyPanic.value++;
      lb = set.lbAll;
    }
    return pickWithPredicate(lb, ctx);
  }

  /** Whether a request to `host` goes over HTTP/2 (given the downstream protocol). */
  usesHttp2(host: Host, downstreamHttp2: boolean): boolean {
    const p = this.config.upstreamProtocol;
    if (p === UPSTREAM_AUTO) {
      // ALPN needs TLS; without it (or once the host picked http/1.1) HTTP/1.1 is used.
      const tls = (host.transport ?? this.config.transport).kind.startsWith('tls');
      return tls && host.alpnH2 !== false;
    }
    return p === UPSTREAM_HTTP2 || (p === UPSTREAM_DOWNSTREAM && downstreamHttp2);
  }

  /** The HTTP/2 pool of a host (created on first use). */
  h2Pool(host: Host): H2Pool {
    let p = host.h2Pool;
    if (p === undefined) {
      p = new H2Pool(host, this.h2PoolSettings);
      host.h2Pool = p;
    }
    return p;
  }

  /** The HTTP/1.1 pool of a host (created on first use). */
  pool(host: Host): H1Pool {
    let p = host.pool;
    if (p === undefined) {
      p = new H1Pool(host, this.poolSettings);
      host.pool = p;
    }
    return p;
  }

  private originalDstHost(ctx: LbContext | undefined): Host | null {
    const od = this.config.originalDst;
    let address: string | undefined;
    let port = 0;
    if (od.useHttpHeader && ctx?.requestHeader) {
      const v = ctx.requestHeader(od.httpHeaderName);
      if (v !== undefined) {
        const parsed = parseHostPort(v);
        if (!parsed) {
          this.stats.originalDstHostInvalid.value++;
          return null;
        }
        address = parsed.address;
        port = parsed.port;
      }
    }
    if (address === undefined) {
      const dst = ctx?.downstreamOriginalDst?.();
      if (!dst) return null;
      address = dst.address;
      port = dst.port;
    }
    if (od.upstreamPortOverride > 0) port = od.upstreamPortOverride;
    const key = hostKey(address, port);
    let host = this.hostsByKey.get(key);
    if (host === undefined) {
      host = new Host(this, address, port);
      this.configureHost(host);
      this.hostsByKey.set(key, host);
      this.stats.membershipTotal.set(this.hostsByKey.size);
      this.stats.membershipHealthy.set(this.hostsByKey.size);
    }
    this.lastUsed.set(host, Date.now());
    return host;
  }

  private cleanupOriginalDst = (): void => {
    const cutoff = Date.now() - this.config.originalDst.cleanupIntervalMs;
    for (const [key, host] of this.hostsByKey) {
      if (host.activeRequests === 0 && (this.lastUsed.get(host) ?? 0) < cutoff) {
        this.hostsByKey.delete(key);
        this.lastUsed.delete(host);
        this.retireHost(host);
      }
    }
    this.stats.membershipTotal.set(this.hostsByKey.size);
    this.stats.membershipHealthy.set(this.hostsByKey.size);
  };

  private resolve(): void {
    const la = this.config.loadAssignment!;
    const eps = la.localities.flatMap((l) => l.endpoints);
    const resolved = new Map<LbEndpointConfig, string[]>();
    let left = eps.length;
    let failed = false;
    const family = this.config.dnsFamily;
    const done = (): void => {
      if (this.destroyed) return;
      if (failed && !this.initialized) {
        // Keep trying; a DNS cluster with no answer yet has no hosts.
      }
      if (!failed || resolved.size > 0) {
        if (this.config.type === 'LOGICAL_DNS') {
          for (const [ep, addrs] of resolved) resolved.set(ep, addrs.slice(0, 1));
        }
        // Endpoints that failed keep their previous addresses.
        for (const ep of eps) {
          if (!resolved.has(ep)) {
            const prev = [...this.hostsByKey.values()]
              .filter((h) => h.hostname === ep.hostname && h.port === ep.port)
              .map((h) => h.address);
            if (prev.length > 0) resolved.set(ep, prev);
            else resolved.set(ep, []);
          }
        }
        this.applyAssignment(la, resolved);
        this.markInitialized();
      }
      const next = failed ? this.config.dnsFailureRefreshRateMs : this.config.dnsRefreshRateMs;
      this.dnsTimer = setTimeout(() => this.resolve(), next);
      this.dnsTimer.unref();
    };
    if (left === 0) {
      done();
      return;
    }
    for (const ep of eps) {
      if (isIP(ep.address) !== 0) {
        resolved.set(ep, [ep.address]);
        if (--left === 0) done();
        continue;
      }
      this.lookup(ep.address, { all: true }, (err, addresses) => {
        if (err || !addresses) {
          failed = true;
          log.warn('DNS resolution failed', { cluster: this.name, host: ep.address, error: err?.message });
        } else {
          const picked = pickFamily(addresses, family);
          if (picked.length === 0) failed = true;
          else resolved.set(ep, picked);
        }
        if (--left === 0) done();
      });
    }
  }

  /** Stops timers and drains every pool (the cluster was removed or replaced). */
  drain(onDrained?: () => void): void {
    this.destroyed = true;
    if (this.dnsTimer) clearTimeout(this.dnsTimer);
    if (this.cleanupTimer) clearInterval(this.cleanupTimer);
    const pools: (H1Pool | H2Pool)[] = [];
    for (const h of this.hostsByKey.values()) {
      if (h.pool) pools.push(h.pool);
      if (h.h2Pool) pools.push(h.h2Pool);
    }
    let left = pools.length;
    if (left === 0) {
      onDrained?.();
      return;
    }
    for (const p of pools) {
      p.drain(() => {
        if (--left === 0) onDrained?.();
      });
    }
  }

  /** Closes everything now. */
  destroy(): void {
    this.destroyed = true;
    if (this.dnsTimer) clearTimeout(this.dnsTimer);
    if (this.cleanupTimer) clearInterval(this.cleanupTimer);
    for (const h of this.hostsByKey.values()) {
      h.pool?.destroy();
      h.h2Pool?.destroy();
    }
  }
}

/** A host whose selected transport socket cannot be built: every connect fails, naming why. */
class UnavailableTransportSocket implements TransportSocketFactory {
  readonly kind = 'unavailable';
  readonly directReads = false;
  private readonly why: string;
  readonly match: TransportSocketMatch;
  constructor(why: string, match: TransportSocketMatch) {
    this.why = why;
    this.match = match;
  }
  connect(_host: Host, _onReady: () => void, onError: (err: Error) => void): net.Socket {
    const s = new net.Socket();
    const err = new Error(this.why);
    process.nextTick(() => {
      onError(err);
      s.destroy(err);
    });
    return s;
  }
}

function pickFamily(addresses: dns.LookupAddress[], family: DnsFamily): string[] {
  const v4 = addresses.filter((a) => a.family === 4).map((a) => a.address);
  const v6 = addresses.filter((a) => a.family === 6).map((a) => a.address);
  switch (family) {
    case 'V4_ONLY':
      return v4;
    case 'V6_ONLY':
      return v6;
    case 'V4_PREFERRED':
      return v4.length > 0 ? v4 : v6;
    case 'ALL':
      return [...v4, ...v6];
    default:
      return v6.length > 0 ? v6 : v4;
  }
}

/** "1.2.3.4:80" / "[::1]:80" → parts; undefined when not an IP:port. */
export function parseHostPort(v: string): { address: string; port: number } | undefined {
  let address: string;
  let portText: string;
  if (v.startsWith('[')) {
    const end = v.indexOf(']:');
    if (end < 0) return undefined;
    address = v.slice(1, end);
    portText = v.slice(end + 2);
  } else {
    const colon = v.lastIndexOf(':');
    if (colon < 0) return undefined;
    address = v.slice(0, colon);
    portText = v.slice(colon + 1);
  }
  const port = Number(portText);
  if (isIP(address) === 0 || !Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  return { address, port };
}
