/**
 * The Envoy API proto root, loaded once per process from the `.proto` files that ship inside
 * `@grpc/grpc-js-xds` (DESIGN §2: never copied into this repo), with `keepCase: true` so every
 * proto-shaped object in Mizzen uses Envoy's snake_case field names.
 *
 * Why proto-loader's `loadProtosWithOptionsSync` rather than its public `loadSync`: both planes
 * need reflection (packing `Any` by type URL, canonical JSON, shape checks), which the public
 * PackageDefinition hides. grpc-js-xds itself loads its resources through this function, and
 * `@grpc/proto-loader` is pinned to an exact version in package.json.
 *
 * A process may opt into a descriptor cache (`enableEnvoyProtoCache`, mizzen-proxy does): the
 * parsed root is written once as protobufjs JSON under the temp directory, like Node's compile
 * cache, keyed by the package versions and the file list, and later starts build the same root
 * from it with protobufjs' light build — no proto-loader, no .proto parser (measured in a real
 * proxy: 2–4 MB less RSS and ~270 ms faster start; bench/proxy/README.md "Memory").
 * The cache is derived from the installed packages at run time, never committed.
 */
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { IConversionOptions, INamespace, Root, Type } from 'protobufjs';
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

const require = createRequire(import.meta.url);

/** The include folders inside the installed `@grpc/grpc-js-xds` package. */
export function envoyProtoIncludeDirs(): string[] {
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
/** MIZZEN_PROTO_CACHE=<dir> turns the descriptor cache on (how proxy workers inherit it). */
let cacheDir: string | undefined = process.env.MIZZEN_PROTO_CACHE || undefined;

/** Where the descriptor cache lives unless told otherwise (beside Node's compile cache). */
export function defaultEnvoyProtoCacheDir(): string {
  // Per user: the first user to create a shared name would own it, and nobody else gets a cache.
  return join(tmpdir(), `mizzen-proto-cache-${process.getuid?.() ?? 'user'}`);
}

/**
 * Loads the root from (and fills) a descriptor cache in `dir` instead of parsing the .proto
 * files each start. Call before the first use of the protos; later calls change nothing. Sets
 * MIZZEN_PROTO_CACHE so child processes (workers) use the same cache.
 */
export function enableEnvoyProtoCache(dir: string = cacheDir ?? defaultEnvoyProtoCacheDir()): void {
  if (root) return;
  cacheDir = dir;
  process.env.MIZZEN_PROTO_CACHE = dir;
}

/** The shared root; the first call loads the protos (~200 ms from a warm cache, ~600 ms parsed). */
export function envoyProtos(): Root {
  if (root) return root;
  root = cacheDir === undefined ? parseEnvoyProtos() : cachedEnvoyProtos(cacheDir);
  return root;
}

/** The root parsed from the .proto files with proto-loader (and the full protobufjs). */
export function parseEnvoyProtos(): Root {
  try {
    // Loaded on demand: a process that reads the descriptor cache never pays for them.
    require('@grpc/proto-loader'); // registers Google's common protos with protobufjs first
    const { loadProtosWithOptionsSync } = require('@grpc/proto-loader/build/src/util.js') as {
      loadProtosWithOptionsSync(files: string[], options: object): Root;
    };
    return loadProtosWithOptionsSync([...ENVOY_PROTO_FILES], {
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
}

/** The cache file for the installed packages and ENVOY_PROTO_FILES (any change: a new file). */
export function envoyProtoCacheFile(dir: string): string {
  const version = (pkg: string) =>
    (JSON.parse(readFileSync(require.resolve(`${pkg}/package.json`), 'utf8')) as { version: string }).version;
  const key = createHash('sha256')
    .update(
      JSON.stringify({
        format: 1,
        protobufjs: version('protobufjs'),
        protoLoader: version('@grpc/proto-loader'),
        grpcJsXds: version('@grpc/grpc-js-xds'),
        files: ENVOY_PROTO_FILES,
      }),
    )
    .digest('hex')
    .slice(0, 16);
  return join(dir, `envoy-protos-${key}.json`);
}

/** The folder belongs to this user and no one else can write into it. */
function ownedPrivately(dir: string): boolean {
  // lstat: a symlink planted under the shared temp directory must not redirect our writes.
  const st = lstatSync(dir);
  return st.isDirectory() && st.uid === process.getuid?.() && (st.mode & 0o022) === 0;
}

function cachedEnvoyProtos(dir: string): Root {
  let file: string | undefined;
  try {
    file = envoyProtoCacheFile(dir);
    // Only a file this user wrote, in a folder only this user can write: the temp directory is
    // shared with other users.
    const st = lstatSync(file);
    if (!ownedPrivately(dir) || !st.isFile() || st.uid !== process.getuid?.() || (st.mode & 0o022) !== 0) {
      throw new Error('not ours');
    }
    const json = JSON.parse(readFileSync(file, 'utf8')) as INamespace;
    const light = require('protobufjs/light.js') as typeof import('protobufjs');
    const r = light.Root.fromJSON(json);
    r.resolveAll();
    return r;
  } catch {
    // Missing, unreadable or corrupt: parse, and (re)write it for the next start.
  }
  const parsed = parseEnvoyProtos();
  if (file) {
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      if (!ownedPrivately(dir)) return parsed; // someone else's folder: never write through it
      const tmp = `${file}.${process.pid}.tmp`;
      try {
        // 'wx': never through an existing name (a leftover or a planted link); 0600: ours only.
        writeFileSync(tmp, JSON.stringify(parsed.toJSON()), { flag: 'wx', mode: 0o600 });
        renameSync(tmp, file); // atomic: a concurrent reader sees the old file or the whole new one
      } finally {
        rmSync(tmp, { force: true }); // gone after a rename; a failed write leaves nothing behind
      }
    } catch {
      // A read-only temp directory: only start-up time and memory are lost.
    }
  }
  return parsed;
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
