/**
 * Listeners: `compileListener` turns an Envoy v3 Listener into ListenerConfig (bind address,
 * filter chains with their compiled match and terminal network filter), and `Listener` binds a
 * TCP server and hands each accepted connection to the chain that matches it.
 *
 * Updates keep the socket: `update(config)` swaps the filter chains for new connections while
 * established ones keep the chain they started with; `drain()` stops accepting and lets
 * connections finish.
 *
 * An accepted socket first runs the listener filters (listener-filters.ts: original_dst,
 * tls_inspector, http_inspector). A `use_original_dst` listener (Istio's virtualOutbound 15001)
 * then hands the connection to the listener whose address best matches the original
 * destination (exact ip:port, then the wildcard address on that port) — typically a
 * `bind_to_port: false` listener that exists only to receive such hand-offs — or keeps it on its
 * own chains when none matches. The chain is chosen Envoy's way (selectFilterChain), TLS is
 * terminated when the chain has a DownstreamTlsContext, and the terminal filter takes over.
 */
import net from 'node:net';
import type tls from 'node:tls';
import { logger } from '../../lib/log.ts';
import { addressBytes, type CidrRange, cidrContains, parseCidr } from '../common/cidr.ts';
import {
  type AnyDecoder,
  CompileContext,
  type CompileResult,
  type ProtoReader,
  ProtoReader as Reader,
  readAny,
} from '../config/proto.ts';
import { TYPE } from '../config/type-names.ts';
import { HttpConnection } from '../network/http/connection-manager.ts';
import {
  compileHttpConnectionManagerInto,
  type HcmConfig,
  type RouteConfigProvider,
} from '../network/http/hcm-config.ts';
import {
  type NetworkFilterFactory,
  networkFilterRegistration,
  openObservers,
} from '../network/network-filter.ts';
import { compileTcpProxyInto, type TcpProxyConfig, TcpProxySession } from '../network/tcp-proxy.ts';
import type { Counter, Gauge, Histogram, StatsStore } from '../stats/store.ts';
import type { ConnectionInfo } from '../stream-info.ts';
import { compileDownstreamTlsContext, DownstreamTls, TlsStats } from '../tls/downstream-tls.ts';
import type { SecretStore } from '../tls/secret-store.ts';
import { compileSocketAddress } from '../upstream/cluster.ts';
import type { ClusterManager } from '../upstream/cluster-manager.ts';
import { openTransportSocket } from '../upstream/transport-socket.ts';
import {
  compileListenerFilters,
  type DownstreamInfo,
  type ListenerFilterConfig,
  type ListenerFilterStats,
  type OriginalDstLookup,
  runListenerFilters,
  TLS_INSPECTOR,
} from './listener-filters.ts';
import { getOriginalDst, originalDstAvailability } from './original-dst.ts';

const log = logger('proxy:listener');

export interface ListenerEnv {
  readonly clusterManager: ClusterManager;
  readonly stats: StatsStore;
  readonly decodeAny?: AnyDecoder;
  readonly rds?: (routeConfigName: string) => RouteConfigProvider;
  readonly random?: () => number;
  /** The listener's traffic_direction (INBOUND, OUTBOUND, UNSPECIFIED): telemetry filters read it. */
  readonly trafficDirection?: string;
  /** SDS secrets for downstream TLS (without it, SDS-over-ADS certificates are NACKed). */
  readonly secrets?: SecretStore;
  /** Reads certificate files (tests inject it). */
  readonly readFile?: (path: string) => Buffer;
}

/** The terminal network filter of a chain. */
export type NetworkFilter =
  | { readonly kind: 'http'; readonly config: HcmConfig }
  | { readonly kind: 'tcp'; readonly config: TcpProxyConfig };

const SOURCE_ANY = 0;
const SOURCE_LOCAL = 1;
const SOURCE_EXTERNAL = 2;

export interface FilterChainMatchConfig {
  readonly destinationPort: number;
  readonly prefixRanges: readonly CidrRange[];
  /** Lowercase; `*.example.com` wildcards match any deeper name. */
  readonly serverNames: readonly string[];
  readonly transportProtocol: string;
  readonly applicationProtocols: readonly string[];
  readonly sourceType: number;
  readonly sourcePrefixRanges: readonly CidrRange[];
  readonly directSourcePrefixRanges: readonly CidrRange[];
  readonly sourcePorts: readonly number[];
}

