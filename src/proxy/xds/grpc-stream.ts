/**
 * One gRPC bidirectional-streaming call on its own HTTP/2 connection, on `node:http2` with the
 * gRPC framing done here — so mizzen-proxy never loads @grpc/grpc-js (~13 MB of RSS) for its one
 * ADS stream. The call speaks raw bytes; the caller encodes and decodes messages.
 *
 * What it keeps from the gRPC over HTTP/2 protocol (and from grpc-js' client behaviour):
 * - requests: POST, `content-type: application/grpc`, `te: trailers`; each message behind a
 *   5-byte prefix (compressed flag, big-endian length); never compressed when sent;
 * - responses: messages reassembled across DATA frames; a compressed message is accepted when
 *   the server named gzip or deflate in `grpc-encoding` (we advertise both); a message above
 *   the receive limit ends the call with RESOURCE_EXHAUSTED before it is buffered;
 * - status: `grpc-status` / `grpc-message` (percent-decoded) from the trailers, or from the
 *   headers of a trailers-only response; a non-200 HTTP status or a reset stream maps to a gRPC
 *   code as the gRPC HTTP/2 spec says; a lost connection is UNAVAILABLE;
 * - keepalive: a PING every `keepaliveTimeMs` after the last answer; no answer within
 *   `keepaliveTimeoutMs` drops the connection (UNAVAILABLE), as grpc-js' keepalive_time/timeout;
 * - TLS: server certificate checked against `ca` (default: Node's roots) and the target host
 *   (or `servername`); client certificate for mutual TLS; ALPN h2;
 * - per-call metadata (call credentials such as a bearer token) from a callback per call.
 *
 * The status event fires exactly once, after which the connection is closed.
 */
import { EventEmitter } from 'node:events';
import http2 from 'node:http2';
import { isIP } from 'node:net';
import type { PeerCertificate } from 'node:tls';
import { GrpcStatus } from '../../lib/grpc-status.ts';

export { GrpcStatus };

const STATUS_NAMES: readonly string[] = Object.keys(GrpcStatus);

/** `UNAVAILABLE` for 14; the number itself for a code outside the table. */
export function grpcStatusName(code: number): string {
  return STATUS_NAMES[code] ?? String(code);
}

export interface GrpcCallStatus {
  readonly code: number;
  readonly details: string;
}

export interface GrpcTlsOptions {
  /** PEM CA certificates the server's chain must lead to (default: Node's bundled roots). */
  readonly ca?: string | Buffer;
  /** PEM client certificate chain, for mutual TLS (with `key`). */
  readonly cert?: string | Buffer;
  /** PEM private key of `cert`. */
  readonly key?: string | Buffer;
  /**
   * The name the server certificate must be valid for, and the SNI sent (grpc-js'
   * `grpc.ssl_target_name_override`). Default: the target's host.
   */
  readonly servername?: string;
  /** An extra check of the server certificate; return an Error to refuse it. */
  readonly checkServerIdentity?: (hostname: string, cert: PeerCertificate) => Error | undefined;
}

export interface GrpcStreamOptions {
  /** `host:port` (an IPv6 literal in brackets). */
  readonly target: string;
  /** `/package.Service/Method`. */
  readonly path: string;
  /** TLS to the server; plaintext when absent. */
  readonly tls?: GrpcTlsOptions;
  /** Ping after this long since the last ping answer (or the connect); 0 turns keepalive off. */
  readonly keepaliveTimeMs: number;
  /** Drop the connection when a ping is not answered within this. */
  readonly keepaliveTimeoutMs: number;
  /** Largest message accepted (after decompression). */
  readonly maxReceiveMessageBytes: number;
  /** Give up on a connection not established within this (default 20 s, grpc-js' minimum). */
  readonly connectTimeoutMs?: number;
  readonly userAgent?: string;
  /** Extra request headers, asked for once per call (call credentials, e.g. `authorization`). */
  readonly metadata?: () => Readonly<Record<string, string>>;
}

