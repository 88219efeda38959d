/**
 * A mesh with real transparent capture, one network namespace per workload (NetnsTopology):
 * mizzend in the node namespace on the bridge address, and per workload the init step
 * (`mizzen-proxy iptables`), the unchanged application, and its `mizzen-proxy` as uid 1337 in
 * REDIRECT mode (outbound via virtualOutbound 15001, inbound via virtualInbound 15006).
 *
 * The mesh configuration is generated into a temporary directory that mizzend watches: a
 * ServiceEntry per service carrying its VIP in `addresses`, a WorkloadEntry per workload at its
 * namespace address, plus whatever files the caller adds (VirtualServices, DestinationRules);
 * `writeConfig` changes them live. Used by `mizzenctl demo --netns` and test/e2e/netns-mesh.
 */
import type { ChildProcess } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NetnsTopology, type Pod, type ServiceVip } from './netns-topology.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const MIZZEND_BIN = join(ROOT, 'bin', 'mizzend.js');
export const PROXY_BIN = join(ROOT, 'bin', 'mizzen-proxy.js');
export const SAMPLES_MAIN = join(ROOT, 'samples', 'main.ts');
export const PROXY_UID = 1337;
/** mizzend's ports inside the node namespace (it is alone there, so the defaults are free). */
export const XDS_PORT = 15010;
export const MONITORING_PORT = 15014;
/** The proxy's admin port inside each pod namespace (loopback, never captured). */
export const PROXY_ADMIN_PORT = 15000;
/** Workloads started at once. */
const START_CONCURRENCY = 3;

export type PortProtocol = 'HTTP' | 'HTTP2' | 'GRPC' | 'TCP';

export interface MeshServiceSpec {
  readonly name: string;
  readonly port: number;
  readonly protocol: PortProtocol;
}

export interface MeshWorkloadSpec {
  /** Pod (and namespace) name, e.g. `reviews-v2`. */
  readonly name: string;
  /** Label `app`: the service this workload is an instance of (if one has that name). */
  readonly app: string;
  /** Label `version` (default v1). */
  readonly version?: string;
  readonly serviceAccount?: string;
  /** The application, run as root inside the namespace; none for a client-only pod. */
  readonly command?: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  /** A stdout line meaning the application accepts connections (default: any `ready` line). */
  readonly ready?: RegExp;
}

export interface NetnsMeshOptions {
  /** Namespace name base (`mzd` for the demo, `mze` for tests); see NetnsTopology. */
  readonly base: string;
  readonly tag?: string;
  /** The Istio namespace of every object and proxy. */
  readonly namespace: string;
  readonly services: readonly MeshServiceSpec[];
  readonly workloads: readonly MeshWorkloadSpec[];
  /** Extra config files (name → YAML) written beside the generated ones. */
  readonly config?: Readonly<Record<string, string>>;
  /** Every output line of mizzend, the init steps, the apps and the proxies. */
  readonly onOutput?: (source: string, line: string) => void;
  /** Progress lines (what is being started). */
  readonly onProgress?: (line: string) => void;
  readonly podNet?: string;
  readonly vipNet?: string;
  readonly proxyLogLevel?: string;
  /** Aborting during `start` stops it promptly and removes what it built. */
  readonly signal?: AbortSignal;
  /** Limit for each process to get ready (default 180 s: a small shared machine may be busy). */
  readonly startTimeoutMs?: number;
}

export interface RunningWorkload {
  readonly spec: MeshWorkloadSpec;
  readonly pod: Pod;
  app?: ChildProcess;
  proxy?: ChildProcess;
}

/** One proxy's entry in mizzend's /debug/syncz, reduced to what readiness needs. */
export interface ProxySyncState {
  readonly proxy: string;
  readonly types: readonly { type: string; state: string; last_nack?: { message: string } }[];
}

export class MeshStartError extends Error {}

/** The FQDN a service of `namespace` has (the ServiceEntry host). */
export function serviceHost(name: string, namespace: string): string {
  return `${name}.${namespace}.svc.cluster.local`;
}

