/**
 * The HTTP connection manager (Envoy's http_connection_manager) for downstream connections:
 * one `HttpConnection` per socket runs the codec — HTTP/1.1 here, or HTTP/2 (codec-h2.ts) when
 * the socket negotiated ALPN h2, the codec is HTTP2, or an AUTO cleartext connection opens with
 * the HTTP/2 preface — and one `ActiveStream` per request (whatever the codec) runs the HTTP
 * filter chain (the router last), sanitises and
 * decorates headers the way Envoy does (x-request-id, x-forwarded-for/proto, internal vs
 * external, x-envoy-* stripping), enforces request/idle/stream timeouts and limits, writes local
 * replies with response flags, and proxies WebSocket-style upgrades.
 *
 * Pipelining: requests are parsed one at a time; bytes of the next request wait (bounded) until
 * the current response is complete, so responses go out strictly in order.
 */
import { randomFillSync } from 'node:crypto';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { latin1Slice, latin1Write } from '../../common/bytes.ts';
import { isInternalAddress } from '../../common/cidr.ts';
import { httpDate } from '../../common/http-date.ts';
import { LazyTimer } from '../../common/lazy-timer.ts';
import { hasEscapedSlashes, mergeSlashes, normalizePath, unescapeSlashes } from '../../common/path.ts';
import {
  type ConnectionInfo,
  formatAddress,
  formatResponseFlags,
  RF_DOWNSTREAM_CONNECTION_TERMINATION,
  RF_DOWNSTREAM_PROTOCOL_ERROR,
  RF_DURATION_TIMEOUT,
  RF_STREAM_IDLE_TIMEOUT,
} from '../../stream-info.ts';
import type { Host } from '../../upstream/host.ts';
import { enterIo, exitIo, type Pausable, readDirect, WriteBuffer } from '../write-buffer.ts';
import {
  chunkHeader,
  H1Parser,
  type H1ParserHandler,
  HEAD_CONTINUE,
  HEAD_UPGRADE,
  KIND_REQUEST,
  METHOD_CONNECT,
  METHOD_HEAD,
  statusLine,
} from './codec-h1.ts';
import { H2Downstream, type H2StreamIo, matchH2Preface } from './codec-h2.ts';
import {
  CONTINUE,
  type FilterStatus,
  type HttpFilter,
  type HttpStream,
  isLocalReply,
  type LocalReply,
  STOP,
} from './filters/filter.ts';
import { orderChecked } from './filters/order-check.ts';
import { PAUSE_STASH, PAUSE_UPSTREAM_FULL } from './flow-control.ts';
import {
  CODEC_AUTO,
  CODEC_HTTP2,
  FCC_ALWAYS_FORWARD_ONLY,
  FCC_FORWARD_ONLY,
  FCC_SANITIZE,
  FCC_SANITIZE_SET,
  type HcmConfig,
  SERVER_APPEND_IF_ABSENT,
  SERVER_OVERWRITE,
  SLASHES_KEEP,
  SLASHES_REJECT,
  SLASHES_UNESCAPE_AND_FORWARD,
  STRIP_PORT_ANY,
  STRIP_PORT_MATCHING,
} from './hcm-config.ts';
import {
  type EncodedField,
  encodeField,
  H_CONNECTION,
  H_CONTENT_LENGTH,
  H_CONTENT_TYPE,
  H_DATE,
  H_EXPECT,
  H_HOST,
  H_HTTP2_SETTINGS,
  H_KEEP_ALIVE,
  H_PROXY_CONNECTION,
  H_SERVER,
  H_TE,
  H_TRANSFER_ENCODING,
  H_UPGRADE,
  H_X_ENVOY_DECORATOR_OPERATION,
  H_X_ENVOY_DOWNSTREAM_SERVICE_CLUSTER,
  H_X_ENVOY_DOWNSTREAM_SERVICE_NODE,
  H_X_ENVOY_EXPECTED_RQ_TIMEOUT_MS,
  H_X_ENVOY_EXTERNAL_ADDRESS,
  H_X_ENVOY_FORCE_TRACE,
  H_X_ENVOY_HEDGE_ON_PER_TRY_TIMEOUT,
  H_X_ENVOY_INTERNAL,
  H_X_ENVOY_IP_TAGS,
  H_X_ENVOY_MAX_RETRIES,
  H_X_ENVOY_ORIGINAL_URL,
  H_X_ENVOY_RETRIABLE_HEADER_NAMES,
  H_X_ENVOY_RETRIABLE_STATUS_CODES,
  H_X_ENVOY_RETRY_GRPC_ON,
  H_X_ENVOY_RETRY_ON,
  H_X_ENVOY_UPSTREAM_ALT_STAT_NAME,
  H_X_ENVOY_UPSTREAM_RQ_PER_TRY_TIMEOUT_MS,
  H_X_ENVOY_UPSTREAM_RQ_TIMEOUT_ALT_RESPONSE,
  H_X_ENVOY_UPSTREAM_RQ_TIMEOUT_MS,
  H_X_ENVOY_UPSTREAM_STREAM_DURATION_MS,
  H_X_FORWARDED_CLIENT_CERT,
  H_X_FORWARDED_FOR,
  H_X_FORWARDED_PROTO,
  H_X_REQUEST_ID,
  HeaderMap,
} from './headers.ts';
import {
  type FormatContext,
  FV_DOWNSTREAM_DIRECT_REMOTE_ADDRESS,
  FV_DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT,
  FV_DOWNSTREAM_LOCAL_ADDRESS,
  FV_DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT,
  FV_DOWNSTREAM_LOCAL_PORT,
  FV_DOWNSTREAM_REMOTE_ADDRESS,
  FV_DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT,
  FV_DOWNSTREAM_REMOTE_PORT,
  FV_HOSTNAME,
  FV_PROTOCOL,
  FV_REQ,
  FV_RESP,
  FV_RESPONSE_CODE,
  FV_RESPONSE_FLAGS,
  FV_ROUTE_NAME,
  FV_START_TIME,
  HOSTNAME,
} from './router/header-mutation.ts';
import type { RequestView } from './router/matchers.ts';
import { MatchScratch, type RouteEntry, type RouteTable, stripPort } from './router/route-table.ts';

/** x-envoy-* request headers Envoy removes from external requests before any filter runs. */
const EXTERNAL_STRIPPED = [
  H_X_ENVOY_RETRY_ON,
  H_X_ENVOY_RETRY_GRPC_ON,
  H_X_ENVOY_MAX_RETRIES,
  H_X_ENVOY_UPSTREAM_ALT_STAT_NAME,
  H_X_ENVOY_UPSTREAM_RQ_TIMEOUT_MS,
  H_X_ENVOY_UPSTREAM_RQ_PER_TRY_TIMEOUT_MS,
  H_X_ENVOY_UPSTREAM_RQ_TIMEOUT_ALT_RESPONSE,
  H_X_ENVOY_EXPECTED_RQ_TIMEOUT_MS,
  H_X_ENVOY_FORCE_TRACE,
  H_X_ENVOY_IP_TAGS,
  H_X_ENVOY_ORIGINAL_URL,
  H_X_ENVOY_HEDGE_ON_PER_TRY_TIMEOUT,
  H_X_ENVOY_RETRIABLE_STATUS_CODES,
  H_X_ENVOY_RETRIABLE_HEADER_NAMES,
  H_X_ENVOY_UPSTREAM_STREAM_DURATION_MS,
];
/** Also removed on edge requests (use_remote_address and external). */
const EDGE_STRIPPED = [
  H_X_ENVOY_DECORATOR_OPERATION,
  H_X_ENVOY_DOWNSTREAM_SERVICE_CLUSTER,
  H_X_ENVOY_DOWNSTREAM_SERVICE_NODE,
];

const EMPTY = Buffer.alloc(0);
const NO_FILTERS: HttpFilter[] = Object.freeze([]) as unknown as HttpFilter[];
/** Bytes of pipelined input kept while a request is in flight before reading is paused. */
const STASH_LIMIT = 64 * 1024;
const CONTINUE_100 = Buffer.from('HTTP/1.1 100 Continue\r\n\r\n', 'latin1');

// Response framing chosen when the head is written.
const FRAME_NONE = 0;
const FRAME_LENGTH = 1;
const FRAME_CHUNKED = 2;
const FRAME_EOF = 3;
const FRAME_RAW = 4;

