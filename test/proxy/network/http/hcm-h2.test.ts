/**
 * HTTP/2 through the connection manager and the router with real sockets: h2c prior knowledge
 * downstream (sniffed on an AUTO listener), HTTP/2 upstream pools (multiplexing, concurrency
 * limits, GOAWAY), protocol translation both ways (h2 ↔ h1: chunked ↔ DATA, trailers), gRPC
 * local replies, stream resets that leave the connection up, and per-stream timeouts.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http2 from 'node:http2';
import { after, before, test } from 'node:test';
import { TYPE } from '../../../../src/proxy/config/type-names.ts';
import { type FakeUpstream, startUpstream } from '../../../support/fake-upstreams.ts';
import {
  any,
  assertNoOpenHandles,
  ProxyHarness,
  raw,
  request,
  routeConfig,
  staticCluster,
} from '../../support/harness.ts';
import { closeSession, H2Backend, h2connect, h2request } from './h2-support.ts';

/** typed_extension_protocol_options selecting HTTP/2 upstream (what Istio writes for grpc ports). */
function h2Options(h2: Record<string, unknown> = {}, common: Record<string, unknown> = {}) {
  return {
    typed_extension_protocol_options: {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': any(TYPE.HTTP_PROTOCOL_OPTIONS, {
        explicit_http_config: { http2_protocol_options: h2 },
        ...common,
      }),
    },
  };
}

const ALL = routeConfig([{ match: { prefix: '/' }, route: { cluster: 'up' } }]);

let h1up: FakeUpstream;
before(async () => {
  h1up = await startUpstream('h1');
});
after(async () => {
  await h1up.close();
  await assertNoOpenHandles();
});

test('h2c prior knowledge on an AUTO listener reaches an HTTP/1.1 upstream', async () => {
  const proxy = await ProxyHarness.http([staticCluster('up', [h1up.port])], ALL);
  const s = await h2connect(proxy.port);
  const r = await h2request(
    s,
    { ':path': '/hello?x=1', ':authority': 'shop.local', 'x-custom': 'a' },
    'payload',
  );
  assert.equal(r.status, 200);
  const echo = JSON.parse(r.body);
  assert.equal(echo.upstream, 'h1');
  const seen = h1up.requests.at(-1)!;
  assert.equal(seen.method, 'POST');
  assert.equal(seen.url, '/hello?x=1');
  assert.equal(seen.headers.host, 'shop.local');
  assert.equal(seen.headers['x-custom'], 'a');
  assert.equal(seen.headers['x-forwarded-proto'], 'http');
  assert.match(String(seen.headers['x-request-id']), /^[0-9a-f-]{36}$/);
  // No length from the client: the HTTP/1.1 request is chunked.
  assert.equal(seen.headers['transfer-encoding'], 'chunked');
  assert.equal(seen.body, 'payload');
  // Several streams on one connection, answered independently.
  const many = await Promise.all(
    [1, 2, 3].map((i) => h2request(s, { ':path': `/m${i}`, ':authority': 'a' })),
  );
  assert.deepEqual(
    many.map((m) => m.status),
    [200, 200, 200],
  );
  await closeSession(s);
  // Plain HTTP/1.1 still works on the same listener.
  assert.equal((await request(proxy.port, { path: '/h1', headers: { host: 'a' } })).status, 200);
  assert.equal(proxy.stat('http.ingress.downstream_cx_http2_total'), 1);
  assert.equal(proxy.stat('http.ingress.downstream_rq_http2_total'), 4);
  assert.equal(proxy.stat('http.ingress.downstream_cx_http1_total'), 1);
  await proxy.close();
});

