/**
 * The independent-client harness (issue 3 item 7, CODE-STYLE §C.5): mizzend serving a temp
 * config directory, real grpc-js servers on 127.0.0.1:0 as backends, and `@grpc/grpc-js-xds`
 * channels (`xds:///<host>:<port>`, a per-channel bootstrap pointing at mizzend) as clients.
 * Tests configure the mesh ONLY by writing Istio YAML into the directory; nothing here builds
 * an xDS resource by hand.
 *
 * Waiting is event-driven: `apply()` rescans the directory and waits for the push it causes;
 * `ackedAfter()` waits until a given client ACKed a type at or after a push version.
 */
import { mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as grpcXds from '@grpc/grpc-js-xds';
import { MetricsRegistry } from '../../../src/lib/metrics.ts';
import { MizzenDiscoveryServer, type PushInfo } from '../../../src/pilot/server.ts';
import type { XdsConnection } from '../../../src/pilot/xds/connection.ts';

export const METHOD = '/mizzen.test.Echo/Call';

/**
 * grpc-js-xds 1.14 leaks timers: its priority load balancer's destroy() leaves each child's
 * failover timer (10 s) and deactivation timer (15 min) running, so a closed channel can keep
 * the process alive and fail the open-handle check. Until that is fixed upstream, cancel them
 * when the balancer is destroyed (test-only; behaviour of live channels is unchanged).
 */
function patchPriorityBalancerTimers(): void {
  const require = createRequire(import.meta.url);
  const mod = require('@grpc/grpc-js-xds/build/src/load-balancer-priority.js') as {
    PriorityLoadBalancer: { prototype: { destroy(): void; children?: Map<string, unknown> } };
  };
  const proto = mod.PriorityLoadBalancer.prototype as {
    destroy(): void;
    children?: Map<string, { cancelFailoverTimer?(): void; maybeReactivate?(): void }>;
    __mizzenPatched?: boolean;
  };
  if (proto.__mizzenPatched) return;
  const destroy = proto.destroy;
  proto.destroy = function (this: typeof proto) {
    for (const child of this.children?.values() ?? []) {
      child.cancelFailoverTimer?.();
      child.maybeReactivate?.(); // clears the deactivation timer
    }
    destroy.call(this);
  };
  proto.__mizzenPatched = true;
}
const identity = (b: Buffer) => b;

/** How a backend answers. */
export type BackendMode =
  /** Answer with the backend's name. */
  | 'ok'
  /** Fail the first attempt of every request id with UNAVAILABLE, then answer. */
  | 'fail-first'
  /** Never answer until the backend is closed (for deadlines). */
  | 'hang';

export class Backend {
  readonly name: string;
  mode: BackendMode;
  readonly server = new grpc.Server();
  port = 0;
  /** Attempts that reached this backend. */
  calls = 0;
  /** Attempts per request id (the request payload). */
  readonly attempts = new Map<string, number>();
  readonly #held: grpc.sendUnaryData<Buffer>[] = [];

  constructor(name: string, mode: BackendMode = 'ok') {
    this.name = name;
    this.mode = mode;
    this.server.addService(
      {
        Call: {
          path: METHOD,
          requestStream: false,
          responseStream: false,
          requestSerialize: identity,
          requestDeserialize: identity,
          responseSerialize: identity,
          responseDeserialize: identity,
        },
      },
      {
        Call: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) =>
          this.#onCall(call, cb),
      },
    );
  }

  #onCall(call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>): void {
    this.calls++;
    const id = call.request.toString();
    const n = (this.attempts.get(id) ?? 0) + 1;
    this.attempts.set(id, n);
    if (this.mode === 'hang') {
      this.#held.push(cb);
      return;
    }
    if (this.mode === 'fail-first' && n === 1) {
      cb({ code: grpc.status.UNAVAILABLE, details: `${this.name}: first attempt fails` });
      return;
    }
    cb(null, Buffer.from(this.name));
  }

  async start(): Promise<this> {
    this.port = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    return this;
  }

  close(): void {
    for (const cb of this.#held.splice(0)) cb({ code: grpc.status.CANCELLED, details: 'backend closing' });
    this.server.forceShutdown();
  }
}

export interface CallResult {
  /** The backend that answered, or undefined on error. */
  readonly backend?: string;
  readonly code: grpc.status;
  readonly details?: string;
  readonly elapsedMs: number;
}

/** One unary call; never rejects (errors are results). */
export function call(
  client: grpc.Client,
  options: { id?: string; metadata?: Record<string, string>; deadlineMs?: number } = {},
): Promise<CallResult> {
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(options.metadata ?? {})) md.set(k, v);
  const started = performance.now();
  const callOptions: grpc.CallOptions = {};
  if (options.deadlineMs !== undefined) callOptions.deadline = Date.now() + options.deadlineMs;
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      METHOD,
      identity,
      identity,
      Buffer.from(options.id ?? 'ping'),
      md,
      callOptions,
      (err, res) => {
        const elapsedMs = performance.now() - started;
        if (err) resolve({ code: err.code ?? grpc.status.UNKNOWN, details: err.details, elapsedMs });
        else resolve({ backend: (res as Buffer).toString(), code: grpc.status.OK, elapsedMs });
      },
    );
  });
}

