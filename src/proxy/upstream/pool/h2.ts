/**
 * HTTP/2 connection pool for one upstream host: requests are streams multiplexed on as few
 * node:http2 client sessions as the limits allow — a new connection only when every open one
 * is at its concurrent-stream limit (ours, or the peer's SETTINGS_MAX_CONCURRENT_STREAMS), has
 * used up max_requests_per_connection or max_connection_duration, or received GOAWAY (such a
 * connection drains: its streams finish, new ones go elsewhere). Connect timeout, idle
 * timeout, PING keepalive and the cluster's circuit breakers (connections, pending requests,
 * requests) apply as in the HTTP/1.1 pool; the callback style is the same (methods on the
 * caller's object).
 */
import http2 from 'node:http2';
import type { Socket } from 'node:net';
import { logger } from '../../../lib/log.ts';
import { fromRawH2Headers, H2Keepalive } from '../../network/http/codec-h2.ts';
import { StreamDrainWaiters } from '../../network/http/flow-control.ts';
import type { HeaderMap } from '../../network/http/headers.ts';
import type { Http2Settings } from '../../network/http/protocol-options.ts';
import type { Pausable } from '../../network/write-buffer.ts';
import type { Host } from '../host.ts';
import {
  POOL_CONNECT_FAILURE,
  POOL_CONNECT_TIMEOUT,
  POOL_DRAINED,
  POOL_OVERFLOW,
  POOL_USE_HTTP1,
  type PoolSettings,
  RESET_CONNECTION_TERMINATION,
  RESET_LOCAL,
  RESET_PROTOCOL_ERROR,
  RESET_REFUSED_STREAM,
  RESET_REMOTE,
} from './h1.ts';

const log = logger('proxy:pool');

const {
  NGHTTP2_NO_ERROR,
  NGHTTP2_CANCEL,
  NGHTTP2_REFUSED_STREAM,
  NGHTTP2_PROTOCOL_ERROR,
  NGHTTP2_FLAG_END_STREAM,
} = http2.constants;

export interface H2PoolSettings extends PoolSettings {
  readonly http2: Http2Settings;
  /** auto_config: offer h2 and http/1.1 by ALPN; a host that picks http/1.1 is handed back. */
  readonly alpnAuto: boolean;
}

/** The request side of a pooled HTTP/2 exchange (the router's upstream request). */
export interface H2PoolRequest {
  onPoolReady(stream: H2UpstreamStream): void;
  onPoolFailure(reason: number, detail: string): void;
  /** Response HEADERS (interim 1xx too); `endStream` when no body or trailers follow. */
  onH2Headers(status: number, headers: HeaderMap, endStream: boolean): void;
  onH2Data(buf: Buffer): void;
  onH2Trailers(trailers: HeaderMap): void;
  /** The response ended (after its trailers, if any). */
  onH2End(): void;
  onUpstreamReset(reason: number, detail: string): void;
}

const C_CONNECTING = 0;
const C_READY = 1;
const C_DRAINING = 2;
const C_CLOSED = 3;

/** One upstream HTTP/2 connection. */
export class H2Client {
  readonly pool: H2Pool;
  readonly host: Host;
  readonly session: http2.ClientHttp2Session;
  socket: Socket | undefined;
  state = C_CONNECTING;
  /** Streams assigned (including those whose HEADERS are not sent yet). */
  active = 0;
  streamsTotal = 0;
  /** The peer's SETTINGS_MAX_CONCURRENT_STREAMS (unbounded until its SETTINGS arrive). */
  remoteMax = Number.POSITIVE_INFINITY;
  readonly createdAt: number;
  private connectTimer: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private keepalive: H2Keepalive | undefined;
  private closedLocally = false;
  private cleaned = false;

  constructor(pool: H2Pool) {
    this.pool = pool;
    this.host = pool.host;
    const s = pool.settings;
    this.createdAt = Date.now();
    const h = s.http2;
    this.session = http2.connect(`http://${this.host.key}`, {
      createConnection: () => {
        const sock = (this.host.transport ?? s.transport).connect(
          this.host,
          this.onConnected,
          this.onConnectError,
          false,
          s.alpnAuto ? ['h2', 'http/1.1'] : ['h2'],
        );
        this.socket = sock;
        return sock;
      },
      settings: {
        headerTableSize: h.hpackTableSize,
        initialWindowSize: h.initialStreamWindowSize,
        maxHeaderListSize: s.maxResponseHeadersBytes,
        enablePush: false,
      },
      maxHeaderListPairs: s.maxResponseHeadersCount + 8,
    });
    this.session.on('remoteSettings', this.onRemoteSettings);
    this.session.on('goaway', this.onGoaway);
    this.session.on('close', this.onClose);
    this.session.on('error', this.onError);
    s.stats.upstreamCxTotal.value++;
    // auto_config counts the protocol once ALPN has chosen it.
    if (!s.alpnAuto) s.stats.upstreamCxHttp2Total.value++;
    s.stats.upstreamCxActive.value++;
    this.host.connectionsActive++;
    s.rm.connections++;
    if (s.connectTimeoutMs > 0) this.connectTimer = setTimeout(this.onConnectTimeout, s.connectTimeoutMs);
  }

