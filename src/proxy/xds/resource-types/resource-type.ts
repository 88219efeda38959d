/**
 * The proxy side of one xDS resource type (CODE-STYLE §A): decode a packed `Any` from a
 * response into a narrow, validated value — or into errors that name the resource and the field
 * path, for the NACK. Decoding has three steps, all at the edge and once per new version:
 *
 * 1. proto decode through src/lib/xds (snake_case object, nested `Any` expanded);
 * 2. basic Envoy validation owned here (required names, ADS config sources, uniqueness rules)
 *    plus the dependencies the xDS client needs for warming and subscriptions (EDS names of
 *    clusters, RDS names of listeners, SDS secrets of both);
 * 3. an optional `compile` hook supplied by the proxy, which turns the proto into its runtime
 *    form (route tables, cluster configs…) and reports what it cannot honour with field paths.
 */
import { createHash } from 'node:crypto';
import type { IConversionOptions } from 'protobufjs';
import type { PackedAny } from '../../../lib/xds/any.ts';
import { decodeMessage } from '../../../lib/xds/protos.ts';
import { fromProtoDuration } from '../../../lib/xds/well-known.ts';
import type { AnyDecoder, CompileResult } from '../../config/proto.ts';

/** A decoded proto message in snake_case object form. */
export type ProtoMessage = Record<string, unknown>;

/** A resource of another type that this one needs before it may serve (Envoy's init targets). */
export interface Dependency {
  readonly typeUrl: string;
  readonly name: string;
  /**
   * The config source's `initial_fetch_timeout` in ms: 0 waits forever, undefined means the
   * client's default (Envoy's 15 s).
   */
  readonly initialFetchTimeoutMs?: number;
}

/** One accepted resource: the proto, the proxy's compiled form, and what it depends on. */
export interface DecodedResource<C = unknown> {
  readonly typeUrl: string;
  readonly name: string;
  /** The resource as received, set fields only (for config_dump and the compile hook). */
  readonly message: ProtoMessage;
  /** What the proxy's compile hook made of it; undefined when no hook is installed. */
  readonly compiled: C | undefined;
  /** sha256 of the encoded bytes: equal hashes mean the same resource. */
  readonly hash: string;
  readonly dependencies: readonly Dependency[];
}

/** `{name, value}` on success; `{name, errors}` otherwise (name undefined when unreadable). */
export type DecodeResult<C = unknown> =
  | { readonly name: string; readonly value: DecodedResource<C> }
  | { readonly name: string | undefined; readonly errors: readonly string[] };

export interface ResourceType<C = unknown> {
  readonly typeUrl: string;
  /** LDS, RDS, CDS, EDS, SDS. */
  readonly shortName: string;
  /** Envoy's message name for messages: `Cluster "x": …`. */
  readonly kind: string;
  /** SotW: a response carries the whole set, so absence means removal (LDS, CDS). */
  readonly allResourcesRequiredInSotW: boolean;
  decode(any: PackedAny): DecodeResult<C>;
  equal(a: DecodedResource<C>, b: DecodedResource<C>): boolean;
}

export interface CompileHookContext {
  /** The resource's name. */
  readonly name: string;
  /** Opens packed `Any` fields that were not expanded (types unknown to the proto root). */
  readonly decodeAny: AnyDecoder;
}

/**
 * The proxy's compile step: proto → runtime form, or issues with field paths. Signature-compatible
 * with the data plane's `compile*` functions (`compileCluster(proto, {decodeAny})`).
 */
export type CompileHook<C> = (message: ProtoMessage, context: CompileHookContext) => CompileResult<C>;

/** Collects `path: message` problems of one resource during basic validation. */
export class ResourceIssues {
  readonly list: { readonly path: string; readonly message: string }[] = [];
  error(path: string, message: string): void {
    this.list.push({ path, message });
  }
}

export interface ResourceTypeSpec<C> {
  readonly typeUrl: string;
  readonly shortName: string;
  readonly kind: string;
  readonly allResourcesRequiredInSotW: boolean;
  /** The field holding the resource name (`cluster_name` for ClusterLoadAssignment). */
  readonly nameField: string;
  /** Basic Envoy validation; returns the dependencies. Never throws. */
  readonly validate: (message: ProtoMessage, issues: ResourceIssues) => Dependency[];
  readonly compile?: CompileHook<C>;
}

/**
 * How resources are decoded: only the fields that were set (proto3 presence: no defaults, no
 * empty lists or maps), 64-bit integers and enums as strings, the set oneof member named, and
 * nested `Any` expanded to `{'@type', ...}`. "Set" is what matters at this edge: a compiler that
 * refuses unsupported fields must not see defaults as set, and config_dump omits defaults too.
 */
export const RESOURCE_DECODE_OPTIONS: Readonly<IConversionOptions> = Object.freeze({
  longs: String,
  enums: String,
  oneofs: true,
  json: true,
  defaults: false,
  arrays: false,
  objects: false,
});

const decodeAny: AnyDecoder = (typeUrl, value) => decodeMessage(typeUrl, value, RESOURCE_DECODE_OPTIONS);

/** sha256 of encoded bytes (base64): the identity `equal` compares and the client caches on. */
export function resourceHash(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('base64');
}

/** `Cluster "a"` / `Cluster <unnamed>` */
function label(kind: string, name: string | undefined): string {
  return name ? `${kind} ${JSON.stringify(name)}` : `${kind} <unnamed>`;
}

