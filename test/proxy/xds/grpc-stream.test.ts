/**
 * The gRPC framing on node:http2 (src/proxy/xds/grpc-stream.ts) against servers that control
 * every byte (a raw node:http2 server) and against grpc-js' server: message reassembly across
 * frames, compression, status from trailers and trailers-only responses, HTTP and RST_STREAM
 * mapping, the receive limit, TLS (CA, host check, mutual TLS) and per-call metadata.
 * Keepalive against a dead path is covered end to end in client-reconnect.test.ts.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import {
  type GrpcCallStatus,
  GrpcStatus,
  GrpcStream,
  type GrpcStreamOptions,
  grpcStatusName,
  parseTarget,
} from '../../../src/proxy/xds/grpc-stream.ts';
import { testNoOpenHandles } from './harness.ts';

const TLS_DIR = join(import.meta.dirname, '..', 'testdata', 'tls');
const tlsFile = (name: string) => readFileSync(join(TLS_DIR, name));

function frame(message: Buffer, compressed = false): Buffer {
  const out = Buffer.alloc(5 + message.length);
  out[0] = compressed ? 1 : 0;
  out.writeUInt32BE(message.length, 1);
  message.copy(out, 5);
  return out;
}

type Handler = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void;

/** A raw HTTP/2 server (plaintext or TLS) running `handler` for every stream. */
async function rawServer(handler: Handler, secure?: http2.SecureServerOptions) {
  const server = secure ? http2.createSecureServer(secure) : http2.createServer();
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => {
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
  });
  server.on('stream', (stream, headers) => {
    stream.on('error', () => {}); // resets the cases below provoke
    handler(stream, headers);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    target: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => {
      for (const s of sessions) s.destroy();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

const BASE = {
  path: '/test.Svc/Chat',
  keepaliveTimeMs: 0,
  keepaliveTimeoutMs: 1,
  maxReceiveMessageBytes: 1024,
};

/** Opens a call, sends `send`, collects messages until the status. */
async function call(
  options: Partial<GrpcStreamOptions> & { target: string },
  send: Buffer[] = [],
): Promise<{ messages: string[]; status: GrpcCallStatus }> {
  const c = new GrpcStream({ ...BASE, ...options });
  const messages: string[] = [];
  c.on('message', (m) => messages.push(m.toString()));
  for (const m of send) c.write(m);
  const [status] = (await once(c, 'status')) as [GrpcCallStatus];
  assert.equal(c.ended, true);
  return { messages, status };
}

test('messages split and merged across DATA frames are reassembled; status and message from trailers', async () => {
  const received: string[] = [];
  const srv = await rawServer((stream, headers) => {
    assert.equal(headers['content-type'], 'application/grpc');
    assert.equal(headers.te, 'trailers');
    assert.equal(headers[':method'], 'POST');
    assert.equal(headers[':path'], '/test.Svc/Chat');
    let buf = Buffer.alloc(0);
    stream.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 5 && buf.length >= 5 + buf.readUInt32BE(1)) {
        const n = buf.readUInt32BE(1);
        received.push(buf.subarray(5, 5 + n).toString());
        buf = buf.subarray(5 + n);
      }
      if (received.length < 2) return;
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      const all = Buffer.concat([
        frame(Buffer.from('one')),
        frame(Buffer.from('two')),
        frame(Buffer.alloc(0)),
      ]);
      // One byte per write: every prefix and body straddles frames.
      for (let i = 0; i < all.length; i++) stream.write(all.subarray(i, i + 1));
      stream.write(Buffer.concat([frame(Buffer.from('three')), frame(Buffer.from('four'))]));
      stream.on('wantTrailers', () =>
        stream.sendTrailers({ 'grpc-status': '5', 'grpc-message': 'not%20here%3A%20%E2%9C%93' }),
      );
      stream.end();
    });
  });
  try {
    const r = await call({ target: srv.target }, [Buffer.from('hello'), Buffer.from('world')]);
    assert.deepEqual(received, ['hello', 'world']);
    assert.deepEqual(r.messages, ['one', 'two', '', 'three', 'four']);
    assert.deepEqual(r.status, { code: GrpcStatus.NOT_FOUND, details: 'not here: ✓' });
  } finally {
    await srv.close();
  }
});

