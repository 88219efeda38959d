/**
 * `mizzen-proxy` command line (Istio's pilot-agent + Envoy in one process):
 *
 *   mizzen-proxy proxy [sidecar|router] [flags]   run the proxy until SIGTERM/SIGINT
 *   mizzen-proxy iptables ...                     traffic capture rules (src/agent/iptables-cli.ts)
 *
 * Proxy flags are this file's (admin/status ports, drain, logging, port file) plus every
 * bootstrap flag src/agent/bootstrap.ts parses (identity, discovery address, xDS mode, ...).
 * SIGTERM drains: readiness turns 503, listeners stop accepting, in-flight requests finish
 * within --drain-duration, then the process exits 0.
 */
import { rename, writeFile } from 'node:fs/promises';
import { enableCompileCache } from 'node:module';
import path from 'node:path';
import { BOOTSTRAP_FLAGS, loadBootstrap, parseBootstrapArgs } from '../../agent/bootstrap.ts';
import { runIptablesCommand } from '../../agent/iptables-cli.ts';
import { parseDuration } from '../../lib/duration.ts';
import { ErrorCode, errorMessage, MizzenError } from '../../lib/errors.ts';
import { isLogLevel, logger, setLogFormat, setLogLevel } from '../../lib/log.ts';
import { enableEnvoyProtoCache } from '../../lib/xds/protos.ts';
import { ProxyServer } from '../proxy-server.ts';

const log = logger('proxy:cmd');

export const ProxyExit = {
  OK: 0,
  INTERNAL: 1,
  USAGE: 2,
  UNAVAILABLE: 3,
} as const;

export interface ProxyIo {
  readonly env: Readonly<Record<string, string | undefined>>;
  stdout(text: string): void;
  stderr(text: string): void;
}

class UsageError extends Error {}

/** This command's own flags; the rest go to the bootstrap parser. */
interface ProxyFlags {
  adminPort: number;
  adminAddress: string;
  statusPort: number;
  statusAddress: string;
  drainMs: number;
  listenerDrainMs: number;
  initialFetchTimeoutMs: number;
  logLevel: string;
  logFormat: 'text' | 'json';
  portFile: string | undefined;
  concurrency: number;
}

const OWN_FLAGS: Record<string, string> = {
  'admin-port': 'admin API port (default 15000; 0 picks a free port)',
  'admin-address': 'admin API bind address (default 127.0.0.1: the admin API is unauthenticated)',
  'status-port': 'readiness port serving /healthz/ready (default 15021; 0 picks a free port)',
  'status-address': 'readiness bind address (default 127.0.0.1)',
  'drain-duration': 'how long in-flight requests may finish after SIGTERM (default 5s)',
  'listener-drain-duration': 'how long removed or replaced listeners drain (default 45s)',
  'initial-fetch-timeout':
    'wait this long for initial config before serving what arrived (default 15s; 0 waits forever)',
  'log-level': 'debug, info, warn, error or none (default info)',
  'log-format': 'text or json (default text)',
  'port-file': 'write {"admin":N,"status":N,"listeners":{name:port},"pid":N,"workers":[pid]} here once ready',
  concurrency:
    'worker processes serving the listeners (default 1: this process serves; 0: one per core); one xDS stream either way',
};

export function usage(): string {
  const own = Object.entries(OWN_FLAGS)
    .map(([f, d]) => `  --${f.padEnd(26)}${d}`)
    .join('\n');
  return `Usage:
  mizzen-proxy proxy [sidecar|router] [flags]   run the proxy
  mizzen-proxy iptables [clean] [flags]          set up (or remove) traffic capture; see \`mizzen-proxy iptables --help\`

Proxy flags:
${own}

Bootstrap flags (identity and control plane; env and --config file also work, see src/agent/README.md):
  ${BOOTSTRAP_FLAGS.join(' ')}
`;
}

function port(flag: string, v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n > 65535)
    throw new UsageError(`--${flag}: expected a port number 0-65535, got ${JSON.stringify(v)}`);
  return n;
}

function duration(flag: string, v: string): number {
  const ms = parseDuration(v);
  if (ms === undefined || ms < 0)
    throw new UsageError(`--${flag}: expected a duration such as 5s or 500ms, got ${JSON.stringify(v)}`);
  return ms;
}

/** Splits argv into this command's flags and the bootstrap flags (in order). */
export function parseProxyArgs(argv: readonly string[]): { flags: ProxyFlags; rest: string[] } {
  const flags: ProxyFlags = {
    adminPort: 15000,
    adminAddress: '127.0.0.1',
    statusPort: 15021,
    statusAddress: '127.0.0.1',
    drainMs: 5000,
    listenerDrainMs: 45_000,
    initialFetchTimeoutMs: 15_000,
    logLevel: 'info',
    logFormat: 'text',
    portFile: undefined,
    concurrency: 1,
  };
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const m = /^--([a-z-]+)(?:=(.*))?$/s.exec(arg);
    if (!m || !Object.hasOwn(OWN_FLAGS, m[1])) {
      rest.push(arg);
      continue;
    }
    const name = m[1];
    let value = m[2];
    if (value === undefined) {
      if (i + 1 >= argv.length) throw new UsageError(`--${name}: a value is required`);
      value = argv[++i];
    }
    switch (name) {
      case 'admin-port':
        flags.adminPort = port(name, value);
        break;
      case 'admin-address':
        flags.adminAddress = value;
        break;
      case 'status-port':
        flags.statusPort = port(name, value);
        break;
      case 'status-address':
        flags.statusAddress = value;
        break;
      case 'drain-duration':
        flags.drainMs = duration(name, value);
        break;
      case 'listener-drain-duration':
        flags.listenerDrainMs = duration(name, value);
        break;
      case 'initial-fetch-timeout':
        flags.initialFetchTimeoutMs = duration(name, value);
        break;
      case 'log-level':
        if (!isLogLevel(value))
          throw new UsageError(
            `--log-level: expected debug, info, warn, error or none, got ${JSON.stringify(value)}`,
          );
        flags.logLevel = value;
        break;
      case 'log-format':
        if (value !== 'text' && value !== 'json')
          throw new UsageError(`--log-format: expected text or json, got ${JSON.stringify(value)}`);
        flags.logFormat = value;
        break;
      case 'port-file':
        flags.portFile = value;
        break;
      case 'concurrency':
        if (!/^\d+$/.test(value) || Number(value) > 1024)
          throw new UsageError(
            `--concurrency: expected a number of workers 0-1024, got ${JSON.stringify(value)}`,
          );
        flags.concurrency = Number(value);
        break;
    }
  }
  return { flags, rest };
}