export function formatResourceError(kind: string, name: string | undefined, path: string, message: string) {
  return path ? `${label(kind, name)}: ${path}: ${message}` : `${label(kind, name)}: ${message}`;
}

/** Builds a ResourceType from its validation rules and an optional compile hook. */
export function createResourceType<C>(spec: ResourceTypeSpec<C>): ResourceType<C> {
  const { typeUrl, kind } = spec;
  return {
    typeUrl,
    shortName: spec.shortName,
    kind,
    allResourcesRequiredInSotW: spec.allResourcesRequiredInSotW,
    decode(any: PackedAny): DecodeResult<C> {
      if (any.type_url !== typeUrl) {
        return {
          name: undefined,
          errors: [
            formatResourceError(
              kind,
              undefined,
              '',
              `a ${any.type_url || 'untyped'} resource in a ${spec.shortName} response`,
            ),
          ],
        };
      }
      let message: ProtoMessage;
      try {
        message = decodeMessage<ProtoMessage>(typeUrl, any.value, RESOURCE_DECODE_OPTIONS);
      } catch (err) {
        return {
          name: undefined,
          errors: [
            formatResourceError(kind, undefined, '', err instanceof Error ? err.message : String(err)),
          ],
        };
      }
      const rawName = message[spec.nameField];
      const name = typeof rawName === 'string' && rawName !== '' ? rawName : undefined;
      const issues = new ResourceIssues();
      if (!name) issues.error(spec.nameField, 'a resource name is required');
      let dependencies: Dependency[] = [];
      try {
        dependencies = spec.validate(message, issues);
      } catch (err) {
        issues.error('', `internal error while validating: ${err instanceof Error ? err.message : err}`);
      }
      let compiled: C | undefined;
      if (spec.compile && name) {
        try {
          const result = spec.compile(message, { name, decodeAny });
          if (result.ok) compiled = result.value;
          else for (const i of result.errors) issues.error(i.path, i.message);
        } catch (err) {
          issues.error('', `internal error while compiling: ${err instanceof Error ? err.message : err}`);
        }
      }
      if (issues.list.length > 0) {
        const seen = new Set<string>();
        const errors: string[] = [];
        for (const i of issues.list) {
          const text = formatResourceError(kind, name, i.path, i.message);
          if (!seen.has(text)) {
            seen.add(text);
            errors.push(text);
          }
        }
        return { name, errors };
      }
      return {
        name: name as string,
        value: {
          typeUrl,
          name: name as string,
          message,
          compiled,
          hash: resourceHash(any.value),
          dependencies,
        },
      };
    },
    equal(a, b) {
      return a.hash === b.hash;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Shared checks
// ---------------------------------------------------------------------------------------------

export function isObject(v: unknown): v is ProtoMessage {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

export function list(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

export function join(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return path ? `${path}.${key}` : key;
}

/** The set member of a decoded oneof (proto-loader names it under the oneof's name). */
function oneofMember(msg: ProtoMessage, oneof: string, members: readonly string[]): string | undefined {
  const named = msg[oneof];
  if (typeof named === 'string' && members.includes(named)) return named;
  return members.find((m) => msg[m] !== undefined && msg[m] !== null);
}

const CONFIG_SOURCE_MEMBERS = ['path', 'path_config_source', 'api_config_source', 'ads', 'self'] as const;

/**
 * A ConfigSource that must point at the ADS stream (`ads` or `self`): the only way
 * mizzen-proxy fetches dynamic resources. Returns the initial_fetch_timeout (ms; undefined when
 * unset) when the source is usable, or null after reporting why it is not.
 */
export function checkAdsConfigSource(
  source: unknown,
  path: string,
  what: string,
  issues: ResourceIssues,
): number | undefined | null {
  if (!isObject(source)) {
    issues.error(path, `a config source is required for ${what}; use {ads: {}}`);
    return null;
  }
  const which = oneofMember(source, 'config_source_specifier', CONFIG_SOURCE_MEMBERS);
  if (which === undefined) {
    issues.error(path, `the config source names no source for ${what}; use {ads: {}}`);
    return null;
  }
  if (which !== 'ads' && which !== 'self') {
    issues.error(
      join(path, which),
      `mizzen-proxy fetches ${what} over its ADS stream only; use ads or self instead of ${which}`,
    );
    return null;
  }
  if (list(source.authorities).length > 0) {
    issues.error(join(path, 'authorities'), 'xDS federation authorities are not supported');
    return null;
  }
  const api = source.resource_api_version;
  if (api !== undefined && api !== null && api !== 'AUTO' && api !== 'V3' && api !== 0 && api !== 2) {
    issues.error(join(path, 'resource_api_version'), `only the v3 xDS API is served, not ${String(api)}`);
    return null;
  }
  const timeout = fromProtoDuration(source.initial_fetch_timeout as { seconds?: unknown } | null | undefined);
  if (timeout !== undefined && !(timeout >= 0)) {
    issues.error(join(path, 'initial_fetch_timeout'), 'must not be negative');
    return null;
  }
  return timeout;
}

/** Sets a dependency's initial fetch timeout only when the config source set one. */
export function dependency(
  typeUrl: string,
  name: string,
  initialFetchTimeoutMs: number | undefined,
): Dependency {
  return initialFetchTimeoutMs === undefined ? { typeUrl, name } : { typeUrl, name, initialFetchTimeoutMs };
}
