/**
 * HTTP/2 for downstream connections: node:http2's server session on the connection's own
 * socket (h2c prior knowledge, or TLS with ALPN h2), one `ActiveStream` per HTTP/2 stream, so
 * filters and the router run exactly as for HTTP/1.1. This file maps frames to the stream's
 * decode calls (pseudo-headers → method/path/authority, body, trailers, end, resets) and the
 * stream's encode calls back to HEADERS/DATA/trailers/RST_STREAM. HPACK, flow control and frame
 * validation (connection-specific headers, `te` other than "trailers", malformed pseudo-headers
 * are refused with RST_STREAM PROTOCOL_ERROR) are nghttp2's, inside node:http2.
 *
 * Backpressure: an upstream that fills this stream's send buffer is paused until 'drain'; a
 * paused request source stops consuming DATA, so the stream's receive window stops reopening.
 */
import http2 from 'node:http2';
import { RF_DOWNSTREAM_CONNECTION_TERMINATION, RF_DOWNSTREAM_REMOTE_RESET } from '../../stream-info.ts';
import type { Pausable } from '../write-buffer.ts';
import {
  METHOD_CONNECT,
  METHOD_DELETE,
  METHOD_GET,
  METHOD_HEAD,
  METHOD_OPTIONS,
  METHOD_OTHER,
  METHOD_PATCH,
  METHOD_POST,
  METHOD_PUT,
  METHOD_TRACE,
} from './codec-h1.ts';
import { ActiveStream, type HttpConnection } from './connection-manager.ts';
import { PAUSE_UPSTREAM_FULL, StreamDrainWaiters } from './flow-control.ts';
import {
  H_CONNECTION,
  H_CONTENT_LENGTH,
  H_HOST,
  H_KEEP_ALIVE,
  H_PROXY_CONNECTION,
  H_TE,
  H_TRANSFER_ENCODING,
  H_UPGRADE,
  HeaderMap,
} from './headers.ts';

const { NGHTTP2_NO_ERROR, NGHTTP2_INTERNAL_ERROR, NGHTTP2_REFUSED_STREAM, NGHTTP2_FLAG_END_STREAM } =
  http2.constants;

/** The client connection preface of HTTP/2 (RFC 9113 §3.4). */
export const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** 1: `buf` starts with the full preface; -1: a proper prefix of it so far; 0: not HTTP/2. */
export function matchH2Preface(buf: Buffer): number {
  const n = Math.min(buf.length, H2_PREFACE.length);
  if (buf.compare(H2_PREFACE, 0, n, 0, n) !== 0) return 0;
  return n === H2_PREFACE.length ? 1 : -1;
}

const METHOD_CODES: Record<string, number> = {
  GET: METHOD_GET,
  HEAD: METHOD_HEAD,
  POST: METHOD_POST,
  PUT: METHOD_PUT,
  DELETE: METHOD_DELETE,
  OPTIONS: METHOD_OPTIONS,
  PATCH: METHOD_PATCH,
  CONNECT: METHOD_CONNECT,
  TRACE: METHOD_TRACE,
};

/** Connection-specific fields that never cross into HTTP/2 (RFC 9113 §8.2.2). */
const H2_FORBIDDEN = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'host',
]);

/** HeaderMap → node:http2 header object (lowercase names; repeated fields as arrays). */
export function toH2Headers(h: HeaderMap, out: http2.OutgoingHttpHeaders): http2.OutgoingHttpHeaders {
  h.forEach((n, v) => {
    if (H2_FORBIDDEN.has(n) || n.charCodeAt(0) === 58) return;
    if (n === 'te' && v.toLowerCase() !== 'trailers') return;
    const prev = out[n];
    if (prev === undefined) out[n] = v;
    else if (Array.isArray(prev)) prev.push(v);
    else out[n] = [String(prev), v];
  });
  return out;
}

/** The same fields as H2_FORBIDDEN, as bits of their well-known header ids (all < 32). */
const H2_FORBIDDEN_IDS =
  (1 << H_CONNECTION) |
  (1 << H_KEEP_ALIVE) |
  (1 << H_PROXY_CONNECTION) |
  (1 << H_TRANSFER_ENCODING) |
  (1 << H_UPGRADE) |
  (1 << H_HOST);

