/**
 * `mizzenctl proxy-status` against a real mesh: mizzend and one mizzen-proxy as child
 * processes, plus a hand-played proxy (test/support/fake-ads-client.ts) that ACKs only when
 * told. Checks SYNCED after ACK, NOT SENT for types never sent, STALE (Never Acknowledged)
 * while an ACK is withheld, STALE with the NACK's error in -o json when the real proxy
 * rejects a route, and the `proxy-status <proxy>` comparison of mizzend's config with the
 * proxy's: "Match" per type, then a diff naming the rejected field.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { parse } from 'yaml';
import { CLUSTER_TYPE_URL } from '../../src/lib/xds/type-urls.ts';
import { mizzenctlInProcess, mizzenctl as runBin, tableRows } from '../support/cli-run.ts';
import { FakeAdsClient, sidecarNode } from '../support/fake-ads-client.ts';
import {
  assertNoLeakedSockets,
  freePort,
  killAll,
  startMizzend,
  startSidecar,
  TEST_MESH,
  waitFor,
} from '../support/mesh-processes.ts';
import { clientSidecarForShop, SHOP, shopServiceEntry } from '../support/mesh-yaml.ts';

let dir: string;
let httpPort: number;
let mizzend: ChildProcess;
let proxy: ChildProcess;
let grpc: number;
let monitoring: number;
let admin: number;

/** The default route goes to v1; with `mirror` it also mirrors to v2, which mizzen-proxy NACKs. */
const config = (mirror = false) => `
${shopServiceEntry(httpPort)}---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: shop-v1, namespace: default}
spec: {address: 127.0.0.1, ports: {http: 1}, labels: {app: shop, version: v1}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: shop, namespace: default}
spec:
  host: ${SHOP}
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: shop, namespace: default}
spec:
  hosts: [${SHOP}]
  http:
  - route: [{destination: {host: ${SHOP}, subset: v1}}]
${mirror ? `    mirror: {host: ${SHOP}, subset: v2}` : ''}
---
${clientSidecarForShop(httpPort)}`;

interface SynczEntry {
  proxy: string;
  types: { type: string; state: string; status?: string; last_nack?: { message: string } }[];
}

async function syncz(): Promise<SynczEntry[]> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port: monitoring, path: '/debug/syncz', agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d) => (body += d));
        res.on('end', () => resolve(JSON.parse(body)));
      })
      .on('error', reject);
  });
}

/** The state mizzend reports for one proxy's type, '' when absent. */
async function state(proxyId: string, type: string): Promise<string> {
  const e = (await syncz()).find((p) => p.proxy === proxyId);
  return e?.types.find((t) => t.type === type)?.state ?? '';
}

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'mizzenctl-ps-'));
  httpPort = await freePort();
  writeFileSync(path.join(dir, 'mesh.yaml'), TEST_MESH);
  writeFileSync(path.join(dir, 'config.yaml'), config());
  const cp = await startMizzend({
    dir,
    config: path.join(dir, 'config.yaml'),
    mesh: path.join(dir, 'mesh.yaml'),
    logLevel: 'error',
  });
  ({ child: mizzend, grpc, monitoring } = cp);
  ({ child: proxy, admin } = await startSidecar({
    dir,
    pod: 'client-1',
    ip: '127.0.0.9',
    grpc,
    logLevel: 'error',
  }));
  await waitFor('RDS to be ACKed', async () => (await state('client-1.default', 'RDS')) === 'SYNCED', 30_000);
});

after(async () => {
  await killAll([proxy, mizzend]);
  rmSync(dir, { recursive: true, force: true });
});

const mizzenctl = (args: string[], env: Record<string, string> = {}) => runBin(args, dir, env);
const inProcess = mizzenctlInProcess;
const rows = tableRows;

const HEADER = ['NAME', 'CLUSTER', 'CDS', 'LDS', 'EDS', 'RDS', 'ECDS', 'ISTIOD', 'VERSION'];

test('(bin) every type the proxy ACKed is SYNCED; ECDS, never sent, is NOT SENT', {
  timeout: 30_000,
}, async () => {
  const r = await mizzenctl(['proxy-status'], { MIZZEND_ADDRESS: `127.0.0.1:${monitoring}` });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(rows(r.stdout), [
    HEADER,
    [
      'client-1.default',
      'Kubernetes',
      'SYNCED',
      'SYNCED',
      'SYNCED',
      'SYNCED',
      'NOT SENT',
      `127.0.0.1:${monitoring}`,
      '1.24.0',
    ],
  ]);
});

