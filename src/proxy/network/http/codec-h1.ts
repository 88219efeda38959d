/**
 * HTTP/1.1 wire codec on Buffers (no node:http): an incremental parser for request and response
 * messages, strict to RFC 9112 where laxness enables request smuggling, and the serialisers for
 * heads and chunked framing.
 *
 * Strictness, with the status a server answers:
 *  - request line `method SP target SP HTTP/1.x CRLF`; other versions 505, malformed 400
 *  - field names are tokens, no whitespace before ':'; values are field-content; obs-fold, bare
 *    CR or LF, NUL: 400
 *  - Transfer-Encoding and Content-Length together: 400; Content-Length values that differ: 400;
 *    Transfer-Encoding whose last coding is not chunked: 400; other codings before chunked: 501;
 *    Transfer-Encoding on an HTTP/1.0 request: 400
 *  - HTTP/1.1 request without exactly one Host: 400
 *  - head larger than the limit or more fields than the limit: 431
 * Leading empty lines before a request line are skipped (RFC 9112 §2.2).
 *
 * The parser delivers decoded body bytes as (buffer, start, end) so the caller chooses to copy
 * or to slice. It stops after each message when the handler asks (pipelining: the connection
 * serves requests strictly in order and parses the next one only when the previous response is
 * done), and leaves the rest of the input unconsumed.
 */

import { latin1Slice } from '../../common/bytes.ts';
import {
  classifyName,
  equalsLower,
  H_CONNECTION,
  H_CONTENT_LENGTH,
  H_EXPECT,
  H_HOST,
  H_TRANSFER_ENCODING,
  H_UPGRADE,
  HeaderMap,
  TOKEN_CHARS,
  VALUE_CHARS,
} from './headers.ts';

export const KIND_REQUEST = 0;
export const KIND_RESPONSE = 1;

// Parser states.
const S_HEAD = 0;
const S_BODY_LENGTH = 1;
const S_CHUNK_SIZE = 2;
const S_CHUNK_DATA = 3;
const S_CHUNK_DATA_CR = 4;
const S_CHUNK_DATA_LF = 5;
const S_TRAILERS = 6;
const S_BODY_EOF = 7;
const S_DONE = 8;
const S_UPGRADED = 9;
const S_ERROR = 10;

// Chunk-size line sub-states.
const CS_START = 0;
const CS_DIGITS = 1;
const CS_WS = 2;
const CS_EXT = 3;
const CS_LF = 4;

// Method codes for the methods the proxy treats specially; others are METHOD_OTHER.
export const METHOD_OTHER = 0;
export const METHOD_GET = 1;
export const METHOD_HEAD = 2;
export const METHOD_POST = 3;
export const METHOD_PUT = 4;
export const METHOD_DELETE = 5;
export const METHOD_OPTIONS = 6;
export const METHOD_PATCH = 7;
export const METHOD_CONNECT = 8;
export const METHOD_TRACE = 9;
const METHODS: [string, number][] = [
  ['GET', METHOD_GET],
  ['HEAD', METHOD_HEAD],
  ['POST', METHOD_POST],
  ['PUT', METHOD_PUT],
  ['DELETE', METHOD_DELETE],
  ['OPTIONS', METHOD_OPTIONS],
  ['PATCH', METHOD_PATCH],
  ['CONNECT', METHOD_CONNECT],
  ['TRACE', METHOD_TRACE],
];

/** Handler results from onMessageHead. */
export const HEAD_CONTINUE = 0;
/** The message has no body whatever its framing says (response to HEAD, 1xx/204/304). */
export const HEAD_NO_BODY = 1;
/** Request only: the upgrade is being proxied; every later byte is opaque (onBody). */
export const HEAD_UPGRADE = 2;

export interface H1ParserHandler {
  /** A complete head was parsed (for responses, also each 1xx interim head). */
  onMessageHead(parser: H1Parser): number;
  /** Decoded body bytes buf[start, end). For upgraded requests: opaque bytes after the head. */
  onBody(buf: Buffer, start: number, end: number): void;
  /** Chunked trailers were parsed into parser.trailers (only when trailers are non-empty). */
  onTrailers(parser: H1Parser): void;
  /** The message ended. Return true to stop parsing here (the rest stays unconsumed). */
  onMessageComplete(parser: H1Parser): boolean;
}

export interface H1ParserOptions {
  /** Limit on the head (request/status line + fields + CRLFs), bytes. Envoy default 60 KiB. */
  maxHeaderBytes: number;
  /** Limit on the number of fields in the head (and in trailers). Envoy default 100. */
  maxHeaderCount: number;
  /** headers_with_underscores_action: 0 allow, 1 reject the message, 2 drop the field. */
  underscores?: number;
}