async function writePortFile(file: string, content: unknown): Promise<void> {
  // Write then rename, so a reader never sees a half-written file.
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  await writeFile(tmp, `${JSON.stringify(content)}\n`);
  await rename(tmp, file);
}

/** Runs the proxy until SIGTERM/SIGINT (or /quitquitquit); resolves with the exit code. */
export async function runProxy(argv: readonly string[], io: ProxyIo): Promise<number> {
  let flags: ProxyFlags;
  let proxy: ProxyServer | undefined;
  try {
    const parsed = parseProxyArgs(argv);
    flags = parsed.flags;
    setLogLevel(flags.logLevel as Parameters<typeof setLogLevel>[0]);
    setLogFormat(flags.logFormat);
    const bootstrap = loadBootstrap({ flags: parseBootstrapArgs(parsed.rest), env: io.env });
    for (const w of bootstrap.warnings) log.warn(w);
    let quit: () => void = () => {};
    proxy = new ProxyServer({
      bootstrap,
      adminPort: flags.adminPort,
      adminAddress: flags.adminAddress,
      statusPort: flags.statusPort,
      statusAddress: flags.statusAddress,
      drainMs: flags.drainMs,
      listenerDrainMs: flags.listenerDrainMs,
      initialFetchTimeoutMs: flags.initialFetchTimeoutMs,
      concurrency: flags.concurrency,
      onQuit: () => quit(),
    });
    const stop = new Promise<string>((resolve) => {
      quit = () => resolve('quitquitquit');
      const onSignal = (signal: NodeJS.Signals) => {
        process.off('SIGTERM', onSignal);
        process.off('SIGINT', onSignal);
        // A second signal: the operator does not want to wait for the drain.
        process.once('SIGTERM', () => process.exit(ProxyExit.INTERNAL));
        process.once('SIGINT', () => process.exit(ProxyExit.INTERNAL));
        resolve(signal);
      };
      process.on('SIGTERM', onSignal);
      process.on('SIGINT', onSignal);
    });
    const started = proxy;
    try {
      await started.start();
    } catch (err) {
      io.stderr(`mizzen-proxy: ${errorMessage(err)}\n`);
      await started.close().catch(() => {});
      return ProxyExit.UNAVAILABLE;
    }
    log.info('mizzen-proxy started', {
      node: bootstrap.nodeId,
      xds: bootstrap.discoveryAddress,
      admin: started.admin?.port,
      status: started.status?.port,
    });
    const first = await Promise.race([started.ready().then(() => 'ready'), stop]);
    if (first === 'ready' && flags.portFile) {
      await writePortFile(flags.portFile, {
        admin: started.admin?.port,
        status: started.status?.port,
        listeners: started.listenerPorts(),
        pid: process.pid,
        workers: started.workers?.pids() ?? [],
      });
    }
    const reason = await stop;
    log.info('shutting down: draining', { reason, drainMs: flags.drainMs });
    await started.shutdown(flags.drainMs);
    log.info('drained; exiting');
    return ProxyExit.OK;
  } catch (err) {
    io.stderr(`mizzen-proxy: ${errorMessage(err)}\n`);
    await proxy?.close().catch(() => {});
    return err instanceof UsageError ||
      (err instanceof MizzenError && err.code === ErrorCode.INVALID_ARGUMENT)
      ? ProxyExit.USAGE
      : ProxyExit.INTERNAL;
  }
}

export async function run(argv: readonly string[], io: ProxyIo): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === '-h' || cmd === '--help' || cmd === 'help') {
    (cmd === undefined ? io.stderr : io.stdout)(usage());
    return cmd === undefined ? ProxyExit.USAGE : ProxyExit.OK;
  }
  if (cmd === 'iptables')
    return runIptablesCommand(rest, { stdout: io.stdout, stderr: io.stderr, env: io.env });
  if (cmd === 'proxy') {
    if (rest.includes('--help') || rest.includes('-h')) {
      io.stdout(usage());
      return ProxyExit.OK;
    }
    return runProxy(rest, io);
  }
  io.stderr(`mizzen-proxy: unknown command ${JSON.stringify(cmd)}\n\n${usage()}`);
  return ProxyExit.USAGE;
}

export async function main(argv: readonly string[]): Promise<number> {
  try {
    enableCompileCache();
  } catch {
    // a read-only temp directory and the like: only start-up speed is lost
  }
  // Envoy's protos from a descriptor cache, not parsed each start (less RSS, faster start; protos.ts).
  enableEnvoyProtoCache();
  const code = await run(argv, {
    env: process.env,
    stdout: (s) => process.stdout.write(s),
    stderr: (s) => process.stderr.write(s),
  });
  // A socket mid-teardown must not keep a stopped proxy alive; the timer does not hold the loop.
  setTimeout(() => process.exit(code), 2_000).unref();
  return code;
}