test('a gzip-compressed message is inflated; an unknown encoding ends the call with INTERNAL', async () => {
  for (const [encoding, expect] of [
    ['gzip', { messages: ['packed'], code: GrpcStatus.OK }],
    ['snappy', { messages: [], code: GrpcStatus.INTERNAL }],
  ] as const) {
    const srv = await rawServer((stream) => {
      stream.respond(
        { ':status': 200, 'content-type': 'application/grpc', 'grpc-encoding': encoding },
        { waitForTrailers: true },
      );
      stream.write(frame(gzipSync(Buffer.from('packed')), true));
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end();
    });
    try {
      const r = await call({ target: srv.target });
      assert.deepEqual(r.messages, expect.messages, encoding);
      assert.equal(r.status.code, expect.code, `${encoding}: ${r.status.details}`);
      if (expect.code !== GrpcStatus.OK) assert.match(r.status.details, /grpc-encoding "snappy"/);
    } finally {
      await srv.close();
    }
  }
});

test('a message above the receive limit ends the call with RESOURCE_EXHAUSTED, compressed or not', async () => {
  const big = Buffer.alloc(2000, 'x');
  for (const compressed of [false, true]) {
    const srv = await rawServer((stream) => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-encoding': 'gzip' });
      stream.write(frame(Buffer.from('small')));
      stream.write(compressed ? frame(gzipSync(big), true) : frame(big));
    });
    try {
      const r = await call({ target: srv.target, maxReceiveMessageBytes: 1000 });
      assert.deepEqual(r.messages, ['small']);
      assert.equal(r.status.code, GrpcStatus.RESOURCE_EXHAUSTED);
      assert.match(r.status.details, compressed ? /larger than max/ : /larger than max \(2000 vs\. 1000\)/);
    } finally {
      await srv.close();
    }
  }
});

test('status without grpc-status: HTTP codes, resets and a missing status map as the gRPC spec says', async () => {
  const cases: [string, Handler, number][] = [
    ['HTTP 503', (s) => s.respond({ ':status': 503 }, { endStream: true }), GrpcStatus.UNAVAILABLE],
    ['HTTP 404', (s) => s.respond({ ':status': 404 }, { endStream: true }), GrpcStatus.UNIMPLEMENTED],
    ['HTTP 401', (s) => s.respond({ ':status': 401 }, { endStream: true }), GrpcStatus.UNAUTHENTICATED],
    [
      'trailers-only',
      (s) =>
        s.respond(
          { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '7', 'grpc-message': 'no' },
          { endStream: true },
        ),
      GrpcStatus.PERMISSION_DENIED,
    ],
    [
      'RST_STREAM REFUSED_STREAM',
      (s) => s.close(http2.constants.NGHTTP2_REFUSED_STREAM),
      GrpcStatus.UNAVAILABLE,
    ],
    ['RST_STREAM CANCEL', (s) => s.close(http2.constants.NGHTTP2_CANCEL), GrpcStatus.CANCELLED],
    [
      'RST_STREAM ENHANCE_YOUR_CALM',
      (s) => s.close(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM),
      GrpcStatus.RESOURCE_EXHAUSTED,
    ],
    [
      'RST_STREAM INADEQUATE_SECURITY',
      (s) => s.close(http2.constants.NGHTTP2_INADEQUATE_SECURITY),
      GrpcStatus.PERMISSION_DENIED,
    ],
    [
      'RST_STREAM INTERNAL_ERROR',
      (s) => s.close(http2.constants.NGHTTP2_INTERNAL_ERROR),
      GrpcStatus.INTERNAL,
    ],
    [
      'trailers-only without content-type',
      (s) => s.respond({ ':status': 200, 'grpc-status': '5' }, { endStream: true }),
      GrpcStatus.NOT_FOUND,
    ],
    [
      'an empty grpc-status is not OK',
      (s) =>
        s.respond(
          { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '' },
          { endStream: true },
        ),
      GrpcStatus.UNKNOWN,
    ],
    [
      'grpc-status out of range',
      (s) =>
        s.respond(
          { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '99' },
          { endStream: true },
        ),
      GrpcStatus.UNKNOWN,
    ],
    [
      'OK in the middle of a message',
      (s) => {
        s.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
        s.on('wantTrailers', () => s.sendTrailers({ 'grpc-status': '0' }));
        s.end(frame(Buffer.from('0123456789')).subarray(0, 8));
      },
      GrpcStatus.INTERNAL,
    ],
    [
      'no trailers',
      (s) => s.respond({ ':status': 200, 'content-type': 'application/grpc' }, { endStream: true }),
      GrpcStatus.UNKNOWN,
    ],
    [
      'not gRPC',
      (s) => s.respond({ ':status': 200, 'content-type': 'text/html' }, { endStream: true }),
      GrpcStatus.UNKNOWN,
    ],
  ];
  for (const [name, handler, code] of cases) {
    const srv = await rawServer(handler);
    try {
      const r = await call({ target: srv.target });
      assert.equal(grpcStatusName(r.status.code), grpcStatusName(code), `${name}: ${r.status.details}`);
    } finally {
      await srv.close();
    }
  }
});