export const UNDERSCORES_ALLOW = 0;
export const UNDERSCORES_REJECT = 1;
export const UNDERSCORES_DROP = 2;

const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');
/** Bytes searched for the end of a head in JavaScript before handing over to indexOf. */
const SCAN_INLINE = 512;
const MAX_CHUNK_LINE = 4096;

export class H1Parser {
  readonly kind: number;
  readonly handler: H1ParserHandler;
  maxHeaderBytes: number;
  maxHeaderCount: number;
  underscores: number;

  readonly headers = new HeaderMap();
  /** Trailers of the last chunked message (only valid inside onTrailers/onMessageComplete). */
  readonly trailers = new HeaderMap();

  state = S_HEAD;
  /** Set when state is S_ERROR: the status to answer with (400, 431, 501, 505) and details. */
  errorStatus = 0;
  errorDetails = '';

  // Head results.
  method = '';
  methodCode = METHOD_OTHER;
  /** Request target bytes in headers.buf. */
  targetStart = 0;
  targetEnd = 0;
  versionMinor = 1;
  statusCode = 0;
  /** Response reason phrase range in headers.buf. */
  reasonStart = 0;
  reasonEnd = 0;
  headBytes = 0;
  /** -1 when absent. */
  contentLength = -1;
  chunked = false;
  connClose = false;
  connKeepAlive = false;
  connUpgrade = false;
  hasUpgrade = false;
  expectContinue = false;
  /** The message body is delimited by connection close (responses only). */
  eofBody = false;
  /** Message carries a body (or upgraded bytes). */
  hasBody = false;
  /** Body bytes delivered for the current message. */
  bodyBytes = 0;
  /** Set by the owner before parsing a response: the request was HEAD (no body expected). */
  expectNoBody = false;
  /** Set by the owner before parsing a response: the request asked for an upgrade. */
  requestedUpgrade = false;

  /** Request asks for a protocol upgrade (Upgrade + Connection: upgrade on HTTP/1.1). */
  get upgradeRequested(): boolean {
    return this.hasUpgrade && this.connUpgrade && this.versionMinor === 1;
  }

  private remaining = 0;
  private chunkState = CS_START;
  private chunkLineLen = 0;
  private chunkDigits = 0;
  /** Bytes of an incomplete head (or trailer section) waiting for more input. */
  private pending: Buffer | null = null;
  private paused = false;

  constructor(kind: number, handler: H1ParserHandler, options: H1ParserOptions) {
    this.kind = kind;
    this.handler = handler;
    this.maxHeaderBytes = options.maxHeaderBytes;
    this.maxHeaderCount = options.maxHeaderCount;
    this.underscores = options.underscores ?? UNDERSCORES_ALLOW;
  }

  get isError(): boolean {
    return this.state === S_ERROR;
  }
  get isUpgraded(): boolean {
    return this.state === S_UPGRADED;
  }
  /** Between messages (nothing of the next message seen yet). */
  get isIdle(): boolean {
    return this.state === S_HEAD && this.pending === null;
  }
  get isDone(): boolean {
    return this.state === S_DONE;
  }
  /** Whether a close-delimited body is being read (a close then completes the message). */
  get readsUntilClose(): boolean {
    return this.state === S_BODY_EOF;
  }
  /** Whether bytes of a head are buffered (a close now truncates a message). */
  get inHead(): boolean {
    return this.state === S_HEAD && this.pending !== null;
  }

  /** Prepares for the next message (after onMessageComplete paused the parser). */
  next(): void {
    this.state = S_HEAD;
    this.paused = false;
    this.pending = null;
  }

  /** Switches to opaque mode: every further byte is delivered via onBody (after 101). */
  upgrade(): void {
    this.state = S_UPGRADED;
  }

  /** Target as a string (latin1, so bytes round-trip). */
  target(): string {
    return latin1Slice(this.headers.buf, this.targetStart, this.targetEnd);
  }

