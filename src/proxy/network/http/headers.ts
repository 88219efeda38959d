/**
 * Header storage for HTTP/1.1 messages that keeps the bytes as they arrived. The parser records
 * offsets of each field line into the source buffer; strings are made only when someone asks
 * for a value. Forwarding copies runs of untouched lines verbatim and appends the few added
 * fields, so a proxied head costs a handful of memcpy calls, not a string per header.
 *
 * Well-known names get a small integer id at parse time (by length, first byte and a byte
 * compare), so the connection manager and router find `host`, `content-length`, `x-envoy-*`...
 * without building strings.
 *
 * Lifetime: a HeaderMap belongs to a parser and is reused for the next message on the same
 * connection. It is valid for the whole life of the stream that owns it; filters that keep
 * values past `onDone` must copy them.
 */

import { latin1Slice, latin1Write } from '../../common/bytes.ts';

// Well-known header ids. 0 is "any other name".
export const H_OTHER = 0;
export const H_HOST = 1;
export const H_CONTENT_LENGTH = 2;
export const H_TRANSFER_ENCODING = 3;
export const H_CONNECTION = 4;
export const H_UPGRADE = 5;
export const H_EXPECT = 6;
export const H_KEEP_ALIVE = 7;
export const H_PROXY_CONNECTION = 8;
export const H_TE = 9;
export const H_TRAILER = 10;
export const H_CONTENT_TYPE = 11;
export const H_X_FORWARDED_FOR = 12;
export const H_X_FORWARDED_PROTO = 13;
export const H_X_REQUEST_ID = 14;
export const H_X_FORWARDED_CLIENT_CERT = 15;
export const H_X_FORWARDED_HOST = 16;
export const H_SERVER = 17;
export const H_GRPC_STATUS = 18;
export const H_GRPC_TIMEOUT = 19;
export const H_PROXY_AUTHENTICATE = 20;
export const H_PROXY_AUTHORIZATION = 21;
export const H_DATE = 22;
export const H_HTTP2_SETTINGS = 23;
// x-envoy-* names Envoy treats specially sit in [H_X_ENVOY_FIRST, H_X_ENVOY_OTHER].
export const H_X_ENVOY_FIRST = 32;
export const H_X_ENVOY_INTERNAL = 32;
export const H_X_ENVOY_EXTERNAL_ADDRESS = 33;
export const H_X_ENVOY_RETRY_ON = 34;
export const H_X_ENVOY_RETRY_GRPC_ON = 35;
export const H_X_ENVOY_MAX_RETRIES = 36;
export const H_X_ENVOY_UPSTREAM_RQ_TIMEOUT_MS = 37;
export const H_X_ENVOY_UPSTREAM_RQ_PER_TRY_TIMEOUT_MS = 38;
export const H_X_ENVOY_UPSTREAM_RQ_TIMEOUT_ALT_RESPONSE = 39;
export const H_X_ENVOY_EXPECTED_RQ_TIMEOUT_MS = 40;
export const H_X_ENVOY_ORIGINAL_DST_HOST = 41;
export const H_X_ENVOY_RETRIABLE_STATUS_CODES = 42;
export const H_X_ENVOY_RETRIABLE_HEADER_NAMES = 43;
export const H_X_ENVOY_ORIGINAL_PATH = 44;
export const H_X_ENVOY_UPSTREAM_SERVICE_TIME = 45;
export const H_X_ENVOY_OVERLOADED = 46;
export const H_X_ENVOY_RATELIMITED = 47;
export const H_X_ENVOY_ATTEMPT_COUNT = 48;
export const H_X_ENVOY_DECORATOR_OPERATION = 49;
export const H_X_ENVOY_DOWNSTREAM_SERVICE_CLUSTER = 50;
export const H_X_ENVOY_DOWNSTREAM_SERVICE_NODE = 51;
export const H_X_ENVOY_UPSTREAM_ALT_STAT_NAME = 52;
export const H_X_ENVOY_FORCE_TRACE = 53;
export const H_X_ENVOY_IP_TAGS = 54;
export const H_X_ENVOY_ORIGINAL_URL = 55;
export const H_X_ENVOY_HEDGE_ON_PER_TRY_TIMEOUT = 56;
export const H_X_ENVOY_IS_TIMEOUT_RETRY = 57;
export const H_X_ENVOY_UPSTREAM_STREAM_DURATION_MS = 58;
// Istio's metadata exchange pair: looked up, removed and added on every mesh request.
export const H_X_ENVOY_PEER_METADATA = 59;
export const H_X_ENVOY_PEER_METADATA_ID = 60;
export const H_X_ENVOY_OTHER = 63;
export const H_ID_COUNT = 64;

