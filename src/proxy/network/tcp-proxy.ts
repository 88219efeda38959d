/**
 * tcp_proxy: each downstream connection is paired with one upstream connection to a host of the
 * configured cluster (or of a weighted pick), and bytes are piped both ways with backpressure.
 * Half-close is propagated in both directions (the peer's FIN becomes our FIN on the other
 * side); the pair closes when both directions have finished, on an error, or after the idle
 * timeout. Connect attempts are retried up to max_connect_attempts.
 */
import type { Socket } from 'node:net';
import { LazyTimer } from '../common/lazy-timer.ts';
import {
  type AnyDecoder,
  CompileContext,
  type CompileResult,
  type ProtoReader,
  ProtoReader as Reader,
} from '../config/proto.ts';
import { TYPE } from '../config/type-names.ts';
import type { Counter, Gauge, StatsStore } from '../stats/store.ts';
import {
  type ConnectionInfo,
  RF_NO_CLUSTER_FOUND,
  RF_NO_HEALTHY_UPSTREAM,
  RF_UPSTREAM_CONNECTION_FAILURE,
  RF_UPSTREAM_OVERFLOW,
} from '../stream-info.ts';
import type { Cluster } from '../upstream/cluster.ts';
import type { ClusterManager } from '../upstream/cluster-manager.ts';
import type { Host } from '../upstream/host.ts';
import type { LbContext } from '../upstream/lb/load-balancer.ts';
import type { ConnectionObserver } from './network-filter.ts';
import { type Pausable, readDirectWith, SlabReader, WriteBuffer } from './write-buffer.ts';

export interface TcpProxyConfig {
  readonly statPrefix: string;
  readonly cluster: string | undefined;
  readonly weighted: readonly { readonly name: string; readonly weight: number }[];
  readonly totalWeight: number;
  /** 0 = disabled. Envoy's default is 1 hour. */
  readonly idleTimeoutMs: number;
  readonly maxConnectAttempts: number;
  readonly maxDownstreamConnectionDurationMs: number;
  readonly stats: TcpProxyStats;
  readonly clusterManager: ClusterManager;
  readonly random: () => number;
}

export class TcpProxyStats {
  readonly downstreamCxTotal: Counter;
  readonly downstreamCxNoRoute: Counter;
  readonly downstreamCxTxBytesTotal: Counter;
  readonly downstreamCxTxBytesBuffered: Gauge;
  readonly downstreamCxRxBytesTotal: Counter;
  readonly downstreamCxRxBytesBuffered: Gauge;
  readonly downstreamFlowControlPausedReadingTotal: Counter;
  readonly downstreamFlowControlResumedReadingTotal: Counter;
  readonly idleTimeout: Counter;
  readonly maxDownstreamConnectionDurationReached: Counter;
  readonly upstreamFlushTotal: Counter;
  readonly upstreamFlushActive: Gauge;
  constructor(store: StatsStore, prefix: string) {
    const s = store.scope(`tcp.${prefix}`);
    this.downstreamCxTotal = s.counter('downstream_cx_total');
    this.downstreamCxNoRoute = s.counter('downstream_cx_no_route');
    this.downstreamCxTxBytesTotal = s.counter('downstream_cx_tx_bytes_total');
    this.downstreamCxTxBytesBuffered = s.gauge('downstream_cx_tx_bytes_buffered');
    this.downstreamCxRxBytesTotal = s.counter('downstream_cx_rx_bytes_total');
    this.downstreamCxRxBytesBuffered = s.gauge('downstream_cx_rx_bytes_buffered');
    this.downstreamFlowControlPausedReadingTotal = s.counter('downstream_flow_control_paused_reading_total');
    this.downstreamFlowControlResumedReadingTotal = s.counter(
      'downstream_flow_control_resumed_reading_total',
    );
    this.idleTimeout = s.counter('idle_timeout');
    this.maxDownstreamConnectionDurationReached = s.counter('max_downstream_connection_duration');
    this.upstreamFlushTotal = s.counter('upstream_flush_total');
    this.upstreamFlushActive = s.gauge('upstream_flush_active');
  }
}

export interface TcpProxyEnv {
  readonly clusterManager: ClusterManager;
  readonly stats: StatsStore;
  readonly decodeAny?: AnyDecoder;
  readonly random?: () => number;
}

