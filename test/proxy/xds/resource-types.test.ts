/**
 * Resource types: decode of each Envoy type, the dependencies the client warms on, and one test
 * per basic-validation reason checking that the message names the resource and the field.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type PackedAny, packAny, typed } from '../../../src/lib/xds/any.ts';
import {
  CLUSTER_TYPE_URL,
  DOWNSTREAM_TLS_CONTEXT_TYPE_URL,
  ENDPOINT_TYPE_URL,
  HTTP_CONNECTION_MANAGER_TYPE_URL,
  LISTENER_TYPE_URL,
  ROUTE_TYPE_URL,
  SECRET_TYPE_URL,
  UPSTREAM_TLS_CONTEXT_TYPE_URL,
} from '../../../src/lib/xds/type-urls.ts';
import { envoyResourceTypes, ResourceTypeRegistry } from '../../../src/proxy/xds/resource-types/registry.ts';
import type { DecodeResult, ResourceType } from '../../../src/proxy/xds/resource-types/resource-type.ts';
import { edsCluster, endpoints, rdsListener, routeConfig, staticCluster } from './harness.ts';

const types = envoyResourceTypes();
const type = (url: string) => types.get(url) as ResourceType;

function decode(url: string, message: object): DecodeResult {
  return type(url).decode(packAny(url, message));
}

function ok(r: DecodeResult) {
  if ('errors' in r) assert.fail(`unexpected errors: ${r.errors.join('; ')}`);
  return r.value;
}

function errors(r: DecodeResult): readonly string[] {
  assert.ok('errors' in r, 'expected errors');
  return r.errors;
}

test('the registry holds the five Envoy types and refuses a second one per type URL', () => {
  assert.deepEqual(
    types.typeUrls().sort(),
    [CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL, LISTENER_TYPE_URL, ROUTE_TYPE_URL, SECRET_TYPE_URL].sort(),
  );
  assert.equal(type(LISTENER_TYPE_URL).allResourcesRequiredInSotW, true);
  assert.equal(type(CLUSTER_TYPE_URL).allResourcesRequiredInSotW, true);
  assert.equal(type(ROUTE_TYPE_URL).allResourcesRequiredInSotW, false);
  assert.equal(type(ENDPOINT_TYPE_URL).allResourcesRequiredInSotW, false);
  assert.equal(type(SECRET_TYPE_URL).allResourcesRequiredInSotW, false);
  assert.throws(
    () => new ResourceTypeRegistry().register(type(CLUSTER_TYPE_URL)).register(type(CLUSTER_TYPE_URL)),
    /already registered/,
  );
});

test('an EDS cluster depends on its service name (or its own name), with the source timeout', () => {
  const a = ok(decode(CLUSTER_TYPE_URL, edsCluster('a', 'svc-a')));
  assert.equal(a.name, 'a');
  assert.deepEqual(a.dependencies, [{ typeUrl: ENDPOINT_TYPE_URL, name: 'svc-a' }]);
  const b = ok(
    decode(CLUSTER_TYPE_URL, {
      name: 'b',
      type: 'EDS',
      eds_cluster_config: { eds_config: { ads: {}, initial_fetch_timeout: { seconds: 0 } } },
    }),
  );
  assert.deepEqual(b.dependencies, [{ typeUrl: ENDPOINT_TYPE_URL, name: 'b', initialFetchTimeoutMs: 0 }]);
  assert.deepEqual(ok(decode(CLUSTER_TYPE_URL, staticCluster('s'))).dependencies, []);
});

test('a listener depends on the route configs of its connection managers, and SDS secrets via ADS', () => {
  const l = rdsListener('l', 80, 'r80') as { filter_chains: object[] };
  l.filter_chains.push({
    filters: [
      {
        name: 'hcm',
        typed_config: typed(HTTP_CONNECTION_MANAGER_TYPE_URL, {
          stat_prefix: 'x',
          rds: {
            route_config_name: 'r81',
            config_source: { self: {}, initial_fetch_timeout: { seconds: 3 } },
          },
        }),
      },
    ],
    transport_socket: {
      name: 'tls',
      typed_config: typed(DOWNSTREAM_TLS_CONTEXT_TYPE_URL, {
        common_tls_context: {
          tls_certificate_sds_secret_configs: [{ name: 'default', sds_config: { ads: {} } }],
          combined_validation_context: {
            default_validation_context: {},
            validation_context_sds_secret_config: { name: 'ROOTCA', sds_config: { ads: {} } },
          },
        },
      }),
    },
  });
  const v = ok(decode(LISTENER_TYPE_URL, l));
  assert.deepEqual(v.dependencies, [
    { typeUrl: ROUTE_TYPE_URL, name: 'r80' },
    { typeUrl: ROUTE_TYPE_URL, name: 'r81', initialFetchTimeoutMs: 3000 },
    { typeUrl: SECRET_TYPE_URL, name: 'default' },
    { typeUrl: SECRET_TYPE_URL, name: 'ROOTCA' },
  ]);
  // The same route config twice is one dependency.
  const twice = rdsListener('t', 80, 'r') as { filter_chains: object[] };
  twice.filter_chains.push(twice.filter_chains[0]);
  assert.deepEqual(ok(decode(LISTENER_TYPE_URL, twice)).dependencies, [
    { typeUrl: ROUTE_TYPE_URL, name: 'r' },
  ]);
});

test('a cluster depends on the SDS secrets of its upstream TLS context', () => {
  const c = ok(
    decode(
      CLUSTER_TYPE_URL,
      staticCluster('tls', 443, {
        transport_socket: {
          name: 'tls',
          typed_config: typed(UPSTREAM_TLS_CONTEXT_TYPE_URL, {
            common_tls_context: {
              validation_context_sds_secret_config: { name: 'ca', sds_config: { ads: {} } },
            },
          }),
        },
      }),
    ),
  );
  assert.deepEqual(c.dependencies, [{ typeUrl: SECRET_TYPE_URL, name: 'ca' }]);
});

test('decoded values carry the proto, and equal() compares content', () => {
  const r1 = ok(decode(ROUTE_TYPE_URL, routeConfig('r', 'a')));
  const r2 = ok(decode(ROUTE_TYPE_URL, routeConfig('r', 'a')));
  const r3 = ok(decode(ROUTE_TYPE_URL, routeConfig('r', 'b')));
  const t = type(ROUTE_TYPE_URL);
  assert.equal(t.equal(r1, r2), true);
  assert.equal(t.equal(r1, r3), false);
  assert.equal((r1.message.virtual_hosts as { name: string }[])[0].name, 'r-vh');
  assert.equal(ok(decode(ENDPOINT_TYPE_URL, endpoints('svc', [1]))).name, 'svc');
});

const cases: [string, string, object, string[]][] = [
  [
    'listener without a name',
    LISTENER_TYPE_URL,
    { address: {} },
    ['Listener <unnamed>: name: a resource name is required'],
  ],
  [
    'listener without an address',
    LISTENER_TYPE_URL,
    { name: 'l' },
    ['Listener "l": address: a listener needs an address to bind (or an api_listener)'],
  ],
  [
    'RDS from another config source',
    LISTENER_TYPE_URL,
    rdsListener('l', 80, 'r', { api_config_source: { api_type: 'GRPC' } }),
    [
      'Listener "l": filter_chains[0].filters[0].typed_config.rds.config_source.api_config_source: mizzen-proxy fetches route configuration "r" over its ADS stream only; use ads or self instead of api_config_source',
    ],
  ],
  [
    'RDS without a config source',
    LISTENER_TYPE_URL,
    rdsListener('l', 80, 'r', null as unknown as object),
    [
      'Listener "l": filter_chains[0].filters[0].typed_config.rds.config_source: a config source is required for route configuration "r"; use {ads: {}}',
    ],
  ],
  [
    'scoped routes',
    LISTENER_TYPE_URL,
    {
      name: 'l',
      address: { socket_address: { address: '0.0.0.0', port_value: 1 } },
      filter_chains: [
        {
          filters: [
            {
              name: 'hcm',
              typed_config: typed(HTTP_CONNECTION_MANAGER_TYPE_URL, { scoped_routes: { name: 's' } }),
            },
          ],
        },
      ],
    },
    [
      'Listener "l": filter_chains[0].filters[0].typed_config.scoped_routes: scoped route configurations (SRDS) are not supported',
    ],
  ],
  [
    'a connection manager without routes',
    LISTENER_TYPE_URL,
    {
      name: 'l',
      address: { socket_address: { address: '0.0.0.0', port_value: 1 } },
      filter_chains: [{ filters: [{ name: '', typed_config: typed(HTTP_CONNECTION_MANAGER_TYPE_URL, {}) }] }],
    },
    [
      'Listener "l": filter_chains[0].filters[0].name: a filter name is required',
      'Listener "l": filter_chains[0].filters[0].typed_config: one of rds, route_config or scoped_routes is required',
    ],
  ],
  [
    'duplicate virtual hosts and domains',
    ROUTE_TYPE_URL,
    {
      name: 'r',
      virtual_hosts: [
        { name: 'a', domains: ['x.com', '*'] },
        { name: 'a', domains: ['X.com'] },
        { name: 'c', domains: [] },
      ],
    },
    [
      'RouteConfiguration "r": virtual_hosts[1].name: virtual host name "a" is also used by virtual_hosts[0]',
      'RouteConfiguration "r": virtual_hosts[1].domains[0]: domain "X.com" is also a domain of virtual host "a"; domains must be unique in a route configuration',
      'RouteConfiguration "r": virtual_hosts[2].domains: a virtual host needs at least one domain',
    ],
  ],
  [
    'VHDS',
    ROUTE_TYPE_URL,
    { name: 'r', vhds: { config_source: { ads: {} } } },
    ['RouteConfiguration "r": vhds: on-demand virtual hosts (VHDS) are not supported'],
  ],
  [
    'a zero connect timeout',
    CLUSTER_TYPE_URL,
    staticCluster('c', 80, { connect_timeout: { seconds: 0 } }),
    ['Cluster "c": connect_timeout: must be greater than 0s'],
  ],
  [
    'an EDS cluster without eds_cluster_config',
    CLUSTER_TYPE_URL,
    { name: 'c', type: 'EDS' },
    ['Cluster "c": eds_cluster_config: an EDS cluster needs eds_cluster_config with eds_config: {ads: {}}'],
  ],
  [
    'an EDS cluster fed from a file',
    CLUSTER_TYPE_URL,
    { name: 'c', type: 'EDS', eds_cluster_config: { eds_config: { path_config_source: { path: '/x' } } } },
    [
      'Cluster "c": eds_cluster_config.eds_config.path_config_source: mizzen-proxy fetches the endpoints of cluster "c" over its ADS stream only; use ads or self instead of path_config_source',
    ],
  ],
  [
    'the v2 API',
    CLUSTER_TYPE_URL,
    { name: 'c', type: 'EDS', eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V2' } } },
    [
      'Cluster "c": eds_cluster_config.eds_config.resource_api_version: only the v3 xDS API is served, not V2',
    ],
  ],
  [
    'bad endpoint weights, priority and port',
    ENDPOINT_TYPE_URL,
    {
      cluster_name: 'e',
      endpoints: [
        {
          priority: 129,
          load_balancing_weight: { value: 0 },
          lb_endpoints: [
            {
              load_balancing_weight: { value: 0 },
              endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: 70000 } } },
            },
          ],
        },
      ],
      policy: { overprovisioning_factor: { value: 0 } },
    },
    [
      'ClusterLoadAssignment "e": endpoints[0].priority: 129 is above the highest priority, 128',
      'ClusterLoadAssignment "e": endpoints[0].load_balancing_weight: a weight must be at least 1, got 0',
      'ClusterLoadAssignment "e": endpoints[0].lb_endpoints[0].load_balancing_weight: a weight must be at least 1, got 0',
      'ClusterLoadAssignment "e": endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value: 70000 is not a valid port (0-65535)',
      'ClusterLoadAssignment "e": policy.overprovisioning_factor: must be greater than 0',
    ],
  ],
  [
    'an empty secret',
    SECRET_TYPE_URL,
    { name: 's' },
    [
      'Secret "s": a secret needs one of tls_certificate, session_ticket_keys, validation_context, generic_secret',
    ],
  ],
];

for (const [what, url, message, expected] of cases) {
  test(`NACK reason: ${what}`, () => {
    assert.deepEqual(errors(decode(url, message)), expected);
  });
}

test('NACK reason: a resource of the wrong type, and bytes that do not decode', () => {
  const wrong = packAny(CLUSTER_TYPE_URL, staticCluster('c'));
  assert.deepEqual(errors(type(LISTENER_TYPE_URL).decode(wrong)), [
    `Listener <unnamed>: a ${CLUSTER_TYPE_URL} resource in a LDS response`,
  ]);
  const garbage: PackedAny = { type_url: CLUSTER_TYPE_URL, value: Buffer.from([0x0a, 0xff]) };
  const e = errors(type(CLUSTER_TYPE_URL).decode(garbage));
  assert.equal(e.length, 1);
  assert.match(e[0], /^Cluster <unnamed>: cannot decode envoy\.config\.cluster\.v3\.Cluster/);
});

test('compile hook: errors join the basic ones (deduplicated), a throwing hook is an error, output is kept', () => {
  const hooked = envoyResourceTypes({
    cluster: (m) =>
      m.connect_timeout && Number((m.connect_timeout as { seconds: string }).seconds) === 0
        ? {
            ok: false,
            errors: [
              { path: 'connect_timeout', message: 'must be greater than 0s' },
              { path: 'lb_policy', message: 'not supported' },
            ],
          }
        : { ok: true, value: 'compiled' },
    listener: () => {
      throw new Error('boom');
    },
  });
  const c = hooked.get(CLUSTER_TYPE_URL) as ResourceType;
  assert.deepEqual(
    errors(c.decode(packAny(CLUSTER_TYPE_URL, staticCluster('c', 80, { connect_timeout: { seconds: 0 } })))),
    ['Cluster "c": connect_timeout: must be greater than 0s', 'Cluster "c": lb_policy: not supported'],
  );
  assert.equal(ok(c.decode(packAny(CLUSTER_TYPE_URL, staticCluster('c')))).compiled, 'compiled');
  const l = hooked.get(LISTENER_TYPE_URL) as ResourceType;
  assert.deepEqual(errors(l.decode(packAny(LISTENER_TYPE_URL, rdsListener('l', 80, 'r')))), [
    'Listener "l": internal error while compiling: boom',
  ]);
});

test('decoded messages hold only the fields that were set (no defaults, empty lists or maps)', () => {
  const c = ok(decode(CLUSTER_TYPE_URL, staticCluster('s', 80)));
  assert.equal('lb_policy' in c.message, false);
  assert.equal('dns_lookup_family' in c.message, false);
  assert.equal('transport_socket_matches' in c.message, false);
  assert.deepEqual(c.message.connect_timeout, { seconds: '1' });
  const e = ok(decode(ENDPOINT_TYPE_URL, endpoints('svc', [1])));
  assert.equal('named_endpoints' in e.message, false);
});