export interface FilterChainConfig {
  readonly name: string;
  readonly match: FilterChainMatchConfig;
  /** Non-terminal network filters, in order (connection observers). */
  readonly networkFilters: readonly NetworkFilterFactory[];
  readonly filter: NetworkFilter;
  /** Downstream TLS termination (transport_socket envoy.transport_sockets.tls). */
  readonly tls: DownstreamTls | undefined;
}

export interface ListenerConfig {
  readonly name: string;
  readonly address: string;
  readonly port: number;
  readonly statPrefix: string;
  readonly filterChains: readonly FilterChainConfig[];
  readonly defaultFilterChain: FilterChainConfig | undefined;
  readonly backlog: number;
  readonly bufferLimit: number;
  /** false: a virtual listener that only receives connections handed off by use_original_dst. */
  readonly bindToPort: boolean;
  /** Hands connections to the listener of their original destination. */
  readonly useOriginalDst: boolean;
  readonly listenerFilters: readonly ListenerFilterConfig[];
  /** 0: no limit. */
  readonly listenerFiltersTimeoutMs: number;
  readonly continueOnListenerFiltersTimeout: boolean;
}

const EMPTY_MATCH: FilterChainMatchConfig = {
  destinationPort: 0,
  prefixRanges: [],
  serverNames: [],
  transportProtocol: '',
  applicationProtocols: [],
  sourceType: SOURCE_ANY,
  sourcePrefixRanges: [],
  directSourcePrefixRanges: [],
  sourcePorts: [],
};

/** config.listener.v3.Listener → ListenerConfig. */
export function compileListener(proto: unknown, env: ListenerEnv): CompileResult<ListenerConfig> {
  const ctx = new CompileContext({ decodeAny: env.decodeAny });
  const r = new Reader(ctx, proto, '', 'envoy.config.listener.v3.Listener');
  const name = r.string('name');
  const addr = r.message('address');
  let address = '0.0.0.0';
  let port = 0;
  if (addr) {
    const sa = compileSocketAddress(addr, false);
    if (sa) ({ address, port } = sa);
  } else ctx.error('address', 'address is required');
  const statPrefix = r.string('stat_prefix');
  const chainEnv: ListenerEnv = {
    ...env,
    trafficDirection: r.enumName('traffic_direction', ['UNSPECIFIED', 'INBOUND', 'OUTBOUND']),
  };
  const filterChains = r.messages('filter_chains').map((fc) => compileFilterChain(fc, chainEnv));
  const dfc = r.message('default_filter_chain');
  const defaultFilterChain = dfc ? compileFilterChain(dfc, chainEnv) : undefined;
  if (filterChains.length === 0 && !defaultFilterChain)
    ctx.error('filter_chains', 'at least one filter chain is required');
  const bufferLimit = r.wrappedNumber('per_connection_buffer_limit_bytes', 1024 * 1024);
  const backlog = r.wrappedNumber('tcp_backlog_size', 128);
  r.ignore('metadata');
  // Informational or about drain/worker behaviour that does not change request handling.
  r.ignore(
    'drain_type',
    'connection_balance_config',
    'reuse_port',
    'enable_reuse_port',
    'max_connections_to_accept_per_socket_event',
    'ignore_global_conn_limit',
    'bypass_overload_manager',
  );
  // Envoy's default: 15 s for the whole listener-filter phase; 0 disables the limit.
  const listenerFiltersTimeoutMs = r.has('listener_filters_timeout')
    ? (r.duration('listener_filters_timeout') ?? 0)
    : 15_000;
  const continueOnListenerFiltersTimeout = r.bool('continue_on_listener_filters_timeout');
  const useOriginalDst = r.wrappedBool('use_original_dst', false) ?? false;
  const listenerFilters = compileListenerFilters(r);
  // Envoy adds the original_dst filter itself to a use_original_dst listener.
  if (useOriginalDst && !listenerFilters.some((f) => f.kind === 'original_dst'))
    listenerFilters.unshift({
      kind: 'original_dst',
      name: 'envoy.filters.listener.original_dst',
      disabled: undefined,
    });
  // Envoy injects a TLS inspector when chains match on what only it can tell and none is listed.
  const allChains = [...filterChains, ...(defaultFilterChain ? [defaultFilterChain] : [])];
  if (
    !listenerFilters.some((f) => f.kind === 'tls_inspector') &&
    r.list('listener_filters').length === 0 &&
    allChains.some(
      (c) =>
        c.match.serverNames.length > 0 ||
        c.match.transportProtocol === 'tls' ||
        c.match.applicationProtocols.length > 0,
    )
  ) {
    listenerFilters.push({ kind: 'tls_inspector', name: TLS_INSPECTOR, disabled: undefined });
  }
  checkDuplicateMatches(filterChains, ctx);
  r.unsupported('additional_addresses', 'additional addresses are not supported');
  r.unsupported('filter_chain_matcher', 'the filter chain matcher tree is not supported');
  r.unsupported('deprecated_v1', 'deprecated v1 listener options are not supported');
  r.unsupported('transparent', 'transparent (TPROXY) listeners are not supported; use REDIRECT capture');
  r.unsupported('freebind', 'freebind is not supported');
  r.unsupported('socket_options', 'socket options are not supported');
  r.unsupported('tcp_fast_open_queue_length', 'TCP fast open is not supported');
  r.unsupported('udp_listener_config', 'UDP listeners are not supported');
  r.unsupported('api_listener', 'API listeners are not supported');
  r.unsupported('access_log', 'access logs are not supported yet');
  const bindToPort = r.wrappedBool('bind_to_port', true) ?? true;
  if (!bindToPort && port === 0)
    ctx.error('address', 'a listener that does not bind needs a port (connections are handed to it by port)');
  r.unsupported('enable_mptcp', 'MPTCP is not supported');
  r.unsupported('internal_listener', 'internal listeners are not supported');
  r.raw('listener_specifier');
  r.done();
  return ctx.result({
    name,
    address,
    port,
    statPrefix,
    filterChains,
    defaultFilterChain,
    backlog,
    bufferLimit,
    bindToPort,
    useOriginalDst,
    listenerFilters,
    listenerFiltersTimeoutMs,
    continueOnListenerFiltersTimeout,
  });
}