const KNOWN: Record<string, number> = {
  host: H_HOST,
  'content-length': H_CONTENT_LENGTH,
  'transfer-encoding': H_TRANSFER_ENCODING,
  connection: H_CONNECTION,
  upgrade: H_UPGRADE,
  expect: H_EXPECT,
  'keep-alive': H_KEEP_ALIVE,
  'proxy-connection': H_PROXY_CONNECTION,
  te: H_TE,
  trailer: H_TRAILER,
  'content-type': H_CONTENT_TYPE,
  'x-forwarded-for': H_X_FORWARDED_FOR,
  'x-forwarded-proto': H_X_FORWARDED_PROTO,
  'x-request-id': H_X_REQUEST_ID,
  'x-forwarded-client-cert': H_X_FORWARDED_CLIENT_CERT,
  'x-forwarded-host': H_X_FORWARDED_HOST,
  server: H_SERVER,
  'grpc-status': H_GRPC_STATUS,
  'grpc-timeout': H_GRPC_TIMEOUT,
  'proxy-authenticate': H_PROXY_AUTHENTICATE,
  'proxy-authorization': H_PROXY_AUTHORIZATION,
  date: H_DATE,
  'http2-settings': H_HTTP2_SETTINGS,
  'x-envoy-internal': H_X_ENVOY_INTERNAL,
  'x-envoy-external-address': H_X_ENVOY_EXTERNAL_ADDRESS,
  'x-envoy-retry-on': H_X_ENVOY_RETRY_ON,
  'x-envoy-retry-grpc-on': H_X_ENVOY_RETRY_GRPC_ON,
  'x-envoy-max-retries': H_X_ENVOY_MAX_RETRIES,
  'x-envoy-upstream-rq-timeout-ms': H_X_ENVOY_UPSTREAM_RQ_TIMEOUT_MS,
  'x-envoy-upstream-rq-per-try-timeout-ms': H_X_ENVOY_UPSTREAM_RQ_PER_TRY_TIMEOUT_MS,
  'x-envoy-upstream-rq-timeout-alt-response': H_X_ENVOY_UPSTREAM_RQ_TIMEOUT_ALT_RESPONSE,
  'x-envoy-expected-rq-timeout-ms': H_X_ENVOY_EXPECTED_RQ_TIMEOUT_MS,
  'x-envoy-original-dst-host': H_X_ENVOY_ORIGINAL_DST_HOST,
  'x-envoy-retriable-status-codes': H_X_ENVOY_RETRIABLE_STATUS_CODES,
  'x-envoy-retriable-header-names': H_X_ENVOY_RETRIABLE_HEADER_NAMES,
  'x-envoy-original-path': H_X_ENVOY_ORIGINAL_PATH,
  'x-envoy-upstream-service-time': H_X_ENVOY_UPSTREAM_SERVICE_TIME,
  'x-envoy-overloaded': H_X_ENVOY_OVERLOADED,
  'x-envoy-ratelimited': H_X_ENVOY_RATELIMITED,
  'x-envoy-attempt-count': H_X_ENVOY_ATTEMPT_COUNT,
  'x-envoy-decorator-operation': H_X_ENVOY_DECORATOR_OPERATION,
  'x-envoy-downstream-service-cluster': H_X_ENVOY_DOWNSTREAM_SERVICE_CLUSTER,
  'x-envoy-downstream-service-node': H_X_ENVOY_DOWNSTREAM_SERVICE_NODE,
  'x-envoy-upstream-alt-stat-name': H_X_ENVOY_UPSTREAM_ALT_STAT_NAME,
  'x-envoy-force-trace': H_X_ENVOY_FORCE_TRACE,
  'x-envoy-ip-tags': H_X_ENVOY_IP_TAGS,
  'x-envoy-original-url': H_X_ENVOY_ORIGINAL_URL,
  'x-envoy-hedge-on-per-try-timeout': H_X_ENVOY_HEDGE_ON_PER_TRY_TIMEOUT,
  'x-envoy-is-timeout-retry': H_X_ENVOY_IS_TIMEOUT_RETRY,
  'x-envoy-upstream-stream-duration-ms': H_X_ENVOY_UPSTREAM_STREAM_DURATION_MS,
  'x-envoy-peer-metadata': H_X_ENVOY_PEER_METADATA,
  'x-envoy-peer-metadata-id': H_X_ENVOY_PEER_METADATA_ID,
};

