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
import type { PackedAny } from './any.ts';
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
  return serializer(messageType(`${DISCOVERY}.DiscoveryResponse`))(response);
}

export function encodeDeltaDiscoveryResponse(response: Outgoing<DeltaDiscoveryResponse>): Buffer {
  return serializer(messageType(`${DISCOVERY}.DeltaDiscoveryResponse`))(response);
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
