/**
 * The proxy benchmark (issue 4 §9; not a test, asserts nothing): mizzen-proxy against nginx,
 * haproxy and no proxy at all, in the same run, in interleaved rounds. See README.md for what is
 * measured and how to read it.
 *
 * Usage: node bench/proxy/run.ts [--quick] [--rounds 3] [--seconds 3]
 *          [--targets direct,nginx,haproxy,mizzen,pipe] [--variant="<node flags>"]...
 *          [--loads h1,latency,tcp,h2,grpc] [--telemetry auto|on|off] [--connections 50]
 *          [--prof] [--no-install]
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { haproxyCommand, hasNginxStream, nginxCommand, type PeerPorts } from './peers.ts';
import { BenchControlPlane, type BenchPorts, benchWorld } from './xds-server.ts';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    seconds: { type: 'string' },
    targets: { type: 'string', default: 'direct,nginx,haproxy,mizzen,pipe' },
    variant: { type: 'string', multiple: true, default: [] },
    telemetry: { type: 'string', default: 'auto' },
    connections: { type: 'string', default: '50' },
    prof: { type: 'boolean', default: false },
    loads: { type: 'string', default: 'h1,latency,tcp,h2,grpc' },
    'no-install': { type: 'boolean', default: false },
  },
});
const rounds = Number(values.rounds ?? (values.quick ? 1 : 3));
const seconds = Number(values.seconds ?? (values.quick ? 1 : 3));
const connections = values.connections;
const loads = new Set(values.loads.split(','));
for (const l of loads)
  if (!['h1', 'latency', 'tcp', 'h2', 'grpc'].includes(l))
    throw new Error(`--loads: unknown load ${JSON.stringify(l)}`);
if (!['auto', 'on', 'off'].includes(values.telemetry)) throw new Error('--telemetry: auto, on or off');

const here = new URL('.', import.meta.url).pathname;
const root = join(here, '..', '..');
const node = process.execPath;
const clockTicks = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim());
const work = mkdtempSync(join(tmpdir(), 'mizzen-bench-'));
/** --prof: mizzen-proxy's .cpuprofile files (outside the checkout; summarise with profile-summary.ts). */
const profileDir = join(tmpdir(), 'mizzen-bench-profiles');

// ---------------------------------------------------------------------------------------------
// Tools
// ---------------------------------------------------------------------------------------------

/** Every child started, so a failure mid-run leaves no proxy or backend behind. */
const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});
function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

const have = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;

function ensureTools(): void {
  if (have('nginx') && have('haproxy') && have('h2load') && have('taskset') && hasNginxStream()) return;
  if (values['no-install']) return;
  console.error('bench: installing nginx, haproxy and h2load (scripts/install-bench-deps.sh)');
  const r = spawnSync('sh', [join(root, 'scripts', 'install-bench-deps.sh')], { stdio: 'inherit' });
  if (r.status !== 0) {
    console.error('bench: could not install the peers; run scripts/install-bench-deps.sh as root');
    process.exit(1);
  }
}
ensureTools();
if (!have('h2load')) {
  console.error('bench: h2load (nghttp2-client) is required as the load generator');
  process.exit(1);
}
const hasTaskset = have('taskset');
/** The proxy under test runs on CPU 1; load generators and backends on CPU 0. */
const pin = (cpu: number, argv: string[]): [string, string[]] =>
  hasTaskset ? ['taskset', ['-c', String(cpu), ...argv]] : [argv[0], argv.slice(1)];

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** utime + stime in seconds (taskset execs, so the pid is the proxy's). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / clockTicks;
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

/** Starts a child that prints its port on the first stdout line. */
function startPrinting(argv: [string, string[]]): Promise<{ child: ChildProcess; port: number }> {
  return new Promise((resolve, reject) => {
    const child = track(spawn(argv[0], argv[1], { stdio: ['ignore', 'pipe', 'inherit'] }));
    child.stdout?.once('data', (d: Buffer) => resolve({ child, port: Number(d.toString().trim()) }));
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`${argv[1].join(' ')} exited with ${code}`)));
  });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

