/**
 * A worker process of `--concurrency N` (forked by worker-pool.ts through node:cluster): gets its
 * config from the primary over IPC, compiles it with the same compile step as the primary,
 * serves the listeners (node:cluster shares their sockets), sends its stats back, and drains
 * when the primary says so. Signals are the primary's business: a worker ignores SIGTERM and
 * SIGINT (a terminal's Ctrl-C reaches the whole process group) and exits when the primary goes.
 */
import { logger } from '../../lib/log.ts';
import { decodeMessage } from '../../lib/xds/protos.ts';
import {
  CLUSTER_TYPE_URL,
  ENDPOINT_TYPE_URL,
  LISTENER_TYPE_URL,
  ROUTE_TYPE_URL,
  SECRET_TYPE_URL,
} from '../../lib/xds/type-urls.ts';
import type { AnyDecoder } from '../config/proto.ts';
import { ListenerManager } from '../listener/listener-manager.ts';
import { applyUpdate, dataPlaneCompileHooks } from '../proxy-server.ts';
import { StatsStore } from '../stats/store.ts';
import { setLocalNode } from '../telemetry/bootstrap-telemetry.ts';
import { ClusterManager } from '../upstream/cluster-manager.ts';
import type { CompileHooks } from '../xds/resource-types/registry.ts';
import { RESOURCE_DECODE_OPTIONS } from '../xds/resource-types/resource-type.ts';
import type { XdsUpdate } from '../xds/warming.ts';
import type { FromWorker, ToWorker, WireUpdate, WorkerInit } from './protocol.ts';
import { takeSnapshot } from './stats-snapshot.ts';

const id = process.env.MIZZEN_WORKER_ID ?? '?';
const log = logger(`proxy:worker${id}`);
const decodeAny: AnyDecoder = (typeUrl, value) => decodeMessage(typeUrl, value, RESOURCE_DECODE_OPTIONS);

function send(m: FromWorker): void {
  if (process.connected) process.send?.(m);
}

const HOOK_OF: Record<string, keyof CompileHooks> = {
  [CLUSTER_TYPE_URL]: 'cluster',
  [ENDPOINT_TYPE_URL]: 'clusterLoadAssignment',
  [ROUTE_TYPE_URL]: 'routeConfiguration',
  [LISTENER_TYPE_URL]: 'listener',
  [SECRET_TYPE_URL]: 'secret',
};

class Worker {
  readonly stats = new StatsStore();
  readonly clusterManager = new ClusterManager(this.stats);
  readonly listenerManager: ListenerManager;
  readonly #hooks: CompileHooks;
  #chain: Promise<void> = Promise.resolve();
  #statsTimer: NodeJS.Timeout;

  constructor(init: WorkerInit) {
    setLocalNode(this.stats, init);
    this.listenerManager = new ListenerManager(this.stats, { drainTimeMs: init.listenerDrainMs });
    this.#hooks = dataPlaneCompileHooks({
      clusterManager: this.clusterManager,
      stats: this.stats,
      rds: this.listenerManager.rdsProvider,
      secrets: this.listenerManager.secrets,
    });
    this.#statsTimer = setInterval(() => this.sendStats(), init.statsIntervalMs);
    this.#statsTimer.unref();
  }

  sendStats(): void {
    send({ t: 'stats', snapshot: takeSnapshot(this.stats) });
  }

  /** Compiles and applies updates in order; one `applied` answer per config message. */
  config(seq: number, updates: readonly WireUpdate[]): void {
    this.#chain = this.#chain.then(async () => {
      const errors: string[] = [];
      for (const w of updates) {
        const u = this.#compile(w, errors);
        try {
          await applyUpdate(this, u);
        } catch (err) {
          errors.push(`${w.typeUrl}: ${(err as Error).message}`);
        }
      }
      const listeners = Object.fromEntries(this.listenerManager.listeners().map((l) => [l.name, l.port]));
      send({ t: 'applied', seq, errors, listeners });
      // Fresh totals right after a config change (new clusters, listeners) rather than a second later.
      this.sendStats();
    });
  }

  #compile(w: WireUpdate, errors: string[]): XdsUpdate {
    const hook = this.#hooks[HOOK_OF[w.typeUrl]];
    const one = (r: WireUpdate['added'][number]) => {
      let compiled: unknown;
      if (hook) {
        const res = hook(r.message, { name: r.name, decodeAny });
        if (res.ok) compiled = res.value;
        else
          errors.push(
            `${w.typeUrl} ${r.name}: ${res.errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`,
          );
      }
      return {
        name: r.name,
        version: r.version,
        resource: {
          typeUrl: w.typeUrl,
          name: r.name,
          message: r.message,
          compiled,
          hash: '',
          dependencies: [],
        },
      };
    };
    // A resource that does not compile here is left out (the rest still applies).
    const ok = (r: ReturnType<typeof one>) => !hook || r.resource.compiled !== undefined;
    return {
      typeUrl: w.typeUrl,
      added: w.added.map(one).filter(ok),
      updated: w.updated.map(one).filter(ok),
      removed: w.removed,
    };
  }

  async drain(ms: number): Promise<void> {
    clearInterval(this.#statsTimer);
    await this.#chain;
    await this.listenerManager.drainAll(ms);
    this.sendStats();
    await this.listenerManager.close();
    this.clusterManager.destroy();
  }
}

let worker: Worker | undefined;
process.on('SIGTERM', () => log.debug('SIGTERM ignored: the primary drains workers'));
process.on('SIGINT', () => log.debug('SIGINT ignored: the primary drains workers'));
// The primary is gone (crashed or killed): nothing will ever drain us, so leave now.
process.on('disconnect', () => process.exit(0));
process.on('message', (m: ToWorker) => {
  switch (m.t) {
    case 'init':
      worker ??= new Worker(m.init);
      return;
    case 'config':
      if (!worker) {
        log.error('config before init; ignored');
        return;
      }
      worker.config(m.seq, m.updates);
      return;
    case 'drain':
      void (worker?.drain(m.ms) ?? Promise.resolve()).then(
        () => process.exit(0),
        (err: Error) => {
          log.error('drain failed', { error: err.message });
          process.exit(1);
        },
      );
      return;
  }
});
send({ t: 'ready' });
