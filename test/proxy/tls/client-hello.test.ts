/**
 * ClientHello and HTTP request-line inspection: real ClientHellos from node:tls clients (SNI,
 * ALPN, none of either), records split at every byte, fragmented handshakes, non-TLS bytes, the
 * size limit; HTTP/1.0, 1.1 and the h2c preface, incremental and invalid inputs.
 */
import net from 'node:net';
import { type TestContext, test } from 'node:test';
import tls from 'node:tls';
import { detectHttp, parseClientHello } from '../../../src/proxy/tls/client-hello.ts';
import { assertNoOpenHandles, seeded } from '../support/harness.ts';

/** The bytes a node:tls client sends first. */
async function captureClientHello(options: tls.ConnectionOptions): Promise<Buffer> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  const got = new Promise<Buffer>((resolve) => {
    server.once('connection', (s) => {
      let buf = Buffer.alloc(0);
      s.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        if (parseClientHello(buf).kind !== 'more') {
          resolve(buf);
          s.destroy();
        }
      });
    });
  });
  const c = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...options });
  c.on('error', () => {});
  const hello = await got;
  c.destroy();
  await new Promise<void>((r) => server.close(() => r()));
  return hello;
}

test('a real ClientHello yields SNI (lowercased) and the ALPN list in order', async (t: TestContext) => {
  t.plan(1);
  const hello = await captureClientHello({
    servername: 'API.Example.com',
    ALPNProtocols: ['h2', 'http/1.1'],
  });
  t.assert.deepEqual(parseClientHello(hello), {
    kind: 'tls',
    sni: 'api.example.com',
    alpn: ['h2', 'http/1.1'],
  });
});

test('a ClientHello without SNI or ALPN is still TLS', async (t: TestContext) => {
  t.plan(1);
  const hello = await captureClientHello({});
  t.assert.deepEqual(parseClientHello(hello), { kind: 'tls', sni: undefined, alpn: [] });
});

test('every prefix of a ClientHello asks for more bytes', async (t: TestContext) => {
  t.plan(1);
  const hello = await captureClientHello({ servername: 'a.test', ALPNProtocols: ['h2'] });
  let more = 0;
  for (let i = 0; i < hello.length; i++) if (parseClientHello(hello.subarray(0, i)).kind === 'more') more++;
  t.assert.equal(more, hello.length);
});

test('a handshake split over several records is reassembled', async (t: TestContext) => {
  t.plan(1);
  const hello = await captureClientHello({ servername: 'split.test', ALPNProtocols: ['istio', 'h2'] });
  const body = hello.subarray(5, 5 + hello.readUInt16BE(3));
  const records: Buffer[] = [];
  for (let i = 0; i < body.length; i += 40) {
    const part = body.subarray(i, i + 40);
    const head = Buffer.from([0x16, 0x03, 0x01, 0, 0]);
    head.writeUInt16BE(part.length, 3);
    records.push(head, part);
  }
  t.assert.deepEqual(parseClientHello(Buffer.concat(records)), {
    kind: 'tls',
    sni: 'split.test',
    alpn: ['istio', 'h2'],
  });
});

test('bytes that are not a TLS handshake are raw, a huge ClientHello is too large', (t: TestContext) => {
  t.plan(5);
  t.assert.equal(parseClientHello(Buffer.from('GET / HTTP/1.1\r\n')).kind, 'not-tls');
  t.assert.equal(parseClientHello(Buffer.from([0x16, 0x01])).kind, 'not-tls');
  // A handshake record whose message is not a ClientHello (type 2 = ServerHello).
  t.assert.equal(parseClientHello(Buffer.from([0x16, 3, 1, 0, 4, 2, 0, 0, 0])).kind, 'not-tls');
  const big = Buffer.from([0x16, 3, 1, 0x40, 0, 1, 0x01, 0x00, 0x00]); // 64 KiB + 4 bytes
  t.assert.equal(parseClientHello(big, 64 * 1024).kind, 'too-large');
  t.assert.equal(parseClientHello(Buffer.alloc(0)).kind, 'more');
});

test('http_inspector: HTTP/1.0, HTTP/1.1, the h2c preface, and non-HTTP', (t: TestContext) => {
  t.plan(9);
  const d = (s: string) => detectHttp(Buffer.from(s, 'latin1'));
  t.assert.deepEqual(d('GET /x HTTP/1.1\r\nHost: a\r\n'), { kind: 'http', protocol: 'http/1.1' });
  t.assert.deepEqual(d('POST / HTTP/1.0\r\n'), { kind: 'http', protocol: 'http/1.0' });
  t.assert.deepEqual(d('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), { kind: 'http', protocol: 'h2c' });
  t.assert.deepEqual(d('PRI * HTTP/2'), { kind: 'more' });
  t.assert.deepEqual(d('GET /long-path-without-end'), { kind: 'more' });
  t.assert.deepEqual(d('\x00\x01binary'), { kind: 'not-http' });
  t.assert.deepEqual(d('GET / HTTP/2.0\r\n'), { kind: 'not-http' });
  t.assert.deepEqual(d('SSH-2.0-OpenSSH_9.6\r\n'), { kind: 'not-http' });
  t.assert.deepEqual(detectHttp(Buffer.from('GETTTT'), 4), { kind: 'not-http' });
});

test('property: corrupted or truncated input never throws and always decides or asks for more', async (t: TestContext) => {
  t.plan(2);
  const hello = await captureClientHello({ servername: 'fuzz.test', ALPNProtocols: ['h2', 'http/1.1'] });
  const random = seeded(7);
  const kinds = new Set<string>();
  let bad = 0;
  for (let i = 0; i < 3000; i++) {
    const b = Buffer.from(hello.subarray(0, 1 + Math.floor(random() * hello.length)));
    for (let j = 0; j < 1 + Math.floor(random() * 4); j++)
      b[Math.floor(random() * b.length)] = Math.floor(random() * 256);
    try {
      kinds.add(parseClientHello(b).kind);
      kinds.add(detectHttp(b).kind);
    } catch {
      bad++;
    }
  }
  t.assert.equal(bad, 0);
  t.assert.ok(kinds.has('more') && kinds.has('not-tls') && kinds.has('not-http'), [...kinds].join());
});

test('no open handles', async () => {
  await assertNoOpenHandles();
});
