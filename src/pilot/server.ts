/**
 * MizzenDiscoveryServer: mizzend assembled from its parts (Istio's bootstrap.Server +
 * DiscoveryServer). Data flows one way (DESIGN §3):
 *
 *   directory source ─> config store ─┬─> ServiceEntry registry ─> EndpointIndex ─┐
 *                                     │                                            │ RegistryChange
 *                                     └─ config events ────────────────────────────┤
 *   mesh config file (watched) ───────────────────────────── mesh change ──────────┤
 *                                                                                  v
 *              #enqueue (the ONE spot where events become PushRequests) ─> PushDebouncer
 *                     ─> PushContext (full: updatePushContext; endpoint-only: reused)
 *                     ─> AdsServer.push ─> push queue (PILOT_PUSH_THROTTLE) ─> proxies
 *
 * Endpoint-only registry changes stay `full: false`: the PushContext is not rebuilt, only EDS
 * generators' needsPush say yes, and only for proxies that can see the changed service.
 * The monitoring HTTP server (`debug/`) reads the same objects and never mutates them.
 */
import { EventEmitter } from 'node:events';
import { type FSWatcher, constants as fsConstants, watch } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import path from 'node:path';
import {
  DEFAULT_MESH_CONFIG,
  loadMeshConfig,
  type MeshConfig,
  meshConfigOrThrow,
} from '../api/mesh/mesh-config.ts';
import type { ConfigKey } from '../api/resource.ts';
import { formatIssue } from '../api/yaml-document.ts';
import type { ConfigSource } from '../config/source.ts';
import { DirectorySource } from '../config/sources/file/directory-source.ts';
import { type ConfigStoreController, createConfigStore } from '../config/store.ts';
import { Debouncer } from '../lib/debounce.ts';
import { ErrorCode, errorMessage, MizzenError } from '../lib/errors.ts';
import {
  PILOT_DEBOUNCE_AFTER,
  PILOT_DEBOUNCE_MAX,
  PILOT_ENABLE_EDS_DEBOUNCE,
  PILOT_PUSH_THROTTLE,
} from '../lib/features.ts';
import { logger } from '../lib/log.ts';
import { type Counter, defaultRegistry, type Histogram, type MetricsRegistry } from '../lib/metrics.ts';
import { AggregateRegistry } from '../registry/aggregate.ts';
import { EndpointIndex } from '../registry/endpoint-index.ts';
import { ServiceEntryRegistry } from '../registry/serviceentry/registry.ts';
import { EndpointIndexUpdater, type RegistryChange } from '../registry/updater.ts';
import { DebugServer } from './debug/debug-server.ts';
import { initPushContext, type PushContext, updatePushContext } from './model/push-context.ts';
import {
  formatReasons,
  mergePushRequests,
  newPushRequest,
  type PushRequest,
  TriggerReason,
  withPushContext,
} from './model/push-request.ts';
import { AdsServer, type KeepaliveOptions } from './xds/ads-server.ts';
import { PushDebouncer } from './xds/debounce.ts';
import type { GeneratorRegistry } from './xds/generator-registry.ts';
import { defaultGenerators } from './xds/generators/index.ts';

const log = logger('pilot:server');

export const DEFAULT_GRPC_PORT = 15010;
export const DEFAULT_MONITORING_PORT = 15014;
/**
 * Loopback by default: the embedded default runs on one machine, and plaintext xDS carries
 * the whole mesh's config without authentication. Pass `0.0.0.0` (or `::`) to serve other
 * hosts or network namespaces, as istiod does in Kubernetes.
 */
export const DEFAULT_HOST = '127.0.0.1';

/** Kinds the ServiceEntry registry turns into service and endpoint changes (never pushed as config). */
const REGISTRY_KINDS: ReadonlySet<string> = new Set(['ServiceEntry', 'WorkloadEntry', 'WorkloadGroup']);