/** Envoy refuses two chains with the same match: which one a connection gets would be arbitrary. */
function checkDuplicateMatches(chains: readonly FilterChainConfig[], ctx: CompileContext): void {
  const seen = new Map<string, number>();
  chains.forEach((c, i) => {
    const m = c.match;
    const key = JSON.stringify([
      m.destinationPort,
      m.prefixRanges.map((p) => [...p.bytes, p.prefixLen]),
      [...m.serverNames].sort(),
      m.transportProtocol,
      [...m.applicationProtocols].sort(),
      m.directSourcePrefixRanges.map((p) => [...p.bytes, p.prefixLen]),
      m.sourceType,
      m.sourcePrefixRanges.map((p) => [...p.bytes, p.prefixLen]),
      [...m.sourcePorts].sort(),
    ]);
    const prev = seen.get(key);
    if (prev !== undefined) {
      ctx.error(
        `filter_chains[${i}].filter_chain_match`,
        `multiple filter chains with the same matching rules are defined (also filter_chains[${prev}])`,
      );
    } else seen.set(key, i);
  });
}

function compileFilterChain(r: ProtoReader, env: ListenerEnv): FilterChainConfig {
  const ctx = r.ctx;
  const name = r.string('name');
  const m = r.message('filter_chain_match');
  const match = m ? compileFilterChainMatch(m) : EMPTY_MATCH;
  r.unsupported('use_proxy_proto', 'the PROXY protocol is not supported');
  r.ignore('metadata');
  const handshakeTimeoutMs = r.duration('transport_socket_connect_timeout');
  const tls = compileDownstreamTransportSocket(r.message('transport_socket'), env, handshakeTimeoutMs);
  r.unsupported('on_demand_configuration', 'on-demand filter chains are not supported');
  const filters = r.messages('filters');
  let filter: NetworkFilter | undefined;
  const networkFilters: NetworkFilterFactory[] = [];
  filters.forEach((f, i) => {
    const fname = f.string('name');
    const any = f.raw('typed_config');
    f.raw('config_type');
    f.unsupported('config_discovery', 'filter config discovery (ECDS) is not supported');
    f.done();
    if (any === undefined || any === null) {
      ctx.error(f.at('typed_config'), 'typed_config is required');
      return;
    }
    const opened = readAny(ctx, any, f.at('typed_config'));
    if (!opened) return;
    if (i !== filters.length - 1) {
      const reg = networkFilterRegistration(opened.typeName);
      if (reg === undefined) {
        ctx.error(
          f.at('typed_config'),
          `network filter ${fname || opened.typeName} (${opened.typeName}) is not supported before the terminal filter`,
        );
        return;
      }
      networkFilters.push(
        reg.compile(
          opened.reader,
          fname,
          { stats: env.stats, trafficDirection: env.trafficDirection ?? 'UNSPECIFIED' },
          ctx,
        ),
      );
      return;
    }
    if (opened.typeName === TYPE.HTTP_CONNECTION_MANAGER) {
      filter = { kind: 'http', config: compileHttpConnectionManagerInto(opened.reader, env) };
    } else if (opened.typeName === TYPE.TCP_PROXY) {
      filter = { kind: 'tcp', config: compileTcpProxyInto(opened.reader, env) };
    } else {
      ctx.error(
        f.at('typed_config'),
        `network filter ${fname || opened.typeName} (${opened.typeName}) is not supported`,
      );
    }
  });
  if (filters.length === 0) ctx.error(r.at('filters'), 'a terminal network filter is required');
  r.done();
  return { name, match, networkFilters, filter: filter!, tls };
}

