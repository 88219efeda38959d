/**
 * Shared config builders for the telemetry tests: Istio's filters as mizzend emits them
 * (TypedStructs) and listeners with a traffic direction.
 */
import {
  PEER_METADATA_CONFIG_TYPE_URL,
  STATS_PLUGIN_CONFIG_TYPE_URL,
  TYPED_STRUCT_TYPE_URL,
  UDPA_TYPED_STRUCT_TYPE_URL,
} from '../../../src/lib/xds/type-urls.ts';
import { toProtoStruct } from '../../../src/lib/xds/well-known.ts';
import { TYPE } from '../../../src/proxy/config/type-names.ts';
import { any, ROUTER } from '../support/harness.ts';

export function typedStruct(
  typeUrl: string,
  value: Record<string, unknown> = {},
  wrapper: string = TYPED_STRUCT_TYPE_URL,
): Record<string, unknown> {
  return { '@type': wrapper, type_url: typeUrl, value: toProtoStruct(value) };
}

export const MX_FILTER = {
  name: 'istio.metadata_exchange',
  typed_config: typedStruct(PEER_METADATA_CONFIG_TYPE_URL),
};

export function statsFilter(value: Record<string, unknown> = {}, wrapper?: string): Record<string, unknown> {
  return { name: 'istio.stats', typed_config: typedStruct(STATS_PLUGIN_CONFIG_TYPE_URL, value, wrapper) };
}

export { UDPA_TYPED_STRUCT_TYPE_URL };

/** An HCM listener on 127.0.0.1:0 with Istio's filter order: exchange first, stats before the router. */
export function istioHttpListener(
  name: string,
  direction: 'INBOUND' | 'OUTBOUND',
  routeConfig: Record<string, unknown>,
  stats: Record<string, unknown> = statsFilter(),
  hcmExtra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    name,
    address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
    traffic_direction: direction,
    filter_chains: [
      {
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: any(TYPE.HTTP_CONNECTION_MANAGER, {
              stat_prefix: name,
              route_config: routeConfig,
              http_filters: [MX_FILTER, stats, ROUTER],
              ...hcmExtra,
            }),
          },
        ],
      },
    ],
  };
}

/** A tcp_proxy listener with istio.stats before it. */
export function istioTcpListener(
  name: string,
  direction: 'INBOUND' | 'OUTBOUND',
  cluster: string,
): Record<string, unknown> {
  return {
    name,
    address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
    traffic_direction: direction,
    filter_chains: [
      {
        filters: [
          statsFilter(),
          {
            name: 'envoy.filters.network.tcp_proxy',
            typed_config: any(TYPE.TCP_PROXY, { stat_prefix: name, cluster }),
          },
        ],
      },
    ],
  };
}

/** Node metadata as the bootstrap gives it. */
export function nodeMetadata(workload: string, app: string, version: string, ns = 'default') {
  return {
    NAME: `${workload}-abc12`,
    NAMESPACE: ns,
    WORKLOAD_NAME: workload,
    CLUSTER_ID: 'Kubernetes',
    MESH_ID: 'cluster.local',
    SERVICE_ACCOUNT: app,
    LABELS: { app, version, 'security.istio.io/tlsMode': 'istio' },
    INSTANCE_IPS: '10.0.0.1',
  };
}

/** Lets pending socket events run (no timers): for effects that follow a close. */
export async function settle(cond: () => boolean, turns = 2000): Promise<void> {
  for (let i = 0; i < turns && !cond(); i++) await new Promise((r) => setImmediate(r));
}