// x-request-id: UUIDv4 from a pool of CSPRNG bytes refilled 1,024 ids at a time, formatted into
// a scratch buffer (one string made per id, no per-byte concatenation).
const RID_POOL = Buffer.allocUnsafeSlow(16 * 1024);
let ridOffset = RID_POOL.length;
const RID_TEXT = Buffer.from('00000000-0000-4000-8000-000000000000', 'latin1');
const HEX_DIGITS = Buffer.from('0123456789abcdef', 'latin1');
/** Text positions of the 16 bytes (the dashes stay). */
const RID_AT = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];

export function newRequestId(): string {
  if (ridOffset === RID_POOL.length) {
    randomFillSync(RID_POOL);
    ridOffset = 0;
  }
  const p = RID_POOL;
  const o = ridOffset;
  ridOffset += 16;
  for (let i = 0; i < 16; i++) {
    let b = p[o + i];
    // Byte 6 carries the version (4), byte 8 the RFC 4122 variant (binary 10).
    if (i === 6) b = (b & 0x0f) | 0x40;
    else if (i === 8) b = (b & 0x3f) | 0x80;
    const at = RID_AT[i];
    RID_TEXT[at] = HEX_DIGITS[b >> 4];
    RID_TEXT[at + 1] = HEX_DIGITS[b & 0x0f];
  }
  return latin1Slice(RID_TEXT, 0, 36);
}

// Response headers every response carries, encoded once (per second for date, per name for server).
let dateCache: EncodedField = encodeField('date', httpDate());
const serverFields = new Map<string, EncodedField>();

function dateField(): EncodedField {
  const d = httpDate();
  if (d !== dateCache.value) dateCache = encodeField('date', d);
  return dateCache;
}

let lastServerField = encodeField('server', 'envoy');

function serverField(name: string): EncodedField {
  // Almost always the same name: one string compare before the map.
  if (name === lastServerField.value) return lastServerField;
  let f = serverFields.get(name);
  if (f === undefined) {
    // Names come from listener config; the cap only guards against unbounded config churn.
    if (serverFields.size >= 64) serverFields.clear();
    f = encodeField('server', name);
    serverFields.set(name, f);
  }
  lastServerField = f;
  return f;
}

export class HttpConnection implements H1ParserHandler {
  readonly socket: Socket;
  readonly config: HcmConfig;
  readonly info: ConnectionInfo;
  readonly parser: H1Parser;
  readonly writer: WriteBuffer;
  stream: ActiveStream | null = null;
  private stash: Buffer | null = null;
  private driving = false;
  private closed = false;
  /** A response with `connection: close` went out; the socket ends when it is flushed. */
  private closing = false;
  draining = false;
  requestsServed = 0;
  readonly timer: LazyTimer;
  lastActivity: number;
  private idleDeadline = 0;
  /** When the bytes of a still-incomplete head started arriving. */
  private headStartedAt = 0;
  private readonly createdAt: number;
  /** Why reading is paused (PAUSE_* bits); reading resumes when none is left. */
  private pausedFor = 0;
  readonly scratch: MatchScratch;
  private delayedClose: NodeJS.Timeout | undefined;
  bytesIn = 0;
  /** Raw pipe after an accepted upgrade. */
  upgraded = false;
  private onClosed: ((conn: HttpConnection) => void) | undefined;
  /** The HTTP/2 codec, once the connection speaks HTTP/2 (then the H1 parser is unused). */
  h2: H2Downstream | null = null;
  /** AUTO on cleartext: the first bytes decide between HTTP/1.1 and the HTTP/2 preface. */
  private sniff = false;

