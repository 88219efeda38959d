/**
 * Config dump → istioctl's table rows, filters and comparison form, from literal dumps in
 * both shapes the CLI meets: proto3 JSON (Envoy, mizzend) and mizzen-proxy's decoded objects.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  canonicalResources,
  clusterRows,
  describeRouteMatch,
  dumpNodeId,
  endpointRows,
  listenerRows,
  normalizeResource,
  readConfigDump,
  readEndpoints,
  routeRows,
  secretRows,
  selectClusters,
  selectEndpoints,
  selectListeners,
  selectRoutes,
} from '../../src/cli/commands/proxy-config-dump.ts';
import {
  CLUSTER_TYPE_URL,
  HTTP_CONNECTION_MANAGER_TYPE_URL,
  LISTENER_TYPE_URL,
  ROUTE_TYPE_URL,
  TCP_PROXY_TYPE_URL,
} from '../../src/lib/xds/type-urls.ts';

const ADMIN = 'type.googleapis.com/envoy.admin.v3.';
const REVIEWS = 'reviews.default.svc.cluster.local';
const DR = {
  filter_metadata: {
    istio: { config: '/apis/networking.istio.io/v1/namespaces/default/destination-rule/reviews' },
  },
};

/** A self-signed test certificate: serial 1a2b3c, valid 2026-11-25T13:46:15Z .. 2036-11-22T13:46:15Z. */
const CERT = `-----BEGIN CERTIFICATE-----
MIIBbzCCARagAwIBAgIDGis8MAoGCCqGSM49BAMCMBYxFDASBgNVBAoMC21penpl
bi10ZXN0MB4XDTI2MTEyNTEzNDYxNVoXDTM2MTEyMjEzNDYxNVowFjEUMBIGA1UE
CgwLbWl6emVuLXRlc3QwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAQWpsc+9hl1
p+Nmi0PjeVbKwcbb9VHUySUjrQO7vU7TRjeA3TbOQh0vCk72KLkKK/TMj4/11EKZ
sgd2qQvtXKN8o1MwUTAdBgNVHQ4EFgQUTXQ1Pm7WaXB0qxEhw4AB+O2qJjAwHwYD
VR0jBBgwFoAUTXQ1Pm7WaXB0qxEhw4AB+O2qJjAwDwYDVR0TAQH/BAUwAwEB/zAK
BggqhkjOPQQDAgNHADBEAiBQLLtPMpT5Y7JIXALcfQnRqcqTfnCSBuaBpDkTcEbw
egIgAPCqRV4azuM52Z/Iv1FVKK1DxLD0SMUg+zk7sdpW5Ts=
-----END CERTIFICATE-----
`;

const cluster = (name: string, extra: Record<string, unknown> = {}) => ({
  '@type': CLUSTER_TYPE_URL,
  name,
  type: 'EDS',
  connect_timeout: '10s',
  ...extra,
});

const hcm = (routeName: string) => ({
  name: 'envoy.filters.network.http_connection_manager',
  typed_config: {
    '@type': HTTP_CONNECTION_MANAGER_TYPE_URL,
    stat_prefix: 'x',
    rds: { config_source: { ads: {} }, route_config_name: routeName },
  },
});

