/**
 * Peer metadata as Istio's metadata exchange carries it: a google.protobuf.Struct of a subset of
 * the node metadata (NAME, NAMESPACE, LABELS, WORKLOAD_NAME, CLUSTER_ID, ...), protobuf-encoded
 * and base64'd into `x-envoy-peer-metadata`, with the node id in `x-envoy-peer-metadata-id`.
 *
 * The Struct codec is written out here (a few wire types) rather than going through the proto
 * root: the header is untrusted input, so decoding is bounded (size, nesting depth, entries)
 * and any malformed byte makes the peer "unknown" instead of throwing into the stream.
 */

export const PEER_METADATA_HEADER = 'x-envoy-peer-metadata';
export const PEER_METADATA_ID_HEADER = 'x-envoy-peer-metadata-id';

/** Node metadata keys sent to peers (Istio's exchange set; INSTANCE_IPS and PROXY_CONFIG stay home). */
export const EXCHANGE_KEYS: readonly string[] = [
  'NAME',
  'NAMESPACE',
  'LABELS',
  'APP_CONTAINERS',
  'CLUSTER_ID',
  'WORKLOAD_NAME',
  'OWNER',
  'SERVICE_ACCOUNT',
  'MESH_ID',
  'PLATFORM_METADATA',
];

/** Labels that telemetry reads; other workload labels are not sent (Istio trims them too). */
export const EXCHANGE_LABELS: readonly string[] = [
  'app',
  'version',
  'app.kubernetes.io/name',
  'app.kubernetes.io/version',
  'service.istio.io/canonical-name',
  'service.istio.io/canonical-revision',
];

/** Bounds on untrusted input. */
export const MAX_HEADER_BYTES = 8192;
const MAX_DEPTH = 6;
const MAX_ENTRIES = 256;
/** Longer label values are cut: they only ever become metric labels. */
const MAX_VALUE_CHARS = 256;

export const UNKNOWN = 'unknown';

/** A workload as telemetry labels it; every field has Istio's default when unknown. */
export interface PeerInfo {
  readonly workload: string;
  readonly namespace: string;
  readonly app: string;
  readonly version: string;
  readonly canonicalService: string;
  readonly canonicalRevision: string;
  readonly cluster: string;
  readonly serviceAccount: string;
  /** Node id from x-envoy-peer-metadata-id ('' when not sent). */
  readonly id: string;
  /** The workload labels joined once, for series keys. */
  readonly key: string;
}

export const UNKNOWN_PEER: PeerInfo = peerFromMetadata({}, '');

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function str(v: unknown): string | undefined {
  if (typeof v !== 'string' || v === '') return undefined;
  return v.length > MAX_VALUE_CHARS ? v.slice(0, MAX_VALUE_CHARS) : v;
}

/** Telemetry view of node metadata (local bootstrap or a decoded peer header). */
export function peerFromMetadata(md: Readonly<Record<string, unknown>>, id: string): PeerInfo {
  const rawLabels = md.LABELS;
  const labels: Record<string, unknown> =
    rawLabels !== null && typeof rawLabels === 'object' && !Array.isArray(rawLabels)
      ? (rawLabels as Record<string, unknown>)
      : {};
  const workload = str(md.WORKLOAD_NAME) ?? UNKNOWN;
  const app = str(labels.app) ?? str(labels['app.kubernetes.io/name']) ?? UNKNOWN;
  const version = str(labels.version) ?? str(labels['app.kubernetes.io/version']) ?? UNKNOWN;
  const canonicalService =
    str(labels['service.istio.io/canonical-name']) ??
    str(labels['app.kubernetes.io/name']) ??
    str(labels.app) ??
    workload;
  const canonicalRevision =
    str(labels['service.istio.io/canonical-revision']) ??
    str(labels['app.kubernetes.io/version']) ??
    str(labels.version) ??
    'latest';
  const namespace = str(md.NAMESPACE) ?? UNKNOWN;
  const cluster = str(md.CLUSTER_ID) ?? UNKNOWN;
  const serviceAccount = str(md.SERVICE_ACCOUNT) ?? UNKNOWN;
  return {
    workload,
    namespace,
    app,
    version,
    canonicalService,
    canonicalRevision,
    cluster,
    serviceAccount,
    id: str(id) ?? '',
    key: [workload, namespace, app, version, canonicalService, canonicalRevision, cluster].join('\u0001'),
  };
}

