/**
 * Timeouts as layers: route timeout (504 UT), per-try timeout followed by a successful retry,
 * the alternate 204 response, stream idle timeout (408), request timeout (408), connection idle
 * timeout, and a route timeout driven by node:test fake timers. Backends that never answer make
 * the outcomes independent of machine speed.
 */
import net from 'node:net';
import { before, mock, type TestContext, test } from 'node:test';
import { type FakeUpstream, startUpstream } from '../../../../support/fake-upstreams.ts';
import {
  assertNoOpenHandles,
  ProxyHarness,
  raw,
  request,
  routeConfig,
  staticCluster,
  statuses,
} from '../../../support/harness.ts';

let hang: FakeUpstream;
let slowFirst: FakeUpstream;

before(async () => {
  hang = await startUpstream('hang');
  hang.behave = () => ({ kind: 'hang' });
  slowFirst = await startUpstream('slow-first');
});

const ms = (n: number) => ({ nanos: n * 1_000_000 });

test('route timeout: a backend that never answers gets 504 upstream request timeout', async (t: TestContext) => {
  t.plan(4);
  const proxy = await ProxyHarness.http(
    [staticCluster('svc', [hang.port])],
    routeConfig([{ match: { prefix: '/' }, route: { cluster: 'svc', timeout: ms(30) } }]),
  );
  const res = await request(proxy.port);
  await proxy.close();
  t.assert.equal(res.status, 504);
  t.assert.equal(res.body, 'upstream request timeout');
  t.assert.equal(proxy.stat('cluster.svc.upstream_rq_timeout'), 1);
  t.assert.equal(proxy.stat('http.ingress.downstream_rq_5xx'), 1);
});

test('per-try timeout: the first try hangs, the retry answers (fake timers)', async (t: TestContext) => {
  t.plan(4);
  const s0 = slowFirst.count;
  slowFirst.behave = (_r, i) => (i === s0 ? { kind: 'hang' } : { kind: 'echo' });
  const proxy = await ProxyHarness.http(
    [staticCluster('svc', [slowFirst.port])],
    routeConfig([
      {
        match: { prefix: '/' },
        route: {
          cluster: 'svc',
          timeout: { seconds: 60 },
          retry_policy: {
            retry_on: '5xx',
            num_retries: { value: 1 },
            per_try_timeout: { seconds: 10 },
            retry_back_off: { base_interval: ms(1) },
          },
        },
      },
    ]),
  );
  mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  try {
    const pending = request(proxy.port);
    await new Promise<void>((resolve) => {
      const check = () => (slowFirst.count > s0 ? resolve() : setImmediate(check));
      check();
    });
    // The first try times out; the retry waits a back-off of under 1 ms, then goes out.
    mock.timers.tick(10_000);
    mock.timers.tick(1);
    const res = await pending;
    t.assert.equal(res.status, 200);
    t.assert.equal(slowFirst.count - s0, 2);
    t.assert.equal(proxy.stat('cluster.svc.upstream_rq_per_try_timeout'), 1);
    t.assert.equal(slowFirst.requests[s0].headers['x-envoy-expected-rq-timeout-ms'], '10000');
  } finally {
    mock.timers.reset();
    await proxy.close();
  }
});

test('per-try timeout without retries left: 504', async (t: TestContext) => {
  t.plan(2);
  const proxy = await ProxyHarness.http(
    [staticCluster('svc', [hang.port])],
    routeConfig([
      {
        match: { prefix: '/' },
        route: { cluster: 'svc', retry_policy: { retry_on: 'connect-failure', per_try_timeout: ms(20) } },
      },
    ]),
  );
  const res = await request(proxy.port);
  await proxy.close();
  t.assert.equal(res.status, 504);
  t.assert.equal(proxy.stat('cluster.svc.upstream_rq_per_try_timeout'), 1);
});

test('x-envoy-upstream-rq-timeout-alt-response turns the timeout into 204 for internal clients', async (t: TestContext) => {
  t.plan(1);
  const proxy = await ProxyHarness.http(
    [staticCluster('svc', [hang.port])],
    routeConfig([{ match: { prefix: '/' }, route: { cluster: 'svc' } }]),
    {
      use_remote_address: { value: true },
    },
  );
  const res = await request(proxy.port, {
    headers: { 'x-envoy-upstream-rq-timeout-ms': '20', 'x-envoy-upstream-rq-timeout-alt-response': '' },
  });
  await proxy.close();
  t.assert.equal(res.status, 204);
});