/** A chain's transport_socket: raw_buffer (none) or downstream TLS. */
function compileDownstreamTransportSocket(
  r: ProtoReader | undefined,
  env: ListenerEnv,
  handshakeTimeoutMs: number | undefined,
): DownstreamTls | undefined {
  if (!r) return undefined;
  const opened = openTransportSocket(r);
  if (opened === undefined || opened === 'raw_buffer') return undefined;
  if (opened.typeName !== DOWNSTREAM_TLS_CONTEXT) {
    r.ctx.error(r.at('typed_config'), `downstream transport socket type ${opened.typeName} is not supported`);
    return undefined;
  }
  const before = r.ctx.issues.length;
  const config = compileDownstreamTlsContext(opened.reader, env, handshakeTimeoutMs);
  if (!config || r.ctx.issues.length > before) return undefined;
  return new DownstreamTls(config, env.secrets);
}

const DOWNSTREAM_TLS_CONTEXT = 'envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';

function compileRanges(r: ProtoReader, field: string): CidrRange[] {
  const out: CidrRange[] = [];
  for (const c of r.messages(field)) {
    const prefix = c.string('address_prefix');
    const len = c.wrappedNumber('prefix_len', 0);
    c.done();
    const parsed = parseCidr(prefix, len);
    if (!parsed) c.ctx.error(c.path, `invalid CIDR ${prefix}/${len}`);
    else out.push(parsed);
  }
  return out;
}

function compileFilterChainMatch(r: ProtoReader): FilterChainMatchConfig {
  const destinationPort = r.wrappedNumber('destination_port', 0);
  const prefixRanges = compileRanges(r, 'prefix_ranges');
  const directSourcePrefixRanges = compileRanges(r, 'direct_source_prefix_ranges');
  const st = r.enumName('source_type', ['ANY', 'SAME_IP_OR_LOOPBACK', 'EXTERNAL'] as const);
  const sourceType =
    st === 'ANY' ? SOURCE_ANY : st === 'SAME_IP_OR_LOOPBACK' ? SOURCE_LOCAL : SOURCE_EXTERNAL;
  const sourcePrefixRanges = compileRanges(r, 'source_prefix_ranges');
  const sourcePorts = r.list('source_ports').map(Number);
  r.unsupported('address_suffix', 'address suffix matching is not supported');
  r.unsupported('suffix_len', 'address suffix matching is not supported');
  const serverNames = r.strings('server_names').map((n) => n.toLowerCase());
  serverNames.forEach((n, i) => {
    const bare = n.startsWith('*.') ? n.slice(2) : n;
    if (bare === '' || bare.includes('*'))
      r.ctx.error(
        `${r.at('server_names')}[${i}]`,
        `invalid server name ${JSON.stringify(n)} (only a leading "*." wildcard is allowed)`,
      );
  });
  const transportProtocol = r.string('transport_protocol');
  const applicationProtocols = r.strings('application_protocols');
  r.done();
  return {
    destinationPort,
    prefixRanges,
    serverNames,
    transportProtocol,
    applicationProtocols,
    sourceType,
    sourcePrefixRanges,
    directSourcePrefixRanges,
    sourcePorts,
  };
}

