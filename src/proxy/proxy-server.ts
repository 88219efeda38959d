/**
 * mizzen-proxy assembled: one xDS client whose compile hooks are the data plane's `compile*`
 * functions, feeding the cluster manager (CDS/EDS), the RDS providers and the listener manager
 * (LDS), plus the admin server (15000) and the agent's readiness server (15021).
 *
 *   const p = new ProxyServer({ bootstrap });
 *   await p.start();          // binds admin and status, opens the ADS stream
 *   await p.ready();          // resolves once the xDS client's initial warming is over
 *   await p.shutdown(drainMs) // SIGTERM: stop accepting, let in-flight work finish, close
 */
import { availableParallelism } from 'node:os';
import { StatusServer } from '../agent/health.ts';
import { logger } from '../lib/log.ts';
import type { XdsNode } from '../lib/xds/discovery.ts';
import {
  CLUSTER_TYPE_URL,
  ENDPOINT_TYPE_URL,
  LISTENER_TYPE_URL,
  ROUTE_TYPE_URL,
  SECRET_TYPE_URL,
} from '../lib/xds/type-urls.ts';
import { AdminServer } from './admin/admin-server.ts';
import { compileListener } from './listener/listener.ts';
import { ListenerManager } from './listener/listener-manager.ts';
import { compilePerRouteFilterConfig } from './network/http/filters/registry.ts';
import { compileRouteConfiguration } from './network/http/router/route-table.ts';
import { StatsStore } from './stats/store.ts';
import { setLocalNode } from './telemetry/bootstrap-telemetry.ts';
import { compileSecret } from './tls/secret-store.ts';
import {
  type ClusterConfig,
  compileCluster,
  compileClusterLoadAssignment,
  type LoadAssignment,
} from './upstream/cluster.ts';
import { ClusterManager } from './upstream/cluster-manager.ts';
import { WorkerPool } from './workers/worker-pool.ts';
import { XdsClient, type XdsMode, type XdsUpdate } from './xds/client.ts';
import { type CompileHooks, envoyResourceTypes } from './xds/resource-types/registry.ts';

const log = logger('proxy');

/** What the proxy needs from the bootstrap (src/agent/bootstrap.ts's Bootstrap fits). */
export interface ProxyBootstrap {
  readonly node: XdsNode;
  readonly discoveryAddress: string;
  readonly xdsMode: XdsMode;
  readonly proxyType?: string;
  readonly metadata?: Readonly<Record<string, unknown>>;
}

export interface ProxyServerOptions {
  readonly bootstrap: ProxyBootstrap;
  /** Admin port (default 15000); 0 picks a free one; null disables the admin server. */
  readonly adminPort?: number | null;
  /** Admin bind address (default 127.0.0.1: the admin API is unauthenticated). */
  readonly adminAddress?: string;
  /** Readiness port (default 15021); 0 picks a free one; null disables it. */
  readonly statusPort?: number | null;
  readonly statusAddress?: string;
  /** How long removed or replaced listeners drain (default 45 s). */
  readonly listenerDrainMs?: number;
  /** The default drain period of /quitquitquit and shutdown() (default 5 s). */
  readonly drainMs?: number;
  /** Passed to the xDS client (default 15 s). */
  readonly initialFetchTimeoutMs?: number;
  /** Called when /quitquitquit asks the process to exit. */
  readonly onQuit?: () => void;
  /**
   * Worker processes serving the listeners (Envoy's --concurrency): 1 (default) serves in this
   * process; N > 1 forks N workers fed by this process's single xDS stream; 0 = one per core.
   */
  readonly concurrency?: number;
  /** Node flags for worker processes (default: this process's). */
  readonly workerExecArgv?: readonly string[];
}

/** The data plane's compile step per xDS type (the primary's xDS client and workers share it). */
export function dataPlaneCompileHooks(env: {
  readonly clusterManager: ClusterManager;
  readonly stats: StatsStore;
  readonly rds: ListenerManager['rdsProvider'];
  /** SDS secrets downstream TLS contexts read (the listener manager's store). */
  readonly secrets?: ListenerManager['secrets'];
}): CompileHooks {
  return {
    secret: (m, c) => compileSecret(m, { decodeAny: c.decodeAny }),
    cluster: (m, c) => compileCluster(m, { decodeAny: c.decodeAny }),
    clusterLoadAssignment: (m, c) => compileClusterLoadAssignment(m, { decodeAny: c.decodeAny }),
    routeConfiguration: (m, c) =>
      compileRouteConfiguration(m, {
        decodeAny: c.decodeAny,
        perFilterConfig: compilePerRouteFilterConfig,
      }),
    listener: (m, c) => compileListener(m, { ...env, decodeAny: c.decodeAny }),
  };
}

