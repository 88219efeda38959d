/**
 * What the tls_inspector and http_inspector listener filters learn from the first bytes of a
 * connection, without consuming them: a TLS ClientHello's SNI and ALPN list, or the HTTP
 * version a cleartext request line (or the HTTP/2 preface) announces. Both are incremental:
 * they are called with everything received so far and answer 'more' until they can decide.
 */

/** Envoy's default maximum ClientHello size; a larger one closes the connection. */
export const MAX_CLIENT_HELLO = 64 * 1024;

export type ClientHelloResult =
  | { readonly kind: 'more' }
  | { readonly kind: 'not-tls' }
  | { readonly kind: 'too-large' }
  | { readonly kind: 'tls'; readonly sni: string | undefined; readonly alpn: readonly string[] };

const MORE = { kind: 'more' } as const;
const NOT_TLS = { kind: 'not-tls' } as const;
const RECORD_HANDSHAKE = 0x16;
const HANDSHAKE_CLIENT_HELLO = 0x01;
const EXT_SERVER_NAME = 0x0000;
const EXT_ALPN = 0x0010;

/**
 * Parses a ClientHello from the start of `buf`, reassembling a handshake message that spans
 * several records. Anything that is not a well-formed ClientHello is 'not-tls' (Envoy treats
 * such connections as raw_buffer rather than closing them).
 */
export function parseClientHello(buf: Buffer, max: number = MAX_CLIENT_HELLO): ClientHelloResult {
  if (buf.length === 0) return MORE;
  if (buf[0] !== RECORD_HANDSHAKE) return NOT_TLS;
  if (buf.length >= 2 && buf[1] !== 0x03) return NOT_TLS;
  // The handshake header in the first record tells the type and the size early.
  if (buf.length >= 6 && buf[5] !== HANDSHAKE_CLIENT_HELLO) return NOT_TLS;
  if (buf.length >= 9 && 4 + buf.readUIntBE(6, 3) > max) return { kind: 'too-large' };
  // Concatenate handshake record payloads until the ClientHello is complete.
  const parts: Buffer[] = [];
  let have = 0;
  let need = -1;
  let off = 0;
  for (;;) {
    if (buf.length < off + 5) return off > max ? { kind: 'too-large' } : MORE;
    if (buf[off] !== RECORD_HANDSHAKE || buf[off + 1] !== 0x03) return NOT_TLS;
    const len = buf.readUInt16BE(off + 3);
    if (len === 0) return NOT_TLS;
    if (buf.length < off + 5 + len) return off + 5 + len > max + 5 ? { kind: 'too-large' } : MORE;
    parts.push(buf.subarray(off + 5, off + 5 + len));
    have += len;
    off += 5 + len;
    if (need < 0 && have >= 4) {
      const head = parts.length === 1 ? parts[0] : Buffer.concat(parts);
      if (head[0] !== HANDSHAKE_CLIENT_HELLO) return NOT_TLS;
      need = 4 + head.readUIntBE(1, 3);
      if (need > max) return { kind: 'too-large' };
    }
    if (need >= 0 && have >= need) break;
  }
  const msg = (parts.length === 1 ? parts[0] : Buffer.concat(parts)).subarray(4, need);
  return parseClientHelloBody(msg) ?? NOT_TLS;
}

function parseClientHelloBody(b: Buffer): ClientHelloResult | undefined {
  let p = 2 + 32; // client_version, random
  if (b.length < p + 1) return undefined;
  p += 1 + b[p]; // session_id
  if (b.length < p + 2) return undefined;
  p += 2 + b.readUInt16BE(p); // cipher_suites
  if (b.length < p + 1) return undefined;
  p += 1 + b[p]; // compression_methods
  if (p > b.length) return undefined;
  let sni: string | undefined;
  const alpn: string[] = [];
  if (p === b.length) return { kind: 'tls', sni, alpn }; // no extensions
  if (b.length < p + 2) return undefined;
  const end = p + 2 + b.readUInt16BE(p);
  if (end > b.length) return undefined;
  p += 2;
  while (p + 4 <= end) {
    const type = b.readUInt16BE(p);
    const len = b.readUInt16BE(p + 2);
    const data = b.subarray(p + 4, p + 4 + len);
    if (data.length !== len) return undefined;
    p += 4 + len;
    if (type === EXT_SERVER_NAME) {
      if (len < 2) return undefined;
      let q = 2;
      const listEnd = Math.min(2 + data.readUInt16BE(0), len);
      while (q + 3 <= listEnd) {
        const nameType = data[q];
        const nameLen = data.readUInt16BE(q + 1);
        if (q + 3 + nameLen > listEnd) return undefined;
        // host_name (0) is the only defined type; SNI is matched case-insensitively.
        if (nameType === 0 && sni === undefined)
          sni = data.toString('latin1', q + 3, q + 3 + nameLen).toLowerCase();
        q += 3 + nameLen;
      }
    } else if (type === EXT_ALPN) {
      if (len < 2) return undefined;
      let q = 2;
      const listEnd = Math.min(2 + data.readUInt16BE(0), len);
      while (q + 1 <= listEnd) {
        const l = data[q];
        if (l === 0 || q + 1 + l > listEnd) return undefined;
        alpn.push(data.toString('latin1', q + 1, q + 1 + l));
        q += 1 + l;
      }
    }
  }
  return { kind: 'tls', sni, alpn };
}

export type HttpDetectResult =
  | { readonly kind: 'more' }
  | { readonly kind: 'not-http' }
  | { readonly kind: 'http'; readonly protocol: 'http/1.0' | 'http/1.1' | 'h2c' };

/** The HTTP/2 client connection preface (RFC 9113 §3.4). */
const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
/** Envoy's http_inspector looks at no more than this many bytes for the request line. */
export const MAX_HTTP_INSPECT = 8192;
const REQUEST_LINE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+ [^ \r\n]+ HTTP\/1\.([01])\r?$/;

function isTokenChar(c: number): boolean {
  // RFC 9110 tchar
  return (
    (c >= 0x30 && c <= 0x39) ||
    (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x61 && c <= 0x7a) ||
    "!#$%&'*+.^_`|~-".includes(String.fromCharCode(c))
  );
}

/** http_inspector: h2c by the preface, HTTP/1.x by a well-formed request line. */
export function detectHttp(buf: Buffer, max: number = MAX_HTTP_INSPECT): HttpDetectResult {
  if (buf.length === 0) return MORE;
  const n = Math.min(buf.length, H2_PREFACE.length);
  if (buf.compare(H2_PREFACE, 0, n, 0, n) === 0) {
    return n === H2_PREFACE.length ? { kind: 'http', protocol: 'h2c' } : MORE;
  }
  const nl = buf.indexOf(0x0a);
  if (nl < 0) {
    // Reject early once the method token holds a byte no method can.
    const sp = buf.indexOf(0x20);
    const methodEnd = sp < 0 ? buf.length : sp;
    for (let i = 0; i < methodEnd; i++) if (!isTokenChar(buf[i])) return { kind: 'not-http' };
    if (sp === 0) return { kind: 'not-http' };
    return buf.length >= max ? { kind: 'not-http' } : MORE;
  }
  const m = REQUEST_LINE.exec(buf.toString('latin1', 0, nl));
  if (!m) return { kind: 'not-http' };
  return { kind: 'http', protocol: m[1] === '0' ? 'http/1.0' : 'http/1.1' };
}