test('nobody listening, or a server that vanishes mid-call: UNAVAILABLE', async () => {
  const srv = await rawServer((stream) => {
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
    stream.write(frame(Buffer.from('hi')));
  });
  const target = srv.target;
  const c = new GrpcStream({ ...BASE, target });
  c.once('message', () => srv.close());
  const [lost] = (await once(c, 'status')) as [GrpcCallStatus];
  assert.equal(lost.code, GrpcStatus.UNAVAILABLE, lost.details);
  const refused = await call({ target });
  assert.equal(refused.status.code, GrpcStatus.UNAVAILABLE);
  assert.match(refused.status.details, /No connection established: .*ECONNREFUSED/);
});

test('cancel() reports CANCELLED once, asynchronously, and stops writes', async () => {
  const srv = await rawServer((stream) => {
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
  });
  try {
    const c = new GrpcStream({ ...BASE, target: srv.target });
    const statuses: GrpcCallStatus[] = [];
    c.on('status', (s) => statuses.push(s));
    c.cancel();
    c.cancel(GrpcStatus.INTERNAL, 'twice');
    c.write(Buffer.from('ignored'));
    assert.deepEqual(statuses, [], 'not from inside cancel()');
    await once(c, 'status');
    assert.deepEqual(statuses, [{ code: GrpcStatus.CANCELLED, details: 'Cancelled on client' }]);
  } finally {
    await srv.close();
  }
});

test('cancel() before the connection is up destroys it: a server that never finishes TLS keeps no socket', async () => {
  const sockets = new Set<import('node:net').Socket>();
  const silent = (await import('node:net')).createServer((sock) => {
    sockets.add(sock);
    sock.resume(); // reads, so the client's FIN is seen
    sock.on('close', () => sockets.delete(sock));
  });
  silent.listen(0, '127.0.0.1');
  await once(silent, 'listening');
  try {
    const target = `127.0.0.1:${(silent.address() as AddressInfo).port}`;
    const c = new GrpcStream({ ...BASE, target, tls: { ca: tlsFile('ca.crt') }, connectTimeoutMs: 60_000 });
    while (sockets.size === 0) await new Promise((r) => setImmediate(r));
    const [sock] = sockets;
    const closed = once(sock, 'close');
    c.cancel();
    const [status] = (await once(c, 'status')) as [GrpcCallStatus];
    assert.equal(status.code, GrpcStatus.CANCELLED);
    await closed; // the client side went away without waiting for a handshake that never comes
  } finally {
    for (const sock of sockets) sock.destroy();
    await new Promise<void>((r) => silent.close(() => r()));
  }
});

test('keepalive: PINGs repeat after each answer and an answered connection stays up', async () => {
  let pings = 0;
  const srv = await rawServer((stream) => {
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    stream.session?.on('ping', () => {
      if (++pings === 3) stream.end();
    });
  });
  try {
    const r = await call({ target: srv.target, keepaliveTimeMs: 10, keepaliveTimeoutMs: 60_000 });
    assert.equal(pings, 3);
    assert.deepEqual(r.status, { code: GrpcStatus.OK, details: '' });
  } finally {
    await srv.close();
  }
});

test('targets: host:port and [v6]:port parse; anything else is refused with the target named', async () => {
  assert.deepEqual(parseTarget('mizzend.istio-system:15010'), { host: 'mizzend.istio-system', port: 15010 });
  assert.deepEqual(parseTarget('[::1]:15012'), { host: '::1', port: 15012 });
  for (const bad of ['nohost', '::1:80', 'a:0', 'a:65536', ':80']) {
    assert.throws(
      () => parseTarget(bad),
      new RegExp(`got ${JSON.stringify(JSON.stringify(bad)).slice(1, -1)}`),
    );
  }
  const r = await call({ target: 'nohost' });
  assert.equal(r.status.code, GrpcStatus.UNAVAILABLE);
  assert.match(r.status.details, /must be "host:port"/);
});