  /** Streams this connection may still take now. */
  get capacity(): number {
    if (this.state !== C_READY && this.state !== C_CONNECTING) return 0;
    const s = this.pool.settings;
    let cap = Math.min(s.http2.maxConcurrentStreams, this.remoteMax) - this.active;
    if (s.maxRequestsPerConnection > 0) cap = Math.min(cap, s.maxRequestsPerConnection - this.streamsTotal);
    return Math.max(0, cap);
  }

  private onConnected = (): void => {
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
    if (this.state !== C_CONNECTING) return;
    const s = this.pool.settings;
    if (s.alpnAuto) {
      const alpn = (this.socket as { alpnProtocol?: string | false } | undefined)?.alpnProtocol;
      this.host.alpnH2 = alpn === 'h2';
      if (alpn !== 'h2') {
        // The host chose HTTP/1.1 (or no ALPN): this connection is not for HTTP/2.
        this.closedLocally = true;
        this.state = C_CLOSED;
        this.cleanup();
        this.session.destroy();
        this.pool.onConnectFailure(this, POOL_USE_HTTP1, `ALPN selected ${alpn || 'nothing'}`);
        return;
      }
      s.stats.upstreamCxHttp2Total.value++;
    }
    if (s.tcpKeepaliveMs > 0) this.socket?.setKeepAlive(true, s.tcpKeepaliveMs);
    if (s.http2.initialConnectionWindowSize > 65535) {
      try {
        this.session.setLocalWindowSize(s.http2.initialConnectionWindowSize);
      } catch {
        // The session is already going away; 'close' follows.
      }
    }
    if (s.http2.keepaliveIntervalMs > 0)
      this.keepalive = new H2Keepalive(this.session, s.http2.keepaliveIntervalMs, s.http2.keepaliveTimeoutMs);
    this.state = C_READY;
    this.pool.onClientReady(this);
  };

  private onConnectError = (err: Error): void => {
    if (this.state !== C_CONNECTING) return;
    this.failConnect(POOL_CONNECT_FAILURE, err.message);
  };

  private onConnectTimeout = (): void => {
    this.connectTimer = undefined;
    if (this.state !== C_CONNECTING) return;
    this.pool.settings.stats.upstreamCxConnectTimeout.value++;
    this.failConnect(POOL_CONNECT_TIMEOUT, 'connection timeout');
  };

  private failConnect(reason: number, detail: string): void {
    this.pool.settings.stats.upstreamCxConnectFail.value++;
    this.closedLocally = true;
    this.state = C_CLOSED;
    this.cleanup();
    this.session.destroy();
    this.pool.onConnectFailure(this, reason, detail);
  }

  private onRemoteSettings = (settings: http2.Settings): void => {
    const max = settings.maxConcurrentStreams;
    this.remoteMax = max === undefined ? Number.POSITIVE_INFINITY : max;
    if (this.state === C_READY) this.pool.onCapacity(this);
  };

  private onGoaway = (): void => {
    // No new streams here; those the peer accepted finish (others fail as refused).
    if (this.state === C_CLOSED) return;
    this.state = C_DRAINING;
    this.pool.onClientDraining(this);
    this.maybeCloseDrained();
  };

  private onError = (err: Error): void => {
    log.debug('upstream HTTP/2 connection error', {
      cluster: this.pool.settings.clusterName,
      host: this.host.key,
      error: err.message,
    });
  };

  private onClose = (): void => {
    const was = this.state;
    this.state = C_CLOSED;
    if (was === C_CONNECTING) {
      this.pool.settings.stats.upstreamCxConnectFail.value++;
      this.cleanup();
      this.pool.onConnectFailure(this, POOL_CONNECT_FAILURE, 'connection closed');
      return;
    }
    this.cleanup();
    this.pool.onClientClosed(this);
  };

