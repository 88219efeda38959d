/**
 * HTTP/1.1 connection pool for one upstream host: keep-alive connections reused LIFO (the
 * warmest first), at most one request per connection at a time, a bounded queue of waiting
 * requests, connect timeout, idle timeout, max requests and max duration per connection, and
 * the cluster's circuit breakers (connections, pending requests, requests).
 *
 * Callbacks are methods on the caller's object (no closures per request). A request gets
 * `onPoolReady(conn)` with a connection it owns until its response is complete, or
 * `onPoolFailure(reason)`.
 */
import type { Socket } from 'node:net';
import { logger } from '../../../lib/log.ts';
import {
  H1Parser,
  type H1ParserHandler,
  HEAD_CONTINUE,
  HEAD_NO_BODY,
  KIND_RESPONSE,
  UNDERSCORES_ALLOW,
} from '../../network/http/codec-h1.ts';
import { enterIo, exitIo, SlabReader, WriteBuffer } from '../../network/write-buffer.ts';
import type { ClusterStats, ResourceManager } from '../cluster-stats.ts';
import type { Host } from '../host.ts';
import type { TransportSocketFactory } from '../transport-socket.ts';

const log = logger('proxy:pool');

/** Opens the connection; a transport that supports it reads straight into our slabs. */
function openSocket(
  factory: TransportSocketFactory,
  host: Host,
  onReady: () => void,
  onError: (err: Error) => void,
  onData: (chunk: Buffer) => void,
): { socket: Socket; direct: boolean } {
  if (!factory.directReads) return { socket: factory.connect(host, onReady, onError), direct: false };
  const reader = new SlabReader(onData);
  const socket = factory.connect(host, onReady, onError, false, undefined, {
    buffer: reader.next,
    callback: reader.onRead,
  });
  return { socket, direct: true };
}

export const POOL_CONNECT_FAILURE = 1;
export const POOL_CONNECT_TIMEOUT = 2;
export const POOL_OVERFLOW = 3;
export const POOL_DRAINED = 4;
/** auto_config: ALPN chose HTTP/1.1 for this host; the request should go to its HTTP/1.1 pool. */
export const POOL_USE_HTTP1 = 5;

export const RESET_CONNECTION_TERMINATION = 1;
export const RESET_CONNECTION_FAILURE = 2;
export const RESET_PROTOCOL_ERROR = 3;
export const RESET_LOCAL = 4;
export const RESET_OVERFLOW = 5;
/** HTTP/2: the peer refused the stream (REFUSED_STREAM, or beyond its GOAWAY). */
export const RESET_REFUSED_STREAM = 6;
/** HTTP/2: the peer reset the stream. */
export const RESET_REMOTE = 7;

/** Settings a pool reads from its cluster (a narrow view). */
export interface PoolSettings {
  readonly clusterName: string;
  readonly connectTimeoutMs: number;
  /** 0 = never. */
  readonly idleTimeoutMs: number;
  /** 0 = unlimited. */
  readonly maxRequestsPerConnection: number;
  /** 0 = unlimited. */
  readonly maxConnectionDurationMs: number;
  readonly maxResponseHeadersBytes: number;
  readonly maxResponseHeadersCount: number;
  readonly bufferLimit: number;
  /** TCP keepalive idle time in ms, or 0 for the OS default (off). */
  readonly tcpKeepaliveMs: number;
  readonly transport: TransportSocketFactory;
  readonly stats: ClusterStats;
  readonly rm: ResourceManager;
}

/** The request side of a pooled exchange (implemented by the router's upstream request). */
export interface PoolRequest {
  onPoolReady(conn: H1Connection): void;
  onPoolFailure(reason: number, detail: string): void;
  /** A complete response head (interim 1xx heads too). Return HEAD_CONTINUE or HEAD_NO_BODY. */
  onResponseHead(parser: H1Parser): number;
  onResponseBody(buf: Buffer, start: number, end: number): void;
  onResponseTrailers(parser: H1Parser): void;
  onResponseComplete(parser: H1Parser): void;
  onUpstreamReset(reason: number, detail: string): void;
}

const C_CONNECTING = 0;
const C_IDLE = 1;
const C_BUSY = 2;
const C_UPGRADED = 3;
const C_CLOSED = 4;

