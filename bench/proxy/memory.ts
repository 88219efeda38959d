/**
 * What mizzen-proxy's resident memory is made of.
 *
 * Default mode: loads the proxy's parts one after another in this process, the way
 * bin/mizzen-proxy.js does, and prints RSS, V8 heap (used / committed) and external memory after
 * a full GC at each step. Then, as peers measured in the same run, what the proxy no longer
 * loads: @grpc/grpc-js and the .proto text parse through @grpc/proto-loader. Run it twice: the
 * first run fills Node's compile cache and the proto descriptor cache, the second shows a proxy
 * started warm.
 *
 * `--process`: starts bin/mizzen-proxy.js against mizzend's AdsServer serving the benchmark's
 * config (bench/proxy/xds-server.ts; no traffic) and prints the proxy's VmRSS after a full GC
 * once its listeners are ACKed and again after `--idle-seconds`; rounds interleave the proxies.
 *
 * Usage: node --expose-gc bench/proxy/memory.ts [--cold]
 *        node bench/proxy/memory.ts --process [--idle-seconds N] [--rounds N] [--peer-bin <bin> ...]
 *   --cold: no compile cache (and, in process, no proto descriptor cache)
 *   --peer-bin: another bin/mizzen-proxy.js (an older checkout) measured in the same rounds
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { enableCompileCache } from 'node:module';
import net from 'node:net';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    cold: { type: 'boolean', default: false },
    process: { type: 'boolean', default: false },
    'idle-seconds': { type: 'string', default: '10' },
    /** A peer to measure the same way (e.g. bin/mizzen-proxy.js of an older checkout). */
    'peer-bin': { type: 'string', multiple: true, default: [] },
    rounds: { type: 'string', default: '3' },
  },
});

const root = join(dirname(new URL(import.meta.url).pathname), '..', '..');

async function inProcess(): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) {
    console.error('run with --expose-gc');
    process.exit(2);
  }
  if (!values.cold) enableCompileCache();
  const rows: Record<string, string>[] = [];
  let last = 0;
  const step = (what: string): void => {
    gc();
    const m = process.memoryUsage();
    const mb = (n: number) => (n / 1048576).toFixed(1);
    rows.push({
      step: what,
      'RSS MB': mb(m.rss),
      'Δ RSS': mb(m.rss - last),
      'heap used': mb(m.heapUsed),
      'heap committed': mb(m.heapTotal),
      external: mb(m.external),
    });
    last = m.rss;
  };

  step('node + this script');
  await import('../../src/proxy/xds/client.ts');
  step('+ xDS client (node:http2 gRPC, src/proxy/xds)');
  const protos = await import('../../src/lib/xds/protos.ts');
  if (!values.cold) protos.enableEnvoyProtoCache();
  protos.envoyProtos();
  step(`+ Envoy protos (${values.cold ? 'parsed by proto-loader' : 'descriptor cache, protobufjs light'})`);
  const { ProxyServer } = await import('../../src/proxy/proxy-server.ts');
  step('+ every proxy module imported');
  const { loadBootstrap, parseBootstrapArgs } = await import('../../src/agent/bootstrap.ts');
  const bootstrap = loadBootstrap({
    flags: parseBootstrapArgs([
      'sidecar',
      '--ip',
      '127.0.0.9',
      '--pod-name',
      'm-1',
      '--namespace',
      'default',
    ]),
    env: {},
  });
  const p = new ProxyServer({ bootstrap, adminPort: 0, statusPort: 0 });
  step('+ ProxyServer constructed (no config)');
  await p.close();
  // Peers, same run: what the proxy used to load on top.
  await import('@grpc/grpc-js');
  step('peer: + @grpc/grpc-js (no longer loaded)');
  protos.parseEnvoyProtos();
  step('peer: + proto-loader parsing the 42 .proto files (no longer done)');
  console.table(rows);
}

function vmRssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

