/**
 * Retries as a layer around attempts: Istio's default retry policy masking a failing endpoint
 * (attempts counted on the backends), connect-failure and reset retries, body replay, gRPC
 * retry_on, exhaustion (URX, attempt counts), and x-envoy-retry-on honoured only from internal
 * clients.
 */
import net from 'node:net';
import { before, type TestContext, test } from 'node:test';
import { TYPE } from '../../../../../src/proxy/config/type-names.ts';
import { type FakeUpstream, startUpstream } from '../../../../support/fake-upstreams.ts';
import {
  any,
  assertNoOpenHandles,
  ProxyHarness,
  request,
  routeConfig,
  staticCluster,
} from '../../../support/harness.ts';

/** Istio's default retry policy, as mizzend writes it when a VirtualService sets no retries. */
const ISTIO_DEFAULT_RETRY = {
  retry_on: 'connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes',
  num_retries: { value: 2 },
  retriable_status_codes: [503],
  retry_host_predicate: [
    {
      name: 'envoy.retry_host_predicates.previous_hosts',
      typed_config: any(TYPE.PREVIOUS_HOSTS_PREDICATE, {}),
    },
  ],
  host_selection_retry_max_attempts: '5',
};

const FAST_BACKOFF = { retry_back_off: { base_interval: { nanos: 1_000_000 } } };

let good: FakeUpstream;
let bad: FakeUpstream;
let flaky: FakeUpstream;
let deadPort = 0;

async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

before(async () => {
  good = await startUpstream('good');
  bad = await startUpstream('bad');
  bad.behave = () => ({ kind: 'status', status: 503, body: 'unavailable' });
  flaky = await startUpstream('flaky');
  deadPort = await closedPort();
});

test("Istio's default retry policy masks a failing endpoint; attempts are counted on the backends", async (t: TestContext) => {
  t.plan(6);
  const proxy = await ProxyHarness.http(
    [staticCluster('svc', [bad.port, good.port])],
    routeConfig([{ match: { prefix: '/' }, route: { cluster: 'svc', retry_policy: ISTIO_DEFAULT_RETRY } }]),
  );
  const g0 = good.count;
  const b0 = bad.count;
  const codes: number[] = [];
  for (let i = 0; i < 20; i++) codes.push((await request(proxy.port, { path: `/r${i}` })).status);
  await proxy.close();
  const badHits = bad.count - b0;
  t.assert.deepEqual([...new Set(codes)], [200]);
  t.assert.equal(good.count - g0, 20, 'every request ends on the good endpoint');
  // Retries consume round-robin picks, so after the first request every first attempt lands
  // on the bad endpoint and its retry on the good one.
  t.assert.ok(badHits === 19 || badHits === 20, `bad endpoint saw ${badHits} attempts`);
  t.assert.equal(proxy.stat('cluster.svc.upstream_rq_retry'), badHits);
  t.assert.equal(proxy.stat('cluster.svc.upstream_rq_retry_success'), badHits);
  t.assert.equal(proxy.stat('cluster.svc.upstream_rq_503'), badHits);
});

test('connect failures are retried onto another host (connect-failure)', async (t: TestContext) => {
  t.plan(3);
  const proxy = await ProxyHarness.http(
    [staticCluster('svc', [deadPort, good.port])],
    routeConfig([
      {
        match: { prefix: '/' },
        route: { cluster: 'svc', retry_policy: { ...ISTIO_DEFAULT_RETRY, ...FAST_BACKOFF } },
      },
    ]),
  );
  const codes: number[] = [];
  for (let i = 0; i < 6; i++) codes.push((await request(proxy.port)).status);
  await proxy.close();
  t.assert.deepEqual([...new Set(codes)], [200]);
  const fails = proxy.stat('cluster.svc.upstream_cx_connect_fail');
  t.assert.ok(fails >= 5, `${fails} connect failures`);
  t.assert.equal(proxy.stat('cluster.svc.upstream_rq_retry'), fails);
});

test('without a retry policy a connect failure is a 503 UF local reply', async (t: TestContext) => {
  t.plan(2);
  const proxy = await ProxyHarness.http(
    [staticCluster('svc', [deadPort])],
    routeConfig([{ match: { prefix: '/' }, route: { cluster: 'svc' } }]),
  );
  const res = await request(proxy.port);
  await proxy.close();
  t.assert.equal(res.status, 503);
  t.assert.match(
    res.body,
    /^upstream connect error or disconnect\/reset before headers\. reset reason: connection failure/,
  );
});