export interface GrpcStreamEvents {
  /** One complete, decompressed message. */
  message: [message: Buffer];
  /** The call ended (once). */
  status: [status: GrpcCallStatus];
}

// Timers of the transport run on real time even when a test fakes the global ones: they are
// part of the connection, like a socket's own timeouts.
const realSetTimeout = globalThis.setTimeout;
/** How long a finished call's connection may take to close before it is destroyed. */
const CLOSE_GRACE_MS = 1_000;

/** grpc-status must be a decimal code 0..16; anything else is not a status. */
function parseGrpcStatus(value: string): number | undefined {
  if (!/^\d{1,2}$/.test(value)) return undefined;
  const code = Number(value);
  return code <= 16 ? code : undefined;
}
const realClearTimeout = globalThis.clearTimeout;

/** gRPC's mapping of an HTTP status without grpc-status (gRPC HTTP/2 spec, "HTTP to gRPC Status Code Mapping"). */
function codeOfHttpStatus(status: number): number {
  switch (status) {
    case 400:
      return GrpcStatus.INTERNAL;
    case 401:
      return GrpcStatus.UNAUTHENTICATED;
    case 403:
      return GrpcStatus.PERMISSION_DENIED;
    case 404:
      return GrpcStatus.UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
      return GrpcStatus.UNAVAILABLE;
    default:
      return GrpcStatus.UNKNOWN;
  }
}

/** gRPC's mapping of an RST_STREAM error code. */
function codeOfRstStream(rst: number): number {
  const c = http2.constants;
  switch (rst) {
    case c.NGHTTP2_REFUSED_STREAM:
      return GrpcStatus.UNAVAILABLE;
    case c.NGHTTP2_CANCEL:
      return GrpcStatus.CANCELLED;
    case c.NGHTTP2_ENHANCE_YOUR_CALM:
      return GrpcStatus.RESOURCE_EXHAUSTED;
    case c.NGHTTP2_INADEQUATE_SECURITY:
      return GrpcStatus.PERMISSION_DENIED;
    default:
      return GrpcStatus.INTERNAL;
  }
}