  private cleanup(): void {
    if (this.connectTimer) clearTimeout(this.connectTimer);
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.connectTimer = undefined;
    this.idleTimer = undefined;
    this.keepalive?.stop();
    if (this.cleaned) return;
    this.cleaned = true;
    const st = this.pool.settings.stats;
    st.upstreamCxActive.value--;
    st.upstreamCxDestroy.value++;
    if (this.closedLocally) st.upstreamCxDestroyLocal.value++;
    else st.upstreamCxDestroyRemote.value++;
    if (this.active > 0) {
      st.upstreamCxDestroyWithActiveRq.value++;
      if (this.closedLocally) st.upstreamCxDestroyLocalWithActiveRq.value++;
      else st.upstreamCxDestroyRemoteWithActiveRq.value++;
    }
    const sock = this.socket;
    if (sock !== undefined) {
      st.upstreamCxRxBytesTotal.value += sock.bytesRead;
      st.upstreamCxTxBytesTotal.value += sock.bytesWritten;
    }
    this.host.connectionsActive--;
    this.pool.settings.rm.connections--;
  }

  /** A stream was assigned here. */
  take(): void {
    this.active++;
    this.streamsTotal++;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    const s = this.pool.settings;
    const now = Date.now();
    const maxed = s.maxRequestsPerConnection > 0 && this.streamsTotal >= s.maxRequestsPerConnection;
    const old = s.maxConnectionDurationMs > 0 && now - this.createdAt >= s.maxConnectionDurationMs;
    if (maxed || old) {
      if (maxed) s.stats.upstreamCxMaxRequests.value++;
      else s.stats.upstreamCxMaxDurationReached.value++;
      // This connection takes no more streams; it closes when its last one ends.
      this.state = this.state === C_READY ? C_DRAINING : this.state;
    }
  }

  /** A stream assigned here ended (or was abandoned before it started). */
  release(): void {
    this.active--;
    if (this.state === C_DRAINING || this.pool.draining || this.host.removed) {
      this.maybeCloseDrained();
      return;
    }
    if (this.state === C_READY) {
      this.pool.onCapacity(this);
      if (this.active === 0) this.startIdleTimer();
    }
  }

  private maybeCloseDrained(): void {
    if (this.active > 0 || this.state === C_CLOSED) return;
    this.close();
  }

  private startIdleTimer(): void {
    const t = this.pool.settings.idleTimeoutMs;
    if (t <= 0 || this.idleTimer !== undefined) return;
    this.idleTimer = setTimeout(this.onIdle, t);
  }

  private onIdle = (): void => {
    this.idleTimer = undefined;
    if (this.active > 0 || this.state !== C_READY) return;
    this.pool.settings.stats.upstreamCxIdleTimeout.value++;
    this.close();
  };

  /** GOAWAY and close once open streams end (or now, when none is open). */
  close(): void {
    if (this.state === C_CLOSED && this.session.destroyed) return;
    this.closedLocally = true;
    if (this.state !== C_CLOSED) this.state = C_DRAINING;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    if (this.active === 0) this.session.destroy();
    else this.session.close();
  }

  destroy(): void {
    this.closedLocally = true;
    this.session.destroy();
  }

  get isReady(): boolean {
    return this.state === C_READY;
  }
  get isConnecting(): boolean {
    return this.state === C_CONNECTING;
  }
}

/** One request's stream on an upstream HTTP/2 connection. */
export class H2UpstreamStream {
  readonly client: H2Client;
  private req: H2PoolRequest | null;
  stream: http2.ClientHttp2Stream | null = null;
  private trailers: http2.OutgoingHttpHeaders | null = null;
  private released = false;
  private ended = false;
  private requestEnded = false;
  private drainWaiters: StreamDrainWaiters | null = null;

  constructor(client: H2Client, req: H2PoolRequest) {
    this.client = client;
    this.req = req;
  }

  /** Sends the request HEADERS (opens the stream); a raw list ([name, value, ...]) is cheapest. */
  sendHeaders(headers: http2.OutgoingHttpHeaders | string[], endStream: boolean): void {
    const c = this.client;
    let st: http2.ClientHttp2Stream;
    try {
      st = c.session.request(headers, { endStream, waitForTrailers: !endStream });
    } catch (e) {
      // The session went away between assignment and now, or the headers are unacceptable.
      const msg = (e as Error).message;
      const reason = c.session.destroyed || c.session.closed ? RESET_CONNECTION_TERMINATION : RESET_LOCAL;
      queueMicrotask(() => this.fail(reason, msg));
      return;
    }
    this.stream = st;
    this.requestEnded = endStream;
    st.on('headers', this.onInfo);
    st.on('response', this.onResponse);
    st.on('data', this.onData);
    st.on('trailers', this.onTrailers);
    st.on('end', this.onEnd);
    st.on('close', this.onClose);
    st.on('error', noop);
    // Only a stream left open for trailers asks for them; 'drain' is listened to once throttled.
    if (!endStream) st.on('wantTrailers', this.onWantTrailers);
  }