test('codec_type HTTP1 does not sniff the preface; HTTP2 requires it', async () => {
  const p1 = await ProxyHarness.http([staticCluster('up', [h1up.port])], ALL, { codec_type: 'HTTP1' });
  const r = await raw(p1.port, 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
  assert.match(r.text, /^HTTP\/1\.1 505 /);
  await p1.close();
  const p2 = await ProxyHarness.http([staticCluster('up', [h1up.port])], ALL, { codec_type: 'HTTP2' });
  const s = await h2connect(p2.port);
  assert.equal((await h2request(s, { ':authority': 'a' })).status, 200);
  await closeSession(s);
  await p2.close();
});

test('h2 → h2 upstream: one multiplexed connection, trailers both ways', async () => {
  const be = await new H2Backend().listen();
  be.handler = (stream, seen) => {
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.on('wantTrailers', () =>
      stream.sendTrailers({ 'grpc-status': '0', 'x-seen-trailer': String(seen.trailers?.['x-req-trailer']) }),
    );
    stream.end(`got:${seen.body}`);
  };
  const proxy = await ProxyHarness.http([staticCluster('up', [be.port], h2Options())], ALL);
  const s = await h2connect(proxy.port);
  const rs = await Promise.all(
    [1, 2, 3, 4].map((i) =>
      h2request(
        s,
        {
          ':path': `/svc/M${i}`,
          ':authority': 'grpc.local',
          'content-type': 'application/grpc',
          te: 'trailers',
        },
        `msg${i}`,
        { 'x-req-trailer': `t${i}` },
      ),
    ),
  );
  for (let i = 0; i < 4; i++) {
    assert.equal(rs[i].status, 200);
    assert.equal(rs[i].body, `got:msg${i + 1}`);
    assert.equal(rs[i].trailers?.['grpc-status'], '0');
    assert.equal(rs[i].trailers?.['x-seen-trailer'], `t${i + 1}`);
  }
  const seen = be.seen[0].headers;
  assert.equal(seen[':authority'], 'grpc.local');
  assert.equal(seen.te, 'trailers');
  assert.equal(seen.host, undefined);
  assert.equal(be.sessionsTotal, 1);
  assert.equal(proxy.stat('cluster.up.upstream_cx_http2_total'), 1);
  assert.equal(proxy.stat('cluster.up.upstream_rq_total'), 4);
  await closeSession(s);
  await proxy.close();
  await be.close();
});

test('h1 → h2 upstream: chunked body becomes DATA, response trailers become chunked trailers', async () => {
  const be = await new H2Backend().listen();
  be.handler = (stream, seen) => {
    stream.respond({ ':status': 201 }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'x-done': 'yes' }));
    stream.write('part1-');
    stream.end(`${seen.body}`);
  };
  const proxy = await ProxyHarness.http([staticCluster('up', [be.port], h2Options())], ALL);
  const r = await raw(
    proxy.port,
    'POST /up HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\nte: trailers\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
    { until: (t) => t.endsWith('\r\n\r\n') && t.includes('x-done') },
  );
  assert.match(r.text, /^HTTP\/1\.1 201 /);
  assert.match(r.text, /transfer-encoding: chunked/);
  assert.match(r.text, /part1-/);
  assert.match(r.text, /hello/);
  assert.match(r.text, /0\r\nx-done: yes\r\n\r\n$/);
  assert.equal(be.seen[0].body, 'hello');
  assert.equal(be.seen[0].headers[':method'], 'POST');
  assert.equal(be.seen[0].headers[':path'], '/up');
  await proxy.close();
  await be.close();
});

