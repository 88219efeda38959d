/**
 * The real `bin/mizzend.js` process: started on ports 0 (the chosen ports come from its
 * `listening grpc=N monitoring=N` log line or --port-file), driven through its monitoring
 * port and a test ADS client, stopped with SIGTERM. Also its refusals: a taken port, a
 * missing config directory, an invalid mesh config, a bad flag — each a clear line and a
 * distinct exit code.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { CLUSTER_TYPE_URL } from '../../../src/lib/xds/type-urls.ts';
import { MizzendExit } from '../../../src/pilot/cmd/mizzend.ts';
import { FakeAdsClient, sidecarNode } from '../../support/fake-ads-client.ts';
import { assertNoOpenHandles } from '../../support/fake-mizzend.ts';

const BIN = fileURLToPath(new URL('../../../bin/mizzend.js', import.meta.url));

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function tempDir(files: Record<string, string> = {}): Promise<string> {
  const d = await mkdtemp(path.join(tmpdir(), 'mizzend-cmd-'));
  dirs.push(d);
  for (const [name, text] of Object.entries(files)) await writeFile(path.join(d, name), text);
  return d;
}

async function put(dir: string, name: string, text: string): Promise<void> {
  const tmp = path.join(dir, `.${name}.tmp`);
  await writeFile(tmp, text);
  await rename(tmp, path.join(dir, name));
}

interface Mizzend {
  readonly child: ChildProcess;
  readonly lines: string[];
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves with the first stderr line matching `re`. */
  line(re: RegExp): Promise<string>;
}

function run(args: string[], env: Record<string, string> = {}): Mizzend {
  // The test's own environment must not configure the child.
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MIZZEN_')));
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...base, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const waiters: { re: RegExp; resolve: (l: string) => void }[] = [];
  let buffered = '';
  const onText = (chunk: Buffer) => {
    buffered += chunk.toString();
    let nl = buffered.indexOf('\n');
    while (nl >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      lines.push(line);
      for (const w of [...waiters]) {
        if (w.re.test(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
      nl = buffered.indexOf('\n');
    }
  };
  child.stderr?.on('data', onText);
  child.stdout?.on('data', onText);
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    lines,
    exit,
    line(re) {
      const seen = lines.find((l) => re.test(l));
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        waiters.push({ re, resolve });
        void exit.then(({ code }) =>
          reject(new Error(`mizzend exited (${code}) before logging ${re}:\n${lines.join('\n')}`)),
        );
      });
    },
  };
}

async function listening(m: Mizzend): Promise<{ grpc: number; monitoring: number }> {
  const line = await m.line(/listening grpc=\d+ monitoring=\d+/);
  const [, g, mon] = /grpc=(\d+) monitoring=(\d+)/.exec(line) as RegExpExecArray;
  return { grpc: Number(g), monitoring: Number(mon) };
}