/**
 * Applies one accepted xDS update to a data plane (ProxyServer's, or a worker process's).
 * `bindListeners` false: listeners are left to the worker processes.
 */
export async function applyUpdate(
  dp: { readonly clusterManager: ClusterManager; readonly listenerManager: ListenerManager },
  u: XdsUpdate,
  bindListeners = true,
): Promise<void> {
  switch (u.typeUrl) {
    case ENDPOINT_TYPE_URL:
      for (const r of [...u.added, ...u.updated]) {
        dp.clusterManager.updateEndpoints(r.name, r.resource.compiled as LoadAssignment);
      }
      // An endpoint resource that went away leaves its clusters without hosts (Envoy's way).
      for (const name of u.removed) {
        dp.clusterManager.updateEndpoints(name, {
          clusterName: name,
          localities: [],
          overprovisioningFactor: 140,
        });
      }
      return;
    case CLUSTER_TYPE_URL:
      for (const r of [...u.added, ...u.updated]) {
        dp.clusterManager.addOrUpdate(r.resource.compiled as ClusterConfig);
      }
      for (const name of u.removed) dp.clusterManager.remove(name);
      return;
    case ROUTE_TYPE_URL:
      dp.listenerManager.applyRoutes(u);
      return;
    case LISTENER_TYPE_URL:
      if (bindListeners) await dp.listenerManager.applyListeners(u);
      return;
    case SECRET_TYPE_URL:
      // Downstream TLS contexts read SDS secrets for new connections; upstream transport
      // sockets do not read SDS yet (their compile step NACKs an SDS reference).
      dp.listenerManager.applySecrets(u);
      return;
    default:
      log.debug('update without a data-plane consumer', { type: u.typeUrl });
  }
}

/**
 * Node metadata key with the bound admin API address, so `mizzenctl proxy-config` can reach a
 * proxy through mizzend's /debug/syncz even when the admin port was picked at random.
 */
export const ADMIN_ADDRESS_METADATA_KEY = 'MIZZEN_ADMIN_ADDRESS';

/** Adds the admin address to the node sent on every stream (wildcard binds name no host: skipped). */
function announceAdminAddress(node: XdsNode, host: string, port: number): void {
  if (host === '0.0.0.0' || host === '::') return;
  const metadata = (node.metadata ??= { fields: {} });
  metadata.fields ??= {};
  const address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  metadata.fields[ADMIN_ADDRESS_METADATA_KEY] = { stringValue: address };
}

export class ProxyServer {
  readonly stats = new StatsStore();
  readonly clusterManager: ClusterManager;
  readonly listenerManager: ListenerManager;
  readonly xds: XdsClient;
  readonly bootstrap: ProxyBootstrap;
  readonly startedAt = Date.now();
  admin: AdminServer | undefined;
  /** The worker processes, when concurrency > 1. */
  readonly workers: WorkerPool | undefined;
  status: StatusServer | undefined;
  readonly #options: ProxyServerOptions;
  #readyPromise: Promise<void>;
  #isReady = false;
  #draining = false;
  #shutdown: Promise<void> | undefined;
  /** Serialises data-plane updates (listener binds are asynchronous). */
  #applying: Promise<void> = Promise.resolve();

