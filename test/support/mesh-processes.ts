/**
 * Real processes for end-to-end tests: mizzend and mizzen-proxy started from their bins on
 * ports they pick themselves (port 0, reported through `--port-file`), plus the small waits
 * every such test needs. Nothing here loads mizzend or the proxy in process, so a test that uses
 * only this file exercises exactly what users run.
 */
import type { ChildProcess, StdioOptions } from 'node:child_process';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';

export const ROOT = path.resolve(import.meta.dirname, '../..');
/** The pinned Node 24 (the system node cannot run the TypeScript). */
export const NODE = path.join(ROOT, 'node_modules/.bin/node');

/** Mesh config for tests: the proxy does not apply locality weighting or auto mTLS yet. */
export const TEST_MESH = 'localityLbSetting: {enabled: false}\nenableAutoMtls: false\n';

/** A port that was free a moment ago (bound on 127.0.0.1 and released). */
export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', () => resolve()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** Polls `check` every 10 ms until it holds; fails naming `what` after `ms`. */
export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  ms = 20_000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The parsed JSON file, or undefined while it is missing or half written. */
export function readJson(file: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

/** Resolves with the exit code once the child has exited (at once if it already has). */
export function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return once(child, 'exit').then(([code]) => code as number | null);
}

/** SIGKILLs whatever still runs and waits for the exits. */
export async function killAll(children: readonly (ChildProcess | undefined)[]): Promise<void> {
  const live = children.filter((c): c is ChildProcess => c !== undefined);
  for (const c of live) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await Promise.all(live.map(exited));
}

/** HTTP status of GET host:port/path; 0 when nothing answers. */
export function httpStatus(port: number, urlPath: string, host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve) => {
    http
      .get({ host, port, path: urlPath, agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      })
      .on('error', () => resolve(0));
  });
}

/** A child's stdout and stderr collected as text (for assertions and failure messages). */
export function collectOutput(child: ChildProcess): () => string {
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  return () => out;
}

function testEnv(home: string): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '', HOME: home };
}

export interface MizzendProcess {
  readonly child: ChildProcess;
  readonly grpc: number;
  readonly monitoring: number;
}

export interface MizzendOptions {
  /** Scratch directory (HOME and the port file live here). */
  readonly dir: string;
  /** Config file or directory to serve. */
  readonly config: string;
  /** Mesh config file. */
  readonly mesh: string;
  readonly logLevel?: string;
  readonly stdio?: StdioOptions;
}

/** bin/mizzend.js on port 0; resolves once it has written its ports. */
export async function startMizzend(o: MizzendOptions): Promise<MizzendProcess> {
  const portFile = path.join(o.dir, 'mizzend.json');
  const child = spawn(
    NODE,
    [
      path.join(ROOT, 'bin/mizzend.js'),
      ...['--config-dir', o.config, '--mesh-config', o.mesh],
      ...['--grpc-port', '0', '--monitoring-port', '0', '--port-file', portFile],
      ...['--log-level', o.logLevel ?? 'warn'],
    ],
    { env: testEnv(o.dir), stdio: o.stdio ?? ['ignore', 'inherit', 'inherit'] },
  );
  await waitFor('mizzend port file', () => readJson(portFile) !== undefined, 30_000);
  const ports = readJson(portFile) as { grpc: number; monitoring: number };
  return { child, grpc: ports.grpc, monitoring: ports.monitoring };
}

export interface SidecarProcess {
  readonly child: ChildProcess;
  readonly admin: number;
  readonly status: number;
}

export interface SidecarOptions {
  readonly dir: string;
  readonly pod: string;
  /** The workload IP mizzend identifies the proxy by (a 127/8 address). */
  readonly ip: string;
  /** mizzend's gRPC port on 127.0.0.1. */
  readonly grpc: number;
  readonly namespace?: string;
  readonly labels?: readonly string[];
  /** More mizzen-proxy flags. */
  readonly extra?: readonly string[];
  readonly logLevel?: string;
  readonly stdio?: StdioOptions;
  /** Host the admin API answers on (when `--admin-address` is among `extra`). */
  readonly adminHost?: string;
  /** Wait until the admin API says /ready (default true). */
  readonly waitReady?: boolean;
}

/** bin/mizzen-proxy.js as a sidecar without capture (Sidecar captureMode NONE listeners). */
export async function startSidecar(o: SidecarOptions): Promise<SidecarProcess> {
  const portFile = path.join(o.dir, `${o.pod}.json`);
  const labels = (o.labels ?? ['app=client']).flatMap((l) => ['--label', l]);
  const child = spawn(
    NODE,
    [
      path.join(ROOT, 'bin/mizzen-proxy.js'),
      ...['proxy', 'sidecar', '--ip', o.ip, '--pod-name', o.pod, '--namespace', o.namespace ?? 'default'],
      ...labels,
      ...['--interception-mode', 'NONE', '--discovery-address', `127.0.0.1:${o.grpc}`],
      ...['--admin-port', '0', '--status-port', '0', '--port-file', portFile],
      // Istio's metrics listener on a free port of the proxy's own address, not 0.0.0.0:15090.
      ...['--prometheus-port', '0', '--prometheus-address', o.ip],
      ...(o.logLevel === undefined ? [] : ['--log-level', o.logLevel]),
      ...(o.extra ?? []),
    ],
    { env: testEnv(o.dir), stdio: o.stdio ?? ['ignore', 'inherit', 'inherit'] },
  );
  await waitFor(`${o.pod} port file`, () => readJson(portFile) !== undefined, 30_000);
  const ports = readJson(portFile) as { admin: number; status: number };
  if (o.waitReady ?? true)
    await waitFor(
      `${o.pod} to be ready`,
      async () => (await httpStatus(ports.admin, '/ready', o.adminHost)) === 200,
      30_000,
    );
  return { child, admin: ports.admin, status: ports.status };
}

/**
 * Open-handle check (CODE-STYLE §C.8) for tests whose fixtures are child processes that stay up
 * until `after`: sockets, servers and timers the tests opened must be gone; the children and
 * their pipes are the fixtures' and are not counted.
 */
export async function assertNoLeakedSockets(): Promise<void> {
  const open = () =>
    process.getActiveResourcesInfo().filter((r) => ['TCPSocketWrap', 'TCPServerWrap', 'Timeout'].includes(r));
  for (let i = 0; i < 100 && open().length > 0; i++) await new Promise((r) => setImmediate(r));
  if (open().length > 0) throw new Error(`open handles left behind: ${open().join(', ')}`);
}
