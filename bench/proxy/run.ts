/**
 * Quick local load check (not a test, asserts nothing): starts the 1 KiB backend, then for each
 * mode in interleaved rounds the proxy (pinned to CPU 1 when taskset exists) and the load
 * client (CPU 0, with the backend), and prints per mode the median over rounds of proxy
 * CPU-seconds per 1,000 requests, req/s, latency and RSS. Modes: http (mizzen-proxy HCM with a
 * route table), tcp (mizzen-proxy tcp_proxy), pipe (a bare Node socket.pipe reference), direct.
 * The full comparison against nginx and haproxy is a later deliverable.
 *
 * Usage: node bench/proxy/run.ts [--modes pipe,tcp,http] [--rounds 3] [--seconds 5]
 *          [--connections 50] [--rps 0] [--prof] [--node-flags "..."]
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    modes: { type: 'string', default: 'pipe,tcp,http' },
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '5' },
    connections: { type: 'string', default: '50' },
    prof: { type: 'boolean', default: false },
    rps: { type: 'string', default: '0' },
    'node-flags': { type: 'string', default: '' },
  },
});
const node = process.execPath;
const here = new URL('.', import.meta.url).pathname;
const hasTaskset = existsSync('/usr/bin/taskset');
const pin = (cpu: number, args: string[]): [string, string[]] =>
  hasTaskset ? ['taskset', ['-c', String(cpu), ...args]] : [args[0], args.slice(1)];
const clockTicks = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim());

function start(cmd: [string, string[]]): Promise<{ child: ChildProcess; port: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd[0], cmd[1], { stdio: ['ignore', 'pipe', 'inherit'] });
    child.stdout!.once('data', (d: Buffer) => resolve({ child, port: Number(d.toString().trim()) }));
    child.once('error', reject);
  });
}

/** utime + stime of a process in seconds (taskset execs node, so the pid is node's). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / clockTicks;
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

interface Result {
  rps: number;
  p50: number;
  p99: number;
  cpuPer1000: number;
  rss: number;
}

async function runOnce(mode: string, upstreamPort: number): Promise<Result> {
  let target = upstreamPort;
  let proxy: { child: ChildProcess; port: number } | undefined;
  if (mode !== 'direct') {
    const flags = values['node-flags'] ? values['node-flags'].split(' ') : [];
    if (values.prof) flags.push('--cpu-prof', `--cpu-prof-dir=${here}profiles`);
    const script =
      mode === 'pipe'
        ? [`${here}pipe-ref.ts`, String(upstreamPort)]
        : [`${here}proxy-main.ts`, '--upstream', String(upstreamPort), '--mode', mode];
    proxy = await start(pin(1, [node, ...flags, ...script]));
    target = proxy.port;
  }
  const warmup = 2;
  const load = spawn(
    ...pin(0, [
      node,
      `${here}load.ts`,
      '--port',
      String(target),
      '--connections',
      values.connections!,
      '--seconds',
      values.seconds!,
      '--warmup',
      String(warmup),
      '--rps',
      values.rps!,
    ]),
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let cpu0 = 0;
  const sample = setTimeout(() => {
    if (proxy) cpu0 = cpuSeconds(proxy.child.pid!);
  }, warmup * 1000);
  let out = '';
  load.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  await new Promise<void>((resolve) => load.on('exit', () => resolve()));
  clearTimeout(sample);
  const r = JSON.parse(out);
  const res: Result = { rps: r.rps, p50: r.p50, p99: r.p99, cpuPer1000: 0, rss: 0 };
  if (proxy) {
    const pid = proxy.child.pid!;
    res.cpuPer1000 = ((cpuSeconds(pid) - cpu0) / r.requests) * 1000;
    res.rss = rssMb(pid);
    const exited = new Promise<void>((resolve) => proxy!.child.on('exit', () => resolve()));
    proxy.child.kill('SIGTERM');
    await exited;
  }
  return res;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};

const upstream = await start(pin(0, [node, `${here}upstream.ts`]));
const modes = values.modes!.split(',');
const results = new Map<string, Result[]>(modes.map((m) => [m, []]));
for (let round = 0; round < Number(values.rounds); round++) {
  for (const mode of modes) results.get(mode)!.push(await runOnce(mode, upstream.port));
}
upstream.child.kill();
console.table(
  modes.map((mode) => {
    const rs = results.get(mode)!;
    return {
      mode,
      'req/s': median(rs.map((r) => r.rps)).toFixed(0),
      'p50 ms': median(rs.map((r) => r.p50)).toFixed(3),
      'p99 ms': median(rs.map((r) => r.p99)).toFixed(3),
      'proxy CPU-s/1000 req': mode === 'direct' ? '-' : median(rs.map((r) => r.cpuPer1000)).toFixed(4),
      'RSS MB': mode === 'direct' ? '-' : median(rs.map((r) => r.rss)).toFixed(0),
    };
  }),
);
