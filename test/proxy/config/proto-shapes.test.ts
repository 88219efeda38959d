/**
 * The compile functions against real proto-loader output: representative Listener, Cluster and
 * ClusterLoadAssignment resources are encoded and decoded with the shared protos
 * (src/lib/xds, the xDS client's decode options: defaults on, oneof names, enums and longs as
 * strings, Any expanded) and must compile without spurious "unsupported field" errors; a set
 * unsupported field must still be reported with its path.
 */
import { type TestContext, test } from 'node:test';
import { decodeMessage, encodeMessage } from '../../../src/lib/xds/protos.ts';
import {
  CLUSTER_TYPE_URL,
  ENDPOINT_TYPE_URL,
  LISTENER_TYPE_URL,
  ROUTE_TYPE_URL,
} from '../../../src/lib/xds/type-urls.ts';
import { TYPE } from '../../../src/proxy/config/type-names.ts';
import { compileListener } from '../../../src/proxy/listener/listener.ts';
import { compileRouteConfiguration } from '../../../src/proxy/network/http/router/route-table.ts';
import { StatsStore } from '../../../src/proxy/stats/store.ts';
import { compileCluster, compileClusterLoadAssignment } from '../../../src/proxy/upstream/cluster.ts';
import { ClusterManager } from '../../../src/proxy/upstream/cluster-manager.ts';
import { any, assertNoOpenHandles, ROUTER } from '../support/harness.ts';

const roundTrip = (typeUrl: string, msg: object) => decodeMessage(typeUrl, encodeMessage(typeUrl, msg));

const routeConfiguration = {
  name: '8080',
  virtual_hosts: [
    {
      name: 'reviews.default.svc.cluster.local:8080',
      domains: ['reviews.default.svc.cluster.local', 'reviews', 'reviews:8080'],
      routes: [
        {
          name: 'canary',
          match: {
            prefix: '/',
            headers: [{ name: 'end-user', string_match: { exact: 'jason' } }],
            case_sensitive: { value: true },
          },
          route: {
            weighted_clusters: {
              clusters: [
                { name: 'outbound|8080|v2|reviews.default.svc.cluster.local', weight: { value: 90 } },
                { name: 'outbound|8080|v3|reviews.default.svc.cluster.local', weight: { value: 10 } },
              ],
            },
            timeout: { seconds: 0 },
            retry_policy: {
              retry_on: 'connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes',
              num_retries: { value: 2 },
              retriable_status_codes: [503],
              retry_host_predicate: [
                {
                  name: 'envoy.retry_host_predicates.previous_hosts',
                  typed_config: any(TYPE.PREVIOUS_HOSTS_PREDICATE, {}),
                },
              ],
              host_selection_retry_max_attempts: 5,
            },
            max_stream_duration: {
              max_stream_duration: { seconds: 0 },
              grpc_timeout_header_max: { seconds: 0 },
            },
          },
          decorator: { operation: 'reviews.default.svc.cluster.local:8080/*' },
          metadata: {
            filter_metadata: {
              istio: {
                fields: {
                  config: {
                    string_value: '/apis/networking.istio.io/v1/namespaces/default/virtual-service/reviews',
                  },
                },
              },
            },
          },
        },
        {
          name: 'redirect',
          match: { path: '/old' },
          redirect: { path_redirect: '/new', response_code: 'FOUND' },
        },
        {
          name: 'direct',
          match: { safe_regex: { regex: '/health.*' } },
          direct_response: { status: 200, body: { inline_string: 'ok' } },
        },
        {
          name: 'rewrite',
          match: { path_separated_prefix: '/api' },
          route: {
            cluster: 'outbound|8080||reviews.default.svc.cluster.local',
            prefix_rewrite: '/v1',
            host_rewrite_literal: 'x',
          },
        },
      ],
      include_request_attempt_count: true,
    },
  ],
  validate_clusters: { value: false },
};

const cms = () => ({ clusterManager: new ClusterManager(new StatsStore()), stats: new StatsStore() });

test('RouteConfiguration round-tripped through proto-loader compiles', (t: TestContext) => {
  t.plan(3);
  const decoded = roundTrip(ROUTE_TYPE_URL, routeConfiguration);
  const r = compileRouteConfiguration(decoded);
  t.assert.equal(r.ok, true, JSON.stringify(!r.ok && r.errors));
  const table = r.ok ? r.value : undefined;
  t.assert.equal(table?.virtualHosts[0].routes.length, 4);
  t.assert.equal(table?.virtualHosts[0].routes[0].retryPolicy?.hostSelectionMaxAttempts, 5);
});

