/**
 * HTTP/2 and gRPC end to end with real processes: mizzend (bin/mizzend.js) configured only by
 * Istio YAML, and a mizzen-proxy sidecar (bin/mizzen-proxy.js) whose egress listener carries
 * h2c and gRPC (@grpc/grpc-js clients and servers; the ServiceEntry port is named `grpc-echo`,
 * so Istio's protocol selection gives HTTP/2 upstream): unary and bidirectional streaming, a
 * weighted route, a header-match route, a gRPC fault abort, and retries on `unavailable`
 * masking a failing endpoint (attempts counted by the servers).
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { assertNoOpenHandles } from '../../proxy/support/harness.ts';
import {
  collectOutput,
  freePort,
  killAll,
  startMizzend,
  startSidecar,
  TEST_MESH,
  waitFor,
} from '../../support/mesh-processes.ts';
import { clientSidecar } from '../../support/mesh-yaml.ts';

const HOST = 'echo.example.internal';

const identity = (b: Buffer): Buffer => b;
/** A generic service (raw bytes in and out), so no .proto file is needed. */
const SERVICE: grpc.ServiceDefinition = {
  Echo: {
    path: '/test.Echo/Echo',
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
  Flaky: {
    path: '/test.Echo/Flaky',
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
  Chat: {
    path: '/test.Echo/Chat',
    requestStream: true,
    responseStream: true,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};

interface Backend {
  readonly name: string;
  readonly server: grpc.Server;
  port: number;
  /** Calls seen per method. */
  readonly calls: Record<string, number>;
}

/** A gRPC server answering with its own name; `failing` makes Flaky return UNAVAILABLE. */
async function startBackend(name: string, failing = false): Promise<Backend> {
  const server = new grpc.Server();
  const calls: Record<string, number> = { Echo: 0, Flaky: 0, Chat: 0 };
  server.addService(SERVICE, {
    Echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      calls.Echo++;
      const variant = call.metadata.get('x-variant')[0] ?? '';
      cb(null, Buffer.from(`${name}:${call.request.toString()}:${variant}`));
    },
    Flaky: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      calls.Flaky++;
      if (failing) cb({ code: grpc.status.UNAVAILABLE, details: `${name} is down` });
      else cb(null, Buffer.from(name));
    },
    Chat: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      calls.Chat++;
      call.on('data', (m: Buffer) => call.write(Buffer.from(`${name}<${m.toString()}>`)));
      call.on('end', () => call.end());
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return { name, server, port, calls };
}

let dir: string;
let v1: Backend;
let v2: Backend;
let flaky: Backend;
let grpcPort: number;
let mizzend: ChildProcess;
let proxy: ChildProcess;
let proxyLog: () => string = () => '';
let client: grpc.Client;

function config(): string {
  const we = (n: string, b: Backend, labels: string) => `---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: echo-${n}, namespace: default}
spec: {address: 127.0.0.1, ports: {grpc-echo: ${b.port}}, labels: {app: echo, ${labels}}}
`;
  return `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: echo, namespace: default}
spec:
  hosts: [${HOST}]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: ${grpcPort}, name: grpc-echo, protocol: GRPC}]
  workloadSelector: {labels: {app: echo}}
${we('v1', v1, 'version: v1, track: mixed')}${we('v2', v2, 'version: v2')}${we('flaky', flaky, 'version: flaky, track: mixed')}---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: echo, namespace: default}
spec:
  host: ${HOST}
  trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
  - {name: mixed, labels: {track: mixed}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: echo, namespace: default}
spec:
  hosts: [${HOST}]
  http:
  - match: [{headers: {x-variant: {exact: v2}}}]
    route: [{destination: {host: ${HOST}, subset: v2}}]
  - match: [{uri: {exact: /test.Echo/Flaky}}]
    route: [{destination: {host: ${HOST}, subset: mixed}}]
    retries: {attempts: 3, retryOn: unavailable}
  - match: [{headers: {x-fault: {exact: abort}}}]
    fault: {abort: {grpcStatus: RESOURCE_EXHAUSTED, percentage: {value: 100}}}
    route: [{destination: {host: ${HOST}, subset: v1}}]
  - route:
    - {destination: {host: ${HOST}, subset: v1}, weight: 50}
    - {destination: {host: ${HOST}, subset: v2}, weight: 50}
---
${clientSidecar([{ port: grpcPort, protocol: 'GRPC', name: 'grpc-echo', host: HOST }])}`;
}

function unary(method: 'Echo' | 'Flaky', msg: string, md: Record<string, string> = {}): Promise<string> {
  const meta = new grpc.Metadata();
  for (const [k, v] of Object.entries(md)) meta.set(k, v);
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      SERVICE[method].path,
      identity,
      identity,
      Buffer.from(msg),
      meta,
      { deadline: Date.now() + 10_000 },
      (err: grpc.ServiceError | null, res?: Buffer) => (err ? reject(err) : resolve(res!.toString())),
    );
  });
}

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'mizzen-proxy-h2-'));
  v1 = await startBackend('v1');
  v2 = await startBackend('v2');
  flaky = await startBackend('flaky', true);
  grpcPort = await freePort();
  writeFileSync(path.join(dir, 'mesh.yaml'), TEST_MESH);
  writeFileSync(path.join(dir, 'config.yaml'), config());
  const cp = await startMizzend({
    dir,
    config: path.join(dir, 'config.yaml'),
    mesh: path.join(dir, 'mesh.yaml'),
  });
  mizzend = cp.child;
  const sidecar = await startSidecar({
    dir,
    pod: 'client-1',
    ip: '127.0.0.9',
    grpc: cp.grpc,
    stdio: ['ignore', 'pipe', 'pipe'],
    waitReady: false,
  });
  proxy = sidecar.child;
  proxyLog = collectOutput(proxy);
  client = new grpc.Client(`127.0.0.1:${grpcPort}`, grpc.credentials.createInsecure(), {
    'grpc.default_authority': HOST,
  });
  // The egress listener goes live once the proxy has its config.
  await waitFor(
    'the gRPC route through the sidecar',
    async () => {
      try {
        await unary('Echo', 'ping');
        return true;
      } catch {
        return false;
      }
    },
    30_000,
  );
});