  private onInfo = (h: http2.IncomingHttpHeaders, _flags: number, raw: string[]): void => {
    const status = Number(h[':status']);
    if (status >= 100 && status < 200) this.req?.onH2Headers(status, fromRawH2Headers(raw), false);
  };

  private onResponse = (h: http2.IncomingHttpHeaders, flags: number, raw: string[]): void => {
    const status = Number(h[':status']);
    this.req?.onH2Headers(status, fromRawH2Headers(raw), (flags & NGHTTP2_FLAG_END_STREAM) !== 0);
  };

  private onData = (buf: Buffer): void => {
    this.req?.onH2Data(buf);
  };

  private onTrailers = (_h: http2.IncomingHttpHeaders, _flags: number, raw: string[]): void => {
    this.req?.onH2Trailers(fromRawH2Headers(raw));
  };

  private onEnd = (): void => {
    const code = this.stream!.rstCode;
    // node:http2 also ends the readable side when the stream is reset or the session dies.
    if ((code !== undefined && code !== NGHTTP2_NO_ERROR) || this.client.session.destroyed) {
      this.onClose();
      return;
    }
    this.ended = true;
    const req = this.req;
    this.req = null;
    // The response is complete; a request still being sent is cut off (RST_STREAM NO_ERROR).
    const st = this.stream;
    if (st !== null && !st.writableEnded && !st.closed) st.close(NGHTTP2_NO_ERROR);
    this.release();
    req?.onH2End();
  };

  private onClose = (): void => {
    this.drainWaiters?.release();
    if (this.ended) return;
    const st = this.stream!;
    const code = st.rstCode;
    const c = this.client;
    let reason = RESET_REMOTE;
    let detail = `remote reset (code ${code})`;
    if (code === NGHTTP2_REFUSED_STREAM) {
      reason = RESET_REFUSED_STREAM;
      detail = 'remote refused stream reset';
    } else if (code === NGHTTP2_PROTOCOL_ERROR) {
      reason = RESET_PROTOCOL_ERROR;
      detail = 'protocol error';
    } else if (c.session.destroyed) {
      reason = RESET_CONNECTION_TERMINATION;
      detail = 'connection termination';
    }
    this.fail(reason, detail);
  };

  private fail(reason: number, detail: string): void {
    this.release();
    const req = this.req;
    this.req = null;
    req?.onUpstreamReset(reason, detail);
  }

  private onWantTrailers = (): void => {
    const st = this.stream;
    if (st === null || st.closed || st.destroyed) return;
    const t = this.trailers;
    this.trailers = null;
    st.sendTrailers(t ?? {});
  };

  write(data: Buffer): void {
    const st = this.stream;
    if (st === null || this.requestEnded || st.closed || st.destroyed) return;
    st.write(data);
  }

  /** Ends the request, with trailers when given. */
  end(trailers?: http2.OutgoingHttpHeaders): void {
    const st = this.stream;
    if (st === null || this.requestEnded) return;
    this.requestEnded = true;
    if (trailers !== undefined) this.trailers = trailers;
    if (!st.closed && !st.destroyed) st.end();
  }

  /** Gives up the stream (retry, timeout, downstream reset): RST_STREAM CANCEL. */
  abandon(): void {
    this.req = null;
    const st = this.stream;
    if (st !== null && !st.closed && !st.destroyed) st.close(NGHTTP2_CANCEL);
    this.release();
  }

  private release(): void {
    if (this.released) return;
    this.released = true;
    this.client.pool.requestDone();
    this.client.release();
  }

  /** Pauses `source` while this stream's send buffer is over its limit. */
  throttle(source: Pausable): void {
    const st = this.stream;
    if (st === null || !st.writableNeedDrain) return;
    (this.drainWaiters ??= new StreamDrainWaiters(st)).wait(source);
  }

  pauseReading(): void {
    this.stream?.pause();
  }

  resumeReading(): void {
    this.stream?.resume();
  }
}

export class H2Pool {
  readonly host: Host;
  readonly settings: H2PoolSettings;
  private readonly clients = new Set<H2Client>();
  private pending: H2PoolRequest[] = [];
  draining = false;
  private onDrained: (() => void) | undefined;

  constructor(host: Host, settings: H2PoolSettings) {
    this.host = host;
    this.settings = settings;
  }