export class H1Connection implements H1ParserHandler {
  readonly pool: H1Pool;
  readonly host: Host;
  readonly socket: Socket;
  readonly writer: WriteBuffer;
  readonly parser: H1Parser;
  state = C_CONNECTING;
  request: PoolRequest | null = null;
  requestsSent = 0;
  /** The current request was fully written. */
  requestComplete = false;
  /** The current response was fully read. */
  responseComplete = false;
  /** Upstream said it will close (Connection: close / HTTP/1.0 without keep-alive). */
  private noReuse = false;
  private connectTimer: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  idleSince = 0;
  readonly createdAt: number;
  private closedLocally = false;
  private readonly stats: ClusterStats;
  bytesIn = 0;

  constructor(pool: H1Pool) {
    this.pool = pool;
    this.host = pool.host;
    const s = pool.settings;
    this.stats = s.stats;
    this.createdAt = Date.now();
    this.parser = new H1Parser(KIND_RESPONSE, this, {
      maxHeaderBytes: s.maxResponseHeadersBytes,
      maxHeaderCount: s.maxResponseHeadersCount,
      underscores: UNDERSCORES_ALLOW,
    });
    const opened = openSocket(
      this.host.transport ?? s.transport,
      this.host,
      this.onConnected,
      this.onConnectError,
      this.onData,
    );
    this.socket = opened.socket;
    this.writer = new WriteBuffer(this.socket, s.bufferLimit);
    if (!opened.direct) this.socket.on('data', this.onData);
    this.socket.on('end', this.onEnd);
    this.socket.on('close', this.onClose);
    this.socket.on('error', this.onError);
    this.stats.upstreamCxTotal.value++;
    this.stats.upstreamCxHttp1Total.value++;
    this.stats.upstreamCxActive.value++;
    this.host.connectionsActive++;
    pool.settings.rm.connections++;
    if (s.connectTimeoutMs > 0) this.connectTimer = setTimeout(this.onConnectTimeout, s.connectTimeoutMs);
  }

  get isIdle(): boolean {
    return this.state === C_IDLE;
  }

  private onConnected = (): void => {
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
    if (this.state !== C_CONNECTING) return;
    if (this.pool.settings.tcpKeepaliveMs > 0)
      this.socket.setKeepAlive(true, this.pool.settings.tcpKeepaliveMs);
    this.state = C_IDLE;
    this.pool.onConnectionReady(this);
  };

  private onConnectError = (err: Error): void => {
    if (this.state !== C_CONNECTING) return;
    this.failConnect(POOL_CONNECT_FAILURE, err.message);
  };

  private onConnectTimeout = (): void => {
    this.connectTimer = undefined;
    if (this.state !== C_CONNECTING) return;
    this.stats.upstreamCxConnectTimeout.value++;
    this.failConnect(POOL_CONNECT_TIMEOUT, 'connection timeout');
  };

  private failConnect(reason: number, detail: string): void {
    this.stats.upstreamCxConnectFail.value++;
    this.closedLocally = true;
    this.state = C_CLOSED;
    this.socket.destroy();
    this.pool.onConnectFailure(this, reason, detail);
  }

  /** Hands the connection to a request (the pool calls this). */
  attach(req: PoolRequest, method: string, upgrade: boolean): void {
    this.state = C_BUSY;
    this.request = req;
    this.requestsSent++;
    this.requestComplete = false;
    this.responseComplete = false;
    this.parser.next();
    this.parser.expectNoBody = method === 'HEAD';
    this.parser.requestedUpgrade = upgrade;
  }

  /** Method and upgrade flag must be known before the response arrives. */
  setRequestMeta(method: string, upgrade: boolean): void {
    this.parser.expectNoBody = method === 'HEAD';
    this.parser.requestedUpgrade = upgrade;
  }

  /** The router finished writing the request. */
  markRequestComplete(): void {
    this.requestComplete = true;
  }