/**
 * HeaderMap → node:http2 raw header list, appended to `out` ([name, value, ...], which may
 * already hold pseudo-headers). The fields dropped are toH2Headers' ones, found by header id
 * instead of by name. node:http2 takes this list as it is; an object goes through a copy into a
 * dictionary object and a key walk in `respond`/`request` first, which the profile showed.
 * Repeated fields stay in their order instead of being grouped.
 */
export function toH2RawHeaders(h: HeaderMap, out: string[]): string[] {
  const ids = h.ids;
  const dead = h.dead;
  for (let i = 0; i < h.count; i++) {
    if (dead[i] !== 0) continue;
    const id = ids[i];
    if (id < 32 && ((H2_FORBIDDEN_IDS >>> id) & 1) !== 0) continue;
    const v = h.valueAt(i);
    if (id === H_TE && v.toLowerCase() !== 'trailers') continue;
    const n = h.nameAt(i);
    if (n.charCodeAt(0) === 58) continue;
    out.push(n, v);
  }
  const names = h.addedNames;
  const values = h.addedValues;
  const addedIds = h.addedIds;
  for (let j = 0; j < h.addedCount; j++) {
    const id = addedIds[j];
    if (id < 32 && ((H2_FORBIDDEN_IDS >>> id) & 1) !== 0) continue;
    const v = values[j];
    if (id === H_TE && v.toLowerCase() !== 'trailers') continue;
    const n = names[j];
    if (n.charCodeAt(0) === 58) continue;
    out.push(n, v);
  }
  return out;
}

/** node:http2 raw header list ([name, value, ...]) → HeaderMap, pseudo-headers skipped. */
export function fromRawH2Headers(raw: readonly string[]): HeaderMap {
  const m = new HeaderMap();
  for (let i = 0; i < raw.length; i += 2) {
    const n = raw[i];
    if (n.charCodeAt(0) !== 58) m.add(n, raw[i + 1]);
  }
  return m;
}

/** PING-based liveness for an HTTP/2 session (connection_keepalive). */
export class H2Keepalive {
  private interval: NodeJS.Timeout | undefined;
  private waiting = false;
  private readonly session: http2.Http2Session;
  private readonly timeoutMs: number;
  private timeout: NodeJS.Timeout | undefined;

  constructor(session: http2.Http2Session, intervalMs: number, timeoutMs: number) {
    this.session = session;
    this.timeoutMs = timeoutMs;
    this.interval = setInterval(this.tick, intervalMs);
    this.interval.unref();
  }

  private tick = (): void => {
    if (this.waiting || this.session.destroyed) return;
    this.waiting = true;
    try {
      this.session.ping(this.onAck);
    } catch {
      this.waiting = false;
      return;
    }
    this.timeout = setTimeout(this.onTimeout, this.timeoutMs);
    this.timeout.unref();
  };

  private onAck = (err: Error | null): void => {
    this.waiting = false;
    if (this.timeout) clearTimeout(this.timeout);
    this.timeout = undefined;
    if (err !== null && !this.session.destroyed) this.session.destroy();
  };

  private onTimeout = (): void => {
    this.timeout = undefined;
    // No PING ack in time: the peer is gone.
    this.session.destroy();
  };

  stop(): void {
    if (this.interval) clearInterval(this.interval);
    if (this.timeout) clearTimeout(this.timeout);
    this.interval = undefined;
    this.timeout = undefined;
  }
}

/** The HTTP/2 side of one downstream connection (owned by its HttpConnection). */
export class H2Downstream {
  readonly conn: HttpConnection;
  readonly session: http2.ServerHttp2Session;
  readonly streams = new Set<ActiveStream>();
  private draining = false;
  private closed = false;
  private idleDeadline = 0;
  private keepalive: H2Keepalive | undefined;