test('max_concurrent_streams and max_requests_per_connection open more upstream connections', async () => {
  const be = await new H2Backend().listen();
  const held: http2.ServerHttp2Stream[] = [];
  be.handler = (stream) => {
    held.push(stream);
    if (held.length === 2) {
      for (const h of held) {
        h.respond({ ':status': 200 });
        h.end('ok');
      }
    }
  };
  const proxy = await ProxyHarness.http(
    [staticCluster('up', [be.port], h2Options({ max_concurrent_streams: 1 }))],
    ALL,
  );
  const s = await h2connect(proxy.port);
  const rs = await Promise.all([1, 2].map(() => h2request(s, { ':authority': 'a' })));
  assert.deepEqual(
    rs.map((r) => r.status),
    [200, 200],
  );
  assert.equal(be.sessionsTotal, 2);
  await closeSession(s);
  await proxy.close();

  // One request per connection: every request gets its own.
  be.sessionsTotal = 0;
  be.handler = (stream) => {
    stream.respond({ ':status': 200 });
    stream.end('ok');
  };
  const p2 = await ProxyHarness.http(
    [
      staticCluster(
        'up',
        [be.port],
        h2Options({}, { common_http_protocol_options: { max_requests_per_connection: 1 } }),
      ),
    ],
    ALL,
  );
  const s2 = await h2connect(p2.port);
  for (let i = 0; i < 3; i++) assert.equal((await h2request(s2, { ':authority': 'a' })).status, 200);
  assert.equal(be.sessionsTotal, 3);
  assert.equal(p2.stat('cluster.up.upstream_cx_max_requests'), 3);
  await closeSession(s2);
  await p2.close();
  await be.close();
});

test('an upstream GOAWAY drains that connection; the next request opens a new one', async () => {
  const be = await new H2Backend().listen();
  const proxy = await ProxyHarness.http([staticCluster('up', [be.port], h2Options())], ALL);
  const s = await h2connect(proxy.port);
  assert.equal((await h2request(s, { ':authority': 'a' })).status, 200);
  assert.equal(be.sessionsTotal, 1);
  const [first] = be.sessions;
  const gone = once(first, 'close');
  first.close(); // GOAWAY, then close once idle
  await gone;
  assert.equal((await h2request(s, { ':authority': 'a' }, 'x')).status, 200);
  assert.equal(be.sessionsTotal, 2);
  await closeSession(s);
  await proxy.close();
  await be.close();
});

test('gRPC local replies are trailers-only with grpc-status; HTTP/1 clients too', async () => {
  const proxy = await ProxyHarness.http(
    [staticCluster('up', [h1up.port])],
    routeConfig([{ match: { prefix: '/known' }, route: { cluster: 'up' } }]),
  );
  const s = await h2connect(proxy.port);
  const r = await h2request(
    s,
    { ':path': '/pkg.Svc/Missing', ':authority': 'a', 'content-type': 'application/grpc' },
    '',
  );
  assert.equal(r.status, 200);
  assert.equal(r.headers['grpc-status'], '12'); // 404 → UNIMPLEMENTED
  assert.equal(r.headers['content-type'], 'application/grpc');
  assert.equal(r.body, '');
  assert.equal(r.rstCode, 0);
  const plain = await h2request(s, { ':path': '/nope', ':authority': 'a' });
  assert.equal(plain.status, 404);
  await closeSession(s);
  await proxy.close();
});

test('an upstream reset after headers resets only that stream (RST_STREAM), not the connection', async () => {
  const be = await new H2Backend().listen();
  be.handler = (stream, seen) => {
    stream.respond({ ':status': 200 });
    if (seen.headers[':path'] === '/boom') {
      // The upstream connection dies mid-response.
      stream.write('partial', () => stream.session?.destroy());
      return;
    }
    stream.end('fine');
  };
  const proxy = await ProxyHarness.http([staticCluster('up', [be.port], h2Options())], ALL);
  const s = await h2connect(proxy.port);
  const bad = await h2request(s, { ':path': '/boom', ':authority': 'a' });
  assert.equal(bad.status, 200);
  assert.equal(bad.rstCode, http2.constants.NGHTTP2_INTERNAL_ERROR);
  const good = await h2request(s, { ':path': '/ok', ':authority': 'a' });
  assert.equal(good.body, 'fine');
  assert.equal(proxy.stat('http.ingress.downstream_cx_http2_total'), 1);
  await closeSession(s);
  await proxy.close();
  await be.close();
});