async function until(what: string, pred: () => boolean | Promise<boolean>, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`bench: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const canConnect = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });

/**
 * Does the listener accept HTTP/2 with prior knowledge (h2c)? Sends the connection preface and
 * an empty SETTINGS frame: an h2 server answers with a SETTINGS frame (type 4), an HTTP/1.1-only
 * one with an HTTP/1.1 error or a close.
 */
function acceptsH2c(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let got = Buffer.alloc(0);
    const done = (v: boolean) => {
      s.destroy();
      resolve(v);
    };
    s.setTimeout(2_000, () => done(false));
    s.once('connect', () => {
      s.write(Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1'));
      s.write(Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]));
    });
    s.on('data', (d: Buffer) => {
      got = Buffer.concat([got, d]);
      if (got.length >= 9) done(got[3] === 4 && got.readUInt32BE(5) === 0);
    });
    s.once('error', () => done(false));
    s.once('end', () => done(false));
  });
}

// ---------------------------------------------------------------------------------------------
// Targets
// ---------------------------------------------------------------------------------------------

interface Running {
  readonly pid: number | undefined;
  readonly http?: number;
  readonly h2?: number;
  readonly grpc?: number;
  readonly tcp?: number;
  /** Why a protocol is not measured on this target. */
  readonly na: Partial<Record<'h2' | 'grpc' | 'tcp', string>>;
  stop(): Promise<void>;
}

interface Target {
  readonly name: string;
  start(): Promise<Running>;
}

const upstreamHttp = await startPrinting(pin(0, [node, join(here, 'upstream.ts')]));
const upstreamGrpc = await startPrinting(pin(0, [node, join(here, 'grpc-upstream.ts')]));
const cp = new BenchControlPlane();
await cp.listen();

async function peerPorts(): Promise<PeerPorts> {
  return {
    http: await freePort(),
    h2: await freePort(),
    grpc: await freePort(),
    tcp: await freePort(),
    upstreamHttp: upstreamHttp.port,
    upstreamGrpc: upstreamGrpc.port,
  };
}

async function startPeer(argv: string[], p: PeerPorts, na: Running['na']): Promise<Running> {
  const [cmd, args] = pin(1, argv);
  const child = track(spawn(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'] }));
  await until(`${argv[0]} to listen`, () => canConnect(p.http));
  return {
    pid: child.pid,
    http: p.http,
    h2: p.h2,
    grpc: p.grpc,
    tcp: na.tcp ? undefined : p.tcp,
    na,
    stop: () => stop(child),
  };
}

/** What mizzen-proxy was found to support, decided on its first start and kept for the run. */
const mizzenCaps: {
  telemetry?: boolean;
  telemetryNote?: string;
  h2?: boolean;
  grpc?: boolean;
  grpcNote?: string;
} = {};

function mizzenTarget(nodeFlags: string[]): Target {
  return {
    name: nodeFlags.length ? `mizzen-proxy (${nodeFlags.join(' ')})` : 'mizzen-proxy',
    async start() {
      const ports: BenchPorts = {
        http: await freePort(),
        tcp: await freePort(),
        grpc: await freePort(),
        upstreamHttp: upstreamHttp.port,
        upstreamGrpc: upstreamGrpc.port,
      };
      const telemetry = mizzenCaps.telemetry ?? values.telemetry !== 'off';
      cp.set(benchWorld(ports, { telemetry, grpc: mizzenCaps.grpc === true }));
      const portFile = join(work, `mizzen-${Date.now()}.json`);
      const flags = [...nodeFlags];
      if (values.prof) flags.push('--cpu-prof', `--cpu-prof-dir=${profileDir}`);
      const lds = cp.nextOutcome('type.googleapis.com/envoy.config.listener.v3.Listener');
      const [cmd, args] = pin(1, [
        node,
        ...flags,
        join(root, 'bin', 'mizzen-proxy.js'),
        'proxy',
        'sidecar',
        '--discovery-address',
        `127.0.0.1:${cp.port}`,
        '--admin-port',
        '0',
        '--status-port',
        '0',
        '--port-file',
        portFile,
        '--interception-mode',
        'NONE',
        '--pod-name',
        'bench-1',
        '--namespace',
        'default',
        '--ip',
        '127.0.0.9',
        '--log-level',
        'warn',
        '--drain-duration',
        '1s',
        '--initial-fetch-timeout',
        '5s',
        // Istio's Prometheus listener is part of a sidecar; a free port, as 15090 may be taken.
        '--prometheus-port',
        '0',
      ]);
      const child = track(spawn(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'] }));
      const exited = new Promise<{ typeUrl: string; ok: false; detail: string }>((resolve) =>
        child.once('exit', (code) =>
          resolve({
            typeUrl: '',
            ok: false,
            detail: `mizzen-proxy exited with code ${code} before its first ACK`,
          }),
        ),
      );
      const outcome = await Promise.race([lds, exited]);
      if (child.exitCode !== null) throw new Error(`bench: ${outcome.detail}`);
      if (!outcome.ok && telemetry && mizzenCaps.telemetry === undefined && values.telemetry === 'auto') {
        // Telemetry filters not (yet) accepted: measure routing only, and say so.
        mizzenCaps.telemetry = false;
        mizzenCaps.telemetryNote = `Istio telemetry filters not accepted, measured without: ${outcome.detail}`;
        await stop(child);
        return this.start();
      }
      if (!outcome.ok) {
        await stop(child);
        throw new Error(`bench: mizzen-proxy rejected the bench listeners: ${outcome.detail}`);
      }
      mizzenCaps.telemetry ??= telemetry;
      await until('mizzen-proxy to be ready', () => existsSync(portFile));
      await until('the HTTP listener', () => canConnect(ports.http));
      if (mizzenCaps.h2 === undefined) {
        mizzenCaps.h2 = await acceptsH2c(ports.http);
        if (mizzenCaps.h2) {
          // HTTP/2 downstream works: now try the gRPC listener with an HTTP/2 upstream cluster.
          const cds = cp.nextOutcome('type.googleapis.com/envoy.config.cluster.v3.Cluster');
          const lds2 = cp.nextOutcome('type.googleapis.com/envoy.config.listener.v3.Listener');
          cp.set(benchWorld(ports, { telemetry: mizzenCaps.telemetry, grpc: true }));
          const [c, l] = await Promise.all([cds, lds2]);
          mizzenCaps.grpc = c.ok && l.ok;
          if (!mizzenCaps.grpc)
            mizzenCaps.grpcNote = `n/a (HTTP/2 upstream NACKed: ${c.ok ? l.detail : c.detail})`;
        } else {
          mizzenCaps.grpc = false;
          mizzenCaps.grpcNote = 'n/a (no h2 yet)';
        }
      }
      if (mizzenCaps.grpc) await until('the gRPC listener', () => canConnect(ports.grpc));
      return {
        pid: child.pid,
        http: ports.http,
        h2: mizzenCaps.h2 ? ports.http : undefined,
        grpc: mizzenCaps.grpc ? ports.grpc : undefined,
        tcp: ports.tcp,
        na: {
          h2: mizzenCaps.h2 ? undefined : 'n/a (no h2 yet)',
          grpc: mizzenCaps.grpc ? undefined : (mizzenCaps.grpcNote ?? 'n/a (no h2 yet)'),
        },
        stop: () => stop(child),
      };
    },
  };
}

const targets: Target[] = [];
for (const name of values.targets.split(',')) {
  switch (name) {
    case 'direct':
      targets.push({
        name: 'direct (no proxy)',
        start: async () => ({
          pid: undefined,
          http: upstreamHttp.port,
          grpc: upstreamGrpc.port,
          na: { h2: 'n/a (backend is HTTP/1.1)', tcp: '-' },
          stop: async () => {},
        }),
      });
      break;
    case 'nginx':
      if (!have('nginx')) console.error('bench: nginx missing; skipped');
      else
        targets.push({
          name: 'nginx',
          start: async () => {
            const p = await peerPorts();
            const dir = join(work, `nginx-${p.http}`);
            mkdirSync(dir);
            const na = hasNginxStream() ? {} : { tcp: 'n/a (no stream module)' };
            return startPeer(nginxCommand(dir, p), p, na);
          },
        });
      break;
    case 'haproxy':
      if (!have('haproxy')) console.error('bench: haproxy missing; skipped');
      else
        targets.push({
          name: 'haproxy',
          start: async () => {
            const p = await peerPorts();
            const dir = join(work, `haproxy-${p.http}`);
            mkdirSync(dir);
            return startPeer(haproxyCommand(dir, p), p, {});
          },
        });
      break;
    case 'mizzen':
      targets.push(mizzenTarget([]));
      for (const v of values.variant) targets.push(mizzenTarget(v.split(' ').filter(Boolean)));
      break;
    case 'pipe':
      targets.push({
        name: 'Node socket.pipe (reference)',
        start: async () => {
          const p = await startPrinting(pin(1, [node, join(here, 'pipe-ref.ts'), String(upstreamHttp.port)]));
          return { pid: p.child.pid, tcp: p.port, na: { h2: '-', grpc: '-' }, stop: () => stop(p.child) };
        },
      });
      break;
    default:
      throw new Error(`--targets: unknown target ${JSON.stringify(name)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Loads
// ---------------------------------------------------------------------------------------------

interface LoadResult {
  requests: number;
  rps: number;
  /** Proxy CPU-seconds per 1,000 requests (NaN without a proxy process). */
  cpuPer1000: number;
  failed: number;
}

function run(argv: [string, string[]]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = track(spawn(argv[0], argv[1], { stdio: ['ignore', 'pipe', 'pipe'] }));
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.once('error', reject);
    child.once('exit', () => resolve(out));
  });
}

