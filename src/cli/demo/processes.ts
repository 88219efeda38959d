/**
 * The demo's child processes: mizzend, the proxies (started from bin/, ready when their port
 * file appears) and the sample applications (samples/run.ts, ready on their `ready` line).
 * A workload or proxy that dies while the demo runs is restarted, as Kubernetes restarts a
 * container, so killing one shows the mesh recovering.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { type RunningWorkload, type StartWorkloadOptions, startWorkload } from '../../../samples/run.ts';

/** How long a stopped process gets before SIGKILL. */
const STOP_GRACE_MS = 10_000;
/** Restart backoff after an unexpected exit: doubles from 500 ms up to 8 s. */
const RESTART_MIN_MS = 500;
const RESTART_MAX_MS = 8_000;

export type LineSink = (line: string) => void;

export function readJsonFile<T>(file: string): T | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

export interface SpawnedProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The last output lines (for error reports). */
  tail(): string[];
}

/** Spawns `node script args`, forwarding each output line to `onLine`. */
export function spawnNode(script: string, args: readonly string[], onLine: LineSink): SpawnedProcess {
  const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY }).on('line', (line) => {
      lines.push(line);
      if (lines.length > 30) lines.shift();
      onLine(line);
    });
  }
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    // A spawn failure (missing binary) never emits exit.
    child.once('error', () => resolve({ code: 127, signal: null }));
  });
  return { child, exited, tail: () => [...lines] };
}

/** Waits until `file` holds JSON, the process exits (undefined), or the deadline passes. */
export async function waitForPortFile<T>(
  file: string,
  proc: SpawnedProcess,
  timeoutMs: number,
): Promise<T | undefined> {
  let gone = false;
  void proc.exited.then(() => {
    gone = true;
  });
  const deadline = Date.now() + timeoutMs;
  while (!gone && Date.now() < deadline) {
    const v = readJsonFile<T>(file);
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  return undefined;
}

export async function stopProcess(proc: SpawnedProcess): Promise<void> {
  const { child } = proc;
  if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    await proc.exited;
    clearTimeout(timer);
  }
}

/**
 * One component the demo keeps running: `start` brings it up and resolves with what to show;
 * an unexpected exit restarts it after a backoff. `stop` ends it for good.
 */
export class Supervised<T extends { pid: number | undefined }> {
  readonly name: string;
  #start: () => Promise<{ info: T; exited: Promise<unknown>; stop: () => Promise<void> }>;
  #current: { info: T; exited: Promise<unknown>; stop: () => Promise<void> } | undefined;
  #stopping = false;
  /** A start in flight, which stop() must wait for (it ends what comes up). */
  #starting: Promise<T> | undefined;
  #restartTimer: NodeJS.Timeout | undefined;
  #backoff = RESTART_MIN_MS;
  #say: LineSink;

  constructor(
    name: string,
    start: () => Promise<{ info: T; exited: Promise<unknown>; stop: () => Promise<void> }>,
    say: LineSink,
  ) {
    this.name = name;
    this.#start = start;
    this.#say = say;
  }

  async start(): Promise<T> {
    const starting = this.#startOnce();
    this.#starting = starting;
    try {
      return await starting;
    } finally {
      if (this.#starting === starting) this.#starting = undefined;
    }
  }

  async #startOnce(): Promise<T> {
    const current = await this.#start();
    if (this.#stopping) {
      // Stopped while (re)starting: end what just came up (stop() waits for this).
      await current.stop();
      return current.info;
    }
    this.#current = current;
    void current.exited.then((exit) => {
      if (this.#stopping || this.#current !== current) return;
      this.#current = undefined;
      const e = exit as { code?: number | null; signal?: string | null } | undefined;
      const how = e?.signal ? `signal ${e.signal}` : `exit code ${e?.code ?? '?'}`;
      this.#say(`! ${this.name} (pid ${current.info.pid}) exited (${how}); restarting`);
      this.#scheduleRestart();
    });
    return current.info;
  }

  #scheduleRestart(): void {
    const delay = this.#backoff;
    this.#backoff = Math.min(this.#backoff * 2, RESTART_MAX_MS);
    this.#restartTimer = setTimeout(async () => {
      this.#restartTimer = undefined;
      if (this.#stopping) return;
      try {
        const info = await this.start();
        if (this.#stopping) return;
        this.#backoff = RESTART_MIN_MS;
        this.#say(`  ${this.name} restarted (pid ${info.pid})`);
      } catch (err) {
        this.#say(`! ${this.name} failed to restart: ${(err as Error).message.split('\n')[0]}`);
        this.#scheduleRestart();
      }
    }, delay);
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    clearTimeout(this.#restartTimer);
    await this.#starting?.catch(() => {});
    await this.#current?.stop();
  }
}

/** A sample application as a child process; `--exit-with-stdin` ties its life to ours. */
export async function startApp(options: StartWorkloadOptions): Promise<{
  info: { pid: number | undefined };
  exited: Promise<unknown>;
  stop: () => Promise<void>;
  app: RunningWorkload;
}> {
  const app = await startWorkload({ ...options, mode: 'child' });
  return {
    info: { pid: app.pid },
    exited: app.exited as Promise<unknown>,
    stop: () => app.close(2_000),
    app,
  };
}
