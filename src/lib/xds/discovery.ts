/**
 * The ADS wire: DiscoveryRequest/Response (state of the world) and their Delta twins as
 * snake_case TypeScript shapes, and the gRPC service definition of
 * envoy.service.discovery.v3.AggregatedDiscoveryService for both a server (`addService`) and a
 * client (`makeGenericClientConstructor`).
 *
 * Responses may be handed to `call.write()` already encoded (a Buffer): the server encodes once,
 * knows the size, and serialization can never fail inside grpc-js.
 */
import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';
import type { IConversionOptions, Type } from 'protobufjs';
import { anyEntryOf, type PackedAny } from './any.ts';
import { messageType } from './protos.ts';

export const ADS_SERVICE_NAME = 'envoy.service.discovery.v3.AggregatedDiscoveryService';
export const ADS_STREAM_PATH = `/${ADS_SERVICE_NAME}/StreamAggregatedResources`;
export const ADS_DELTA_PATH = `/${ADS_SERVICE_NAME}/DeltaAggregatedResources`;

export interface Locality {
  region?: string;
  zone?: string;
  sub_zone?: string;
}

/** envoy.config.core.v3.Node; `metadata` is a google.protobuf.Struct. */
export interface XdsNode {
  id: string;
  cluster?: string;
  metadata?: { fields?: Record<string, unknown> } | null;
  locality?: Locality | null;
  user_agent_name?: string;
  user_agent_version?: string;
}

/** google.rpc.Status as carried in error_detail. */
export interface RpcStatus {
  code: number;
  message: string;
  details?: PackedAny[];
}

export interface DiscoveryRequest {
  version_info: string;
  node: XdsNode | null;
  resource_names: string[];
  type_url: string;
  response_nonce: string;
  error_detail: RpcStatus | null;
}

export interface DiscoveryResponse {
  version_info: string;
  resources: PackedAny[];
  type_url: string;
  nonce: string;
  control_plane?: { identifier: string } | null;
}

export interface DeltaDiscoveryRequest {
  node: XdsNode | null;
  type_url: string;
  resource_names_subscribe: string[];
  resource_names_unsubscribe: string[];
  initial_resource_versions: Record<string, string>;
  response_nonce: string;
  error_detail: RpcStatus | null;
}

/** envoy.service.discovery.v3.Resource: one named, versioned resource of a delta response. */
export interface DeltaResource {
  name: string;
  version: string;
  resource: PackedAny;
}

export interface DeltaDiscoveryResponse {
  system_version_info: string;
  resources: DeltaResource[];
  type_url: string;
  removed_resources: string[];
  nonce: string;
  control_plane?: { identifier: string } | null;
}

/** Requests and responses as written by a sender: every field optional. */
export type Outgoing<T> = { [K in keyof T]?: T[K] | null };

/** Decoded shape of ADS messages: defaults filled, Any left packed (`value` is a Buffer). */
export const ADS_DECODE_OPTIONS: Readonly<IConversionOptions> = Object.freeze({
  longs: String,
  enums: String,
  defaults: true,
  arrays: true,
  objects: true,
  oneofs: true,
});

const DISCOVERY = 'envoy.service.discovery.v3';

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function serializer(type: Type): (value: object) => Buffer {
  return (value) => {
    if (value instanceof Uint8Array) return asBuffer(value);
    return asBuffer(type.encode(type.fromObject(value as Record<string, unknown>)).finish());
  };
}

function deserializer<T>(type: Type): (bytes: Buffer) => T {
  return (bytes) => type.toObject(type.decode(bytes), ADS_DECODE_OPTIONS) as T;
}

/** Encodes a DiscoveryResponse (for writing pre-encoded, or measuring size). */
export function encodeDiscoveryResponse(response: Outgoing<DiscoveryResponse>): Buffer {
  const { resources, ...head } = response;
  if (!resources?.length || !spliceable()) return encodeWith(`${DISCOVERY}.DiscoveryResponse`, response);
  const { version_info, ...rest } = head;
  const entries: Uint8Array[] = new Array(resources.length);
  for (let i = 0; i < resources.length; i++) entries[i] = encodeAnyEntry(resources[i]);
  return spliced(`${DISCOVERY}.DiscoveryResponse`, { version_info }, entries, rest);
}

export function encodeDeltaDiscoveryResponse(response: Outgoing<DeltaDiscoveryResponse>): Buffer {
  const { resources, ...head } = response;
  if (!resources?.length || !spliceable()) return encodeWith(`${DISCOVERY}.DeltaDiscoveryResponse`, response);
  const { system_version_info, ...rest } = head;
  const entries: Uint8Array[] = new Array(resources.length);
  for (let i = 0; i < resources.length; i++) entries[i] = encodeDeltaResourceEntry(resources[i]);
  return spliced(`${DISCOVERY}.DeltaDiscoveryResponse`, { system_version_info }, entries, rest);
}

/** field 1 + the entries (field 2) + the other fields, in one allocation. */
function spliced(type: string, first: object, entries: readonly Uint8Array[], rest: object): Buffer {
  const before = encodeWith(type, first);
  const after = encodeWith(type, rest);
  let total = before.length + after.length;
  for (const e of entries) total += e.length;
  const out = Buffer.allocUnsafe(total);
  out.set(before, 0);
  let pos = before.length;
  for (const e of entries) {
    out.set(e, pos);
    pos += e.length;
  }
  out.set(after, pos);
  return out;
}

function encodeWith(name: string, value: object): Buffer {
  return serializer(messageType(name))(value);
}