  private onData = (chunk: Buffer): void => {
    this.bytesIn += chunk.length;
    this.stats.upstreamCxRxBytesTotal.value += chunk.length;
    if (this.state === C_UPGRADED) {
      this.request?.onResponseBody(chunk, 0, chunk.length);
      return;
    }
    if (this.state !== C_BUSY) {
      // Bytes while idle: the server is speaking out of turn. The connection is unusable.
      this.stats.upstreamCxProtocolError.value++;
      this.close();
      return;
    }
    enterIo();
    try {
      this.parser.execute(chunk);
      if (this.parser.isError) {
        this.stats.upstreamCxProtocolError.value++;
        const req = this.request;
        this.request = null;
        this.close();
        req?.onUpstreamReset(RESET_PROTOCOL_ERROR, this.parser.errorDetails);
      }
    } finally {
      exitIo();
    }
  };

  // H1ParserHandler (responses).
  onMessageHead(p: H1Parser): number {
    const req = this.request;
    if (req === null) return HEAD_NO_BODY;
    if (p.statusCode >= 200) {
      if (p.connClose || (p.versionMinor === 0 && !p.connKeepAlive)) this.noReuse = true;
    }
    return req.onResponseHead(p) === HEAD_NO_BODY ? HEAD_NO_BODY : HEAD_CONTINUE;
  }
  onBody(buf: Buffer, start: number, end: number): void {
    this.request?.onResponseBody(buf, start, end);
  }
  onTrailers(p: H1Parser): void {
    this.request?.onResponseTrailers(p);
  }
  onMessageComplete(p: H1Parser): boolean {
    if (p.statusCode < 200) return false;
    this.responseComplete = true;
    const req = this.request;
    if (req !== null) req.onResponseComplete(p);
    // Nothing may follow a response on HTTP/1.1 until the next request is written: pause.
    if (this.state !== C_BUSY) return true;
    if (this.requestComplete) this.finishExchange();
    else {
      // Answered before the request was fully sent: the connection's framing is unknowable.
      this.request = null;
      this.close();
    }
    return true;
  }

  /** The response (and request) ended: back to the pool or closed. */
  private finishExchange(): void {
    if (this.state !== C_BUSY) return;
    this.request = null;
    const s = this.pool.settings;
    const reuse =
      !this.noReuse &&
      this.requestComplete &&
      !this.pool.draining &&
      !this.host.removed &&
      (s.maxRequestsPerConnection === 0 || this.requestsSent < s.maxRequestsPerConnection) &&
      (s.maxConnectionDurationMs === 0 || Date.now() - this.createdAt < s.maxConnectionDurationMs);
    if (!reuse) {
      if (s.maxRequestsPerConnection !== 0 && this.requestsSent >= s.maxRequestsPerConnection) {
        this.stats.upstreamCxMaxRequests.value++;
      }
      this.close();
      return;
    }
    this.state = C_IDLE;
    this.pool.onConnectionIdle(this);
  }

  /** The request gives up the connection before its exchange finished (reset, retry). */
  abandon(): void {
    this.request = null;
    if (this.state === C_BUSY || this.state === C_UPGRADED) this.close();
  }

  /** Takes the socket out of the pool for an upgraded (raw) exchange. */
  upgrade(): void {
    this.state = C_UPGRADED;
  }

  startIdleTimer(): void {
    this.idleSince = Date.now();
    const t = this.pool.settings.idleTimeoutMs;
    if (t > 0 && this.idleTimer === undefined) this.idleTimer = setTimeout(this.onIdleTimer, t);
  }

  private onIdleTimer = (): void => {
    this.idleTimer = undefined;
    if (this.state === C_CLOSED) return;
    const t = this.pool.settings.idleTimeoutMs;
    if (this.state === C_IDLE) {
      const left = this.idleSince + t - Date.now();
      if (left <= 0) {
        this.stats.upstreamCxIdleTimeout.value++;
        this.close();
        return;
      }
      this.idleTimer = setTimeout(this.onIdleTimer, left);
      return;
    }
    // Busy: check again one full period after it next goes idle (lazy re-arm).
    this.idleTimer = setTimeout(this.onIdleTimer, t);
  };

  private onEnd = (): void => {
    // Upstream half-closed: a close-delimited body is complete; anything else is a reset.
    if (this.state === C_BUSY && this.parser.readsUntilClose) this.parser.finish();
    if (this.state === C_UPGRADED) {
      this.request?.onResponseComplete(this.parser);
      return;
    }
    this.close();
  };