function longestMatch(ranges: readonly CidrRange[], addr: Uint8Array | undefined): number {
  if (ranges.length === 0) return 0;
  if (addr === undefined) return -1;
  let best = -1;
  for (const r of ranges) if (cidrContains(r, addr) && r.prefixLen + 1 > best) best = r.prefixLen + 1;
  return best;
}

/** Exact name beats the longest matching `*.` suffix, which beats no server_names; -1: no match. */
function serverNameScore(names: readonly string[], sni: string | undefined): number {
  if (names.length === 0) return 0;
  if (sni === undefined || sni === '') return -1;
  let best = -1;
  for (const n of names) {
    if (n === sni) return 1 << 20;
    if (n.startsWith('*.') && sni.length > n.length - 1 && sni.endsWith(n.slice(1)) && n.length > best)
      best = n.length;
  }
  return best;
}

/** Facts chain matching reads beyond ConnectionInfo (what listener filters found). */
export interface ChainMatchFacts {
  readonly transportProtocol?: string;
  readonly applicationProtocols?: readonly string[];
}

interface MatchInput {
  readonly dstPort: number;
  readonly dstBytes: Uint8Array | undefined;
  readonly srcBytes: Uint8Array | undefined;
  readonly sni: string | undefined;
  readonly transport: string;
  readonly alpn: readonly string[];
  readonly local: boolean;
  readonly remotePort: number;
}

const LEVELS = 9;

/** Specificity of `m` at one criterion level; -1 when it does not match. */
function levelScore(level: number, m: FilterChainMatchConfig, x: MatchInput): number {
  switch (level) {
    case 0:
      return m.destinationPort === 0 ? 0 : m.destinationPort === x.dstPort ? 1 : -1;
    case 1:
      return longestMatch(m.prefixRanges, x.dstBytes);
    case 2:
      return serverNameScore(m.serverNames, x.sni);
    case 3:
      return m.transportProtocol === '' ? 0 : m.transportProtocol === x.transport ? 1 : -1;
    case 4:
      if (m.applicationProtocols.length === 0) return 0;
      for (const p of m.applicationProtocols) if (x.alpn.includes(p)) return 1;
      return -1;
    case 5:
      return longestMatch(m.directSourcePrefixRanges, x.srcBytes);
    case 6:
      return m.sourceType === SOURCE_ANY ? 0 : (m.sourceType === SOURCE_LOCAL) === x.local ? 1 : -1;
    case 7:
      return longestMatch(m.sourcePrefixRanges, x.srcBytes);
    default:
      return m.sourcePorts.length === 0 ? 0 : m.sourcePorts.includes(x.remotePort) ? 1 : -1;
  }
}

/**
 * Picks the filter chain for a connection Envoy's way: criteria are taken in order (destination
 * port, destination IP, server name, transport protocol, application protocols, direct source
 * IP, source type, source IP, source port); at each level only the most specific chains that
 * match stay in the running (a chain without the criterion matches least specifically). There
 * is no backtracking: if the most specific chains fail a later criterion, no chain matches.
 */
