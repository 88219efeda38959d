import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { test } from 'node:test';
import {
  type HttpHandler,
  healthRoute,
  json,
  router,
  type SampleRequest,
  startHttpService,
  statusRoute,
} from '../../../samples/common/http-service.ts';
import { createLog } from '../../../samples/common/log.ts';
import { h2Requests, request, testNoOpenHandles, within } from '../helpers.ts';

function ctx(logs: string[] = []) {
  return {
    name: 'svc',
    version: 'v9',
    host: '127.0.0.1',
    port: 0,
    env: {},
    log: createLog('svc', 'v9', (l) => logs.push(l), false),
  };
}

const echo: HttpHandler = router([
  healthRoute('svc', 'v9'),
  statusRoute('svc', 'v9'),
  {
    method: 'GET',
    pattern: /^\/echo\/(\w+)$/,
    handle: (req, [word]) =>
      json(200, { word, protocol: req.protocol, query: req.query.get('q'), host: req.headers.host }),
  },
  { method: 'POST', pattern: /^\/upload$/, handle: (req) => json(200, { bytes: req.body.length }) },
]);

test('one port answers HTTP/1.1 and HTTP/2 with prior knowledge', async () => {
  const svc = await startHttpService({ ctx: ctx(), handler: echo });
  const origin = `http://127.0.0.1:${svc.port}`;
  const h1 = await request(`${origin}/echo/hello?q=1`);
  assert.equal(h1.status, 200);
  assert.deepEqual(JSON.parse(h1.body), {
    word: 'hello',
    protocol: 'HTTP/1.1',
    query: '1',
    host: `127.0.0.1:${svc.port}`,
  });
  const [a, b] = await h2Requests(origin, [{ path: '/echo/two' }, { path: '/health' }]);
  assert.equal(a.status, 200);
  assert.deepEqual(JSON.parse(a.body), {
    word: 'two',
    protocol: 'HTTP/2',
    query: null,
    host: `127.0.0.1:${svc.port}`,
  });
  assert.deepEqual(JSON.parse(b.body), { status: 'ok', name: 'svc', version: 'v9' });
  await svc.close();
});

test('pipelined HTTP/1.1 requests in one packet are answered in order', async () => {
  const svc = await startHttpService({ ctx: ctx(), handler: echo });
  const socket = net.connect(svc.port, '127.0.0.1');
  socket.write(
    'GET /echo/first HTTP/1.1\r\nHost: x\r\n\r\nGET /echo/second HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
  );
  let all = '';
  socket.on('data', (d) => {
    all += d;
  });
  await within(new Promise((r) => socket.on('end', r)), 'the server to close');
  socket.destroy();
  assert.deepEqual(all.match(/"word":"\w+"/g), ['"word":"first"', '"word":"second"']);
  await svc.close();
});

