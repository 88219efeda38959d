/**
 * `mizzen-proxy proxy --concurrency 2` as real processes: one xDS stream in the primary, two
 * worker processes sharing the listening socket, admin stats summed over the workers, a killed
 * worker replaced with the current config, a NACK decided once, and SIGTERM draining an
 * in-flight request in a worker before everything exits.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { typed } from '../../../src/lib/xds/any.ts';
import {
  CLUSTER_TYPE_URL,
  HTTP_CONNECTION_MANAGER_TYPE_URL,
  LISTENER_TYPE_URL,
  ROUTE_TYPE_URL,
  ROUTER_TYPE_URL,
} from '../../../src/lib/xds/type-urls.ts';
import { routeConfig, staticCluster, TestControlPlane, testNoOpenHandles, world } from '../xds/harness.ts';

const BIN = fileURLToPath(new URL('../../../bin/mizzen-proxy.js', import.meta.url));
const CLUSTER = 'backend';

/** A listener on a free port whose connection manager routes by RDS `app-routes`. */
function appListener(extra: object = {}): object {
  return {
    name: 'app',
    address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
    filter_chains: [
      {
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: typed(HTTP_CONNECTION_MANAGER_TYPE_URL, {
              stat_prefix: 'app',
              rds: {
                route_config_name: 'app-routes',
                config_source: { ads: {}, resource_api_version: 'V3' },
              },
              http_filters: [{ name: 'envoy.filters.http.router', typed_config: typed(ROUTER_TYPE_URL, {}) }],
            }),
          },
        ],
      },
    ],
    ...extra,
  };
}

let backend: http.Server;
let backendPort = 0;
/** Requests to /slow wait here until the test lets them go. */
const held: http.ServerResponse[] = [];
let cp: TestControlPlane;
let proxy: ChildProcess;
let output = '';
let dir: string;
let ports: { admin: number; listeners: Record<string, number>; pid: number; workers: number[] };

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}\n--- proxy output ---\n${output}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