export function selectFilterChain(
  chains: readonly FilterChainConfig[],
  info: ConnectionInfo & ChainMatchFacts,
): FilterChainConfig | undefined {
  if (chains.length === 0) return undefined;
  // The common single catch-all chain needs no address parsing.
  if (chains.length === 1 && chains[0].match === EMPTY_MATCH) return chains[0];
  const dst = info.originalDst ?? { address: info.localAddress, port: info.localPort };
  const x: MatchInput = {
    dstPort: dst.port,
    dstBytes: addressBytes(dst.address),
    srcBytes: addressBytes(info.remoteAddress),
    sni: info.sni,
    transport: info.transportProtocol ?? 'raw_buffer',
    alpn: info.applicationProtocols ?? [],
    local: info.remoteAddress === info.localAddress || isLoopback(info.remoteAddress),
    remotePort: info.remotePort,
  };
  let candidates: readonly FilterChainConfig[] = chains;
  for (let level = 0; level < LEVELS; level++) {
    let best = -1;
    const next: FilterChainConfig[] = [];
    for (const c of candidates) {
      const score = levelScore(level, c.match, x);
      if (score < 0 || score < best) continue;
      if (score > best) {
        best = score;
        next.length = 0;
      }
      next.push(c);
    }
    if (next.length === 0) return undefined;
    candidates = next;
  }
  return candidates[0];
}

function isLoopback(addr: string): boolean {
  return addr.startsWith('127.') || addr === '::1' || addr.startsWith('::ffff:127.');
}

export class ListenerStats implements ListenerFilterStats {
  readonly downstreamCxTotal: Counter;
  readonly downstreamCxActive: Gauge;
  readonly downstreamCxDestroy: Counter;
  readonly noFilterChainMatch: Counter;
  readonly downstreamCxLengthMs: Histogram;
  readonly preCxActive: Gauge;
  readonly preCxTimeout: Counter;
  readonly filterError: Counter;
  readonly remoteClose: Counter;
  readonly tlsFound: Counter;
  readonly tlsNotFound: Counter;
  readonly sniFound: Counter;
  readonly sniNotFound: Counter;
  readonly alpnFound: Counter;
  readonly alpnNotFound: Counter;
  readonly clientHelloTooLarge: Counter;
  readonly http10Found: Counter;
  readonly http11Found: Counter;
  readonly http2Found: Counter;
  readonly httpNotFound: Counter;
  /** Connections this listener passed to the listener of their original destination. */
  readonly handedOff: Counter;
  readonly tls: TlsStats;
  constructor(store: StatsStore, name: string) {
    const s = store.scope(`listener.${name}`);
    this.downstreamCxTotal = s.counter('downstream_cx_total');
    this.downstreamCxActive = s.gauge('downstream_cx_active');
    this.downstreamCxDestroy = s.counter('downstream_cx_destroy');
    this.noFilterChainMatch = s.counter('no_filter_chain_match');
    this.downstreamCxLengthMs = s.histogram('downstream_cx_length_ms');
    this.preCxActive = s.gauge('downstream_pre_cx_active');
    this.preCxTimeout = s.counter('downstream_pre_cx_timeout');
    this.filterError = s.counter('downstream_listener_filter_error');
    this.remoteClose = s.counter('downstream_listener_filter_remote_close');
    this.handedOff = s.counter('original_dst_handed_off');
    const tlsI = store.scope(`listener.${name}.tls_inspector`);
    this.tlsFound = tlsI.counter('tls_found');
    this.tlsNotFound = tlsI.counter('tls_not_found');
    this.sniFound = tlsI.counter('sni_found');
    this.sniNotFound = tlsI.counter('sni_not_found');
    this.alpnFound = tlsI.counter('alpn_found');
    this.alpnNotFound = tlsI.counter('alpn_not_found');
    this.clientHelloTooLarge = tlsI.counter('client_hello_too_large');
    const httpI = store.scope(`listener.${name}.http_inspector`);
    this.http10Found = httpI.counter('http10_found');
    this.http11Found = httpI.counter('http11_found');
    this.http2Found = httpI.counter('http2_found');
    this.httpNotFound = httpI.counter('http_not_found');
    this.tls = new TlsStats(store, `listener.${name}`);
  }
}

/** "127.0.0.1_8080", or Envoy's "[__1]_8080"-style name for IPv6 (':' → '_'). */
export function listenerStatName(address: string, port: number): string {
  return address.includes(':') ? `[${address.replace(/:/g, '_')}]_${port}` : `${address}_${port}`;
}