export function compileTcpProxy(proto: unknown, env: TcpProxyEnv): CompileResult<TcpProxyConfig> {
  const ctx = new CompileContext({ decodeAny: env.decodeAny });
  const cfg = compileTcpProxyInto(new Reader(ctx, proto, '', TYPE.TCP_PROXY), env);
  return ctx.result(cfg);
}

/** extensions.filters.network.tcp_proxy.v3.TcpProxy → TcpProxyConfig. */
export function compileTcpProxyInto(r: ProtoReader, env: TcpProxyEnv): TcpProxyConfig {
  const ctx = r.ctx;
  const statPrefix = r.string('stat_prefix');
  if (statPrefix === '') ctx.error(r.at('stat_prefix'), 'stat_prefix is required');
  const which = r.oneof(['cluster', 'weighted_clusters']);
  r.raw('cluster_specifier');
  let cluster: string | undefined;
  const weighted: { name: string; weight: number }[] = [];
  if (which === 'cluster') {
    cluster = r.string('cluster');
    if (cluster === '') ctx.error(r.at('cluster'), 'cluster name is required');
  } else if (which === 'weighted_clusters') {
    const w = r.message('weighted_clusters')!;
    for (const c of w.messages('clusters')) {
      const name = c.string('name');
      const weight = c.number('weight');
      c.unsupported('metadata_match', 'subset load balancing is not supported');
      c.done();
      if (name === '') ctx.error(c.at('name'), 'cluster name is required');
      if (weight < 1) ctx.error(c.at('weight'), 'weight must be at least 1');
      weighted.push({ name, weight });
    }
    w.done();
    if (weighted.length === 0)
      ctx.error(r.at('weighted_clusters.clusters'), 'at least one cluster is required');
  } else {
    ctx.error(r.path, 'one of cluster or weighted_clusters is required');
  }
  const idle = r.duration('idle_timeout');
  const idleTimeoutMs = idle ?? 3_600_000;
  const maxConnectAttempts = r.wrappedNumber('max_connect_attempts', 1);
  if (maxConnectAttempts < 1) ctx.error(r.at('max_connect_attempts'), 'must be at least 1');
  const maxDownstreamConnectionDurationMs = r.duration('max_downstream_connection_duration') ?? 0;
  r.unsupported('on_demand', 'on-demand cluster discovery is not supported');
  r.unsupported('metadata_match', 'subset load balancing is not supported');
  r.unsupported('downstream_idle_timeout', 'use idle_timeout');
  r.unsupported('upstream_idle_timeout', 'use idle_timeout');
  r.unsupported('access_log', 'access logs are not supported yet');
  r.unsupported('hash_policy', 'hash policies are not supported yet');
  r.unsupported('tunneling_config', 'tunneling over HTTP is not supported');
  r.unsupported('access_log_flush_interval', 'access logs are not supported yet');
  r.unsupported('flush_access_log_on_connected', 'access logs are not supported yet');
  r.unsupported('access_log_options', 'access logs are not supported yet');
  r.unsupported('backoff_options', 'connect back-off options are not supported');
  r.done();
  return {
    statPrefix,
    cluster,
    weighted,
    totalWeight: weighted.reduce((s, w) => s + w.weight, 0),
    idleTimeoutMs,
    maxConnectAttempts,
    maxDownstreamConnectionDurationMs,
    stats: new TcpProxyStats(env.stats, statPrefix),
    clusterManager: env.clusterManager,
    random: env.random ?? Math.random,
  };
}

/**
 * One proxied connection pair.
 *
 * I/O path: plain TCP sockets are read straight into per-direction slabs (downstream through
 * readDirect, upstream through the transport's `onread`), and each chunk is written at once to
 * the peer by reference (WriteBuffer.send: a direct handle write when nothing is queued). When
 * the kernel took the write synchronously the slab bytes are free again and the next read reuses
 * them; when it did not, the pending write keeps them and the slab moves on. TLS sockets (and a
 * downstream whose listener filters left bytes buffered, until they are consumed) use 'data'.
 *
 * Flow control: a writer over its buffer limit pauses the opposite socket's reading until its
 * queued bytes fall back under the limit (Envoy's watermarks, one per direction).
 */
