/**
 * Encoding a message with one repeated message field written from pre-encoded entries, so a
 * large resource whose parts repeat (the virtual hosts of route configurations, shared by many
 * of them) encodes each part once. protobufjs writes fields in field-number order, so the
 * message is: the fields numbered below the spliced one, its entries, the fields above — the
 * same bytes protobufjs writes for the whole message (a test holds them to it).
 */
import type { Type } from 'protobufjs';
import { messageType } from './protos.ts';

export interface SplicedField {
  readonly type: Type;
  /** The repeated message field. */
  readonly field: string;
  readonly tag: number;
  readonly element: Type;
}

/** The repeated message field `field` of `typeUrl`, ready for encodeSpliced; throws if it is not one. */
export function splicedField(typeUrl: string, field: string): SplicedField {
  const type = messageType(typeUrl);
  const f = type.fields[field];
  f?.resolve();
  const element = f?.resolvedType;
  if (!f?.repeated || !element || !('encode' in element) || f.map) {
    throw new Error(`${type.fullName}.${field} is not a repeated message field`);
  }
  return { type, field, tag: f.id * 8 + 2, element: element as Type };
}

/** One element of the field, encoded as it appears in the message: `[tag][length][bytes]`. */
export function encodeFieldEntry(f: SplicedField, value: object): Uint8Array {
  const bytes = f.element.encode(f.element.fromObject(value as Record<string, unknown>)).finish();
  const out = Buffer.allocUnsafe(varintLength(f.tag) + varintLength(bytes.length) + bytes.length);
  let pos = writeVarint(out, 0, f.tag);
  pos = writeVarint(out, pos, bytes.length);
  out.set(bytes, pos);
  return out;
}

/** `message` with `f` written from `entries` (its own value of `f`, if any, is ignored). */
export function encodeSpliced(f: SplicedField, message: object, entries: readonly Uint8Array[]): Buffer {
  const id = f.type.fields[f.field].id;
  const before: Record<string, unknown> = {};
  const after: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(message)) {
    const field = f.type.fields[k];
    if (!field || k === f.field) continue;
    (field.id < id ? before : after)[k] = v;
  }
  const head = f.type.encode(f.type.fromObject(before)).finish();
  const tail = f.type.encode(f.type.fromObject(after)).finish();
  let total = head.length + tail.length;
  for (const e of entries) total += e.length;
  const out = Buffer.allocUnsafe(total);
  out.set(head, 0);
  let pos = head.length;
  for (const e of entries) {
    out.set(e, pos);
    pos += e.length;
  }
  out.set(tail, pos);
  return out;
}

function varintLength(n: number): number {
  let len = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    len++;
  }
  return len;
}

function writeVarint(buf: Uint8Array, pos: number, n: number): number {
  while (n >= 0x80) {
    buf[pos++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 128);
  }
  buf[pos++] = n;
  return pos;
}