/** Runs h2load on CPU 0 and reads its summary; CPU is sampled around the whole run. */
async function h2load(pid: number | undefined, args: string[]): Promise<LoadResult> {
  const cpu0 = pid ? cpuSeconds(pid) : 0;
  const out = await run(pin(0, ['h2load', ...args]));
  const cpu1 = pid ? cpuSeconds(pid) : 0;
  // A run shorter than a second is reported in ms.
  const fin = /finished in ([\d.]+)m?s, ([\d.]+) req\/s/.exec(out);
  const reqs =
    /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored/.exec(
      out,
    );
  const status2xx = /status codes: (\d+) 2xx/.exec(out);
  if (!fin || !reqs) throw new Error(`bench: cannot read h2load's output:\n${out}`);
  // Only 2xx responses count as served: a proxy answering 503 fast must not look cheap.
  const ok = Math.min(Number(reqs[4]), Number(status2xx?.[1] ?? 0));
  const done = Number(reqs[3]);
  return {
    requests: ok,
    rps: Number(fin[2]) * (done > 0 ? ok / done : 0),
    cpuPer1000: pid && ok > 0 ? ((cpu1 - cpu0) / ok) * 1000 : Number.NaN,
    failed: done - ok + Number(reqs[5]) + Number(reqs[6]),
  };
}

