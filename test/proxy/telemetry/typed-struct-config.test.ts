/**
 * Istio's filters as mizzend sends them: TypedStruct (xds.type.v3 or udpa.type.v1) unwrapped and
 * dispatched on the inner type URL, for HTTP and network filters; an unknown inner type and any
 * config field not implemented are NACKs that name the field.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { STATS_PLUGIN_CONFIG_TYPE_URL } from '../../../src/lib/xds/type-urls.ts';
import { TYPE } from '../../../src/proxy/config/type-names.ts';
import { compileListener } from '../../../src/proxy/listener/listener.ts';
import { StatsStore } from '../../../src/proxy/stats/store.ts';
import { ClusterManager } from '../../../src/proxy/upstream/cluster-manager.ts';
import { any, ROUTER, routeConfig } from '../support/harness.ts';
import {
  istioHttpListener,
  istioTcpListener,
  MX_FILTER,
  statsFilter,
  typedStruct,
  UDPA_TYPED_STRUCT_TYPE_URL,
} from './support.ts';

function compile(proto: unknown): string[] {
  const stats = new StatsStore();
  const r = compileListener(proto, { clusterManager: new ClusterManager(stats), stats });
  return r.ok ? [] : r.errors.map((e) => `${e.path}: ${e.message}`);
}

const ROUTES = routeConfig([{ match: { prefix: '/' }, direct_response: { status: 200 } }]);

function httpWith(filters: unknown[]): Record<string, unknown> {
  return {
    name: 'l',
    address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
    traffic_direction: 'OUTBOUND',
    filter_chains: [
      {
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: any(TYPE.HTTP_CONNECTION_MANAGER, {
              stat_prefix: 'l',
              route_config: ROUTES,
              http_filters: [...filters, ROUTER],
            }),
          },
        ],
      },
    ],
  };
}

test('the sidecar and gateway configs compile, with either TypedStruct wrapper', () => {
  assert.deepEqual(compile(istioHttpListener('in', 'INBOUND', ROUTES)), []);
  assert.deepEqual(
    compile(istioHttpListener('gw', 'OUTBOUND', ROUTES, statsFilter({ disable_host_header_fallback: true }))),
    [],
  );
  assert.deepEqual(compile(httpWith([MX_FILTER, statsFilter({}, UDPA_TYPED_STRUCT_TYPE_URL)])), []);
  assert.deepEqual(compile(istioTcpListener('tcp', 'OUTBOUND', 'c')), []);
});

test('an unknown field in the stats config is a NACK naming it', () => {
  const errors = compile(httpWith([statsFilter({ metrics: [{ name: 'requests_total' }] })]));
  assert.equal(errors.length, 1, errors.join('\n'));
  assert.match(
    errors[0],
    /http_filters\[0\]\.typed_config\.value\.metrics: .*field metrics is not supported/,
  );
});

test('a wrongly typed known field is a NACK naming it', () => {
  const errors = compile(httpWith([statsFilter({ disable_host_header_fallback: 'yes' })]));
  assert.match(errors.join('\n'), /value\.disable_host_header_fallback: expected a boolean/);
});

test('any field in the exchange config is refused by name', () => {
  const mx = {
    name: 'istio.metadata_exchange',
    typed_config: typedStruct('type.googleapis.com/io.istio.http.peer_metadata.Config', {
      upstream_discovery: [{ istio_headers: {} }],
    }),
  };
  assert.match(compile(httpWith([mx])).join('\n'), /value\.upstream_discovery: .*not supported/);
});

test('an unknown inner type URL is a NACK naming it (HTTP and network)', () => {
  const wasm = {
    name: 'x',
    typed_config: typedStruct('type.googleapis.com/envoy.extensions.wasm.v3.PluginConfig'),
  };
  assert.match(
    compile(httpWith([wasm])).join('\n'),
    /typed_config\.type_url: HTTP filter x \(TypedStruct of type\.googleapis\.com\/envoy\.extensions\.wasm\.v3\.PluginConfig\) is not supported/,
  );
  const tcp = istioTcpListener('tcp', 'OUTBOUND', 'c') as {
    filter_chains: { filters: Record<string, unknown>[] }[];
  };
  tcp.filter_chains[0].filters[0] = {
    name: 'y',
    typed_config: typedStruct('type.googleapis.com/io.istio.unknown.Thing'),
  };
  assert.match(
    compile(tcp).join('\n'),
    /network filter y \(TypedStruct of type\.googleapis\.com\/io\.istio\.unknown\.Thing\)/,
  );
});

test('network istio.stats refuses unknown fields too', () => {
  const tcp = istioTcpListener('tcp', 'OUTBOUND', 'c') as {
    filter_chains: { filters: Record<string, unknown>[] }[];
  };
  tcp.filter_chains[0].filters[0] = {
    name: 'istio.stats',
    typed_config: typedStruct(STATS_PLUGIN_CONFIG_TYPE_URL, { tcp_reporting_duration: '15s' }),
  };
  assert.match(compile(tcp).join('\n'), /value\.tcp_reporting_duration: .*not supported/);
});