  constructor(
    socket: Socket,
    config: HcmConfig,
    info: ConnectionInfo,
    onClosed?: (conn: HttpConnection) => void,
  ) {
    this.socket = socket;
    this.config = config;
    this.info = info;
    this.onClosed = onClosed;
    this.parser = new H1Parser(KIND_REQUEST, this, {
      maxHeaderBytes: config.maxRequestHeadersBytes,
      maxHeaderCount: config.common.maxHeadersCount,
      underscores: config.common.underscores,
    });
    this.writer = new WriteBuffer(socket);
    this.timer = new LazyTimer(this.onTimer);
    this.scratch = new MatchScratch(config.random);
    const now = Date.now();
    this.createdAt = now;
    this.lastActivity = now;
    const st = config.stats;
    st.downstreamCxTotal.value++;
    st.downstreamCxActive.value++;
    st.downstreamCxHttp1Total.value++;
    st.downstreamCxHttp1Active.value++;
    socket.setNoDelay(true);
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onClose);
    socket.on('error', this.onError);
    this.armIdle(now);
    if (config.common.maxConnectionDurationMs > 0)
      this.timer.wakeAt(now + config.common.maxConnectionDurationMs);
    const alpn = (socket as Partial<TLSSocket>).alpnProtocol;
    if (config.codec === CODEC_HTTP2 || (config.codec === CODEC_AUTO && alpn === 'h2')) {
      this.startH2(null);
      return;
    }
    this.sniff = config.codec === CODEC_AUTO && !info.secure;
    // HTTP/1.1 for sure: read directly (plain TCP only). Sniffing switches once it is decided,
    // since HTTP/2 needs the stream path.
    if (!this.sniff && !info.secure) readDirect(socket, this.onData);
    if (config.requestHeadersTimeoutMs > 0) this.timer.wakeAt(now + config.requestHeadersTimeoutMs);
  }

  /** Switches this connection to HTTP/2; `initial` holds bytes already read (the preface). */
  private startH2(initial: Buffer | null): void {
    const st = this.config.stats;
    st.downstreamCxHttp1Total.value--;
    st.downstreamCxHttp1Active.value--;
    st.downstreamCxHttp2Total.value++;
    st.downstreamCxHttp2Active.value++;
    this.socket.removeListener('data', this.onData);
    this.socket.removeListener('end', this.onEnd);
    this.stash = null;
    this.h2 = new H2Downstream(this, initial);
  }

  private armIdle(now: number): void {
    const t = this.config.common.idleTimeoutMs;
    if (t > 0) {
      this.idleDeadline = now + t;
      this.timer.wakeAt(this.idleDeadline);
    }
  }

  // Reading.

  private onData = (chunk: Buffer): void => {
    this.bytesIn += chunk.length;
    this.config.stats.downstreamCxRxBytesTotal.value += chunk.length;
    this.lastActivity = Date.now();
    if (this.closed) return;
    if (this.stash === null) this.stash = chunk;
    else this.stash = Buffer.concat([this.stash, chunk]);
    if (this.sniff) {
      const m = matchH2Preface(this.stash);
      if (m < 0) return; // a prefix of the preface so far: wait for more
      this.sniff = false;
      if (m > 0) {
        // The HTTP/2 codec counts its own bytes from here (it re-reads these).
        this.bytesIn -= this.stash.length;
        this.config.stats.downstreamCxRxBytesTotal.value -= this.stash.length;
        this.startH2(this.stash);
        return;
      }
      if (!this.info.secure) readDirect(this.socket, this.onData);
    }
    enterIo();
    try {
      this.drive();
    } finally {
      exitIo();
    }
  };

  /** Parses stashed input while the connection can take the next message. */
  drive(): void {
    if (this.driving) return;
    this.driving = true;
    try {
      while (this.stash !== null && !this.closed && !this.closing) {
        if (this.parser.isDone) {
          if (this.stream !== null) break; // waiting for the response of the previous request
          this.parser.next();
        }
        const buf = this.stash;
        this.stash = null;
        const wasIdle = this.parser.isIdle;
        const n = this.parser.execute(buf);
        if (wasIdle && this.parser.inHead && this.config.requestHeadersTimeoutMs > 0) {
          // The first bytes of a head: its deadline runs from now, whatever trickles in later.
          this.headStartedAt = Date.now();
          this.timer.wakeAt(this.headStartedAt + this.config.requestHeadersTimeoutMs);
        }
        if (this.parser.isError) {
          this.onCodecError();
          break;
        }
        if (n < buf.length) this.stash = n === 0 ? buf : buf.subarray(n);
        if (!this.parser.isDone) break;
      }
    } finally {
      this.driving = false;
    }
    // Bound what we hold for pipelined requests.
    if (this.stash !== null && this.stash.length > STASH_LIMIT) this.pauseFor(PAUSE_STASH);
    else if (this.stash === null) this.resumeFor(PAUSE_STASH);
  }

  /** Stops reading the client for `reason` until resumeFor(reason). */
  pauseFor(reason: number): void {
    if (this.pausedFor === 0 && !this.closed) this.socket.pause();
    this.pausedFor |= reason;
  }

  resumeFor(reason: number): void {
    if ((this.pausedFor & reason) === 0) return;
    this.pausedFor &= ~reason;
    if (this.pausedFor === 0 && !this.closed) this.socket.resume();
  }

  // Pausable (the upstream writer throttles this connection when it is full).
  pauseReading(): void {
    this.pauseFor(PAUSE_UPSTREAM_FULL);
  }

  resumeReading(): void {
    this.resumeFor(PAUSE_UPSTREAM_FULL);
  }

  // H1ParserHandler.

  onMessageHead(p: H1Parser): number {
    const now = Date.now();
    this.idleDeadline = 0;
    const s = new ActiveStream(this, p.headers, p.method, p.methodCode, p.versionMinor, now);
    this.stream = s;
    this.requestsServed++;
    const st = this.config.stats;
    st.downstreamRqTotal.value++;
    st.downstreamRqHttp1Total.value++;
    st.downstreamRqActive.value++;
    return s.start(p);
  }

  onBody(buf: Buffer, start: number, end: number): void {
    const s = this.stream;
    if (s === null || s.done) return;
    s.bytesReceived += end - start;
    s.decodeData(start === 0 && end === buf.length ? buf : buf.subarray(start, end), false);
  }

  onTrailers(p: H1Parser): void {
    const s = this.stream;
    if (s === null || s.done) return;
    s.decodeTrailers(p.trailers);
  }

  onMessageComplete(_p: H1Parser): boolean {
    const s = this.stream;
    if (s !== null && !s.done) s.decodeComplete();
    // Stop here: the next request is parsed once this one's response is done.
    return true;
  }

  private onCodecError(): void {
    const p = this.parser;
    const st = this.config.stats;
    st.downstreamCxProtocolError.value++;
    if (p.errorStatus === 431) st.downstreamRqTooLarge.value++;
    const s = this.stream;
    if (s !== null && !s.done) {
      // Error inside a body or trailers: the response may have started; reset.
      s.responseFlags |= RF_DOWNSTREAM_PROTOCOL_ERROR;
      if (!s.headersWritten) {
        s.closeAfter = true;
        s.sendLocalReply({
          status: p.errorStatus,
          body: '',
          details: p.errorDetails,
          flags: RF_DOWNSTREAM_PROTOCOL_ERROR,
        });
      } else s.reset(RF_DOWNSTREAM_PROTOCOL_ERROR, p.errorDetails);
      this.closeGracefully();
      return;
    }
    // Error in a head: answer without a stream object.
    this.writeSimpleReply(p.errorStatus, p.errorDetails, p.versionMinor);
    this.closeGracefully();
  }

  /** A reply for requests that never became streams (codec errors). */
  private writeSimpleReply(status: number, details: string, minor: number): void {
    const body =
      status === 431 || status === 400 || status === 413 || status === 501 || status === 505 ? '' : details;
    const w = this.writer;
    const line = statusLine(status, minor === 0 ? 0 : 1);
    w.copy(line, 0, line.length);
    w.latin1(`content-length: ${body.length}\r\n`);
    if (body.length > 0) w.latin1('content-type: text/plain\r\n');
    w.latin1(`date: ${httpDate()}\r\n`);
    if (this.config.serverTransform !== 2) w.latin1(`server: ${this.config.serverName}\r\n`);
    w.latin1('connection: close\r\n\r\n');
    if (body.length > 0) w.latin1(body);
    this.config.stats.downstreamRqCodes.record(status);
  }

  private onEnd = (): void => {
    // The client half-closed. Finish a close-delimited upgrade, else end once idle.
    if (this.closed) return;
    const s = this.stream;
    if (s !== null && !s.done) {
      if (this.upgraded) {
        s.decodeComplete();
        return;
      }
      if (!s.requestComplete) {
        s.reset(RF_DOWNSTREAM_CONNECTION_TERMINATION, 'downstream_remote_disconnect');
        this.destroy();
        return;
      }
      // Request complete: let the response finish, then close.
      s.closeAfter = true;
      return;
    }
    this.closeGracefully();
  };

  private onError = (): void => {
    // 'close' follows; the reason is not needed beyond the stats it implies.
  };

  private onClose = (): void => {
    if (this.closed) return;
    this.closed = true;
    this.timer.close();
    if (this.delayedClose) clearTimeout(this.delayedClose);
    const st = this.config.stats;
    st.downstreamCxActive.value--;
    st.downstreamCxDestroy.value++;
    if (this.closing) st.downstreamCxDestroyLocal.value++;
    else st.downstreamCxDestroyRemote.value++;
    if (this.h2 !== null) {
      st.downstreamCxHttp2Active.value--;
      this.h2.onSocketClosed();
      this.writer.detach();
      this.onClosed?.(this);
      return;
    }
    st.downstreamCxHttp1Active.value--;
    st.downstreamCxTxBytesTotal.value += this.writer.bytesWritten;
    const s = this.stream;
    if (s !== null && !s.done) {
      st.downstreamCxDestroyActiveRq.value++;
      st.downstreamRqRxReset.value++;
      s.reset(RF_DOWNSTREAM_CONNECTION_TERMINATION, 'downstream_remote_disconnect');
    }
    this.writer.detach();
    this.onClosed?.(this);
  };

  // Stream completion.

  /** Called by a stream when it is fully done (response sent and request read, or reset). */
  streamFinished(s: ActiveStream): void {
    if (s.h2 !== null) {
      this.h2?.streamFinished(s);
      return;
    }
    if (this.stream !== s) return;
    this.stream = null;
    const now = Date.now();
    const maxReq = this.config.common.maxRequestsPerConnection;
    if (maxReq > 0 && this.requestsServed >= maxReq) {
      this.config.stats.downstreamCxMaxRequestsReached.value++;
      s.closeAfter = true;
    }
    if (s.closeAfter || this.draining || this.upgraded) {
      if (this.draining) this.config.stats.downstreamCxDrainClose.value++;
      this.closeGracefully();
      return;
    }
    this.armIdle(now);
    if (this.config.requestHeadersTimeoutMs > 0 && this.stash !== null)
      this.timer.wakeAt(now + this.config.requestHeadersTimeoutMs);
    if (this.stash !== null) this.drive();
    else if (this.parser.isDone) this.parser.next();
  }

  /** Ends the connection once queued output is written (FIN, then a bounded wait). */
  closeGracefully(): void {
    if (this.h2 !== null) {
      this.h2.drain();
      return;
    }
    if (this.closed || this.closing) {
      if (this.closing) this.writer.flush();
      return;
    }
    this.closing = true;
    this.stash = null;
    this.writer.end();
    const t = this.config.delayedCloseTimeoutMs;
    if (t > 0) {
      this.delayedClose = setTimeout(this.destroy, t);
      this.delayedClose.unref();
    } else this.destroy();
  }

  destroy = (): void => {
    if (this.closed) return;
    this.closing = true;
    this.timer.close();
    if (this.delayedClose) clearTimeout(this.delayedClose);
    this.delayedClose = undefined;
    this.writer.flush();
    this.h2?.destroy();
    this.socket.destroy();
  };

  /** The HTTP/2 codec is closing the connection itself (GOAWAY sent, or destroyed). */
  h2Closing(): void {
    this.closing = true;
  }

  /** Stops new requests (listener drain): idle connections close, busy ones after the response. */
  drain(): void {
    this.draining = true;
    if (this.h2 !== null) {
      this.h2.drain();
      return;
    }
    if (this.stream === null && !this.closing) {
      this.config.stats.downstreamCxDrainClose.value++;
      this.closeGracefully();
    }
  }

  private onTimer = (now: number): void => {
    if (this.closed) return;
    const c = this.config;
    const mcd = c.common.maxConnectionDurationMs;
    if (mcd > 0) {
      if (now - this.createdAt >= mcd) {
        if (!this.draining) c.stats.downstreamCxMaxDurationReached.value++;
        this.draining = true;
        if (this.h2 !== null) this.h2.drain();
        else if (this.stream === null) {
          this.closeGracefully();
          return;
        }
      } else this.timer.wakeAt(this.createdAt + mcd);
    }
    if (this.h2 !== null) {
      this.h2.onTimer(now);
      return;
    }
    const s = this.stream;
    if (s !== null) {
      s.checkDeadlines(now);
    } else {
      if (this.idleDeadline > 0) {
        if (now >= this.idleDeadline) {
          c.stats.downstreamCxIdleTimeout.value++;
          this.closeGracefully();
          return;
        }
        this.timer.wakeAt(this.idleDeadline);
      }
      // Headers of the next request are overdue.
      if (c.requestHeadersTimeoutMs > 0 && this.parser.inHead) {
        const deadline = this.headStartedAt + c.requestHeadersTimeoutMs;
        if (now >= deadline) {
          c.stats.downstreamRqHeaderTimeout.value++;
          this.writeSimpleReply(408, 'request header timeout', 1);
          this.closeGracefully();
          return;
        }
        this.timer.wakeAt(deadline);
      }
    }
  };

  get isClosed(): boolean {
    return this.closed;
  }
}

