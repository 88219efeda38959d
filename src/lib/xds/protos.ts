/**
 * The Envoy API proto root, loaded once per process from the `.proto` files that ship inside
 * `@grpc/grpc-js-xds` (DESIGN §2: never copied into this repo), with `keepCase: true` so every
 * proto-shaped object in Mizzen uses Envoy's snake_case field names.
 *
 * Why proto-loader's `loadProtosWithOptionsSync` rather than its public `loadSync`: both planes
 * need reflection (packing `Any` by type URL, canonical JSON, shape checks), which the public
 * PackageDefinition hides. grpc-js-xds itself loads its resources through this function, and
 * `@grpc/proto-loader` is pinned to an exact version in package.json.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import '@grpc/proto-loader'; // registers Google's common protos with protobufjs before loading
import { loadProtosWithOptionsSync } from '@grpc/proto-loader/build/src/util.js';
import type { IConversionOptions, Root, Type } from 'protobufjs';
import { ErrorCode, errorMessage, MizzenError } from '../errors.ts';
import { messageNameOf } from './type-urls.ts';

/**
 * Every file both planes need, loaded into ONE root: protobufjs packs and expands `Any` only for
 * types in the same root (PLATFORM-NOTES pitfall). Adding an extension type means adding its
 * file here and its type URL in type-urls.ts.
 */
export const ENVOY_PROTO_FILES: readonly string[] = [
  'envoy/service/discovery/v3/ads.proto',
  'envoy/service/discovery/v3/discovery.proto',
  'envoy/service/status/v3/csds.proto',
  'envoy/admin/v3/config_dump.proto',
  'envoy/config/listener/v3/listener.proto',
  'envoy/config/route/v3/route.proto',
  'envoy/config/cluster/v3/cluster.proto',
  'envoy/config/endpoint/v3/endpoint.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls.proto',
  'envoy/extensions/transport_sockets/tls/v3/secret.proto',
  'envoy/extensions/transport_sockets/raw_buffer/v3/raw_buffer.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.proto',
  'envoy/extensions/filters/network/rbac/v3/rbac.proto',
  'envoy/extensions/filters/network/ext_authz/v3/ext_authz.proto',
  'envoy/extensions/filters/network/local_ratelimit/v3/local_rate_limit.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/filters/http/fault/v3/fault.proto',
  'envoy/extensions/filters/http/rbac/v3/rbac.proto',
  'envoy/extensions/filters/http/jwt_authn/v3/config.proto',
  'envoy/extensions/filters/http/local_ratelimit/v3/local_rate_limit.proto',
  'envoy/extensions/filters/http/cors/v3/cors.proto',
  'envoy/extensions/filters/http/grpc_stats/v3/config.proto',
  'envoy/extensions/filters/http/ext_authz/v3/ext_authz.proto',
  'envoy/extensions/retry/host/previous_hosts/v3/previous_hosts.proto',
  'envoy/extensions/retry/priority/previous_priorities/v3/previous_priorities_config.proto',
  'envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector.proto',
  'envoy/extensions/filters/listener/http_inspector/v3/http_inspector.proto',
  'envoy/extensions/filters/listener/original_dst/v3/original_dst.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
  'envoy/extensions/load_balancing_policies/round_robin/v3/round_robin.proto',
  'envoy/extensions/load_balancing_policies/least_request/v3/least_request.proto',
  'envoy/extensions/load_balancing_policies/random/v3/random.proto',
  'envoy/extensions/load_balancing_policies/ring_hash/v3/ring_hash.proto',
  'envoy/extensions/load_balancing_policies/maglev/v3/maglev.proto',
  'envoy/extensions/load_balancing_policies/pick_first/v3/pick_first.proto',
  'envoy/extensions/load_balancing_policies/wrr_locality/v3/wrr_locality.proto',
  'envoy/extensions/clusters/aggregate/v3/cluster.proto',
  'envoy/extensions/access_loggers/file/v3/file.proto',
  'envoy/extensions/access_loggers/stream/v3/stream.proto',
  'udpa/type/v1/typed_struct.proto',
  'xds/type/v3/typed_struct.proto',
];