const DUMP = {
  configs: [
    {
      '@type': `${ADMIN}BootstrapConfigDump`,
      bootstrap: { node: { id: 'sidecar~10.0.0.1~productpage-1.default~default.svc.cluster.local' } },
    },
    {
      '@type': `${ADMIN}ClustersConfigDump`,
      static_clusters: [{ cluster: cluster('prometheus_stats', { type: 'STATIC' }) }],
      dynamic_active_clusters: [
        { cluster: cluster(`outbound|9080|v2|${REVIEWS}`, { metadata: DR }) },
        { cluster: cluster(`outbound|9080||${REVIEWS}`, { metadata: DR }) },
        { cluster: cluster('inbound|9080||') },
        { cluster: { '@type': CLUSTER_TYPE_URL, name: 'BlackHoleCluster', connect_timeout: '10s' } },
        { cluster: cluster(`outbound|9091||ratings.default.svc.cluster.local`) },
      ],
    },
    {
      '@type': `${ADMIN}ListenersConfigDump`,
      dynamic_listeners: [
        {
          name: '127.0.0.1_9080',
          active_state: {
            listener: {
              '@type': LISTENER_TYPE_URL,
              name: '127.0.0.1_9080',
              address: { socket_address: { address: '127.0.0.1', port_value: 9080 } },
              filter_chains: [{ filters: [hcm('9080')] }],
            },
          },
        },
        {
          name: '0.0.0.0_15006',
          active_state: {
            listener: {
              '@type': LISTENER_TYPE_URL,
              name: '0.0.0.0_15006',
              address: { socket_address: { address: '0.0.0.0', port_value: 15006 } },
              filter_chains: [
                {
                  filter_chain_match: {
                    destination_port: 9080,
                    transport_protocol: 'raw_buffer',
                    application_protocols: ['http/1.1', 'h2c'],
                  },
                  filters: [hcm('inbound|9080||')],
                },
                {
                  filter_chain_match: { prefix_ranges: [{ address_prefix: '10.0.0.1', prefix_len: 32 }] },
                  filters: [
                    {
                      name: 'envoy.filters.network.tcp_proxy',
                      typed_config: {
                        '@type': TCP_PROXY_TYPE_URL,
                        stat_prefix: 'x',
                        cluster: 'InboundPassthroughCluster',
                      },
                    },
                  ],
                },
              ],
            },
          },
        },
        { name: 'broken', error_state: { details: 'rejected' } },
      ],
    },
    {
      '@type': `${ADMIN}RoutesConfigDump`,
      dynamic_route_configs: [
        {
          version_info: '1',
          route_config: {
            '@type': ROUTE_TYPE_URL,
            name: '9080',
            virtual_hosts: [
              {
                name: `${REVIEWS}:9080`,
                domains: [`${REVIEWS}`, 'reviews', 'reviews.default', 'reviews:9080'],
                routes: [
                  {
                    match: { prefix: '/', headers: [{ name: 'end-user', string_match: { exact: 'jason' } }] },
                    route: { cluster: `outbound|9080|v2|${REVIEWS}` },
                    metadata: {
                      filter_metadata: {
                        istio: {
                          config: '/apis/networking.istio.io/v1/namespaces/default/virtual-service/reviews',
                        },
                      },
                    },
                  },
                  { match: { path: '/exact' }, route: { cluster: `outbound|9080||${REVIEWS}` } },
                ],
              },
              {
                name: 'allow_any',
                domains: ['*'],
                routes: [{ match: { prefix: '/' }, route: { cluster: 'PassthroughCluster' } }],
              },
            ],
          },
        },
        { error_state: { details: 'NACKed' }, route_config: { name: 'never-held' } },
      ],
    },
    {
      '@type': `${ADMIN}SecretsConfigDump`,
      dynamic_active_secrets: [
        {
          name: 'default',
          secret: {
            '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
            name: 'default',
            tls_certificate: { certificate_chain: { inline_bytes: Buffer.from(CERT).toString('base64') } },
          },
        },
        {
          name: 'ROOTCA',
          secret: {
            '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
            name: 'ROOTCA',
            validation_context: { trusted_ca: { inline_string: CERT } },
          },
        },
      ],
    },
  ],
};

test('clusters: Istio names split into FQDN, port, subset, direction; sorted; DR from metadata', () => {
  const view = readConfigDump(DUMP);
  assert.equal(dumpNodeId(view), 'sidecar~10.0.0.1~productpage-1.default~default.svc.cluster.local');
  assert.deepEqual(
    view.clusters.filter((c) => view.statics.has(c)).map((c) => c.name),
    ['prometheus_stats'],
    'bootstrap clusters are marked static (proxy-status <proxy> does not compare them)',
  );
  assert.deepEqual(clusterRows(selectClusters(view.clusters, {})), [
    ['', '9080', '', 'inbound', 'EDS', ''],
    ['BlackHoleCluster', '-', '-', '-', 'STATIC', ''],
    ['prometheus_stats', '-', '-', '-', 'STATIC', ''],
    ['ratings.default.svc.cluster.local', '9091', '', 'outbound', 'EDS', ''],
    [REVIEWS, '9080', '', 'outbound', 'EDS', 'reviews.default'],
    [REVIEWS, '9080', 'v2', 'outbound', 'EDS', 'reviews.default'],
  ]);
});

test('cluster filters: --fqdn is a substring, --port, --subset and --direction are exact', () => {
  const { clusters } = readConfigDump(DUMP);
  const names = (f: Parameters<typeof selectClusters>[1]) => selectClusters(clusters, f).map((c) => c.name);
  assert.deepEqual(names({ fqdn: 'reviews' }), [`outbound|9080||${REVIEWS}`, `outbound|9080|v2|${REVIEWS}`]);
  assert.deepEqual(names({ port: 9091 }), ['outbound|9091||ratings.default.svc.cluster.local']);
  assert.deepEqual(names({ subset: 'v2' }), [`outbound|9080|v2|${REVIEWS}`]);
  assert.equal(names({ direction: 'outbound' }).length, 3);
  assert.deepEqual(names({ direction: 'inbound' }), ['inbound|9080||']);
});