test('a client RST_STREAM cancels the upstream stream', async () => {
  const be = await new H2Backend().listen();
  let seen: () => void = () => {};
  const arrived = new Promise<void>((resolve) => {
    seen = resolve;
  });
  const upstreamClosed = new Promise<number>((resolve) => {
    be.onHeaders = (stream) => {
      stream.on('close', () => resolve(stream.rstCode ?? -1));
      seen();
      return true; // never answered
    };
  });
  const proxy = await ProxyHarness.http([staticCluster('up', [be.port], h2Options())], ALL);
  const s = await h2connect(proxy.port);
  const req = s.request({ ':path': '/', ':authority': 'a' });
  req.on('error', () => {});
  await arrived;
  req.close(http2.constants.NGHTTP2_CANCEL);
  assert.equal(await upstreamClosed, http2.constants.NGHTTP2_CANCEL);
  await closeSession(s);
  await proxy.close();
  await be.close();
  assert.equal(proxy.stat('http.ingress.downstream_rq_rx_reset'), 1);
});

test('stream idle timeout answers 408 per stream; the connection stays open', async () => {
  const be = await new H2Backend().listen();
  be.onHeaders = () => true; // never answers: only the idle timeout can end the stream
  const proxy = await ProxyHarness.http([staticCluster('up', [be.port], h2Options())], ALL, {
    stream_idle_timeout: { nanos: 100_000_000 },
  });
  const s = await h2connect(proxy.port);
  const r = await h2request(s, { ':authority': 'a' });
  assert.equal(r.status, 408);
  assert.equal(r.body, 'stream timeout');
  assert.equal(proxy.stat('http.ingress.downstream_rq_idle_timeout'), 1);
  assert.equal(s.destroyed, false);
  await closeSession(s);
  await proxy.close();
  await be.close();
});

test('listener drain sends GOAWAY; the in-flight stream completes', async () => {
  const be = await new H2Backend().listen();
  let release: (() => void) | undefined;
  be.handler = (stream) => {
    release = () => {
      stream.respond({ ':status': 200 });
      stream.end('late');
    };
  };
  const proxy = await ProxyHarness.http([staticCluster('up', [be.port], h2Options())], ALL);
  const s = await h2connect(proxy.port);
  const goaway = once(s, 'goaway');
  const inflight = h2request(s, { ':authority': 'a' }, 'x');
  while (release === undefined) await new Promise((r) => setImmediate(r));
  const drained = proxy.listener.drain();
  await goaway;
  release();
  assert.equal((await inflight).body, 'late');
  await drained;
  await once(s, 'close');
  await proxy.close();
  await be.close();
});

test('large bodies stream through h2 → h2 with flow control, both directions', async () => {
  const be = await new H2Backend({ initialWindowSize: 65535 }).listen();
  const down = Buffer.alloc(16 * 1024 * 1024, 98);
  be.handler = (stream, seen) => {
    stream.respond({ ':status': 200, 'x-got': String(seen.body.length) });
    stream.end(down);
  };
  const proxy = await ProxyHarness.http(
    [staticCluster('up', [be.port], h2Options({ initial_stream_window_size: 65535 }))],
    ALL,
    { http2_protocol_options: { initial_stream_window_size: 65535, initial_connection_window_size: 65535 } },
  );
  const s = await h2connect(proxy.port);
  const big = Buffer.alloc(4 * 1024 * 1024, 97);
  const r = await h2request(s, { ':authority': 'a' }, big);
  assert.equal(r.headers['x-got'], String(big.length));
  assert.equal(r.body.length, down.length);
  assert.equal(r.rstCode, 0);
  await closeSession(s);
  await proxy.close();
  await be.close();
});

test('unsupported HTTP/2 options are refused with their field named', () => {
  const h = new ProxyHarness();
  assert.throws(
    () => h.addCluster(staticCluster('x', [1], h2Options({ allow_metadata: true }))),
    /allow_metadata/,
  );
  assert.throws(
    () => h.addCluster(staticCluster('x', [1], h2Options({ max_outbound_frames: 5 }))),
    /max_outbound_frames/,
  );
  h.cm.destroy();
});