  /**
   * Feeds buf[offset..]; returns the index just past the last consumed byte. Less than
   * buf.length means the parser paused after a message or hit an error (check isError).
   */
  execute(buf: Buffer, offset = 0): number {
    let i = offset;
    const len = buf.length;
    while (i < len) {
      switch (this.state) {
        case S_HEAD: {
          const r = this.parseHeadFrom(buf, i);
          if (r < 0) return this.isError ? i : len; // error, or all buffered as pending
          i = r;
          if (this.isDone && this.complete()) return i;
          break;
        }
        case S_BODY_LENGTH: {
          const take = Math.min(this.remaining, len - i);
          this.remaining -= take;
          this.bodyBytes += take;
          this.handler.onBody(buf, i, i + take);
          i += take;
          if (this.remaining === 0 && this.complete()) return i;
          break;
        }
        case S_CHUNK_SIZE:
          i = this.parseChunkSize(buf, i);
          if (this.isError) return i;
          break;
        case S_CHUNK_DATA: {
          const take = Math.min(this.remaining, len - i);
          this.remaining -= take;
          this.bodyBytes += take;
          this.handler.onBody(buf, i, i + take);
          i += take;
          if (this.remaining === 0) this.state = S_CHUNK_DATA_CR;
          break;
        }
        case S_CHUNK_DATA_CR:
          if (buf[i] !== 13) return this.fail(i, 400, 'http1.codec_error');
          i++;
          this.state = S_CHUNK_DATA_LF;
          break;
        case S_CHUNK_DATA_LF:
          if (buf[i] !== 10) return this.fail(i, 400, 'http1.codec_error');
          i++;
          this.state = S_CHUNK_SIZE;
          this.chunkState = CS_START;
          this.chunkLineLen = 0;
          this.chunkDigits = 0;
          break;
        case S_TRAILERS: {
          const r = this.parseTrailers(buf, i);
          if (r < 0) return this.isError ? i : len;
          i = r;
          if (this.complete()) return i;
          break;
        }
        case S_BODY_EOF:
        case S_UPGRADED:
          this.bodyBytes += len - i;
          this.handler.onBody(buf, i, len);
          return len;
        case S_DONE:
          // Paused after a message: the caller keeps the rest.
          return i;
        default:
          return i;
      }
      if (this.paused) return i;
    }
    return i;
  }

  /** The peer closed: completes a close-delimited body; returns false if a message was cut short. */
  finish(): boolean {
    if (this.state === S_BODY_EOF) {
      this.complete();
      return true;
    }
    if (this.state === S_UPGRADED) return true;
    return this.state === S_HEAD && this.pending === null;
  }

  private fail(at: number, status: number, details: string): number {
    this.state = S_ERROR;
    // Whatever is wrong with an upstream response, downstream sees a 502 (Envoy's UPE).
    this.errorStatus = this.kind === KIND_REQUEST ? status : 502;
    this.errorDetails = details;
    this.pending = null;
    return at;
  }

  private complete(): boolean {
    this.state = S_DONE;
    const pause = this.handler.onMessageComplete(this);
    if (this.state !== S_DONE) return false; // the handler moved us on (e.g. next() or upgrade())
    if (pause) {
      this.paused = true;
      return true;
    }
    this.state = S_HEAD;
    return false;
  }

  /** Returns the index after the head, or -1 if more input is needed / on error. */
  private parseHeadFrom(buf: Buffer, start: number): number {
    let src = buf;
    let from = start;
    if (this.pending !== null) {
      // Concatenate what we have with the new input (rare: heads usually arrive whole).
      const prevLen = this.pending.length;
      src = Buffer.concat([this.pending, buf.subarray(start)]);
      from = 0;
      const end = this.findHeadEnd(src, Math.max(0, prevLen - 3));
      if (end < 0) return this.needMore(src, 0);
      this.pending = null;
      const r = this.parseHead(src, 0, end);
      if (r < 0) return -1;
      // Map the end of the head back into `buf`.
      return start + (end - prevLen);
    }
    // Skip empty lines before a request line.
    if (this.kind === KIND_REQUEST) {
      while (from + 1 < buf.length && buf[from] === 13 && buf[from + 1] === 10) from += 2;
      if (from >= buf.length) return -1;
      if (buf[from] === 13 && from + 1 === buf.length) {
        this.pending = buf.subarray(from);
        return -1;
      }
    }
    const end = this.findHeadEnd(src, from);
    if (end < 0) return this.needMore(src, from);
    if (this.parseHead(src, from, end) < 0) return -1;
    return end;
  }

  /** Index just after CRLFCRLF, or -1. */
  private findHeadEnd(buf: Buffer, from: number): number {
    // Most heads end within a few hundred bytes: a loop finds the end there for less than the
    // call into the runtime costs; longer input goes to the native search.
    const len = buf.length;
    const scanEnd = Math.min(len - 3, from + SCAN_INLINE);
    for (let i = from; i < scanEnd; i++) {
      if (buf[i] === 13 && buf[i + 1] === 10 && buf[i + 2] === 13 && buf[i + 3] === 10) return i + 4;
    }
    if (scanEnd >= len - 3) return -1;
    const idx = buf.indexOf(CRLFCRLF, scanEnd);
    return idx < 0 ? -1 : idx + 4;
  }