/** Per-request state and the filter chain. */
export class ActiveStream implements HttpStream, RequestView, FormatContext {
  readonly conn: HttpConnection;
  readonly hcm: HcmConfig;
  readonly connection: ConnectionInfo;
  readonly requestHeaders: HeaderMap;
  readonly method: string;
  readonly methodCode: number;
  path = '';
  authority = '';
  scheme = 'http';
  readonly versionMinor: number;
  upstreamCluster: string | undefined = undefined;
  upstreamHost: Host | undefined = undefined;
  requestId = '';
  internal = false;
  downstreamAddress: string;
  routeTable: RouteTable | undefined;
  private routeResolved = false;
  private routeValue: RouteEntry | undefined;
  /** Set once by createFilters; streams answered before that share the frozen empty list. */
  filters: HttpFilter[] = NO_FILTERS;
  readonly startTime: number;
  bytesReceived = 0;
  bytesSent = 0;
  /** The request has a body (or is an upgrade whose bytes follow). */
  expectBody = false;
  requestComplete = false;
  headersWritten = false;
  responseComplete = false;
  done = false;
  closeAfter = false;
  /** Accepted upgrade type (lowercase), when the request is an upgrade being proxied. */
  upgradeType: string | undefined;
  responseStatus = 0;
  responseHeaders: HeaderMap | undefined;
  responseFlags = 0;
  responseCodeDetails = '';
  private framing = FRAME_NONE;
  // Filter iteration state.
  private decodeStopped = false;
  private decodeResumeAt = 0;
  private decodeHeadersPending = false;
  private decodeQueue: { data: Buffer; end: boolean; from: number }[] | null = null;
  private trailersQueued: HeaderMap | undefined;
  private encodePending: EncodePending | null = null;
  private hasEncodeFilters = false;
  /** Some filter reads response bodies (most only look at heads: no per-chunk work then). */
  private hasResponseBodyFilters = false;
  // Deadlines (0 = none).
  private idleTimeoutMs: number;
  private requestDeadline = 0;
  private maxDurationDeadline = 0;
  /** Set when a local reply is being written (filters must not write more). */
  private replying = false;
  private continueSent = false;
  /** The HTTP/2 stream this request arrived on (null for HTTP/1.x). */
  h2: H2StreamIo | null = null;

  constructor(
    conn: HttpConnection,
    headers: HeaderMap,
    method: string,
    methodCode: number,
    versionMinor: number,
    now: number,
  ) {
    this.conn = conn;
    this.hcm = conn.config;
    this.connection = conn.info;
    this.requestHeaders = headers;
    this.method = method;
    this.methodCode = methodCode;
    this.versionMinor = versionMinor;
    this.startTime = now;
    this.downstreamAddress = conn.info.remoteAddress;
    this.idleTimeoutMs = this.hcm.streamIdleTimeoutMs;
    this.routeTable = this.hcm.routes.current();
    this.scheme = conn.info.secure ? 'https' : 'http';
  }

  /** Runs everything that happens on the request head; returns the parser action. */
  start(p: H1Parser): number {
    const c = this.hcm;
    this.armDeadlines();
    if (p.connClose || (p.versionMinor === 0 && !p.connKeepAlive)) this.closeAfter = true;
    this.expectBody = p.chunked || p.contentLength > 0;

    // HTTP/1.0 must be enabled explicitly (Envoy answers 426 otherwise).
    if (p.versionMinor === 0 && !c.http1.acceptHttp10) {
      this.closeAfter = true;
      this.sendLocalReply({ status: 426, body: '', details: 'low_version' });
      return HEAD_CONTINUE;
    }
    if (p.methodCode === METHOD_CONNECT) {
      this.closeAfter = true;
      this.sendLocalReply({ status: 403, body: '', details: 'upgrade_failed' });
      return HEAD_CONTINUE;
    }
    if (!this.resolveTarget(p.target(), p.versionMinor)) return HEAD_CONTINUE;
    this.sanitizeHeaders(p.upgradeRequested, `1.${p.versionMinor}`);

    // Upgrades (WebSocket and friends); h2c upgrades are declined by ignoring them.
    let action = HEAD_CONTINUE;
    if (p.upgradeRequested) {
      const h = this.requestHeaders;
      const type = (h.getKnown(H_UPGRADE) ?? '').split(',')[0].trim().toLowerCase();
      if (type === 'h2c') {
        h.removeKnown(H_UPGRADE);
        h.removeKnown(H_HTTP2_SETTINGS);
      } else {
        const route = this.route;
        const routeSays = route?.upgrades.get(type);
        const allowed = routeSays ?? c.upgrades.get(type) ?? false;
        if (!allowed || (routeSays === undefined && !c.upgrades.has(type))) {
          c.stats.downstreamRqWsOnNonWsRoute.value++;
          this.closeAfter = true;
          this.sendLocalReply({ status: 403, body: '', details: 'upgrade_failed' });
          return HEAD_CONTINUE;
        }
        this.upgradeType = type;
        this.expectBody = true;
        action = HEAD_UPGRADE;
        c.stats.downstreamCxUpgradesTotal.value++;
        c.stats.downstreamCxUpgradesActive.value++;
      }
    }
    if (p.expectContinue && action !== HEAD_UPGRADE) {
      if (!c.proxy100Continue) {
        // Envoy answers 100-continue itself and does not forward Expect.
        this.requestHeaders.removeKnown(H_EXPECT);
        this.continueSent = true;
        const w = this.conn.writer;
        w.copy(CONTINUE_100, 0, CONTINUE_100.length);
      }
    }

    this.createFilters();
    this.runDecodeHeaders(0, !this.expectBody);
    return action;
  }

  /**
   * Runs everything that happens on an HTTP/2 request head (pseudo-headers already mapped:
   * `host` carries :authority). The codec calls decodeComplete afterwards when endStream.
   */
  startH2(target: string, endStream: boolean): void {
    this.armDeadlines();
    this.expectBody = !endStream;
    if (this.methodCode === METHOD_CONNECT) {
      this.sendLocalReply({ status: 403, body: '', details: 'upgrade_failed' });
      return;
    }
    if (!this.resolveTarget(target, 1)) return;
    this.sanitizeHeaders(false, '2');
    this.createFilters();
    this.runDecodeHeaders(0, endStream);
  }

  private armDeadlines(): void {
    const c = this.hcm;
    const now = this.startTime;
    if (this.idleTimeoutMs > 0) this.conn.timer.wakeAt(now + this.idleTimeoutMs);
    if (c.requestTimeoutMs > 0) {
      this.requestDeadline = now + c.requestTimeoutMs;
      this.conn.timer.wakeAt(this.requestDeadline);
    }
    if (c.common.maxStreamDurationMs > 0) {
      this.maxDurationDeadline = now + c.common.maxStreamDurationMs;
      this.conn.timer.wakeAt(this.maxDurationDeadline);
    }
  }

  private createFilters(): void {
    const c = this.hcm;
    const factories = c.filterFactories;
    // Sized once: pushing would grow the array's backing store per stream.
    const filters: HttpFilter[] = new Array(factories.length);
    this.filters = filters;
    for (let i = 0; i < factories.length; i++) {
      let f = factories[i].create(this);
      if (c.assertFilterOrder) f = orderChecked(f, factories[i].name);
      filters[i] = f;
      if (
        f.onResponseHeaders !== undefined ||
        f.onResponseBody !== undefined ||
        f.onResponseTrailers !== undefined
      ) {
        this.hasEncodeFilters = true;
      }
      if (f.onResponseBody !== undefined) this.hasResponseBodyFilters = true;
    }
  }