/** Generated ServiceEntries (with VIPs) and WorkloadEntries (at the pods' addresses). */
export function buildRegistryYaml(
  namespace: string,
  services: readonly { spec: MeshServiceSpec; vip: string }[],
  workloads: readonly { spec: MeshWorkloadSpec; ip: string }[],
): string {
  const docs: string[] = [];
  for (const { spec, vip } of services) {
    docs.push(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: ${spec.name}
  namespace: ${namespace}
spec:
  hosts: [${serviceHost(spec.name, namespace)}]
  addresses: [${vip}]
  location: MESH_INTERNAL
  resolution: STATIC
  ports:
    - {number: ${spec.port}, name: ${spec.protocol.toLowerCase()}, protocol: ${spec.protocol}}
  workloadSelector:
    labels: {app: ${spec.name}}
`);
  }
  for (const { spec, ip } of workloads) {
    const labels = `{app: ${spec.app}, version: ${spec.version ?? 'v1'}}`;
    docs.push(`apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata:
  name: ${spec.name}
  namespace: ${namespace}
spec:
  address: ${ip}
  labels: ${labels}
  serviceAccount: ${spec.serviceAccount ?? spec.app}
`);
  }
  return docs.join('---\n');
}

/** The proxies' config needs no certificates: mizzend has no CA yet, so plaintext between sidecars. */
export const NETNS_MESH_CONFIG = 'enableAutoMtls: false\nlocalityLbSetting: {enabled: false}\n';

/** Feeds each output line of `child` to `sink`; returns the last few lines, for error messages. */
function lines(
  child: ChildProcess,
  source: string,
  sink: ((s: string, l: string) => void) | undefined,
): () => string {
  const last: string[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    if (!stream) continue;
    let buffer = '';
    stream.setEncoding('utf8');
    stream.on('data', (d: string) => {
      buffer += d;
      let nl = buffer.indexOf('\n');
      while (nl >= 0) {
        const line = buffer.slice(0, nl);
        sink?.(source, line);
        last.push(line);
        if (last.length > 8) last.shift();
        buffer = buffer.slice(nl + 1);
        nl = buffer.indexOf('\n');
      }
    });
  }
  return () => (last.length > 0 ? `; its last output:\n    ${last.join('\n    ')}` : '');
}

/** Resolves with the first stdout line matching `pattern`; rejects if the child exits first. */
export function waitForLine(
  child: ChildProcess,
  pattern: RegExp,
  what: string,
  timeoutMs = 30_000,
): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffer = '';
    let tail = '';
    const done = (err?: Error, line?: string) => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.stderr?.off('data', onErr);
      child.off('exit', onExit);
      if (err) reject(err);
      else resolve(line as string);
    };
    const onData = (d: Buffer | string) => {
      buffer += d.toString();
      let nl = buffer.indexOf('\n');
      while (nl >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        if (pattern.test(line)) return done(undefined, line);
        nl = buffer.indexOf('\n');
      }
    };
    const onErr = (d: Buffer | string) => {
      tail = (tail + d.toString()).slice(-2000);
    };
    const onExit = (code: number | null, signal: string | null) =>
      done(new MeshStartError(`${what} exited (${code ?? signal}) before it was ready: ${tail.trim()}`));
    const timer = setTimeout(
      () => done(new MeshStartError(`${what} not ready after ${timeoutMs} ms: ${tail.trim()}`)),
      timeoutMs,
    );
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onErr);
    child.once('exit', onExit);
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

export class NetnsMesh {
  readonly topology: NetnsTopology;
  readonly options: NetnsMeshOptions;
  /** Temporary directory: config/, mesh.yaml, one directory per proxy. */
  readonly workDir: string;
  readonly configDir: string;
  readonly workloads = new Map<string, RunningWorkload>();
  mizzend?: ChildProcess;
  #closed = false;

  private constructor(topology: NetnsTopology, options: NetnsMeshOptions, workDir: string) {
    this.topology = topology;
    this.options = options;
    this.workDir = workDir;
    this.configDir = join(workDir, 'config');
  }

  /** The mizzend xDS address every proxy uses. */
  get xdsAddress(): string {
    return `${this.topology.gateway}:${XDS_PORT}`;
  }
  get monitoringUrl(): string {
    return `http://${this.topology.gateway}:${MONITORING_PORT}`;
  }
  service(name: string): ServiceVip {
    const s = this.topology.services.get(name);
    if (!s) throw new Error(`no service ${name}`);
    return s;
  }
  pod(name: string): Pod {
    const w = this.workloads.get(name);
    if (!w) throw new Error(`no workload ${name}`);
    return w.pod;
  }

  /**
   * Builds the namespaces, writes the config, starts mizzend, then every workload; resolves once
   * every proxy is ready. On failure everything built so far is torn down before rejecting.
   */
  static async start(options: NetnsMeshOptions): Promise<NetnsMesh> {
    const progress = options.onProgress ?? (() => {});
    const topology = await NetnsTopology.create({
      base: options.base,
      tag: options.tag,
      podNet: options.podNet,
      vipNet: options.vipNet,
    });
    for (const prefix of topology.cleaned) progress(`Removed the leftovers of a crashed run (${prefix}*).`);
    const workDir = mkdtempSync(join(tmpdir(), `mizzen-netns-${topology.prefix}`));
    // Proxies run as uid 1337 and write their port files below it: let them through.
    chmodSync(workDir, 0o711);
    const mesh = new NetnsMesh(topology, options, workDir);
    const signal = options.signal;
    // Aborting kills everything in the namespaces at once, so every wait below ends promptly.
    const onAbort = () => void topology.destroy().catch(() => {});
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      if (signal?.aborted) throw new MeshStartError('start aborted');
      await mesh.#build();
      return mesh;
    } catch (err) {
      await mesh.close();
      throw signal?.aborted ? new MeshStartError('start aborted') : err;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  async #build(): Promise<void> {
    const o = this.options;
    const progress = o.onProgress ?? (() => {});
    const ns = o.namespace;
    const vips = o.services.map((spec) => ({
      spec,
      vip: this.topology.addService(spec.name, [spec.name, `${spec.name}.${ns}`, serviceHost(spec.name, ns)])
        .vip,
    }));
    const pods: { spec: MeshWorkloadSpec; ip: string }[] = [];
    for (const spec of o.workloads) {
      const pod = await this.topology.addPod(spec.name);
      this.workloads.set(spec.name, { spec, pod });
      pods.push({ spec, ip: pod.ip });
    }
    progress(
      `Network: ${o.workloads.length} pod namespaces on a bridge (${this.topology.gateway}/24), ${vips.length} service VIPs.`,
    );
    mkdirSync(this.configDir, { recursive: true });
    writeFileSync(join(this.workDir, 'mesh.yaml'), NETNS_MESH_CONFIG);
    this.writeConfig('registry.yaml', buildRegistryYaml(ns, vips, pods));
    for (const [file, text] of Object.entries(o.config ?? {})) this.writeConfig(file, text);

    progress(`Starting mizzend in ${this.topology.nodeNetns} on ${this.xdsAddress} ...`);
    const portFile = join(this.workDir, 'mizzend.json');
    const mizzend = this.topology.spawn(this.topology.nodeNetns, process.execPath, [
      MIZZEND_BIN,
      '--config-dir',
      this.configDir,
      '--mesh-config',
      join(this.workDir, 'mesh.yaml'),
      '--host',
      this.topology.gateway,
      '--grpc-port',
      String(XDS_PORT),
      '--monitoring-port',
      String(MONITORING_PORT),
      '--port-file',
      portFile,
      '--log-level',
      'warn',
    ]);
    this.mizzend = mizzend;
    const tail = lines(mizzend, 'mizzend', o.onOutput);
    await this.#waitForFile(portFile, mizzend, 'mizzend', this.#startTimeout, tail);

    // A few at a time: each process's start-up limit then measures its own start, not a queue
    // behind a dozen Node processes compiling at once on a small machine.
    const queue = [...o.workloads];
    const worker = async () => {
      for (let spec = queue.shift(); spec; spec = queue.shift()) {
        await this.startWorkload(spec.name);
        if (!o.signal?.aborted) progress(`  ${spec.name}: application and sidecar up`);
      }
    };
    await Promise.all(Array.from({ length: Math.min(START_CONCURRENCY, queue.length) }, worker));
  }

  get #startTimeout(): number {
    return this.options.startTimeoutMs ?? 180_000;
  }

  async #waitForFile(
    file: string,
    child: ChildProcess,
    what: string,
    timeoutMs: number,
    tail: () => string,
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        readFileSync(file);
        return;
      } catch {
        // not yet
      }
      if (child.exitCode !== null || child.signalCode !== null)
        throw new MeshStartError(
          `${what} exited (${child.exitCode ?? child.signalCode}) before it was ready${tail()}`,
        );
      if (Date.now() > deadline) throw new MeshStartError(`${what} not ready after ${timeoutMs} ms${tail()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Writes (or replaces) one file of the watched config directory: mizzend pushes the change. */
  writeConfig(file: string, text: string): void {
    if (!/^[A-Za-z0-9_.-]+\.ya?ml$/.test(file))
      throw new Error(`config file name "${file}" must be NAME.yaml`);
    const tmp = join(this.configDir, `.${file}.tmp`);
    writeFileSync(tmp, text);
    // Rename so the watcher never reads a half-written file.
    renameSync(tmp, join(this.configDir, file));
  }

  /**
   * Init step, application and sidecar of one workload (its namespace exists). The init step is
   * idempotent, so this also restarts a workload after `killWorkload`.
   */
  async startWorkload(name: string): Promise<void> {
    const w = this.workloads.get(name);
    if (!w) throw new Error(`no workload ${name}`);
    const o = this.options;
    const { spec, pod } = w;
    const init = await this.topology.run(pod.netns, process.execPath, [PROXY_BIN, 'iptables']);
    if (init.code !== 0)
      throw new MeshStartError(`mizzen-proxy iptables in ${pod.netns} failed: ${init.stderr.trim()}`);

    const starting: Promise<unknown>[] = [];
    if (spec.command) {
      const [command, ...args] = spec.command;
      const app = this.topology.spawn(pod.netns, command, args, {
        env: { ...process.env, ...spec.env },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      w.app = app;
      lines(app, spec.name, o.onOutput);
      starting.push(
        waitForLine(app, spec.ready ?? /^ready\b/, `${spec.name}'s application`, this.#startTimeout),
      );
    }

    // The proxy runs as 1337 and must write its port file: give it a directory of its own.
    const dir = join(this.workDir, 'proxy', spec.name);
    mkdirSync(dir, { recursive: true });
    chmodSync(dirname(dir), 0o711);
    chownSync(dir, PROXY_UID, PROXY_UID);
    const portFile = join(dir, 'proxy.json');
    rmSync(portFile, { force: true });
    const proxy = this.topology.spawn(
      pod.netns,
      process.execPath,
      [
        PROXY_BIN,
        'proxy',
        'sidecar',
        '--ip',
        pod.ip,
        '--pod-name',
        spec.name,
        '--namespace',
        o.namespace,
        '--label',
        `app=${spec.app}`,
        '--label',
        `version=${spec.version ?? 'v1'}`,
        '--service-account',
        spec.serviceAccount ?? spec.app,
        '--interception-mode',
        'REDIRECT',
        '--discovery-address',
        this.xdsAddress,
        '--drain-duration',
        '1s',
        '--port-file',
        portFile,
        '--log-level',
        o.proxyLogLevel ?? 'warn',
      ],
      { uid: PROXY_UID, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir } },
    );
    w.proxy = proxy;
    const tail = lines(proxy, `${spec.name}/proxy`, o.onOutput);
    starting.push(
      this.#waitForFile(portFile, proxy, `${spec.name}'s mizzen-proxy`, this.#startTimeout, tail),
    );
    await Promise.all(starting);
  }

  /** SIGKILLs a workload's application and sidecar (a crashed pod); its namespace stays. */
  async killWorkload(name: string): Promise<void> {
    const w = this.workloads.get(name);
    if (!w) throw new Error(`no workload ${name}`);
    const children = [w.app, w.proxy].filter((c): c is ChildProcess => c !== undefined);
    for (const c of children) c.kill('SIGKILL');
    await Promise.all(children.map(exited));
    w.app = undefined;
    w.proxy = undefined;
  }

  /** GETs `url` from inside the node namespace (where mizzend runs). */
  async fetchFromNode(url: string): Promise<string> {
    const script =
      'fetch(process.argv[1]).then(async (r) => { process.stdout.write(await r.text()); process.exitCode = r.ok ? 0 : 1; })';
    const r = await this.topology.run(this.topology.nodeNetns, process.execPath, ['-e', script, url]);
    if (r.code !== 0) throw new Error(`GET ${url} failed: ${r.stderr.trim() || r.stdout.trim()}`);
    return r.stdout;
  }

  /** mizzend's view of every connected proxy (its /debug/syncz). */
  async syncz(): Promise<ProxySyncState[]> {
    return JSON.parse(await this.fetchFromNode(`${this.monitoringUrl}/debug/syncz`)) as ProxySyncState[];
  }

  /**
   * Waits until mizzend reports every workload's proxy SYNCED for CDS, LDS, EDS and RDS (what it
   * sent is what the proxy ACKed). Rejects at once naming the NACKs when a proxy rejects config,
   * and after `timeoutMs` naming what is not synced.
   */
  async waitSynced(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const expected = [...this.workloads.keys()].map((n) => `${n}.${this.options.namespace}`);
    let pending: string[] = [];
    for (;;) {
      const states = await this.syncz();
      pending = [];
      const nacks: string[] = [];
      for (const id of expected) {
        const s = states.find((p) => p.proxy === id);
        if (!s) {
          pending.push(`${id}: not connected`);
          continue;
        }
        for (const t of s.types) {
          if (t.state === 'ERROR') nacks.push(`${id} rejected ${t.type}: ${t.last_nack?.message ?? '?'}`);
          else if (t.state !== 'SYNCED') pending.push(`${id}: ${t.type} ${t.state}`);
        }
        if (!['CDS', 'LDS'].every((t) => s.types.some((x) => x.type === t)))
          pending.push(`${id}: CDS/LDS not requested yet`);
      }
      if (nacks.length > 0)
        throw new MeshStartError(`proxies rejected their config:\n  ${nacks.join('\n  ')}`);
      if (pending.length === 0) return;
      if (Date.now() > deadline)
        throw new MeshStartError(`not synced after ${timeoutMs} ms:\n  ${pending.join('\n  ')}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** Stops everything (SIGKILL: nothing here holds state worth draining) and removes it all. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await this.topology.destroy();
    } finally {
      rmSync(this.workDir, { recursive: true, force: true });
    }
  }
}
