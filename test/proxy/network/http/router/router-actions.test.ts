/**
 * Route actions end to end through the proxy to fake upstreams: prefix and regex rewrites,
 * host rewrites, redirects (every field), direct responses, header mutations at every level and
 * their order, weighted clusters, cluster_header, and the local replies for no route (404 NR),
 * unknown cluster (503 NC) and no healthy upstream (503 UH).
 */
import { before, type TestContext, test } from 'node:test';
import { type FakeUpstream, startUpstream } from '../../../../support/fake-upstreams.ts';
import {
  assertNoOpenHandles,
  ProxyHarness,
  request,
  routeConfig,
  seeded,
  staticCluster,
} from '../../../support/harness.ts';

let a: FakeUpstream;
let b: FakeUpstream;
let proxy: ProxyHarness;

const routes = routeConfig(
  [
    { match: { prefix: '/old/' }, route: { cluster: 'a', prefix_rewrite: '/new/' } },
    { match: { path: '/exact-old' }, route: { cluster: 'a', prefix_rewrite: '/exact-new' } },
    {
      match: { safe_regex: { regex: '/service/([^/]+)(/.*)' } },
      route: {
        cluster: 'a',
        regex_rewrite: { pattern: { regex: '^/service/([^/]+)(/.*)$' }, substitution: '\\2/instance/\\1' },
      },
    },
    {
      match: { prefix: '/host-literal' },
      route: { cluster: 'a', host_rewrite_literal: 'rewritten.example', append_x_forwarded_host: true },
    },
    { match: { prefix: '/host-header' }, route: { cluster: 'a', host_rewrite_header: 'x-target-host' } },
    { match: { prefix: '/https' }, redirect: { https_redirect: true } },
    {
      match: { prefix: '/moved' },
      redirect: {
        host_redirect: 'new.example',
        port_redirect: 8443,
        path_redirect: '/landing',
        response_code: 'PERMANENT_REDIRECT',
      },
    },
    {
      match: { prefix: '/swap/' },
      redirect: { prefix_rewrite: '/swapped/', response_code: 'FOUND', strip_query: true },
    },
    { match: { prefix: '/with-query' }, redirect: { path_redirect: '/q?x=1' } },
    {
      match: { prefix: '/scheme' },
      redirect: { scheme_redirect: 'https', response_code: 'TEMPORARY_REDIRECT' },
    },
    {
      match: { prefix: '/re-redirect' },
      redirect: {
        regex_rewrite: { pattern: { regex: 're-redirect' }, substitution: 'done' },
        response_code: 'SEE_OTHER',
      },
    },
    {
      match: { prefix: '/direct' },
      direct_response: { status: 418, body: { inline_string: 'short and stout' } },
      response_headers_to_add: [{ header: { key: 'x-direct', value: 'yes' } }],
    },
    {
      match: { prefix: '/headers' },
      route: { cluster: 'a' },
      request_headers_to_add: [
        { header: { key: 'x-order', value: 'route' } },
        { header: { key: 'x-client', value: '%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%' } },
        { header: { key: 'x-copy', value: '%REQ(x-src)%' } },
        { header: { key: 'x-keep', value: 'new' }, append_action: 'ADD_IF_ABSENT' },
        { header: { key: 'x-over', value: 'new' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
        { header: { key: 'x-pct', value: '100%%' } },
      ],
      request_headers_to_remove: ['x-remove-me'],
      response_headers_to_add: [
        { header: { key: 'x-resp', value: 'route' } },
        { header: { key: 'x-status', value: '%RESPONSE_CODE%' } },
      ],
      response_headers_to_remove: ['x-backend-secret'],
    },
    {
      match: { prefix: '/weighted' },
      route: {
        weighted_clusters: {
          clusters: [
            {
              name: 'a',
              weight: { value: 30 },
              request_headers_to_add: [{ header: { key: 'x-pick', value: 'a' } }],
            },
            {
              name: 'b',
              weight: { value: 70 },
              request_headers_to_add: [{ header: { key: 'x-pick', value: 'b' } }],
            },
          ],
        },
      },
    },
    { match: { prefix: '/by-header' }, route: { cluster_header: 'x-cluster' } },
    { match: { prefix: '/nowhere' }, route: { cluster: 'missing' } },
    {
      match: { prefix: '/absent-cluster-404' },
      route: { cluster: 'missing', cluster_not_found_response_code: 'NOT_FOUND' },
    },
    { match: { prefix: '/empty' }, route: { cluster: 'empty' } },
  ],
  {
    request_headers_to_add: [
      { header: { key: 'x-order', value: 'vhost' } },
      { header: { key: 'x-vhost', value: 'yes' } },
    ],
    response_headers_to_add: [{ header: { key: 'x-resp', value: 'vhost' } }],
  },
  {
    request_headers_to_add: [{ header: { key: 'x-order', value: 'config' } }],
    response_headers_to_add: [{ header: { key: 'x-resp', value: 'config' } }],
    // Inline route configs validate cluster names by default (Envoy); /nowhere needs a missing one.
    validate_clusters: { value: false },
  },
);

before(async () => {
  a = await startUpstream('a');
  b = await startUpstream('b');
  a.behave = () => ({ kind: 'echo', headers: { 'x-backend-secret': 's3cr3t' } });
  proxy = await ProxyHarness.http(
    [staticCluster('a', [a.port]), staticCluster('b', [b.port]), staticCluster('empty', [])],
    routes,
    {},
    seeded(42),
  );
});

const last = (u: FakeUpstream) => u.requests[u.requests.length - 1];

test('prefix_rewrite replaces the matched prefix and records x-envoy-original-path', async (t: TestContext) => {
  t.plan(3);
  const res = await request(proxy.port, { path: '/old/x/y?z=1' });
  t.assert.equal(res.status, 200);
  t.assert.equal(last(a).url, '/new/x/y?z=1');
  t.assert.equal(last(a).headers['x-envoy-original-path'], '/old/x/y?z=1');
});

test('prefix_rewrite on an exact path match keeps the query', async (t: TestContext) => {
  t.plan(1);
  await request(proxy.port, { path: '/exact-old?k=v' });
  t.assert.equal(last(a).url, '/exact-new?k=v');
});

test('regex_rewrite with capture groups', async (t: TestContext) => {
  t.plan(1);
  await request(proxy.port, { path: '/service/foo/v1/api' });
  t.assert.equal(last(a).url, '/v1/api/instance/foo');
});

test('host rewrites: literal (with x-forwarded-host) and from a header', async (t: TestContext) => {
  t.plan(3);
  await request(proxy.port, { path: '/host-literal', headers: { host: 'orig.example' } });
  t.assert.equal(last(a).headers.host, 'rewritten.example');
  t.assert.equal(last(a).headers['x-forwarded-host'], 'orig.example');
  await request(proxy.port, { path: '/host-header', headers: { 'x-target-host': 'from-header.example' } });
  t.assert.equal(last(a).headers.host, 'from-header.example');
});

test('redirects: https, host+port+path with 308, prefix rewrite with stripped query, path with query, scheme, regex', async (t: TestContext) => {
  const cases: [string, string, number, string][] = [
    ['/https/a?b=1', 'svc.local:80', 301, 'https://svc.local/https/a?b=1'],
    ['/https', 'svc.local:8080', 301, 'https://svc.local:8080/https'],
    ['/moved?x=y', 'svc.local', 308, 'http://new.example:8443/landing?x=y'],
    ['/swap/rest?drop=1', 'svc.local', 302, 'http://svc.local/swapped/rest'],
    ['/with-query?orig=1', 'svc.local', 301, 'http://svc.local/q?x=1'],
    ['/scheme/p', 'svc.local', 307, 'https://svc.local/scheme/p'],
    ['/re-redirect/x', 'svc.local', 303, 'http://svc.local/done/x'],
  ];
  t.plan(cases.length * 2);
  for (const [path, host, status, location] of cases) {
    const res = await request(proxy.port, { path, headers: { host } });
    t.assert.equal(res.status, status, path);
    t.assert.equal(res.headers.location, location, path);
  }
});

test('direct_response with body and route response headers', async (t: TestContext) => {
  t.plan(4);
  const res = await request(proxy.port, { path: '/direct' });
  t.assert.equal(res.status, 418);
  t.assert.equal(res.body, 'short and stout');
  t.assert.equal(res.headers['x-direct'], 'yes');
  t.assert.equal(res.headers['content-type'], 'text/plain');
});

test('header mutations: order route → vhost → config, actions, formatters, removals', async (t: TestContext) => {
  t.plan(10);
  const res = await request(proxy.port, {
    path: '/headers',
    headers: { 'x-src': 'copied', 'x-keep': 'old', 'x-over': 'old', 'x-remove-me': '1' },
  });
  const h = last(a).headers;
  t.assert.equal(h['x-order'], 'route, vhost, config');
  t.assert.equal(h['x-vhost'], 'yes');
  t.assert.equal(h['x-client'], '127.0.0.1');
  t.assert.equal(h['x-copy'], 'copied');
  t.assert.equal(h['x-keep'], 'old');
  t.assert.equal(h['x-over'], 'new');
  t.assert.equal(h['x-pct'], '100%');
  t.assert.equal(h['x-remove-me'], undefined);
  t.assert.deepEqual([res.headers['x-resp'], res.headers['x-status']], ['route, vhost, config', '200']);
  t.assert.equal(res.headers['x-backend-secret'], undefined);
});

test('weighted clusters split by weight and carry per-cluster headers', async (t: TestContext) => {
  t.plan(4);
  const before = [a.count, b.count];
  for (let i = 0; i < 200; i++) await request(proxy.port, { path: '/weighted' });
  const na = a.count - before[0];
  const nb = b.count - before[1];
  t.assert.equal(na + nb, 200);
  t.assert.ok(na > 40 && na < 80, `a got ${na} of 200 (30% expected)`);
  t.assert.equal(last(a).headers['x-pick'], 'a');
  t.assert.equal(last(b).headers['x-pick'], 'b');
});

test('cluster_header picks the cluster from the request; missing header → 404', async (t: TestContext) => {
  t.plan(3);
  const before = b.count;
  const res = await request(proxy.port, { path: '/by-header', headers: { 'x-cluster': 'b' } });
  t.assert.equal(res.status, 200);
  t.assert.equal(b.count, before + 1);
  t.assert.equal((await request(proxy.port, { path: '/by-header' })).status, 404);
});

test('local replies: no route 404, unknown cluster 503 or the configured code, no healthy upstream 503', async (t: TestContext) => {
  t.plan(6);
  const noRoute = await ProxyHarness.http(
    [],
    routeConfig(
      [{ match: { prefix: '/only' }, route: { cluster: 'x' } }],
      {},
      { validate_clusters: { value: false } },
    ),
  );
  const nr = await request(noRoute.port, { path: '/other' });
  await noRoute.close();
  t.assert.equal(nr.status, 404);
  t.assert.equal(noRoute.stat('http.ingress.no_route'), 1);
  t.assert.equal((await request(proxy.port, { path: '/nowhere' })).status, 503);
  t.assert.equal((await request(proxy.port, { path: '/absent-cluster-404' })).status, 404);
  const uh = await request(proxy.port, { path: '/empty' });
  t.assert.equal(uh.status, 503);
  t.assert.equal(uh.body, 'no healthy upstream');
});

test('require_tls ALL redirects plaintext requests to https', async (t: TestContext) => {
  t.plan(2);
  const proxy = await ProxyHarness.http(
    [staticCluster('a', [a.port])],
    routeConfig([{ match: { prefix: '/' }, route: { cluster: 'a' } }], { require_tls: 'ALL' }),
  );
  const res = await request(proxy.port, { path: '/secure?x=1', headers: { host: 'site.example' } });
  await proxy.close();
  t.assert.equal(res.status, 301);
  t.assert.equal(res.headers.location, 'https://site.example/secure?x=1');
});

test('local replies to gRPC requests are gRPC: 200 with grpc-status and grpc-message', async (t: TestContext) => {
  t.plan(4);
  const res = await request(proxy.port, {
    method: 'POST',
    path: '/empty/pkg.Svc/Call',
    headers: { 'content-type': 'application/grpc' },
    body: '',
  });
  t.assert.equal(res.status, 200);
  t.assert.equal(res.headers['content-type'], 'application/grpc');
  t.assert.equal(res.headers['grpc-status'], '14');
  t.assert.equal(res.headers['grpc-message'], 'no%20healthy%20upstream');
});

test('no open handles', async () => {
  await proxy.close();
  await a.close();
  await b.close();
  await assertNoOpenHandles();
});