  /** Request target → path and authority; false when a reply was sent. */
  private resolveTarget(requestTarget: string, versionMinor: number): boolean {
    const c = this.hcm;
    const h = this.requestHeaders;
    let target = requestTarget;
    let authority: string | undefined;
    const c0 = target.charCodeAt(0);
    if (c0 !== 47 /* '/' */) {
      if (target === '*' && this.methodCode === 6 /* OPTIONS */) {
        // asterisk-form: routed as "*", which only exact routes can match.
      } else if (/^https?:\/\//i.test(target)) {
        if (!c.http1.allowAbsoluteUrl) {
          c.stats.downstreamRqNonRelativePath.value++;
          this.closeAfter = true;
          this.sendLocalReply({ status: 400, body: '', details: 'absolute_path_rejected' });
          return false;
        }
        const schemeEnd = target.indexOf('://');
        const urlScheme = target.slice(0, schemeEnd).toLowerCase();
        if (urlScheme === 'https' && !this.connection.secure) {
          this.closeAfter = true;
          this.sendLocalReply({ status: 400, body: '', details: 'http1.invalid_scheme' });
          return false;
        }
        const rest = target.slice(schemeEnd + 3);
        const slash = rest.search(/[/?]/);
        authority = slash < 0 ? rest : rest.slice(0, slash);
        target = slash < 0 ? '/' : rest[slash] === '?' ? `/${rest.slice(slash)}` : rest.slice(slash);
        if (authority === '' || authority.includes('@')) {
          this.closeAfter = true;
          this.sendLocalReply({ status: 400, body: '', details: 'http1.invalid_url' });
          return false;
        }
      } else {
        c.stats.downstreamRqNonRelativePath.value++;
        this.closeAfter = true;
        this.sendLocalReply({ status: 400, body: '', details: 'http1.invalid_url' });
        return false;
      }
    }
    // Escaped slashes, normalisation, slash merging (Envoy's order).
    if (c.escapedSlashes !== SLASHES_KEEP && hasEscapedSlashes(target)) {
      if (c.escapedSlashes === SLASHES_REJECT) {
        this.closeAfter = true;
        this.sendLocalReply({ status: 400, body: '', details: 'path_normalization_failed' });
        return false;
      }
      const unescaped = unescapeSlashes(target);
      if (c.escapedSlashes !== SLASHES_UNESCAPE_AND_FORWARD) {
        const fixed = this.normalize(unescaped);
        if (fixed === undefined) return false;
        this.authority = authority ?? h.getKnown(H_HOST) ?? '';
        this.path = fixed;
        this.sendLocalReply({
          status: 307,
          body: '',
          details: 'path_normalization_redirect',
          headers: [['location', fixed]],
        });
        return false;
      }
      target = unescaped;
    }
    const normalized = this.normalize(target);
    if (normalized === undefined) return false;
    this.path = normalized;

    // Authority.
    if (authority !== undefined) {
      h.removeKnown(H_HOST);
      h.addKnown(H_HOST, authority);
    } else {
      authority = h.getKnown(H_HOST);
      if (authority === undefined) {
        if (c.http1.defaultHostForHttp10 !== '' && versionMinor === 0) {
          authority = c.http1.defaultHostForHttp10;
          h.addKnown(H_HOST, authority);
        } else {
          authority = '';
        }
      }
    }
    if (authority === '' && versionMinor === 1) {
      this.closeAfter = true;
      this.sendLocalReply({ status: 400, body: '', details: 'missing_host_header' });
      return false;
    }
    let a = authority;
    if (c.stripTrailingHostDot) {
      const hostOnly = stripPort(a);
      if (hostOnly.endsWith('.')) a = hostOnly.slice(0, -1) + a.slice(hostOnly.length);
    }
    if (c.stripPort === STRIP_PORT_ANY) a = stripPort(a);
    else if (c.stripPort === STRIP_PORT_MATCHING) {
      const hostOnly = stripPort(a);
      if (hostOnly.length < a.length && a.slice(hostOnly.length + 1) === String(this.connection.localPort))
        a = hostOnly;
    }
    if (a !== authority) {
      h.removeKnown(H_HOST);
      h.addKnown(H_HOST, a);
    }
    this.authority = a;
    return true;
  }

  private normalize(target: string): string | undefined {
    const c = this.hcm;
    let t = target;
    if (c.normalizePath && t !== '*') {
      const n = normalizePath(t);
      if (n === undefined) {
        this.closeAfter = true;
        this.sendLocalReply({ status: 400, body: '', details: 'path_normalization_failed' });
        return undefined;
      }
      t = n;
    }
    if (c.mergeSlashes) t = mergeSlashes(t);
    return t;
  }

  /** Hop-by-hop removal and Envoy's request header mutations (XFF, XFP, internal, request id). */
  private sanitizeHeaders(upgrade: boolean, viaVersion: string): void {
    const c = this.hcm;
    const h = this.requestHeaders;
    // Hop-by-hop (RFC 9110 §7.6.1); framing headers are regenerated on the upstream side.
    h.removeKnown(H_CONNECTION);
    h.removeKnown(H_KEEP_ALIVE);
    h.removeKnown(H_PROXY_CONNECTION);
    h.removeKnown(H_TRANSFER_ENCODING);
    if (!upgrade) h.removeKnown(H_UPGRADE);
    if (h.hasKnown(H_TE)) {
      const te = h.getKnown(H_TE);
      h.removeKnown(H_TE);
      // "trailers" is the one TE value that means something end to end.
      if (te?.split(',').some((v) => v.trim().toLowerCase() === 'trailers')) h.addKnown(H_TE, 'trailers');
    }

    // Trusted client address and internal/external origin.
    const remote = this.connection.remoteAddress;
    const xff = h.hasKnown(H_X_FORWARDED_FOR) ? h.getKnown(H_X_FORWARDED_FOR) : undefined;
    const hops = c.xffNumTrustedHops;
    if (c.useRemoteAddress) {
      this.downstreamAddress = remote;
      if (hops > 0 && xff !== undefined) {
        const list = splitXff(xff);
        if (list.length >= hops) this.downstreamAddress = list[list.length - hops];
      }
      this.internal = xff === undefined && isInternalAddress(remote, c.internalRanges);
      if (!c.skipXffAppend) {
        h.removeKnown(H_X_FORWARDED_FOR);
        h.addKnown(H_X_FORWARDED_FOR, xff === undefined ? remote : `${xff},${remote}`);
      }
    } else {
      if (xff !== undefined) {
        const list = splitXff(xff);
        if (list.length >= hops + 1) this.downstreamAddress = list[list.length - 1 - hops];
        this.internal = list.length === 1 && isInternalAddress(list[0], c.internalRanges);
      } else {
        this.internal = false;
      }
    }
    // x-forwarded-proto is trusted only behind trusted hops.
    const scheme = this.connection.secure ? 'https' : 'http';
    if (hops === 0 || !h.hasKnown(H_X_FORWARDED_PROTO)) {
      h.setKnown(H_X_FORWARDED_PROTO, scheme);
      this.scheme = scheme;
    } else {
      const v = (h.getKnown(H_X_FORWARDED_PROTO) ?? scheme).toLowerCase();
      this.scheme = v === 'https' ? 'https' : 'http';
    }
    if (c.schemeOverwrite !== undefined) {
      this.scheme = c.schemeOverwrite;
      h.setKnown(H_X_FORWARDED_PROTO, c.schemeOverwrite);
    }
    if (c.appendXForwardedPort && !h.has('x-forwarded-port'))
      h.add('x-forwarded-port', String(this.connection.localPort));

    // Internal-only headers.
    h.removeKnown(H_X_ENVOY_INTERNAL);
    const edge = !this.internal && c.useRemoteAddress;
    if (this.internal) {
      h.addKnown(H_X_ENVOY_INTERNAL, 'true');
    } else {
      if (edge) for (const id of EDGE_STRIPPED) h.removeKnown(id);
      if (h.hasEnvoyHeaders()) for (const id of EXTERNAL_STRIPPED) h.removeKnown(id);
      const table = this.routeTable;
      if (table !== undefined) for (const name of table.internalOnlyHeaders) h.remove(name);
    }
    if (edge) h.setKnown(H_X_ENVOY_EXTERNAL_ADDRESS, this.downstreamAddress);

    // x-forwarded-client-cert: plaintext connections have no client certificate to add.
    switch (c.forwardClientCertDetails) {
      case FCC_SANITIZE:
      case FCC_SANITIZE_SET:
        h.removeKnown(H_X_FORWARDED_CLIENT_CERT);
        break;
      case FCC_FORWARD_ONLY:
        if (!this.connection.secure) h.removeKnown(H_X_FORWARDED_CLIENT_CERT);
        break;
      case FCC_ALWAYS_FORWARD_ONLY:
        break;
      default:
        // APPEND_FORWARD: forward; with mTLS the current cert would be appended (security layer).
        if (!this.connection.secure) h.removeKnown(H_X_FORWARDED_CLIENT_CERT);
    }

    // x-request-id.
    if (c.generateRequestId) {
      let id = h.hasKnown(H_X_REQUEST_ID) ? h.getKnown(H_X_REQUEST_ID) : undefined;
      const keep = id !== undefined && id !== '' && (this.internal || c.preserveExternalRequestId);
      if (!keep) {
        if (id !== undefined) h.removeKnown(H_X_REQUEST_ID);
        id = newRequestId();
        h.addKnown(H_X_REQUEST_ID, id);
      }
      this.requestId = id!;
    } else {
      this.requestId = h.getKnown(H_X_REQUEST_ID) ?? '';
    }
    if (c.via !== '') h.add('via', `${viaVersion} ${c.via}`);
  }

