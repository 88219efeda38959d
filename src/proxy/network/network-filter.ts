/**
 * Non-terminal network filters: the filters a filter chain lists before its terminal one
 * (tcp_proxy or http_connection_manager), such as Istio's TCP `istio.stats`. The mesh needs
 * them to observe connections, not to rewrite bytes, so the seam is a connection observer:
 * opened when the chain takes a connection, told when the connection closes and what it carried.
 * Each filter registers the Envoy message name of its config (the inner type of a TypedStruct
 * when the config is wrapped in one); an unregistered filter is a config error (NACK).
 */
import { STATS_PLUGIN_CONFIG_TYPE_URL } from '../../lib/xds/type-urls.ts';
import type { CompileContext, ProtoReader } from '../config/proto.ts';
import type { StatsStore } from '../stats/store.ts';
import type { ConnectionInfo } from '../stream-info.ts';
import { compileTcpIstioStats } from '../telemetry/tcp-stats.ts';
import { openTypedStruct, type StructReader, TYPED_STRUCT_TYPES } from '../telemetry/typed-struct.ts';
import type { Host } from '../upstream/host.ts';

/** What a connection carried, reported once when it closes. */
export interface ConnectionSummary {
  readonly bytesReceived: number;
  readonly bytesSent: number;
  /** The cluster the terminal filter forwarded to (undefined when none was found). */
  readonly upstreamCluster: string | undefined;
  readonly upstreamHost: Host | undefined;
  /** RF_* response flag bits (stream-info.ts). */
  readonly responseFlags: number;
  readonly durationMs: number;
}

export interface ConnectionObserver {
  /** The terminal filter reached an upstream host (TCP: connected). */
  onUpstreamConnected?(cluster: string, host: Host): void;
  /** Called exactly once. */
  onClose(summary: ConnectionSummary): void;
}

export interface NetworkFilterFactory {
  readonly name: string;
  /** A new downstream connection on the chain; undefined when the filter has nothing to watch. */
  open(info: ConnectionInfo): ConnectionObserver | undefined;
}

export interface NetworkFilterEnv {
  readonly stats: StatsStore;
  /** The listener's traffic_direction: INBOUND, OUTBOUND or UNSPECIFIED. */
  readonly trafficDirection: string;
}

export interface NetworkFilterRegistration {
  /** Envoy message name of the config, e.g. stats.PluginConfig. */
  readonly typeName: string;
  compile(
    reader: ProtoReader,
    filterName: string,
    env: NetworkFilterEnv,
    ctx: CompileContext,
  ): NetworkFilterFactory;
}

const byType = new Map<string, NetworkFilterRegistration>();

/** A network filter whose config arrives as a TypedStruct: compiled from the struct's JSON. */
export type TypedStructNetworkFilterCompiler = (
  config: StructReader,
  filterName: string,
  env: NetworkFilterEnv,
) => NetworkFilterFactory;

const byStructType = new Map<string, TypedStructNetworkFilterCompiler>([
  [STATS_PLUGIN_CONFIG_TYPE_URL, compileTcpIstioStats],
]);

/** Registers a TypedStruct-configured network filter by its inner type URL. */
export function registerTypedStructNetworkFilter(
  typeUrl: string,
  compile: TypedStructNetworkFilterCompiler,
): void {
  byStructType.set(typeUrl, compile);
}

/** Does nothing: what a chain keeps when a filter's config was refused (the NACK says why). */
const INERT: NetworkFilterFactory = { name: 'invalid', open: () => undefined };

// TypedStruct: unwrap and dispatch on the inner type URL; an unknown one is a NACK naming it.
for (const typeName of TYPED_STRUCT_TYPES) {
  byType.set(typeName, {
    typeName,
    compile(reader, filterName, env, ctx) {
      const opened = openTypedStruct(reader);
      if (opened === undefined) return INERT;
      const compile = byStructType.get(opened.typeUrl);
      if (compile === undefined) {
        ctx.error(
          reader.at('type_url'),
          `network filter ${filterName || opened.typeName} (TypedStruct of ${opened.typeUrl}) is not supported`,
        );
        return INERT;
      }
      return compile(opened.config, filterName, env);
    },
  });
}

export function registerNetworkFilter(reg: NetworkFilterRegistration): void {
  byType.set(reg.typeName, reg);
}

export function networkFilterRegistration(typeName: string): NetworkFilterRegistration | undefined {
  return byType.get(typeName);
}

/** Opens every observer of a chain for a new connection. */
export function openObservers(
  factories: readonly NetworkFilterFactory[],
  info: ConnectionInfo,
): ConnectionObserver[] | undefined {
  if (factories.length === 0) return undefined;
  const out: ConnectionObserver[] = [];
  for (const f of factories) {
    const o = f.open(info);
    if (o !== undefined) out.push(o);
  }
  return out.length === 0 ? undefined : out;
}