/** Lowercase name of each well-known id (for ids that have a single name). */
export const KNOWN_NAMES: string[] = [];
for (const [name, id] of Object.entries(KNOWN)) KNOWN_NAMES[id] = name;

// Candidate lookup by (length, lowercased first byte). 64 lengths x 128 bytes, allocated dense:
// filled sparsely, V8 would keep the array as a dictionary and every lookup would hash.
const CANDIDATES: ({ id: number; bytes: Uint8Array }[] | undefined)[] = new Array(64 * 128).fill(undefined);
for (const [name, id] of Object.entries(KNOWN)) {
  const key = (name.length << 7) | name.charCodeAt(0);
  const list = CANDIDATES[key] ?? [];
  list.push({ id, bytes: Buffer.from(name, 'latin1') });
  CANDIDATES[key] = list;
}
const X_ENVOY_PREFIX = Buffer.from('x-envoy-', 'latin1');

function lower(b: number): number {
  return b >= 65 && b <= 90 ? b | 0x20 : b;
}

/** Id of the header name at buf[start, end); the bytes are already known to be a token. */
export function classifyName(buf: Buffer, start: number, end: number): number {
  const len = end - start;
  if (len < 64) {
    const list = CANDIDATES[(len << 7) | lower(buf[start])];
    if (list !== undefined) {
      outer: for (let c = 0; c < list.length; c++) {
        const bytes = list[c].bytes;
        for (let i = 1; i < len; i++) if (lower(buf[start + i]) !== bytes[i]) continue outer;
        return list[c].id;
      }
    }
  }
  if (len > 8) {
    for (let i = 0; i < 8; i++) if (lower(buf[start + i]) !== X_ENVOY_PREFIX[i]) return H_OTHER;
    return H_X_ENVOY_OTHER;
  }
  return H_OTHER;
}

export function idOfName(lowerName: string): number {
  const id = KNOWN[lowerName];
  if (id !== undefined) return id;
  return lowerName.length > 8 && lowerName.startsWith('x-envoy-') ? H_X_ENVOY_OTHER : H_OTHER;
}

/** Case-insensitive compare of buf[start, end) against an all-lowercase ASCII name. */
export function equalsLower(buf: Buffer, start: number, end: number, name: string): boolean {
  if (end - start !== name.length) return false;
  for (let i = 0; i < name.length; i++) if (lower(buf[start + i]) !== name.charCodeAt(i)) return false;
  return true;
}

/** Per-entry slots in `HeaderMap.pos`. */
const STRIDE = 5; // nameStart, nameEnd, valueStart, valueEnd, lineEnd (after CRLF)