export interface MizzenDiscoveryServerOptions {
  /** Directory (or single file) of Istio YAML, watched: the embedded default config source. */
  readonly configDir?: string;
  /** Further config sources after the directory (tests use a MemorySource). */
  readonly configSources?: readonly ConfigSource[];
  /** Mesh config file (MeshConfig, `istio` ConfigMap or IstioOperator), watched and reloaded. */
  readonly meshConfigFile?: string;
  /** A mesh config given directly (when no file); Istio's defaults otherwise. */
  readonly mesh?: MeshConfig;
  /** ADS port (default 15010; 0 picks a free one). */
  readonly grpcPort?: number;
  /** Monitoring/debug HTTP port (default 15014; 0 picks a free one). */
  readonly monitoringPort?: number;
  /** Address both servers bind (default 127.0.0.1). */
  readonly host?: string;
  /** PILOT_DEBOUNCE_AFTER in ms (default: the env flag, 100). */
  readonly debounceAfterMs?: number;
  /** PILOT_DEBOUNCE_MAX in ms (default: the env flag, 10 s). */
  readonly debounceMaxMs?: number;
  /** PILOT_ENABLE_EDS_DEBOUNCE (default: the env flag, true). */
  readonly enableEdsDebounce?: boolean;
  /** PILOT_PUSH_THROTTLE (default: the env flag, 100). */
  readonly pushThrottle?: number;
  /** Quiet period of the config directory watcher in ms (default 100). */
  readonly configDebounceMs?: number;
  readonly keepalive?: KeepaliveOptions;
  /** Registry behind /metrics (default: the process registry). */
  readonly metrics?: MetricsRegistry;
  readonly generators?: GeneratorRegistry<PushContext>;
  /** control_plane.identifier of every xDS response (default `mizzend`). */
  readonly controlPlaneId?: string;
}

/** Where the servers ended up listening. */
export interface ListeningPorts {
  readonly grpc: number;
  readonly monitoring: number;
}

/** A push as it was handed to the ADS server (for debug output and tests). */
export interface PushInfo {
  readonly version: string;
  readonly full: boolean;
  readonly reasons: string;
  readonly configs: readonly ConfigKey[];
  readonly events: number;
  readonly debounceMs: number;
  readonly pushContextVersion: string;
  /** Date.now() */
  readonly at: number;
}

interface ServerMetrics {
  readonly inboundUpdates: Counter;
  readonly configEvents: Counter;
  readonly debounceTime: Histogram;
  readonly pushContextInit: Histogram;
  readonly pushContextErrors: Counter;
}

function serverMetrics(registry: MetricsRegistry): ServerMetrics {
  return {
    inboundUpdates: registry.counter({
      name: 'pilot_inbound_updates',
      help: 'Changes received by the control plane, by type (config, eds, svc, mesh).',
      labelNames: ['type'],
    }),
    configEvents: registry.counter({
      name: 'pilot_k8s_cfg_events',
      help: 'Config store events, by kind and event (add, update, delete).',
      labelNames: ['type', 'event'],
    }),
    debounceTime: registry.histogram({
      name: 'pilot_debounce_time',
      help: 'Seconds between the first change of a debounced burst and the start of its push.',
      buckets: [0.01, 0.1, 0.5, 1, 3, 5, 10, 20],
    }),
    pushContextInit: registry.histogram({
      name: 'pilot_pushcontext_init_seconds',
      help: 'Seconds spent building a push context.',
      buckets: [0.01, 0.1, 0.5, 1, 3, 5],
    }),
    pushContextErrors: registry.counter({
      name: 'pilot_xds_push_context_errors',
      help: 'Push contexts that could not be built; the previous one kept serving.',
    }),
  };
}

function checkPort(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 0 || value > 65535) {
    throw new MizzenError(ErrorCode.INVALID_ARGUMENT, `${name} must be a port number 0-65535, got ${value}`);
  }
  return value;
}

export interface MizzenDiscoveryServerEvents {
  /** A push was handed to the ADS server. */
  push: [info: PushInfo];
}

export class MizzenDiscoveryServer extends EventEmitter<MizzenDiscoveryServerEvents> {
  readonly store: ConfigStoreController;
  readonly directorySource: DirectorySource | undefined;
  readonly endpointIndex = new EndpointIndex();
  readonly serviceEntryRegistry: ServiceEntryRegistry;
  readonly registry: AggregateRegistry;
  readonly generators: GeneratorRegistry<PushContext>;
  readonly ads: AdsServer<PushContext>;
  readonly debug: DebugServer;
  readonly metrics: MetricsRegistry;
  readonly host: string;
  readonly debounceAfterMs: number;
  readonly debounceMaxMs: number;
  readonly enableEdsDebounce: boolean;
  readonly pushThrottle: number;
  /** Resolves once config is synced, the first push context is built and both servers listen. */
  readonly ready: Promise<ListeningPorts>;