test('a reset before response headers is retried with retry_on reset, and replays the body', async (t: TestContext) => {
  t.plan(5);
  const f0 = flaky.count;
  flaky.behave = (_r, i) => (i === f0 ? { kind: 'reset' } : { kind: 'echo' });
  const proxy = await ProxyHarness.http(
    [staticCluster('svc', [flaky.port])],
    routeConfig([
      {
        match: { prefix: '/' },
        route: {
          cluster: 'svc',
          retry_policy: { retry_on: 'reset', num_retries: { value: 1 }, ...FAST_BACKOFF },
        },
      },
    ]),
  );
  const res = await request(proxy.port, { method: 'POST', path: '/post', body: 'payload-123' });
  await proxy.close();
  t.assert.equal(res.status, 200);
  t.assert.equal(flaky.count - f0, 2);
  t.assert.equal(flaky.requests[f0].body, 'payload-123');
  t.assert.equal(flaky.requests[f0 + 1].body, 'payload-123');
  t.assert.equal(JSON.parse(res.body).body, 'payload-123');
});

test('a reset without retries is a 503 with the UC reset reason', async (t: TestContext) => {
  t.plan(2);
  flaky.behave = () => ({ kind: 'reset' });
  const proxy = await ProxyHarness.http(
    [staticCluster('svc', [flaky.port])],
    routeConfig([{ match: { prefix: '/' }, route: { cluster: 'svc' } }]),
  );
  const res = await request(proxy.port);
  await proxy.close();
  t.assert.equal(res.status, 503);
  t.assert.equal(
    res.body,
    'upstream connect error or disconnect/reset before headers. reset reason: connection termination',
  );
});

test('exhausted retries forward the last upstream response and count the attempts', async (t: TestContext) => {
  t.plan(4);
  const b0 = bad.count;
  const proxy = await ProxyHarness.http(
    [staticCluster('svc', [bad.port])],
    routeConfig(
      [
        {
          match: { prefix: '/' },
          route: {
            cluster: 'svc',
            retry_policy: { retry_on: '5xx', num_retries: { value: 2 }, ...FAST_BACKOFF },
          },
        },
      ],
      { include_attempt_count_in_response: true, include_request_attempt_count: true },
    ),
  );
  const res = await request(proxy.port);
  await proxy.close();
  t.assert.equal(res.status, 503);
  t.assert.equal(res.headers['x-envoy-attempt-count'], '3');
  t.assert.deepEqual(
    bad.requests.slice(b0).map((r) => r.headers['x-envoy-attempt-count']),
    ['1', '2', '3'],
  );
  t.assert.equal(proxy.stat('cluster.svc.upstream_rq_retry_limit_exceeded'), 1);
});

test('gRPC retry_on conditions read grpc-status from response headers', async (t: TestContext) => {
  t.plan(2);
  const f0 = flaky.count;
  flaky.behave = (_r, i) =>
    i === f0
      ? { kind: 'status', status: 200, headers: { 'grpc-status': '14', 'content-type': 'application/grpc' } }
      : { kind: 'echo' };
  const proxy = await ProxyHarness.http(
    [staticCluster('svc', [flaky.port])],
    routeConfig([
      {
        match: { prefix: '/' },
        route: { cluster: 'svc', retry_policy: { retry_on: 'unavailable', ...FAST_BACKOFF } },
      },
    ]),
  );
  const res = await request(proxy.port, {
    method: 'POST',
    path: '/pkg.Svc/Method',
    headers: { 'content-type': 'application/grpc' },
    body: 'x',
  });
  await proxy.close();
  t.assert.equal(res.status, 200);
  t.assert.equal(flaky.count - f0, 2);
});

test('x-envoy-retry-on is honoured from internal clients and stripped from external ones', async (t: TestContext) => {
  t.plan(4);
  const routes = routeConfig([{ match: { prefix: '/' }, route: { cluster: 'svc' } }]);
  const b0 = bad.count;
  // use_remote_address: the loopback client is internal.
  const internal = await ProxyHarness.http([staticCluster('svc', [bad.port])], routes, {
    use_remote_address: { value: true },
  });
  const r1 = await request(internal.port, {
    headers: { 'x-envoy-retry-on': '5xx', 'x-envoy-max-retries': '1' },
  });
  await internal.close();
  t.assert.equal(r1.status, 503);
  t.assert.equal(bad.count - b0, 2);
  // Without use_remote_address and no XFF the request is external: the header is removed.
  const external = await ProxyHarness.http([staticCluster('svc', [bad.port])], routes);
  const b1 = bad.count;
  await request(external.port, { headers: { 'x-envoy-retry-on': '5xx' } });
  await external.close();
  t.assert.equal(bad.count - b1, 1);
  t.assert.equal(bad.requests[bad.requests.length - 1].headers['x-envoy-retry-on'], undefined);
});

test('no open handles', async () => {
  await good.close();
  await bad.close();
  await flaky.close();
  await assertNoOpenHandles();
});