  // HttpStream.

  get route(): RouteEntry | undefined {
    if (!this.routeResolved) {
      this.routeResolved = true;
      const t = this.routeTable;
      if (t !== undefined) {
        const scratch = this.conn.scratch;
        scratch.reset();
        this.routeValue = t.route(this, scratch);
      }
    }
    return this.routeValue;
  }

  get protocol(): string {
    if (this.h2 !== null) return 'HTTP/2';
    return this.versionMinor === 0 ? 'HTTP/1.0' : 'HTTP/1.1';
  }

  /** The request body has no declared length (chunked on HTTP/1.1; no content-length on h2). */
  get requestChunked(): boolean {
    if (this.h2 !== null) return !this.requestHeaders.hasKnown(H_CONTENT_LENGTH);
    return this.conn.parser.chunked;
  }

  /** What stops and restarts reading this request's body (the socket, or the h2 stream). */
  get requestSource(): Pausable {
    return this.h2 ?? this.conn;
  }

  pauseRequestFor(reason: number): void {
    if (this.h2 !== null) this.h2.pauseFor(reason);
    else this.conn.pauseFor(reason);
  }

  resumeRequestFor(reason: number): void {
    if (this.h2 !== null) this.h2.resumeFor(reason);
    else this.conn.resumeFor(reason);
  }

  /** Pauses `source` (an upstream reader) while the downstream side cannot take more. */
  throttleResponseSource(source: Pausable): void {
    if (this.h2 !== null) this.h2.throttle(source);
    else this.conn.writer.throttle(source);
  }

  private touch(now: number): void {
    this.conn.lastActivity = now;
    if (this.h2 !== null) this.h2.lastActivity = now;
  }

  private get lastActivity(): number {
    return this.h2 !== null ? this.h2.lastActivity : this.conn.lastActivity;
  }

  clearRouteCache(): void {
    this.routeResolved = false;
    this.routeValue = undefined;
  }

  perFilterConfig(filterName: string): unknown {
    const r = this.route;
    if (r === undefined) return undefined;
    return r.perFilterConfig.get(filterName) ?? r.vhost.perFilterConfig.get(filterName);
  }

  get headers(): HeaderMap {
    return this.requestHeaders;
  }

  addResponseFlag(flag: number): void {
    this.responseFlags |= flag;
  }

  get isGrpc(): boolean {
    return this.requestHeaders.knownStartsWith(H_CONTENT_TYPE, 'application/grpc');
  }

  // Decode path.

  private runDecodeHeaders(from: number, endStream: boolean): void {
    const fs = this.filters;
    for (let i = from; i < fs.length; i++) {
      const f = fs[i];
      if (f.onRequestHeaders === undefined) continue;
      const r = f.onRequestHeaders(this, endStream);
      if (this.done || this.replying) return;
      if (r === CONTINUE) continue;
      if (r === STOP) {
        this.decodeStopped = true;
        this.decodeHeadersPending = true;
        this.decodeResumeAt = i + 1;
        return;
      }
      this.sendLocalReply(r);
      return;
    }
  }

  decodeData(data: Buffer, end: boolean): void {
    if (this.done || this.replying) return;
    this.touch(Date.now());
    if (this.decodeStopped) {
      (this.decodeQueue ??= []).push({ data, end, from: 0 });
      return;
    }
    this.runDecodeData(data, end, 0);
  }

  private runDecodeData(data: Buffer, end: boolean, from: number): void {
    const fs = this.filters;
    for (let i = from; i < fs.length; i++) {
      const f = fs[i];
      if (f.onRequestBody === undefined) continue;
      const r: FilterStatus = f.onRequestBody(this, data, end);
      if (this.done || this.replying) return;
      if (r === CONTINUE) continue;
      if (r === STOP) {
        this.decodeStopped = true;
        this.decodeResumeAt = i + 1;
        // This chunk resumes at the next filter; later chunks queue in full.
        (this.decodeQueue ??= []).unshift({ data, end, from: i + 1 });
        return;
      }
      this.sendLocalReply(r);
      return;
    }
  }

  decodeTrailers(trailers: HeaderMap): void {
    if (this.done || this.replying) return;
    if (this.decodeStopped) {
      this.trailersQueued = trailers;
      return;
    }
    this.runDecodeTrailers(trailers);
  }

  private runDecodeTrailers(trailers: HeaderMap): void {
    for (const f of this.filters) {
      if (f.onRequestTrailers === undefined) continue;
      const r = f.onRequestTrailers(this, trailers);
      if (this.done || this.replying) return;
      if (isLocalReply(r)) {
        this.sendLocalReply(r);
        return;
      }
    }
  }

  /** The downstream request ended (after all body and trailers). */
  decodeComplete(): void {
    if (this.requestComplete) return;
    this.requestComplete = true;
    this.requestDeadline = 0;
    if (this.done) return;
    if (this.expectBody) this.decodeData(EMPTY, true);
    this.maybeFinish();
  }

  continueDecoding(): void {
    if (!this.decodeStopped || this.done) return;
    this.decodeStopped = false;
    if (this.decodeHeadersPending) {
      this.decodeHeadersPending = false;
      this.runDecodeHeaders(this.decodeResumeAt, !this.expectBody);
      if (this.decodeStopped || this.done) return;
    }
    const q = this.decodeQueue;
    this.decodeQueue = null;
    if (q !== null) {
      for (let k = 0; k < q.length; k++) {
        if (this.decodeStopped) {
          // Stopped again: keep the rest.
          (this.decodeQueue ??= []).push(...q.slice(k));
          return;
        }
        this.runDecodeData(q[k].data, q[k].end, q[k].from);
        if (this.done) return;
      }
    }
    if (this.trailersQueued !== undefined && !this.decodeStopped) {
      const t = this.trailersQueued;
      this.trailersQueued = undefined;
      this.runDecodeTrailers(t);
    }
  }

  // Encode path (called by the router, or by local replies).

  /**
   * Response head. `contentLength` is the upstream's (or -1), `chunked` whether the body is
   * framed by chunks upstream, `noBody` whether no body follows at all.
   */
  encodeHeaders(status: number, headers: HeaderMap, contentLength: number, noBody: boolean): void {
    if (this.done || this.headersWritten || this.encodePending !== null) return;
    this.responseStatus = status;
    this.responseHeaders = headers;
    if (
      this.hasEncodeFilters &&
      !this.runEncodeHeaders(this.filters.length - 1, status, headers, contentLength, noBody)
    )
      return;
    this.writeHead(status, headers, contentLength, noBody);
    if (noBody) this.responseDone();
  }

  /** Runs onResponseHeaders from filter `from` down to 0; false when stopped or replied. */
  private runEncodeHeaders(
    from: number,
    status: number,
    headers: HeaderMap,
    contentLength: number,
    noBody: boolean,
  ): boolean {
    const fs = this.filters;
    for (let i = from; i >= 0; i--) {
      const f = fs[i];
      if (f.onResponseHeaders === undefined) continue;
      const r = f.onResponseHeaders(this, noBody);
      if (this.done) return false;
      if (r === CONTINUE) continue;
      if (r === STOP) {
        // The upstream connection may be reused before the filter resumes: own a copy.
        const held = headers.clone();
        this.responseHeaders = held;
        this.encodePending = {
          status,
          headers: held,
          contentLength,
          noBody,
          resumeAt: i - 1,
          body: [],
          complete: false,
          trailers: undefined,
        };
        return false;
      }
      if (!this.replying) {
        this.responseHeaders = undefined;
        this.sendLocalReply(r);
      }
      return false;
    }
    return true;
  }