  private needMore(src: Buffer, from: number): number {
    const have = src.length - from;
    if (have > this.maxHeaderBytes) {
      this.fail(from, 431, 'http1.headers_too_large');
      return -1;
    }
    // A bare LF line end would never produce CRLFCRLF: detect it now instead of waiting.
    for (let lf = src.indexOf(10, from); lf >= 0; lf = src.indexOf(10, lf + 1)) {
      if (lf === from || src[lf - 1] !== 13) {
        this.fail(from, 400, 'http1.codec_error');
        return -1;
      }
    }
    this.pending = from === 0 && src !== this.pending ? src : Buffer.from(src.subarray(from));
    return -1;
  }

  /** Parses head bytes buf[start, end) (end is after the final CRLF). Returns 0 or -1 on error. */
  private parseHead(buf: Buffer, start: number, end: number): number {
    const size = end - start;
    if (size > this.maxHeaderBytes) return this.headFail(431, 'http1.headers_too_large');
    this.headBytes = size;
    const headers = this.headers;
    headers.reset(buf);
    this.contentLength = -1;
    this.chunked = false;
    this.lastCodingChunked = false;
    this.otherCoding = false;
    this.connClose = false;
    this.connKeepAlive = false;
    this.connUpgrade = false;
    this.hasUpgrade = false;
    this.expectContinue = false;
    this.eofBody = false;
    this.hasBody = false;
    this.bodyBytes = 0;

    let i = this.kind === KIND_REQUEST ? this.parseRequestLine(buf, start) : this.parseStatusLine(buf, start);
    if (i < 0) return -1;

    // Field lines.
    const lineLimit = end - 2; // index of the final CRLF
    const maxCount = this.maxHeaderCount;
    let hostCount = 0;
    while (i < lineLimit) {
      const b0 = buf[i];
      if (b0 === 32 || b0 === 9) return this.headFail(400, 'http1.codec_error'); // obs-fold
      const nameStart = i;
      let underscore = false;
      for (;;) {
        const c = buf[i];
        if (TOKEN_CHARS[c] !== 1) break;
        if (c === 95) underscore = true;
        i++;
      }
      if (i === nameStart || buf[i] !== 58) {
        return this.headFail(
          400,
          buf[i] === 58 || buf[i] === 32 || buf[i] === 9 ? 'http1.codec_error' : 'http1.invalid_characters',
        );
      }
      const nameEnd = i;
      i++; // ':'
      while (buf[i] === 32 || buf[i] === 9) i++;
      const valueStart = i;
      let valueEnd = i;
      for (;;) {
        const c = buf[i];
        // Visible ASCII, nearly every byte of a value: no table load, always part of the value.
        if (c > 32 && c < 127) {
          valueEnd = ++i;
          continue;
        }
        if (c === 13) break;
        if (VALUE_CHARS[c] !== 1) return this.headFail(400, 'http1.invalid_characters');
        i++;
        if (c !== 32 && c !== 9) valueEnd = i;
      }
      if (buf[i + 1] !== 10) return this.headFail(400, 'http1.codec_error'); // bare CR
      i += 2;
      if (headers.count >= maxCount) return this.headFail(431, 'http1.too_many_headers');
      if (underscore && this.underscores !== UNDERSCORES_ALLOW) {
        if (this.underscores === UNDERSCORES_REJECT) return this.headFail(400, 'http1.unexpected_underscore');
        continue; // drop
      }
      const id = classifyName(buf, nameStart, nameEnd);
      headers.push(nameStart, nameEnd, valueStart, valueEnd, i, id);
      switch (id) {
        case H_HOST:
          hostCount++;
          break;
        case H_CONTENT_LENGTH:
          if (!this.readContentLength(buf, valueStart, valueEnd)) return -1;
          break;
        case H_TRANSFER_ENCODING:
          if (!this.readTransferEncoding(buf, valueStart, valueEnd)) return -1;
          break;
        case H_CONNECTION:
          this.readConnection(buf, valueStart, valueEnd);
          break;
        case H_UPGRADE:
          this.hasUpgrade = true;
          break;
        case H_EXPECT:
          if (equalsLower(buf, valueStart, valueEnd, '100-continue')) this.expectContinue = true;
          break;
      }
    }
    if (i !== lineLimit) return this.headFail(400, 'http1.codec_error');
    if (this.kind === KIND_REQUEST) return this.finishRequestHead(hostCount);
    return this.finishResponseHead();
  }

