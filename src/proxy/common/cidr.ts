/**
 * CIDR ranges (core.v3.CidrRange) compiled to byte masks, and Envoy's default notion of an
 * internal address (RFC 1918, loopback, RFC 4193 unique local).
 */
import { isIPv4, isIPv6 } from 'node:net';

export interface CidrRange {
  readonly bytes: Uint8Array;
  readonly prefixLen: number;
  readonly v6: boolean;
}

/** Address text → bytes (4 or 16); v4-mapped v6 ("::ffff:1.2.3.4") becomes 4 bytes. */
export function addressBytes(addr: string): Uint8Array | undefined {
  let a = addr;
  if (a.startsWith('[') && a.endsWith(']')) a = a.slice(1, -1);
  const zone = a.indexOf('%');
  if (zone >= 0) a = a.slice(0, zone);
  if (isIPv4(a)) return Uint8Array.from(a.split('.').map(Number));
  if (!isIPv6(a)) return undefined;
  const lower = a.toLowerCase();
  if (lower.startsWith('::ffff:') && isIPv4(lower.slice(7)))
    return Uint8Array.from(lower.slice(7).split('.').map(Number));
  const out = new Uint8Array(16);
  let head = lower;
  let tail = '';
  const dbl = lower.indexOf('::');
  if (dbl >= 0) {
    head = lower.slice(0, dbl);
    tail = lower.slice(dbl + 2);
  }
  const parse = (s: string): number[] => {
    if (s === '') return [];
    const groups: number[] = [];
    for (const part of s.split(':')) {
      if (isIPv4(part)) {
        const v = part.split('.').map(Number);
        groups.push((v[0] << 8) | v[1], (v[2] << 8) | v[3]);
      } else groups.push(Number.parseInt(part, 16));
    }
    return groups;
  };
  const h = parse(head);
  const t = parse(tail);
  const groups = [...h, ...new Array(8 - h.length - t.length).fill(0), ...t];
  for (let i = 0; i < 8; i++) {
    out[i * 2] = groups[i] >> 8;
    out[i * 2 + 1] = groups[i] & 0xff;
  }
  return out;
}

export function parseCidr(prefix: string, len: number): CidrRange | undefined {
  const bytes = addressBytes(prefix);
  if (!bytes) return undefined;
  const max = bytes.length * 8;
  if (len < 0 || len > max) return undefined;
  return { bytes, prefixLen: len, v6: bytes.length === 16 };
}

export function cidrContains(range: CidrRange, addr: Uint8Array): boolean {
  if (addr.length !== range.bytes.length) return false;
  let bits = range.prefixLen;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((addr[i] & mask) !== (range.bytes[i] & mask)) return false;
  }
  return true;
}

const DEFAULT_INTERNAL: CidrRange[] = [
  parseCidr('10.0.0.0', 8)!,
  parseCidr('172.16.0.0', 12)!,
  parseCidr('192.168.0.0', 16)!,
  parseCidr('127.0.0.0', 8)!,
  parseCidr('fc00::', 7)!,
  parseCidr('::1', 128)!,
];

/** Whether `addr` is internal: in `ranges`, or Envoy's default private ranges when none given. */
export function isInternalAddress(addr: string, ranges?: readonly CidrRange[]): boolean {
  const b = addressBytes(addr);
  if (!b) return false;
  for (const r of ranges ?? DEFAULT_INTERNAL) if (cidrContains(r, b)) return true;
  return false;
}
