/**
 * An in-process control plane without gRPC (Istio's FakeDiscoveryServer, CODE-STYLE §C.3):
 * Istio YAML (plus Kubernetes `v1 Service` / `v1 Pod` documents for the in-memory registry) in,
 * generated xDS resources out, through the real config store, registries, endpoint index,
 * PushContext and the registered generators (`defaultGenerators()`).
 *
 *   const cp = await FakeMizzend.start({ configYaml, registryYaml, mesh });
 *   cp.clusters(proxy); cp.endpoints(proxy); cp.listeners(proxy); cp.routes(proxy);
 *   await cp.applyConfig(yaml);   // returns the push request the change produced
 *   await cp.close();
 */
import { type MeshConfig, meshConfigOrThrow, parseMeshConfig } from '../../src/api/mesh/mesh-config.ts';
import type { ConfigKey } from '../../src/api/resource.ts';
import { MemorySource } from '../../src/config/sources/memory/memory-source.ts';
import { type ConfigStoreController, createConfigStore } from '../../src/config/store.ts';
import { type PackedAny, unpackAny } from '../../src/lib/xds/any.ts';
import { canonicalResourcesJson } from '../../src/lib/xds/canonical-json.ts';
import {
  CLUSTER_TYPE_URL,
  ENDPOINT_TYPE_URL,
  LISTENER_TYPE_URL,
  ROUTE_TYPE_URL,
} from '../../src/lib/xds/type-urls.ts';
import { toProtoStruct } from '../../src/lib/xds/well-known.ts';
import { type Proxy, proxyFromNode } from '../../src/pilot/model/proxy.ts';
import { initPushContext, PushContext, updatePushContext } from '../../src/pilot/model/push-context.ts';
import {
  mergePushRequests,
  newPushRequest,
  type PushRequest,
  type TriggerReason,
} from '../../src/pilot/model/push-request.ts';
import type {
  GeneratorRegistry,
  WatchedResourceView,
  XdsResource,
} from '../../src/pilot/xds/generator-registry.ts';
import { defaultGenerators } from '../../src/pilot/xds/generators/index.ts';
import { AggregateRegistry } from '../../src/registry/aggregate.ts';
import { EndpointIndex } from '../../src/registry/endpoint-index.ts';
import { MemoryRegistry } from '../../src/registry/memory/memory-registry.ts';
import { ServiceEntryRegistry } from '../../src/registry/serviceentry/registry.ts';
import { EndpointIndexUpdater, type RegistryChange } from '../../src/registry/updater.ts';

export interface FakeMizzendOptions {
  /** Istio resources; `v1 Service` and `v1 Pod` documents in it go to the in-memory registry. */
  readonly configYaml?: string;
  /** More `v1 Service` / `v1 Pod` documents for the in-memory registry. */
  readonly registryYaml?: string;
  /** A MeshConfig, or mesh config YAML text. Defaults to Istio's defaults. */
  readonly mesh?: MeshConfig | string;
  /** File name used in error locations. */
  readonly file?: string;
  readonly generators?: GeneratorRegistry<PushContext>;
}

/** proxy.yaml: an Envoy node as the golden cases write it. */
export interface ProxySpec {
  readonly id: string;
  readonly cluster?: string;
  readonly locality?: { region?: string; zone?: string; sub_zone?: string };
  readonly metadata?: Readonly<Record<string, unknown>>;
}

