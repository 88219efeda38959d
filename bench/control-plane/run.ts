/**
 * Control-plane benchmark (issue 3 item 8): the real `bin/mizzend.js` serving a generated
 * mesh, and 2,000 simulated sidecars holding real ADS streams from a separate load process
 * (load.ts). Prints figures; asserts nothing (DESIGN §8).
 *
 *   node_modules/.bin/node bench/control-plane/run.ts [--services 1000] [--endpoints 10]
 *     [--proxies 2000] [--per-channel 50] [--rounds 10] [--full-rounds 3] [--busy-rounds 2] [--delta]
 *     [--keep] [--cpu-prof DIR]
 *
 * Phases: start-up (mizzend reads the directory and serves), initial connection of every proxy
 * until each ACKed CDS, EDS, LDS and RDS, full pushes (a mesh config edit: every type to every
 * proxy) until every proxy ACKed, endpoint changes (one WorkloadEntry moved: incremental EDS)
 * until every affected proxy ACKed, and mizzend's RSS and CPU seconds along the way.
 */
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { generate, type MeshSize, meshFile, serviceFile } from './generate.ts';
import type { LoadCommand, LoadReply } from './load.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const BIN = path.join(here, '..', '..', 'bin', 'mizzend.js');

const { values: args } = parseArgs({
  options: {
    services: { type: 'string', default: '1000' },
    endpoints: { type: 'string', default: '10' },
    namespaces: { type: 'string', default: '10' },
    proxies: { type: 'string', default: '2000' },
    'per-channel': { type: 'string', default: '50' },
    rounds: { type: 'string', default: '10' },
    'full-rounds': { type: 'string', default: '3' },
    // Endpoint changes made while a full push is still under way (then that push completes).
    'busy-rounds': { type: 'string', default: '2' },
    delta: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    'max-rss-gb': { type: 'string', default: '12' },
    // Writes a V8 CPU profile of mizzend (whole run) into this directory.
    'cpu-prof': { type: 'string' },
  },
});
const size: MeshSize = {
  services: Number(args.services),
  endpointsPerService: Number(args.endpoints),
  namespaces: Number(args.namespaces),
};
const PROXIES = Number(args.proxies);

function get(port: number, p: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: p, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => {
          body += c;
        });
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
}

function metric(text: string, name: string): number {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : Number.NaN;
}

async function processFigures(port: number, pid: number) {
  const text = await get(port, '/metrics');
  let peak = Number.NaN;
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    peak = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1]) * 1024;
  } catch {
    // not Linux
  }
  return {
    rssMb: metric(text, 'process_resident_memory_bytes') / 2 ** 20,
    peakRssMb: peak / 2 ** 20,
    cpuSeconds: metric(text, 'process_cpu_seconds_total'),
    heapMb: metric(text, 'nodejs_heap_size_used_bytes') / 2 ** 20,
    heapTotalMb: metric(text, 'nodejs_heap_size_total_bytes') / 2 ** 20,
    externalMb: metric(text, 'nodejs_external_memory_bytes') / 2 ** 20,
  };
}

/** Where the memory is: V8 heap used / committed, and memory outside it (Buffers). */
function memory(f: Awaited<ReturnType<typeof processFigures>>): string {
  return `heap used ${fmt(f.heapMb)} MB of ${fmt(f.heapTotalMb)} MB, external ${fmt(f.externalMb)} MB`;
}

interface PushStatus {
  version: string;
  full: boolean;
  at: number;
  reasons: string;
}

/** Polls /debug/push_status until a push newer than `previous` shows up (a benchmark may poll). */
async function nextPush(
  port: number,
  previous: string | undefined,
  timeoutMs = 120_000,
): Promise<PushStatus> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = JSON.parse(await get(port, '/debug/push_status')) as PushStatus | null;
    if (s && s.version !== previous) return s;
    if (Date.now() > deadline) throw new Error('no push seen');
    await new Promise((r) => setTimeout(r, 10));
  }
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');

