/**
 * Istio's default telemetry filters (what istiod emits when the Telemetry API and the
 * `prometheus` provider are at their defaults): peer metadata exchange as the first HTTP filter,
 * and the stats plugin right before the router (HTTP) or tcp_proxy (TCP).
 *
 * Their configs are not Envoy protos, so each travels as an xds.type.v3.TypedStruct: the inner
 * type URL names the config and `value` is a google.protobuf.Struct of its fields. Which side
 * reports (source or destination) is not configured here: the proxy reads the listener's
 * traffic_direction.
 */
import { typed } from '../../../lib/xds/any.ts';
import {
  PEER_METADATA_CONFIG_TYPE_URL,
  STATS_PLUGIN_CONFIG_TYPE_URL,
  TYPED_STRUCT_TYPE_URL,
} from '../../../lib/xds/type-urls.ts';
import { toProtoStruct } from '../../../lib/xds/well-known.ts';
import { ISTIO_METADATA_EXCHANGE, ISTIO_STATS } from './names.ts';
import type { HttpFilter } from './router.ts';
import type { NetworkFilter } from './tcp-proxy.ts';

/** Who the filters are for: gateways do not fall back to the Host header for destination_service. */
export type TelemetryProxyKind = 'sidecar' | 'gateway';

function typedStruct(innerTypeUrl: string, value: Readonly<Record<string, unknown>>): object {
  return typed(TYPED_STRUCT_TYPE_URL, { type_url: innerTypeUrl, value: toProtoStruct(value) });
}

/** stats.PluginConfig fields for a proxy kind (Istio sets the Host header fallback off on gateways). */
export function statsPluginConfig(kind: TelemetryProxyKind): Record<string, unknown> {
  return kind === 'gateway' ? { disable_host_header_fallback: true } : {};
}

/** `istio.metadata_exchange`: peer metadata in request and response headers. */
export function buildMetadataExchangeFilter(): HttpFilter {
  return { name: ISTIO_METADATA_EXCHANGE, typed_config: typedStruct(PEER_METADATA_CONFIG_TYPE_URL, {}) };
}

/** `istio.stats` as an HTTP filter (istio_requests_total and friends). */
export function buildHttpStatsFilter(kind: TelemetryProxyKind): HttpFilter {
  return {
    name: ISTIO_STATS,
    typed_config: typedStruct(STATS_PLUGIN_CONFIG_TYPE_URL, statsPluginConfig(kind)),
  };
}

/** `istio.stats` as a network filter (istio_tcp_* metrics). */
export function buildTcpStatsFilter(kind: TelemetryProxyKind): NetworkFilter {
  return {
    name: ISTIO_STATS,
    typed_config: typedStruct(STATS_PLUGIN_CONFIG_TYPE_URL, statsPluginConfig(kind)),
  };
}
