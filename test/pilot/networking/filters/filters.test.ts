/** HttpConnectionManager, tcp_proxy and listener filters, checked against their protos. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { typed } from '../../../../src/lib/xds/any.ts';
import { validateMessageShape } from '../../../../src/lib/xds/message-shape.ts';
import { hasMessageType } from '../../../../src/lib/xds/protos.ts';
import {
  HTTP_CONNECTION_MANAGER_TYPE_URL,
  HTTP_RBAC_TYPE_URL,
  LISTENER_TYPE_URL,
  PREVIOUS_HOSTS_PREDICATE_TYPE_URL,
  PREVIOUS_PRIORITIES_CONFIG_TYPE_URL,
  TCP_PROXY_TYPE_URL,
} from '../../../../src/lib/xds/type-urls.ts';
import { buildHttpConnectionManager } from '../../../../src/pilot/networking/filters/hcm.ts';
import {
  buildHttpInspector,
  disabledOnPorts,
  enabledOnlyOnPorts,
} from '../../../../src/pilot/networking/filters/listener-filters.ts';
import type { HttpFilter } from '../../../../src/pilot/networking/filters/router.ts';
import { buildTcpProxy } from '../../../../src/pilot/networking/filters/tcp-proxy.ts';

test('HTTP filters in Istio order: policy, fault, cors, telemetry, router last', () => {
  const rbac: HttpFilter = { name: 'envoy.filters.http.rbac', typed_config: typed(HTTP_RBAC_TYPE_URL, {}) };
  const stats: HttpFilter = { name: 'stats', typed_config: typed(HTTP_RBAC_TYPE_URL, {}) };
  const hcm = buildHttpConnectionManager({
    statPrefix: 's',
    routes: { rds: '80' },
    class: 'SIDECAR_OUTBOUND',
    useRemoteAddress: false,
    policyFilters: [rbac],
    telemetryFilters: [stats],
  });
  assert.deepEqual(validateMessageShape(HTTP_CONNECTION_MANAGER_TYPE_URL, hcm), []);
  assert.deepEqual(
    (hcm.http_filters as HttpFilter[]).map((f) => f.name),
    [
      'envoy.filters.http.rbac',
      'envoy.filters.http.fault',
      'envoy.filters.http.cors',
      'stats',
      'envoy.filters.http.router',
    ],
  );
  assert.deepEqual(hcm.rds, {
    config_source: { ads: {}, initial_fetch_timeout: { seconds: 0, nanos: 0 }, resource_api_version: 'V3' },
    route_config_name: '80',
  });
});

test('path normalization follows MeshConfig', () => {
  const hcm = (n: 'NONE' | 'BASE' | 'MERGE_SLASHES' | 'DECODE_AND_MERGE_SLASHES') =>
    buildHttpConnectionManager({
      statPrefix: 's',
      routes: { routeConfig: { name: 'inline' } },
      class: 'SIDECAR_INBOUND',
      useRemoteAddress: false,
      pathNormalization: n,
    });
  assert.deepEqual(hcm('NONE').normalize_path, { value: false });
  assert.equal(hcm('BASE').merge_slashes, undefined);
  assert.equal(hcm('MERGE_SLASHES').merge_slashes, true);
  const decode = hcm('DECODE_AND_MERGE_SLASHES');
  assert.equal(decode.path_with_escaped_slashes_action, 'UNESCAPE_AND_FORWARD');
  assert.deepEqual(validateMessageShape(HTTP_CONNECTION_MANAGER_TYPE_URL, decode), []);
  assert.deepEqual(decode.route_config, { name: 'inline' });
});

test('the idle timeout and base fields reach the HCM', () => {
  const hcm = buildHttpConnectionManager({
    statPrefix: 's',
    routes: { rds: 'r' },
    class: 'GATEWAY',
    useRemoteAddress: true,
    idleTimeoutMs: 1500,
    base: { server_name: 'istio-envoy', xff_num_trusted_hops: 2 },
  });
  assert.deepEqual(validateMessageShape(HTTP_CONNECTION_MANAGER_TYPE_URL, hcm), []);
  assert.deepEqual(hcm.common_http_protocol_options, { idle_timeout: { seconds: 1, nanos: 500_000_000 } });
  assert.equal(hcm.xff_num_trusted_hops, 2);
  assert.deepEqual(hcm.use_remote_address, { value: true });
});

test('tcp_proxy: one cluster or weighted clusters, timeouts, source-IP hash, tunnel', () => {
  const single = buildTcpProxy({
    statPrefix: 'c',
    cluster: 'c',
    idleTimeoutMs: 60_000,
    hashBySourceIp: true,
  });
  const weighted = buildTcpProxy({
    statPrefix: 'vs.ns',
    weightedClusters: [
      { name: 'a', weight: 1 },
      { name: 'b', weight: 3 },
    ],
    maxDownstreamConnectionDurationMs: 1000,
    tunnel: { hostname: 'proxy:3128', usePost: true },
  });
  for (const t of [single, weighted]) assert.deepEqual(validateMessageShape(TCP_PROXY_TYPE_URL, t), []);
  assert.deepEqual(single.hash_policy, [{ source_ip: {} }]);
  assert.deepEqual(weighted.tunneling_config, { hostname: 'proxy:3128', use_post: true });
});

test('listener filter predicates: disabled on some ports, or enabled only on some', () => {
  const l = {
    name: 'l',
    listener_filters: [
      buildHttpInspector(disabledOnPorts([15006, 80])),
      buildHttpInspector(enabledOnlyOnPorts([8080])),
    ],
  };
  assert.deepEqual(validateMessageShape(LISTENER_TYPE_URL, l), []);
  assert.deepEqual(l.listener_filters[0].filter_disabled, {
    or_match: {
      rules: [
        { destination_port_range: { start: 80, end: 81 } },
        { destination_port_range: { start: 15006, end: 15007 } },
      ],
    },
  });
  assert.deepEqual(l.listener_filters[1].filter_disabled, {
    not_match: { destination_port_range: { start: 8080, end: 8081 } },
  });
});

test('the retry extension types the route translator uses are in the shared root', () => {
  assert.ok(hasMessageType(PREVIOUS_HOSTS_PREDICATE_TYPE_URL));
  assert.ok(hasMessageType(PREVIOUS_PRIORITIES_CONFIG_TYPE_URL));
});
