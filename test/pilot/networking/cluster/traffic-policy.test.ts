import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_MESH_CONFIG, type MeshConfig } from '../../../../src/api/mesh/mesh-config.ts';
import type { DestinationRule } from '../../../../src/api/networking/destination-rule.ts';
import { validateMessageShape } from '../../../../src/lib/xds/message-shape.ts';
import { buildHashPolicy, localityLbSettingFor } from '../../../../src/pilot/networking/cluster/lb-policy.ts';
import { applyOutlierDetection } from '../../../../src/pilot/networking/cluster/outlier.ts';
import {
  applyConnectionPool,
  effectivePolicy,
  finishHttpOptions,
  type HttpOptionsDraft,
  mergeTrafficPolicy,
} from '../../../../src/pilot/networking/cluster/traffic-policy.ts';
import { assertNoOpenHandles } from '../../../support/fake-mizzend.ts';

const RULE: DestinationRule = {
  host: 'reviews',
  trafficPolicy: {
    loadBalancer: { simple: 'RANDOM' },
    connectionPool: { tcp: { maxConnections: 10 } },
    tls: { mode: 'ISTIO_MUTUAL' },
    portLevelSettings: [{ port: { number: 9080 }, loadBalancer: { simple: 'ROUND_ROBIN' } }],
  },
  subsets: [
    {
      name: 'v2',
      labels: { version: 'v2' },
      trafficPolicy: {
        outlierDetection: { consecutive5xxErrors: 3 },
        portLevelSettings: [{ port: { number: 9090 }, connectionPool: { http: { maxRetries: 1 } } }],
      },
    },
  ],
};

test('port-level settings replace the top level for their port, unset parts included', () => {
  assert.deepEqual(effectivePolicy(RULE, 9080), { loadBalancer: { simple: 'ROUND_ROBIN' } });
  assert.deepEqual(effectivePolicy(RULE, 9091), {
    loadBalancer: { simple: 'RANDOM' },
    connectionPool: { tcp: { maxConnections: 10 } },
    tls: { mode: 'ISTIO_MUTUAL' },
  });
});

test('a subset overrides field by field, and its own port-level settings win last', () => {
  assert.deepEqual(effectivePolicy(RULE, 9080, 'v2'), {
    loadBalancer: { simple: 'ROUND_ROBIN' },
    outlierDetection: { consecutive5xxErrors: 3 },
  });
  assert.deepEqual(effectivePolicy(RULE, 9090, 'v2'), { connectionPool: { http: { maxRetries: 1 } } });
  assert.deepEqual(effectivePolicy(RULE, 9091, 'unknown'), effectivePolicy(RULE, 9091));
  assert.equal(mergeTrafficPolicy(undefined, undefined, 80), undefined);
  assert.equal(effectivePolicy(undefined, 80), undefined);
});

test('connection pool: thresholds, timeouts, HTTP/2 streams only for HTTP/2 upstreams', () => {
  const cluster: Record<string, unknown> = {};
  const http: HttpOptionsDraft = {};
  applyConnectionPool(
    cluster,
    http,
    {
      tcp: { maxConnections: 5, connectTimeout: '1.5s', idleTimeout: '10m' },
      http: { http2MaxRequests: 7, maxConcurrentStreams: 100 },
    },
    DEFAULT_MESH_CONFIG,
  );
  assert.deepEqual(cluster.connect_timeout, { seconds: 1, nanos: 500_000_000 });
  const t = (cluster.circuit_breakers as { thresholds: Record<string, unknown>[] }).thresholds[0];
  assert.deepEqual([t.max_connections, t.max_requests], [{ value: 5 }, { value: 7 }]);
  assert.deepEqual(
    http.common,
    { idle_timeout: { seconds: 600, nanos: 0 } },
    'tcp idle timeout when HTTP sets none',
  );
  assert.deepEqual(finishHttpOptions(http), {
    common_http_protocol_options: { idle_timeout: { seconds: 600, nanos: 0 } },
    explicit_http_config: { http_protocol_options: {} },
  });
  const h2 = finishHttpOptions({
    ...http,
    upstream: { explicit_http_config: { http2_protocol_options: {} } },
  });
  assert.deepEqual(h2.explicit_http_config, {
    http2_protocol_options: { max_concurrent_streams: { value: 100 } },
  });
  assert.deepEqual(validateMessageShape('envoy.extensions.upstreams.http.v3.HttpProtocolOptions', h2), []);
});

