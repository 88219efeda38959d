/**
 * Byte helpers for the hot path. Node's Buffer has direct latin1 slice/write methods that skip
 * the encoding switch of toString/write; they are not in @types/node, so they are reached
 * through this one typed door (with the public methods as fallback).
 */
interface FastLatin1 {
  latin1Slice?(start: number, end: number): string;
  latin1Write?(str: string, offset: number): number;
}

const proto = Buffer.prototype as unknown as FastLatin1;
const hasSlice = typeof proto.latin1Slice === 'function';
const hasWrite = typeof proto.latin1Write === 'function';

/** buf[start, end) as a latin1 string (bytes map 1:1 to code units, so they round-trip). */
export function latin1Slice(buf: Buffer, start: number, end: number): string {
  return hasSlice
    ? (buf as unknown as Required<FastLatin1>).latin1Slice(start, end)
    : buf.toString('latin1', start, end);
}

/** Writes `str` as latin1 at `offset`; returns bytes written. The caller ensured the room. */
export function latin1Write(buf: Buffer, str: string, offset: number): number {
  return hasWrite
    ? (buf as unknown as Required<FastLatin1>).latin1Write(str, offset)
    : buf.write(str, offset, 'latin1');
}
