/**
 * Starts a sample workload, either inside this process (tests) or as its own child process
 * running `samples/main.ts` (the demo), and hands back its real address and a `close`.
 *
 * Identity and address: the `version`, `host` and `port` options win, then the workload's
 * environment (VERSION, HOST, PORT), then the defaults (v1, 127.0.0.1, the workload's port).
 * In-process, the environment is `env` alone, so a test never depends on the machine's; a
 * child gets this process's environment with `env` laid over it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { checkVersion, envString, parseIntIn, SampleConfigError, type SampleEnv } from './common/env.ts';
import { createLog, type LogSink, stderrSink } from './common/log.ts';
import { DEFAULT_GRACE_MS, type Workload } from './common/workload.ts';
import { isWorkloadName, WORKLOAD_NAMES, WORKLOADS, type WorkloadName } from './workloads.ts';

export const MAIN_PATH = path.join(path.dirname(fileURLToPath(import.meta.url)), 'main.ts');

export interface StartWorkloadOptions {
  readonly name: WorkloadName;
  readonly version?: string;
  readonly port?: number;
  readonly host?: string;
  readonly env?: SampleEnv;
  /** Default 'in-process'. */
  readonly mode?: 'in-process' | 'child';
  /** In-process: where log lines go (default stderr). */
  readonly logSink?: LogSink;
  /** Child: every output line after spawning, the ready line included. */
  readonly onOutput?: (line: string, stream: 'stdout' | 'stderr') => void;
  /** Child: how long to wait for the ready line (default 30 s). */
  readonly readyTimeoutMs?: number;
  /** Child: Node options placed before the script (default none). */
  readonly execArgv?: readonly string[];
}

export interface ChildExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface RunningWorkload extends Workload {
  /** The child's pid; undefined in-process. */
  readonly pid: number | undefined;
  /** Child only: settles when the process has exited. */
  readonly exited: Promise<ChildExit> | undefined;
  /** Child only: the last lines it wrote (stdout and stderr), for error reports. */
  recentOutput(): readonly string[];
}

export interface Identity {
  readonly name: WorkloadName;
  readonly version: string;
  readonly host: string;
  readonly port: number;
}

/** Resolves version/host/port as described above; throws SampleConfigError. */
export function resolveIdentity(
  name: string,
  given: { version?: string; host?: string; port?: number },
  env: SampleEnv,
): Identity {
  if (!isWorkloadName(name)) {
    throw new SampleConfigError(
      `unknown workload ${JSON.stringify(name)}; one of: ${WORKLOAD_NAMES.join(', ')}`,
    );
  }
  const version = checkVersion(given.version ?? envString(env, 'VERSION', 'v1'));
  const host = given.host ?? envString(env, 'HOST', '127.0.0.1');
  let port: number;
  if (given.port !== undefined) {
    if (!Number.isInteger(given.port) || given.port < 0 || given.port > 65535) {
      throw new SampleConfigError(`port: ${given.port} is out of range (0..65535)`);
    }
    port = given.port;
  } else {
    const fromEnv = env.PORT?.trim();
    port = fromEnv ? parseIntIn(fromEnv, 'PORT', 0, 65535) : WORKLOADS[name].defaultPort;
  }
  return { name, version, host, port };
}

/** The line a workload process prints on stdout once it accepts connections. */
export function formatReadyLine(w: { name: string; version: string; host: string; port: number }): string {
  return `ready name=${w.name} version=${w.version} host=${w.host} port=${w.port}`;
}

const READY_RE = /^ready name=(\S+) version=(\S+) host=(\S+) port=(\d+)$/;

export function parseReadyLine(line: string): Identity | undefined {
  const m = READY_RE.exec(line.trim());
  if (!m || !isWorkloadName(m[1])) return undefined;
  return { name: m[1], version: m[2], host: m[3], port: Number(m[4]) };
}

export async function startWorkload(options: StartWorkloadOptions): Promise<RunningWorkload> {
  if (options.mode === 'child') return startChild(options);
  const env = options.env ?? {};
  const id = resolveIdentity(options.name, options, env);
  const log = createLog(id.name, id.version, options.logSink ?? stderrSink, env.LOG_REQUESTS === '1');
  const workload = await WORKLOADS[id.name].start({ ...id, env, log });
  return {
    name: workload.name,
    version: workload.version,
    host: workload.host,
    port: workload.port,
    pid: undefined,
    exited: undefined,
    close: (graceMs) => workload.close(graceMs),
    recentOutput: () => [],
  };
}

const OUTPUT_TAIL = 50;
/** Time a child gets beyond its own shutdown grace before it is killed. */
const KILL_MARGIN_MS = 2_000;

async function startChild(options: StartWorkloadOptions): Promise<RunningWorkload> {
  const env: Record<string, string | undefined> = { ...process.env, ...options.env };
  const id = resolveIdentity(options.name, options, env);
  const args = [
    ...(options.execArgv ?? []),
    MAIN_PATH,
    id.name,
    '--version',
    id.version,
    '--host',
    id.host,
    '--port',
    String(id.port),
    '--exit-with-stdin',
  ];
  // stdin stays open and unused: when this process dies, the pipe closes and the child stops.
  const child = spawn(process.execPath, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
  const tail: string[] = [];
  let onReady: ((identity: Identity) => void) | undefined;
  const watch = (stream: NodeJS.ReadableStream, kind: 'stdout' | 'stderr') => {
    createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY }).on('line', (line) => {
      tail.push(`${kind}: ${line}`);
      if (tail.length > OUTPUT_TAIL) tail.shift();
      options.onOutput?.(line, kind);
      if (kind === 'stdout' && onReady) {
        const ready = parseReadyLine(line);
        if (ready) onReady(ready);
      }
    });
  };
  watch(child.stdout, 'stdout');
  watch(child.stderr, 'stderr');
  child.stdin.on('error', () => {});
  const exited = new Promise<ChildExit>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const spawnError = new Promise<never>((_, reject) => child.once('error', reject));
  spawnError.catch(() => {});

  const readyTimeout = options.readyTimeoutMs ?? 30_000;
  let timer: NodeJS.Timeout | undefined;
  let ready: Identity;
  try {
    ready = await Promise.race([
      new Promise<Identity>((resolve) => {
        onReady = resolve;
      }),
      spawnError,
      exited.then((exit) => {
        throw new Error(
          `${id.name} exited before it was ready (${describeExit(exit)})${tail.length ? `:\n${tail.join('\n')}` : ''}`,
        );
      }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`${id.name} printed no ready line within ${readyTimeout} ms`)),
          readyTimeout,
        );
      }),
    ]);
  } catch (err) {
    // A process that never started (spawn error) may never report an exit.
    if (child.pid !== undefined) {
      killNow(child);
      await exited;
    }
    throw err;
  } finally {
    clearTimeout(timer);
    onReady = undefined;
  }

  let closing: Promise<void> | undefined;
  return {
    name: ready.name,
    version: ready.version,
    host: ready.host,
    port: ready.port,
    pid: child.pid,
    exited,
    recentOutput: () => [...tail],
    close(graceMs = DEFAULT_GRACE_MS) {
      closing ??= (async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill('SIGTERM');
        const killer = setTimeout(() => killNow(child), graceMs + KILL_MARGIN_MS);
        try {
          await exited;
        } finally {
          clearTimeout(killer);
          child.stdin.destroy();
        }
      })();
      return closing;
    },
  };
}

function killNow(child: ChildProcess): void {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

function describeExit(exit: ChildExit): string {
  return exit.signal ? `signal ${exit.signal}` : `exit code ${exit.code}`;
}