test('a proxy withholding its ACK is STALE (Never Acknowledged), then SYNCED once it ACKs', {
  timeout: 30_000,
}, async () => {
  const client = new FakeAdsClient(`127.0.0.1:${grpc}`);
  try {
    const stream = client.stream(sidecarNode('fake-1', 'default', '127.0.0.77'));
    stream.request(CLUSTER_TYPE_URL);
    const res = await stream.nextOf(CLUSTER_TYPE_URL);
    const m = ['ps', '--mizzend', `127.0.0.1:${monitoring}`];
    const fake = (out: string) => rows(out).find((c) => c[0] === 'fake-1.default');
    let r = await inProcess(m);
    assert.deepEqual(fake(r.stdout)?.slice(2, 7), [
      'STALE (Never Acknowledged)',
      'NOT SENT',
      'NOT SENT',
      'NOT SENT',
      'NOT SENT',
    ]);
    stream.ack(res);
    await waitFor(
      'the ACK to reach mizzend',
      async () => (await state('fake-1.default', 'CDS')) === 'SYNCED',
    );
    r = await inProcess(m);
    assert.deepEqual(fake(r.stdout)?.slice(2, 7), ['SYNCED', 'NOT SENT', 'NOT SENT', 'NOT SENT', 'NOT SENT']);
    const json = JSON.parse((await inProcess([...m, '-o', 'json'])).stdout) as SynczEntry[];
    const entry = json.find((e) => e.proxy === 'fake-1.default');
    assert.deepEqual(
      entry?.types.map((t) => [t.type, t.status]),
      [['CDS', 'SYNCED']],
    );
    // Unknown proxies are named with the connected ones.
    const onlyDefault = rows((await inProcess([...m, '-n', 'default'])).stdout).map((c) => c[0]);
    assert.deepEqual(onlyDefault, ['NAME', 'client-1.default', 'fake-1.default']);
    assert.deepEqual(rows((await inProcess([...m, '-n', 'other'])).stdout), [HEADER]);
    const unknown = await inProcess([...m, 'nosuch']);
    assert.equal(unknown.code, 1);
    assert.match(
      unknown.stderr,
      /proxy "nosuch" is not connected .*; connected proxies: client-1\.default, fake-1\.default\n$/,
    );
  } finally {
    client.close();
  }
  await waitFor(
    'the fake proxy to disconnect',
    async () => !(await syncz()).some((e) => e.proxy === 'fake-1.default'),
  );
});

test('proxy-status <proxy>: what mizzend would send matches what the proxy holds', {
  timeout: 30_000,
}, async () => {
  const r = await inProcess([
    'ps',
    'client-1.default',
    '--mizzend',
    `127.0.0.1:${monitoring}`,
    '--admin',
    `127.0.0.1:${admin}`,
  ]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  assert.equal(lines.length, 4, r.stdout);
  assert.equal(lines[0], 'Clusters Match');
  assert.equal(lines[1], 'Listeners Match');
  assert.match(lines[2], /^Routes Match \(RDS last loaded at \w{3}, \d{2} \w{3} \d{4} [\d:]{8} GMT\)$/);
  assert.equal(lines[3], 'Endpoints Match');
  // The admin address guessed through mizzend (the xDS peer host with --admin-port) works too.
  const guessed = await inProcess(['ps', 'client-1', '--admin-port', String(admin)], {
    MIZZEND_ADDRESS: `127.0.0.1:${monitoring}`,
  });
  assert.equal(guessed.stdout, r.stdout);
});

test('a NACKed route is STALE; -o json carries the error; the diff shows the rejected field', {
  timeout: 30_000,
}, async () => {
  writeFileSync(path.join(dir, 'config.yaml'), config(true));
  await waitFor('the route NACK', async () => (await state('client-1.default', 'RDS')) === 'ERROR');
  const m = ['--mizzend', `127.0.0.1:${monitoring}`];
  const table = await inProcess(['proxy-status', ...m]);
  assert.deepEqual(rows(table.stdout)[1].slice(0, 7), [
    'client-1.default',
    'Kubernetes',
    'SYNCED',
    'SYNCED',
    'SYNCED',
    'STALE',
    'NOT SENT',
  ]);
  const yaml = parse((await inProcess(['proxy-status', ...m, '-o', 'yaml'])).stdout) as SynczEntry[];
  const rds = yaml[0].types.find((t) => t.type === 'RDS');
  assert.equal(rds?.status, 'STALE');
  assert.match(rds?.last_nack?.message ?? '', /request_mirror_policies/);
  const diff = await inProcess(['ps', 'client-1.default', ...m, '--admin', `127.0.0.1:${admin}`]);
  assert.equal(diff.code, 0, diff.stderr);
  assert.match(
    diff.stdout,
    /^Clusters Match\nListeners Match\n--- mizzend Routes \(what mizzend would send client-1\.default now\)\n\+\+\+ client-1\.default Routes /,
  );
  assert.match(diff.stdout, /^-\s+"request_mirror_policies": \[$/m, "the mirror is only on mizzend's side");
  assert.match(diff.stdout, /^@@ -\d+,\d+ \+\d+,\d+ @@$/m);
  assert.match(diff.stdout, /\nEndpoints Match\n$/);
  const json = JSON.parse(
    (await inProcess(['ps', 'client-1.default', ...m, '--admin', `127.0.0.1:${admin}`, '-o', 'json'])).stdout,
  );
  assert.equal(json.comparison.Routes.match, false);
  assert.equal(json.comparison.Clusters.match, true);
});

test('unreachable mizzend is named; a bad --mizzend is a usage error', { timeout: 30_000 }, async () => {
  const closed = await freePort();
  const r = await mizzenctl(['proxy-status', '--mizzend', `127.0.0.1:${closed}`]);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, `error: cannot reach mizzend at 127.0.0.1:${closed}: connection refused\n`);
  const bad = await inProcess(['proxy-status', '--mizzend', 'no-port']);
  assert.equal(bad.code, 64);
  assert.match(bad.stderr, /--mizzend <host:port>' argument 'no-port' is invalid/);
  const adminOnly = await inProcess(['proxy-status', '--admin', '127.0.0.1:1']);
  assert.equal(adminOnly.code, 64);
  assert.match(adminOnly.stderr, /--admin is for comparing one proxy/);
});

test('no open handles', async () => {
  await assertNoLeakedSockets();
});
