/**
 * mizzend + mizzen-proxy as real child processes (bin/mizzend.js, bin/mizzen-proxy.js), routing
 * real HTTP/1.1 traffic by Istio YAML; the proxy keeps serving its last good config when mizzend
 * is killed; admin endpoints show Envoy names; SIGTERM drains in-flight requests and exits 0.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { request } from '../../proxy/assembly/harness.ts';
import { assertNoOpenHandles } from '../../proxy/support/harness.ts';
import { type FakeUpstream, startUpstream } from '../../support/fake-upstreams.ts';
import {
  collectOutput,
  exited,
  freePort,
  killAll,
  startMizzend,
  startSidecar,
  TEST_MESH,
  waitFor,
} from '../../support/mesh-processes.ts';
import { clientSidecarForShop, shopServiceEntry } from '../../support/mesh-yaml.ts';

let dir: string;
let v1: FakeUpstream;
/** The "slow" backend: holds /slow responses until released, to test draining. */
let slow: http.Server;
let slowPort: number;
const held: http.ServerResponse[] = [];
let httpPort: number;
let mizzend: ChildProcess;
let proxy: ChildProcess;
let proxyLog: () => string = () => '';
let admin: number;
let status: number;
let monitoring: number;

/** The default route: to v1, or (with `mirror`) to the slow subset mirrored to v1 — NACKed. */
function config(mirror = false): string {
  const defaultRoute = mirror
    ? `  - route: [{destination: {host: shop.example.internal, subset: slow}}]
    mirror: {host: shop.example.internal, subset: v1}`
    : '  - route: [{destination: {host: shop.example.internal, subset: v1}}]';
  return `
${shopServiceEntry(httpPort)}---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: shop-v1, namespace: default}
spec: {address: 127.0.0.1, ports: {http: ${v1.port}}, labels: {app: shop, version: v1}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: shop-slow, namespace: default}
spec: {address: 127.0.0.1, ports: {http: ${slowPort}}, labels: {app: shop, version: slow}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: shop, namespace: default}
spec:
  host: shop.example.internal
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: slow, labels: {version: slow}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: shop, namespace: default}
spec:
  hosts: [shop.example.internal]
  http:
  - match: [{uri: {prefix: /slow}}]
    route: [{destination: {host: shop.example.internal, subset: slow}}]
${defaultRoute}
---
${clientSidecarForShop(httpPort)}`;
}

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'mizzen-mesh-basic-'));
  v1 = await startUpstream('v1');
  slow = http.createServer((req, res) => {
    if (req.url?.startsWith('/slow')) held.push(res);
    else res.end('slow-backend');
  });
  await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', () => resolve()));
  slowPort = (slow.address() as AddressInfo).port;
  httpPort = await freePort();
  writeFileSync(path.join(dir, 'mesh.yaml'), TEST_MESH);
  writeFileSync(path.join(dir, 'config.yaml'), config());
  const cp = await startMizzend({
    dir,
    config: path.join(dir, 'config.yaml'),
    mesh: path.join(dir, 'mesh.yaml'),
  });
  mizzend = cp.child;
  monitoring = cp.monitoring;
  const sidecar = await startSidecar({
    dir,
    pod: 'client-1',
    ip: '127.0.0.9',
    grpc: cp.grpc,
    extra: ['--drain-duration', '20s'],
    stdio: ['ignore', 'pipe', 'pipe'],
    waitReady: false,
  });
  proxy = sidecar.child;
  proxyLog = collectOutput(proxy);
  admin = sidecar.admin;
  status = sidecar.status;
});