export class HeaderMap {
  /** Source bytes of the wire entries. */
  buf: Buffer = EMPTY;
  /** Flat offsets, STRIDE per wire entry. */
  pos: number[] = [];
  /** Well-known id per entry (wire entries first, then added ones). */
  ids: number[] = [];
  /** 1 when a wire entry was removed. */
  dead: number[] = [];
  /** Number of wire entries (parsed). */
  count = 0;
  /** Number of live wire entries. */
  live = 0;
  /** Added entries (lowercase names), appended after the wire entries when encoded. */
  addedNames: string[] = [];
  addedValues: string[] = [];
  addedIds: number[] = [];
  /** Pre-encoded wire line of an added entry (`addField`), or null: encoded from the strings. */
  addedLines: (Buffer | null)[] = [];
  addedCount = 0;
  /** Bitmask of ids < 32 present among live entries (wire or added); a fast `hasKnown`. */
  private present = 0;
  private presentEnvoy = 0;

  reset(buf: Buffer): void {
    this.buf = buf;
    this.count = 0;
    this.live = 0;
    this.addedCount = 0;
    this.present = 0;
    this.presentEnvoy = 0;
  }

  /** Parser entry point: records one field line. */
  push(
    nameStart: number,
    nameEnd: number,
    valueStart: number,
    valueEnd: number,
    lineEnd: number,
    id: number,
  ): void {
    const i = this.count++;
    const p = i * STRIDE;
    const pos = this.pos;
    pos[p] = nameStart;
    pos[p + 1] = nameEnd;
    pos[p + 2] = valueStart;
    pos[p + 3] = valueEnd;
    pos[p + 4] = lineEnd;
    this.ids[i] = id;
    this.dead[i] = 0;
    this.live++;
    this.mark(id);
  }

  private mark(id: number): void {
    if (id < 32) this.present |= 1 << id;
    else this.presentEnvoy |= 1 << (id - 32);
  }

  /** Whether a live entry with this well-known id may exist (exact for wire entries). */
  hasKnown(id: number): boolean {
    return id < 32 ? (this.present & (1 << id)) !== 0 : (this.presentEnvoy & (1 << (id - 32))) !== 0;
  }

  /** Whether any x-envoy-* header is present. */
  hasEnvoyHeaders(): boolean {
    return this.presentEnvoy !== 0;
  }

  get size(): number {
    return this.live + this.addedCount;
  }

  nameAt(i: number): string {
    if (i < this.count) {
      const p = i * STRIDE;
      return latin1Slice(this.buf, this.pos[p], this.pos[p + 1]).toLowerCase();
    }
    return this.addedNames[i - this.count];
  }

  valueAt(i: number): string {
    if (i < this.count) {
      const p = i * STRIDE;
      return latin1Slice(this.buf, this.pos[p + 2], this.pos[p + 3]);
    }
    return this.addedValues[i - this.count];
  }

  isLive(i: number): boolean {
    return i < this.count ? this.dead[i] === 0 : i - this.count < this.addedCount;
  }

  /** Index of the first live entry with this id at or after `from`, or -1. */
  indexOfKnown(id: number, from = 0): number {
    if (!this.hasKnown(id)) return -1;
    const n = this.count;
    for (let i = from; i < n; i++) if (this.ids[i] === id && this.dead[i] === 0) return i;
    for (let j = Math.max(0, from - n); j < this.addedCount; j++) if (this.addedIds[j] === id) return n + j;
    return -1;
  }

  indexOf(lowerName: string, from = 0): number {
    const id = idOfName(lowerName);
    if (id !== H_OTHER && id !== H_X_ENVOY_OTHER) return this.indexOfKnown(id, from);
    const n = this.count;
    const buf = this.buf;
    const pos = this.pos;
    for (let i = from; i < n; i++) {
      if (this.dead[i] !== 0 || this.ids[i] !== id) continue;
      const p = i * STRIDE;
      if (equalsLower(buf, pos[p], pos[p + 1], lowerName)) return i;
    }
    for (let j = Math.max(0, from - n); j < this.addedCount; j++)
      if (this.addedNames[j] === lowerName) return n + j;
    return -1;
  }

