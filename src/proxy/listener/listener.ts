/**
 * Listeners: `compileListener` turns an Envoy v3 Listener into ListenerConfig (bind address,
 * filter chains with their compiled match and terminal network filter), and `Listener` binds a
 * TCP server and hands each accepted connection to the chain that matches it.
 *
 * Updates keep the socket: `update(config)` swaps the filter chains for new connections while
 * established ones keep the chain they started with; `drain()` stops accepting and lets
 * connections finish. Listener filters (tls_inspector, http_inspector) and original-destination
 * capture are not here yet; filter-chain match fields that need them are NACKed.
 */
import net from 'node:net';
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
import { compileSocketAddress } from '../upstream/cluster.ts';
import type { ClusterManager } from '../upstream/cluster-manager.ts';

const log = logger('proxy:listener');

export interface ListenerEnv {
  readonly clusterManager: ClusterManager;
  readonly stats: StatsStore;
  readonly decodeAny?: AnyDecoder;
  readonly rds?: (routeConfigName: string) => RouteConfigProvider;
  readonly random?: () => number;
  /** The listener's traffic_direction (INBOUND, OUTBOUND, UNSPECIFIED): telemetry filters read it. */
  readonly trafficDirection?: string;
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
}

const EMPTY_MATCH: FilterChainMatchConfig = {
  destinationPort: 0,
  prefixRanges: [],
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
    'listener_filters_timeout',
    'continue_on_listener_filters_timeout',
    'connection_balance_config',
    'reuse_port',
    'enable_reuse_port',
    'max_connections_to_accept_per_socket_event',
    'ignore_global_conn_limit',
    'bypass_overload_manager',
  );
  r.unsupported('additional_addresses', 'additional addresses are not supported');
  r.unsupported('filter_chain_matcher', 'the filter chain matcher tree is not supported');
  r.unsupported('use_original_dst', 'original destination capture is not supported yet');
  r.unsupported('deprecated_v1', 'deprecated v1 listener options are not supported');
  r.unsupported('listener_filters', 'listener filters are not supported yet');
  r.unsupported('transparent', 'transparent listeners are not supported');
  r.unsupported('freebind', 'freebind is not supported');
  r.unsupported('socket_options', 'socket options are not supported');
  r.unsupported('tcp_fast_open_queue_length', 'TCP fast open is not supported');
  r.unsupported('udp_listener_config', 'UDP listeners are not supported');
  r.unsupported('api_listener', 'API listeners are not supported');
  r.unsupported('access_log', 'access logs are not supported yet');
  const bind = r.wrappedBool('bind_to_port', true);
  if (!bind)
    ctx.error('bind_to_port', 'listeners that do not bind (virtual listeners) are not supported yet');
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
  });
}

function compileFilterChain(r: ProtoReader, env: ListenerEnv): FilterChainConfig {
  const ctx = r.ctx;
  const name = r.string('name');
  const m = r.message('filter_chain_match');
  const match = m ? compileFilterChainMatch(m) : EMPTY_MATCH;
  r.unsupported('use_proxy_proto', 'the PROXY protocol is not supported');
  r.unsupported('transport_socket', 'downstream TLS is not supported yet');
  r.ignore('transport_socket_connect_timeout', 'metadata');
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
  return { name, match, networkFilters, filter: filter! };
}

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
  r.unsupported('server_names', 'server name matching needs tls_inspector, which is not supported yet');
  const tp = r.string('transport_protocol');
  if (tp !== '' && tp !== 'raw_buffer')
    r.ctx.error(
      r.at('transport_protocol'),
      `transport protocol ${tp} needs tls_inspector, which is not supported yet`,
    );
  r.unsupported(
    'application_protocols',
    'application protocol matching needs an inspector, which is not supported yet',
  );
  r.done();
  return {
    destinationPort,
    prefixRanges,
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

/**
 * Picks the filter chain for a connection: every specified criterion must hold, and among the
 * matches the most specific wins, comparing criteria in Envoy's order (destination port,
 * destination IP, source type, source IP, source port).
 */
export function selectFilterChain(
  chains: readonly FilterChainConfig[],
  info: ConnectionInfo,
): FilterChainConfig | undefined {
  const dst = info.originalDst ?? { address: info.localAddress, port: info.localPort };
  const dstBytes = addressBytes(dst.address);
  const srcBytes = addressBytes(info.remoteAddress);
  let best: FilterChainConfig | undefined;
  let bestScore: number[] | undefined;
  for (const c of chains) {
    const m = c.match;
    if (m.destinationPort !== 0 && m.destinationPort !== dst.port) continue;
    const dstLen = longestMatch(m.prefixRanges, dstBytes);
    if (dstLen < 0) continue;
    if (m.sourceType !== SOURCE_ANY) {
      const local = info.remoteAddress === info.localAddress || isLoopback(info.remoteAddress);
      if ((m.sourceType === SOURCE_LOCAL) !== local) continue;
    }
    const srcLen = longestMatch(m.sourcePrefixRanges, srcBytes);
    if (srcLen < 0) continue;
    const directLen = longestMatch(m.directSourcePrefixRanges, srcBytes);
    if (directLen < 0) continue;
    if (m.sourcePorts.length > 0 && !m.sourcePorts.includes(info.remotePort)) continue;
    const score = [
      m.destinationPort !== 0 ? 1 : 0,
      dstLen,
      directLen,
      m.sourceType !== SOURCE_ANY ? 1 : 0,
      srcLen,
      m.sourcePorts.length > 0 ? 1 : 0,
    ];
    if (bestScore === undefined || compareScores(score, bestScore) > 0) {
      best = c;
      bestScore = score;
    }
  }
  return best;
}

function compareScores(a: number[], b: number[]): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return 0;
}