  private headFail(status: number, details: string): number {
    this.fail(0, status, details);
    return -1;
  }

  private parseRequestLine(buf: Buffer, start: number): number {
    let i = start;
    while (TOKEN_CHARS[buf[i]] === 1) i++;
    const methodEnd = i;
    if (methodEnd === start || buf[i] !== 32) return this.headFail(400, 'http1.codec_error');
    this.method = internMethod(buf, start, methodEnd);
    this.methodCode = methodCodeOf(this.method);
    i++;
    this.targetStart = i;
    for (;;) {
      const c = buf[i];
      if (c === 32) break;
      if (c <= 32 || c === 127 || c === 35 /* '#': fragments never go on the wire */) {
        return this.headFail(400, 'http1.invalid_url');
      }
      i++;
    }
    this.targetEnd = i;
    if (this.targetEnd === this.targetStart) return this.headFail(400, 'http1.invalid_url');
    i++;
    // HTTP-version
    if (
      buf[i] !== 72 ||
      buf[i + 1] !== 84 ||
      buf[i + 2] !== 84 ||
      buf[i + 3] !== 80 ||
      buf[i + 4] !== 47 ||
      !isDigit(buf[i + 5]) ||
      buf[i + 6] !== 46 ||
      !isDigit(buf[i + 7]) ||
      buf[i + 8] !== 13 ||
      buf[i + 9] !== 10
    ) {
      return this.headFail(400, 'http1.codec_error');
    }
    if (buf[i + 5] !== 49 || (buf[i + 7] !== 49 && buf[i + 7] !== 48)) {
      return this.headFail(505, 'http1.codec_error');
    }
    this.versionMinor = buf[i + 7] - 48;
    return i + 10;
  }

  private parseStatusLine(buf: Buffer, start: number): number {
    const i = start;
    if (
      buf[i] !== 72 ||
      buf[i + 1] !== 84 ||
      buf[i + 2] !== 84 ||
      buf[i + 3] !== 80 ||
      buf[i + 4] !== 47 ||
      buf[i + 5] !== 49 ||
      buf[i + 6] !== 46 ||
      (buf[i + 7] !== 49 && buf[i + 7] !== 48) ||
      buf[i + 8] !== 32 ||
      !isDigit(buf[i + 9]) ||
      !isDigit(buf[i + 10]) ||
      !isDigit(buf[i + 11])
    ) {
      return this.headFail(502, 'upstream_protocol_error');
    }
    this.versionMinor = buf[i + 7] - 48;
    this.statusCode = (buf[i + 9] - 48) * 100 + (buf[i + 10] - 48) * 10 + (buf[i + 11] - 48);
    if (this.statusCode < 100) return this.headFail(502, 'upstream_protocol_error');
    let j = i + 12;
    if (buf[j] === 32) j++;
    else if (buf[j] !== 13) return this.headFail(502, 'upstream_protocol_error');
    this.reasonStart = j;
    for (;;) {
      const c = buf[j];
      if (c === 13) break;
      if (VALUE_CHARS[c] !== 1) return this.headFail(502, 'upstream_protocol_error');
      j++;
    }
    this.reasonEnd = j;
    if (buf[j + 1] !== 10) return this.headFail(502, 'upstream_protocol_error');
    return j + 2;
  }

  private readContentLength(buf: Buffer, s: number, e: number): boolean {
    // A list of identical values ("42, 42") is allowed; anything else that differs is not.
    let i = s;
    if (i === e) {
      this.headFail(400, 'http1.invalid_content_length');
      return false;
    }
    while (i < e) {
      let v = 0;
      const d0 = i;
      while (i < e && isDigit(buf[i])) {
        v = v * 10 + (buf[i] - 48);
        i++;
      }
      if (i === d0 || i - d0 > 15) {
        this.headFail(400, 'http1.invalid_content_length');
        return false;
      }
      if (this.contentLength >= 0 && this.contentLength !== v) {
        this.headFail(400, 'http1.content_length_mismatch');
        return false;
      }
      this.contentLength = v;
      while (i < e && (buf[i] === 32 || buf[i] === 9)) i++;
      if (i < e) {
        if (buf[i] !== 44) {
          this.headFail(400, 'http1.invalid_content_length');
          return false;
        }
        i++;
        while (i < e && (buf[i] === 32 || buf[i] === 9)) i++;
        if (i === e) {
          this.headFail(400, 'http1.invalid_content_length');
          return false;
        }
      }
    }
    return true;
  }