before(async () => {
  backend = http.createServer((req, res) => {
    if (req.url === '/slow') held.push(res);
    else res.end('ok');
  });
  backend.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
  backendPort = (backend.address() as net.AddressInfo).port;
  cp = await TestControlPlane.start(
    world({
      [CLUSTER_TYPE_URL]: { [CLUSTER]: staticCluster(CLUSTER, backendPort) },
      [LISTENER_TYPE_URL]: { app: appListener() },
      [ROUTE_TYPE_URL]: { 'app-routes': routeConfig('app-routes', CLUSTER) },
    }),
  );
  dir = mkdtempSync(join(tmpdir(), 'mizzen-workers-'));
  const portFile = join(dir, 'ports.json');
  proxy = spawn(
    process.execPath,
    [
      BIN,
      'proxy',
      'sidecar',
      '--concurrency',
      '2',
      '--discovery-address',
      cp.address,
      '--admin-port',
      '0',
      '--status-port',
      '0',
      '--prometheus-port',
      '0',
      '--port-file',
      portFile,
      '--interception-mode',
      'NONE',
      '--pod-name',
      'app-1',
      '--namespace',
      'default',
      '--ip',
      '127.0.0.9',
      '--drain-duration',
      '10s',
      '--log-level',
      'warn',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  proxy.stdout?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  proxy.stderr?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  await until('the port file', () => existsSync(portFile) || proxy.exitCode !== null, 60_000);
  assert.equal(proxy.exitCode, null, `proxy exited early:\n${output}`);
  ports = JSON.parse(readFileSync(portFile, 'utf8'));
});

async function cleanup(): Promise<void> {
  if (proxy && proxy.exitCode === null && proxy.signalCode === null) {
    proxy.kill('SIGKILL');
    await once(proxy, 'exit');
  }
  for (const r of held.splice(0)) r.destroy();
  backend?.closeAllConnections();
  if (backend?.listening) await new Promise<void>((r) => backend.close(() => r()));
  await cp?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
}
// A failed test must not leave a proxy running; the last tests close everything normally.
after(cleanup);

/** One keep-alive connection to the proxy's listener. */
class Client {
  readonly socket: net.Socket;
  #buf = '';
  constructor(port: number) {
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.setEncoding('latin1');
    this.socket.on('data', (d: string) => {
      this.#buf += d;
    });
  }
  async get(path = '/'): Promise<{ status: number; body: string }> {
    if (this.socket.connecting) await once(this.socket, 'connect');
    this.#buf = '';
    this.socket.write(`GET ${path} HTTP/1.1\r\nhost: app\r\n\r\n`);
    for (;;) {
      const end = this.#buf.indexOf('\r\n\r\n');
      if (end >= 0) {
        const len = Number(/content-length:\s*(\d+)/i.exec(this.#buf.slice(0, end))?.[1] ?? 0);
        if (this.#buf.length >= end + 4 + len) {
          return { status: Number(this.#buf.slice(9, 12)), body: this.#buf.slice(end + 4, end + 4 + len) };
        }
      }
      await Promise.race([
        once(this.socket, 'data'),
        once(this.socket, 'close').then(() => {
          throw new Error(`connection closed; got ${JSON.stringify(this.#buf)}`);
        }),
      ]);
    }
  }
  close(): void {
    this.socket.destroy();
  }
}

/** The pid whose file descriptors hold the proxy side of this client connection (/proc). */
function ownerOf(client: Client, pids: readonly number[]): number | undefined {
  const local = client.socket.localPort as number;
  const inodes = new Set<string>();
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    if (!existsSync(f)) continue;
    for (const line of readFileSync(f, 'utf8').split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 10) continue;
      const remPort = Number.parseInt(cols[2].split(':')[1], 16);
      if (remPort === local) inodes.add(cols[9]);
    }
  }
  for (const pid of pids) {
    let fds: string[] = [];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m && inodes.has(m[1])) return pid;
      } catch {
        // fd closed between readdir and readlink
      }
    }
  }
  return undefined;
}

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

async function adminStat(name: string): Promise<number> {
  const text = await new Promise<string>((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port: ports.admin, path: '/stats' }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          body += d;
        });
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
  const m = new RegExp(`^${name.replace(/[.|]/g, '\\$&')}: (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

const RQ_TOTAL = `cluster.${CLUSTER}.upstream_rq_total`;

test('two workers, both serving the one shared listener; the primary serves none', async () => {
  assert.equal(ports.workers.length, 2, `port file: ${JSON.stringify(ports)}`);
  assert.deepEqual(childrenOf(ports.pid).sort(), [...ports.workers].sort());
  const port = ports.listeners.app;
  assert.ok(port > 0, 'the workers reported the listener port');
  const clients = Array.from({ length: 4 }, () => new Client(port));
  for (const c of clients) assert.deepEqual(await c.get(), { status: 200, body: 'ok' });
  const owners = clients.map((c) => ownerOf(c, [ports.pid, ...ports.workers]));
  for (const c of clients) c.close();
  // Round-robin hand-off: every connection lives in a worker, and both workers got some.
  assert.ok(
    owners.every((o) => o !== undefined && ports.workers.includes(o)),
    `owners ${owners}, workers ${ports.workers}`,
  );
  assert.equal(new Set(owners).size, 2, `owners ${owners}`);
});

test('admin /stats sums the workers', async () => {
  await until('4 upstream requests in the primary stats', async () => (await adminStat(RQ_TOTAL)) >= 4);
  assert.equal(await adminStat(RQ_TOTAL), 4);
});

test('a killed worker is replaced, gets the current config, and totals do not go back', async () => {
  const [victim, survivor] = ports.workers;
  process.kill(victim, 'SIGKILL');
  await until('a replacement worker', () => {
    const kids = childrenOf(ports.pid).filter((p) => p !== victim && alive(p));
    return kids.length === 2 && kids.includes(survivor);
  });
  const replacement = childrenOf(ports.pid).find((p) => p !== survivor && p !== victim) as number;
  // Once it has the current config and listens, new connections alternate between the two.
  await until('the replacement worker to serve a connection', async () => {
    const c = new Client(ports.listeners.app);
    assert.deepEqual(await c.get(), { status: 200, body: 'ok' });
    const owner = ownerOf(c, [replacement, survivor]);
    c.close();
    return owner === replacement;
  });
  await until('totals including the new requests', async () => (await adminStat(RQ_TOTAL)) >= 5);
  assert.ok((await adminStat(RQ_TOTAL)) >= 5);
  ports.workers = [survivor, replacement];
});

test('a NACK is decided once by the primary; workers keep serving the last good config', async () => {
  const nack = once(cp.server, 'nack');
  cp.set(LISTENER_TYPE_URL, {
    app: appListener({ freebind: { value: true } }),
  });
  const [, typeUrl, record] = await nack;
  assert.equal(typeUrl, LISTENER_TYPE_URL);
  assert.match(JSON.stringify(record), /freebind/);
  const c = new Client(ports.listeners.app);
  assert.deepEqual(await c.get(), { status: 200, body: 'ok' });
  c.close();
  assert.doesNotMatch(output, /failed to apply config the primary accepted/);
});

test('SIGTERM drains every worker: an in-flight request finishes, then all processes exit', async () => {
  const workers = childrenOf(ports.pid);
  const c = new Client(ports.listeners.app);
  const slow = c.get('/slow');
  await until('the slow request at the backend', () => held.length === 1);
  const exited = once(proxy, 'exit');
  proxy.kill('SIGTERM');
  // New connections are refused or closed once the workers stop accepting.
  await until('the listener to stop accepting', async () => {
    const probe = net.connect(ports.listeners.app, '127.0.0.1');
    const refused = await Promise.race([
      once(probe, 'error').then(() => true),
      once(probe, 'connect').then(() => false),
    ]);
    probe.destroy();
    return refused;
  });
  assert.equal(proxy.exitCode, null, 'the primary waits for the in-flight request');
  held[0].end('late');
  assert.deepEqual(await slow, { status: 200, body: 'late' });
  c.close();
  const [code] = await exited;
  assert.equal(code, 0, output);
  await until('the workers to be gone', () => workers.every((p) => !alive(p)));
});

test('closes the control plane and backend', cleanup);

testNoOpenHandles();