interface Latency {
  p50: number;
  p90: number;
  p99: number;
  cpuPer1000: number;
}

/** 1,000 req/s (10 clients × 100 req/s), latency per request from h2load's log file. */
async function fixedRate(pid: number | undefined, port: number): Promise<Latency> {
  const log = join(work, `lat-${port}-${Date.now()}.tsv`);
  const r = await h2load(pid, [
    '--h1',
    '-c',
    '10',
    '--rps',
    '100',
    '-D',
    String(seconds),
    '--log-file',
    log,
    `http://127.0.0.1:${port}/`,
  ]);
  const us = readFileSync(log, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => line.split('\t'))
    .filter((f) => f[1] === '200')
    .map((f) => Number(f[2]))
    .sort((a, b) => a - b);
  rmSync(log, { force: true });
  const q = (p: number) => (us[Math.min(us.length - 1, Math.floor(p * us.length))] ?? Number.NaN) / 1000;
  return { p50: q(0.5), p90: q(0.9), p99: q(0.99), cpuPer1000: r.cpuPer1000 };
}

async function grpcLoad(pid: number | undefined, port: number): Promise<LoadResult> {
  const [cmd, args] = pin(0, [
    node,
    join(here, 'grpc-load.ts'),
    '--port',
    String(port),
    '--concurrency',
    connections,
    '--seconds',
    String(seconds),
    '--warmup',
    '1',
  ]);
  const child = track(spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] }));
  let cpu0 = 0;
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
    if (out.includes('"event":"start"') && cpu0 === 0 && pid) cpu0 = cpuSeconds(pid);
  });
  await new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const cpu1 = pid ? cpuSeconds(pid) : 0;
  const last = out.trim().split('\n').pop() ?? '{}';
  const r = JSON.parse(last) as { requests: number; failed: number; rps: number; firstError: string };
  if (r.failed > 0) console.error(`bench: gRPC errors (${r.failed}): ${r.firstError}`);
  return {
    requests: r.requests,
    rps: r.rps,
    cpuPer1000: pid && r.requests > 0 ? ((cpu1 - cpu0) / r.requests) * 1000 : Number.NaN,
    failed: r.failed,
  };
}