/** The subset of node metadata sent to peers. */
export function exchangeSubset(md: Readonly<Record<string, unknown>>): Record<string, Json> {
  const out: Record<string, Json> = {};
  for (const k of EXCHANGE_KEYS) {
    const v = md[k];
    if (v === undefined || v === null) continue;
    if (k === 'LABELS' && typeof v === 'object' && !Array.isArray(v)) {
      const labels: Record<string, Json> = {};
      for (const l of EXCHANGE_LABELS) {
        const lv = (v as Record<string, unknown>)[l];
        if (typeof lv === 'string') labels[l] = lv;
      }
      out.LABELS = labels;
    } else out[k] = v as Json;
  }
  return out;
}

// --- protobuf Struct codec -------------------------------------------------------------------

class Writer {
  parts: Buffer[] = [];
  len = 0;
  push(b: Buffer): void {
    this.parts.push(b);
    this.len += b.length;
  }
  varint(n: number): void {
    const bytes: number[] = [];
    let v = n;
    while (v > 0x7f) {
      bytes.push((v & 0x7f) | 0x80);
      v = Math.floor(v / 128);
    }
    bytes.push(v);
    this.push(Buffer.from(bytes));
  }
  tag(field: number, wire: number): void {
    this.varint((field << 3) | wire);
  }
  bytes(field: number, b: Buffer): void {
    this.tag(field, 2);
    this.varint(b.length);
    this.push(b);
  }
  finish(): Buffer {
    return Buffer.concat(this.parts, this.len);
  }
}

function encodeValue(v: Json): Buffer {
  const w = new Writer();
  if (v === null) {
    w.tag(1, 0);
    w.varint(0);
  } else if (typeof v === 'number') {
    w.tag(2, 1);
    const b = Buffer.alloc(8);
    b.writeDoubleLE(v);
    w.push(b);
  } else if (typeof v === 'string') {
    w.bytes(3, Buffer.from(v, 'utf8'));
  } else if (typeof v === 'boolean') {
    w.tag(4, 0);
    w.varint(v ? 1 : 0);
  } else if (Array.isArray(v)) {
    const list = new Writer();
    for (const item of v) list.bytes(1, encodeValue(item));
    w.bytes(6, list.finish());
  } else {
    w.bytes(5, encodeStruct(v));
  }
  return w.finish();
}

/** JSON object → serialized google.protobuf.Struct. Keys are written sorted (deterministic). */
export function encodeStruct(obj: Readonly<Record<string, Json>>): Buffer {
  const w = new Writer();
  for (const k of Object.keys(obj).sort()) {
    const v = obj[k];
    if (v === undefined) continue;
    const entry = new Writer();
    entry.bytes(1, Buffer.from(k, 'utf8'));
    entry.bytes(2, encodeValue(v));
    w.bytes(1, entry.finish());
  }
  return w.finish();
}

class DecodeError extends Error {}

class Reader {
  readonly buf: Buffer;
  pos: number;
  readonly end: number;
  entries = 0;
  constructor(buf: Buffer, pos: number, end: number) {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
  }
  varint(): number {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new DecodeError('truncated varint');
      const b = this.buf[this.pos++];
      result += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) return result;
      mul *= 128;
    }
    throw new DecodeError('varint too long');
  }
  sub(): Reader {
    const len = this.varint();
    if (len > this.end - this.pos) throw new DecodeError('length past the end');
    const r = new Reader(this.buf, this.pos, this.pos + len);
    this.pos += len;
    return r;
  }
  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.advance(8);
    else if (wire === 2) this.advance(this.varint());
    else if (wire === 5) this.advance(4);
    else throw new DecodeError(`wire type ${wire} not allowed`);
  }
  advance(n: number): void {
    if (n > this.end - this.pos) throw new DecodeError('length past the end');
    this.pos += n;
  }
  get done(): boolean {
    return this.pos >= this.end;
  }
}