/** Finds the listener a use_original_dst listener hands a connection to (the manager). */
export interface ListenerLookup {
  /** Exact address and port first, then the wildcard address of the family on that port. */
  find(address: string, port: number): Listener | undefined;
}

export interface ListenerOptions {
  readonly lookup?: ListenerLookup;
  /** The original-destination lookup (tests inject one; default: addon, then conntrack). */
  readonly originalDst?: OriginalDstLookup;
}

export class Listener {
  config: ListenerConfig;
  private readonly store: StatsStore;
  private readonly options: ListenerOptions;
  private server: net.Server | null = null;
  stats: ListenerStats | undefined;
  private readonly http = new Set<HttpConnection>();
  private readonly tcp = new Set<TcpProxySession>();
  /** Sockets still in the listener-filter or TLS handshake phase. */
  private readonly pending = new Set<net.Socket>();
  private draining = false;
  private idleWaiters: (() => void)[] = [];

  constructor(config: ListenerConfig, store: StatsStore, options: ListenerOptions = {}) {
    this.config = config;
    this.store = store;
    this.options = options;
  }

  /**
   * Binds (or, for a `bind_to_port: false` listener, only gets ready for hand-offs); resolves
   * with the port. A listener that needs original destinations fails here, with the reason,
   * when this machine offers no way to read them.
   */
  async start(): Promise<number> {
    const c = this.config;
    if (c.listenerFilters.some((f) => f.kind === 'original_dst') && !this.options.originalDst) {
      const a = await originalDstAvailability();
      if ('error' in a) throw new Error(`listener ${c.name}: ${a.error}`);
    }
    if (!c.bindToPort) {
      this.stats = new ListenerStats(this.store, c.statPrefix || listenerStatName(c.address, c.port));
      return c.port;
    }
    return new Promise((resolve, reject) => {
      const server = net.createServer({ allowHalfOpen: true, noDelay: true }, this.onConnection);
      server.once('error', reject);
      server.listen({ host: c.address, port: c.port, backlog: c.backlog }, () => {
        server.off('error', reject);
        server.on('error', (err) => log.error('listener error', { listener: c.name, error: err.message }));
        this.server = server;
        const port = (server.address() as net.AddressInfo).port;
        this.stats = new ListenerStats(this.store, c.statPrefix || listenerStatName(c.address, port));
        resolve(port);
      });
    });
  }

  get port(): number {
    if (!this.config.bindToPort) return this.config.port;
    const a = this.server?.address();
    return a && typeof a === 'object' ? a.port : 0;
  }

  /** New connections use `config`'s chains; established ones keep theirs. */
  update(config: ListenerConfig): void {
    if (
      config.address !== this.config.address ||
      config.bindToPort !== this.config.bindToPort ||
      (config.port !== this.config.port && config.port !== 0)
    ) {
      throw new Error(`listener ${config.name}: a new address needs a new listener`);
    }
    this.config = config;
  }

  private onConnection = (socket: net.Socket): void => {
    const info: DownstreamInfo = {
      remoteAddress: socket.remoteAddress ?? '',
      remotePort: socket.remotePort ?? 0,
      localAddress: socket.localAddress ?? '',
      localPort: socket.localPort ?? 0,
      secure: false,
    };
    if (this.draining) {
      socket.destroy();
      return;
    }
    this.inspect(socket, info);
  };

  /** Runs this listener's filters, then hands off or places the connection on a chain. */
  private inspect(socket: net.Socket, info: DownstreamInfo): void {
    const c = this.config;
    const stats = this.stats!;
    if (c.listenerFilters.length === 0) {
      this.place(socket, info);
      return;
    }
    this.track(socket);
    runListenerFilters(
      socket,
      info,
      {
        filters: c.listenerFilters,
        timeoutMs: c.listenerFiltersTimeoutMs,
        continueOnTimeout: c.continueOnListenerFiltersTimeout,
        stats,
        originalDst: this.options.originalDst ?? ((s) => getOriginalDst(s)),
      },
      (ok) => {
        this.untrack(socket);
        if (!ok) return;
        if (c.useOriginalDst && info.originalDst) {
          const target = this.options.lookup?.find(info.originalDst.address, info.originalDst.port);
          if (target && target !== this) {
            stats.handedOff.value++;
            target.acceptHandedOff(socket, info);
            return;
          }
        }
        this.place(socket, info);
      },
    );
  }