after(async () => {
  client?.close();
  await killAll([proxy, mizzend]);
  for (const b of [v1, v2, flaky]) b?.server.forceShutdown();
  rmSync(dir, { recursive: true, force: true });
});

test('gRPC unary over the weighted route reaches both subsets', { timeout: 60_000 }, async () => {
  const seen = { v1: 0, v2: 0 };
  for (let i = 0; i < 40; i++) {
    const r = await unary('Echo', `m${i}`);
    const [who, msg] = r.split(':');
    assert.equal(msg, `m${i}`);
    seen[who as 'v1' | 'v2']++;
  }
  assert.equal(seen.v1 + seen.v2, 40);
  // 50/50 over 40 requests: each side is hit (a miss has probability 2^-39).
  assert.ok(seen.v1 > 0 && seen.v2 > 0, JSON.stringify(seen));
  assert.equal(flaky.calls.Echo, 0);
});

test('a header-match route sends x-variant: v2 to v2 only', { timeout: 30_000 }, async () => {
  for (let i = 0; i < 10; i++) assert.equal(await unary('Echo', 'h', { 'x-variant': 'v2' }), 'v2:h:v2');
});

test('bidirectional streaming: messages flow both ways in order, status OK', {
  timeout: 30_000,
}, async () => {
  const call = client.makeBidiStreamRequest(SERVICE.Chat.path, identity, identity, new grpc.Metadata(), {
    deadline: Date.now() + 10_000,
  });
  const got: string[] = [];
  const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
  call.on('error', () => {});
  // Ping-pong: each message is sent after the previous reply came back (streaming, not batching).
  for (let i = 0; i < 5; i++) {
    const reply = new Promise<Buffer>((resolve) => call.once('data', resolve));
    call.write(Buffer.from(`n${i}`));
    got.push((await reply).toString());
  }
  call.end();
  assert.equal((await status).code, grpc.status.OK);
  assert.equal(got.length, 5);
  for (let i = 0; i < 5; i++) assert.match(got[i], new RegExp(`^v[12]<n${i}>$`));
});

test('a gRPC fault abort reaches the grpc-js client as RESOURCE_EXHAUSTED', { timeout: 30_000 }, async () => {
  const before = v1.calls.Echo;
  await assert.rejects(unary('Echo', 'x', { 'x-fault': 'abort' }), (e: grpc.ServiceError) => {
    assert.equal(e.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.match(e.details, /fault filter abort/);
    return true;
  });
  assert.equal(v1.calls.Echo, before, 'the aborted call never reached a backend');
});

test('retries on unavailable mask the failing endpoint', { timeout: 60_000 }, async () => {
  for (let i = 0; i < 12; i++) assert.equal(await unary('Flaky', 'x'), 'v1');
  // Round robin over {v1, flaky}: about half the first attempts hit the failing one and are retried.
  assert.ok(flaky.calls.Flaky > 0, 'the failing endpoint was tried');
  assert.equal(v1.calls.Flaky, 12);
});

test('h2c prior knowledge from node:http2 goes through the same listener', { timeout: 30_000 }, async () => {
  const s = http2.connect(`http://127.0.0.1:${grpcPort}`);
  s.on('error', () => {});
  const req = s.request({
    ':method': 'POST',
    ':path': '/test.Echo/Echo',
    ':authority': HOST,
    'content-type': 'application/grpc',
    te: 'trailers',
    'x-variant': 'v2',
  });
  // One gRPC message frame: uncompressed flag, 4-byte length, payload.
  const payload = Buffer.from('raw');
  const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, payload.length]), payload]);
  req.end(frame);
  const chunks: Buffer[] = [];
  let trailers: http2.IncomingHttpHeaders | undefined;
  req.on('data', (d: Buffer) => chunks.push(d));
  req.on('trailers', (t) => {
    trailers = t;
  });
  await once(req, 'close');
  const body = Buffer.concat(chunks);
  assert.equal(body.subarray(5).toString(), 'v2:raw:v2');
  assert.equal(trailers?.['grpc-status'], '0');
  await new Promise<void>((resolve) => s.close(() => resolve()));
});

test('no open handles', async () => {
  client.close();
  await killAll([proxy, mizzend]);
  await Promise.all([v1, v2, flaky].map((b) => b.server.forceShutdown()));
  await assertNoOpenHandles();
  assert.doesNotMatch(proxyLog(), /uncaught|TypeError/i, proxyLog());
});