test('http2KeepAlive: connection_keepalive PINGs wherever the upstream may speak HTTP/2, never on HTTP/1.1', () => {
  const http: HttpOptionsDraft = {};
  applyConnectionPool(
    {},
    http,
    { http: { maxConcurrentStreams: 10, http2KeepAlive: { interval: '30s', timeout: '5s' } } },
    DEFAULT_MESH_CONFIG,
  );
  const keepalive = { interval: { seconds: 30, nanos: 0 }, timeout: { seconds: 5, nanos: 0 } };
  const h2 = finishHttpOptions({
    ...http,
    upstream: { explicit_http_config: { http2_protocol_options: {} } },
  });
  assert.deepEqual(h2.explicit_http_config, {
    http2_protocol_options: { max_concurrent_streams: { value: 10 }, connection_keepalive: keepalive },
  });
  assert.deepEqual(validateMessageShape('envoy.extensions.upstreams.http.v3.HttpProtocolOptions', h2), []);
  const byClient = finishHttpOptions({
    ...http,
    upstream: { use_downstream_protocol_config: { http_protocol_options: {}, http2_protocol_options: {} } },
  });
  assert.deepEqual(byClient.use_downstream_protocol_config, {
    http_protocol_options: {},
    http2_protocol_options: { connection_keepalive: keepalive },
  });
  const h1 = finishHttpOptions({ ...http, upstream: undefined });
  assert.deepEqual(h1.explicit_http_config, { http_protocol_options: {} });
});

test('outlier detection: enforcement and panic threshold as Istio sets them', () => {
  const c: Record<string, unknown> = {};
  applyOutlierDetection(c, {
    consecutiveGatewayErrors: 0,
    consecutiveErrors: 4,
    interval: '1s',
    minHealthPercent: 30,
  });
  assert.deepEqual(c.outlier_detection, {
    enforcing_success_rate: { value: 0 },
    consecutive_5xx: { value: 4 },
    enforcing_consecutive_5xx: { value: 100 },
    consecutive_gateway_failure: { value: 0 },
    enforcing_consecutive_gateway_failure: { value: 0 },
    interval: { seconds: 1, nanos: 0 },
  });
  assert.deepEqual(c.common_lb_config, { healthy_panic_threshold: { value: 30 } });
  assert.deepEqual(validateMessageShape('envoy.config.cluster.v3.Cluster', c), []);
});

test('locality setting: the rule over the mesh, off when either disables it', () => {
  const on: MeshConfig = DEFAULT_MESH_CONFIG;
  const off: MeshConfig = { ...DEFAULT_MESH_CONFIG, localityLbSetting: { enabled: false } };
  assert.deepEqual(localityLbSettingFor(on, undefined), { enabled: true });
  assert.equal(localityLbSettingFor(off, undefined), undefined);
  const rule = { localityLbSetting: { failover: [{ from: 'a', to: 'b' }] } };
  assert.deepEqual(localityLbSettingFor(off, rule), rule.localityLbSetting, 'a rule re-enables it');
  assert.equal(localityLbSettingFor(on, { localityLbSetting: { enabled: false } }), undefined);
});

test('hash policies for routes: header, cookie with ttl and path, source IP, query parameter', () => {
  const all = [
    buildHashPolicy({ httpHeaderName: 'x-user' }),
    buildHashPolicy({
      httpCookie: {
        name: 'session',
        ttl: '0s',
        path: '/',
        attributes: [{ name: 'SameSite', value: 'Strict' }],
      },
    }),
    buildHashPolicy({ useSourceIp: true }),
    buildHashPolicy({ httpQueryParameterName: 'user' }),
  ];
  assert.deepEqual(all, [
    [{ header: { header_name: 'x-user' } }],
    [
      {
        cookie: {
          name: 'session',
          ttl: { seconds: 0, nanos: 0 },
          path: '/',
          attributes: [{ name: 'SameSite', value: 'Strict' }],
        },
      },
    ],
    [{ connection_properties: { source_ip: true } }],
    [{ query_parameter: { name: 'user' } }],
  ]);
  for (const p of all)
    assert.deepEqual(validateMessageShape('envoy.config.route.v3.RouteAction.HashPolicy', p[0]), []);
  assert.deepEqual(buildHashPolicy(undefined), []);
});

test('leaves no open handles', () => assertNoOpenHandles());