const REGISTRY_DOC =
  /^apiVersion:\s*["']?v1["']?\s*$[\s\S]*?^kind:\s*["']?(Service|Pod)["']?\s*$|^kind:\s*["']?(Service|Pod)["']?\s*$[\s\S]*?^apiVersion:\s*["']?v1["']?\s*$/m;

/**
 * Splits multi-document YAML into (Istio part, registry part), each the full text with the
 * other part's lines blanked, so errors keep their line numbers.
 */
export function splitRegistryDocuments(text: string): { istio: string; registry: string } {
  const lines = text.split('\n');
  const istio: string[] = [];
  const registry: string[] = [];
  let chunk: string[] = [];
  const flush = () => {
    const isRegistry = REGISTRY_DOC.test(chunk.join('\n'));
    for (const l of chunk) {
      istio.push(isRegistry ? '' : l);
      registry.push(isRegistry ? l : '');
    }
    chunk = [];
  };
  for (const line of lines) {
    if (/^---(\s|$)/.test(line)) {
      flush();
      istio.push(line);
      registry.push(line);
      continue;
    }
    chunk.push(line);
  }
  flush();
  return { istio: istio.join('\n'), registry: registry.join('\n') };
}

export function proxyFromSpec(spec: ProxySpec): Proxy {
  return proxyFromNode({
    id: spec.id,
    ...(spec.cluster ? { cluster: spec.cluster } : {}),
    locality: spec.locality ?? {},
    metadata: toProtoStruct(spec.metadata ?? {}),
  });
}

const ALL: WatchedResourceView = Object.freeze({
  typeUrl: '',
  wildcard: true,
  resourceNames: new Set<string>(),
});

export class FakeMizzend {
  readonly mesh: MeshConfig;
  readonly store: ConfigStoreController;
  readonly source: MemorySource;
  readonly endpointIndex = new EndpointIndex();
  readonly memoryRegistry: MemoryRegistry;
  readonly serviceEntryRegistry: ServiceEntryRegistry;
  readonly registry: AggregateRegistry;
  readonly generators: GeneratorRegistry<PushContext>;
  /** Registry changes since the last push context (the one spot that makes push requests). */
  #pendingChanges: RegistryChange[] = [];
  #configChanges: ConfigKey[] = [];
  #push: PushContext | undefined;
  readonly #abort = new AbortController();
  #running: Promise<void> | undefined;

  private constructor(options: FakeMizzendOptions) {
    const file = options.file ?? 'input.yaml';
    this.mesh =
      typeof options.mesh === 'string'
        ? meshConfigOrThrow(parseMeshConfig(options.mesh, 'mesh.yaml'))
        : (options.mesh ?? meshConfigOrThrow(parseMeshConfig('', 'mesh.yaml')));
    this.generators = options.generators ?? defaultGenerators();
    const updater = new EndpointIndexUpdater(this.endpointIndex, (c) => this.#pendingChanges.push(c));
    this.source = new MemorySource({ file });
    this.store = createConfigStore({ sources: [this.source] });
    this.memoryRegistry = new MemoryRegistry({ updater, trustDomain: this.mesh.trustDomain });
    this.serviceEntryRegistry = new ServiceEntryRegistry({
      updater,
      store: this.store,
      trustDomain: this.mesh.trustDomain,
    });
    this.registry = new AggregateRegistry([this.memoryRegistry, this.serviceEntryRegistry]);
    const { istio, registry } = splitRegistryDocuments(options.configYaml ?? '');
    if (istio.trim() !== '') this.source.create(istio);
    if (registry.trim() !== '') this.memoryRegistry.loadYaml(registry, file);
    if (options.registryYaml) this.memoryRegistry.loadYaml(options.registryYaml, 'registry.yaml');
  }

  static async start(options: FakeMizzendOptions = {}): Promise<FakeMizzend> {
    const cp = new FakeMizzend(options);
    cp.#running = Promise.all([
      cp.store.run(cp.#abort.signal),
      cp.serviceEntryRegistry.run(cp.#abort.signal),
    ]).then(() => undefined);
    cp.store.on('*', (_p, _c, e) => {
      // ServiceEntry, WorkloadEntry and WorkloadGroup reach pushes through the registry.
      if (!['ServiceEntry', 'WorkloadEntry', 'WorkloadGroup'].includes(e.key.kind))
        cp.#configChanges.push(e.key);
    });
    await cp.store.waitForSync();
    await cp.store.idle();
    cp.#pendingChanges = [];
    cp.#configChanges = [];
    cp.#push = cp.#build();
    return cp;
  }

  async close(): Promise<void> {
    this.#abort.abort();
    await this.#running;
  }

  #build(): PushContext {
    return initPushContext({
      config: this.store.snapshot(),
      registry: this.registry.snapshot(),
      endpointIndex: this.endpointIndex,
      mesh: this.mesh,
    });
  }

  /** The current PushContext. */
  get push(): PushContext {
    return this.#push as PushContext;
  }

  /**
   * Turns what changed since the last call into one push request (merged as the debouncer
   * would) and the PushContext it is generated from; undefined when nothing changed.
   */
  flush(): PushRequest<PushContext> | undefined {
    const reqs: PushRequest<undefined>[] = [];
    for (const c of this.#pendingChanges) {
      reqs.push(
        newPushRequest({ full: c.full, configsUpdated: c.configsUpdated, reason: c.reason as TriggerReason }),
      );
    }
    if (this.#configChanges.length > 0) {
      reqs.push(newPushRequest({ full: true, configsUpdated: this.#configChanges, reason: 'config' }));
    }
    this.#pendingChanges = [];
    this.#configChanges = [];
    if (reqs.length === 0) return undefined;
    const merged = reqs.reduce((a, b) => mergePushRequests(a, b));
    const previous = this.push;
    const push = merged.full
      ? updatePushContext(
          previous,
          {
            config: this.store.snapshot(),
            registry: this.registry.snapshot(),
            endpointIndex: this.endpointIndex,
            mesh: this.mesh,
          },
          merged,
        )
      : previous;
    this.#push = push;
    return { ...merged, push };
  }

  /** Creates or replaces Istio objects (YAML); resolves with the push request they cause. */
  async applyConfig(yaml: string): Promise<PushRequest<PushContext> | undefined> {
    this.source.apply(yaml);
    await this.store.idle();
    return this.flush();
  }

  async deleteConfig(
    kind: string,
    namespace: string,
    name: string,
  ): Promise<PushRequest<PushContext> | undefined> {
    this.source.delete(kind, namespace, name);
    await this.store.idle();
    return this.flush();
  }

  proxy(spec: ProxySpec | Proxy): Proxy {
    return 'nodeId' in spec ? spec : proxyFromSpec(spec);
  }

  /** Runs the registered generator of `typeUrl` for a wildcard (or named) subscription. */
  generate(
    typeUrl: string,
    proxySpec: ProxySpec | Proxy,
    names?: Iterable<string>,
    req?: PushRequest<PushContext>,
  ): readonly XdsResource[] {
    const proxy = this.proxy(proxySpec);
    const gen = this.generators.get(typeUrl, proxy.metadata.generator);
    if (!gen) throw new Error(`no generator is registered for ${typeUrl}`);
    const watched: WatchedResourceView = names
      ? { typeUrl, wildcard: false, resourceNames: new Set(names) }
      : { ...ALL, typeUrl };
    const request = req ?? { ...newPushRequest({ full: true }), push: this.push };
    const all = gen.generate(proxy, watched, request);
    return watched.wildcard ? all : all.filter((r) => watched.resourceNames.has(r.name));
  }

  clusters(proxy: ProxySpec | Proxy, names?: Iterable<string>): readonly XdsResource[] {
    return this.generate(CLUSTER_TYPE_URL, proxy, names);
  }

  endpoints(proxy: ProxySpec | Proxy, names?: Iterable<string>): readonly XdsResource[] {
    return this.generate(ENDPOINT_TYPE_URL, proxy, names);
  }

  listeners(proxy: ProxySpec | Proxy, names?: Iterable<string>): readonly XdsResource[] {
    return this.generate(LISTENER_TYPE_URL, proxy, names);
  }

  routes(proxy: ProxySpec | Proxy, names?: Iterable<string>): readonly XdsResource[] {
    return this.generate(ROUTE_TYPE_URL, proxy, names);
  }

  /** Canonical JSON of generated resources (the golden-file form). */
  static canonical(typeUrl: string, resources: readonly XdsResource[]): string {
    return canonicalResourcesJson(
      typeUrl,
      resources.map((r) => r.resource as PackedAny),
    );
  }

  /** A generated resource decoded back into a snake_case object (for assertions). */
  static decode<T = Record<string, unknown>>(resource: XdsResource): T {
    return unpackAny<T>(resource.resource);
  }
}

export { PushContext };

/** Resources allowed to outlive a test file: the runner's stdio. */
const ALLOWED_HANDLES = new Set(['PipeWrap', 'TTYWrap']);

/**
 * CODE-STYLE §C.8: fails when anything a test opened (watchers, timers, sockets) is still open.
 * Handles are given a few event-loop turns to finish closing first, never wall-clock time.
 */
export async function assertNoOpenHandles(): Promise<void> {
  const open = () => process.getActiveResourcesInfo().filter((r) => !ALLOWED_HANDLES.has(r));
  for (let i = 0; i < 100 && open().length > 0; i++) await new Promise((r) => setImmediate(r));
  if (open().length > 0) throw new Error(`open handles left behind: ${open().join(', ')}`);
}