  private onError = (err: Error): void => {
    log.debug('upstream connection error', {
      cluster: this.pool.settings.clusterName,
      host: this.host.key,
      error: err.message,
    });
  };

  private onClose = (): void => {
    const wasState = this.state;
    this.state = C_CLOSED;
    if (this.connectTimer) clearTimeout(this.connectTimer);
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.connectTimer = undefined;
    this.idleTimer = undefined;
    if (wasState === C_CONNECTING) {
      // Closed before connecting without an error event: treat as a connect failure.
      this.stats.upstreamCxConnectFail.value++;
      this.cleanup();
      this.pool.onConnectFailure(this, POOL_CONNECT_FAILURE, 'connection closed');
      return;
    }
    this.cleanup();
    const req = this.request;
    this.request = null;
    if (req !== null) {
      this.stats.upstreamCxDestroyWithActiveRq.value++;
      if (this.closedLocally) this.stats.upstreamCxDestroyLocalWithActiveRq.value++;
      else this.stats.upstreamCxDestroyRemoteWithActiveRq.value++;
      if (wasState === C_UPGRADED) req.onResponseComplete(this.parser);
      else req.onUpstreamReset(RESET_CONNECTION_TERMINATION, 'connection termination');
    }
    this.pool.onConnectionClosed(this, wasState);
  };

  private cleaned = false;
  private cleanup(): void {
    if (this.cleaned) return;
    this.cleaned = true;
    this.stats.upstreamCxActive.value--;
    this.stats.upstreamCxDestroy.value++;
    if (this.closedLocally) this.stats.upstreamCxDestroyLocal.value++;
    else this.stats.upstreamCxDestroyRemote.value++;
    this.stats.upstreamCxTxBytesTotal.value += this.writer.bytesWritten;
    this.host.connectionsActive--;
    this.pool.settings.rm.connections--;
    this.writer.detach();
  }

  close(): void {
    // Timers go now, not on the later 'close' event.
    if (this.connectTimer) clearTimeout(this.connectTimer);
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.connectTimer = undefined;
    this.idleTimer = undefined;
    if (this.state === C_CLOSED && this.socket.destroyed) return;
    this.closedLocally = true;
    this.writer.flush();
    this.socket.destroy();
  }

  get remoteAddress(): string {
    return this.host.key;
  }
}

/** A request waiting for a connection. */
interface Pending {
  req: PoolRequest;
  method: string;
  upgrade: boolean;
}

export class H1Pool {
  readonly host: Host;
  readonly settings: PoolSettings;
  private readonly idle: H1Connection[] = [];
  private readonly all = new Set<H1Connection>();
  private connecting = 0;
  private pending: Pending[] = [];
  private pendingHead = 0;
  draining = false;
  private onDrained: (() => void) | undefined;

  constructor(host: Host, settings: PoolSettings) {
    this.host = host;
    this.settings = settings;
  }

  get connectionCount(): number {
    return this.all.size;
  }
  get idleCount(): number {
    return this.idle.length;
  }
  get pendingCount(): number {
    return this.pending.length - this.pendingHead;
  }

  /**
   * Asks for a connection. Calls req.onPoolReady synchronously when an idle connection exists;
   * otherwise queues (bounded) and opens a connection if the circuit breaker allows.
   */
  newStream(req: PoolRequest, method: string, upgrade: boolean): void {
    const s = this.settings;
    if (this.draining) {
      req.onPoolFailure(POOL_DRAINED, 'pool draining');
      return;
    }
    if (!s.rm.canRequest()) {
      s.stats.upstreamRqPendingOverflow.value++;
      req.onPoolFailure(POOL_OVERFLOW, 'max requests');
      return;
    }
    const conn = this.idle.pop();
    if (conn !== undefined) {
      this.assign(conn, req, method, upgrade);
      return;
    }
    if (!s.rm.canQueue()) {
      s.stats.upstreamRqPendingOverflow.value++;
      req.onPoolFailure(POOL_OVERFLOW, 'max pending requests');
      return;
    }
    this.pending.push({ req, method, upgrade });
    s.rm.pending++;
    s.stats.upstreamRqPendingTotal.value++;
    s.stats.upstreamRqPendingActive.value++;
    this.maybeConnect();
  }

