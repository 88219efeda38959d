/**
 * HTTP filter registry: each filter registers the Envoy message name of its config and a
 * compile function; the connection manager compiles `http_filters` through it, and the route
 * table compiles `typed_per_filter_config` entries through the same registration. An
 * unregistered filter is a config error (NACK), unless the filter is marked `is_optional`.
 */
import type { CompileContext, ProtoReader } from '../../../config/proto.ts';
import type { HttpFilterFactory } from './filter.ts';

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

const byType = new Map<string, HttpFilterRegistration>();

export function registerHttpFilter(reg: HttpFilterRegistration): void {
  byType.set(reg.typeName, reg);
}

export function httpFilterRegistration(typeName: string): HttpFilterRegistration | undefined {
  return byType.get(typeName);
}

export function registeredHttpFilters(): string[] {
  return [...byType.keys()];
}
