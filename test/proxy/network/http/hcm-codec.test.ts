/**
 * The connection manager's HTTP/1.1 handling end to end over real sockets: malformed and
 * smuggling requests answered 400/431/501/505 and closed without reaching the backend,
 * pipelining served in order, HTTP/1.0 (426 unless enabled; keep-alive vs close), 100-continue,
 * and body re-framing between chunked, length and close-delimited messages.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import { before, type TestContext, test } from 'node:test';
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
  statuses,
} from '../../support/harness.ts';

let up: FakeUpstream;
let proxy: ProxyHarness;
let proxy10: ProxyHarness;
const routes = routeConfig([{ match: { prefix: '/' }, route: { cluster: 'backend' } }]);

before(async () => {
  up = await startUpstream('backend');
  proxy = await ProxyHarness.http([staticCluster('backend', [up.port])], routes, {
    common_http_protocol_options: { max_headers_count: { value: 20 } },
    max_request_headers_kb: { value: 4 },
  });
  proxy10 = await ProxyHarness.http([staticCluster('backend', [up.port])], routes, {
    http_protocol_options: { accept_http_10: true },
  });
});

const bad: [string, string, number][] = [
  [
    'CL.TE smuggling',
    'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 44\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: a\r\n\r\n',
    400,
  ],
  [
    'TE.CL smuggling',
    'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n5c\r\nGPOST / HTTP/1.1\r\n\r\n0\r\n\r\n',
    400,
  ],
  ['TE obfuscation', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n', 400],
  [
    'duplicate differing CL',
    'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab',
    400,
  ],
  ['obs-fold', 'GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n  folded\r\n\r\n', 400],
  ['missing host', 'GET / HTTP/1.1\r\n\r\n', 400],
  ['unsupported coding', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n', 501],
  ['HTTP/2.0 on the wire', 'GET / HTTP/2.0\r\nHost: a\r\n\r\n', 505],
  ['header block too large', `GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${'b'.repeat(5000)}\r\n\r\n`, 431],
  ['too many headers', `GET / HTTP/1.1\r\nHost: a\r\n${'X-N: 1\r\n'.repeat(21)}\r\n`, 431],
];
for (const [name, input, status] of bad) {
  test(`${name} → ${status} and the connection closes`, async (t: TestContext) => {
    t.plan(4);
    const before = up.count;
    const res = await raw(proxy.port, input);
    t.assert.deepEqual(statuses(res.text), [status]);
    t.assert.match(res.text, /\r\nconnection: close\r\n/);
    t.assert.equal(res.closedByServer, true);
    t.assert.equal(up.count, before);
  });
}

test('pipelined requests are answered in order, one upstream request at a time', async (t: TestContext) => {
  t.plan(3);
  const before = up.count;
  const res = await raw(
    proxy.port,
    'GET /p1 HTTP/1.1\r\nHost: a\r\n\r\nGET /p2 HTTP/1.1\r\nHost: a\r\n\r\nGET /p3 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n',
  );
  const urls = [...res.text.matchAll(/"url":"(\/p\d)"/g)].map((m) => m[1]);
  t.assert.deepEqual(urls, ['/p1', '/p2', '/p3']);
  t.assert.deepEqual(statuses(res.text), [200, 200, 200]);
  t.assert.deepEqual(
    up.requests.slice(before).map((r) => r.url),
    ['/p1', '/p2', '/p3'],
  );
});

test('a bad request after a good pipelined one: the good one is answered first', async (t: TestContext) => {
  t.plan(2);
  const res = await raw(
    proxy.port,
    'GET /ok HTTP/1.1\r\nHost: a\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n',
  );
  t.assert.deepEqual(statuses(res.text), [200, 400]);
  t.assert.equal(res.closedByServer, true);
});

test('HTTP/1.0 is refused with 426 unless enabled', async (t: TestContext) => {
  t.plan(2);
  const res = await raw(proxy.port, 'GET / HTTP/1.0\r\n\r\n');
  t.assert.deepEqual(statuses(res.text), [426]);
  t.assert.equal(res.closedByServer, true);
});

test('HTTP/1.0 keep-alive keeps the connection; plain 1.0 closes it', async (t: TestContext) => {
  t.plan(5);
  const ka = await raw(
    proxy10.port,
    'GET /k1 HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\nGET /k2 HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\n',
    { until: (text) => statuses(text).length === 2 && text.endsWith('}') },
  );
  t.assert.match(ka.text, /^HTTP\/1\.0 200 OK\r\n/);
  t.assert.equal((ka.text.match(/connection: keep-alive/g) ?? []).length, 2);
  t.assert.equal(ka.closedByServer, false);
  const plain = await raw(proxy10.port, 'GET /c HTTP/1.0\r\nHost: a\r\n\r\n');
  t.assert.match(plain.text, /connection: close/);
  t.assert.equal(plain.closedByServer, true);
});

test('Expect: 100-continue is answered by the proxy and not forwarded', async (t: TestContext) => {
  t.plan(4);
  const res = await raw(proxy.port, [
    'POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n',
    'hello',
  ]);
  t.assert.deepEqual(statuses(res.text), [100, 200]);
  const last = up.requests[up.requests.length - 1];
  t.assert.equal(last.url, '/upload');
  t.assert.equal(last.headers.expect, undefined);
  t.assert.equal(last.body, 'hello');
});

test('chunked request body reaches the backend; chunked response stays chunked for 1.1', async (t: TestContext) => {
  t.plan(4);
  up.behave = (r) =>
    r.url === '/chunks' ? { kind: 'chunked', chunks: ['ab', 'cd', 'ef'] } : { kind: 'echo' };
  const res = await raw(
    proxy.port,
    'POST /chunks HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nxyz\r\n2\r\nuv\r\n0\r\n\r\n',
  );
  up.behave = () => ({ kind: 'echo' });
  t.assert.equal(up.requests[up.requests.length - 1].body, 'xyzuv');
  t.assert.match(res.text, /transfer-encoding: chunked\r\n/);
  t.assert.match(res.text, /\r\n\r\n2\r\nab\r\n2\r\ncd\r\n2\r\nef\r\n0\r\n\r\n$/);
  t.assert.deepEqual(statuses(res.text), [200]);
});

test('a chunked response to an HTTP/1.0 client is sent close-delimited', async (t: TestContext) => {
  t.plan(3);
  up.behave = () => ({ kind: 'chunked', chunks: ['one', 'two'] });
  const res = await raw(proxy10.port, 'GET /c10 HTTP/1.0\r\nHost: a\r\n\r\n');
  up.behave = () => ({ kind: 'echo' });
  t.assert.doesNotMatch(res.text, /transfer-encoding/i);
  t.assert.match(res.text, /\r\n\r\nonetwo$/);
  t.assert.equal(res.closedByServer, true);
});

test('a close-delimited upstream response is re-framed as chunked for HTTP/1.1', async (t: TestContext) => {
  t.plan(2);
  up.behave = () => ({ kind: 'close-delimited', body: 'until-close' });
  const res = await request(proxy.port, { path: '/eof' });
  up.behave = () => ({ kind: 'echo' });
  t.assert.equal(res.status, 200);
  t.assert.equal(res.body, 'until-close');
});

test('trailers are forwarded both ways when enabled, dropped by default', async (t: TestContext) => {
  t.plan(3);
  const trailerRoutes = routeConfig([{ match: { prefix: '/' }, route: { cluster: 'backend' } }]);
  const h1 = { explicit_http_config: { http_protocol_options: { enable_trailers: true } } };
  const withTrailers = await ProxyHarness.http(
    [
      staticCluster('backend', [up.port], {
        typed_extension_protocol_options: {
          'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': any(TYPE.HTTP_PROTOCOL_OPTIONS, h1),
        },
      }),
    ],
    trailerRoutes,
    { http_protocol_options: { enable_trailers: true } },
  );
  up.behave = (r) =>
    r.url === '/tr' ? { kind: 'chunked', chunks: ['x'], trailers: { 'x-sum': '7' } } : { kind: 'echo' };
  const seenTrailers: string[] = [];
  const onReq = (req: import('node:http').IncomingMessage) =>
    req.on('end', () => seenTrailers.push(JSON.stringify(req.trailers)));
  up.server.on('request', onReq);
  const a = await raw(
    withTrailers.port,
    'POST /tr HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n1\r\nq\r\n0\r\nX-Req-Sum: 9\r\n\r\n',
  );
  await withTrailers.close();
  const b = await raw(proxy.port, 'GET /tr HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
  up.server.off('request', onReq);
  up.behave = () => ({ kind: 'echo' });
  t.assert.match(a.text, /\r\n0\r\nx-sum: 7\r\n\r\n$/i);
  t.assert.deepEqual(seenTrailers, ['{"x-req-sum":"9"}', '{}']);
  t.assert.match(b.text, /\r\n0\r\n\r\n$/);
});

test('large bodies stream through intact in both directions', async (t: TestContext) => {
  t.plan(4);
  const big = Buffer.alloc(4 * 1024 * 1024);
  for (let i = 0; i < big.length; i++) big[i] = (i * 31 + 7) & 0xff;
  const digest = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
  up.behave = (r) =>
    r.url === '/big-down' ? { kind: 'status', status: 200, body: big.toString('latin1') } : { kind: 'echo' };
  const down = await new Promise<Buffer>((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port: proxy.port, path: '/big-down' }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve(Buffer.concat(chunks)));
      })
      .on('error', reject);
  });
  up.behave = () => ({ kind: 'echo' });
  t.assert.equal(down.length, Buffer.byteLength(big.toString('latin1'), 'utf8'));
  t.assert.equal(digest(down), digest(Buffer.from(big.toString('latin1'), 'utf8')));
  const upload = big.toString('base64');
  const res = await request(proxy.port, {
    method: 'POST',
    path: '/big-up',
    body: upload,
    headers: { 'content-length': String(upload.length) },
  });
  t.assert.equal(res.status, 200);
  t.assert.equal(digest(JSON.parse(res.body).body), digest(upload));
});

test('HEAD responses carry no body', async (t: TestContext) => {
  t.plan(3);
  const res = await raw(proxy.port, 'HEAD /h HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
  t.assert.deepEqual(statuses(res.text), [200]);
  t.assert.match(res.text, /content-length: \d+\r\n/);
  t.assert.match(res.text, /\r\n\r\n$/);
});

test('counters: protocol errors and completed requests', (t: TestContext) => {
  t.plan(2);
  t.assert.ok(proxy.stat('http.ingress.downstream_cx_protocol_error') >= bad.length);
  t.assert.ok(proxy.stat('http.ingress.downstream_rq_completed') > 0);
});

test('no open handles', async () => {
  await proxy.close();
  await proxy10.close();
  await up.close();
  await assertNoOpenHandles();
});