export class TcpProxySession implements LbContext {
  readonly config: TcpProxyConfig;
  readonly downstream: Socket;
  readonly info: ConnectionInfo;
  upstream: Socket | null = null;
  /** Writes to the downstream; its limit is the listener's per-connection buffer limit. */
  readonly downstreamWriter: WriteBuffer;
  private upstreamWriter: WriteBuffer | null = null;
  private downstreamReader: SlabReader | null = null;
  private upstreamReader: SlabReader | null = null;
  private cluster: Cluster | undefined;
  private host: Host | undefined;
  private attempts = 0;
  private connected = false;
  private closed = false;
  private downstreamEnded = false;
  private upstreamEnded = false;
  /** Downstream bytes received before the upstream connected (held by reference). */
  private early: Buffer[] = [];
  private connectTimer: NodeJS.Timeout | undefined;
  private readonly timer: LazyTimer;
  private lastActivity: number;
  private readonly startedAt: number;
  bytesFromDownstream = 0;
  bytesFromUpstream = 0;
  private readonly onClosed: ((s: TcpProxySession) => void) | undefined;
  private tried: Host[] = [];
  /** RF_* bits explaining why the connection failed (reported to observers). */
  responseFlags = 0;
  private readonly observers: readonly ConnectionObserver[] | undefined;
  /** Downstream reading, paused by the upstream writer's backpressure. */
  private readonly downstreamSource: Pausable;
  /** Upstream reading, paused by the downstream writer's backpressure. */
  private readonly upstreamSource: Pausable;

  constructor(
    downstream: Socket,
    config: TcpProxyConfig,
    info: ConnectionInfo,
    onClosed?: (s: TcpProxySession) => void,
    observers?: readonly ConnectionObserver[],
  ) {
    this.downstream = downstream;
    this.observers = observers;
    this.config = config;
    this.info = info;
    this.onClosed = onClosed;
    const now = Date.now();
    this.startedAt = now;
    this.lastActivity = now;
    this.timer = new LazyTimer(this.onTimer);
    this.downstreamWriter = new WriteBuffer(downstream);
    this.downstreamSource = {
      pauseReading: () => {
        config.stats.downstreamFlowControlPausedReadingTotal.value++;
        downstream.pause();
      },
      resumeReading: () => {
        config.stats.downstreamFlowControlResumedReadingTotal.value++;
        if (!this.closed && this.connected) downstream.resume();
      },
    };
    this.upstreamSource = {
      pauseReading: () => this.upstream?.pause(),
      resumeReading: () => {
        if (!this.closed) this.upstream?.resume();
      },
    };
    config.stats.downstreamCxTotal.value++;
    downstream.setNoDelay(true);
    downstream.on('end', this.onDownstreamEnd);
    downstream.on('close', this.onDownstreamClose);
    downstream.on('error', noop);
    // Bytes a listener filter peeked and put back come as 'data'; direct reads start once the
    // socket's own buffer is empty.
    this.downstreamReader = readDirectWith(downstream, this.makeDownstreamReader);
    if (this.downstreamReader === null) downstream.on('data', this.onDownstreamData);
    if (config.idleTimeoutMs > 0) this.timer.wakeAt(now + config.idleTimeoutMs);
    if (config.maxDownstreamConnectionDurationMs > 0)
      this.timer.wakeAt(now + config.maxDownstreamConnectionDurationMs);
    this.pickCluster();
    if (!this.closed) this.connect();
  }

  // LbContext.
  shouldSelectAnotherHost(host: Host): boolean {
    return this.tried.includes(host);
  }
  get hostSelectionRetryCount(): number {
    return this.attempts > 0 ? 1 : 0;
  }
  downstreamOriginalDst(): { address: string; port: number } {
    return this.info.originalDst ?? { address: this.info.localAddress, port: this.info.localPort };
  }

  private makeDownstreamReader = (): SlabReader => new SlabReader(this.onDownstreamDirect);

  private pickCluster(): void {
    const c = this.config;
    let name = c.cluster;
    if (name === undefined) {
      let v = Math.floor(c.random() * c.totalWeight);
      for (const w of c.weighted) {
        if (v < w.weight) {
          name = w.name;
          break;
        }
        v -= w.weight;
      }
    }
    this.cluster = name === undefined ? undefined : c.clusterManager.get(name);
    if (this.cluster === undefined) {
      c.stats.downstreamCxNoRoute.value++;
      this.responseFlags |= RF_NO_CLUSTER_FOUND;
      this.close();
    }
  }