  private lastCodingChunked = false;
  private otherCoding = false;

  private readTransferEncoding(buf: Buffer, s: number, e: number): boolean {
    // Codings are a comma list, possibly across several lines. Only "chunked" is decoded; it
    // must appear once, last.
    let i = s;
    while (i < e) {
      while (i < e && (buf[i] === 32 || buf[i] === 9 || buf[i] === 44)) i++;
      if (i >= e) break;
      const ts = i;
      while (i < e && buf[i] !== 44 && buf[i] !== 59) i++;
      let te = i;
      while (te > ts && (buf[te - 1] === 32 || buf[te - 1] === 9)) te--;
      if (buf[i] === 59) while (i < e && buf[i] !== 44) i++; // transfer parameters
      if (this.chunked) {
        // chunked twice, or a coding after chunked: the framing is unknowable.
        this.headFail(400, 'http1.invalid_transfer_encoding');
        return false;
      }
      if (equalsLower(buf, ts, te, 'chunked')) {
        this.chunked = true;
        this.lastCodingChunked = true;
      } else {
        this.otherCoding = true;
      }
    }
    return true;
  }

  private readConnection(buf: Buffer, s: number, e: number): void {
    let i = s;
    while (i < e) {
      while (i < e && (buf[i] === 32 || buf[i] === 9 || buf[i] === 44)) i++;
      const ts = i;
      while (i < e && buf[i] !== 44) i++;
      let te = i;
      while (te > ts && (buf[te - 1] === 32 || buf[te - 1] === 9)) te--;
      if (te === ts) continue;
      if (equalsLower(buf, ts, te, 'close')) this.connClose = true;
      else if (equalsLower(buf, ts, te, 'keep-alive')) this.connKeepAlive = true;
      else if (equalsLower(buf, ts, te, 'upgrade')) this.connUpgrade = true;
    }
  }

  private finishRequestHead(hostCount: number): number {
    const te = this.headers.hasKnown(H_TRANSFER_ENCODING);
    if (te) {
      if (this.versionMinor === 0) return this.headFail(400, 'http1.invalid_transfer_encoding');
      if (this.contentLength >= 0) return this.headFail(400, 'http1.content_length_and_chunked_not_allowed');
      if (!this.lastCodingChunked) return this.headFail(400, 'http1.invalid_transfer_encoding');
      if (this.otherCoding) return this.headFail(501, 'http1.invalid_transfer_encoding');
    }
    if (hostCount > 1) return this.headFail(400, 'http1.codec_error');
    if (hostCount === 0 && this.versionMinor === 1) return this.headFail(400, 'missing_host_header');
    const action = this.handler.onMessageHead(this);
    if (this.state === S_ERROR) return -1;
    if (action === HEAD_UPGRADE) {
      // Bytes after an upgrade request are the new protocol's (or, if refused, ignored).
      this.hasBody = true;
      this.state = S_UPGRADED;
      return 0;
    }
    if (action === HEAD_NO_BODY) return this.noBody();
    if (this.chunked) return this.startChunked();
    if (this.contentLength > 0) {
      this.hasBody = true;
      this.remaining = this.contentLength;
      this.state = S_BODY_LENGTH;
      return 0;
    }
    return this.noBody();
  }

  private finishResponseHead(): number {
    const code = this.statusCode;
    const te = this.headers.hasKnown(H_TRANSFER_ENCODING);
    if (te) {
      // Both framings, or codings we would silently drop when re-chunking: refuse the response.
      if (this.contentLength >= 0 || this.otherCoding) return this.headFail(502, 'upstream_protocol_error');
      // Transfer-Encoding without chunked on a response: the body runs until close (RFC 9112 §6.3).
      if (!this.lastCodingChunked) this.chunked = false;
    }
    const action = this.handler.onMessageHead(this);
    if (this.state === S_ERROR) return -1;
    if (code < 200) {
      if (code === 101 && this.requestedUpgrade) {
        this.hasBody = true;
        this.state = S_UPGRADED;
        return 0;
      }
      // Interim response: the final one follows on the same message exchange.
      this.state = S_HEAD;
      return 0;
    }
    if (action === HEAD_NO_BODY || this.expectNoBody || code === 204 || code === 304) return this.noBody();
    if (this.chunked) return this.startChunked();
    if (this.contentLength >= 0) {
      if (this.contentLength === 0) return this.noBody();
      this.hasBody = true;
      this.remaining = this.contentLength;
      this.state = S_BODY_LENGTH;
      return 0;
    }
    this.hasBody = true;
    this.eofBody = true;
    this.state = S_BODY_EOF;
    return 0;
  }

