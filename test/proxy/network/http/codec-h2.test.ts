/**
 * HeaderMap → node:http2 header conversion: the raw list (`toH2RawHeaders`, the hot path for
 * response and upstream request HEADERS) drops exactly the fields the object form
 * (`toH2Headers`) drops — connection-specific fields, `te` other than "trailers", pseudo-header
 * names — for parsed (wire) entries, removed ones and added ones alike, and keeps the rest with
 * their values and order. Through a proxy: an HTTP/2 response from an HTTP/1.1 upstream ends
 * without a trailers step when the upstream's framing cannot carry trailers (content-length),
 * and still forwards them when it can (chunked).
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, test } from 'node:test';
import { toH2Headers, toH2RawHeaders } from '../../../../src/proxy/network/http/codec-h2.ts';
import { encodeField, H_UPGRADE, HeaderMap } from '../../../../src/proxy/network/http/headers.ts';
import { assertNoOpenHandles, ProxyHarness, routeConfig, staticCluster } from '../../support/harness.ts';
import { parseHead } from './h1-head.ts';
import { closeSession, h2connect, h2request } from './h2-support.ts';

after(async () => {
  await assertNoOpenHandles();
});

/** The object form flattened to pairs in its own order (arrays become repeated pairs). */
function objectPairs(h: HeaderMap): string[] {
  const out: string[] = [];
  for (const [n, v] of Object.entries(toH2Headers(h, {}))) {
    if (Array.isArray(v)) for (const x of v) out.push(n, String(x));
    else out.push(n, String(v));
  }
  return out;
}

/** Pairs as a sorted multiset, for comparing fields regardless of grouping. */
function multiset(pairs: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < pairs.length; i += 2) out.push(`${pairs[i]}\0${pairs[i + 1]}`);
  return out.sort();
}

const WIRE =
  'GET / HTTP/1.1\r\n' +
  'Host: example.com\r\n' +
  'Connection: keep-alive, x-hop\r\n' +
  'Keep-Alive: timeout=5\r\n' +
  'Proxy-Connection: close\r\n' +
  'Upgrade: websocket\r\n' +
  'TE: trailers\r\n' +
  'X-Multi: one\r\n' +
  'Accept: */*\r\n' +
  'X-Multi: two\r\n' +
  'Content-Type: application/grpc\r\n' +
  '\r\n';

test('parsed entries: connection-specific fields dropped, te: trailers kept, order kept', () => {
  const h = parseHead(WIRE);
  const raw = toH2RawHeaders(h, [':status', '200']);
  assert.deepEqual(raw, [
    ':status',
    '200',
    'te',
    'trailers',
    'x-multi',
    'one',
    'accept',
    '*/*',
    'x-multi',
    'two',
    'content-type',
    'application/grpc',
  ]);
  assert.deepEqual(multiset(raw.slice(2)), multiset(objectPairs(h)));
});

test('te other than trailers is dropped (any case of "trailers" is kept)', () => {
  const h = new HeaderMap();
  h.add('te', 'gzip');
  h.add('accept', 'x');
  assert.deepEqual(toH2RawHeaders(h, []), ['accept', 'x']);
  const k = parseHead('GET / HTTP/1.1\r\nHost: a\r\nTE: Trailers\r\n\r\n');
  assert.deepEqual(toH2RawHeaders(k, []), ['te', 'Trailers']);
  assert.deepEqual(multiset(toH2RawHeaders(k, [])), multiset(objectPairs(k)));
});

test('added entries, removed wire entries and pre-encoded fields match the object form', () => {
  const h = parseHead(WIRE);
  h.remove('accept');
  h.removeKnown(H_UPGRADE);
  h.add('transfer-encoding', 'chunked');
  h.add('host', 'other');
  h.add(':path', '/not-a-field');
  h.add('x-added', 'a');
  h.add('x-multi', 'three');
  h.addField(encodeField('server', 'mizzen'));
  const raw = toH2RawHeaders(h, []);
  assert.deepEqual(raw, [
    'te',
    'trailers',
    'x-multi',
    'one',
    'x-multi',
    'two',
    'content-type',
    'application/grpc',
    'x-added',
    'a',
    'x-multi',
    'three',
    'server',
    'mizzen',
  ]);
  assert.deepEqual(multiset(raw), multiset(objectPairs(h)));
});

test('an empty map adds nothing to the pseudo-headers given', () => {
  const out = [':method', 'GET', ':path', '/'];
  assert.equal(toH2RawHeaders(new HeaderMap(), out), out);
  assert.deepEqual(out, [':method', 'GET', ':path', '/']);
});

/** An HTTP/1.1 upstream that answers every request with `response` (keep-alive). */
async function rawUpstream(response: string): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    let buf = '';
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      // One response per request head (the requests here have no body).
      for (let i = buf.indexOf('\r\n\r\n'); i >= 0; i = buf.indexOf('\r\n\r\n')) {
        buf = buf.slice(i + 4);
        sock.write(response);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

test('h2 downstream, HTTP/1.1 upstream: length-framed ends cleanly; chunked trailers still arrive', {
  timeout: 20_000,
}, async () => {
  const ALL = routeConfig([{ match: { prefix: '/' }, route: { cluster: 'up' } }]);
  const fixed = await rawUpstream('HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello');
  const chunked = await rawUpstream(
    'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nx-t: v\r\n\r\n',
  );
  for (const [up, trailers] of [
    [fixed, undefined],
    [chunked, 'v'],
  ] as const) {
    const proxy = await ProxyHarness.http([staticCluster('up', [up.port])], ALL);
    const s = await h2connect(proxy.port);
    const rs = await Promise.all(
      [1, 2, 3].map((i) => h2request(s, { ':path': `/r${i}`, ':authority': 'a' })),
    );
    for (const r of rs) {
      assert.equal(r.status, 200);
      assert.equal(r.body, 'hello');
      assert.equal(r.rstCode, 0);
      assert.equal(r.trailers?.['x-t'], trailers);
    }
    await closeSession(s);
    await proxy.close();
    await up.close();
  }
});