  /** A connection another listener restored the original destination of (use_original_dst). */
  acceptHandedOff(socket: net.Socket, info: DownstreamInfo): void {
    if (this.draining || !this.stats) {
      socket.destroy();
      return;
    }
    this.inspect(socket, info);
  }

  private track(socket: net.Socket): void {
    this.pending.add(socket);
  }

  private untrack(socket: net.Socket): void {
    this.pending.delete(socket);
    this.checkIdle();
  }

  /** Counts the connection here and starts the chain that matches it. */
  private place(socket: net.Socket, info: DownstreamInfo): void {
    const stats = this.stats!;
    stats.downstreamCxTotal.value++;
    stats.downstreamCxActive.value++;
    const started = Date.now();
    socket.once('close', () => {
      stats.downstreamCxActive.value--;
      stats.downstreamCxDestroy.value++;
      stats.downstreamCxLengthMs.record(Date.now() - started);
    });
    const chain = selectFilterChain(this.config.filterChains, info) ?? this.config.defaultFilterChain;
    if (chain === undefined) {
      stats.noFilterChainMatch.value++;
      socket.destroy();
      return;
    }
    if (chain.tls) {
      this.track(socket);
      chain.tls.wrap(
        socket,
        stats.tls,
        info.transportProtocol === 'tls' ? (info.applicationProtocols ?? []) : undefined,
        (tlsSocket, tlsInfo) => {
          this.untrack(socket);
          info.secure = true;
          info.sni = tlsInfo.sni;
          info.tls = tlsInfo;
          if (tlsInfo.alpn !== undefined) info.applicationProtocols = [tlsInfo.alpn];
          this.startChain(chain, tlsSocket, info);
        },
        (reason) => {
          this.untrack(socket);
          log.debug('downstream TLS failed', { listener: this.config.name, reason });
          socket.destroy();
        },
      );
      return;
    }
    // Listener filters leave the socket paused with the peeked bytes unshifted.
    const paused = socket.isPaused();
    this.startChain(chain, socket, info);
    if (paused) socket.resume();
  }

  private startChain(
    chain: FilterChainConfig,
    socket: net.Socket | tls.TLSSocket,
    info: ConnectionInfo,
  ): void {
    const f = chain.filter;
    if (f.kind === 'http') {
      const conn = new HttpConnection(socket, f.config, info, (c) => this.http.delete(c));
      conn.writer.limit = this.config.bufferLimit;
      this.http.add(conn);
      socket.once('close', () => queueMicrotask(() => this.checkIdle()));
    } else {
      const observers = openObservers(chain.networkFilters, info);
      const s = new TcpProxySession(
        socket,
        f.config,
        info,
        (t) => {
          this.tcp.delete(t);
          this.checkIdle();
        },
        observers,
      );
      // Envoy's per_connection_buffer_limit_bytes bounds what is queued towards the client too.
      s.downstreamWriter.limit = this.config.bufferLimit;
      this.tcp.add(s);
    }
  }

  private checkIdle(): void {
    if (this.idleWaiters.length === 0 || this.connectionCount > 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  private whenIdle(): Promise<void> {
    if (this.connectionCount === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Stops accepting; HTTP connections close after their current request. Resolves when the
   * socket is closed and every connection (handed-off ones included) has finished.
   */
  async drain(): Promise<void> {
    this.draining = true;
    for (const c of this.http) c.drain();
    const server = this.server;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    await this.whenIdle();
  }

  /** Closes the socket and every connection now. */
  close(): Promise<void> {
    this.draining = true;
    for (const c of this.http) c.destroy();
    for (const t of this.tcp) t.close();
    for (const s of this.pending) s.destroy();
    const server = this.server;
    this.server = null;
    return new Promise((resolve) => {
      if (!server) {
        resolve();
        return;
      }
      server.close(() => resolve());
    });
  }

  get connectionCount(): number {
    return this.http.size + this.tcp.size + this.pending.size;
  }
}