  get connectionCount(): number {
    return this.clients.size;
  }
  get pendingCount(): number {
    return this.pending.length;
  }

  /** Asks for a stream: at once on a connection with room, else queued (bounded) until one has. */
  newStream(req: H2PoolRequest): void {
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
    if (this.pending.length === 0) {
      for (const c of this.clients) {
        if (c.isReady && c.capacity > 0) {
          this.assign(c, req);
          return;
        }
      }
    }
    if (!s.rm.canQueue()) {
      s.stats.upstreamRqPendingOverflow.value++;
      req.onPoolFailure(POOL_OVERFLOW, 'max pending requests');
      return;
    }
    this.pending.push(req);
    s.rm.pending++;
    s.stats.upstreamRqPendingTotal.value++;
    s.stats.upstreamRqPendingActive.value++;
    this.maybeConnect();
  }

  /** Removes a queued request (the caller gave up). */
  cancel(req: H2PoolRequest): boolean {
    const i = this.pending.indexOf(req);
    if (i < 0) return false;
    this.pending.splice(i, 1);
    this.settings.rm.pending--;
    this.settings.stats.upstreamRqPendingActive.value--;
    this.settings.stats.upstreamRqCancelled.value++;
    return true;
  }

  /** Opens connections while the queue exceeds what connecting ones will take. */
  private maybeConnect(): void {
    const s = this.settings;
    let expected = 0;
    for (const c of this.clients) if (c.isConnecting) expected += c.capacity;
    if (expected >= this.pending.length) return;
    if (!s.rm.canCreateConnection()) {
      s.stats.upstreamCxOverflow.value++;
      return;
    }
    this.clients.add(new H2Client(this));
  }

  private takePending(): H2PoolRequest | undefined {
    const p = this.pending.shift();
    if (p === undefined) return undefined;
    this.settings.rm.pending--;
    this.settings.stats.upstreamRqPendingActive.value--;
    return p;
  }

  private assign(c: H2Client, req: H2PoolRequest): void {
    const s = this.settings;
    c.take();
    s.rm.requests++;
    s.stats.upstreamRqTotal.value++;
    s.stats.upstreamRqActive.value++;
    this.host.activeRequests++;
    this.host.requestsTotal++;
    req.onPoolReady(new H2UpstreamStream(c, req));
  }

  /** A stream's accounting ends (once per assigned request). */
  requestDone(): void {
    const s = this.settings;
    s.rm.requests--;
    s.stats.upstreamRqActive.value--;
    this.host.activeRequests--;
  }

  onClientReady(c: H2Client): void {
    this.onCapacity(c);
    if (c.active === 0 && this.pending.length === 0 && this.draining) c.close();
  }

  /** `c` may take more streams: serve the queue. */
  onCapacity(c: H2Client): void {
    while (this.pending.length > 0 && c.isReady && c.capacity > 0) {
      if (!this.settings.rm.canRequest()) break;
      const req = this.takePending()!;
      this.assign(c, req);
    }
    if (this.pending.length > 0) this.maybeConnect();
  }

  onClientDraining(_c: H2Client): void {
    if (this.pending.length > 0) this.maybeConnect();
  }

  onConnectFailure(c: H2Client, reason: number, detail: string): void {
    this.clients.delete(c);
    // Requests that waited for this connection fail with it, unless others are on the way.
    let expected = 0;
    for (const o of this.clients) if (o.isConnecting) expected += o.capacity;
    while (this.pending.length > expected) this.takePending()!.onPoolFailure(reason, detail);
    this.checkDrained();
  }

  onClientClosed(c: H2Client): void {
    this.clients.delete(c);
    if (!this.draining && this.pending.length > 0) this.maybeConnect();
    this.checkDrained();
  }

  /** Stops new requests; connections close when their streams end. */
  drain(onDrained?: () => void): void {
    this.draining = true;
    this.onDrained = onDrained;
    while (this.pending.length > 0) this.takePending()!.onPoolFailure(POOL_DRAINED, 'pool draining');
    for (const c of [...this.clients]) if (c.active === 0) c.close();
    this.checkDrained();
  }

  /** Closes every connection now. */
  destroy(): void {
    this.draining = true;
    while (this.pending.length > 0) this.takePending()!.onPoolFailure(POOL_DRAINED, 'pool destroyed');
    for (const c of [...this.clients]) c.destroy();
  }

  private checkDrained(): void {
    if (this.draining && this.clients.size === 0 && this.onDrained) {
      const cb = this.onDrained;
      this.onDrained = undefined;
      cb();
    }
  }
}

function noop(): void {}
