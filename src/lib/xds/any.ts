/**
 * `google.protobuf.Any` in both of its shapes:
 * - packed `{type_url, value: bytes}` — what travels in DiscoveryResponse.resources; encode once,
 *   share between proxies;
 * - expanded `{'@type': url, ...fields}` — what nested `typed_config` fields hold while a
 *   resource is being built, and what decoding with `json: true` yields.
 */
import type { IConversionOptions } from 'protobufjs';
import { ErrorCode, MizzenError } from '../errors.ts';
import { DECODE_OPTIONS, decodeMessage, encodeMessage, hasMessageType } from './protos.ts';

export interface PackedAny {
  readonly type_url: string;
  readonly value: Uint8Array;
}

/** An object that carries its type for protobufjs' `Any` conversion. */
export type Typed<T extends object> = T & { readonly '@type': string };

export function isPackedAny(value: unknown): value is PackedAny {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as PackedAny).type_url === 'string' &&
    (value as PackedAny).value instanceof Uint8Array
  );
}

/**
 * Encodes `message` as the type named by `typeUrl` and wraps it in an Any. The Any is encoded
 * at the same time as a length-delimited field 2 (`resources` of a DiscoveryResponse), and
 * `value` is a view into those bytes, so responses that share the Any copy it without encoding
 * anything (see anyEntryOf and discovery.ts).
 */
export function packAny(typeUrl: string, message: object): PackedAny {
  return packEncoded(typeUrl, encodeMessage(typeUrl, message));
}

/** An Any of bytes already encoded as the type named by `typeUrl` (see packAny). */
export function packEncoded(typeUrl: string, value: Uint8Array): PackedAny {
  const url = Buffer.from(typeUrl, 'utf8');
  const anyLength = 1 + varintLength(url.length) + url.length + 1 + varintLength(value.length) + value.length;
  const entry = Buffer.allocUnsafe(1 + varintLength(anyLength) + anyLength);
  // Field order and presence as protobufjs writes an Any: type_url (1), then value (2).
  let pos = writeVarint(entry, writeTag(entry, 0, 2), anyLength);
  pos = writeVarint(entry, writeTag(entry, pos, 1), url.length);
  entry.set(url, pos);
  pos = writeVarint(entry, writeTag(entry, pos + url.length, 2), value.length);
  entry.set(value, pos);
  const any: PackedAny = { type_url: typeUrl, value: entry.subarray(pos) };
  entries.set(any, entry);
  return any;
}

const entries = new WeakMap<PackedAny, Uint8Array>();

/** The Any as an encoded field 2 entry, when packAny made it (undefined otherwise). */
export function anyEntryOf(any: PackedAny): Uint8Array | undefined {
  return entries.get(any);
}

/** Tag byte of a length-delimited field numbered below 16. */
function writeTag(buf: Uint8Array, pos: number, field: number): number {
  buf[pos] = (field << 3) | 2;
  return pos + 1;
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

/**
 * Decodes an Any into a plain object of its type (DECODE_OPTIONS unless told otherwise).
 * Throws MZ_ERR_INVALID_ARGUMENT when the type is not loaded or the bytes are malformed.
 */
export function unpackAny<T = Record<string, unknown>>(
  any: { readonly type_url: string; readonly value: Uint8Array },
  options: IConversionOptions = DECODE_OPTIONS,
): T {
  return decodeMessage<T>(any.type_url, any.value, options);
}

/**
 * Marks a nested message with its type URL, for `Any` fields such as `typed_config`. The type
 * must be loaded: protobufjs silently turns an unknown `@type` into an empty Any.
 */
export function typed<T extends object>(typeUrl: string, message: T): Typed<T> {
  if (!hasMessageType(typeUrl)) {
    throw new MizzenError(
      ErrorCode.INVALID_ARGUMENT,
      `typed(): unknown type URL "${typeUrl}" (not in ENVOY_PROTO_FILES)`,
    );
  }
  return { '@type': typeUrl, ...message };
}