test('a gRPC fault abort is a trailers-only reply with the configured grpc-status', async () => {
  const FAULT = 'envoy.extensions.filters.http.fault.v3.HTTPFault';
  const proxy = await ProxyHarness.http(
    [staticCluster('up', [h1up.port])],
    routeConfig([
      {
        match: { prefix: '/' },
        route: { cluster: 'up' },
        typed_per_filter_config: {
          'envoy.filters.http.fault': any(FAULT, {
            abort: { grpc_status: 8, percentage: { numerator: 100 } },
          }),
        },
      },
    ]),
    {
      http_filters: [
        { name: 'envoy.filters.http.fault', typed_config: any(FAULT, {}) },
        { name: 'envoy.filters.http.router', typed_config: any(TYPE.ROUTER, {}) },
      ],
    },
  );
  const s = await h2connect(proxy.port);
  const g = await h2request(
    s,
    { ':path': '/pkg.S/M', ':authority': 'a', 'content-type': 'application/grpc' },
    'x',
  );
  assert.equal(g.status, 200);
  assert.equal(g.headers['grpc-status'], '8');
  assert.equal(g.headers['grpc-message'], 'fault%20filter%20abort');
  // A non-gRPC request on the same route gets the HTTP equivalent.
  assert.equal((await h2request(s, { ':path': '/plain', ':authority': 'a' })).status, 503);
  await closeSession(s);
  await proxy.close();
});

test('retry_on unavailable retries a trailers-only grpc-status 14 over HTTP/2', async () => {
  const be = await new H2Backend().listen();
  let attempts = 0;
  be.handler = (stream) => {
    attempts++;
    if (attempts === 1) {
      stream.respond(
        { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '14' },
        { endStream: true },
      );
      return;
    }
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    stream.end('ok');
  };
  const proxy = await ProxyHarness.http(
    [staticCluster('up', [be.port], h2Options())],
    routeConfig([
      {
        match: { prefix: '/' },
        route: {
          cluster: 'up',
          retry_policy: {
            retry_on: 'unavailable',
            num_retries: 2,
            retry_back_off: { base_interval: { nanos: 1_000_000 } },
          },
        },
      },
    ]),
  );
  const s = await h2connect(proxy.port);
  const r = await h2request(
    s,
    { ':path': '/pkg.S/M', ':authority': 'a', 'content-type': 'application/grpc', te: 'trailers' },
    'x',
  );
  assert.equal(r.status, 200);
  assert.equal(r.body, 'ok');
  assert.equal(r.trailers?.['grpc-status'], '0');
  assert.equal(attempts, 2);
  assert.equal(proxy.stat('cluster.up.upstream_rq_retry'), 1);
  await closeSession(s);
  await proxy.close();
  await be.close();
});

test('circuit breaker max_requests bounds streams on the HTTP/2 pool (503 UO)', async () => {
  const be = await new H2Backend().listen();
  let release: (() => void) | undefined;
  be.handler = (stream) => {
    release = () => {
      stream.respond({ ':status': 200 });
      stream.end('first');
    };
  };
  const proxy = await ProxyHarness.http(
    [
      staticCluster('up', [be.port], {
        ...h2Options(),
        circuit_breakers: { thresholds: [{ max_requests: 1 }] },
      }),
    ],
    ALL,
  );
  const s = await h2connect(proxy.port);
  const first = h2request(s, { ':authority': 'a' }, 'x');
  while (release === undefined) await new Promise((r) => setImmediate(r));
  const second = await h2request(s, { ':authority': 'a' });
  assert.equal(second.status, 503);
  assert.equal(second.headers['x-envoy-overloaded'], 'true');
  release();
  assert.equal((await first).body, 'first');
  assert.equal(proxy.stat('cluster.up.upstream_rq_pending_overflow'), 1);
  await closeSession(s);
  await proxy.close();
  await be.close();
});