  /** Value of a well-known header; several entries are joined with ',' (Envoy's rule). */
  getKnown(id: number): string | undefined {
    const i = this.indexOfKnown(id);
    if (i < 0) return undefined;
    const first = this.valueAt(i);
    const next = this.indexOfKnown(id, i + 1);
    if (next < 0) return first;
    let out = first;
    for (let k = next; k >= 0; k = this.indexOfKnown(id, k + 1)) out += `,${this.valueAt(k)}`;
    return out;
  }

  /**
   * Whether the value of a well-known header starts with `prefix` (case-sensitive), read from the
   * bytes: the same answer as `getKnown(id)?.startsWith(prefix)` without making a string.
   */
  knownStartsWith(id: number, prefix: string): boolean {
    const i = this.indexOfKnown(id);
    if (i < 0) return false;
    if (i >= this.count) return this.addedValues[i - this.count].startsWith(prefix);
    const p = i * STRIDE;
    const start = this.pos[p + 2];
    const n = prefix.length;
    if (this.pos[p + 3] - start < n) return false;
    const buf = this.buf;
    for (let k = 0; k < n; k++) if (buf[start + k] !== prefix.charCodeAt(k)) return false;
    return true;
  }

  get(lowerName: string): string | undefined {
    const i = this.indexOf(lowerName);
    if (i < 0) return undefined;
    const first = this.valueAt(i);
    const next = this.indexOf(lowerName, i + 1);
    if (next < 0) return first;
    let out = first;
    for (let k = next; k >= 0; k = this.indexOf(lowerName, k + 1)) out += `,${this.valueAt(k)}`;
    return out;
  }

  /** All values of a header, one per field line (no joining). */
  getAll(lowerName: string): string[] {
    const out: string[] = [];
    for (let k = this.indexOf(lowerName); k >= 0; k = this.indexOf(lowerName, k + 1))
      out.push(this.valueAt(k));
    return out;
  }

  has(lowerName: string): boolean {
    return this.indexOf(lowerName) >= 0;
  }

  removeAt(i: number): void {
    if (i < this.count) {
      if (this.dead[i] === 0) {
        this.dead[i] = 1;
        this.live--;
      }
      return;
    }
    const j = i - this.count;
    if (j >= this.addedCount) return;
    this.addedNames.splice(j, 1);
    this.addedValues.splice(j, 1);
    this.addedIds.splice(j, 1);
    this.addedLines.splice(j, 1);
    this.addedCount--;
  }

  /** Removes every entry with this id; returns how many were removed. */
  removeKnown(id: number): number {
    if (!this.hasKnown(id)) return 0;
    let removed = 0;
    for (let i = 0; i < this.count; i++) {
      if (this.ids[i] === id && this.dead[i] === 0) {
        this.dead[i] = 1;
        this.live--;
        removed++;
      }
    }
    for (let j = this.addedCount - 1; j >= 0; j--) {
      if (this.addedIds[j] === id) {
        this.removeAt(this.count + j);
        removed++;
      }
    }
    if (id < 32) this.present &= ~(1 << id);
    else this.presentEnvoy &= ~(1 << (id - 32));
    // x-envoy-* names that share H_X_ENVOY_OTHER may remain; recompute that bit.
    if (id === H_X_ENVOY_OTHER) this.recomputeEnvoyBit();
    return removed;
  }

  private recomputeEnvoyBit(): void {
    for (let i = 0; i < this.count; i++)
      if (this.dead[i] === 0 && this.ids[i] === H_X_ENVOY_OTHER) this.mark(H_X_ENVOY_OTHER);
    for (let j = 0; j < this.addedCount; j++)
      if (this.addedIds[j] === H_X_ENVOY_OTHER) this.mark(H_X_ENVOY_OTHER);
  }