function get(port: number, pathname: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: pathname, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => {
          body += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

const SERVICE = (name: string, port: number) => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${name}, namespace: default}
spec:
  hosts: [${name}.example.com]
  ports: [{number: ${port}, name: http, protocol: HTTP}]
  resolution: STATIC
  workloadSelector: {labels: {app: ${name}}}
`;

test('mizzend serves, reports and reloads its config directory, and exits 0 on SIGTERM', {
  timeout: 60_000,
}, async () => {
  const dir = await tempDir({ 'reviews.yaml': SERVICE('reviews', 9080) });
  const m = run(['--config-dir', dir, '--grpc-port', '0', '--monitoring-port', '0']);
  let client: FakeAdsClient | undefined;
  try {
    const ports = await listening(m);
    assert.equal((await get(ports.monitoring, '/ready')).status, 200);

    client = new FakeAdsClient(`127.0.0.1:${ports.grpc}`);
    const stream = client.stream(sidecarNode('app-1', 'default'));
    stream.request(CLUSTER_TYPE_URL);
    const cds = await stream.nextOf(CLUSTER_TYPE_URL);
    assert.ok(cds.names.includes('outbound|9080||reviews.example.com'));
    stream.ack(cds);

    const syncz = JSON.parse((await get(ports.monitoring, '/debug/syncz')).body) as Record<string, unknown>[];
    assert.equal(syncz.length, 1);
    assert.equal(syncz[0].proxy, 'app-1.default');
    assert.equal(syncz[0].cluster_sent, cds.nonce);

    const metrics = (await get(ports.monitoring, '/metrics')).body;
    for (const name of [
      'pilot_xds{',
      'pilot_xds_pushes{type="cds"}',
      'pilot_k8s_cfg_events{',
      'process_resident_memory_bytes',
      'process_cpu_seconds_total',
    ]) {
      assert.ok(metrics.includes(name), `/metrics has ${name}`);
    }

    // A bad file is rejected alone, visible in configz; the good change next to it is pushed.
    await put(dir, 'bad.yaml', SERVICE('bad', 70000));
    await put(dir, 'ratings.yaml', SERVICE('ratings', 9090));
    let pushed = await stream.next();
    while (!pushed.names.includes('outbound|9090||ratings.example.com')) {
      stream.ack(pushed);
      pushed = await stream.next();
    }
    assert.ok(pushed.names.includes('outbound|9080||reviews.example.com'));
    assert.ok(!pushed.names.some((n) => n.includes('bad.example.com')));
    const configz = JSON.parse((await get(ports.monitoring, '/debug/configz')).body) as {
      statuses: { level: string; file: string; messages: string[] }[];
    };
    const rejected = configz.statuses.filter((s) => s.level === 'error');
    assert.equal(rejected.length, 1);
    assert.equal(path.basename(rejected[0].file), 'bad.yaml');
    assert.match(rejected[0].messages[0], /bad\.yaml:\d+:\d+ spec\.ports\[0\]\.number/);

    // SIGTERM: streams end with UNAVAILABLE (proxies go elsewhere) and the process exits 0.
    m.child.kill('SIGTERM');
    const status = await stream.status;
    assert.equal(status.code, grpc.status.UNAVAILABLE);
    const exit = await m.exit;
    assert.deepEqual(exit, { code: 0, signal: null });
    assert.ok(m.lines.some((l) => /signal received; shutting down signal=SIGTERM/.test(l)));
    assert.ok(m.lines.some((l) => /pilot:server stopped/.test(l)));
  } finally {
    client?.close();
    m.child.kill('SIGKILL');
    await m.exit;
  }
});

test('env equivalents, JSON logs and --port-file', { timeout: 30_000 }, async () => {
  const dir = await tempDir({ 'reviews.yaml': SERVICE('reviews', 9080) });
  const portFile = path.join(await tempDir(), 'ports.json');
  const m = run([], {
    MIZZEN_CONFIG_DIR: dir,
    MIZZEN_GRPC_PORT: '0',
    MIZZEN_MONITORING_PORT: '0',
    MIZZEN_LOG_FORMAT: 'json',
    MIZZEN_PORT_FILE: portFile,
  });
  try {
    const line = await m.line(/"msg":"listening"/);
    const entry = JSON.parse(line) as Record<string, unknown>;
    assert.equal(entry.scope, 'pilot:server');
    assert.equal(entry.level, 'info');
    assert.equal(entry.host, '127.0.0.1', 'loopback is the default bind address');
    const monitoring = entry.monitoring as number;
    assert.equal((await get(monitoring, '/ready')).status, 200);
    await m.line(/"msg":"port file written"/);
    const written = JSON.parse(await readFile(portFile, 'utf8'));
    assert.deepEqual(written, { grpc: entry.grpc, monitoring, pid: m.child.pid });
    m.child.kill('SIGINT');
    assert.deepEqual(await m.exit, { code: 0, signal: null });
  } finally {
    m.child.kill('SIGKILL');
    await m.exit;
  }
});

test('refusals: a taken port, a missing config directory, an invalid mesh config, a bad flag', {
  timeout: 60_000,
}, async () => {
  const dir = await tempDir({ 'reviews.yaml': SERVICE('reviews', 9080) });
  const first = run(['--config-dir', dir, '--grpc-port', '0', '--monitoring-port', '0']);
  try {
    const ports = await listening(first);

    const grpcTaken = run(['--config-dir', dir, '--grpc-port', String(ports.grpc), '--monitoring-port', '0']);
    assert.equal((await grpcTaken.exit).code, MizzendExit.UNAVAILABLE);
    assert.ok(
      grpcTaken.lines.includes(
        `mizzend: cannot listen for gRPC (xDS) on 127.0.0.1:${ports.grpc}: address already in use`,
      ),
      grpcTaken.lines.join('\n'),
    );

    const monTaken = run([
      '--config-dir',
      dir,
      '--grpc-port',
      '0',
      '--monitoring-port',
      String(ports.monitoring),
    ]);
    assert.equal((await monTaken.exit).code, MizzendExit.UNAVAILABLE);
    assert.ok(
      monTaken.lines.includes(
        `mizzend: cannot listen for monitoring on 127.0.0.1:${ports.monitoring}: address already in use`,
      ),
    );
  } finally {
    first.child.kill('SIGTERM');
    await first.exit;
  }

  const missing = run(['--config-dir', path.join(dir, 'nope'), '--grpc-port', '0', '--monitoring-port', '0']);
  assert.equal((await missing.exit).code, MizzendExit.UNREADABLE_INPUT);
  assert.ok(missing.lines.includes(`mizzend: config directory ${path.join(dir, 'nope')} does not exist`));

  const meshFile = path.join(dir, '..', `${path.basename(dir)}-mesh.yaml`);
  await writeFile(meshFile, 'outboundTrafficPolicy:\n  mode: SOMETIMES\n');
  dirs.push(meshFile);
  const badMesh = run([
    '--config-dir',
    dir,
    '--mesh-config',
    meshFile,
    '--grpc-port',
    '0',
    '--monitoring-port',
    '0',
  ]);
  assert.equal((await badMesh.exit).code, MizzendExit.CONFIG);
  assert.ok(
    badMesh.lines.some((l) =>
      l.includes(`${meshFile}:2:3 outboundTrafficPolicy.mode: "SOMETIMES" is not a valid value`),
    ),
    badMesh.lines.join('\n'),
  );

  const badFlag = run(['--config-dir', dir, '--grpc-port', 'many']);
  assert.equal((await badFlag.exit).code, MizzendExit.USAGE);
  assert.ok(badFlag.lines.some((l) => l.includes("option '--grpc-port <port>' argument 'many' is invalid")));

  const noDir = run([]);
  assert.equal((await noDir.exit).code, MizzendExit.USAGE);
  assert.ok(noDir.lines.some((l) => l.includes("required option '--config-dir <dir>' not specified")));
});

test('--help lists the flags with their environment variables and the PILOT_* feature flags', {
  timeout: 30_000,
}, async () => {
  const m = run(['--help']);
  assert.equal((await m.exit).code, 0);
  const text = m.lines.join('\n');
  for (const s of [
    '--config-dir <dir>',
    'env: MIZZEN_CONFIG_DIR',
    'env: MESH_CONFIG',
    '--grpc-port <port>',
    '(default: 15010',
    '--monitoring-port <port>',
    '(default: 15014',
    '--log-format <format>',
    'PILOT_DEBOUNCE_AFTER (default 100ms)',
    'PILOT_DEBOUNCE_MAX (default 10s)',
    'PILOT_PUSH_THROTTLE (default 100)',
  ]) {
    assert.ok(text.includes(s), `help mentions ${s}`);
  }
});

test('no open handles', async () => {
  await assertNoOpenHandles();
});
