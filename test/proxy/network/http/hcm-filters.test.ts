/**
 * The HTTP filter chain: a registered test filter sees calls in order (request headers, body,
 * response headers, body, done once), can stop and resume decoding, answer locally, decorate
 * responses, and read per-route config; unknown filters are NACKed unless optional.
 */
import { type TestContext, test } from 'node:test';
import {
  CONTINUE,
  type FilterStatus,
  type HttpFilter,
  type HttpFilterFactory,
  type HttpStream,
  STOP,
} from '../../../../src/proxy/network/http/filters/filter.ts';
import { FilterOrderError, orderChecked } from '../../../../src/proxy/network/http/filters/order-check.ts';
import { registerHttpFilter } from '../../../../src/proxy/network/http/filters/registry.ts';
import { compileHttpConnectionManager } from '../../../../src/proxy/network/http/hcm-config.ts';
import { StatsStore } from '../../../../src/proxy/stats/store.ts';
import { ClusterManager } from '../../../../src/proxy/upstream/cluster-manager.ts';
import { startUpstream } from '../../../support/fake-upstreams.ts';
import {
  any,
  assertNoOpenHandles,
  ProxyHarness,
  ROUTER,
  request,
  routeConfig,
  staticCluster,
} from '../../support/harness.ts';

const TEST_FILTER = 'mizzen.test.RecordingFilter';
const calls: string[] = [];

class Recording implements HttpFilter {
  readonly tag: string;
  constructor(tag: string) {
    this.tag = tag;
  }
  onRequestHeaders(s: HttpStream, end: boolean): FilterStatus {
    calls.push(`req-headers end=${end}`);
    if (s.requestHeaders.has('x-deny'))
      return { status: 403, body: 'denied by filter', details: 'test_filter_denied' };
    s.requestHeaders.add('x-filter', this.tag);
    const perRoute = s.perFilterConfig('recorder') as { note: string } | undefined;
    if (perRoute) s.requestHeaders.add('x-route-note', perRoute.note);
    if (s.requestHeaders.has('x-pause')) {
      setImmediate(() => {
        calls.push('resume');
        s.continueDecoding();
      });
      return STOP;
    }
    return CONTINUE;
  }
  onRequestBody(_s: HttpStream, data: Buffer, end: boolean): FilterStatus {
    calls.push(`req-body ${data.length} end=${end}`);
    return CONTINUE;
  }
  onResponseHeaders(s: HttpStream): FilterStatus {
    calls.push(`resp-headers ${s.responseStatus}`);
    s.responseHeaders!.add('x-filtered-response', this.tag);
    return CONTINUE;
  }
  onResponseBody(_s: HttpStream, data: Buffer, end: boolean): FilterStatus {
    calls.push(`resp-body ${data.length} end=${end}`);
    return CONTINUE;
  }
  onDone() {
    calls.push('done');
  }
}

registerHttpFilter({
  typeName: TEST_FILTER,
  compile(r, name): HttpFilterFactory {
    const tag = r.string('tag');
    r.done();
    return { name, terminal: false, create: () => new Recording(tag) };
  },
  compilePerRoute(r) {
    const note = r.string('note');
    r.done();
    return { note };
  },
});

const filterCfg = { name: 'recorder', typed_config: any(TEST_FILTER, { tag: 'T1' }) };

test('filter calls in order; headers added; response decorated; done once', async (t: TestContext) => {
  t.plan(4);
  const up = await startUpstream('f');
  const proxy = await ProxyHarness.http(
    [staticCluster('f', [up.port])],
    routeConfig([{ match: { prefix: '/' }, route: { cluster: 'f' } }]),
    {
      http_filters: [filterCfg, ROUTER],
    },
  );
  calls.length = 0;
  const res = await request(proxy.port, { method: 'POST', body: 'abcd', headers: { 'content-length': '4' } });
  t.assert.equal(up.requests[0].headers['x-filter'], 'T1');
  t.assert.equal(res.headers['x-filtered-response'], 'T1');
  t.assert.deepEqual(calls.slice(0, 4), [
    'req-headers end=false',
    'req-body 4 end=false',
    'req-body 0 end=true',
    'resp-headers 200',
  ]);
  t.assert.deepEqual(
    calls.filter((c) => c === 'done'),
    ['done'],
  );
  await proxy.close();
  await up.close();
});

test('STOP holds the request (body included) until continueDecoding', async (t: TestContext) => {
  t.plan(3);
  const up = await startUpstream('f');
  const proxy = await ProxyHarness.http(
    [staticCluster('f', [up.port])],
    routeConfig([{ match: { prefix: '/' }, route: { cluster: 'f' } }]),
    {
      http_filters: [filterCfg, ROUTER],
    },
  );
  calls.length = 0;
  const res = await request(proxy.port, {
    method: 'POST',
    body: 'held',
    headers: { 'x-pause': '1', 'content-length': '4' },
  });
  t.assert.equal(res.status, 200);
  t.assert.equal(up.requests[0].body, 'held');
  t.assert.deepEqual(calls.slice(0, 3), ['req-headers end=false', 'resume', 'req-body 4 end=false']);
  await proxy.close();
  await up.close();
});