interface RoundResult {
  h1?: LoadResult;
  lat?: Latency;
  tcp?: LoadResult;
  h2?: LoadResult;
  grpc?: LoadResult;
  rss?: number;
  na: Running['na'];
}

async function measure(t: Target): Promise<RoundResult> {
  const r = await t.start();
  const res: RoundResult = { na: r.na };
  try {
    const d = String(seconds);
    if (r.http && (loads.has('h1') || loads.has('latency'))) {
      // Warm-up: connections, JIT, pools.
      await h2load(r.pid, ['--h1', '-c', connections, '-n', '20000', `http://127.0.0.1:${r.http}/`]);
      if (loads.has('h1'))
        res.h1 = await h2load(r.pid, [
          '--h1',
          '-c',
          connections,
          '-t',
          '1',
          '-D',
          d,
          `http://127.0.0.1:${r.http}/`,
        ]);
      if (loads.has('latency')) res.lat = await fixedRate(r.pid, r.http);
    }
    if (r.tcp && loads.has('tcp'))
      res.tcp = await h2load(r.pid, ['--h1', '-c', connections, '-D', d, `http://127.0.0.1:${r.tcp}/`]);
    if (r.h2 && loads.has('h2'))
      res.h2 = await h2load(r.pid, ['-c', '10', '-m', '10', '-t', '1', '-D', d, `http://127.0.0.1:${r.h2}/`]);
    if (r.grpc && loads.has('grpc')) res.grpc = await grpcLoad(r.pid, r.grpc);
    if (r.pid) res.rss = rssMb(r.pid);
  } finally {
    await r.stop();
  }
  return res;
}

// ---------------------------------------------------------------------------------------------
// Rounds and the table
// ---------------------------------------------------------------------------------------------

const startedAt = new Date();
const results = new Map<string, RoundResult[]>(targets.map((t) => [t.name, []]));
for (let round = 0; round < rounds; round++) {
  for (const t of targets) {
    process.stderr.write(`round ${round + 1}/${rounds}: ${t.name}\n`);
    results.get(t.name)?.push(await measure(t));
  }
}
await stop(upstreamHttp.child);
await stop(upstreamGrpc.child);
await cp.close();
rmSync(work, { recursive: true, force: true });

function median(xs: (number | undefined)[]): number {
  const s = xs.filter((x): x is number => x !== undefined && !Number.isNaN(x)).sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : Number.NaN;
}
const f = (x: number, digits: number): string => (Number.isNaN(x) ? '-' : x.toFixed(digits));
const nginxH1 = median(results.get('nginx')?.map((r) => r.h1?.cpuPer1000) ?? []);
const nginxTcp = median(results.get('nginx')?.map((r) => r.tcp?.cpuPer1000) ?? []);
const ratio = (cpu: number, ref: number): string =>
  Number.isNaN(cpu) || Number.isNaN(ref) ? '-' : `${(ref / cpu).toFixed(2)}×`;