function decodeStructFrom(r: Reader, depth: number, budget: { n: number }): Record<string, Json> {
  if (depth > MAX_DEPTH) throw new DecodeError('nested too deeply');
  const out: Record<string, Json> = {};
  while (!r.done) {
    const tag = r.varint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (field !== 1 || wire !== 2) {
      r.skip(wire);
      continue;
    }
    if (++budget.n > MAX_ENTRIES) throw new DecodeError('too many entries');
    const e = r.sub();
    let key = '';
    let value: Json = null;
    while (!e.done) {
      const t = e.varint();
      const f = Math.floor(t / 8);
      const w = t & 7;
      if (f === 1 && w === 2) {
        const s = e.sub();
        key = s.buf.toString('utf8', s.pos, s.end);
      } else if (f === 2 && w === 2) value = decodeValueFrom(e.sub(), depth + 1, budget);
      else e.skip(w);
    }
    // '__proto__' would set the prototype through the literal's setter.
    if (key !== '__proto__') out[key] = value;
  }
  return out;
}

function decodeValueFrom(r: Reader, depth: number, budget: { n: number }): Json {
  if (depth > MAX_DEPTH) throw new DecodeError('nested too deeply');
  let value: Json = null;
  while (!r.done) {
    const tag = r.varint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (field === 1 && wire === 0) {
      r.varint();
      value = null;
    } else if (field === 2 && wire === 1) {
      if (r.end - r.pos < 8) throw new DecodeError('truncated double');
      value = r.buf.readDoubleLE(r.pos);
      r.pos += 8;
    } else if (field === 3 && wire === 2) {
      const s = r.sub();
      value = s.buf.toString('utf8', s.pos, s.end);
    } else if (field === 4 && wire === 0) value = r.varint() !== 0;
    else if (field === 5 && wire === 2) value = decodeStructFrom(r.sub(), depth + 1, budget);
    else if (field === 6 && wire === 2) {
      const l = r.sub();
      const items: Json[] = [];
      while (!l.done) {
        const t = l.varint();
        if (t >>> 3 === 1 && (t & 7) === 2) {
          if (++budget.n > MAX_ENTRIES) throw new DecodeError('too many entries');
          items.push(decodeValueFrom(l.sub(), depth + 1, budget));
        } else l.skip(t & 7);
      }
      value = items;
    } else r.skip(wire);
  }
  return value;
}

/** Serialized google.protobuf.Struct → JSON object; throws on malformed or oversized input. */
export function decodeStruct(bytes: Buffer): Record<string, Json> {
  return decodeStructFrom(new Reader(bytes, 0, bytes.length), 0, { n: 0 });
}

// --- header values ---------------------------------------------------------------------------

/** The header value this node sends. */
export function encodePeerHeader(md: Readonly<Record<string, unknown>>): string {
  return encodeStruct(exchangeSubset(md)).toString('base64');
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Decoded peers by header value: the same few peers send the same bytes on every request, so
 * most requests cost one Map lookup. Bounded: cleared when full.
 */
const cache = new Map<string, PeerInfo>();
const MAX_CACHED = 1024;

/**
 * The peer from exchange header values; undefined when absent, oversized or malformed (the
 * peer then stays unknown, as in Istio).
 */
export function decodePeerHeader(value: string | undefined, id: string | undefined): PeerInfo | undefined {
  if (value === undefined || value === '' || value.length > MAX_HEADER_BYTES) return undefined;
  const idv = id !== undefined && id.length <= MAX_VALUE_CHARS ? id : '';
  // Keyed by the value alone (the id rides along; the value already names the pod).
  const hit = cache.get(value);
  if (hit !== undefined && hit.id === idv) return hit;
  const trimmed = value.trim();
  if (!BASE64.test(trimmed)) return undefined;
  let peer: PeerInfo;
  try {
    peer = peerFromMetadata(decodeStruct(Buffer.from(trimmed, 'base64')), idv);
  } catch {
    return undefined;
  }
  if (cache.size >= MAX_CACHED) cache.clear();
  cache.set(value, peer);
  return peer;
}

/**
 * The peer learnt by the metadata exchange for a stream, read by the stats filter at onDone.
 * Keyed weakly by the stream object, so a stream that ends without a stats filter leaves
 * nothing behind.
 */
export const streamPeers = new WeakMap<object, PeerInfo>();
