/**
 * Istio's standard metrics end to end, with real processes: mizzend (bin/mizzend.js) serving two
 * sidecars (bin/mizzen-proxy.js) configured only by Istio YAML — productpage-v2 (client side,
 * egress on 127.0.0.1) calls reviews-v1 (server side, ingress on 127.0.0.10 in front of the app).
 * HTTP requests go through both; then each proxy's static Prometheus listener (Istio's 15090,
 * here a free port) is scraped, parsed strictly, and must show reporter=source on the client
 * and reporter=destination on the server, each with the peer's workload/app/version labels from
 * the metadata exchange, the response codes, and a locally generated failure (NR).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { freePort, request, TEST_MESH, waitFor } from '../../proxy/assembly/harness.ts';
import { type Family, parsePrometheusText, sampleValue } from '../../proxy/telemetry/prometheus-parser.ts';
import { type FakeUpstream, startUpstream } from '../../support/fake-upstreams.ts';
import { killAll, NODE, ROOT, startMizzend } from '../../support/mesh-processes.ts';

const HOST = 'reviews.example.internal';
/** The server sidecar's own address (a loopback alias: Linux routes all of 127/8 to lo). */
const SERVER_IP = '127.0.0.10';

let dir: string;
let app: FakeUpstream;
let svcPort: number;
let inboundPort: number;
let mizzend: ChildProcess;
const proxies: ChildProcess[] = [];
const logs: Record<string, string> = {};
let clientPorts: PortFile;
let serverPorts: PortFile;
/** Scrapes taken before the measured traffic (warm-up requests may have failed while config arrived). */
let clientBefore: Map<string, Family>;
let serverBefore: Map<string, Family>;

interface PortFile {
  admin: number;
  status: number;
  listeners: Record<string, number>;
}

function config(): string {
  return `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: reviews, namespace: default}
spec:
  hosts: [${HOST}]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: ${svcPort}, name: http, protocol: HTTP, targetPort: ${inboundPort}}]
  workloadSelector: {labels: {app: reviews}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: reviews-v1, namespace: default}
spec: {address: ${SERVER_IP}, labels: {app: reviews, version: v1}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [${HOST}]
  http:
  - match: [{uri: {prefix: /reviews}}]
    route: [{destination: {host: ${HOST}}}]
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: productpage, namespace: default}
spec:
  workloadSelector: {labels: {app: productpage}}
  egress:
  - port: {number: ${svcPort}, protocol: HTTP, name: http-reviews}
    bind: 127.0.0.1
    captureMode: NONE
    hosts: [./${HOST}]
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: reviews, namespace: default}
spec:
  workloadSelector: {labels: {app: reviews}}
  ingress:
  - port: {number: ${inboundPort}, protocol: HTTP, name: http}
    bind: ${SERVER_IP}
    captureMode: NONE
    defaultEndpoint: 127.0.0.1:${app.port}
  # Its own egress on its own address: on 127.0.0.1 it would take the client's port.
  egress:
  - bind: ${SERVER_IP}
    captureMode: NONE
    hosts: [./${HOST}]
`;
}

function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

function startProxy(name: string, grpc: number, args: string[]): ChildProcess {
  const child = spawn(
    NODE,
    [
      path.join(ROOT, 'bin/mizzen-proxy.js'),
      'proxy',
      'sidecar',
      '--namespace',
      'default',
      '--interception-mode',
      'NONE',
      '--discovery-address',
      `127.0.0.1:${grpc}`,
      '--admin-port',
      '0',
      '--status-port',
      '0',
      '--prometheus-port',
      '0',
      '--port-file',
      path.join(dir, `${name}.json`),
      ...args,
    ],
    { env: { PATH: process.env.PATH ?? '', HOME: dir }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  logs[name] = '';
  child.stdout?.on('data', (d: Buffer) => {
    logs[name] += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    logs[name] += d.toString();
  });
  proxies.push(child);
  return child;
}

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'mizzen-telemetry-'));
  app = await startUpstream('reviews-app');
  app.behave = (req) =>
    req.url.startsWith('/reviews/fail') ? { kind: 'status', status: 500 } : { kind: 'echo' };
  svcPort = await freePort();
  do inboundPort = await freePort();
  while (inboundPort === svcPort);
  writeFileSync(path.join(dir, 'mesh.yaml'), TEST_MESH);
  writeFileSync(path.join(dir, 'config.yaml'), config());
  const cp = await startMizzend({
    dir,
    config: path.join(dir, 'config.yaml'),
    mesh: path.join(dir, 'mesh.yaml'),
  });
  mizzend = cp.child;
  const grpc = cp.grpc;
  startProxy('server', grpc, [
    '--ip',
    SERVER_IP,
    '--pod-name',
    'reviews-v1-5d8f',
    '--workload-name',
    'reviews-v1',
    '--label',
    'app=reviews',
    '--label',
    'version=v1',
  ]);
  startProxy('client', grpc, [
    '--ip',
    '127.0.0.9',
    '--pod-name',
    'productpage-v2-7b1c',
    '--workload-name',
    'productpage-v2',
    '--label',
    'app=productpage',
    '--label',
    'version=v2',
  ]);
  await waitFor(
    'both proxies ready',
    () =>
      readJson(path.join(dir, 'server.json')) !== undefined &&
      readJson(path.join(dir, 'client.json')) !== undefined,
    30_000,
  );
  serverPorts = readJson<PortFile>(path.join(dir, 'server.json')) as PortFile;
  clientPorts = readJson<PortFile>(path.join(dir, 'client.json')) as PortFile;
  // The server's ingress listener comes with its first config; wait until it answers.
  await waitFor(
    'the route through both sidecars',
    async () => {
      try {
        return (await request(svcPort, '/reviews/warmup', { host: HOST })).status === 200;
      } catch {
        return false;
      }
    },
    30_000,
  );
});