  private connect(): void {
    const cluster = this.cluster!;
    const host = cluster.chooseHost(this);
    if (host === null) {
      cluster.stats.upstreamCxNoneHealthy.value++;
      this.responseFlags |= RF_NO_HEALTHY_UPSTREAM;
      this.close();
      return;
    }
    if (!cluster.rm.canCreateConnection()) {
      cluster.stats.upstreamCxOverflow.value++;
      this.responseFlags |= RF_UPSTREAM_OVERFLOW;
      this.close();
      return;
    }
    this.attempts++;
    this.host = host;
    this.tried.push(host);
    const st = cluster.stats;
    st.upstreamCxTotal.value++;
    st.upstreamCxActive.value++;
    cluster.rm.connections++;
    host.connectionsActive++;
    const transport = host.transport ?? cluster.config.transport;
    let sock: Socket;
    if (transport.directReads) {
      const reader = new SlabReader(this.onUpstreamDirect);
      this.upstreamReader = reader;
      sock = transport.connect(host, this.onUpstreamConnected, this.onUpstreamConnectError, true, undefined, {
        buffer: reader.next,
        callback: reader.onRead,
      });
    } else {
      this.upstreamReader = null;
      sock = transport.connect(host, this.onUpstreamConnected, this.onUpstreamConnectError, true);
      sock.on('data', this.onUpstreamData);
    }
    this.upstream = sock;
    this.upstreamWriter = new WriteBuffer(sock, cluster.config.bufferLimit);
    sock.on('end', this.onUpstreamEnd);
    sock.on('close', this.onUpstreamClose);
    sock.on('error', noop);
    const t = cluster.config.connectTimeoutMs;
    if (t > 0) this.connectTimer = setTimeout(this.onConnectTimeout, t);
  }

  private onUpstreamConnected = (): void => {
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
    if (this.closed) return;
    this.connected = true;
    const up = this.upstream!;
    const kept = this.cluster!.config.tcpKeepaliveMs;
    if (kept > 0) up.setKeepAlive(true, kept);
    const early = this.early;
    this.early = [];
    for (const b of early) this.writeUp(b);
    if (this.downstreamEnded) this.upstreamWriter!.end();
    else if (!this.upstreamWriter!.blocked) this.downstream.resume();
    if (this.observers !== undefined)
      for (const o of this.observers) o.onUpstreamConnected?.(this.cluster!.name, this.host!);
  };

  private onUpstreamConnectError = (): void => {
    this.connectFailed(false);
  };

  private onConnectTimeout = (): void => {
    this.connectTimer = undefined;
    if (this.connected || this.closed) return;
    this.cluster!.stats.upstreamCxConnectTimeout.value++;
    this.connectFailed(true);
  };

  private connectFailed(_timeout: boolean): void {
    if (this.connected || this.closed) return;
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
    const cluster = this.cluster!;
    cluster.stats.upstreamCxConnectFail.value++;
    const up = this.upstream;
    this.upstream = null;
    this.upstreamWriter?.detach();
    this.upstreamWriter = null;
    if (up) {
      up.removeAllListeners('close');
      up.on('close', noop);
      up.destroy();
      this.releaseUpstream();
    }
    if (this.attempts < this.config.maxConnectAttempts) this.connect();
    else {
      // Envoy's UF: every attempt failed (refused, reset or connect timeout).
      this.responseFlags |= RF_UPSTREAM_CONNECTION_FAILURE;
      this.close();
    }
  }

  private releaseUpstream(): void {
    const cluster = this.cluster!;
    cluster.stats.upstreamCxActive.value--;
    cluster.stats.upstreamCxDestroy.value++;
    cluster.rm.connections--;
    if (this.host) this.host.connectionsActive--;
  }

  /** Downstream bytes by 'data' (TLS, or bytes buffered before direct reads could start). */
  private onDownstreamData = (chunk: Buffer): void => {
    this.fromDownstream(chunk);
    if (this.downstreamReader === null && !this.closed) {
      this.downstreamReader = readDirectWith(this.downstream, this.makeDownstreamReader);
      if (this.downstreamReader !== null) this.downstream.removeListener('data', this.onDownstreamData);
    }
  };

  private onDownstreamDirect = (chunk: Buffer): void => {
    // Written synchronously and not kept: the next read may reuse these slab bytes.
    if (!this.fromDownstream(chunk)) this.downstreamReader?.releaseLast();
  };