test('stream idle timeout: 408 when nothing moves', async (t: TestContext) => {
  t.plan(3);
  const proxy = await ProxyHarness.http(
    [staticCluster('svc', [hang.port])],
    routeConfig([{ match: { prefix: '/' }, route: { cluster: 'svc', timeout: { seconds: 0 } } }]),
    { stream_idle_timeout: ms(30) },
  );
  const res = await request(proxy.port);
  await proxy.close();
  t.assert.equal(res.status, 408);
  t.assert.equal(res.body, 'stream timeout');
  t.assert.equal(proxy.stat('http.ingress.downstream_rq_idle_timeout'), 1);
});

test('route max_stream_duration ends a stream that runs too long (408 DT)', async (t: TestContext) => {
  t.plan(2);
  const proxy = await ProxyHarness.http(
    [staticCluster('svc', [hang.port])],
    routeConfig([
      {
        match: { prefix: '/' },
        route: {
          cluster: 'svc',
          timeout: { seconds: 0 },
          max_stream_duration: { max_stream_duration: ms(30) },
        },
      },
    ]),
  );
  const res = await request(proxy.port);
  await proxy.close();
  t.assert.equal(res.status, 408);
  t.assert.equal(proxy.stat('http.ingress.downstream_rq_max_duration_reached'), 1);
});

test('request timeout: a body that never finishes gets 408', async (t: TestContext) => {
  t.plan(2);
  const proxy = await ProxyHarness.http(
    [staticCluster('svc', [hang.port])],
    routeConfig([{ match: { prefix: '/' }, route: { cluster: 'svc' } }]),
    {
      request_timeout: ms(30),
    },
  );
  const res = await raw(proxy.port, 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\npartial');
  await proxy.close();
  t.assert.deepEqual(statuses(res.text), [408]);
  t.assert.equal(proxy.stat('http.ingress.downstream_rq_timeout'), 1);
});

test('request headers timeout: a head that never completes gets 408, however it trickles', async (t: TestContext) => {
  t.plan(2);
  const proxy = await ProxyHarness.http(
    [staticCluster('svc', [hang.port])],
    routeConfig([{ match: { prefix: '/' }, route: { cluster: 'svc' } }]),
    {
      request_headers_timeout: ms(40),
      // Room for whatever a fast machine drips in 40 ms, so the outcome is the timeout, not 431.
      max_request_headers_kb: { value: 8192 },
    },
  );
  const s = net.connect(proxy.port, '127.0.0.1');
  let text = '';
  s.on('data', (d) => {
    text += d.toString();
  });
  const closed = new Promise<void>((r) => s.on('close', () => r()));
  s.write('GET / HTTP/1.1\r\n');
  // Keep sending a byte each time the event loop comes round until the proxy gives up.
  const drip = (): void => {
    if (s.destroyed || text !== '') return;
    s.write('X');
    setImmediate(drip);
  };
  drip();
  await closed;
  await proxy.close();
  t.assert.deepEqual(statuses(text), [408]);
  t.assert.equal(proxy.stat('http.ingress.downstream_rq_header_timeout'), 1);
});

test('connection idle timeout closes an idle keep-alive connection', async (t: TestContext) => {
  t.plan(2);
  const proxy = await ProxyHarness.http(
    [staticCluster('svc', [slowFirst.port])],
    routeConfig([{ match: { prefix: '/' }, route: { cluster: 'svc' } }]),
    {
      common_http_protocol_options: { idle_timeout: ms(30) },
    },
  );
  slowFirst.behave = () => ({ kind: 'echo' });
  const res = await raw(proxy.port, 'GET / HTTP/1.1\r\nHost: a\r\n\r\n');
  await proxy.close();
  t.assert.deepEqual(statuses(res.text), [200]);
  t.assert.equal(proxy.stat('http.ingress.downstream_cx_idle_timeout'), 1);
});

test('route timeout with fake timers (15 s default, no real waiting)', async (t: TestContext) => {
  t.plan(2);
  const proxy = await ProxyHarness.http(
    [staticCluster('svc', [hang.port])],
    routeConfig([{ match: { prefix: '/' }, route: { cluster: 'svc' } }]),
  );
  const h0 = hang.count;
  mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  try {
    const arrived = new Promise<void>((resolve) => {
      const check = () => (hang.count > h0 ? resolve() : setImmediate(check));
      check();
    });
    const sock = net.connect(proxy.port, '127.0.0.1');
    let text = '';
    const done = new Promise<void>((resolve) => {
      sock.on('data', (d) => {
        text += d.toString();
        if (text.includes('upstream request timeout')) resolve();
      });
    });
    sock.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
    await arrived;
    mock.timers.tick(14_999);
    t.assert.equal(text, '');
    mock.timers.tick(1);
    await done;
    sock.destroy();
    t.assert.deepEqual(statuses(text), [504]);
  } finally {
    mock.timers.reset();
    await proxy.close();
  }
});

test('no open handles', async () => {
  await hang.close();
  await slowFirst.close();
  await assertNoOpenHandles();
});
