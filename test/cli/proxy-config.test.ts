/**
 * `mizzenctl proxy-config` against a real mesh: mizzend and one mizzen-proxy as child
 * processes (bin/mizzend.js, bin/mizzen-proxy.js) on a temporary YAML config, the CLI run
 * both as bin/mizzenctl.js and in process. Checks the tables and JSON/YAML hold the clusters,
 * listeners, routes and endpoints the config makes, and the errors for unreachable addresses,
 * unknown proxies and bad flag values.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { parse } from 'yaml';
import { mizzenctlInProcess, mizzenctl as runBin, tableRows } from '../support/cli-run.ts';
import {
  assertNoLeakedSockets,
  freePort,
  killAll,
  startMizzend,
  startSidecar,
  TEST_MESH,
} from '../support/mesh-processes.ts';
import { clientSidecarForShop, SHOP, shopServiceEntry } from '../support/mesh-yaml.ts';

let dir: string;
let httpPort: number;
let v1Port: number;
let mizzend: ChildProcess;
let proxy: ChildProcess;
let proxy2: ChildProcess;
let admin2: number;
let monitoring: number;
let admin: number;

const config = () => `
${shopServiceEntry(httpPort)}---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: shop-v1, namespace: default}
spec: {address: 127.0.0.1, ports: {http: ${v1Port}}, labels: {app: shop, version: v1}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: shop, namespace: default}
spec:
  host: ${SHOP}
  subsets: [{name: v1, labels: {version: v1}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: shop, namespace: default}
spec:
  hosts: [${SHOP}]
  http:
  - match: [{headers: {end-user: {exact: jason}}}]
    route: [{destination: {host: ${SHOP}, subset: v1}}]
  - route: [{destination: {host: ${SHOP}}}]
---
${clientSidecarForShop(httpPort)}`;

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'mizzenctl-pc-'));
  httpPort = await freePort();
  v1Port = await freePort();
  writeFileSync(path.join(dir, 'mesh.yaml'), TEST_MESH);
  writeFileSync(path.join(dir, 'config.yaml'), config());
  const cp = await startMizzend({
    dir,
    config: path.join(dir, 'config.yaml'),
    mesh: path.join(dir, 'mesh.yaml'),
  });
  mizzend = cp.child;
  monitoring = cp.monitoring;
  const sidecar = { dir, grpc: cp.grpc, logLevel: 'warn' };
  ({ child: proxy, admin } = await startSidecar({ ...sidecar, pod: 'client-1', ip: '127.0.0.9' }));
  // The demo's layout: the admin API on the proxy's own address.
  ({ child: proxy2, admin: admin2 } = await startSidecar({
    ...sidecar,
    pod: 'client-2',
    ip: '127.0.0.10',
    extra: ['--admin-address', '127.0.0.10'],
    adminHost: '127.0.0.10',
  }));
});

after(async () => {
  await killAll([proxy, proxy2, mizzend]);
  rmSync(dir, { recursive: true, force: true });
});

const mizzenctl = (args: string[], env: Record<string, string> = {}) => runBin(args, dir, env);
const inProcess = mizzenctlInProcess;
const rows = tableRows;

test('clusters (bin): istioctl columns, the subset and default clusters, the DestinationRule', {
  timeout: 30_000,
}, async () => {
  const r = await mizzenctl([
    'proxy-config',
    'clusters',
    'client-1.default',
    '--admin',
    `127.0.0.1:${admin}`,
  ]);
  assert.equal(r.code, 0, r.stderr);
  const table = rows(r.stdout);
  assert.deepEqual(table[0], ['SERVICE FQDN', 'PORT', 'SUBSET', 'DIRECTION', 'TYPE', 'DESTINATION RULE']);
  assert.deepEqual(
    table.filter((c) => c[0] === SHOP),
    [
      [SHOP, String(httpPort), '', 'outbound', 'EDS', 'shop.default'],
      [SHOP, String(httpPort), 'v1', 'outbound', 'EDS', 'shop.default'],
    ],
  );
  assert.ok(
    table.some((c) => c[0] === 'PassthroughCluster' && c[4] === 'ORIGINAL_DST'),
    r.stdout,
  );
});

test('clusters -o json with --fqdn, --subset, --direction filters', { timeout: 30_000 }, async () => {
  const base = ['pc', 'clusters', '--admin', `127.0.0.1:${admin}`, '-o', 'json'];
  const r = await inProcess([...base, '--fqdn', 'shop', '--subset', 'v1', '--direction', 'outbound']);
  assert.equal(r.code, 0, r.stderr);
  const clusters = JSON.parse(r.stdout) as { name: string; type: string; connect_timeout: string }[];
  assert.deepEqual(
    clusters.map((c) => c.name),
    [`outbound|${httpPort}|v1|${SHOP}`],
  );
  assert.equal(clusters[0].type, 'EDS');
  assert.match(clusters[0].connect_timeout, /^\d+(\.\d+)?s$/, 'proto3 JSON durations');
  const none = await inProcess([...base, '--direction', 'inbound', '--fqdn', 'shop']);
  assert.deepEqual(JSON.parse(none.stdout), []);
  const port = await inProcess([...base, '--port', String(httpPort)]);
  assert.equal(JSON.parse(port.stdout).length, 2);
});

test('listeners: the egress listener routes by RDS; --type and -o yaml', { timeout: 30_000 }, async () => {
  const args = ['pc', 'listeners', 'client-1.default', '--admin', `127.0.0.1:${admin}`];
  const r = await inProcess(args);
  assert.equal(r.code, 0, r.stderr);
  const table = rows(r.stdout);
  assert.deepEqual(table[0], ['ADDRESSES', 'PORT', 'MATCH', 'DESTINATION']);
  assert.deepEqual(
    table.filter((c) => c[1] === String(httpPort)),
    [['127.0.0.1', String(httpPort), 'ALL', `Route: ${httpPort}`]],
  );
  assert.deepEqual(rows((await inProcess([...args, '--type', 'tcp'])).stdout), [
    ['ADDRESSES', 'PORT', 'MATCH', 'DESTINATION'],
  ]);
  const yaml = parse((await inProcess([...args, '--port', String(httpPort), '-o', 'yaml'])).stdout);
  assert.equal(yaml[0].name, `127.0.0.1_${httpPort}`);
  assert.equal(yaml[0]['@type'], 'type.googleapis.com/envoy.config.listener.v3.Listener');
});

test('routes: the VirtualService routes with their match and the VirtualService name', {
  timeout: 30_000,
}, async () => {
  const r = await inProcess([
    'pc',
    'routes',
    'client-1',
    '--admin',
    `127.0.0.1:${admin}`,
    '--name',
    String(httpPort),
  ]);
  assert.equal(r.code, 0, r.stderr);
  const table = rows(r.stdout);
  assert.deepEqual(table[0], ['NAME', 'VHOST NAME', 'DOMAINS', 'MATCH', 'VIRTUAL SERVICE']);
  const vhost = `${SHOP}:${httpPort}`;
  assert.deepEqual(
    table.filter((c) => c[1] === vhost),
    [
      [String(httpPort), vhost, SHOP, '/* [end-user=jason]', 'shop.default'],
      [String(httpPort), vhost, SHOP, '/*', 'shop.default'],
    ],
  );
  assert.deepEqual(
    rows((await inProcess(['pc', 'routes', '--admin', `127.0.0.1:${admin}`, '--name', 'nope'])).stdout),
    [['NAME', 'VHOST NAME', 'DOMAINS', 'MATCH', 'VIRTUAL SERVICE']],
  );
});

test('endpoints: the WorkloadEntry behind both clusters; --status and --cluster filter', {
  timeout: 30_000,
}, async () => {
  const base = ['pc', 'endpoints', 'client-1.default', '--admin', `127.0.0.1:${admin}`];
  const r = await inProcess([...base, '--port', String(v1Port)]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(rows(r.stdout), [
    ['ENDPOINT', 'STATUS', 'OUTLIER CHECK', 'CLUSTER'],
    [`127.0.0.1:${v1Port}`, 'HEALTHY', 'OK', `outbound|${httpPort}|v1|${SHOP}`],
    [`127.0.0.1:${v1Port}`, 'HEALTHY', 'OK', `outbound|${httpPort}||${SHOP}`],
  ]);
  assert.equal(rows((await inProcess([...base, '--status', 'unhealthy'])).stdout).length, 1);
  const json = JSON.parse(
    (await inProcess([...base, '--cluster', `outbound|${httpPort}|v1|${SHOP}`, '-o', 'json'])).stdout,
  );
  assert.equal(json.length, 1);
  assert.equal(json[0].host_statuses[0].address.socket_address.port_value, v1Port);
});

test('secret, bootstrap and all', { timeout: 30_000 }, async () => {
  const a = ['--admin', `127.0.0.1:${admin}`];
  const secret = await inProcess(['pc', 'secret', 'client-1.default', ...a]);
  assert.deepEqual(rows(secret.stdout), [
    ['RESOURCE NAME', 'TYPE', 'STATUS', 'VALID CERT', 'SERIAL NUMBER', 'NOT AFTER', 'NOT BEFORE'],
  ]);
  const boot = JSON.parse((await inProcess(['pc', 'bootstrap', 'client-1.default', ...a])).stdout);
  assert.equal(boot.bootstrap.node.id, 'sidecar~127.0.0.9~client-1.default~default.svc.cluster.local');
  const all = await inProcess(['pc', 'all', 'client-1.default', ...a]);
  for (const header of ['SERVICE FQDN', 'ADDRESSES', 'VHOST NAME', 'OUTLIER CHECK', 'RESOURCE NAME']) {
    assert.ok(all.stdout.includes(header), header);
  }
  assert.ok(all.stdout.includes(`outbound|${httpPort}|v1|${SHOP}`));
  const dump = JSON.parse((await inProcess(['pc', 'all', ...a, '-o', 'json'])).stdout);
  const sections = dump.configs.map((c: { '@type': string }) => c['@type'].split('.').at(-1));
  for (const s of ['BootstrapConfigDump', 'ClustersConfigDump', 'ListenersConfigDump', 'RoutesConfigDump']) {
    assert.ok(sections.includes(s), s);
  }
});

test('through mizzend: the proxy resolves by name and MIZZEND_ADDRESS; its announced admin address is used', {
  timeout: 30_000,
}, async () => {
  const env = { MIZZEND_ADDRESS: `127.0.0.1:${monitoring}` };
  // Both proxies bound their admin API on a random port: mizzend's syncz says where.
  const status = await inProcess(['ps', '-o', 'json'], env);
  const entries = JSON.parse(status.stdout) as { proxy: string; admin_address?: string }[];
  assert.deepEqual(entries.map((e) => [e.proxy, e.admin_address]).sort(), [
    ['client-1.default', `127.0.0.1:${admin}`],
    ['client-2.default', `127.0.0.10:${admin2}`],
  ]);
  const r = await inProcess(['pc', 'clusters', 'client-1', '--fqdn', 'shop'], env);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(rows(r.stdout).length, 3);
  const b = await inProcess(['pc', 'bootstrap', 'client-2.default'], env);
  assert.equal(b.code, 0, b.stderr);
  assert.equal(
    JSON.parse(b.stdout).bootstrap.node.id,
    'sidecar~127.0.0.10~client-2.default~default.svc.cluster.local',
  );
});

test('errors: unknown proxy lists the connected ones; unreachable mizzend and admin are named', {
  timeout: 30_000,
}, async () => {
  const unknown = await mizzenctl(['pc', 'routes', 'nosuch.default', '--mizzend', `127.0.0.1:${monitoring}`]);
  assert.equal(unknown.code, 1);
  assert.equal(
    unknown.stderr,
    `error: proxy "nosuch.default" is not connected to mizzend at 127.0.0.1:${monitoring}; connected proxies: client-1.default, client-2.default\n`,
  );
  const closed = await freePort();
  const noMizzend = await inProcess(['pc', 'routes', 'client-1.default'], {
    MIZZEND_ADDRESS: `127.0.0.1:${closed}`,
  });
  assert.equal(noMizzend.code, 1);
  assert.equal(noMizzend.stderr, `error: cannot reach mizzend at 127.0.0.1:${closed}: connection refused\n`);
  const noAdmin = await inProcess(['pc', 'routes', '--admin', `127.0.0.1:${closed}`]);
  assert.equal(
    noAdmin.stderr,
    `error: cannot reach the proxy admin API at 127.0.0.1:${closed}: connection refused\n`,
  );
  const other = await inProcess(['pc', 'clusters', 'other.default', '--admin', `127.0.0.1:${admin}`]);
  assert.equal(other.code, 1);
  assert.match(
    other.stderr,
    /belongs to proxy sidecar~127\.0\.0\.9~client-1\.default~default\.svc\.cluster\.local, not "other\.default"/,
  );
});

test('bad flag values and a missing proxy exit 64 with the reason', { timeout: 30_000 }, async () => {
  const a = ['--admin', `127.0.0.1:${admin}`];
  const cases: [string[], RegExp][] = [
    [
      ['pc', 'clusters', ...a, '--port', 'http'],
      /--port <port>' argument 'http' is invalid\. a port is a number 1-65535/,
    ],
    [['pc', 'clusters', ...a, '--direction', 'sideways'], /use one of inbound, outbound/],
    [['pc', 'listeners', ...a, '--type', 'udp'], /use one of HTTP, TCP, HTTP\+TCP/],
    [['pc', 'endpoints', ...a, '--status', 'sick'], /use one of HEALTHY, UNHEALTHY/],
    [['pc', 'routes', ...a, '-o', 'table'], /use one of short, json, yaml/],
    [['pc', 'routes', '--admin', 'localhost'], /expected host:port/],
    [['pc', 'routes', '--mizzend', '127.0.0.1:99999'], /expected host:port/],
    [['pc', 'routes'], /name a proxy .* or give --admin/],
    [['pc', 'clusters', ...a, '--name', 'x'], /unknown option '--name'/],
  ];
  for (const [args, message] of cases) {
    const r = await inProcess(args, { MIZZEND_ADDRESS: '127.0.0.1:1' });
    assert.equal(r.code, 64, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
  }
  const env = await inProcess(['pc', 'routes', 'x.default'], { MIZZEND_ADDRESS: 'nonsense' });
  assert.equal(env.code, 64);
  assert.match(env.stderr, /MIZZEND_ADDRESS="nonsense" is not host:port/);
});

test('no open handles', async () => {
  await assertNoLeakedSockets();
});