test('a refused upstream connection on the HTTP/2 pool is 503 UF', async () => {
  // A port nothing listens on: the connection is refused.
  const probe = await new H2Backend().listen();
  const deadPort = probe.port;
  await probe.close();
  const proxy = await ProxyHarness.http([staticCluster('up', [deadPort], h2Options())], ALL);
  const s = await h2connect(proxy.port);
  const r = await h2request(s, { ':authority': 'a' });
  assert.equal(r.status, 503);
  assert.match(r.body, /connection failure/);
  assert.equal(proxy.stat('cluster.up.upstream_cx_connect_fail'), 1);
  await closeSession(s);
  await proxy.close();
});

test('max_grpc_timeout: the grpc-timeout header becomes the route timeout (capped)', async () => {
  const be = await new H2Backend().listen();
  be.onHeaders = () => true; // never answers
  const proxy = await ProxyHarness.http(
    [staticCluster('up', [be.port], h2Options())],
    routeConfig([
      // No route timeout at all: only grpc-timeout can end these requests.
      {
        match: { prefix: '/' },
        route: { cluster: 'up', timeout: { seconds: 0 }, max_grpc_timeout: { seconds: 60 } },
      },
    ]),
  );
  const s = await h2connect(proxy.port);
  const r = await h2request(s, {
    ':path': '/pkg.S/Slow',
    ':authority': 'a',
    'content-type': 'application/grpc',
    'grpc-timeout': '100m',
  });
  assert.equal(r.status, 200);
  assert.equal(r.headers['grpc-status'], '14'); // 504 upstream timeout → UNAVAILABLE
  assert.equal(proxy.stat('cluster.up.upstream_rq_timeout'), 1);
  await closeSession(s);
  await proxy.close();
  await be.close();
});

/** One HTTP/2 frame. */
function frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream, 5);
  return Buffer.concat([h, payload]);
}

/** HPACK literal fields without indexing (names and values shorter than 127 bytes). */
function hpackLiterals(fields: [string, string][]): Buffer {
  const parts: Buffer[] = [];
  for (const [n, v] of fields)
    parts.push(Buffer.from([0, n.length]), Buffer.from(n), Buffer.from([v.length]), Buffer.from(v));
  return Buffer.concat(parts);
}

test('connection-specific request headers are refused with RST_STREAM PROTOCOL_ERROR', async () => {
  const proxy = await ProxyHarness.http([staticCluster('up', [h1up.port])], ALL);
  const before = h1up.requests.length;
  const headers = hpackLiterals([
    [':method', 'GET'],
    [':scheme', 'http'],
    [':path', '/'],
    [':authority', 'a'],
    ['connection', 'close'],
  ]);
  const bytes = Buffer.concat([
    Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1'),
    frame(4, 0, 0, Buffer.alloc(0)), // SETTINGS
    frame(1, 0x5, 1, headers), // HEADERS, END_STREAM | END_HEADERS
  ]);
  // Collect frames until an RST_STREAM for stream 1 (type 3) shows up.
  const rst = (buf: Buffer): number | undefined => {
    for (let at = 0; at + 9 <= buf.length; ) {
      const len = buf.readUIntBE(at, 3);
      if (buf[at + 3] === 3 && buf.readUInt32BE(at + 5) === 1 && at + 13 <= buf.length)
        return buf.readUInt32BE(at + 9);
      at += 9 + len;
    }
    return undefined;
  };
  const r = await raw(proxy.port, bytes, { until: (t) => rst(Buffer.from(t, 'latin1')) !== undefined });
  assert.equal(rst(Buffer.from(r.text, 'latin1')), http2.constants.NGHTTP2_PROTOCOL_ERROR);
  assert.equal(h1up.requests.length, before, 'nothing was forwarded');
  await proxy.close();
});