  readonly #options: MizzenDiscoveryServerOptions;
  readonly #metrics: ServerMetrics;
  readonly #debouncer: PushDebouncer<PushRequest<undefined>>;
  readonly #abort = new AbortController();
  readonly #background: Promise<unknown>[] = [];
  #resolveReady!: (ports: ListeningPorts) => void;
  #rejectReady!: (err: Error) => void;
  #mesh: MeshConfig;
  #push: PushContext | undefined;
  #lastPush: PushInfo | undefined;
  #started = false;
  #isReady = false;
  #adsListening = false;
  #ports: ListeningPorts | undefined;
  #stopping: Promise<void> | undefined;
  #meshWatcher: MeshConfigWatcher | undefined;

  constructor(options: MizzenDiscoveryServerOptions) {
    super();
    this.#options = options;
    if (!options.configDir && !options.configSources?.length) {
      throw new MizzenError(
        ErrorCode.INVALID_ARGUMENT,
        'mizzend needs a config directory (--config-dir / MIZZEN_CONFIG_DIR) or another config source',
      );
    }
    this.host = options.host ?? DEFAULT_HOST;
    this.debounceAfterMs = options.debounceAfterMs ?? PILOT_DEBOUNCE_AFTER.get();
    this.debounceMaxMs = options.debounceMaxMs ?? PILOT_DEBOUNCE_MAX.get();
    this.enableEdsDebounce = options.enableEdsDebounce ?? PILOT_ENABLE_EDS_DEBOUNCE.get();
    this.pushThrottle = options.pushThrottle ?? PILOT_PUSH_THROTTLE.get();
    if (this.debounceMaxMs < this.debounceAfterMs) {
      throw new MizzenError(
        ErrorCode.INVALID_ARGUMENT,
        `PILOT_DEBOUNCE_MAX (${this.debounceMaxMs}ms) must be at least PILOT_DEBOUNCE_AFTER (${this.debounceAfterMs}ms)`,
      );
    }
    checkPort('grpc port', options.grpcPort ?? DEFAULT_GRPC_PORT);
    checkPort('monitoring port', options.monitoringPort ?? DEFAULT_MONITORING_PORT);
    this.#mesh = options.mesh ?? DEFAULT_MESH_CONFIG;
    this.metrics = options.metrics ?? defaultRegistry;
    this.#metrics = serverMetrics(this.metrics);
    this.generators = options.generators ?? defaultGenerators();

    const sources: ConfigSource[] = [];
    if (options.configDir) {
      this.directorySource = new DirectorySource({
        path: options.configDir,
        debounceMs: options.configDebounceMs,
      });
      sources.push(this.directorySource);
    }
    sources.push(...(options.configSources ?? []));
    this.store = createConfigStore({ sources });

    const updater = new EndpointIndexUpdater(this.endpointIndex, (change) => this.#onRegistryChange(change));
    this.serviceEntryRegistry = new ServiceEntryRegistry({
      updater,
      store: this.store,
      trustDomain: this.#mesh.trustDomain,
    });
    // Kubernetes registries plug in beside it (first listed wins a host both declare).
    this.registry = new AggregateRegistry([this.serviceEntryRegistry]);

    this.ads = new AdsServer<PushContext>({
      generators: this.generators,
      pushContext: () => this.pushContext,
      metrics: this.metrics,
      pushConcurrency: this.pushThrottle,
      keepalive: options.keepalive,
      controlPlaneId: options.controlPlaneId ?? 'mizzend',
    });
    this.#debouncer = new PushDebouncer<PushRequest<undefined>>({
      afterMs: this.debounceAfterMs,
      maxMs: this.debounceMaxMs,
      merge: mergePushRequests,
      push: (req, info) => this.#pushNow(req, info),
      bypass: (req) => !this.enableEdsDebounce && !req.full,
    });
    this.debug = new DebugServer({
      readiness: () => this.readiness(),
      connections: () => this.ads.connections(),
      pushContext: () => this.#push,
      xdsVersion: () => this.ads.version,
      generators: this.generators,
      config: this.store,
      registry: this.registry,
      registryIssues: () => this.serviceEntryRegistry.issues(),
      endpointIndex: this.endpointIndex,
      metrics: this.metrics,
      lastPush: () => this.#lastPush,
    });
    this.ready = new Promise<ListeningPorts>((resolve, reject) => {
      this.#resolveReady = resolve;
      this.#rejectReady = reject;
    });
    // A failed start rejects `ready` and `start()` alike; nobody has to await both.
    this.ready.catch(() => {});
  }

  /** The push context proxies are served from; throws before the first one is built. */
  get pushContext(): PushContext {
    if (!this.#push)
      throw new MizzenError(ErrorCode.INVALID_ARGUMENT, 'mizzend has not built a push context yet');
    return this.#push;
  }

  get mesh(): MeshConfig {
    return this.#mesh;
  }

  get ports(): ListeningPorts | undefined {
    return this.#ports;
  }

  /** The last push handed to the ADS server. */
  get lastPush(): PushInfo | undefined {
    return this.#lastPush;
  }

  /** Requests merged and waiting for the debounce to end. */
  get pendingPushEvents(): number {
    return this.#debouncer.pendingEvents;
  }

  /** /ready: config synced and ADS listening; otherwise the reasons. */
  readiness(): { ready: boolean; reasons: string[] } {
    if (this.#isReady && !this.#stopping) return { ready: true, reasons: [] };
    const reasons: string[] = [];
    if (this.#stopping) reasons.push('shutting down');
    if (!this.store.hasSynced()) reasons.push('config not synced');
    if (!this.#push) reasons.push('no push context yet');
    if (!this.#adsListening) reasons.push('ADS server not listening');
    return { ready: false, reasons };
  }

  /**
   * Loads the mesh config, binds the monitoring port, syncs config, builds the first push
   * context and starts serving ADS. Rejects (and releases everything) when any step fails.
   */
  async start(): Promise<ListeningPorts> {
    if (this.#started)
      throw new MizzenError(ErrorCode.INVALID_ARGUMENT, 'MizzenDiscoveryServer.start() called twice');
    this.#started = true;
    try {
      const ports = await this.#start();
      this.#resolveReady(ports);
      return ports;
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      this.#rejectReady(error);
      await this.stop({ graceMs: 0 }).catch(() => {});
      throw error;
    }
  }

  async #start(): Promise<ListeningPorts> {
    const signal = this.#abort.signal;
    if (this.#options.configDir) await checkConfigPath(this.#options.configDir);
    if (this.#options.meshConfigFile) {
      this.#mesh = await readMeshConfig(this.#options.meshConfigFile);
      this.#meshWatcher = new MeshConfigWatcher(this.#options.meshConfigFile, this.#mesh, (mesh) =>
        this.#onMeshChange(mesh),
      );
      // Watching from here on: an edit during start-up lands in the first push context.
      this.#meshWatcher.start();
    }
    // Bind /ready first, so a probe sees 503 (not a refused connection) while config syncs.
    const monitoring = await this.debug.listen(
      this.#options.monitoringPort ?? DEFAULT_MONITORING_PORT,
      this.host,
    );

    // The registry registers its store handlers synchronously, before the store's first event.
    this.#background.push(this.serviceEntryRegistry.run(signal));
    const storeRun = this.store.run(signal);
    this.#background.push(storeRun);
    const storeFailed = storeRun.then(
      () => {
        if (!signal.aborted) throw new Error('config sources stopped before they synced');
      },
      (err: unknown) => {
        throw new MizzenError(ErrorCode.CONFIG_UNREADABLE, `config source failed: ${errorMessage(err)}`, {
          cause: err,
        });
      },
    );
    await Promise.race([this.store.waitForSync(signal), storeFailed]);
    storeFailed.catch((err: unknown) => log.error('config source stopped', { err }));

    // Registered only now, without replay: the initial objects are in the snapshot the first
    // push context is built from in this same turn, and every later change is an event.
    this.store.on(
      '*',
      (_previous, _current, event) => {
        this.#metrics.configEvents.labels(event.key.kind, event.type).inc();
        // ServiceEntry, WorkloadEntry and WorkloadGroup reach pushes through the registry.
        if (REGISTRY_KINDS.has(event.key.kind)) return;
        this.#enqueue(
          { full: true, configsUpdated: [event.key], reason: TriggerReason.CONFIG_UPDATE },
          'config',
        );
      },
      { name: 'pilot:push-trigger', replay: false },
    );
    const started = performance.now();
    const input = this.#pushContextInput();
    // The initial objects count as adds, as they would had each come as an event.
    const snapshot = this.store.snapshot();
    for (const kind of snapshot.kinds())
      this.#metrics.configEvents.labels(kind, 'add').inc(snapshot.list(kind).length);
    this.#push = initPushContext(input);
    this.#metrics.pushContextInit.observe((performance.now() - started) / 1000);
    for (const s of this.store.statuses()) {
      if (s.level === 'error')
        log.warn('config rejected', { source: s.source, file: s.file, problems: s.messages });
    }

    const grpcPort = this.#options.grpcPort ?? DEFAULT_GRPC_PORT;
    const grpc = await this.ads.listen(grpcPort, this.host).catch((err: unknown) => {
      const why = /EADDRINUSE/.test(errorMessage(err)) ? 'address already in use' : errorMessage(err);
      throw new Error(`cannot listen for gRPC (xDS) on ${this.host}:${grpcPort}: ${why}`, { cause: err });
    });
    this.#adsListening = true;
    this.#isReady = true;
    this.#ports = { grpc, monitoring };
    log.info('listening', {
      grpc,
      monitoring,
      host: this.host,
      services: this.#push.allServices().length,
      configs: this.store.snapshot().size,
    });
    return this.#ports;
  }

  /**
   * Graceful stop: no new pushes, ADS streams ended with UNAVAILABLE (proxies reconnect to
   * another replica), servers closed; whatever has not wound down after `graceMs` is cut.
   */
  stop(options: { graceMs?: number } = {}): Promise<void> {
    if (this.#stopping) return this.#stopping;
    const graceMs = options.graceMs ?? 5_000;
    this.#isReady = false;
    this.#stopping = (async () => {
      log.info('stopping', { graceMs });
      this.#debouncer.close();
      this.#meshWatcher?.close();
      this.#abort.abort();
      await Promise.all([
        this.ads.close({ graceMs }),
        this.debug.close({ graceMs }),
        Promise.allSettled(this.#background),
      ]);
      log.info('stopped');
    })();
    return this.#stopping;
  }

  /** Pushes now, without debounce, as if `req` had been merged (tests and debug tooling). */
  pushNow(init: { full: boolean; configsUpdated?: readonly ConfigKey[]; reason?: TriggerReason }): void {
    void this.#pushNow(
      newPushRequest({
        full: init.full,
        configsUpdated: init.configsUpdated,
        reason: init.reason ?? TriggerReason.DEBUG,
      }),
      { events: 1, waitedMs: 0 },
    );
  }

  #pushContextInput() {
    return {
      config: this.store.snapshot(),
      registry: this.registry.snapshot(),
      endpointIndex: this.endpointIndex,
      mesh: this.#mesh,
    };
  }

  #onRegistryChange(change: RegistryChange): void {
    this.#enqueue(
      { full: change.full, configsUpdated: change.configsUpdated, reason: change.reason as TriggerReason },
      change.full ? 'svc' : 'eds',
    );
  }

  #onMeshChange(mesh: MeshConfig): void {
    if (mesh.trustDomain !== this.#mesh.trustDomain) {
      log.warn('trustDomain changed in the mesh config; workload identities follow after a restart', {
        from: this.#mesh.trustDomain,
        to: mesh.trustDomain,
      });
    }
    this.#mesh = mesh;
    this.#enqueue({ full: true, reason: TriggerReason.GLOBAL_UPDATE }, 'mesh');
  }

  /** THE one spot where config, registry and mesh events become push requests. */
  #enqueue(
    init: { full: boolean; configsUpdated?: readonly ConfigKey[]; reason: TriggerReason },
    inboundType: 'config' | 'eds' | 'svc' | 'mesh',
  ): void {
    // Before the first push context, events are already part of the snapshot it is built from.
    if (!this.#push || this.#stopping) return;
    this.#metrics.inboundUpdates.labels(inboundType).inc();
    this.#debouncer.enqueue(newPushRequest(init));
  }

  #pushNow(req: PushRequest<undefined>, info: { events: number; waitedMs: number }): void {
    const previous = this.#push;
    if (!previous || this.#stopping) return;
    let push = previous;
    if (req.full) {
      const started = performance.now();
      try {
        push = updatePushContext(previous, this.#pushContextInput(), req);
      } catch (err) {
        this.#metrics.pushContextErrors.inc();
        log.error('push context could not be built; proxies keep the previous config', { err });
        return;
      }
      this.#metrics.pushContextInit.observe((performance.now() - started) / 1000);
      this.#push = push;
    }
    this.#metrics.debounceTime.observe(info.waitedMs / 1000);
    this.ads.push(withPushContext(req, push));
    const pushInfo: PushInfo = {
      version: this.ads.version,
      full: req.full,
      reasons: formatReasons(req),
      configs: [...req.configsUpdated.values()],
      events: info.events,
      debounceMs: info.waitedMs,
      pushContextVersion: push.version,
      at: Date.now(),
    };
    this.#lastPush = pushInfo;
    this.emit('push', pushInfo);
    log.info('push', {
      version: this.ads.version,
      full: req.full,
      reasons: formatReasons(req),
      configs: req.configsUpdated.size,
      events: info.events,
      debounceMs: Math.round(info.waitedMs),
      proxies: this.ads.connections().length,
    });
  }
}

/** The config path must exist and be readable: a typo must not start an empty mesh. */
async function checkConfigPath(dir: string): Promise<void> {
  try {
    const s = await stat(dir);
    await access(dir, s.isDirectory() ? fsConstants.R_OK | fsConstants.X_OK : fsConstants.R_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'does not exist'
        : code === 'EACCES'
          ? 'is not readable (permission denied)'
          : errorMessage(err);
    throw new MizzenError(ErrorCode.CONFIG_UNREADABLE, `config directory ${dir} ${why}`, { cause: err });
  }
}

async function readMeshConfig(file: string): Promise<MeshConfig> {
  const result = await loadMeshConfig(file);
  for (const issue of result.issues)
    if (issue.severity !== 'error') log.warn('mesh config', { issue: formatIssue(issue) });
  return meshConfigOrThrow(result);
}

/**
 * Watches the mesh config file (through its directory, so ConfigMap symlink swaps and editors'
 * atomic saves are seen) and hands over each new valid config. An invalid edit is logged with
 * its located errors and the last good mesh config keeps serving.
 */
class MeshConfigWatcher {
  readonly #file: string;
  readonly #onChange: (mesh: MeshConfig) => void;
  readonly #debouncer: Debouncer;
  #watcher: FSWatcher | undefined;
  #last: string;
  #closed = false;
  #reading: Promise<void> | undefined;

  constructor(file: string, initial: MeshConfig, onChange: (mesh: MeshConfig) => void) {
    this.#file = file;
    this.#last = JSON.stringify(initial);
    this.#onChange = onChange;
    this.#debouncer = new Debouncer(() => void this.#reload(), { delayMs: 100, maxDelayMs: 1000 });
  }

  start(): void {
    try {
      this.#watcher = watch(path.dirname(path.resolve(this.#file)), () => this.#debouncer.trigger());
      this.#watcher.on('error', (err) =>
        log.warn('mesh config watch failed; changes need a restart', { err }),
      );
    } catch (err) {
      log.warn('cannot watch the mesh config; changes need a restart', { file: this.#file, err });
    }
  }

  close(): void {
    this.#closed = true;
    this.#debouncer.cancel();
    this.#watcher?.close();
  }

  async #reload(): Promise<void> {
    if (this.#closed || this.#reading) return;
    this.#reading = (async () => {
      try {
        const result = await loadMeshConfig(this.#file);
        if (this.#closed) return;
        if (!result.config) {
          for (const i of result.issues)
            if (i.severity === 'error') log.error('mesh config rejected', { issue: formatIssue(i) });
          log.warn('the last good mesh config keeps serving', { file: this.#file });
          return;
        }
        const text = JSON.stringify(result.config);
        if (text === this.#last) return;
        this.#last = text;
        log.info('mesh config changed', { file: this.#file });
        this.#onChange(result.config);
      } catch (err) {
        log.warn('mesh config unreadable; the last good one keeps serving', { err: errorMessage(err) });
      }
    })();
    await this.#reading;
    this.#reading = undefined;
  }
}