  /** Marks the message complete; execute() reports it right after the head. */
  private noBody(): number {
    this.hasBody = false;
    this.state = S_DONE;
    return 0;
  }

  private startChunked(): number {
    this.hasBody = true;
    this.state = S_CHUNK_SIZE;
    this.chunkState = CS_START;
    this.chunkLineLen = 0;
    this.chunkDigits = 0;
    this.remaining = 0;
    return 0;
  }

  private parseChunkSize(buf: Buffer, start: number): number {
    let i = start;
    const len = buf.length;
    while (i < len) {
      const c = buf[i];
      if (++this.chunkLineLen > MAX_CHUNK_LINE) return this.fail(i, 400, 'http1.codec_error');
      switch (this.chunkState) {
        case CS_START:
        case CS_DIGITS: {
          const h = hexValue(c);
          if (h >= 0) {
            if (++this.chunkDigits > 13) return this.fail(i, 400, 'http1.codec_error'); // > 2^52
            this.remaining = this.remaining * 16 + h;
            this.chunkState = CS_DIGITS;
            break;
          }
          if (this.chunkState === CS_START) return this.fail(i, 400, 'http1.codec_error');
          if (c === 13) this.chunkState = CS_LF;
          else if (c === 59) this.chunkState = CS_EXT;
          else if (c === 32 || c === 9) this.chunkState = CS_WS;
          else return this.fail(i, 400, 'http1.codec_error');
          break;
        }
        case CS_WS:
          if (c === 59) this.chunkState = CS_EXT;
          else if (c === 13) this.chunkState = CS_LF;
          else if (c !== 32 && c !== 9) return this.fail(i, 400, 'http1.codec_error');
          break;
        case CS_EXT:
          if (c === 13) this.chunkState = CS_LF;
          else if (VALUE_CHARS[c] !== 1) return this.fail(i, 400, 'http1.codec_error');
          break;
        case CS_LF:
          if (c !== 10) return this.fail(i, 400, 'http1.codec_error');
          i++;
          if (this.remaining === 0) {
            this.state = S_TRAILERS;
          } else {
            this.state = S_CHUNK_DATA;
          }
          return i;
      }
      i++;
    }
    return i;
  }