test('use_downstream_protocol_config: HTTP/2 downstream → HTTP/2 upstream, HTTP/1.1 → HTTP/1.1', async () => {
  const be = await new H2Backend().listen();
  const proxy = await ProxyHarness.http(
    [
      staticCluster('h2only', [be.port], {
        typed_extension_protocol_options: {
          'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': any(TYPE.HTTP_PROTOCOL_OPTIONS, {
            use_downstream_protocol_config: { http_protocol_options: {}, http2_protocol_options: {} },
          }),
        },
      }),
      staticCluster('h1only', [h1up.port], {
        typed_extension_protocol_options: {
          'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': any(TYPE.HTTP_PROTOCOL_OPTIONS, {
            use_downstream_protocol_config: { http_protocol_options: {}, http2_protocol_options: {} },
          }),
        },
      }),
    ],
    routeConfig([
      { match: { prefix: '/h2' }, route: { cluster: 'h2only' } },
      { match: { prefix: '/h1' }, route: { cluster: 'h1only' } },
    ]),
  );
  const s = await h2connect(proxy.port);
  assert.equal((await h2request(s, { ':path': '/h2', ':authority': 'a' }, 'x')).body, 'echo:x');
  await closeSession(s);
  const h1 = await request(proxy.port, { path: '/h1', headers: { host: 'a' } });
  assert.equal(JSON.parse(h1.body).upstream, 'h1');
  assert.equal(proxy.stat('cluster.h2only.upstream_cx_http2_total'), 1);
  assert.equal(proxy.stat('cluster.h1only.upstream_cx_http1_total'), 1);
  await proxy.close();
  await be.close();
});

test('a response that ends before the request body still arrives whole; then RST_STREAM NO_ERROR', async () => {
  const proxy = await ProxyHarness.http(
    [staticCluster('up', [h1up.port])],
    routeConfig([
      { match: { prefix: '/' }, direct_response: { status: 200, body: { inline_string: 'done early' } } },
    ]),
  );
  const s = await h2connect(proxy.port);
  const req = s.request({ ':method': 'POST', ':path': '/', ':authority': 'a' });
  req.on('error', () => {});
  req.write('first part, and the body never ends');
  const chunks: Buffer[] = [];
  let status = 0;
  req.on('response', (h) => {
    status = Number(h[':status']);
  });
  req.on('data', (d: Buffer) => chunks.push(d));
  await once(req, 'close');
  assert.equal(status, 200);
  assert.equal(Buffer.concat(chunks).toString(), 'done early');
  assert.equal(req.rstCode, http2.constants.NGHTTP2_NO_ERROR);
  assert.equal(proxy.stat('http.ingress.downstream_rq_response_before_rq_complete'), 1);
  await closeSession(s);
  await proxy.close();
});

test('retry_on refused-stream retries a stream the upstream refused', async () => {
  const be = await new H2Backend().listen();
  let attempts = 0;
  be.onHeaders = (stream) => {
    attempts++;
    if (attempts > 1) return false; // answered by the default handler
    stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
    return true;
  };
  const proxy = await ProxyHarness.http(
    [staticCluster('up', [be.port], h2Options())],
    routeConfig([
      {
        match: { prefix: '/' },
        route: {
          cluster: 'up',
          retry_policy: {
            retry_on: 'refused-stream',
            num_retries: 1,
            retry_back_off: { base_interval: { nanos: 1_000_000 } },
          },
        },
      },
    ]),
  );
  const s = await h2connect(proxy.port);
  const r = await h2request(s, { ':authority': 'a' }, 'again');
  assert.equal(r.status, 200);
  assert.equal(r.body, 'echo:again');
  assert.equal(attempts, 2);
  await closeSession(s);
  // Without the retry policy the refusal is a 503 naming it.
  await proxy.close();
  attempts = 0;
  const p2 = await ProxyHarness.http([staticCluster('up', [be.port], h2Options())], ALL);
  const s2 = await h2connect(p2.port);
  const r2 = await h2request(s2, { ':authority': 'a' }, 'x');
  assert.equal(r2.status, 503);
  assert.match(r2.body, /remote refused stream reset/);
  await closeSession(s2);
  await p2.close();
  await be.close();
});