/** Counts of answering backends (errors under `error:<CODE>`) over `n` calls. */
export async function tally(
  client: grpc.Client,
  n: number,
  options: { metadata?: Record<string, string>; parallel?: number } = {},
): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  const parallel = options.parallel ?? 25;
  for (let done = 0; done < n; done += parallel) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(parallel, n - done) }, () =>
        call(client, { metadata: options.metadata }),
      ),
    );
    for (const r of batch) {
      const key = r.backend ?? `error:${grpc.status[r.code]}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  }
  return counts;
}

/** A node id per client, so each test finds its own connection in mizzend. */
export function clientNodeId(pod: string): string {
  return `sidecar~127.0.0.1~${pod}.default~default.svc.cluster.local`;
}

export class Mesh {
  readonly server: MizzenDiscoveryServer;
  readonly dir: string;
  readonly grpcAddress: string;
  readonly #clients: grpc.Client[] = [];
  readonly #backends: Backend[] = [];

  private constructor(server: MizzenDiscoveryServer, dir: string, grpcAddress: string) {
    this.server = server;
    this.dir = dir;
    this.grpcAddress = grpcAddress;
  }

  /** mizzend on 127.0.0.1:0 serving an empty temp directory. */
  static async start(): Promise<Mesh> {
    grpcXds.register();
    patchPriorityBalancerTimers();
    const dir = await mkdtemp(path.join(tmpdir(), 'mizzen-grpc-xds-'));
    const server = new MizzenDiscoveryServer({
      configDir: dir,
      grpcPort: 0,
      monitoringPort: 0,
      metrics: new MetricsRegistry(),
      // Short debounce: the tests wait for pushes by event, this only makes them quicker.
      debounceAfterMs: 10,
      debounceMaxMs: 100,
    });
    const ports = await server.start();
    return new Mesh(server, dir, `127.0.0.1:${ports.grpc}`);
  }

  async backend(name: string, mode: BackendMode = 'ok'): Promise<Backend> {
    const b = await new Backend(name, mode).start();
    this.#backends.push(b);
    return b;
  }

  /**
   * Writes (or, with `null`, deletes) a file in the config directory, rescans it, and waits
   * for the push the change causes (resolves with it; undefined when nothing changed).
   */
  async apply(file: string, yaml: string | null): Promise<PushInfo | undefined> {
    const p = path.join(this.dir, file);
    if (yaml === null) await unlink(p);
    else await writeFile(p, yaml);
    const source = this.server.directorySource;
    if (!source) throw new Error('mizzend has no directory source');
    await source.rescan();
    await this.server.store.idle();
    if (this.server.pendingPushEvents === 0) return this.server.lastPush;
    return new Promise((resolve) => this.server.once('push', resolve));
  }

  /** A grpc-js-xds channel for `xds:///<target>`, bootstrapped against mizzend. */
  client(target: string, pod: string): grpc.Client {
    const bootstrap = {
      xds_servers: [
        { server_uri: this.grpcAddress, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] },
      ],
      // grpc-js-xds needs a locality (even empty); GENERATOR=grpc selects Istio's gRPC flavour.
      node: {
        id: clientNodeId(pod),
        locality: {},
        metadata: { NAMESPACE: 'default', GENERATOR: 'grpc', ISTIO_VERSION: '1.24.0' },
      },
    };
    const client = new grpc.Client(`xds:///${target}`, grpc.credentials.createInsecure(), {
      'grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config': JSON.stringify(bootstrap),
    });
    this.#clients.push(client);
    return client;
  }

  /** The mizzend connection of the client with `pod`. */
  connection(pod: string): XdsConnection | undefined {
    const id = clientNodeId(pod);
    return this.server.ads.connections().find((c) => c.proxy?.nodeId === id);
  }

  /**
   * Resolves once the client `pod` has ACKed `typeUrl` at push version `version` or later and,
   * when `name` is given, subscribes to `name` and has ACKed a response sent after that
   * subscription. grpc-js-xds applies a new route only once every cluster it needs has come by
   * CDS and EDS (gRFC A74), so a test waits for the EDS of the cluster it expects traffic on.
   */
  ackedAfter(pod: string, typeUrl: string, version: string, name?: string): Promise<void> {
    const done = () => {
      const w = this.connection(pod)?.watched.get(typeUrl);
      if (w?.versionAcked === undefined || versionOrder(w.versionAcked) < versionOrder(version)) return false;
      if (name === undefined) return true;
      return (w.wildcard || w.resourceNames.has(name)) && w.nonceAcked === w.nonceSent;
    };
    if (done()) return Promise.resolve();
    return new Promise((resolve) => {
      const on = () => {
        if (!done()) return;
        this.server.ads.off('ack', on);
        resolve();
      };
      this.server.ads.on('ack', on);
    });
  }

  async close(): Promise<void> {
    for (const c of this.#clients) c.close();
    await this.server.stop({ graceMs: 1000 });
    for (const b of this.#backends) b.close();
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** mizzend versions are `<time>/<counter>`; the counter orders them within one run. */
function versionOrder(version: string): number {
  return Number(version.slice(version.lastIndexOf('/') + 1));
}

/** A ServiceEntry for `host:port` (gRPC) whose endpoints are the WorkloadEntries labelled `app`. */
export function serviceEntry(name: string, host: string, port: number): string {
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${name}, namespace: default}
spec:
  hosts: [${host}]
  ports: [{number: ${port}, name: grpc, protocol: GRPC}]
  resolution: STATIC
  location: MESH_INTERNAL
  workloadSelector: {labels: {app: ${name}}}
`;
}

/** A WorkloadEntry on 127.0.0.1 at the backend's port. */
export function workloadEntry(
  name: string,
  app: string,
  backend: Backend,
  labels: Record<string, string> = {},
): string {
  const extra = Object.entries(labels)
    .map(([k, v]) => `, ${k}: ${v}`)
    .join('');
  return `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: ${name}, namespace: default}
spec:
  address: 127.0.0.1
  ports: {grpc: ${backend.port}}
  labels: {app: ${app}${extra}}
`;
}

export const doc = (...parts: string[]) => parts.join('---\n');