  constructor(conn: HttpConnection, initial: Buffer | null) {
    this.conn = conn;
    const c = conn.config;
    const h = c.http2;
    const socket = conn.socket;
    // Bytes already read (the sniffed preface) go back so the session sees them first.
    // (Paused first: unshifted bytes on a flowing socket without 'data' listeners are lost.)
    if (initial !== null) {
      socket.pause();
      socket.unshift(initial);
    }
    this.session = http2.performServerHandshake(socket, {
      settings: {
        headerTableSize: h.hpackTableSize,
        maxConcurrentStreams: h.maxConcurrentStreams,
        initialWindowSize: h.initialStreamWindowSize,
        maxHeaderListSize: c.maxRequestHeadersBytes,
        enablePush: false,
      },
      // Pseudo-headers count as pairs for node:http2; our own header-count check runs per stream.
      maxHeaderListPairs: c.common.maxHeadersCount + 8,
    });
    this.session.on('stream', this.onStream);
    this.session.on('error', noop);
    if (h.initialConnectionWindowSize > 65535) {
      try {
        this.session.setLocalWindowSize(h.initialConnectionWindowSize);
      } catch {
        // The session died during the handshake; 'close' follows.
      }
    }
    if (h.keepaliveIntervalMs > 0)
      this.keepalive = new H2Keepalive(this.session, h.keepaliveIntervalMs, h.keepaliveTimeoutMs);
    this.armIdle(Date.now());
  }

  private armIdle(now: number): void {
    const t = this.conn.config.common.idleTimeoutMs;
    if (t > 0) {
      this.idleDeadline = now + t;
      this.conn.timer.wakeAt(this.idleDeadline);
    }
  }

  private onStream = (
    stream: http2.ServerHttp2Stream,
    _headers: http2.IncomingHttpHeaders,
    flags: number,
    raw: string[],
  ): void => {
    const conn = this.conn;
    const c = conn.config;
    const st = c.stats;
    const now = Date.now();
    conn.lastActivity = now;
    this.idleDeadline = 0;
    if (this.draining || this.closed) {
      stream.close(NGHTTP2_REFUSED_STREAM);
      return;
    }
    let method = '';
    let path = '';
    let authority: string | undefined;
    let host: string | undefined;
    let cookie: string | undefined;
    let count = 0;
    let bytes = 0;
    const hm = new HeaderMap();
    for (let i = 0; i < raw.length; i += 2) {
      const n = raw[i];
      const v = raw[i + 1];
      bytes += n.length + v.length;
      if (n.charCodeAt(0) === 58) {
        if (n === ':method') method = v;
        else if (n === ':path') path = v;
        else if (n === ':authority') authority = v;
        continue;
      }
      count++;
      if (n === 'host') {
        host ??= v;
        continue;
      }
      if (n === 'cookie') {
        // HTTP/2 may split cookies into several fields; HTTP/1.1 needs one (RFC 9113 §8.2.3).
        cookie = cookie === undefined ? v : `${cookie}; ${v}`;
        continue;
      }
      hm.add(n, v);
    }
    if (cookie !== undefined) hm.add('cookie', cookie);
    const auth = authority ?? host;
    if (auth !== undefined) hm.addKnown(H_HOST, auth);

    st.downstreamRqTotal.value++;
    st.downstreamRqHttp2Total.value++;
    st.downstreamRqActive.value++;
    conn.requestsServed++;
    const s = new ActiveStream(conn, hm, method, METHOD_CODES[method] ?? METHOD_OTHER, 1, now);
    s.h2 = new H2StreamIo(this, s, stream, now);
    this.streams.add(s);
    const endStream = (flags & NGHTTP2_FLAG_END_STREAM) !== 0;
    if (count > c.common.maxHeadersCount || bytes > c.maxRequestHeadersBytes) {
      s.expectBody = !endStream;
      s.sendLocalReply({ status: 431, body: '', details: 'http2.too_many_headers' });
    } else if (
      !endStream &&
      hm.hasKnown(H_CONTENT_LENGTH) &&
      !/^\d{1,15}$/.test(hm.getKnown(H_CONTENT_LENGTH) ?? '')
    ) {
      s.expectBody = true;
      s.sendLocalReply({ status: 400, body: '', details: 'http2.invalid_content_length' });
    } else s.startH2(path, endStream);
    const maxReq = c.common.maxRequestsPerConnection;
    if (maxReq > 0 && conn.requestsServed >= maxReq) {
      st.downstreamCxMaxRequestsReached.value++;
      this.drain();
    }
  };