const h1Rows = targets.map((t) => {
  const rs = results.get(t.name) ?? [];
  const cpu = median(rs.map((r) => r.h1?.cpuPer1000));
  return [
    t.name,
    f(median(rs.map((r) => r.h1?.rps)), 0),
    f(cpu, 4),
    ratio(cpu, nginxH1),
    f(median(rs.map((r) => r.lat?.p50)), 2),
    f(median(rs.map((r) => r.lat?.p90)), 2),
    f(median(rs.map((r) => r.lat?.p99)), 2),
    f(median(rs.map((r) => r.lat?.cpuPer1000)), 4),
    f(median(rs.map((r) => r.rss)), 0),
  ];
});
const na = (rs: RoundResult[], k: 'h2' | 'grpc' | 'tcp'): string | undefined =>
  rs.find((r) => r.na[k])?.na[k];
const otherRows = targets.map((t) => {
  const rs = results.get(t.name) ?? [];
  const col = (k: 'h2' | 'grpc' | 'tcp', what: 'rps' | 'cpuPer1000', digits: number) =>
    na(rs, k) ?? f(median(rs.map((r) => r[k]?.[what])), digits);
  const tcpCpu = median(rs.map((r) => r.tcp?.cpuPer1000));
  return [
    t.name,
    col('tcp', 'cpuPer1000', 4),
    na(rs, 'tcp') ? '-' : ratio(tcpCpu, nginxTcp),
    col('h2', 'rps', 0),
    col('h2', 'cpuPer1000', 4),
    col('grpc', 'rps', 0),
    col('grpc', 'cpuPer1000', 4),
  ];
});
const failures = targets.flatMap((t) =>
  (results.get(t.name) ?? []).flatMap((r) =>
    (['h1', 'tcp', 'h2', 'grpc'] as const)
      .filter((k) => (r[k]?.failed ?? 0) > 0)
      .map((k) => `${t.name} ${k}: ${r[k]?.failed} failed`),
  ),
);

function table(head: string[], rows: string[][]): string {
  return [
    `| ${head.join(' | ')} |`,
    `| ${head.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}

console.log(
  `\nmizzen-proxy bench — ${startedAt.toISOString()}, ${rounds} round(s) × ${seconds} s per load, medians; ` +
    `proxy on CPU 1${hasTaskset ? '' : ' (no taskset: NOT pinned)'}, load and backends on CPU 0\n` +
    `mizzen-proxy config: sidecar-like outbound route table (9 virtual hosts) over ADS; Istio telemetry filters ` +
    `${mizzenCaps.telemetry ? 'on' : 'off'}${mizzenCaps.telemetryNote ? ` (${mizzenCaps.telemetryNote})` : ''}\n`,
);
console.log(
  'HTTP/1.1, 1 KiB responses (h2load, 50 connections for max; 1,000 req/s open loop for latency)\n',
);
console.log(
  table(
    [
      'target',
      'max req/s',
      'CPU-s / 1k req',
      'per-core vs nginx',
      'p50 ms @1k',
      'p90 ms @1k',
      'p99 ms @1k',
      'CPU-s / 1k @1k rps',
      'RSS MB',
    ],
    h1Rows,
  ),
);
console.log('\nTCP pass-through, HTTP/2 (h2c, 10 conns × 10 streams) and gRPC unary (grpc-js client)\n');
console.log(
  table(
    [
      'target',
      'TCP CPU-s / 1k',
      'TCP vs nginx',
      'h2 req/s',
      'h2 CPU-s / 1k',
      'gRPC req/s',
      'gRPC CPU-s / 1k',
    ],
    otherRows,
  ),
);
if (failures.length) console.log(`\nfailed requests: ${failures.join('; ')}`);
if (values.prof) console.log(`\nCPU profiles: ${profileDir} (node bench/proxy/profile-summary.ts FILE)`);