after(async () => {
  await killAll([proxy, mizzend]);
  for (const r of held) r.destroy();
  await v1.close();
  slow.closeAllConnections();
  await new Promise<void>((resolve) => slow.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

test('the proxy is ready and routes HTTP/1.1 by the VirtualService', { timeout: 30_000 }, async () => {
  assert.equal((await request(status, '/healthz/ready')).status, 200);
  assert.equal((await request(admin, '/ready')).status, 200);
  const r = await request(httpPort, '/hello', { host: 'shop.example.internal' });
  assert.equal(r.status, 200, r.body);
  assert.equal(JSON.parse(r.body).upstream, 'v1');
});

test('admin /config_dump and /stats/prometheus carry the expected names', { timeout: 30_000 }, async () => {
  const dump = JSON.parse((await request(admin, '/config_dump')).body);
  const clusters = dump.configs[1].dynamic_active_clusters.map(
    (c: { cluster: { name: string } }) => c.cluster.name,
  );
  assert.ok(clusters.includes(`outbound|${httpPort}|v1|shop.example.internal`), clusters.join(' '));
  const listener = dump.configs[2].dynamic_listeners.find(
    (l: { name: string }) => l.name === `127.0.0.1_${httpPort}`,
  );
  assert.ok(listener?.active_state, 'the egress listener is active');
  const prom = (await request(admin, '/stats/prometheus')).body;
  assert.match(
    prom,
    new RegExp(
      `^envoy_cluster_upstream_rq_total\\{envoy_cluster_name="outbound\\|${httpPort}\\|v1\\|shop\\.example\\.internal"\\} [1-9]`,
      'm',
    ),
  );
  assert.match(prom, /^# TYPE envoy_listener_downstream_cx_total counter$/m);
});

test('a VirtualService mirror is NACKed naming request_mirror_policies; mizzend syncz shows it; old routes serve', {
  timeout: 30_000,
}, async () => {
  writeFileSync(path.join(dir, 'config.yaml'), config(true));
  type Syncz = { types: { type: string; state: string; last_nack?: { message: string } }[] }[];
  let rds: Syncz[number]['types'][number] | undefined;
  await waitFor(
    'the route NACK in mizzend /debug/syncz',
    async () => {
      const syncz = JSON.parse((await request(monitoring, '/debug/syncz')).body) as Syncz;
      rds = syncz[0]?.types.find((t) => t.type === 'RDS');
      return rds?.state === 'ERROR';
    },
    20_000,
  );
  assert.match(
    rds?.last_nack?.message ?? '',
    new RegExp(`RouteConfiguration "${httpPort}": .*request_mirror_policies`),
  );
  const dump = JSON.parse((await request(admin, '/config_dump')).body);
  const failed = dump.configs[3].dynamic_route_configs.find((r: { error_state?: unknown }) => r.error_state);
  assert.match(failed.error_state.details, /request_mirror_policies/);
  const r = await request(httpPort, '/still-v1', { host: 'shop.example.internal' });
  assert.equal(JSON.parse(r.body).upstream, 'v1', 'the last good route table keeps serving');
});

test('mizzend killed: traffic keeps flowing on the last good config', { timeout: 30_000 }, async () => {
  mizzend.kill('SIGKILL');
  await exited(mizzend);
  await waitFor(
    'the proxy to see the control plane go',
    async () => {
      const info = JSON.parse((await request(admin, '/server_info')).body);
      return info.xds.connected === false;
    },
    5000,
  );
  for (let i = 0; i < 20; i++) {
    const r = await request(httpPort, `/after-kill/${i}`, { host: 'shop.example.internal' });
    assert.equal(r.status, 200, r.body);
    assert.equal(JSON.parse(r.body).upstream, 'v1');
  }
  assert.equal((await request(status, '/healthz/ready')).status, 200);
});

test('SIGTERM: readiness fails, new connections are refused, the in-flight request finishes, exit 0', {
  timeout: 30_000,
}, async () => {
  const inflight = request(httpPort, '/slow/1', { host: 'shop.example.internal' });
  await waitFor('the slow request to reach its backend', () => held.length === 1, 5000);
  proxy.kill('SIGTERM');
  await waitFor(
    'readiness to fail',
    async () => (await request(status, '/healthz/ready')).status === 503,
    5000,
  );
  await assert.rejects(request(httpPort, '/new', { host: 'shop.example.internal' }), /ECONNREFUSED/);
  assert.equal(proxy.exitCode, null, 'the proxy waits for the in-flight request');
  held[0].end('finished');
  const r = await inflight;
  assert.equal(r.status, 200);
  assert.equal(r.body, 'finished');
  assert.equal(await exited(proxy), 0, proxyLog());
  assert.match(proxyLog(), /drained; exiting/);
});

test('no open handles', async () => {
  for (const r of held) r.destroy();
  await v1.close();
  slow.closeAllConnections();
  await new Promise<void>((resolve) => slow.close(() => resolve()));
  await assertNoOpenHandles();
});