  /** Parses the trailer section after the last chunk; returns index after it or -1. */
  private parseTrailers(buf: Buffer, start: number): number {
    let src = buf;
    let from = start;
    // Index in `src` → index in `buf` (they differ when earlier bytes were pending).
    let shift = 0;
    if (this.pending !== null) {
      shift = start - this.pending.length;
      src = Buffer.concat([this.pending, buf.subarray(start)]);
      from = 0;
    }
    // No trailers: an immediate CRLF.
    if (src.length - from >= 2 && src[from] === 13 && src[from + 1] === 10) {
      this.pending = null;
      return from + 2 + shift;
    }
    if (src.length - from < 2) {
      this.pending = Buffer.from(src.subarray(from));
      return -1;
    }
    const idx = src.indexOf(CRLFCRLF, from);
    if (idx < 0) {
      if (src.length - from > this.maxHeaderBytes) {
        this.fail(start, 431, 'http1.headers_too_large');
        return -1;
      }
      this.pending = Buffer.from(src.subarray(from));
      return -1;
    }
    const end = idx + 4;
    this.pending = null;
    if (end - from > this.maxHeaderBytes) {
      this.fail(start, 431, 'http1.headers_too_large');
      return -1;
    }
    // Parse field lines into `trailers`.
    const t = this.trailers;
    t.reset(src);
    let i = from;
    const lineLimit = end - 2;
    while (i < lineLimit) {
      const b0 = src[i];
      if (b0 === 32 || b0 === 9) {
        this.fail(start, 400, 'http1.codec_error');
        return -1;
      }
      const ns = i;
      while (TOKEN_CHARS[src[i]] === 1) i++;
      if (i === ns || src[i] !== 58) {
        this.fail(start, 400, 'http1.invalid_characters');
        return -1;
      }
      const ne = i;
      i++;
      while (src[i] === 32 || src[i] === 9) i++;
      const vs = i;
      let ve = i;
      for (;;) {
        const c = src[i];
        if (c === 13) break;
        if (VALUE_CHARS[c] !== 1) {
          this.fail(start, 400, 'http1.invalid_characters');
          return -1;
        }
        i++;
        if (c !== 32 && c !== 9) ve = i;
      }
      if (src[i + 1] !== 10) {
        this.fail(start, 400, 'http1.codec_error');
        return -1;
      }
      i += 2;
      if (t.count >= this.maxHeaderCount) {
        this.fail(start, 431, 'http1.too_many_headers');
        return -1;
      }
      t.push(ns, ne, vs, ve, i, classifyName(src, ns, ne));
    }
    this.handler.onTrailers(this);
    return end + shift;
  }
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

const METHOD_BYTES = METHODS.map(([m]) => Buffer.from(m, 'latin1'));

/** Method as a string; the common ones are shared constants (no allocation). */
function internMethod(buf: Buffer, s: number, e: number): string {
  const len = e - s;
  for (let m = 0; m < METHOD_BYTES.length; m++) {
    const mb = METHOD_BYTES[m];
    if (mb.length !== len) continue;
    let same = true;
    for (let k = 0; k < len; k++) {
      if (buf[s + k] !== mb[k]) {
        same = false;
        break;
      }
    }
    if (same) return METHODS[m][0];
  }
  return latin1Slice(buf, s, e);
}

function methodCodeOf(method: string): number {
  switch (method) {
    case 'GET':
      return METHOD_GET;
    case 'HEAD':
      return METHOD_HEAD;
    case 'POST':
      return METHOD_POST;
    case 'PUT':
      return METHOD_PUT;
    case 'DELETE':
      return METHOD_DELETE;
    case 'OPTIONS':
      return METHOD_OPTIONS;
    case 'PATCH':
      return METHOD_PATCH;
    case 'CONNECT':
      return METHOD_CONNECT;
    case 'TRACE':
      return METHOD_TRACE;
    default:
      return METHOD_OTHER;
  }
}

// ---------------------------------------------------------------------------------------------
// Serialisation

const REASONS: Record<number, string> = {
  100: 'Continue',
  101: 'Switching Protocols',
  102: 'Processing',
  103: 'Early Hints',
  200: 'OK',
  201: 'Created',
  202: 'Accepted',
  203: 'Non-Authoritative Information',
  204: 'No Content',
  205: 'Reset Content',
  206: 'Partial Content',
  207: 'Multi-Status',
  208: 'Already Reported',
  226: 'IM Used',
  300: 'Multiple Choices',
  301: 'Moved Permanently',
  302: 'Found',
  303: 'See Other',
  304: 'Not Modified',
  305: 'Use Proxy',
  307: 'Temporary Redirect',
  308: 'Permanent Redirect',
  400: 'Bad Request',
  401: 'Unauthorized',
  402: 'Payment Required',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  407: 'Proxy Authentication Required',
  408: 'Request Timeout',
  409: 'Conflict',
  410: 'Gone',
  411: 'Length Required',
  412: 'Precondition Failed',
  413: 'Payload Too Large',
  414: 'URI Too Long',
  415: 'Unsupported Media Type',
  416: 'Range Not Satisfiable',
  417: 'Expectation Failed',
  421: 'Misdirected Request',
  422: 'Unprocessable Entity',
  423: 'Locked',
  424: 'Failed Dependency',
  425: 'Too Early',
  426: 'Upgrade Required',
  428: 'Precondition Required',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  451: 'Unavailable For Legal Reasons',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
  505: 'HTTP Version Not Supported',
  506: 'Variant Also Negotiates',
  507: 'Insufficient Storage',
  508: 'Loop Detected',
  510: 'Not Extended',
  511: 'Network Authentication Required',
};

export function reasonPhrase(code: number): string {
  return REASONS[code] ?? 'Unknown';
}

const statusLines11: (Buffer | undefined)[] = [];
const statusLines10: (Buffer | undefined)[] = [];

/** "HTTP/1.x CODE Reason\r\n" as shared bytes (Envoy writes its own reason phrases too). */
export function statusLine(code: number, minor: number): Buffer {
  const cache = minor === 0 ? statusLines10 : statusLines11;
  let b = cache[code];
  if (b === undefined) {
    b = Buffer.from(`HTTP/1.${minor} ${code} ${reasonPhrase(code)}\r\n`, 'latin1');
    if (code >= 100 && code <= 999) cache[code] = b;
  }
  return b;
}

/** Hex size line for a chunk: "1a2\r\n". */
export function chunkHeader(size: number): string {
  return `${size.toString(16)}\r\n`;
}

export const LAST_CHUNK = Buffer.from('0\r\n\r\n', 'latin1');
export const CRLF = Buffer.from('\r\n', 'latin1');
