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

/** Encodes `message` as the type named by `typeUrl` and wraps it in an Any. */
export function packAny(typeUrl: string, message: object): PackedAny {
  return { type_url: typeUrl, value: encodeMessage(typeUrl, message) };
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