function isLoopback(addr: string): boolean {
  return addr.startsWith('127.') || addr === '::1' || addr.startsWith('::ffff:127.');
}

export class ListenerStats {
  readonly downstreamCxTotal: Counter;
  readonly downstreamCxActive: Gauge;
  readonly downstreamCxDestroy: Counter;
  readonly noFilterChainMatch: Counter;
  readonly downstreamCxLengthMs: Histogram;
  constructor(store: StatsStore, name: string) {
    const s = store.scope(`listener.${name}`);
    this.downstreamCxTotal = s.counter('downstream_cx_total');
    this.downstreamCxActive = s.gauge('downstream_cx_active');
    this.downstreamCxDestroy = s.counter('downstream_cx_destroy');
    this.noFilterChainMatch = s.counter('no_filter_chain_match');
    this.downstreamCxLengthMs = s.histogram('downstream_cx_length_ms');
  }
}

/** "127.0.0.1_8080", or Envoy's "[__1]_8080"-style name for IPv6 (':' → '_'). */
export function listenerStatName(address: string, port: number): string {
  return address.includes(':') ? `[${address.replace(/:/g, '_')}]_${port}` : `${address}_${port}`;
}

export class Listener {
  config: ListenerConfig;
  private readonly store: StatsStore;
  private server: net.Server | null = null;
  stats: ListenerStats | undefined;
  private readonly http = new Set<HttpConnection>();
  private readonly tcp = new Set<TcpProxySession>();
  private draining = false;

  constructor(config: ListenerConfig, store: StatsStore) {
    this.config = config;
    this.store = store;
  }

  /** Binds; resolves with the bound port (useful with port 0). */
  start(): Promise<number> {
    const c = this.config;
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
    const a = this.server?.address();
    return a && typeof a === 'object' ? a.port : 0;
  }

  /** New connections use `config`'s chains; established ones keep theirs. */
  update(config: ListenerConfig): void {
    if (config.address !== this.config.address || (config.port !== this.config.port && config.port !== 0)) {
      throw new Error(`listener ${config.name}: a new address needs a new listener`);
    }
    this.config = config;
  }

  private onConnection = (socket: net.Socket): void => {
    const stats = this.stats!;
    stats.downstreamCxTotal.value++;
    stats.downstreamCxActive.value++;
    const started = Date.now();
    const info: ConnectionInfo = {
      remoteAddress: socket.remoteAddress ?? '',
      remotePort: socket.remotePort ?? 0,
      localAddress: socket.localAddress ?? '',
      localPort: socket.localPort ?? 0,
      secure: false,
    };
    socket.once('close', () => {
      stats.downstreamCxActive.value--;
      stats.downstreamCxDestroy.value++;
      stats.downstreamCxLengthMs.record(Date.now() - started);
    });
    if (this.draining) {
      socket.destroy();
      return;
    }
    const chain = selectFilterChain(this.config.filterChains, info) ?? this.config.defaultFilterChain;
    if (chain === undefined) {
      stats.noFilterChainMatch.value++;
      socket.destroy();
      return;
    }
    const f = chain.filter;
    if (f.kind === 'http') {
      const conn = new HttpConnection(socket, f.config, info, (c) => this.http.delete(c));
      conn.writer.limit = this.config.bufferLimit;
      this.http.add(conn);
    } else {
      const observers = openObservers(chain.networkFilters, info);
      const s = new TcpProxySession(socket, f.config, info, (t) => this.tcp.delete(t), observers);
      this.tcp.add(s);
    }
  };

  /** Stops accepting; HTTP connections close after their current request. */
  drain(): Promise<void> {
    this.draining = true;
    for (const c of this.http) c.drain();
    return new Promise((resolve) => {
      if (!this.server) {
        resolve();
        return;
      }
      this.server.close(() => resolve());
    });
  }

  /** Closes the socket and every connection now. */
  close(): Promise<void> {
    this.draining = true;
    for (const c of this.http) c.destroy();
    for (const t of this.tcp) t.close();
    return new Promise((resolve) => {
      if (!this.server) {
        resolve();
        return;
      }
      this.server.close(() => resolve());
      this.server = null;
    });
  }

  get connectionCount(): number {
    return this.http.size + this.tcp.size;
  }
}