after(async () => {
  await killAll([...proxies, mizzend]);
  await app?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** How much a sample sum grew since the baseline scrape. */
function grew(
  now: Map<string, Family>,
  before: Map<string, Family>,
  name: string,
  match: Readonly<Record<string, string>>,
): number {
  return sampleValue(now, name, match) - sampleValue(before, name, match);
}

async function scrape(ports: PortFile): Promise<Map<string, Family>> {
  const port = ports.listeners.prometheus_stats;
  assert.ok(
    port > 0,
    `the static Prometheus listener is in the port file: ${JSON.stringify(ports.listeners)}`,
  );
  const r = await request(port, '/stats/prometheus');
  assert.equal(r.status, 200);
  return parsePrometheusText(r.body);
}

test('traffic through both sidecars: 200s, a 500 from the app, and an NR from the client sidecar', {
  timeout: 30_000,
}, async () => {
  // The client sidecar, not the server's, owns the egress port.
  assert.equal(clientPorts.listeners[`127.0.0.1_${svcPort}`], svcPort, JSON.stringify(clientPorts.listeners));
  clientBefore = await scrape(clientPorts);
  serverBefore = await scrape(serverPorts);
  for (let i = 0; i < 5; i++) {
    const r = await request(svcPort, `/reviews/${i}`, { host: HOST });
    assert.equal(r.status, 200, r.body);
    const seen = JSON.parse(r.body).headers as Record<string, string>;
    assert.equal(seen['x-envoy-peer-metadata'], undefined, 'the app never sees the exchange headers');
  }
  assert.equal((await request(svcPort, '/reviews/fail', { host: HOST })).status, 500);
  assert.equal((await request(svcPort, '/no-such-route', { host: HOST })).status, 404);
});

test('client sidecar on its Prometheus port: reporter=source with the server workload labels', {
  timeout: 30_000,
}, async () => {
  const fams = await scrape(clientPorts);
  const peer = {
    reporter: 'source',
    source_workload: 'productpage-v2',
    source_app: 'productpage',
    source_version: 'v2',
    source_workload_namespace: 'default',
    destination_workload: 'reviews-v1',
    destination_app: 'reviews',
    destination_version: 'v1',
    destination_workload_namespace: 'default',
    destination_service: HOST,
    request_protocol: 'http',
  };
  const b = clientBefore;
  const total = (m: Record<string, string>) => grew(fams, b, 'istio_requests_total', m);
  assert.equal(
    total({ ...peer, response_code: '200', response_flags: '-' }),
    5,
    `${JSON.stringify(fams.get('istio_requests_total')?.samples)}\n${logs.client.slice(-3000)}`,
  );
  assert.equal(total({ ...peer, response_code: '500' }), 1);
  assert.equal(
    total({
      reporter: 'source',
      source_workload: 'productpage-v2',
      destination_workload: 'unknown',
      destination_service: HOST,
      response_code: '404',
      response_flags: 'NR',
    }),
    1,
  );
  assert.equal(
    grew(fams, b, 'istio_request_duration_milliseconds_count', { ...peer, response_code: '200' }),
    5,
  );
  assert.equal(sampleValue(fams, 'istio_requests_total', { reporter: 'destination' }), 0);
  const stats = await request(clientPorts.admin, '/stats?filter=^istio_requests_total');
  assert.match(stats.body, /^istio_requests_total\{reporter="source",.*response_flags="NR".*\}: \d+$/m);
});

test('server sidecar on its Prometheus port: reporter=destination with the client workload labels', {
  timeout: 30_000,
}, async () => {
  const fams = await scrape(serverPorts);
  const peer = {
    reporter: 'destination',
    source_workload: 'productpage-v2',
    source_app: 'productpage',
    source_version: 'v2',
    destination_workload: 'reviews-v1',
    destination_app: 'reviews',
    destination_version: 'v1',
    destination_service: HOST,
    connection_security_policy: 'none',
  };
  const b = serverBefore;
  const total = (m: Record<string, string>) => grew(fams, b, 'istio_requests_total', m);
  assert.equal(total({ ...peer, response_code: '200' }), 5);
  assert.equal(total({ ...peer, response_code: '500' }), 1);
  assert.equal(
    sampleValue(fams, 'istio_requests_total', { response_flags: 'NR' }),
    0,
    'NR never left the client',
  );
  assert.equal(sampleValue(fams, 'istio_requests_total', { reporter: 'source' }), 0);
  assert.ok(sampleValue(fams, 'istio_response_bytes_sum', { ...peer, response_code: '200' }) > 0);
});