  /** A stream finished (completed or reset). */
  streamFinished(s: ActiveStream): void {
    if (!this.streams.delete(s)) return;
    if (this.streams.size > 0 || this.closed) return;
    if (this.draining) this.session.close();
    else this.armIdle(Date.now());
  }

  /** GOAWAY: no new streams; the connection closes once the open ones finish. */
  drain(): void {
    if (this.draining || this.closed) return;
    this.draining = true;
    this.conn.draining = true;
    this.conn.h2Closing();
    this.conn.config.stats.downstreamCxDrainClose.value++;
    this.session.close();
  }

  destroy(): void {
    this.conn.h2Closing();
    this.keepalive?.stop();
    if (!this.session.destroyed) this.session.destroy();
  }

  /** Deadlines of every stream, and the connection's idle timeout. */
  onTimer(now: number): void {
    if (this.closed) return;
    for (const s of this.streams) s.checkDeadlines(now);
    if (this.streams.size === 0 && this.idleDeadline > 0) {
      if (now >= this.idleDeadline) {
        this.conn.config.stats.downstreamCxIdleTimeout.value++;
        this.idleDeadline = 0;
        this.drain();
        return;
      }
      this.conn.timer.wakeAt(this.idleDeadline);
    }
  }

  /** The socket closed: every open stream is reset. */
  onSocketClosed(): void {
    if (this.closed) return;
    this.closed = true;
    this.keepalive?.stop();
    const st = this.conn.config.stats;
    const sock = this.conn.socket;
    st.downstreamCxRxBytesTotal.value += Math.max(0, sock.bytesRead - this.conn.bytesIn);
    st.downstreamCxTxBytesTotal.value += sock.bytesWritten;
    for (const s of [...this.streams]) {
      if (s.done) continue;
      st.downstreamCxDestroyActiveRq.value++;
      st.downstreamRqRxReset.value++;
      s.reset(RF_DOWNSTREAM_CONNECTION_TERMINATION, 'downstream_remote_disconnect');
    }
    this.streams.clear();
    if (!this.session.destroyed) this.session.destroy();
  }
}

/** One HTTP/2 stream's I/O for its ActiveStream. */
export class H2StreamIo implements Pausable {
  readonly owner: H2Downstream;
  readonly s: ActiveStream;
  readonly stream: http2.ServerHttp2Stream;
  lastActivity: number;
  private pausedFor = 0;
  private trailers: http2.OutgoingHttpHeaders | null = null;
  private responded = false;
  private ended = false;
  private abandonAfterEnd = false;
  /** The response HEADERS asked for a trailers step (so END_STREAM comes with wantTrailers). */
  private waitTrailers = false;
  private trailersSent = false;
  private drainWaiters: StreamDrainWaiters | null = null;

  constructor(owner: H2Downstream, s: ActiveStream, stream: http2.ServerHttp2Stream, now: number) {
    this.owner = owner;
    this.s = s;
    this.stream = stream;
    this.lastActivity = now;
    stream.on('data', this.onData);
    stream.on('trailers', this.onTrailers);
    stream.on('end', this.onEnd);
    stream.on('close', this.onClose);
    stream.on('error', noop);
    // 'wantTrailers' is listened to when a response leaves its stream open for trailers, and
    // 'drain' once a source is throttled: most streams need neither listener.
  }

  private onData = (chunk: Buffer): void => {
    this.lastActivity = Date.now();
    const s = this.s;
    s.bytesReceived += chunk.length;
    s.decodeData(chunk, false);
  };

  private onTrailers = (_h: http2.IncomingHttpHeaders, _flags: number, raw: string[]): void => {
    this.s.decodeTrailers(fromRawH2Headers(raw));
  };

  private onEnd = (): void => {
    this.s.decodeComplete();
  };

