/**
 * The no-root demo: mizzend on the configuration directory, every sample workload with its own
 * `mizzen-proxy` sidecar (no capture: the listeners the Sidecars declare are bound for real on
 * each workload's loopback address), and a `router` proxy per Gateway. Waits until mizzend
 * reports every proxy SYNCED, prints what to try, and stops everything on abort.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CliIo } from '../io.ts';
import { type DemoInfo, instructions } from './instructions.ts';
import { checkPorts, type PortClaim } from './ports.ts';
import {
  type SpawnedProcess,
  Supervised,
  spawnNode,
  startApp,
  stopProcess,
  waitForPortFile,
} from './processes.ts';
import { type DemoTopology, egressEnv, loadTopology, TopologyError } from './topology.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const MIZZEND_BIN = join(ROOT, 'bin', 'mizzend.js');
export const PROXY_BIN = join(ROOT, 'bin', 'mizzen-proxy.js');
/** Give up on a start-up step after this long (a busy machine is slow; an idle one takes seconds). */
const START_TIMEOUT_MS = 120_000;

export interface DemoOptions {
  readonly configDir: string;
  readonly grpcPort: number;
  readonly monitoringPort: number;
  /** Every proxy's admin port, on its own address (0: any free port). */
  readonly proxyAdminPort: number;
  /** Every proxy's readiness port, on its own address (0: any free port). */
  readonly proxyStatusPort: number;
  /** Every proxy's Istio metrics listener (Istio's 15090), on its own address (0: any free port). */
  readonly proxyPrometheusPort: number;
  /** Show each component's info-level log lines too. */
  readonly verbose: boolean;
  readonly io: CliIo;
  /** Aborting stops the demo. */
  readonly signal: AbortSignal;
}

export const DemoExit = { OK: 0, FAILED: 1, CONFIG: 2, PORT_TAKEN: 3 } as const;

interface ProxyPorts {
  readonly admin: number;
  readonly status: number;
  readonly pid: number;
}

interface ProxyInfo {
  pid: number | undefined;
  admin: number;
  status: number;
}

function elapsed(since: number): string {
  return `${((Date.now() - since) / 1000).toFixed(1)} s`;
}