  constructor(options: ProxyServerOptions) {
    this.#options = options;
    this.bootstrap = options.bootstrap;
    this.clusterManager = new ClusterManager(this.stats);
    this.listenerManager = new ListenerManager(this.stats, { drainTimeMs: options.listenerDrainMs });
    const env = {
      clusterManager: this.clusterManager,
      stats: this.stats,
      rds: this.listenerManager.rdsProvider,
      secrets: this.listenerManager.secrets,
    };
    this.xds = new XdsClient({
      server: options.bootstrap.discoveryAddress,
      node: options.bootstrap.node,
      mode: options.bootstrap.xdsMode,
      initialFetchTimeoutMs: options.initialFetchTimeoutMs,
      resourceTypes: envoyResourceTypes(dataPlaneCompileHooks(env)),
    });
    setLocalNode(this.stats, options.bootstrap);
    const n = options.concurrency ?? 1;
    const workers = n === 0 ? availableParallelism() : n;
    if (workers > 1) {
      this.workers = new WorkerPool({
        workers,
        bootstrap: { node: options.bootstrap.node, metadata: options.bootstrap.metadata },
        listenerDrainMs: options.listenerDrainMs,
        stats: this.stats,
        execArgv: options.workerExecArgv,
      });
    }
    this.xds.on('update', (u) => {
      this.#applying = this.#applying
        .then(() => this.#apply(u))
        .catch((err: Error) => {
          log.error('applying an xDS update failed', { type: u.typeUrl, error: err.message });
        });
    });
    this.xds.on('nack', (n) => {
      log.warn('config rejected (NACK)', {
        type: n.typeUrl,
        version: n.version,
        errors: n.errors.join(' | '),
      });
    });
    this.#readyPromise = new Promise((resolve) => {
      // Listeners of the initial config are bound before the proxy reports ready.
      this.xds.once('initialized', () => {
        void this.#applying.then(() => this.workers?.whenCurrent()).then(resolve);
      });
    });
  }

  /** Resolves once the initial config is applied and its listeners bound. */
  ready(): Promise<void> {
    return this.#readyPromise;
  }

  /** Initial config applied and not draining (what /ready and /healthz/ready report). */
  get isReady(): boolean {
    return this.#isReady && !this.#draining;
  }

  get draining(): boolean {
    return this.#draining;
  }

  async #apply(u: XdsUpdate): Promise<void> {
    // With workers, the primary compiled (and so ACKs or NACKs) this update; the workers bind
    // and serve its listeners, the primary keeps clusters and routes for the admin API.
    await applyUpdate(this, u, this.workers === undefined);
    this.workers?.publish(u);
  }

  /** Binds the admin and status servers and opens the ADS stream. */
  async start(): Promise<void> {
    const o = this.#options;
    void this.#readyPromise.then(() => {
      this.#isReady = true;
      log.info('proxy ready', { listeners: this.listenerManager.listeners().length });
    });
    if (o.adminPort !== null) {
      this.admin = new AdminServer(this, {
        onQuit: o.onQuit,
      });
      const host = o.adminAddress ?? '127.0.0.1';
      const port = await this.admin.listen(o.adminPort ?? 15000, host);
      announceAdminAddress(this.bootstrap.node, host, port);
    }
    if (o.statusPort !== null) {
      this.status = new StatusServer({ ready: () => this.isReady });
      await this.status.listen(o.statusPort ?? 15021, o.statusAddress ?? '127.0.0.1');
    }
    this.workers?.start();
    this.xds.start();
  }

  /** Listener name → bound port (the workers' listeners when there are workers). */
  listenerPorts(): Record<string, number> {
    const own = Object.fromEntries(this.listenerManager.listeners().map((l) => [l.name, l.port]));
    return { ...own, ...this.workers?.listenerPorts() };
  }

  /** Stops accepting on every listener (/drain_listeners); established connections finish. */
  drainListeners(drainMs: number = this.#options.drainMs ?? 5000): Promise<void> {
    this.#draining = true;
    // Workers drain and exit as a whole: /drain_listeners with workers stops them.
    return Promise.all([this.listenerManager.drainAll(drainMs), this.workers?.drain(drainMs)]).then(() => {});
  }

  /**
   * Graceful stop: report not-ready, stop accepting, let in-flight requests and connections
   * finish within `drainMs`, then close everything (the xDS stream last, so config keeps
   * arriving while draining).
   */
  shutdown(drainMs: number = this.#options.drainMs ?? 5000): Promise<void> {
    this.#shutdown ??= (async () => {
      this.#draining = true;
      log.info('draining', { drainMs });
      await Promise.all([this.listenerManager.drainAll(drainMs), this.workers?.drain(drainMs)]);
      // No downstream connection is left, so no request is in flight upstream either.
      await this.close();
    })();
    return this.#shutdown;
  }

  /** Closes everything now. */
  async close(): Promise<void> {
    this.#draining = true;
    this.xds.close();
    await Promise.all([this.listenerManager.close(), this.workers?.close()]);
    this.clusterManager.destroy();
    await Promise.all([this.admin?.close(), this.status?.close()]);
  }
}