test('TLS: the server certificate is checked against the CA and the host; mutual TLS and call metadata', async () => {
  const seen: http2.IncomingHttpHeaders[] = [];
  const peerCerts: boolean[] = [];
  const srv = await rawServer(
    (stream, headers) => {
      seen.push(headers);
      const socket = stream.session?.socket as import('node:tls').TLSSocket;
      peerCerts.push(Object.keys(socket.getPeerCertificate()).length > 0);
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.write(frame(Buffer.from('secure')));
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end();
    },
    {
      cert: tlsFile('server.crt'),
      key: tlsFile('server.key'),
      ca: tlsFile('ca.crt'),
      requestCert: true,
      rejectUnauthorized: false,
    },
  );
  try {
    // The CA signs server.crt, which carries IP:127.0.0.1; the client presents the same pair.
    const ok = await call({
      target: srv.target,
      tls: { ca: tlsFile('ca.crt'), cert: tlsFile('server.crt'), key: tlsFile('server.key') },
      metadata: () => ({ authorization: 'Bearer t0ken' }),
    });
    assert.deepEqual(ok, { messages: ['secure'], status: { code: GrpcStatus.OK, details: '' } });
    assert.equal(seen[0]?.authorization, 'Bearer t0ken');
    assert.deepEqual(peerCerts, [true]);

    const untrusted = await call({ target: srv.target, tls: {} });
    assert.equal(untrusted.status.code, GrpcStatus.UNAVAILABLE);
    assert.match(untrusted.status.details, /self[- ]signed|unable to verify|certificate/i);

    const wrongName = await call({
      target: srv.target,
      tls: { ca: tlsFile('ca.crt'), servername: 'other.test' },
    });
    assert.equal(wrongName.status.code, GrpcStatus.UNAVAILABLE);
    assert.match(wrongName.status.details, /other\.test/);

    const rightName = await call({
      target: srv.target,
      tls: { ca: tlsFile('ca.crt'), servername: 'backend.test' },
    });
    assert.equal(rightName.status.code, GrpcStatus.OK, rightName.status.details);

    const vetoed = await call({
      target: srv.target,
      tls: { ca: tlsFile('ca.crt'), checkServerIdentity: () => new Error('pinned key mismatch') },
    });
    assert.equal(vetoed.status.code, GrpcStatus.UNAVAILABLE);
    assert.match(vetoed.status.details, /pinned key mismatch/);
    assert.equal(seen.length, 2, 'refused connections never sent a request');
  } finally {
    await srv.close();
  }
});

test("grpc-js' server: trailers-only UNIMPLEMENTED for an unknown method, and an echo round trip", async () => {
  const server = new grpc.Server();
  const echo: grpc.MethodDefinition<Buffer, Buffer> = {
    path: '/test.Svc/Chat',
    requestStream: true,
    responseStream: true,
    requestSerialize: (b) => b,
    requestDeserialize: (b) => b,
    responseSerialize: (b) => b,
    responseDeserialize: (b) => b,
  };
  server.addService({ Chat: echo } as grpc.ServiceDefinition, {
    Chat: (s: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      s.on('data', (b: Buffer) => {
        if (b.toString() === 'bye') s.emit('error', { code: grpc.status.ABORTED, details: 'asked to stop' });
        else s.write(Buffer.from(`echo ${b}`));
      });
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  try {
    const unknown = await call({ target: `127.0.0.1:${port}`, path: '/test.Svc/Nope' });
    assert.equal(unknown.status.code, GrpcStatus.UNIMPLEMENTED);
    const c = new GrpcStream({ ...BASE, target: `127.0.0.1:${port}` });
    const messages: string[] = [];
    c.on('message', (m) => {
      messages.push(m.toString());
      if (messages.length === 2) c.write(Buffer.from('bye'));
    });
    c.write(Buffer.from('a'));
    c.write(Buffer.from('b'));
    const [status] = (await once(c, 'status')) as [GrpcCallStatus];
    assert.deepEqual(messages, ['echo a', 'echo b']);
    assert.deepEqual(status, { code: GrpcStatus.ABORTED, details: 'asked to stop' });
  } finally {
    server.forceShutdown();
  }
});

testNoOpenHandles();