async function freePort(): Promise<number> {
  const s = net.createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

/**
 * Preloaded into the measured proxy: a full GC on request over the IPC channel, so every
 * sample is "after GC" without waiting for V8 to choose its moment.
 */
const GC_ON_REQUEST = `data:text/javascript,${encodeURIComponent(
  "process.on('message', (m) => { if (m === 'mizzen-memory:gc') { globalThis.gc(); process.send({ gcDone: true, stripper: process.moduleLoadList.some((x) => x.includes('amaro')) }); } }); process.channel?.unref();",
)}`;

interface Sample {
  /** From spawn to the listeners' ACK. */
  readonly startMs: number;
  readonly atAck: number;
  readonly idle: number;
  /** Node's TypeScript stripper was loaded (a compile cache miss: a source changed). */
  readonly stripper: boolean;
}

/** One proxy process against `cp`: VmRSS after a GC once its listeners are ACKed, then idle. */
async function measureProcess(
  bin: string,
  cp: import('./xds-server.ts').BenchControlPlane,
  world: () => import('./xds-server.ts').World,
): Promise<Sample> {
  const lds = cp.nextOutcome('type.googleapis.com/envoy.config.listener.v3.Listener');
  cp.set(world());
  const env = { ...process.env };
  if (values.cold) env.NODE_DISABLE_COMPILE_CACHE = '1';
  const t0 = performance.now();
  const child = spawn(
    process.execPath,
    [
      '--expose-gc',
      '--import',
      GC_ON_REQUEST,
      bin,
      ...['proxy', 'sidecar', '--discovery-address', `127.0.0.1:${cp.port}`],
      ...['--admin-port', '0', '--status-port', '0', '--prometheus-port', '0'],
      ...['--interception-mode', 'NONE', '--pod-name', 'memory-1', '--namespace', 'default'],
      ...['--ip', '127.0.0.9', '--log-level', 'warn', '--drain-duration', '1s'],
    ],
    { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env },
  );
  let stripper = false;
  const afterGc = async (): Promise<number> => {
    const done = new Promise<void>((resolve) => {
      const on = (m: { gcDone?: boolean; stripper?: boolean }) => {
        if (!m?.gcDone) return;
        stripper ||= m.stripper === true;
        child.off('message', on);
        resolve();
      };
      child.on('message', on);
    });
    child.send('mizzen-memory:gc');
    await done;
    return vmRssMb(child.pid as number);
  };
  try {
    const outcome = await lds;
    if (!outcome.ok) throw new Error(`${bin}: the proxy rejected the listeners: ${outcome.detail}`);
    const startMs = performance.now() - t0;
    const atAck = await afterGc();
    await new Promise((r) => setTimeout(r, Number(values['idle-seconds']) * 1000));
    return { startMs, atAck, idle: await afterGc(), stripper };
  } finally {
    child.kill('SIGTERM');
    if (child.exitCode === null) await once(child, 'exit');
  }
}

async function realProcess(): Promise<void> {
  const { BenchControlPlane, benchWorld } = await import('./xds-server.ts');
  const { setLogLevel } = await import('../../src/lib/log.ts');
  setLogLevel('warn');
  const cp = new BenchControlPlane();
  await cp.listen();
  const ports = {
    http: await freePort(),
    tcp: await freePort(),
    grpc: await freePort(),
    upstreamHttp: await freePort(),
    upstreamGrpc: await freePort(),
  };
  const world = () => benchWorld(ports, { telemetry: true, grpc: true });
  const bins = [join(root, 'bin', 'mizzen-proxy.js'), ...(values['peer-bin'] ?? [])];
  const rounds = Number(values.rounds);
  const results = new Map<string, Sample[]>(bins.map((b) => [b, []]));
  try {
    // Interleaved rounds: every binary sees the same machine load.
    for (let r = 0; r < rounds; r++) {
      for (const bin of bins) results.get(bin)?.push(await measureProcess(bin, cp, world));
    }
  } finally {
    await cp.close();
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
  console.table(
    bins.map((bin) => {
      // Runs that loaded the TypeScript stripper (compile cache miss) measure start-up, not the proxy.
      const all = results.get(bin) ?? [];
      const warm = all.filter((x) => !x.stripper);
      const runs = warm.length > 0 ? warm : all;
      return {
        proxy: bin.replace(/\/bin\/mizzen-proxy\.js$/, ''),
        'spawn → LDS ACK (median ms)': median(runs.map((x) => x.startMs)).toFixed(0),
        'after GC, at ACK (median MB)': median(runs.map((x) => x.atAck)).toFixed(1),
        [`after GC, idle ${values['idle-seconds']} s (median MB)`]: median(runs.map((x) => x.idle)).toFixed(
          1,
        ),
        'runs (* = TypeScript stripper loaded, left out)': all
          .map((x) => `${x.atAck.toFixed(0)}→${x.idle.toFixed(0)}${x.stripper ? '*' : ''}`)
          .join(' '),
      };
    }),
  );
}

if (values.process) await realProcess();
else await inProcess();
