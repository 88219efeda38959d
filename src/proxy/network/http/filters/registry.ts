/**
 * HTTP filter registry: each filter registers the Envoy message name of its config and a
 * compile function; the connection manager compiles `http_filters` through it, and the route
 * table compiles `typed_per_filter_config` entries through the same registration. An
 * unregistered filter is a config error (NACK), unless the filter is marked `is_optional`.
 *
 * Filters configured by TypedStruct (Istio's own: istio.metadata_exchange, istio.stats) are
 * registered by their inner type URL: the TypedStruct registrations below unwrap the struct and
 * dispatch, so an unknown inner type is a NACK naming it.
 */
import { messageNameOf, ROUTE_FILTER_CONFIG_TYPE_URL } from '../../../../lib/xds/type-urls.ts';
import { type CompileContext, type ProtoReader, readAny } from '../../../config/proto.ts';
import { openTypedStruct, type StructReader, TYPED_STRUCT_TYPES } from '../../../telemetry/typed-struct.ts';
import { corsFilterRegistration, corsPolicyRegistration } from './cors.ts';
import { faultFilterRegistration } from './fault.ts';
import type { HttpFilterFactory } from './filter.ts';
import {
  compileMetadataExchangeConfig,
  metadataExchangeFactory,
  PEER_METADATA_CONFIG_TYPE,
} from './istio-metadata-exchange.ts';
import { compileIstioStatsConfig, istioStatsFactory, STATS_PLUGIN_CONFIG_TYPE } from './istio-stats.ts';

/** Things a filter factory may need from its environment at compile time. */
export interface FilterCompileEnv {
  /** Cluster lookups, stats, ... are reached through here (kept open for later filters). */
  readonly services: Record<string, unknown>;
}

export interface HttpFilterRegistration {
  /** Envoy message name of the filter config, e.g. envoy.extensions.filters.http.router.v3.Router. */
  readonly typeName: string;
  /** Compiles the filter config (reader over the unpacked Any). */
  compile(reader: ProtoReader, filterName: string, env: FilterCompileEnv): HttpFilterFactory | undefined;
  /** Compiles a per-route override (typed_per_filter_config); absent when none is supported. */
  compilePerRoute?(reader: ProtoReader, ctx: CompileContext): unknown;
}

// Built-in filters are listed here (not self-registered) so every user of the registry has
// them without importing each filter module; the router registers itself (it needs the HCM).
const byType = new Map<string, HttpFilterRegistration>(
  [faultFilterRegistration, corsFilterRegistration, corsPolicyRegistration].map((r) => [r.typeName, r]),
);

/** A filter whose config arrives as a TypedStruct: compiled from the struct's JSON. */
export type TypedStructFilterCompiler = (
  config: StructReader,
  filterName: string,
  env: FilterCompileEnv,
) => HttpFilterFactory | undefined;

const byStructType = new Map<string, TypedStructFilterCompiler>([
  [
    PEER_METADATA_CONFIG_TYPE,
    (c, name, env) => metadataExchangeFactory(name, compileMetadataExchangeConfig(c, env)),
  ],
  [STATS_PLUGIN_CONFIG_TYPE, (c, name, env) => istioStatsFactory(name, compileIstioStatsConfig(c, env))],
]);

/** Registers a TypedStruct-configured filter by the inner type URL (`type.googleapis.com/...`). */
export function registerTypedStructHttpFilter(typeUrl: string, compile: TypedStructFilterCompiler): void {
  byStructType.set(typeUrl, compile);
}

for (const typeName of TYPED_STRUCT_TYPES) {
  byType.set(typeName, {
    typeName,
    compile(reader, filterName, env) {
      const opened = openTypedStruct(reader);
      if (opened === undefined) return undefined;
      const compile = byStructType.get(opened.typeUrl);
      if (compile === undefined) {
        reader.ctx.error(
          reader.at('type_url'),
          `HTTP filter ${filterName || opened.typeName} (TypedStruct of ${opened.typeUrl}) is not supported`,
        );
        return undefined;
      }
      return compile(opened.config, filterName, env);
    },
  });
}

export function registerHttpFilter(reg: HttpFilterRegistration): void {
  byType.set(reg.typeName, reg);
}

export function httpFilterRegistration(typeName: string): HttpFilterRegistration | undefined {
  return byType.get(typeName);
}

export function registeredHttpFilters(): string[] {
  return [...byType.keys()];
}

/**
 * Compiles one typed_per_filter_config entry through the registry, for route configurations
 * compiled outside an HCM (RDS). Same rules as the HCM's inline compile: a FilterConfig wrapper
 * may mark the override optional (skipped when the filter is unknown); `disabled` is refused;
 * undefined means "not supported" (the route table reports it with the path).
 */
export function compilePerRouteFilterConfig(
  _filterName: string,
  config: unknown,
  path: string,
  ctx: CompileContext,
): unknown {
  let opened = readAny(ctx, config, path);
  if (!opened) return null;
  let optional = false;
  if (opened.typeName === FILTER_CONFIG) {
    const w = opened.reader;
    optional = w.bool('is_optional');
    w.unsupported('disabled', 'disabling a filter per route is not supported');
    const inner = w.raw('config');
    w.done();
    if (inner === undefined || inner === null) return null;
    opened = readAny(ctx, inner, `${path}.config`);
    if (!opened) return null;
  }
  const reg = byType.get(opened.typeName);
  if (!reg?.compilePerRoute) {
    opened.reader.ignore(...Object.keys(opened.reader.msg));
    opened.reader.done();
    return optional ? SKIPPED : undefined;
  }
  return reg.compilePerRoute(opened.reader, ctx) ?? null;
}

const FILTER_CONFIG = messageNameOf(ROUTE_FILTER_CONFIG_TYPE_URL);
/** Marker for a skipped optional per-route config (kept so the route compiles). */
const SKIPPED = Object.freeze({ skipped: true });