  remove(lowerName: string): number {
    const id = idOfName(lowerName);
    if (id !== H_OTHER && id !== H_X_ENVOY_OTHER) return this.removeKnown(id);
    let removed = 0;
    for (let k = this.indexOf(lowerName); k >= 0; k = this.indexOf(lowerName, k)) {
      this.removeAt(k);
      removed++;
    }
    if (id === H_X_ENVOY_OTHER && removed > 0) {
      this.presentEnvoy &= ~(1 << (H_X_ENVOY_OTHER - 32));
      this.recomputeEnvoyBit();
    }
    return removed;
  }

  /** Appends an entry; `lowerName` must be a lowercase token and `value` valid field content. */
  add(lowerName: string, value: string): void {
    const id = idOfName(lowerName);
    const j = this.addedCount++;
    this.addedNames[j] = lowerName;
    this.addedValues[j] = value;
    this.addedIds[j] = id;
    this.addedLines[j] = null;
    this.mark(id);
  }

  addKnown(id: number, value: string): void {
    const j = this.addedCount++;
    this.addedNames[j] = KNOWN_NAMES[id];
    this.addedValues[j] = value;
    this.addedIds[j] = id;
    this.addedLines[j] = null;
    this.mark(id);
  }

  /** Appends an entry whose wire line was encoded once (`encodeField`): forwarding copies it. */
  addField(f: EncodedField): void {
    const j = this.addedCount++;
    this.addedNames[j] = f.name;
    this.addedValues[j] = f.value;
    this.addedIds[j] = f.id;
    this.addedLines[j] = f.line;
    this.mark(f.id);
  }

  setKnown(id: number, value: string): void {
    this.removeKnown(id);
    this.addKnown(id, value);
  }

  set(lowerName: string, value: string): void {
    this.remove(lowerName);
    this.add(lowerName, value);
  }

  /** Calls fn for each live entry in order (names lowercase). */
  forEach(fn: (name: string, value: string) => void): void {
    for (let i = 0; i < this.count; i++) if (this.dead[i] === 0) fn(this.nameAt(i), this.valueAt(i));
    for (let j = 0; j < this.addedCount; j++) fn(this.addedNames[j], this.addedValues[j]);
  }

  /** Snapshot as [name, value] pairs (tests, admin, logging; not the hot path). */
  entries(): [string, string][] {
    const out: [string, string][] = [];
    this.forEach((n, v) => {
      out.push([n, v]);
    });
    return out;
  }

  /** Byte length of the encoded field lines (upper bound for added values with non-latin1). */
  encodedLength(): number {
    let n = 0;
    const pos = this.pos;
    for (let i = 0; i < this.count; i++) {
      if (this.dead[i] !== 0) continue;
      const p = i * STRIDE;
      n += pos[p + 4] - pos[p];
    }
    for (let j = 0; j < this.addedCount; j++) {
      const line = this.addedLines[j];
      n += line !== null ? line.length : this.addedNames[j].length + this.addedValues[j].length + 4;
    }
    return n;
  }

  /**
   * Writes the field lines (without the final empty line) into `out` at `at`; returns the new
   * offset. Live wire lines are copied verbatim, in runs; added lines follow.
   */
  encodeInto(out: Buffer, at: number): number {
    const pos = this.pos;
    const src = this.buf;
    let runStart = -1;
    let runEnd = -1;
    for (let i = 0; i < this.count; i++) {
      const p = i * STRIDE;
      if (this.dead[i] !== 0) continue;
      if (pos[p] === runEnd) {
        runEnd = pos[p + 4];
        continue;
      }
      if (runStart >= 0) at = copyBytes(src, runStart, runEnd, out, at);
      runStart = pos[p];
      runEnd = pos[p + 4];
    }
    if (runStart >= 0) at = copyBytes(src, runStart, runEnd, out, at);
    for (let j = 0; j < this.addedCount; j++) {
      const line = this.addedLines[j];
      if (line !== null) {
        out.set(line, at);
        at += line.length;
        continue;
      }
      const prefix = NAME_PREFIXES[this.addedIds[j]];
      if (prefix !== undefined) {
        out.set(prefix, at);
        at += prefix.length;
      } else {
        at = writeLatin1(out, this.addedNames[j], at);
        out[at++] = 58; // ':'
        out[at++] = 32;
      }
      at = writeLatin1(out, this.addedValues[j], at);
      out[at++] = 13;
      out[at++] = 10;
    }
    return at;
  }