function percentDecode(s: string): string {
  if (!s.includes('%')) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function headerValue(h: http2.IncomingHttpHeaders, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Splits `host:port` / `[v6]:port`; throws naming the target when malformed. */
export function parseTarget(target: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(target);
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || !(port > 0 && port < 65536)) {
    throw new Error(`gRPC target must be "host:port" (IPv6 in brackets), got ${JSON.stringify(target)}`);
  }
  return { host: (m[1] ?? m[2]) as string, port };
}

/** Node's host name check first, then the caller's (replacing Node's would drop it). */
function identityCheck(extra: NonNullable<GrpcTlsOptions['checkServerIdentity']>) {
  return (hostname: string, cert: PeerCertificate): Error | undefined =>
    process.getBuiltinModule('node:tls').checkServerIdentity(hostname, cert) ?? extra(hostname, cert);
}

const PREFIX_BYTES = 5;

export class GrpcStream extends EventEmitter<GrpcStreamEvents> {
  readonly #options: GrpcStreamOptions;
  readonly #session: http2.ClientHttp2Session | undefined;
  readonly #stream: http2.ClientHttp2Stream | undefined;
  #done = false;
  #connected = false;
  #responseHeaders: http2.IncomingHttpHeaders | undefined;
  #trailers: http2.IncomingHttpHeaders | undefined;
  #connectionError: Error | undefined;
  #connectTimer: ReturnType<typeof setTimeout> | undefined;
  #keepaliveTimer: ReturnType<typeof setTimeout> | undefined;
  #pingTimer: ReturnType<typeof setTimeout> | undefined;
  // Message reassembly: the 5-byte prefix, then a body buffer of the announced size.
  readonly #prefix = Buffer.alloc(PREFIX_BYTES);
  #prefixFill = 0;
  #body: Buffer | undefined;
  #bodyFill = 0;
  #compressed = false;

  constructor(options: GrpcStreamOptions) {
    super();
    this.#options = options;
    let session: http2.ClientHttp2Session | undefined;
    let stream: http2.ClientHttp2Stream | undefined;
    try {
      const { host, port } = parseTarget(options.target);
      const authority = `${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
      const tls = options.tls;
      session = http2.connect(`${tls ? 'https' : 'http'}://${authority}`, {
        settings: { enablePush: false },
        ...(tls
          ? {
              ca: tls.ca,
              cert: tls.cert,
              key: tls.key,
              ALPNProtocols: ['h2'],
              // No SNI for an IP literal (RFC 6066); the certificate is still checked against it.
              // Node checks the certificate against `servername` when set, else the host.
              servername: tls.servername ?? (isIP(host) ? '' : host),
              ...(tls.checkServerIdentity
                ? { checkServerIdentity: identityCheck(tls.checkServerIdentity) }
                : {}),
            }
          : {}),
      });
      this.#session = session;
      session.on('error', (err) => {
        this.#connectionError ??= err;
      });
      session.on('close', () => this.#onClose());
      session.once('connect', () => this.#onConnect());
      this.#connectTimer = realSetTimeout(() => {
        this.#connectTimer = undefined;
        if (this.#connected) return;
        this.#finish(
          GrpcStatus.UNAVAILABLE,
          `no connection to ${options.target} within ${options.connectTimeoutMs ?? 20_000} ms`,
          true,
        );
      }, options.connectTimeoutMs ?? 20_000);
      stream = session.request(
        {
          // Caller metadata first: the protocol's own headers below always win.
          ...options.metadata?.(),
          ':method': 'POST',
          ':path': options.path,
          'content-type': 'application/grpc',
          te: 'trailers',
          'grpc-accept-encoding': 'identity,deflate,gzip',
          'user-agent': options.userAgent ?? 'mizzen-proxy',
        },
        { endStream: false },
      );
      this.#stream = stream;
      stream.on('response', (headers) => this.#onResponse(headers));
      stream.on('data', (chunk: Buffer) => this.#onData(chunk));
      stream.on('trailers', (headers) => {
        this.#trailers = headers;
      });
      // The server's end of the stream ends the call, even while our side is still open.
      stream.on('end', () => this.#onClose());
      stream.on('error', (err) => {
        // A reset of this stream alone is not a lost connection: #onClose maps its code.
        if ((err as { code?: string }).code !== 'ERR_HTTP2_STREAM_ERROR') this.#connectionError ??= err;
      });
      stream.on('close', () => this.#onClose());
    } catch (err) {
      this.#session = session;
      this.#stream = stream;
      // A malformed target or TLS material: reported like a failed connection, asynchronously.
      process.nextTick(() =>
        this.#finish(GrpcStatus.UNAVAILABLE, `cannot open a gRPC call to ${options.target}: ${String(err)}`),
      );
    }
  }

  /** Sends one encoded message (ignored once the call has ended). */
  write(message: Uint8Array): void {
    if (this.#done || !this.#stream) return;
    const frame = Buffer.allocUnsafe(PREFIX_BYTES + message.length);
    frame[0] = 0;
    frame.writeUInt32BE(message.length, 1);
    frame.set(message, PREFIX_BYTES);
    this.#stream.write(frame);
  }

  /** Ends the call from this side: CANCELLED unless another code is given (e.g. INTERNAL). */
  cancel(code: number = GrpcStatus.CANCELLED, details = 'Cancelled on client'): void {
    this.#finish(code, details);
  }

  get ended(): boolean {
    return this.#done;
  }

  #onConnect(): void {
    this.#connected = true;
    if (this.#connectTimer !== undefined) realClearTimeout(this.#connectTimer);
    this.#connectTimer = undefined;
    this.#scheduleKeepalive();
  }

  #scheduleKeepalive(): void {
    const { keepaliveTimeMs, keepaliveTimeoutMs } = this.#options;
    if (this.#done || !(keepaliveTimeMs > 0)) return;
    this.#keepaliveTimer = realSetTimeout(() => {
      this.#keepaliveTimer = undefined;
      const session = this.#session;
      if (this.#done || !session || session.destroyed) return;
      this.#pingTimer = realSetTimeout(() => {
        this.#pingTimer = undefined;
        this.#finish(
          GrpcStatus.UNAVAILABLE,
          `keepalive ping not answered within ${keepaliveTimeoutMs} ms`,
          true,
        );
      }, keepaliveTimeoutMs);
      const sent = session.ping((err) => {
        if (this.#pingTimer !== undefined) realClearTimeout(this.#pingTimer);
        this.#pingTimer = undefined;
        if (!err) this.#scheduleKeepalive();
      });
      if (!sent) {
        // Too many pings in flight: the connection is not answering.
        this.#finish(GrpcStatus.UNAVAILABLE, 'keepalive ping could not be sent', true);
      }
    }, keepaliveTimeMs);
  }

  #onResponse(headers: http2.IncomingHttpHeaders): void {
    this.#responseHeaders = headers;
    const status = Number(headers[':status']);
    if (status !== 200 && headerValue(headers, 'grpc-status') === undefined) {
      this.#finish(codeOfHttpStatus(status), `unexpected HTTP status ${status} from the server`);
      return;
    }
    const type = headerValue(headers, 'content-type') ?? '';
    // A trailers-only response carries its status in these headers; that status decides.
    const trailersOnly = headerValue(headers, 'grpc-status') !== undefined;
    if (status === 200 && !trailersOnly && !type.startsWith('application/grpc')) {
      this.#finish(GrpcStatus.UNKNOWN, `the server answered with content-type ${JSON.stringify(type)}`);
    }
  }

  #onData(chunk: Buffer): void {
    const max = this.#options.maxReceiveMessageBytes;
    let off = 0;
    while (off < chunk.length && !this.#done) {
      const body = this.#body;
      if (body === undefined) {
        const n = Math.min(PREFIX_BYTES - this.#prefixFill, chunk.length - off);
        chunk.copy(this.#prefix, this.#prefixFill, off, off + n);
        this.#prefixFill += n;
        off += n;
        if (this.#prefixFill < PREFIX_BYTES) return;
        this.#prefixFill = 0;
        const flag = this.#prefix[0];
        const length = this.#prefix.readUInt32BE(1);
        if (flag !== 0 && flag !== 1) {
          this.#finish(GrpcStatus.INTERNAL, `invalid gRPC message flag ${flag}`);
          return;
        }
        if (length > max) {
          this.#finish(
            GrpcStatus.RESOURCE_EXHAUSTED,
            `Received message larger than max (${length} vs. ${max})`,
          );
          return;
        }
        this.#compressed = flag === 1;
        // An exact allocation: decoded messages may keep views into it (bytes fields).
        this.#body = Buffer.allocUnsafeSlow(length);
        this.#bodyFill = 0;
        if (length === 0) this.#deliver();
        continue;
      }
      const n = Math.min(body.length - this.#bodyFill, chunk.length - off);
      chunk.copy(body, this.#bodyFill, off, off + n);
      this.#bodyFill += n;
      off += n;
      if (this.#bodyFill === body.length) this.#deliver();
    }
  }

  #deliver(): void {
    let message = this.#body as Buffer;
    this.#body = undefined;
    if (this.#compressed) {
      const encoding = headerValue(this.#responseHeaders ?? {}, 'grpc-encoding') ?? 'identity';
      const max = this.#options.maxReceiveMessageBytes;
      try {
        const zlib = process.getBuiltinModule('node:zlib');
        if (encoding === 'gzip') message = zlib.gunzipSync(message, { maxOutputLength: Math.max(1, max) });
        else if (encoding === 'deflate')
          message = zlib.inflateSync(message, { maxOutputLength: Math.max(1, max) });
        else {
          this.#finish(
            GrpcStatus.INTERNAL,
            `a compressed message with unsupported grpc-encoding "${encoding}"`,
          );
          return;
        }
      } catch (err) {
        const tooBig = (err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE';
        this.#finish(
          tooBig ? GrpcStatus.RESOURCE_EXHAUSTED : GrpcStatus.INTERNAL,
          tooBig
            ? `Received message larger than max (decompressed beyond ${max})`
            : `cannot decompress a message (${encoding}): ${String(err)}`,
        );
        return;
      }
    }
    this.emit('message', message);
  }

  /** The stream or the connection closed: the status is the server's, or derived. */
  #onClose(): void {
    if (this.#done) return;
    const fromServer = this.#trailers ?? this.#responseHeaders;
    const grpcStatus = fromServer && headerValue(fromServer, 'grpc-status');
    if (grpcStatus !== undefined) {
      const details = percentDecode(
        headerValue(fromServer as http2.IncomingHttpHeaders, 'grpc-message') ?? '',
      );
      const code = parseGrpcStatus(grpcStatus);
      if (code === undefined) {
        this.#finish(GrpcStatus.UNKNOWN, `invalid grpc-status ${JSON.stringify(grpcStatus)}: ${details}`);
      } else if (code === GrpcStatus.OK && (this.#body !== undefined || this.#prefixFill > 0)) {
        this.#finish(GrpcStatus.INTERNAL, 'the stream ended in the middle of a message');
      } else {
        this.#finish(code, details);
      }
      return;
    }
    const err = this.#connectionError;
    const stream = this.#stream;
    const session = this.#session;
    if (err || !this.#connected || session?.destroyed || session?.closed) {
      const why = err ? err.message : 'connection closed';
      this.#finish(
        GrpcStatus.UNAVAILABLE,
        this.#connected
          ? `connection to ${this.#options.target} lost: ${why}`
          : `No connection established: ${why}`,
        true,
      );
      return;
    }
    const rst = stream?.rstCode ?? http2.constants.NGHTTP2_NO_ERROR;
    if (rst !== http2.constants.NGHTTP2_NO_ERROR) {
      this.#finish(codeOfRstStream(rst), `stream reset by the server with code ${rst}`);
      return;
    }
    this.#finish(GrpcStatus.UNKNOWN, 'the server ended the stream without a gRPC status');
  }

  /** Ends the call once; `dead`: the connection cannot be closed politely (nothing answers). */
  #finish(code: number, details: string, dead = false): void {
    if (this.#done) return;
    this.#done = true;
    for (const t of [this.#connectTimer, this.#keepaliveTimer, this.#pingTimer]) {
      if (t !== undefined) realClearTimeout(t);
    }
    this.#connectTimer = this.#keepaliveTimer = this.#pingTimer = undefined;
    this.#body = undefined;
    const stream = this.#stream;
    const session = this.#session;
    if (stream && !stream.closed && !stream.destroyed) {
      // After the server's trailers our half-open side just closes; otherwise the call is cut.
      stream.close(stream.readableEnded ? http2.constants.NGHTTP2_NO_ERROR : http2.constants.NGHTTP2_CANCEL);
    }
    if (dead || !this.#connected) {
      // Nothing to close politely: a pending connect or a silent peer would hold the socket.
      session?.destroy();
    } else if (session && !session.closed) {
      // The connection carries only this call: a polite GOAWAY, and a bounded wait for the peer.
      const grace = realSetTimeout(() => session.destroy(), CLOSE_GRACE_MS);
      session.once('close', () => realClearTimeout(grace));
      session.close();
    }
    // Asynchronously, as grpc-js reports a status: never from inside a caller's write or cancel.
    process.nextTick(() => this.emit('status', { code, details }));
  }
}