export async function runDemo(opts: DemoOptions): Promise<number> {
  const started = Date.now();
  const { io } = opts;
  const say = (line: string) => io.stdout(`${line}\n`);
  const warn = (line: string) => io.stderr(`${line}\n`);
  const where = relative(process.cwd(), opts.configDir) || '.';

  for (const bin of [MIZZEND_BIN, PROXY_BIN]) {
    if (!existsSync(bin)) {
      warn(
        `mizzenctl demo: ${relative(process.cwd(), bin)} is missing; run the demo from a complete Mizzen checkout (after npm ci)`,
      );
      return DemoExit.FAILED;
    }
  }
  let topology: DemoTopology;
  try {
    topology = loadTopology(opts.configDir);
  } catch (err) {
    if (err instanceof TopologyError) {
      warn(`mizzenctl demo: ${err.message}`);
      return DemoExit.CONFIG;
    }
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      warn(`mizzenctl demo: the configuration directory ${where} does not exist (--config-dir)`);
      return DemoExit.CONFIG;
    }
    throw err;
  }
  if (topology.workloads.length === 0) {
    warn(
      `mizzenctl demo: ${where} has no WorkloadEntry whose "app" label names a sample workload (productpage, details, reviews, ratings, tcp-echo, ws-echo); nothing to run`,
    );
    return DemoExit.CONFIG;
  }

  // Every fixed address, checked before anything starts.
  const claims: PortClaim[] = [
    { host: '127.0.0.1', port: opts.grpcPort, purpose: 'mizzend xDS, --grpc-port' },
    { host: '127.0.0.1', port: opts.monitoringPort, purpose: 'mizzend debug, --monitoring-port' },
  ];
  for (const w of topology.workloads) {
    const src = w.sidecarSource;
    claims.push({ ...w.appEndpoint, purpose: `${w.name} application (defaultEndpoint in ${src})` });
    claims.push({ ...w.inbound, purpose: `${w.name} sidecar inbound listener (${src})` });
    const egressPorts = new Set(w.egress.map((e) => `${e.host}:${e.port}`));
    for (const e of egressPorts) {
      const [host, port] = e.split(':');
      claims.push({ host, port: Number(port), purpose: `${w.name} sidecar egress listener (${src})` });
    }
    claims.push({
      host: w.ip,
      port: opts.proxyAdminPort,
      purpose: `${w.name} sidecar admin, --proxy-admin-port`,
    });
    claims.push({
      host: w.ip,
      port: opts.proxyStatusPort,
      purpose: `${w.name} sidecar status, --proxy-status-port`,
    });
    claims.push({
      host: w.ip,
      port: opts.proxyPrometheusPort,
      purpose: `${w.name} sidecar metrics, --proxy-prometheus-port`,
    });
  }
  for (const g of topology.gateways) {
    for (const s of g.servers)
      claims.push({ host: s.host, port: s.port, purpose: `gateway ${g.name} listener (${g.source})` });
    claims.push({
      host: g.ip,
      port: opts.proxyAdminPort,
      purpose: `gateway ${g.name} admin, --proxy-admin-port`,
    });
    claims.push({
      host: g.ip,
      port: opts.proxyStatusPort,
      purpose: `gateway ${g.name} status, --proxy-status-port`,
    });
    claims.push({
      host: g.ip,
      port: opts.proxyPrometheusPort,
      purpose: `gateway ${g.name} metrics, --proxy-prometheus-port`,
    });
  }
  const taken = await checkPorts(claims);
  if (taken.length > 0) {
    for (const t of taken) warn(`mizzenctl demo: port taken: ${t}`);
    warn(
      'mizzenctl demo: nothing was started. Stop what holds the port, or change the address in the configuration or by flag.',
    );
    return DemoExit.PORT_TAKEN;
  }

  const work = mkdtempSync(join(tmpdir(), 'mizzen-demo-'));
  const components: Supervised<{ pid: number | undefined }>[] = [];
  let mizzend: SpawnedProcess | undefined;
  const prefixed = (name: string) => (line: string) => {
    if (opts.verbose || /\b(warn|error|fatal)\b|WARN|ERROR|Error/.test(line)) warn(`[${name}] ${line}`);
  };
  /** Proxies still coming up: stopping must not wait for their start to finish first. */
  const booting = new Set<SpawnedProcess>();
  const stopAll = async () => {
    for (const proc of booting) void stopProcess(proc);
    await Promise.all(components.map((c) => c.stop()));
    if (mizzend) await stopProcess(mizzend);
  };
  const aborted = new Promise<'abort'>((resolve) => {
    if (opts.signal.aborted) resolve('abort');
    opts.signal.addEventListener('abort', () => resolve('abort'), { once: true });
  });

  try {
    say(
      `Starting the Mizzen demo from ${where} (${topology.workloads.length} workloads, ${topology.workloads.length + topology.gateways.length} proxies)`,
    );
    // --- control plane ---
    const cpFile = join(work, 'mizzend.json');
    mizzend = spawnNode(
      MIZZEND_BIN,
      [
        '--config-dir',
        opts.configDir,
        '--grpc-port',
        String(opts.grpcPort),
        '--monitoring-port',
        String(opts.monitoringPort),
        '--port-file',
        cpFile,
        '--log-level',
        'info',
      ],
      // mizzend's info lines are how a live edit shows (validated, rejected, pushed).
      (line) => warn(`[mizzend] ${line}`),
    );
    // --- applications: in parallel, and alongside mizzend (they do not need it) ---
    const appStarts = topology.workloads.map(async (w) => {
      const sup = new Supervised(
        `${w.name} app`,
        () =>
          startApp({
            name: w.app,
            version: w.version,
            host: w.appEndpoint.host,
            port: w.appEndpoint.port,
            env: { POD_NAME: w.name, ...egressEnv(w) },
            onOutput: (line, stream) => {
              if (stream === 'stderr') prefixed(`${w.name} app`)(line);
            },
          }),
        say,
      );
      components.push(sup);
      const info = await sup.start();
      say(
        `  ✓ ${`${w.name} app`.padEnd(20)} ${w.appEndpoint.host}:${w.appEndpoint.port}  (pid ${info.pid}, ${elapsed(started)})`,
      );
    });
    // Awaited below; a return before that must not leave their failures unhandled.
    for (const p of appStarts) p.catch(() => {});
    const cp = await Promise.race([
      waitForPortFile<{ grpc: number; monitoring: number }>(cpFile, mizzend, START_TIMEOUT_MS),
      aborted,
    ]);
    if (cp === 'abort') return DemoExit.OK;
    if (!cp) {
      warn('mizzenctl demo: mizzend did not start (its error is above).');
      return DemoExit.FAILED;
    }
    say(
      `  ✓ mizzend              xDS 127.0.0.1:${cp.grpc}, debug http://127.0.0.1:${cp.monitoring}  (pid ${mizzend.child.pid}, ${elapsed(started)})`,
    );
    const mizzendGone = mizzend.exited.then(() => 'mizzend' as const);

    // --- proxies (in parallel) ---
    const proxies = new Map<string, ProxyInfo>();
    const proxyIds: string[] = [];
    const startProxy = (
      name: string,
      kind: 'sidecar' | 'router',
      identity: string[],
      ip: string,
    ): Supervised<{ pid: number | undefined }> => {
      let n = 0;
      const sup = new Supervised<{ pid: number | undefined }>(
        `${name} ${kind === 'sidecar' ? 'sidecar' : 'gateway'}`,
        async () => {
          const portFile = join(work, `${name}.${n++}.json`);
          const proc = spawnNode(
            PROXY_BIN,
            [
              'proxy',
              kind,
              ...identity,
              '--discovery-address',
              `127.0.0.1:${cp.grpc}`,
              '--admin-address',
              ip,
              '--admin-port',
              String(opts.proxyAdminPort),
              '--status-address',
              ip,
              '--status-port',
              String(opts.proxyStatusPort),
              // Istio binds its metrics listener on the wildcard; here every proxy shares one
              // loopback, so each binds its own address.
              '--prometheus-address',
              ip,
              '--prometheus-port',
              String(opts.proxyPrometheusPort),
              // On a busy machine mizzend can take a while; the demo waits for SYNCED anyway.
              '--initial-fetch-timeout',
              `${START_TIMEOUT_MS / 1000}s`,
              '--drain-duration',
              '1s',
              '--port-file',
              portFile,
              '--log-level',
              opts.verbose ? 'info' : 'warn',
            ],
            prefixed(`${name} ${kind}`),
          );
          booting.add(proc);
          const ports = await waitForPortFile<ProxyPorts>(portFile, proc, START_TIMEOUT_MS).finally(() =>
            booting.delete(proc),
          );
          rmSync(portFile, { force: true });
          if (!ports) {
            await stopProcess(proc);
            throw new Error(`the ${kind} proxy for ${name} did not become ready:\n${proc.tail().join('\n')}`);
          }
          const info: ProxyInfo = { pid: proc.child.pid, admin: ports.admin, status: ports.status };
          proxies.set(name, info);
          return { info, exited: proc.exited, stop: () => stopProcess(proc) };
        },
        say,
      );
      components.unshift(sup);
      return sup;
    };
    const proxyStarts: Promise<void>[] = [];
    for (const w of topology.workloads) {
      proxyIds.push(`${w.name}.${w.namespace}`);
      const identity = [
        '--ip',
        w.ip,
        '--pod-name',
        w.name,
        '--namespace',
        w.namespace,
        ...Object.entries(w.labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]),
        ...(w.serviceAccount ? ['--service-account', w.serviceAccount] : []),
        '--interception-mode',
        'NONE',
      ];
      const sup = startProxy(w.name, 'sidecar', identity, w.ip);
      proxyStarts.push(
        sup.start().then((info) => {
          say(
            `  ✓ ${`${w.name} sidecar`.padEnd(20)} inbound ${w.inbound.host}:${w.inbound.port}, admin http://${w.ip}:${proxies.get(w.name)?.admin}  (pid ${info.pid}, ${elapsed(started)})`,
          );
        }),
      );
    }
    for (const g of topology.gateways) {
      proxyIds.push(`${g.name}.${g.namespace}`);
      const identity = [
        '--ip',
        g.ip,
        '--pod-name',
        g.name,
        '--namespace',
        g.namespace,
        ...Object.entries(g.labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]),
      ];
      const sup = startProxy(g.name, 'router', identity, g.ip);
      proxyStarts.push(
        sup.start().then((info) => {
          const listens = g.servers.map((s) => `${s.host}:${s.port} ${s.protocol}`).join(', ');
          say(
            `  ✓ ${g.name.padEnd(20)} gateway ${listens}, admin http://${g.ip}:${proxies.get(g.name)?.admin}  (pid ${info.pid}, ${elapsed(started)})`,
          );
        }),
      );
    }
    const appsUp = await Promise.race([Promise.allSettled(appStarts), aborted, mizzendGone]);
    if (appsUp === 'abort') return DemoExit.OK;
    if (appsUp === 'mizzend') {
      warn('mizzenctl demo: mizzend exited during start-up (its error is above).');
      return DemoExit.FAILED;
    }
    const failedApp = appsUp.find((r) => r.status === 'rejected');
    if (failedApp) {
      warn(
        `mizzenctl demo: a workload did not start: ${(failedApp as PromiseRejectedResult).reason?.message ?? failedApp}`,
      );
      return DemoExit.FAILED;
    }

    for (const p of proxyStarts) p.catch(() => {});
    const proxiesUp = await Promise.race([Promise.allSettled(proxyStarts), aborted, mizzendGone]);
    if (proxiesUp === 'abort') return DemoExit.OK;
    if (proxiesUp === 'mizzend') {
      warn('mizzenctl demo: mizzend exited during start-up (its error is above).');
      return DemoExit.FAILED;
    }
    const failedProxy = proxiesUp.find((r) => r.status === 'rejected');
    if (failedProxy) {
      warn(`mizzenctl demo: ${(failedProxy as PromiseRejectedResult).reason?.message ?? failedProxy}`);
      return DemoExit.FAILED;
    }

    // --- every proxy SYNCED ---
    const monitoring = `http://127.0.0.1:${cp.monitoring}`;
    const synced = await Promise.race([
      waitForSync(monitoring, proxyIds, started + START_TIMEOUT_MS),
      aborted,
      mizzendGone,
    ]);
    if (synced === 'abort') return DemoExit.OK;
    if (synced === 'mizzend') {
      warn('mizzenctl demo: mizzend exited during start-up (its error is above).');
      return DemoExit.FAILED;
    }
    if (synced !== true) {
      warn(`mizzenctl demo: the proxies did not all reach SYNCED: ${synced}`);
      return DemoExit.FAILED;
    }
    say(`  ✓ all ${proxyIds.length} proxies SYNCED with mizzend (CDS, LDS, EDS, RDS)  (${elapsed(started)})`);
    say('');
    const info: DemoInfo = {
      configDir: where,
      monitoring,
      grpcPort: cp.grpc,
      topology,
      proxies: (name) => proxies.get(name),
      prometheusPort: opts.proxyPrometheusPort,
      startSeconds: (Date.now() - started) / 1000,
    };
    for (const line of instructions(info)) say(line);

    const ended = await Promise.race([aborted, mizzendGone]);
    if (ended === 'mizzend') {
      warn('mizzenctl demo: mizzend exited unexpectedly (its error is above); stopping the demo.');
      return DemoExit.FAILED;
    }
    return DemoExit.OK;
  } finally {
    say('Stopping ...');
    await stopAll();
    rmSync(work, { recursive: true, force: true });
    say('Stopped; nothing left running.');
  }
}