  /** Removes a queued request (the caller gave up: timeout, downstream reset). */
  cancel(req: PoolRequest): boolean {
    for (let i = this.pendingHead; i < this.pending.length; i++) {
      if (this.pending[i].req === req) {
        this.pending.splice(i, 1);
        this.settings.rm.pending--;
        this.settings.stats.upstreamRqPendingActive.value--;
        this.settings.stats.upstreamRqCancelled.value++;
        return true;
      }
    }
    return false;
  }

  private maybeConnect(): void {
    const s = this.settings;
    // One connection per waiting request, as far as the circuit breaker allows.
    while (this.connecting < this.pendingCount) {
      if (!s.rm.canCreateConnection()) {
        s.stats.upstreamCxOverflow.value++;
        return;
      }
      this.connecting++;
      const c = new H1Connection(this);
      this.all.add(c);
    }
  }

  private takePending(): Pending | undefined {
    if (this.pendingHead >= this.pending.length) return undefined;
    const p = this.pending[this.pendingHead++];
    if (this.pendingHead > 64 && this.pendingHead * 2 > this.pending.length) {
      this.pending = this.pending.slice(this.pendingHead);
      this.pendingHead = 0;
    }
    this.settings.rm.pending--;
    this.settings.stats.upstreamRqPendingActive.value--;
    return p;
  }

  private assign(conn: H1Connection, req: PoolRequest, method: string, upgrade: boolean): void {
    const s = this.settings;
    conn.attach(req, method, upgrade);
    s.rm.requests++;
    s.stats.upstreamRqTotal.value++;
    s.stats.upstreamRqActive.value++;
    this.host.activeRequests++;
    this.host.requestsTotal++;
    req.onPoolReady(conn);
  }

  /** The request on `conn` is over (called by the router once, whatever the outcome). */
  requestDone(): void {
    const s = this.settings;
    s.rm.requests--;
    s.stats.upstreamRqActive.value--;
    this.host.activeRequests--;
  }

  onConnectionReady(conn: H1Connection): void {
    this.connecting--;
    const p = this.takePending();
    if (p !== undefined) this.assign(conn, p.req, p.method, p.upgrade);
    else this.onConnectionIdle(conn);
  }

  onConnectionIdle(conn: H1Connection): void {
    const p = this.takePending();
    if (p !== undefined) {
      this.assign(conn, p.req, p.method, p.upgrade);
      return;
    }
    if (this.draining) {
      conn.close();
      return;
    }
    this.idle.push(conn);
    conn.startIdleTimer();
  }

  onConnectFailure(conn: H1Connection, reason: number, detail: string): void {
    this.connecting--;
    this.all.delete(conn);
    // The oldest waiting request fails with this connection (Envoy fails the streams that were
    // waiting on the failed connection).
    const p = this.takePending();
    if (p !== undefined) p.req.onPoolFailure(reason, detail);
    this.maybeConnect();
    this.checkDrained();
  }

  onConnectionClosed(conn: H1Connection, _wasState: number): void {
    this.all.delete(conn);
    const i = this.idle.indexOf(conn);
    if (i >= 0) this.idle.splice(i, 1);
    // A freed connection slot may let a waiting request connect.
    if (!this.draining) this.maybeConnect();
    this.checkDrained();
  }

  /** Stops new requests, closes idle connections, lets busy ones finish. */
  drain(onDrained?: () => void): void {
    this.draining = true;
    this.onDrained = onDrained;
    for (const c of this.idle.splice(0)) c.close();
    while (this.pendingCount > 0) this.takePending()!.req.onPoolFailure(POOL_DRAINED, 'pool draining');
    this.checkDrained();
  }

  /** Closes every connection now. */
  destroy(): void {
    this.draining = true;
    for (const c of [...this.all]) c.close();
    while (this.pendingCount > 0) this.takePending()!.req.onPoolFailure(POOL_DRAINED, 'pool destroyed');
  }

  private checkDrained(): void {
    if (this.draining && this.all.size === 0 && this.onDrained) {
      const cb = this.onDrained;
      this.onDrained = undefined;
      cb();
    }
  }
}