  /** Resumes a response whose headers a filter held back. */
  continueEncoding(): void {
    const p = this.encodePending;
    if (p === null || this.done) return;
    this.encodePending = null;
    if (!this.runEncodeHeaders(p.resumeAt, p.status, p.headers, p.contentLength, p.noBody)) {
      // Stopped again: carry the queued body over.
      if (this.encodePending !== null) {
        const np = this.encodePending as EncodePending;
        np.body = p.body;
        np.complete = p.complete;
        np.trailers = p.trailers;
      }
      return;
    }
    this.writeHead(p.status, p.headers, p.contentLength, p.noBody);
    if (p.noBody) {
      this.responseDone();
      return;
    }
    for (const b of p.body) this.encodeData(b, 0, b.length);
    if (p.complete) this.encodeComplete(p.trailers);
  }

  private writeHead(status: number, h: HeaderMap, contentLength: number, noBody: boolean): void {
    const c = this.hcm;
    const minor = this.versionMinor;
    // Hop-by-hop response headers; framing is ours to decide.
    h.removeKnown(H_CONNECTION);
    h.removeKnown(H_KEEP_ALIVE);
    h.removeKnown(H_PROXY_CONNECTION);
    h.removeKnown(H_TRANSFER_ENCODING);
    if (status !== 101) h.removeKnown(H_UPGRADE);
    h.removeKnown(H_DATE);
    h.addField(dateField());
    if (c.serverTransform === SERVER_OVERWRITE) {
      h.removeKnown(H_SERVER);
      h.addField(serverField(c.serverName));
    } else if (c.serverTransform === SERVER_APPEND_IF_ABSENT && !h.hasKnown(H_SERVER))
      h.addField(serverField(c.serverName));
    if (c.alwaysSetRequestIdInResponse && this.requestId !== '' && !h.hasKnown(H_X_REQUEST_ID)) {
      h.addKnown(H_X_REQUEST_ID, this.requestId);
    }
    if (this.h2 !== null) {
      h.removeKnown(H_UPGRADE);
      const none =
        noBody || status < 200 || status === 204 || status === 304 || this.methodCode === METHOD_HEAD;
      this.framing = none ? FRAME_NONE : FRAME_LENGTH;
      if (!none && contentLength >= 0 && !h.hasKnown(H_CONTENT_LENGTH))
        h.addKnown(H_CONTENT_LENGTH, String(contentLength));
      this.headersWritten = true;
      this.bytesSent += this.h2.respond(status, h, none);
      return;
    }
    let extra = '';
    if (status === 101) {
      this.framing = FRAME_RAW;
      extra = 'connection: upgrade\r\n';
    } else if (
      noBody ||
      status < 200 ||
      status === 204 ||
      status === 304 ||
      this.methodCode === METHOD_HEAD
    ) {
      this.framing = FRAME_NONE;
    } else if (contentLength >= 0) {
      this.framing = FRAME_LENGTH;
      if (!h.hasKnown(H_CONTENT_LENGTH)) extra = `content-length: ${contentLength}\r\n`;
    } else if (minor === 1 && this.upgradeType === undefined) {
      this.framing = FRAME_CHUNKED;
      extra = 'transfer-encoding: chunked\r\n';
    } else {
      this.framing = FRAME_EOF;
      this.closeAfter = true;
    }
    if (this.upgradeType !== undefined && status !== 101) this.closeAfter = true;
    if (this.closeAfter || this.conn.draining) extra += 'connection: close\r\n';
    else if (minor === 0) extra += 'connection: keep-alive\r\n';
    const line = statusLine(status, minor === 0 ? 0 : 1);
    const w = this.conn.writer;
    const size = line.length + h.encodedLength() + extra.length + 2;
    const buf = w.reserve(size);
    let at = w.len;
    buf.set(line, at);
    at += line.length;
    at = h.encodeInto(buf, at);
    if (extra.length > 0) at += latin1Write(buf, extra, at);
    buf[at++] = 13;
    buf[at++] = 10;
    this.bytesSent += at - w.len;
    w.len = at;
    this.headersWritten = true;
    if (status === 101) {
      this.conn.upgraded = true;
    }
  }

  encodeData(buf: Buffer, start: number, end: number): void {
    if (this.encodePending !== null) {
      // Held by a filter: keep the bytes (input buffers are never reused, so a view is enough).
      this.encodePending.body.push(buf.subarray(start, end));
      return;
    }
    if (this.done || !this.headersWritten) return;
    const n = end - start;
    if (n === 0) return;
    this.touch(Date.now());
    if (this.hasResponseBodyFilters) {
      const data = buf.subarray(start, end);
      const fs = this.filters;
      for (let i = fs.length - 1; i >= 0; i--) {
        const f = fs[i];
        if (f.onResponseBody === undefined) continue;
        const r = f.onResponseBody(this, data, false);
        if (this.done) return;
        if (isLocalReply(r)) {
          this.reset(r.flags ?? 0, r.details);
          return;
        }
      }
    }
    if (this.h2 !== null) {
      if (this.framing !== FRAME_NONE) this.h2.write(buf, start, end);
      this.bytesSent += n;
      return;
    }
    const w = this.conn.writer;
    switch (this.framing) {
      case FRAME_NONE:
        return;
      case FRAME_CHUNKED:
        w.latin1(chunkHeader(n));
        w.body(buf, start, end);
        w.latin1('\r\n');
        break;
      default:
        w.body(buf, start, end);
    }
    this.bytesSent += n;
  }

  encodeTrailers(trailers: HeaderMap | undefined): void {
    if (this.done || !this.headersWritten) return;
    if (this.hasEncodeFilters && trailers !== undefined) {
      for (let i = this.filters.length - 1; i >= 0; i--) this.filters[i].onResponseTrailers?.(this, trailers);
    }
    if (this.h2 !== null) {
      if (trailers !== undefined && trailers.size > 0 && this.framing !== FRAME_NONE)
        this.h2.setTrailers(trailers);
      return;
    }
    const w = this.conn.writer;
    if (this.framing === FRAME_CHUNKED) {
      if (trailers !== undefined && trailers.size > 0) {
        w.latin1('0\r\n');
        const buf = w.reserve(trailers.encodedLength() + 2);
        let at = trailers.encodeInto(buf, w.len);
        buf[at++] = 13;
        buf[at++] = 10;
        w.len = at;
      } else w.latin1('0\r\n\r\n');
    }
  }

  /** The whole response was written. */
  encodeComplete(trailers?: HeaderMap): void {
    if (this.encodePending !== null) {
      this.encodePending.complete = true;
      this.encodePending.trailers = trailers?.clone();
      return;
    }
    if (this.done || this.responseComplete) return;
    if (!this.headersWritten) return;
    if (this.hasResponseBodyFilters) {
      for (let i = this.filters.length - 1; i >= 0; i--) {
        const f = this.filters[i];
        if (f.onResponseBody !== undefined) f.onResponseBody(this, EMPTY, true);
      }
    }
    if (this.framing === FRAME_CHUNKED || this.h2 !== null) this.encodeTrailers(trailers);
    this.responseDone();
  }

  private responseDone(): void {
    if (this.responseComplete) return;
    this.responseComplete = true;
    if (this.h2 !== null) this.h2.endResponse();
    if (this.framing === FRAME_EOF) this.closeAfter = true;
    if (this.upgradeType !== undefined && this.framing === FRAME_RAW) {
      // Upstream ended its side of the tunnel: half-close downstream.
      this.conn.writer.end();
    }
    this.maybeFinish();
  }

  /** Finishes when both directions are done; an unread request body forces a close. */
  private maybeFinish(): void {
    if (this.done || !this.responseComplete) return;
    if (!this.requestComplete) {
      if (!this.expectBody) return; // the completion event follows at once
      if (this.h2 !== null) {
        // HTTP/2 ends just this stream: the rest of the request is refused with RST_STREAM.
        this.hcm.stats.downstreamRqResponseBeforeRqComplete.value++;
        this.h2.abandonRequest();
      } else if (this.framing !== FRAME_RAW) {
        this.hcm.stats.downstreamRqResponseBeforeRqComplete.value++;
        this.closeAfter = true;
      } else return; // upgraded: wait for the client's side
    }
    this.finish();
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    const c = this.hcm;
    const st = c.stats;
    st.downstreamRqActive.value--;
    st.downstreamRqCompleted.value++;
    if (this.responseStatus > 0) st.downstreamRqCodes.record(this.responseStatus);
    st.downstreamRqTime.record(Date.now() - this.startTime);
    if (this.upgradeType !== undefined && this.framing === FRAME_RAW) st.downstreamCxUpgradesActive.value--;
    else if (this.upgradeType !== undefined) st.downstreamCxUpgradesActive.value--;
    const fs = this.filters;
    for (let i = 0; i < fs.length; i++) fs[i].onDone?.(this);
    this.conn.streamFinished(this);
  }

