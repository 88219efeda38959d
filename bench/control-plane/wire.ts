/**
 * Just enough protobuf reading for the load client: a DiscoveryResponse (or delta response)
 * split into its top-level fields without decoding the resources, and a resource's name (and a
 * Cluster's discovery type) read straight from its bytes. 2,000 simulated proxies receive
 * gigabytes per full push; decoding every resource into objects would make the load client,
 * not mizzend, the thing being measured.
 */

/** A cursor over protobuf bytes. */
class Reader {
  readonly buf: Uint8Array;
  pos: number;
  readonly end: number;
  constructor(buf: Uint8Array, start = 0, end = buf.length) {
    this.buf = buf;
    this.pos = start;
    this.end = end;
  }
  varint(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = this.buf[this.pos++];
      // Values here (lengths, enums, tags) fit in 2^53; multiply instead of shifting past 31 bits.
      result += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return result;
      shift += 7;
    }
  }
  /** Skips a field of the given wire type. */
  skip(wireType: number): void {
    switch (wireType) {
      case 0:
        this.varint();
        return;
      case 1:
        this.pos += 8;
        return;
      case 2: {
        // Read the length first: `pos += varint()` would add it to the position before the varint.
        const len = this.varint();
        this.pos += len;
        return;
      }
      case 5:
        this.pos += 4;
        return;
      default:
        throw new Error(`unsupported wire type ${wireType}`);
    }
  }
}

const text = new TextDecoder();

export interface RawResource {
  readonly typeUrl: string;
  readonly value: Uint8Array;
}

export interface RawResponse {
  readonly versionInfo: string;
  readonly typeUrl: string;
  readonly nonce: string;
  readonly resources: RawResource[];
  /** Delta only. */
  readonly removed: string[];
  readonly bytes: number;
}

function readAny(r: Reader, end: number): RawResource {
  let typeUrl = '';
  let value: Uint8Array = new Uint8Array(0);
  while (r.pos < end) {
    const tag = r.varint();
    const field = tag >>> 3;
    if (field === 1 && (tag & 7) === 2) {
      const len = r.varint();
      typeUrl = text.decode(r.buf.subarray(r.pos, r.pos + len));
      r.pos += len;
    } else if (field === 2 && (tag & 7) === 2) {
      const len = r.varint();
      value = r.buf.subarray(r.pos, r.pos + len);
      r.pos += len;
    } else r.skip(tag & 7);
  }
  return { typeUrl, value };
}

function readString(r: Reader): string {
  const len = r.varint();
  const s = text.decode(r.buf.subarray(r.pos, r.pos + len));
  r.pos += len;
  return s;
}

/** envoy.service.discovery.v3.DiscoveryResponse: 1 version_info, 2 resources, 4 type_url, 5 nonce. */
export function readDiscoveryResponse(buf: Uint8Array): RawResponse {
  const r = new Reader(buf);
  let versionInfo = '';
  let typeUrl = '';
  let nonce = '';
  const resources: RawResource[] = [];
  while (r.pos < r.end) {
    const tag = r.varint();
    const field = tag >>> 3;
    const wire = tag & 7;
    if (wire !== 2) {
      r.skip(wire);
      continue;
    }
    if (field === 1) versionInfo = readString(r);
    else if (field === 4) typeUrl = readString(r);
    else if (field === 5) nonce = readString(r);
    else if (field === 2) {
      const len = r.varint();
      const end = r.pos + len;
      resources.push(readAny(r, end));
      r.pos = end;
    } else r.skip(wire);
  }
  return { versionInfo, typeUrl, nonce, resources, removed: [], bytes: buf.length };
}

/**
 * envoy.service.discovery.v3.DeltaDiscoveryResponse: 1 system_version_info, 2 resources
 * (Resource: 3 name, 1 version, 2 resource Any), 4 type_url, 5 nonce, 6 removed_resources.
 */
export function readDeltaDiscoveryResponse(buf: Uint8Array): RawResponse {
  const r = new Reader(buf);
  let versionInfo = '';
  let typeUrl = '';
  let nonce = '';
  const resources: RawResource[] = [];
  const removed: string[] = [];
  while (r.pos < r.end) {
    const tag = r.varint();
    const field = tag >>> 3;
    const wire = tag & 7;
    if (wire !== 2) {
      r.skip(wire);
      continue;
    }
    if (field === 1) versionInfo = readString(r);
    else if (field === 4) typeUrl = readString(r);
    else if (field === 5) nonce = readString(r);
    else if (field === 6) removed.push(readString(r));
    else if (field === 2) {
      const len = r.varint();
      const end = r.pos + len;
      let any: RawResource | undefined;
      while (r.pos < end) {
        const t = r.varint();
        if (t >>> 3 === 2 && (t & 7) === 2) {
          const l = r.varint();
          any = readAny(r, r.pos + l);
        } else r.skip(t & 7);
      }
      if (any) resources.push(any);
      r.pos = end;
    } else r.skip(wire);
  }
  return { versionInfo, typeUrl, nonce, resources, removed, bytes: buf.length };
}

/**
 * Field 1 (name, or cluster_name for ClusterLoadAssignment) of a resource, and field 2 as a
 * varint when present (Cluster.type: 3 is EDS).
 */
export function resourceHead(value: Uint8Array): { name: string; field2?: number } {
  const r = new Reader(value);
  let name = '';
  let field2: number | undefined;
  while (r.pos < r.end) {
    const tag = r.varint();
    const field = tag >>> 3;
    if (field === 1 && (tag & 7) === 2) name = readString(r);
    else if (field === 2 && (tag & 7) === 0) field2 = r.varint();
    else r.skip(tag & 7);
    if (name && field2 !== undefined) break;
  }
  return { name, field2 };
}

/** Cluster.DiscoveryType EDS */
export const CLUSTER_TYPE_EDS = 3;