/** The include folders inside the installed `@grpc/grpc-js-xds` package. */
export function envoyProtoIncludeDirs(): string[] {
  const require = createRequire(import.meta.url);
  const base = join(dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');
  return ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((d) => join(base, d));
}

/**
 * How decoded messages look in Mizzen: 64-bit integers and enums as strings, defaults filled in,
 * empty arrays and maps present, the set oneof member named by its oneof, and nested `Any`
 * expanded to `{'@type', ...fields}` (bytes become base64 strings under `json`).
 */
export const DECODE_OPTIONS: Readonly<IConversionOptions> = Object.freeze({
  longs: String,
  enums: String,
  defaults: true,
  arrays: true,
  objects: true,
  oneofs: true,
  json: true,
});

let root: Root | undefined;
const typeCache = new Map<string, Type>();

/** The shared root; the first call loads the protos (~200 ms). */
export function envoyProtos(): Root {
  if (root) return root;
  try {
    root = loadProtosWithOptionsSync([...ENVOY_PROTO_FILES], {
      keepCase: true,
      includeDirs: envoyProtoIncludeDirs(),
    });
  } catch (err) {
    throw new MizzenError(
      ErrorCode.CONFIG_UNREADABLE,
      `cannot load the Envoy protos from @grpc/grpc-js-xds: ${errorMessage(err)}`,
      { cause: err },
    );
  }
  return root;
}

function lookup(nameOrTypeUrl: string): Type | undefined {
  let type = typeCache.get(nameOrTypeUrl);
  if (type) return type;
  const name = messageNameOf(nameOrTypeUrl);
  const found = envoyProtos().lookup(name);
  // lookup also finds enums, services and namespaces; only message types qualify.
  if (!found || !('fieldsArray' in found) || !('encode' in found)) return undefined;
  type = found as Type;
  typeCache.set(nameOrTypeUrl, type);
  return type;
}

/** True when the message (by full name or type URL) is in the loaded root. */
export function hasMessageType(nameOrTypeUrl: string): boolean {
  return lookup(nameOrTypeUrl) !== undefined;
}

/** The protobufjs type for a full message name or type URL; throws when it is not loaded. */
export function messageType(nameOrTypeUrl: string): Type {
  const type = lookup(nameOrTypeUrl);
  if (!type) {
    throw new MizzenError(
      ErrorCode.INVALID_ARGUMENT,
      `unknown protobuf message type "${nameOrTypeUrl}": add its .proto to ENVOY_PROTO_FILES in src/lib/xds/protos.ts`,
    );
  }
  return type;
}

/**
 * Encodes a snake_case object. Unknown fields are dropped by protobufjs, so callers that build
 * config check shapes in tests with `validateMessageShape` (canonical JSON does it always).
 */
export function encodeMessage(nameOrTypeUrl: string, message: object): Buffer {
  const type = messageType(nameOrTypeUrl);
  return type.encode(type.fromObject(message as Record<string, unknown>)).finish() as Buffer;
}

/** Decodes bytes into a plain object (DECODE_OPTIONS unless told otherwise). Throws on bad bytes. */
export function decodeMessage<T = Record<string, unknown>>(
  nameOrTypeUrl: string,
  bytes: Uint8Array,
  options: IConversionOptions = DECODE_OPTIONS,
): T {
  const type = messageType(nameOrTypeUrl);
  try {
    return type.toObject(type.decode(bytes), options) as T;
  } catch (err) {
    throw new MizzenError(
      ErrorCode.INVALID_ARGUMENT,
      `cannot decode ${messageNameOf(nameOrTypeUrl)}: ${errorMessage(err)}`,
      { cause: err },
    );
  }
}