async function writeAtomic(file: string, text: string): Promise<void> {
  await writeFile(`${file}.tmp`, text);
  await rename(`${file}.tmp`, file);
}

async function main(): Promise<void> {
  const work = await mkdtemp(path.join(tmpdir(), 'mizzen-bench-cp-'));
  const configDir = path.join(work, 'config');
  const meshPath = path.join(work, 'mesh.yaml');
  const portFile = path.join(work, 'ports.json');
  console.log(
    `mesh: ${size.services} services x 2 ports, ${size.services * size.endpointsPerService} endpoints, ` +
      `${Math.ceil(size.services / 10)} VirtualServices + DestinationRules; ${PROXIES} proxies ` +
      `(${args.delta ? 'delta' : 'SotW'} ADS, ${args['per-channel']} streams per connection)`,
  );
  await generate(configDir, meshPath, size);

  let mizzend: ChildProcess | undefined;
  let load: ChildProcess | undefined;
  try {
    const t0 = Date.now();
    mizzend = spawn(
      process.execPath,
      [
        ...(args['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir', path.resolve(args['cpu-prof'])] : []),
        BIN,
        '--config-dir',
        configDir,
        '--mesh-config',
        meshPath,
        '--grpc-port',
        '0',
        '--monitoring-port',
        '0',
        '--port-file',
        portFile,
        '--log-level',
        'warn',
      ],
      { stdio: ['ignore', 'inherit', 'inherit'] },
    );
    const mizzendExit = new Promise<number | null>((resolve) => mizzend?.on('exit', (c) => resolve(c)));
    let ports: { grpc: number; monitoring: number; pid: number } | undefined;
    while (!ports) {
      ports = await readFile(portFile, 'utf8').then(
        (t) => JSON.parse(t),
        () => undefined,
      );
      if (!ports) await new Promise((r) => setTimeout(r, 20));
    }
    const startupMs = Date.now() - t0;
    // A guard for the machine: the bench stops when mizzend's RSS passes --max-rss-gb.
    const maxRss = Number(args['max-rss-gb']) * 2 ** 30;
    const pid = ports.pid;
    const guard = setInterval(() => {
      readFile(`/proc/${pid}/status`, 'utf8').then(
        (status) => {
          const rss = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1]) * 1024;
          // No VmRSS (NaN) while the process is exiting: not a reason to stop.
          if (!(rss > maxRss)) return;
          console.log(
            `mizzend RSS ${fmt(rss / 2 ** 20)} MB passed --max-rss-gb ${args['max-rss-gb']}; stopping the bench`,
          );
          load?.kill('SIGKILL');
          mizzend?.kill('SIGKILL');
          process.exit(2);
        },
        () => {},
      );
    }, 2000);
    guard.unref();
    const afterStart = await processFigures(ports.monitoring, ports.pid);
    console.log(
      `start-up: ${startupMs} ms to serving; RSS ${fmt(afterStart.rssMb)} MB (${memory(afterStart)}), ` +
        `CPU ${fmt(afterStart.cpuSeconds, 2)} s`,
    );

    // ---- the load process ----
    load = fork(path.join(here, 'load.ts'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const replies: LoadReply[] = [];
    const waiters: ((r: LoadReply) => void)[] = [];
    load.on('message', (m: LoadReply) => {
      if (m.type === 'error') {
        console.error(`load: ${m.message}`);
        return;
      }
      const w = waiters.shift();
      if (w) w(m);
      else replies.push(m);
    });
    const reply = () =>
      new Promise<LoadReply>((resolve) => {
        const r = replies.shift();
        if (r) resolve(r);
        else waiters.push(resolve);
      });
    const command = (c: LoadCommand) => load?.send(c);

    const connectStart = Date.now();
    command({
      type: 'start',
      address: `127.0.0.1:${ports.grpc}`,
      proxies: PROXIES,
      perChannel: Number(args['per-channel']),
      delta: args.delta ?? false,
      namespaces: size.namespaces,
    });
    const synced = (await reply()) as Extract<LoadReply, { type: 'synced' }>;
    const afterConnect = await processFigures(ports.monitoring, ports.pid);
    console.log(
      `initial sync: ${PROXIES} proxies connected and ACKed CDS+EDS+LDS+RDS in ${Date.now() - connectStart} ms ` +
        `(${synced.responses} responses, ${fmt(synced.bytes / 2 ** 20)} MB); RSS ${fmt(afterConnect.rssMb)} MB ` +
        `(peak ${fmt(afterConnect.peakRssMb)} MB; ${memory(afterConnect)}), CPU ${fmt(afterConnect.cpuSeconds, 2)} s`,
    );

    let id = 0;
    let lastVersion = (JSON.parse(await get(ports.monitoring, '/debug/push_status')) as PushStatus | null)
      ?.version;

    // ---- full pushes: a mesh config edit is a global push of every type to every proxy ----
    const fullRounds = Number(args['full-rounds']);
    const fullTimes: number[] = [];
    for (let round = 1; round <= fullRounds; round++) {
      const cpuBefore = (await processFigures(ports.monitoring, ports.pid)).cpuSeconds;
      const since = Date.now();
      await writeAtomic(meshPath, meshFile(round));
      const push = await nextPush(ports.monitoring, lastVersion);
      lastVersion = push.version;
      command({ type: 'await', id: ++id, version: push.version, since, quietMs: 500, timeoutMs: 300_000 });
      const r = (await reply()) as Extract<LoadReply, { type: 'acked' }>;
      const sorted = [...r.latencies].sort((a, b) => a - b);
      const all = sorted[sorted.length - 1];
      const fromPush = all - (push.at - since);
      const cpuAfter = (await processFigures(ports.monitoring, ports.pid)).cpuSeconds;
      fullTimes.push(fromPush);
      console.log(
        `full push ${round}: all ${r.done}/${r.affected} proxies ACKed ${fmt(all)} ms after the edit ` +
          `(${fmt(fromPush)} ms after the push started; debounce and file watch ${fmt(push.at - since)} ms); ` +
          `p50 ${fmt(percentile(sorted, 50))} ms; mizzend CPU ${fmt(cpuAfter - cpuBefore, 2)} s${r.timedOut ? '; TIMED OUT' : ''}`,
      );
    }

    // ---- endpoint changes: one WorkloadEntry moves; incremental EDS to affected proxies ----
    const rounds = Number(args.rounds);
    const fromEdit: number[] = [];
    const fromPushAll: number[] = [];
    let affectedTotal = 0;
    for (let round = 1; round <= rounds; round++) {
      const i = (round * 37) % size.services;
      const since = Date.now();
      await writeAtomic(path.join(configDir, `svc-${i}.yaml`), serviceFile(i, size, round));
      const push = await nextPush(ports.monitoring, lastVersion);
      lastVersion = push.version;
      command({
        type: 'await',
        id: ++id,
        version: push.version,
        typeUrl: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
        clusterPrefix: `|svc-${i}.ns-`,
        since,
        quietMs: 300,
        timeoutMs: 120_000,
      });
      const r = (await reply()) as Extract<LoadReply, { type: 'acked' }>;
      affectedTotal += r.affected;
      for (const l of r.latencies) {
        fromEdit.push(l);
        fromPushAll.push(l - (push.at - since));
      }
      if (push.full) console.log(`  (round ${round}: the change came as a full push: ${push.reasons})`);
      if (r.timedOut) console.log(`  (round ${round}: only ${r.done}/${r.affected} proxies ACKed in time)`);
    }
    fromEdit.sort((a, b) => a - b);
    fromPushAll.sort((a, b) => a - b);
    console.log(
      `endpoint change (${rounds} rounds, ${affectedTotal} proxy ACKs): from push start p50 ${fmt(percentile(fromPushAll, 50))} ms, ` +
        `p99 ${fmt(percentile(fromPushAll, 99))} ms, max ${fmt(fromPushAll[fromPushAll.length - 1])} ms; ` +
        `from the file edit (adds the directory watch and PILOT_DEBOUNCE_AFTER) p50 ${fmt(percentile(fromEdit, 50))} ms, ` +
        `p99 ${fmt(percentile(fromEdit, 99))} ms`,
    );

    // ---- endpoint changes during a full push: must not wait behind it ----
    const busyRounds = Number(args['busy-rounds']);
    const busyFromPush: number[] = [];
    let busyAffected = 0;
    for (let round = 1; round <= busyRounds; round++) {
      const fullSince = Date.now();
      await writeAtomic(meshPath, meshFile(fullRounds + round));
      const full = await nextPush(ports.monitoring, lastVersion);
      lastVersion = full.version;
      const i = (round * 53 + 11) % size.services;
      const since = Date.now();
      await writeAtomic(path.join(configDir, `svc-${i}.yaml`), serviceFile(i, size, 1000 + round));
      const push = await nextPush(ports.monitoring, lastVersion);
      lastVersion = push.version;
      command({
        type: 'await',
        id: ++id,
        version: push.version,
        typeUrl: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
        clusterPrefix: `|svc-${i}.ns-`,
        since,
        quietMs: 0,
        timeoutMs: 300_000,
        first: true,
      });
      const r = (await reply()) as Extract<LoadReply, { type: 'acked' }>;
      busyAffected += r.affected;
      for (const l of r.latencies) busyFromPush.push(l - (push.at - since));
      // Let the full push finish before the next round (or the end figures).
      command({
        type: 'await',
        id: ++id,
        version: full.version,
        since: fullSince,
        quietMs: 500,
        timeoutMs: 300_000,
      });
      const f = (await reply()) as Extract<LoadReply, { type: 'acked' }>;
      const fullMs = Math.max(...f.latencies) - (full.at - fullSince);
      console.log(
        `  busy round ${round}: endpoint change ${push.full ? '(came as a full push) ' : ''}${fmt(push.at - full.at)} ms ` +
          `into a full push that took ${fmt(fullMs)} ms; ${r.done}/${r.affected} affected proxies had it, ` +
          `max ${fmt(Math.max(...r.latencies) - (push.at - since))} ms from its push start`,
      );
    }
    if (busyRounds > 0) {
      busyFromPush.sort((a, b) => a - b);
      console.log(
        `endpoint change during a full push (${busyRounds} rounds, ${busyAffected} proxies): until each affected ` +
          `proxy ACKed EDS with the change, from push start p50 ${fmt(percentile(busyFromPush, 50))} ms, ` +
          `p99 ${fmt(percentile(busyFromPush, 99))} ms, max ${fmt(busyFromPush[busyFromPush.length - 1])} ms`,
      );
    }

    const end = await processFigures(ports.monitoring, ports.pid);
    console.log(
      `mizzend at the end: RSS ${fmt(end.rssMb)} MB (peak ${fmt(end.peakRssMb)} MB), ${memory(end)}, ` +
        `CPU ${fmt(end.cpuSeconds, 2)} s in total`,
    );
    console.log(
      `summary: full push to all proxies ${fmt(Math.max(...fullTimes))} ms (target < 2000), endpoint p99 ` +
        `${fmt(percentile(fromPushAll, 99))} ms from push start (target < 200), peak RSS ${fmt(end.peakRssMb)} MB (target < 500)`,
    );

    command({ type: 'stop' });
    const stopAt = Date.now();
    mizzend.kill('SIGTERM');
    const code = await mizzendExit;
    console.log(`shutdown: mizzend exited ${code} ${Date.now() - stopAt} ms after SIGTERM`);
  } finally {
    load?.kill('SIGKILL');
    if (mizzend && mizzend.exitCode === null) mizzend.kill('SIGKILL');
    if (!args.keep) await rm(work, { recursive: true, force: true });
    else console.log(`kept ${work}`);
  }
}

await main();