test('Listener with an HCM (inline routes) and one with tcp_proxy compile after a round trip', (t: TestContext) => {
  t.plan(2);
  const http = roundTrip(LISTENER_TYPE_URL, {
    name: '0.0.0.0_8080',
    address: { socket_address: { address: '127.0.0.1', port_value: 8080 } },
    filter_chains: [
      {
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: any(TYPE.HTTP_CONNECTION_MANAGER, {
              stat_prefix: 'outbound_0.0.0.0_8080',
              route_config: routeConfiguration,
              http_filters: [ROUTER],
              use_remote_address: { value: false },
              upgrade_configs: [{ upgrade_type: 'websocket' }],
              normalize_path: { value: true },
              path_with_escaped_slashes_action: 'KEEP_UNCHANGED',
              server_name: 'istio-envoy',
              preserve_external_request_id: true,
              stream_idle_timeout: { seconds: 300 },
            }),
          },
        ],
      },
    ],
    traffic_direction: 'OUTBOUND',
  });
  const r1 = compileListener(http, cms());
  t.assert.equal(r1.ok, true, JSON.stringify(!r1.ok && r1.errors));
  const tcp = roundTrip(LISTENER_TYPE_URL, {
    name: 'tcp',
    address: { socket_address: { address: '127.0.0.1', port_value: 9000 } },
    filter_chains: [
      {
        filters: [
          {
            name: 'envoy.filters.network.tcp_proxy',
            typed_config: any(TYPE.TCP_PROXY, {
              stat_prefix: 'tcp',
              cluster: 'c',
              idle_timeout: { seconds: 60 },
            }),
          },
        ],
      },
    ],
  });
  const r2 = compileListener(tcp, cms());
  t.assert.equal(r2.ok, true, JSON.stringify(!r2.ok && r2.errors));
});

test('Clusters (EDS with protocol options and TLS, STRICT_DNS) and endpoints compile after a round trip', (t: TestContext) => {
  t.plan(4);
  const eds = roundTrip(CLUSTER_TYPE_URL, {
    name: 'outbound|8080||reviews.default.svc.cluster.local',
    type: 'EDS',
    eds_cluster_config: {
      service_name: 'outbound|8080||reviews.default.svc.cluster.local',
      eds_config: { ads: {}, initial_fetch_timeout: { seconds: 0 }, resource_api_version: 'V3' },
    },
    connect_timeout: { seconds: 10 },
    lb_policy: 'LEAST_REQUEST',
    circuit_breakers: {
      thresholds: [
        {
          max_connections: { value: 4294967295 },
          max_pending_requests: { value: 4294967295 },
          max_requests: { value: 4294967295 },
          max_retries: { value: 4294967295 },
          track_remaining: true,
        },
      ],
    },
    common_lb_config: {},
    typed_extension_protocol_options: {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': any(TYPE.HTTP_PROTOCOL_OPTIONS, {
        common_http_protocol_options: { idle_timeout: { seconds: 3600 } },
        use_downstream_protocol_config: { http_protocol_options: {}, http2_protocol_options: {} },
      }),
    },
    transport_socket: {
      name: 'envoy.transport_sockets.tls',
      typed_config: any(TYPE.UPSTREAM_TLS_CONTEXT, {
        sni: 'reviews.example',
        common_tls_context: { alpn_protocols: ['http/1.1'] },
      }),
    },
    metadata: { filter_metadata: { istio: { fields: { services: { list_value: { values: [] } } } } } },
  });
  const r1 = compileCluster(eds);
  t.assert.equal(r1.ok, true, JSON.stringify(!r1.ok && r1.errors));
  const dns = roundTrip(CLUSTER_TYPE_URL, {
    name: 'dns',
    type: 'STRICT_DNS',
    dns_lookup_family: 'V4_ONLY',
    dns_refresh_rate: { seconds: 60 },
    load_assignment: {
      cluster_name: 'dns',
      endpoints: [
        {
          lb_endpoints: [
            { endpoint: { address: { socket_address: { address: 'example.org', port_value: 80 } } } },
          ],
        },
      ],
    },
  });
  const r2 = compileCluster(dns);
  t.assert.equal(r2.ok, true, JSON.stringify(!r2.ok && r2.errors));
  const cla = roundTrip(ENDPOINT_TYPE_URL, {
    cluster_name: 'outbound|8080||reviews.default.svc.cluster.local',
    endpoints: [
      {
        locality: { region: 'us', zone: 'us-1', sub_zone: '' },
        load_balancing_weight: { value: 2 },
        lb_endpoints: [
          {
            endpoint: { address: { socket_address: { address: '10.0.0.5', port_value: 9080 } } },
            health_status: 'HEALTHY',
            load_balancing_weight: { value: 1 },
          },
        ],
      },
    ],
  });
  const r3 = compileClusterLoadAssignment(cla);
  t.assert.equal(r3.ok, true, JSON.stringify(!r3.ok && r3.errors));
  // A set unsupported field survives the round trip and is named.
  const bad = roundTrip(CLUSTER_TYPE_URL, {
    name: 'c',
    type: 'EDS',
    eds_cluster_config: { eds_config: { ads: {} } },
    outlier_detection: { consecutive_5xx: { value: 3 } },
  });
  const r4 = compileCluster(bad);
  t.assert.ok(!r4.ok && r4.errors.some((e) => e.path === 'outlier_detection'));
});

test('no open handles', async () => {
  await assertNoOpenHandles();
});