  /** Ends the stream abnormally (no more bytes of the response will be written). */
  reset(flags: number, details: string): void {
    if (this.done) return;
    this.responseFlags |= flags;
    if (this.responseCodeDetails === '') this.responseCodeDetails = details;
    this.closeAfter = true;
    if (!this.headersWritten || !this.responseComplete) this.hcm.stats.downstreamRqTxReset.value++;
    this.done = true;
    const st = this.hcm.stats;
    st.downstreamRqActive.value--;
    if (this.upgradeType !== undefined) st.downstreamCxUpgradesActive.value--;
    for (const f of this.filters) f.onDone?.(this);
    if (this.h2 !== null) {
      // HTTP/2: RST_STREAM for this stream only; the connection carries on.
      this.h2.reset();
      this.conn.streamFinished(this);
      return;
    }
    this.conn.stream = this.conn.stream === this ? null : this.conn.stream;
    this.conn.destroy();
  }

  sendLocalReply(reply: LocalReply): void {
    if (this.done) return;
    this.responseFlags |= reply.flags ?? 0;
    this.responseCodeDetails = reply.details;
    if (this.headersWritten) {
      // Too late for a reply: the client already has part of another response.
      this.reset(reply.flags ?? 0, reply.details);
      return;
    }
    this.replying = true;
    const h = new HeaderMap();
    let status = reply.status;
    let body = reply.body ?? '';
    if (this.isGrpc && status !== 101) {
      // gRPC clients read status from grpc-status, so local replies become trailers-only gRPC.
      h.add('content-type', 'application/grpc');
      h.add('grpc-status', String(reply.grpcStatus ?? grpcStatusOf(status)));
      if (body !== '') h.add('grpc-message', encodeURIComponent(body));
      status = 200;
      body = '';
    } else if (body !== '') {
      h.add('content-type', 'text/plain');
    }
    if (reply.headers) for (const [n, v] of reply.headers) h.add(n.toLowerCase(), v);
    const bytes = Buffer.from(body, 'utf8');
    h.add('content-length', String(bytes.length));
    // A local reply ends the request too: bytes of an unread body are not read.
    if (!this.requestComplete && this.expectBody) this.closeAfter = true;
    this.encodeHeaders(status, h, bytes.length, bytes.length === 0);
    if (this.done) return;
    if (bytes.length > 0) {
      this.encodeData(bytes, 0, bytes.length);
      this.encodeComplete();
    }
  }

  /** Writes an interim 100 Continue (when proxying the upstream's). */
  encode100Continue(): void {
    if (this.continueSent || this.headersWritten || this.done) return;
    this.continueSent = true;
    if (this.h2 !== null) this.h2.send100();
    else this.conn.writer.copy(CONTINUE_100, 0, CONTINUE_100.length);
  }

  /** Called from the connection's timer sweep. */
  checkDeadlines(now: number): void {
    if (this.done) return;
    const c = this.hcm;
    if (this.requestDeadline > 0) {
      if (now >= this.requestDeadline) {
        c.stats.downstreamRqTimeout.value++;
        this.timeoutReply(408, 'request timeout', 'request_overall_timeout', 0);
        return;
      }
      this.conn.timer.wakeAt(this.requestDeadline);
    }
    if (this.maxDurationDeadline > 0) {
      if (now >= this.maxDurationDeadline) {
        c.stats.downstreamRqMaxDurationReached.value++;
        this.timeoutReply(408, 'downstream duration timeout', 'max_duration_timeout', RF_DURATION_TIMEOUT);
        return;
      }
      this.conn.timer.wakeAt(this.maxDurationDeadline);
    }
    if (this.idleTimeoutMs > 0 && this.upgradeType === undefined) {
      const deadline = this.lastActivity + this.idleTimeoutMs;
      if (now >= deadline) {
        c.stats.downstreamRqIdleTimeout.value++;
        this.timeoutReply(408, 'stream timeout', 'stream_idle_timeout', RF_STREAM_IDLE_TIMEOUT);
        return;
      }
      this.conn.timer.wakeAt(deadline);
    }
    const fs = this.filters;
    for (let i = 0; i < fs.length; i++) {
      const f = fs[i] as HttpFilter & { onWake?(s: ActiveStream, now: number): void };
      f.onWake?.(this, now);
      if (this.done) return;
    }
  }

  private timeoutReply(status: number, body: string, details: string, flags: number): void {
    if (this.headersWritten) this.reset(flags, details);
    else {
      this.closeAfter = true;
      this.sendLocalReply({ status, body, details, flags });
    }
  }

  /** Filters with deadlines ask to be woken (their `onWake` runs then). */
  wakeAt(deadline: number): void {
    this.conn.timer.wakeAt(deadline);
  }

  /** Overrides the stream idle timeout (route idle_timeout). */
  setIdleTimeout(ms: number): void {
    this.idleTimeoutMs = ms;
    if (ms > 0) this.conn.timer.wakeAt(this.lastActivity + ms);
  }

  setMaxDuration(ms: number): void {
    if (ms <= 0) return;
    const d = this.startTime + ms;
    if (this.maxDurationDeadline === 0 || d < this.maxDurationDeadline) {
      this.maxDurationDeadline = d;
      this.conn.timer.wakeAt(d);
    }
  }

  // FormatContext.

  formatVar(code: number, arg: string): string | undefined {
    const ci = this.connection;
    switch (code) {
      case FV_DOWNSTREAM_REMOTE_ADDRESS:
        return this.downstreamAddress === ci.remoteAddress
          ? formatAddress(ci.remoteAddress, ci.remotePort)
          : this.downstreamAddress;
      case FV_DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT:
        return this.downstreamAddress;
      case FV_DOWNSTREAM_REMOTE_PORT:
        return String(ci.remotePort);
      case FV_DOWNSTREAM_DIRECT_REMOTE_ADDRESS:
        return formatAddress(ci.remoteAddress, ci.remotePort);
      case FV_DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT:
        return ci.remoteAddress;
      case FV_DOWNSTREAM_LOCAL_ADDRESS:
        return formatAddress(ci.localAddress, ci.localPort);
      case FV_DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT:
        return ci.localAddress;
      case FV_DOWNSTREAM_LOCAL_PORT:
        return String(ci.localPort);
      case FV_PROTOCOL:
        return this.protocol;
      case FV_REQ:
        return arg === ':path'
          ? this.path
          : arg === ':authority'
            ? this.authority
            : arg === ':method'
              ? this.method
              : this.requestHeaders.get(arg);
      case FV_RESP:
        return this.responseHeaders?.get(arg);
      case FV_HOSTNAME:
        return HOSTNAME;
      case FV_ROUTE_NAME:
        return this.route?.name;
      case FV_RESPONSE_CODE:
        return String(this.responseStatus);
      case FV_RESPONSE_FLAGS:
        return formatResponseFlags(this.responseFlags);
      case FV_START_TIME:
        return new Date(this.startTime).toISOString();
      default:
        return this.upstreamFacts?.formatVar(code, arg);
    }
  }

  /** Upstream facts (%UPSTREAM_*%) come from the router once it picked a cluster. */
  upstreamFacts: FormatContext | undefined;

  get routerStats(): HcmConfig['stats'] {
    return this.hcm.stats;
  }
}

interface EncodePending {
  status: number;
  headers: HeaderMap;
  contentLength: number;
  noBody: boolean;
  resumeAt: number;
  body: Buffer[];
  complete: boolean;
  trailers: HeaderMap | undefined;
}

function splitXff(v: string): string[] {
  const out: string[] = [];
  for (const part of v.split(',')) {
    const t = part.trim();
    if (t !== '') out.push(t);
  }
  return out;
}

/** HTTP status → gRPC status for local replies (Envoy's mapping). */
export function grpcStatusOf(http: number): number {
  switch (http) {
    case 400:
      return 13;
    case 401:
      return 16;
    case 403:
      return 7;
    case 404:
      return 12;
    case 429:
    case 502:
    case 503:
    case 504:
      return 14;
    default:
      return 2;
  }
}