  /** Copies every live entry into a fresh, self-contained map (for keeping past the stream). */
  clone(): HeaderMap {
    const m = new HeaderMap();
    this.forEach((n, v) => {
      m.add(n, v);
    });
    return m;
  }

  /** Builds a map from pairs (local replies, tests). */
  static from(pairs: readonly (readonly [string, string])[]): HeaderMap {
    const m = new HeaderMap();
    for (const [n, v] of pairs) m.add(n.toLowerCase(), v);
    return m;
  }
}

const EMPTY = Buffer.alloc(0);

/** `name: ` of each well-known id, so an added known header costs one copy for its name. */
const NAME_PREFIXES: (Buffer | undefined)[] = [];
for (const [name, id] of Object.entries(KNOWN)) NAME_PREFIXES[id] = Buffer.from(`${name}: `, 'latin1');

/**
 * Short strings are written with a loop: cheaper than a call into the runtime for the few bytes
 * of most added values (scheme, lengths, times). Code units above 0xff keep their low byte, as
 * latin1Write does.
 */
export function writeLatin1(out: Buffer, s: string, at: number): number {
  const n = s.length;
  if (n > 16) return at + latin1Write(out, s, at);
  for (let i = 0; i < n; i++) out[at + i] = s.charCodeAt(i);
  return at + n;
}

/** Copies src[start, end) to out[at..]; returns the new offset. Short runs skip the native call. */
function copyBytes(src: Buffer, start: number, end: number, out: Buffer, at: number): number {
  const n = end - start;
  if (n > 96) return at + src.copy(out, at, start, end);
  for (let k = 0; k < n; k++) out[at + k] = src[start + k];
  return at + n;
}

/** A header whose wire line ("name: value\r\n") is encoded once and copied per message. */
export interface EncodedField {
  readonly name: string;
  readonly value: string;
  readonly id: number;
  readonly line: Buffer;
}

/** Encodes a field once for `HeaderMap.addField`; `lowerName`/`value` follow `add`'s rules. */
export function encodeField(lowerName: string, value: string): EncodedField {
  return {
    name: lowerName,
    value,
    id: idOfName(lowerName),
    line: Buffer.from(`${lowerName}: ${value}\r\n`, 'latin1'),
  };
}

/** Bytes allowed in a field value: HTAB, SP, VCHAR, obs-text (RFC 9110 §5.5). */
export const VALUE_CHARS = new Uint8Array(256);
/** tchar (RFC 9110 §5.6.2). */
export const TOKEN_CHARS = new Uint8Array(256);
{
  VALUE_CHARS[9] = 1;
  for (let b = 0x20; b <= 0x7e; b++) VALUE_CHARS[b] = 1;
  for (let b = 0x80; b <= 0xff; b++) VALUE_CHARS[b] = 1;
  const tchars = "!#$%&'*+-.^_`|~";
  for (let b = 0x30; b <= 0x39; b++) TOKEN_CHARS[b] = 1;
  for (let b = 0x41; b <= 0x5a; b++) TOKEN_CHARS[b] = 1;
  for (let b = 0x61; b <= 0x7a; b++) TOKEN_CHARS[b] = 1;
  for (const c of tchars) TOKEN_CHARS[c.charCodeAt(0)] = 1;
}

export function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 255 || TOKEN_CHARS[c] === 0) return false;
  }
  return true;
}

/** A value that can be written on the wire as is: field content without CR/LF/NUL, latin1. */
export function isValidFieldValue(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 255 || VALUE_CHARS[c] === 0) return false;
  }
  return true;
}