test('routing: 404 for unknown paths, 405 with Allow, HEAD like GET without body, /status/{code}', async () => {
  const svc = await startHttpService({ ctx: ctx(), handler: echo });
  const base = `http://127.0.0.1:${svc.port}`;
  assert.equal((await request(`${base}/nope`)).status, 404);
  const wrong = await request(`${base}/echo/x`, { method: 'DELETE' });
  assert.equal(wrong.status, 405);
  assert.equal(wrong.headers.allow, 'GET, HEAD');
  const head = await request(`${base}/echo/x`, { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.body, '');
  assert.ok(Number(head.headers['content-length']) > 0);
  const s = await request(`${base}/status/503`);
  assert.equal(s.status, 503);
  assert.deepEqual(JSON.parse(s.body), { status: 503, name: 'svc', version: 'v9' });
  assert.equal((await request(`${base}/status/700`)).status, 400);
  const [h2head] = await h2Requests(base, [{ path: '/echo/x', method: 'HEAD' }]);
  assert.equal(h2head.status, 200);
  assert.equal(h2head.body, '');
  await svc.close();
});

test('request bodies over the limit get 413, declared or streamed', async () => {
  const svc = await startHttpService({ ctx: ctx(), handler: echo, maxBodyBytes: 10 });
  const base = `http://127.0.0.1:${svc.port}`;
  assert.deepEqual(
    JSON.parse((await request(`${base}/upload`, { method: 'POST', body: 'x'.repeat(10) })).body),
    {
      bytes: 10,
    },
  );
  assert.equal((await request(`${base}/upload`, { method: 'POST', body: 'x'.repeat(11) })).status, 413);
  const chunked = await new Promise<number>((resolve, reject) => {
    const req = http.request(`${base}/upload`, { method: 'POST', agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.write('x'.repeat(8));
    req.end('y'.repeat(8));
  });
  assert.equal(chunked, 413);
  await svc.close();
});

test('a handler that throws gives 500 and a log line', async () => {
  const logs: string[] = [];
  const svc = await startHttpService({
    ctx: ctx(logs),
    handler: () => {
      throw new Error('boom');
    },
  });
  const res = await request(`http://127.0.0.1:${svc.port}/`);
  assert.equal(res.status, 500);
  assert.match(res.body, /boom/);
  assert.match(logs.join('\n'), /handler failed .*err=boom/);
  await svc.close();
});

function deferredHandler() {
  let release!: () => void;
  let arrived!: () => void;
  const released = new Promise<void>((r) => {
    release = r;
  });
  const started = new Promise<void>((r) => {
    arrived = r;
  });
  const handler: HttpHandler = async (req: SampleRequest) => {
    if (req.path === '/slow') {
      arrived();
      await released;
    }
    return json(200, { path: req.path });
  };
  return { handler, release, started };
}

test('close() stops accepting, finishes the in-flight HTTP/1.1 request, closes idle connections', async () => {
  const { handler, release, started } = deferredHandler();
  const svc = await startHttpService({ ctx: ctx(), handler });
  const base = `http://127.0.0.1:${svc.port}`;
  // An idle keep-alive connection: it must be closed by close().
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  let idleClosed!: Promise<void>;
  await new Promise<void>((resolve, reject) => {
    const req = http.get(`${base}/fast`, { agent }, (res) => {
      res.resume();
      res.on('end', resolve);
    });
    req.on('socket', (socket) => {
      idleClosed = new Promise((r) => socket.once('close', () => r()));
    });
    req.on('error', reject);
  });
  const slow = request(`${base}/slow`);
  await within(started, 'the slow request to arrive');
  let closed = false;
  const closing = svc.close().then(() => {
    closed = true;
  });
  await within(idleClosed, 'the idle connection to close');
  await assert.rejects(request(`${base}/fast`), { code: 'ECONNREFUSED' });
  assert.equal(closed, false, 'close waits for the in-flight request');
  release();
  const res = await slow;
  assert.equal(res.status, 200);
  assert.equal(res.headers.connection, 'close');
  await within(closing, 'close() to resolve');
  agent.destroy();
});

test('close() lets an HTTP/2 stream finish, then ends the session', async () => {
  const { handler, release, started } = deferredHandler();
  const svc = await startHttpService({ ctx: ctx(), handler });
  const session = http2.connect(`http://127.0.0.1:${svc.port}`);
  const sessionClosed = new Promise((r) => session.on('close', r));
  const stream = session.request({ ':path': '/slow' });
  const body = new Promise<string>((resolve) => {
    let text = '';
    stream.setEncoding('utf8');
    stream.on('data', (d) => {
      text += d;
    });
    stream.on('end', () => resolve(text));
  });
  stream.end();
  await within(started, 'the stream to arrive');
  const closing = svc.close();
  release();
  assert.deepEqual(JSON.parse(await within(body, 'the response')), { path: '/slow' });
  await within(closing, 'close() to resolve');
  await within(sessionClosed, 'the client session to close');
});

test('close() destroys what is still open once the grace period is over', async () => {
  const { handler, started } = deferredHandler();
  const svc = await startHttpService({ ctx: ctx(), handler });
  const slow = request(`http://127.0.0.1:${svc.port}/slow`);
  await within(started, 'the slow request to arrive');
  await within(svc.close(0), 'close(0) to resolve');
  await assert.rejects(slow, { code: 'ECONNRESET' });
});

test('a connection that ends before saying anything is dropped', async () => {
  const svc = await startHttpService({ ctx: ctx(), handler: echo });
  const socket = net.connect(svc.port, '127.0.0.1');
  socket.end('PRI * HTTP/2.0\r\n');
  await within(new Promise((r) => socket.on('close', r)), 'the server to drop it');
  await svc.close();
});

testNoOpenHandles();