test('listeners: a row per filter chain with its match and destination; filters by port, address, type', () => {
  const { listeners } = readConfigDump(DUMP);
  assert.equal(listeners.length, 2, 'a listener with only an error_state is not listed');
  assert.deepEqual(listenerRows(selectListeners(listeners, {})), [
    ['127.0.0.1', '9080', 'ALL', 'Route: 9080'],
    ['0.0.0.0', '15006', 'Trans: raw_buffer; App: http/1.1,h2c; DPort: 9080', 'Route: inbound|9080||'],
    ['0.0.0.0', '15006', 'Addr: 10.0.0.1/32', 'Cluster: InboundPassthroughCluster'],
  ]);
  assert.deepEqual(
    selectListeners(listeners, { port: 15006 }).map((l) => l.name),
    ['0.0.0.0_15006'],
  );
  assert.deepEqual(
    selectListeners(listeners, { address: '127.0.0.1' }).map((l) => l.name),
    ['127.0.0.1_9080'],
  );
  assert.deepEqual(
    selectListeners(listeners, { type: 'HTTP' }).map((l) => l.name),
    ['127.0.0.1_9080'],
  );
  assert.deepEqual(
    selectListeners(listeners, { type: 'HTTP+TCP' }).map((l) => l.name),
    ['0.0.0.0_15006'],
  );
  assert.deepEqual(selectListeners(listeners, { type: 'TCP' }), []);
});

test('routes: a row per route, domains summarised, header matches shown, VirtualService from metadata', () => {
  const { routes } = readConfigDump(DUMP);
  assert.deepEqual(
    routes.map((r) => r.name),
    ['9080'],
    'a rejected route config never held is not listed',
  );
  assert.deepEqual(routeRows(selectRoutes(routes, undefined)), [
    ['9080', `${REVIEWS}:9080`, 'reviews + 3 more...', '/* [end-user=jason]', 'reviews.default'],
    ['9080', `${REVIEWS}:9080`, 'reviews + 3 more...', '/exact', ''],
    ['9080', 'allow_any', '*', '/*', ''],
  ]);
  assert.deepEqual(selectRoutes(routes, 'other'), []);
  assert.equal(describeRouteMatch({ prefix: '/static' }), '/static*');
  assert.equal(describeRouteMatch({ safe_regex: { regex: '/api/.*' } }), 'regex /api/.*');
});

test('secrets: type, status and the certificate serial number and validity', () => {
  const { secrets } = readConfigDump(DUMP);
  assert.deepEqual(secretRows(secrets, new Date('2030-01-01T00:00:00Z')), [
    ['ROOTCA', 'CA', 'ACTIVE', 'true', '1a2b3c', '2036-11-22T13:46:15Z', '2026-11-25T13:46:15Z'],
    ['default', 'Cert Chain', 'ACTIVE', 'true', '1a2b3c', '2036-11-22T13:46:15Z', '2026-11-25T13:46:15Z'],
  ]);
  assert.equal(secretRows(secrets, new Date('2040-01-01T00:00:00Z'))[0][3], 'false', 'expired');
});

test('endpoints from /clusters?format=json: status, outlier check, filters', () => {
  const rows = readEndpoints({
    cluster_statuses: [
      {
        name: `outbound|9080|v2|${REVIEWS}`,
        host_statuses: [
          {
            address: { socket_address: { address: '10.0.0.7', port_value: 9080 } },
            health_status: { eds_health_status: 'HEALTHY' },
          },
          {
            address: { socket_address: { address: '10.0.0.8', port_value: 9080 } },
            health_status: { eds_health_status: 'UNHEALTHY', failed_outlier_check: true },
          },
        ],
      },
      { name: 'BlackHoleCluster', host_statuses: [] },
    ],
  });
  assert.deepEqual(endpointRows(selectEndpoints(rows, {})), [
    ['10.0.0.7:9080', 'HEALTHY', 'OK', `outbound|9080|v2|${REVIEWS}`],
    ['10.0.0.8:9080', 'UNHEALTHY', 'FAILED', `outbound|9080|v2|${REVIEWS}`],
  ]);
  assert.equal(selectEndpoints(rows, { status: 'HEALTHY' }).length, 1);
  assert.equal(selectEndpoints(rows, { address: '10.0.0.8' }).length, 1);
  assert.equal(selectEndpoints(rows, { port: 9081 }).length, 0);
  assert.equal(selectEndpoints(rows, { cluster: 'BlackHoleCluster' }).length, 0);
});

test("mizzen-proxy's decoded form normalizes to the proto3 JSON mizzend and Envoy print", () => {
  const decoded = {
    '@type': CLUSTER_TYPE_URL,
    name: `outbound|9080||${REVIEWS}`,
    type: 'EDS',
    cluster_discovery_type: 'type',
    connect_timeout: { seconds: '10', nanos: 500000000 },
    metadata: {
      filter_metadata: {
        istio: { fields: { config: { stringValue: DR.filter_metadata.istio.config, kind: 'stringValue' } } },
      },
    },
  };
  const proto3 = cluster(`outbound|9080||${REVIEWS}`, { connect_timeout: '10.500s', metadata: DR });
  assert.equal(
    canonicalResources([normalizeResource(decoded)]),
    canonicalResources([normalizeResource(proto3)]),
  );
  assert.deepEqual(clusterRows([normalizeResource(decoded)])[0].at(-1), 'reviews.default');
  assert.notEqual(
    canonicalResources([normalizeResource({ ...decoded, connect_timeout: { seconds: '11', nanos: 0 } })]),
    canonicalResources([normalizeResource(proto3)]),
  );
});
