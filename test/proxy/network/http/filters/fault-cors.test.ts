/**
 * The fault and CORS HTTP filters through a real listener: per-route aborts (exact at 100%
 * and 0%), header-driven aborts, delays under fake timers (the request reaches the upstream
 * only after the delay), max_active_faults, config errors naming the field, CORS preflights
 * answered locally, actual requests getting Access-Control-Allow-Origin, and disabled policies.
 */
import { type TestContext, test } from 'node:test';
import { compileListener } from '../../../../../src/proxy/listener/listener.ts';
import { StatsStore } from '../../../../../src/proxy/stats/store.ts';
import { ClusterManager } from '../../../../../src/proxy/upstream/cluster-manager.ts';
import { startUpstream } from '../../../../support/fake-upstreams.ts';
import {
  any,
  assertNoOpenHandles,
  hcm,
  listenerProto,
  ProxyHarness,
  ROUTER,
  request,
  routeConfig,
  staticCluster,
} from '../../../support/harness.ts';

const FAULT = 'envoy.extensions.filters.http.fault.v3.HTTPFault';
const CORS = 'envoy.extensions.filters.http.cors.v3.Cors';
const CORS_POLICY = 'envoy.extensions.filters.http.cors.v3.CorsPolicy';
/** Istio's filter chain: empty fault and cors filters before the router. */
const ISTIO_FILTERS = {
  http_filters: [
    { name: 'envoy.filters.http.fault', typed_config: any(FAULT, {}) },
    { name: 'envoy.filters.http.cors', typed_config: any(CORS, {}) },
    ROUTER,
  ],
};

function faultRoute(prefix: string, fault: Record<string, unknown>) {
  return {
    match: { prefix },
    route: { cluster: 'up' },
    typed_per_filter_config: { 'envoy.filters.http.fault': any(FAULT, fault) },
  };
}

test('fault abort per route: 100% always, 0% never, header_abort from the request', async (t: TestContext) => {
  t.plan(6);
  const up = await startUpstream('up');
  const proxy = await ProxyHarness.http(
    [staticCluster('up', [up.port])],
    routeConfig([
      faultRoute('/all', { abort: { http_status: 418, percentage: { numerator: 100 } } }),
      faultRoute('/none', { abort: { http_status: 418, percentage: { numerator: 0 } } }),
      faultRoute('/hdrall', { abort: { header_abort: {}, percentage: { numerator: 100 } } }),
      { match: { prefix: '/' }, route: { cluster: 'up' } },
    ]),
    // Internal origin (loopback peer): x-envoy-* request headers are trusted, not stripped.
    { ...ISTIO_FILTERS, use_remote_address: true },
  );
  const statuses: number[] = [];
  for (let i = 0; i < 20; i++) statuses.push((await request(proxy.port, { path: '/all' })).status);
  t.assert.deepEqual(new Set(statuses), new Set([418]));
  const all = await request(proxy.port, { path: '/all' });
  t.assert.equal(all.body, 'fault filter abort');
  for (let i = 0; i < 20; i++) statuses.push((await request(proxy.port, { path: '/none' })).status);
  t.assert.equal(statuses.filter((s) => s === 200).length, 20);
  const h = await request(proxy.port, {
    path: '/hdrall',
    headers: { 'x-envoy-fault-abort-request': '503' },
  });
  t.assert.equal(h.status, 503);
  t.assert.equal((await request(proxy.port, { path: '/hdrall' })).status, 200, 'no header: no abort');
  t.assert.equal(up.requests.length, 21);
  await proxy.close();
  await up.close();
});

test('fault delay: the request reaches the upstream only after the (fake) delay', async (t: TestContext) => {
  t.plan(4);
  const up = await startUpstream('up');
  const proxy = await ProxyHarness.http(
    [staticCluster('up', [up.port])],
    routeConfig([faultRoute('/', { delay: { fixed_delay: '7s', percentage: { numerator: 100 } } })]),
    ISTIO_FILTERS,
  );
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const pending = request(proxy.port);
  // Wait (by events, not time) until the stream exists at the proxy.
  while (proxy.stat('http.ingress.downstream_rq_total') < 1) await new Promise((r) => setImmediate(r));
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  t.assert.equal(up.requests.length, 0, 'held by the delay');
  t.mock.timers.tick(6999);
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  t.assert.equal(up.requests.length, 0, 'still held just before the delay ends');
  t.mock.timers.tick(1);
  t.mock.timers.reset();
  const res = await pending;
  t.assert.equal(res.status, 200);
  t.assert.equal(up.requests.length, 1);
  await proxy.close();
  await up.close();
});

test('fault: delay then abort, max_active_faults caps concurrent faults', async (t: TestContext) => {
  t.plan(3);
  const up = await startUpstream('up');
  const proxy = await ProxyHarness.http(
    [staticCluster('up', [up.port])],
    routeConfig([
      faultRoute('/', {
        delay: { fixed_delay: '60s', percentage: { numerator: 100 } },
        abort: { http_status: 503, percentage: { numerator: 100 } },
        max_active_faults: { value: 1 },
      }),
    ]),
    ISTIO_FILTERS,
  );
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const first = request(proxy.port);
  while (proxy.stat('http.ingress.downstream_rq_total') < 1) await new Promise((r) => setImmediate(r));
  // The first request holds the only fault slot: the second is not faulted.
  const second = await request(proxy.port);
  t.assert.equal(second.status, 200);
  t.mock.timers.tick(60_000);
  t.mock.timers.reset();
  const res = await first;
  t.assert.equal(res.status, 503);
  t.assert.equal(up.requests.length, 1);
  await proxy.close();
  await up.close();
});