  private onClose = (): void => {
    const s = this.s;
    this.drainWaiters?.release();
    if (s.done) return;
    // Closed under us: the client reset the stream (or the session went away).
    s.hcm.stats.downstreamRqRxReset.value++;
    s.reset(RF_DOWNSTREAM_REMOTE_RESET, 'http2.remote_reset');
  };

  // Encoding.

  /** Sends the response HEADERS; returns the (approximate) bytes of the head. */
  respond(status: number, h: HeaderMap, endStream: boolean): number {
    const out = toH2RawHeaders(h, [':status', String(status)]);
    this.responded = true;
    if (endStream) this.ended = true;
    const st = this.stream;
    if (st.destroyed || st.closed) return 0;
    if (!endStream && !this.waitTrailers) st.on('wantTrailers', this.onWantTrailers);
    this.waitTrailers = !endStream;
    try {
      st.respond(out, { endStream, waitForTrailers: !endStream });
    } catch {
      // Headers node:http2 refuses (e.g. a repeated single-value field): the stream cannot go on.
      st.close(NGHTTP2_INTERNAL_ERROR);
      return 0;
    }
    return h.encodedLength();
  }

  write(buf: Buffer, start: number, end: number): void {
    const st = this.stream;
    if (this.ended || st.destroyed || st.closed) return;
    st.write(start === 0 && end === buf.length ? buf : buf.subarray(start, end));
  }

  setTrailers(h: HeaderMap): void {
    this.trailers = toH2Headers(h, {});
  }

  /** The response is complete: END_STREAM (on a trailers HEADERS frame when there are any). */
  endResponse(): void {
    if (this.ended || !this.responded) return;
    this.ended = true;
    const st = this.stream;
    if (!st.destroyed && !st.closed) st.end();
  }

  private onWantTrailers = (): void => {
    const st = this.stream;
    if (st.destroyed || st.closed) return;
    const t = this.trailers;
    this.trailers = null;
    // No trailers: an empty trailer block still ends the stream cleanly.
    st.sendTrailers(t ?? {});
    this.trailersSent = true;
    if (this.abandonAfterEnd) this.closeRequestSide();
  };

  /**
   * Response done before the request: refuse the rest of it (RST_STREAM NO_ERROR) once the
   * whole response, trailers included, is handed to the session.
   */
  abandonRequest(): void {
    this.abandonAfterEnd = true;
    const st = this.stream;
    if (this.waitTrailers) {
      if (this.trailersSent) this.closeRequestSide();
      // else: onWantTrailers closes after the trailers.
    } else if (st.writableFinished) this.closeRequestSide();
    else st.once('finish', () => this.closeRequestSide());
  }

  private closeRequestSide(): void {
    const st = this.stream;
    if (!st.destroyed && !st.closed) st.close(NGHTTP2_NO_ERROR);
  }

  /** RST_STREAM for a local error (the connection carries on). */
  reset(): void {
    this.drainWaiters?.release();
    const st = this.stream;
    if (!st.destroyed && !st.closed) st.close(NGHTTP2_INTERNAL_ERROR);
  }

  send100(): void {
    const st = this.stream;
    if (!st.destroyed && !st.closed && !st.headersSent) st.additionalHeaders({ ':status': 100 });
  }

  /** Pauses `source` until this stream's send buffer drains. */
  throttle(source: Pausable): void {
    const st = this.stream;
    if (!st.writableNeedDrain) return;
    (this.drainWaiters ??= new StreamDrainWaiters(st)).wait(source);
  }

  // Reading control.

  pauseFor(reason: number): void {
    if (this.pausedFor === 0) this.stream.pause();
    this.pausedFor |= reason;
  }

  resumeFor(reason: number): void {
    if ((this.pausedFor & reason) === 0) return;
    this.pausedFor &= ~reason;
    if (this.pausedFor === 0) this.stream.resume();
  }

  pauseReading(): void {
    this.pauseFor(PAUSE_UPSTREAM_FULL);
  }

  resumeReading(): void {
    this.resumeFor(PAUSE_UPSTREAM_FULL);
  }
}

function noop(): void {}