  /** Returns whether the chunk is still referenced (held early, or by a pending write). */
  private fromDownstream(chunk: Buffer): boolean {
    this.lastActivity = Date.now();
    this.bytesFromDownstream += chunk.length;
    this.config.stats.downstreamCxRxBytesTotal.value += chunk.length;
    if (!this.connected) {
      if (this.closed) return false;
      this.early.push(chunk);
      // Hold the client until there is somewhere to send its bytes.
      if (this.early.length === 1) this.downstream.pause();
      return true;
    }
    return this.writeUp(chunk);
  }

  private writeUp(chunk: Buffer): boolean {
    const w = this.upstreamWriter;
    if (w === null || this.upstream === null) return false;
    this.cluster!.stats.upstreamCxTxBytesTotal.value += chunk.length;
    const pending = w.send(chunk);
    if (w.blocked) w.throttle(this.downstreamSource);
    return pending;
  }

  private onUpstreamData = (chunk: Buffer): void => {
    this.fromUpstream(chunk);
  };

  private onUpstreamDirect = (chunk: Buffer): void => {
    if (!this.fromUpstream(chunk)) this.upstreamReader?.releaseLast();
  };

  private fromUpstream(chunk: Buffer): boolean {
    this.lastActivity = Date.now();
    this.bytesFromUpstream += chunk.length;
    this.cluster!.stats.upstreamCxRxBytesTotal.value += chunk.length;
    this.config.stats.downstreamCxTxBytesTotal.value += chunk.length;
    if (this.closed) return false;
    const w = this.downstreamWriter;
    const pending = w.send(chunk);
    if (w.blocked) w.throttle(this.upstreamSource);
    return pending;
  }

  private onDownstreamEnd = (): void => {
    this.downstreamEnded = true;
    if (this.connected) this.upstreamWriter?.end();
    this.maybeClose();
  };

  private onUpstreamEnd = (): void => {
    this.upstreamEnded = true;
    this.downstreamWriter.end();
    this.maybeClose();
  };

  /**
   * Both peers sent FIN and both got ours (queued after their last bytes). Each socket closes
   * by itself once its writes are flushed, so the pair waits for that instead of destroying a
   * socket whose last bytes are still on their way to a slow reader.
   */
  private maybeClose(): void {
    if (!this.downstreamEnded || !this.upstreamEnded) return;
    if (this.downstream.destroyed && (this.upstream === null || this.upstream.destroyed)) this.close();
  }

  private onDownstreamClose = (): void => {
    if (this.downstreamEnded && this.upstreamEnded && this.upstream !== null && !this.upstream.destroyed)
      return; // the upstream's own close finishes the pair
    this.close();
  };

  private onUpstreamClose = (): void => {
    if (!this.connected) {
      this.connectFailed(false);
      return;
    }
    if (this.downstreamEnded && this.upstreamEnded && !this.downstream.destroyed) return;
    this.close();
  };

  private onTimer = (now: number): void => {
    if (this.closed) return;
    const c = this.config;
    if (c.maxDownstreamConnectionDurationMs > 0) {
      const d = this.startedAt + c.maxDownstreamConnectionDurationMs;
      if (now >= d) {
        c.stats.maxDownstreamConnectionDurationReached.value++;
        this.close();
        return;
      }
      this.timer.wakeAt(d);
    }
    if (c.idleTimeoutMs > 0) {
      const d = this.lastActivity + c.idleTimeoutMs;
      if (now >= d) {
        c.stats.idleTimeout.value++;
        this.close();
        return;
      }
      this.timer.wakeAt(d);
    }
  };

  /** Closes both sides now (both directions finished, an error, a timeout or a drain). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.timer.close();
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.early = [];
    const up = this.upstream;
    if (up !== null) {
      this.upstream = null;
      this.releaseUpstream();
      up.destroy();
    }
    this.upstreamWriter?.detach();
    this.downstreamWriter.detach();
    this.downstream.destroy();
    this.onClosed?.(this);
    if (this.observers !== undefined) {
      const summary = {
        bytesReceived: this.bytesFromDownstream,
        bytesSent: this.bytesFromUpstream,
        upstreamCluster: this.cluster?.name,
        upstreamHost: this.host,
        responseFlags: this.responseFlags,
        durationMs: Date.now() - this.startedAt,
      };
      for (const o of this.observers) o.onClose(summary);
    }
  }
}

function noop(): void {}