test('fault and cors config errors name the field', (t: TestContext) => {
  const cases: [Record<string, unknown>, string][] = [
    [
      {
        'envoy.filters.http.fault': any(FAULT, {
          abort: { http_status: 99, percentage: { numerator: 100 } },
        }),
      },
      'typed_per_filter_config["envoy.filters.http.fault"].abort.http_status',
    ],
    [
      { 'envoy.filters.http.fault': any(FAULT, { response_rate_limit: { fixed_limit: { limit_kbps: 1 } } }) },
      'typed_per_filter_config["envoy.filters.http.fault"].response_rate_limit',
    ],
    [
      { 'envoy.filters.http.cors': any(CORS_POLICY, { max_age: 'soon' }) },
      'typed_per_filter_config["envoy.filters.http.cors"].max_age',
    ],
  ];
  t.plan(cases.length + 1);
  for (const [tpfc, path] of cases) {
    const r = compileListener(
      listenerProto(
        hcm(
          routeConfig([{ match: { prefix: '/' }, route: { cluster: 'up' }, typed_per_filter_config: tpfc }]),
          ISTIO_FILTERS,
        ),
      ),
      { clusterManager: new ClusterManager(new StatsStore()), stats: new StatsStore() },
    );
    t.assert.ok(
      !r.ok && r.errors.some((e) => e.path.endsWith(path)),
      `${path}: ${JSON.stringify(!r.ok && r.errors)}`,
    );
  }
  const cm = new ClusterManager(new StatsStore());
  const l = compileListener(
    listenerProto(
      hcm(routeConfig([]), {
        http_filters: [{ name: 'f', typed_config: any(FAULT, { upstream_cluster: 'x' }) }, ROUTER],
      }),
    ),
    { clusterManager: cm, stats: new StatsStore() },
  );
  t.assert.ok(!l.ok && l.errors.some((e) => e.path.endsWith('upstream_cluster')), JSON.stringify(l));
});

test('cors: preflight answered locally, actual requests get Allow-Origin, others untouched', async (t: TestContext) => {
  t.plan(11);
  const up = await startUpstream('up');
  const policy = any(CORS_POLICY, {
    allow_origin_string_match: [{ exact: 'https://bookinfo.com' }, { prefix: 'https://dev.' }],
    allow_methods: 'GET,POST',
    allow_headers: 'x-user,content-type',
    expose_headers: 'x-trace',
    max_age: '86400',
    allow_credentials: { value: true },
    forward_not_matching_preflights: { value: false },
  });
  const proxy = await ProxyHarness.http(
    [staticCluster('up', [up.port])],
    routeConfig(
      [
        {
          match: { prefix: '/off' },
          route: { cluster: 'up' },
          typed_per_filter_config: {
            'envoy.filters.http.cors': any(CORS_POLICY, {
              allow_origin_string_match: [{ exact: 'https://bookinfo.com' }],
              filter_enabled: { default_value: { numerator: 0 } },
            }),
          },
        },
        { match: { prefix: '/' }, route: { cluster: 'up' } },
      ],
      { typed_per_filter_config: { 'envoy.filters.http.cors': policy } },
    ),
    ISTIO_FILTERS,
  );
  const pre = await request(proxy.port, {
    method: 'OPTIONS',
    headers: { origin: 'https://dev.x.io', 'access-control-request-method': 'POST' },
  });
  t.assert.equal(pre.status, 200);
  t.assert.equal(pre.headers['access-control-allow-origin'], 'https://dev.x.io');
  t.assert.equal(pre.headers['access-control-allow-methods'], 'GET,POST');
  t.assert.equal(pre.headers['access-control-allow-headers'], 'x-user,content-type');
  t.assert.equal(pre.headers['access-control-max-age'], '86400');
  t.assert.equal(pre.headers['access-control-allow-credentials'], 'true');
  const bad = await request(proxy.port, {
    method: 'OPTIONS',
    headers: { origin: 'https://evil.com', 'access-control-request-method': 'POST' },
  });
  t.assert.equal(bad.headers['access-control-allow-origin'], undefined);
  t.assert.equal(up.requests.length, 0, 'preflights never reach the upstream here');
  const actual = await request(proxy.port, { headers: { origin: 'https://bookinfo.com' } });
  t.assert.deepEqual(
    [
      actual.status,
      actual.headers['access-control-allow-origin'],
      actual.headers['access-control-expose-headers'],
    ],
    [200, 'https://bookinfo.com', 'x-trace'],
  );
  const other = await request(proxy.port, { headers: { origin: 'https://evil.com' } });
  t.assert.equal(other.headers['access-control-allow-origin'], undefined);
  const off = await request(proxy.port, { path: '/off', headers: { origin: 'https://bookinfo.com' } });
  t.assert.equal(off.headers['access-control-allow-origin'], undefined);
  await proxy.close();
  await up.close();
});

test('no open handles', async () => {
  await assertNoOpenHandles();
});