interface SynczEntry {
  readonly proxy: string;
  readonly types: readonly { type: string; state: string; last_nack?: { message: string } }[];
}

/** Polls mizzend's /debug/syncz until every proxy has ACKed everything sent; true or why not. */
async function waitForSync(
  monitoring: string,
  proxyIds: readonly string[],
  deadline: number,
): Promise<true | string> {
  let last = 'no answer from /debug/syncz';
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`${monitoring}/debug/syncz`);
      const entries = (await res.json()) as SynczEntry[];
      const pending: string[] = [];
      for (const id of proxyIds) {
        const e = entries.find((x) => x.proxy === id);
        if (!e) {
          pending.push(`${id} not connected`);
          continue;
        }
        for (const t of e.types) {
          if (t.state === 'ERROR')
            return `${id} rejected (NACKed) its ${t.type}: ${t.last_nack?.message ?? ''}`;
        }
        const notSynced = e.types.filter((t) => t.state !== 'SYNCED').map((t) => `${t.type} ${t.state}`);
        const types = new Set(e.types.map((t) => t.type));
        for (const need of ['CDS', 'LDS']) if (!types.has(need)) notSynced.push(`${need} not requested`);
        if (notSynced.length > 0) pending.push(`${id}: ${notSynced.join(', ')}`);
      }
      if (pending.length === 0) return true;
      last = pending.join('; ');
    } catch (err) {
      last = `/debug/syncz: ${(err as Error).message}`;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return last;
}