// ---- responses spliced from pre-encoded resources ----
//
// A push sends the same resources to many proxies. protobufjs writes fields in field-number
// order, and in both responses the version is field 1 and `resources` field 2, so a response is
// the version, then one entry per resource (encoded once per resource and shared), then
// everything else — written into one buffer. The bytes are exactly what protobufjs would produce
// for the same message (a test holds them to it).

/** Field 2, length-delimited: `resources` of both responses and `resource` of a delta Resource. */
const FIELD_2_TAG = 0x12;

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

/** `[tag][length][bytes]` in one buffer. */
function lengthDelimited(tag: number, bytes: Uint8Array): Uint8Array {
  const out = Buffer.allocUnsafe(1 + varintLength(bytes.length) + bytes.length);
  const pos = writeVarint(out, 1, bytes.length);
  out[0] = tag;
  out.set(bytes, pos);
  return out;
}

let spliceOk: boolean | undefined;

/** True when the loaded protos number fields as the splicing relies on (checked once). */
function spliceable(): boolean {
  if (spliceOk === undefined) {
    const ids = (name: string) => messageType(name).fields;
    const response = ids(`${DISCOVERY}.DiscoveryResponse`);
    const delta = ids(`${DISCOVERY}.DeltaDiscoveryResponse`);
    const resource = ids(`${DISCOVERY}.Resource`);
    const onlyAfter2 = (fields: Record<string, { id: number }>, first: string) =>
      Object.entries(fields).every(([n, f]) =>
        n === first ? f.id === 1 : n === 'resources' ? f.id === 2 : f.id > 2,
      );
    spliceOk =
      onlyAfter2(response, 'version_info') &&
      onlyAfter2(delta, 'system_version_info') &&
      resource.version?.id === 1 &&
      resource.resource?.id === 2 &&
      resource.name?.id === 3;
  }
  return spliceOk;
}

const anyEntries = new WeakMap<object, Uint8Array>();

/**
 * The encoded `resources` entry of one Any (field 2): made by packAny, else encoded once and
 * cached per Any object, so resources shared by reference between proxies are encoded once.
 */
export function encodeAnyEntry(any: PackedAny): Uint8Array {
  let entry = anyEntryOf(any) ?? anyEntries.get(any);
  if (!entry) {
    const anyType = messageType('google.protobuf.Any');
    entry = lengthDelimited(FIELD_2_TAG, anyType.encode(anyType.fromObject(any)).finish());
    anyEntries.set(any, entry);
  }
  return entry;
}

const deltaEntries = new WeakMap<object, { name: string; version: string; entry: Uint8Array }>();

/** One `resources` entry of a DeltaDiscoveryResponse, cached per Any for its name and version. */
export function encodeDeltaResourceEntry(r: DeltaResource): Uint8Array {
  const cached = deltaEntries.get(r.resource);
  if (cached && cached.name === r.name && cached.version === r.version) return cached.entry;
  const resourceType = messageType(`${DISCOVERY}.Resource`);
  // Resource fields by number: version (1), resource (2), name (3).
  const version = resourceType.encode(resourceType.fromObject({ version: r.version })).finish();
  const anyEntry = encodeAnyEntry(r.resource);
  const name = resourceType.encode(resourceType.fromObject({ name: r.name })).finish();
  const resource = Buffer.allocUnsafe(version.length + anyEntry.length + name.length);
  resource.set(version, 0);
  resource.set(anyEntry, version.length);
  resource.set(name, version.length + anyEntry.length);
  const entry = lengthDelimited(FIELD_2_TAG, resource);
  deltaEntries.set(r.resource, { name: r.name, version: r.version, entry });
  return entry;
}

type Sotw = MethodDefinition<
  Outgoing<DiscoveryRequest> | Uint8Array,
  Outgoing<DiscoveryResponse> | Uint8Array
>;
type Delta = MethodDefinition<
  Outgoing<DeltaDiscoveryRequest> | Uint8Array,
  Outgoing<DeltaDiscoveryResponse> | Uint8Array
>;

export interface AdsServiceDefinition extends ServiceDefinition {
  StreamAggregatedResources: Sotw;
  DeltaAggregatedResources: Delta;
}

let definition: AdsServiceDefinition | undefined;

/**
 * The ADS service. Server handlers receive decoded requests (ADS_DECODE_OPTIONS) and may write
 * objects or encoded Buffers; clients symmetrically.
 */
export function adsServiceDefinition(): AdsServiceDefinition {
  if (definition) return definition;
  const req = messageType(`${DISCOVERY}.DiscoveryRequest`);
  const res = messageType(`${DISCOVERY}.DiscoveryResponse`);
  const deltaReq = messageType(`${DISCOVERY}.DeltaDiscoveryRequest`);
  const deltaRes = messageType(`${DISCOVERY}.DeltaDiscoveryResponse`);
  definition = {
    StreamAggregatedResources: {
      path: ADS_STREAM_PATH,
      requestStream: true,
      responseStream: true,
      requestSerialize: serializer(req),
      requestDeserialize: deserializer(req),
      responseSerialize: serializer(res),
      responseDeserialize: deserializer(res),
      originalName: 'streamAggregatedResources',
    },
    DeltaAggregatedResources: {
      path: ADS_DELTA_PATH,
      requestStream: true,
      responseStream: true,
      requestSerialize: serializer(deltaReq),
      requestDeserialize: deserializer(deltaReq),
      responseSerialize: serializer(deltaRes),
      responseDeserialize: deserializer(deltaRes),
      originalName: 'deltaAggregatedResources',
    },
  };
  return definition;
}
