/**
 * Shared by the demo tests: a copy of examples/bookinfo moved off every fixed address (its own
 * 127.0.N.x block, free ports for the applications and the gateway), and `mizzenctl demo` as a
 * child process whose output can be awaited.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const ROOT = join(import.meta.dirname, '..', '..', '..');
export const MIZZENCTL = join(ROOT, 'bin', 'mizzenctl.js');

export async function freePort(host = '127.0.0.1'): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function canBind(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

export interface DemoConfig {
  readonly dir: string;
  /** The 127.0.N prefix the copy uses instead of 127.0.0. */
  readonly prefix: string;
  readonly gatewayHost: string;
  readonly gatewayHttpPort: number;
  readonly gatewayTcpPort: number;
}

/**
 * Copies examples/bookinfo and rewrites the addresses so the demo under test clashes with
 * nothing (a running `npm start`, other tests): workloads on 127.0.N.x, the gateway on
 * 127.0.N.1 with free ports, the applications on free 127.0.0.1 ports.
 */
export async function prepareConfig(): Promise<DemoConfig> {
  const dir = mkdtempSync(join(tmpdir(), 'mizzen-demo-test-'));
  cpSync(join(ROOT, 'examples', 'bookinfo'), dir, { recursive: true });
  // A block no other demo uses right now (tests run in parallel): its first sidecar port is free.
  let block = 100 + ((process.pid + Date.now()) % 150);
  for (let i = 0; i < 150 && !(await canBind(`127.0.${block}.11`, 15006)); i++)
    block = 100 + ((block - 99) % 150);
  const prefix = `127.0.${block}`;
  const edit = (file: string, fn: (text: string) => string) =>
    writeFileSync(join(dir, file), fn(readFileSync(join(dir, file), 'utf8')));
  const workloadIp = (s: string) => s.replace(/\b127\.0\.0\.(1\d)\b/g, `${prefix}.$1`);
  edit('workloads.yaml', workloadIp);
  const appPorts = new Map<string, number>();
  let sidecars = workloadIp(readFileSync(join(dir, 'sidecars.yaml'), 'utf8'));
  for (const m of sidecars.matchAll(/defaultEndpoint: 127\.0\.0\.1:(\d+)/g)) {
    if (!appPorts.has(m[1])) appPorts.set(m[1], await freePort());
  }
  sidecars = sidecars.replace(
    /defaultEndpoint: 127\.0\.0\.1:(\d+)/g,
    (_, p) => `defaultEndpoint: 127.0.0.1:${appPorts.get(p)}`,
  );
  writeFileSync(join(dir, 'sidecars.yaml'), sidecars);
  const gatewayHost = `${prefix}.1`;
  const gatewayHttpPort = await freePort();
  const gatewayTcpPort = await freePort();
  edit('gateway.yaml', (s) =>
    s
      .replace(/number: 8080/, `number: ${gatewayHttpPort}`)
      .replace(/number: 9000/, `number: ${gatewayTcpPort}`)
      .replace(/bind: 127\.0\.0\.1/g, `bind: ${gatewayHost}`),
  );
  edit('virtual-services.yaml', (s) => s.replace(/- port: 9000/, `- port: ${gatewayTcpPort}`));
  return { dir, prefix, gatewayHost, gatewayHttpPort, gatewayTcpPort };
}

export interface DemoRun {
  readonly child: ChildProcess;
  stdout: string;
  stderr: string;
  readonly code: Promise<number | null>;
  /** Resolves with the first match in stdout (already printed or still to come). */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
}

/** `detached`: in its own process group, as a terminal runs it (Ctrl-C signals the group). */
export function startDemo(args: readonly string[], options: { detached?: boolean } = {}): DemoRun {
  const child = spawn(process.execPath, [MIZZENCTL, 'demo', ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: options.detached ?? false,
  });
  const run: DemoRun = {
    child,
    stdout: '',
    stderr: '',
    code: new Promise((resolve) => child.once('exit', (code) => resolve(code))),
    waitFor: (pattern, timeoutMs = 180_000) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          done();
          reject(
            new Error(`no ${pattern} within ${timeoutMs} ms:\n${run.stdout}\n${run.stderr.slice(-3000)}`),
          );
        }, timeoutMs);
        const check = () => {
          const m = run.stdout.match(pattern);
          if (m) {
            done();
            resolve(m);
          }
        };
        const exited = () => {
          done();
          reject(new Error(`the demo exited before ${pattern}:\n${run.stdout}\n${run.stderr.slice(-3000)}`));
        };
        const done = () => {
          clearTimeout(timer);
          child.stdout.off('data', check);
          child.off('exit', exited);
        };
        child.stdout.on('data', check);
        child.once('exit', exited);
        check();
        if (child.exitCode !== null || child.signalCode !== null) exited();
      }),
  };
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (d: string) => {
    run.stdout += d;
  });
  child.stderr.on('data', (d: string) => {
    run.stderr += d;
  });
  return run;
}

/**
 * The arguments that put every port the demo owns on a free one. `prometheusPort` may name a
 * fixed port: the config's 127.0.N block is this test's alone, and the demo checks every
 * address it claims before it starts.
 */
export function demoArgs(config: DemoConfig, prometheusPort = 0): string[] {
  return [
    '--config-dir',
    config.dir,
    '--grpc-port',
    '0',
    '--monitoring-port',
    '0',
    '--proxy-admin-port',
    '0',
    '--proxy-status-port',
    '0',
    '--proxy-prometheus-port',
    String(prometheusPort),
  ];
}

/** Every pid the demo printed for its components. */
export function printedPids(stdout: string): number[] {
  return [...new Set([...stdout.matchAll(/\(pid (\d+)/g)].map((m) => Number(m[1])))];
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