test('a filter local reply short-circuits the chain; per-route config reaches the filter', async (t: TestContext) => {
  t.plan(4);
  const up = await startUpstream('f');
  const proxy = await ProxyHarness.http(
    [staticCluster('f', [up.port])],
    routeConfig([
      {
        match: { prefix: '/' },
        route: { cluster: 'f' },
        typed_per_filter_config: { recorder: any(TEST_FILTER, { note: 'from-route' }) },
      },
    ]),
    { http_filters: [filterCfg, ROUTER] },
  );
  const denied = await request(proxy.port, { headers: { 'x-deny': '1' } });
  t.assert.equal(denied.status, 403);
  t.assert.equal(denied.body, 'denied by filter');
  t.assert.equal(up.count, 0);
  await request(proxy.port);
  t.assert.equal(up.requests[0].headers['x-route-note'], 'from-route');
  await proxy.close();
  await up.close();
});

test('unknown filters are NACKed unless optional; the router must be last', (t: TestContext) => {
  t.plan(3);
  const env = { clusterManager: new ClusterManager(new StatsStore()), stats: new StatsStore() };
  const base = { stat_prefix: 'x', route_config: { name: 'r', virtual_hosts: [] } };
  const unknown = {
    name: 'envoy.filters.http.lua',
    typed_config: any('envoy.extensions.filters.http.lua.v3.Lua', {}),
  };
  const r1 = compileHttpConnectionManager({ ...base, http_filters: [unknown, ROUTER] }, env);
  t.assert.ok(
    !r1.ok &&
      r1.errors.some(
        (e) => e.path === 'http_filters[0].typed_config' && e.message.includes('envoy.filters.http.lua'),
      ),
  );
  const r2 = compileHttpConnectionManager(
    { ...base, http_filters: [{ ...unknown, is_optional: true }, ROUTER] },
    env,
  );
  t.assert.equal(r2.ok, true);
  const r3 = compileHttpConnectionManager({ ...base, http_filters: [ROUTER, filterCfg] }, env);
  t.assert.ok(!r3.ok && r3.errors.some((e) => e.path === 'http_filters[0]'));
});

test('HCM fields that change behaviour and are unsupported are NACKed by path', (t: TestContext) => {
  const env = { clusterManager: new ClusterManager(new StatsStore()), stats: new StatsStore() };
  const base = { stat_prefix: 'x', route_config: { name: 'r', virtual_hosts: [] }, http_filters: [ROUTER] };
  const cases: [Record<string, unknown>, string][] = [
    [{ tracing: { random_sampling: { value: 1 } } }, 'tracing'],
    [{ access_log: [{ name: 'envoy.access_loggers.file' }] }, 'access_log'],
    [{ codec_type: 'HTTP3' }, 'codec_type'],
    [{ local_reply_config: { mappers: [], body_format: { text_format: 'x' } } }, 'local_reply_config'],
    [{ scoped_routes: { name: 's' }, route_config: undefined }, 'scoped_routes'],
  ];
  t.plan(cases.length);
  for (const [extra, path] of cases) {
    const r = compileHttpConnectionManager({ ...base, ...extra }, env);
    t.assert.ok(
      !r.ok && r.errors.some((e) => e.path === path),
      `${path}: ${JSON.stringify(!r.ok && r.errors)}`,
    );
  }
});

test('per-route config for an unknown filter: NACKed, unless wrapped as optional', (t: TestContext) => {
  t.plan(2);
  const env = { clusterManager: new ClusterManager(new StatsStore()), stats: new StatsStore() };
  const lua = any('envoy.extensions.filters.http.lua.v3.LuaPerRoute', { disabled: true });
  const route = (tpfc: Record<string, unknown>) => ({
    stat_prefix: 'x',
    http_filters: [ROUTER],
    route_config: {
      name: 'r',
      validate_clusters: { value: false },
      virtual_hosts: [
        {
          name: 'v',
          domains: ['*'],
          routes: [{ match: { prefix: '/' }, route: { cluster: 'c' }, typed_per_filter_config: tpfc }],
        },
      ],
    },
  });
  const r1 = compileHttpConnectionManager(route({ 'envoy.filters.http.lua': lua }), env);
  t.assert.ok(
    !r1.ok &&
      r1.errors.some(
        (e) =>
          e.path ===
          'route_config.virtual_hosts[0].routes[0].typed_per_filter_config["envoy.filters.http.lua"]',
      ),
  );
  const r2 = compileHttpConnectionManager(
    route({
      'envoy.filters.http.lua': any('envoy.config.route.v3.FilterConfig', { is_optional: true, config: lua }),
    }),
    env,
  );
  t.assert.equal(r2.ok, true, JSON.stringify(!r2.ok && r2.errors));
});

test('the order check rejects out-of-order calls', (t: TestContext) => {
  t.plan(4);
  const stream = {} as HttpStream;
  const mk = () => orderChecked(new Recording('x'), 'recorder');
  const a = mk();
  t.assert.throws(() => a.onResponseBody!(stream, Buffer.alloc(0), true), FilterOrderError);
  const b = mk();
  b.onDone!(stream);
  t.assert.throws(() => b.onDone!(stream), /called twice/);
  const c = mk();
  c.onRequestHeaders!(
    {
      requestHeaders: { has: () => false, add: () => {} },
      perFilterConfig: () => undefined,
    } as unknown as HttpStream,
    true,
  );
  t.assert.throws(() => c.onRequestBody!(stream, Buffer.alloc(1), false), /after the request ended/);
  const d = mk();
  d.onDone!(stream);
  t.assert.throws(() => d.onRequestHeaders!(stream, true), /after onDone/);
});

test('no open handles', async () => {
  await assertNoOpenHandles();
});
