/**
 * Shared pieces of the xDS client tests: mizzend's real AdsServer on 127.0.0.1:0 serving
 * hand-built Envoy resources from mutable maps (one generator per type, no translation), Envoy
 * resource builders, waiting helpers, and the open-handle check.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import type { ConfigKey } from '../../../src/api/resource.ts';
import { MetricsRegistry } from '../../../src/lib/metrics.ts';
import { typed } from '../../../src/lib/xds/any.ts';
import type { XdsNode } from '../../../src/lib/xds/discovery.ts';
import {
  CLUSTER_TYPE_URL,
  ENDPOINT_TYPE_URL,
  HTTP_CONNECTION_MANAGER_TYPE_URL,
  LISTENER_TYPE_URL,
  ROUTE_TYPE_URL,
  SECRET_TYPE_URL,
  shortTypeName,
} from '../../../src/lib/xds/type-urls.ts';
import { toProtoStruct } from '../../../src/lib/xds/well-known.ts';
import { configsOfKindsChanged, newPushRequest } from '../../../src/pilot/model/push-request.ts';
import { AdsServer, type AdsServerOptions } from '../../../src/pilot/xds/ads-server.ts';
import type { Connection } from '../../../src/pilot/xds/connection.ts';
import { type Generator, GeneratorRegistry, xdsResource } from '../../../src/pilot/xds/generator-registry.ts';
import type { ProxySyncStatus } from '../../../src/pilot/xds/status.ts';
import { XdsClient, type XdsClientOptions, type XdsUpdate } from '../../../src/proxy/xds/client.ts';

export const ALL_TYPES = [
  CLUSTER_TYPE_URL,
  ENDPOINT_TYPE_URL,
  LISTENER_TYPE_URL,
  ROUTE_TYPE_URL,
  SECRET_TYPE_URL,
] as const;

/** The control plane's "push context": resources by name, per type URL. */
export type World = Map<string, Map<string, object>>;

export function world(init: Partial<Record<string, Record<string, object>>> = {}): World {
  const w: World = new Map();
  for (const t of ALL_TYPES) w.set(t, new Map(Object.entries(init[t] ?? {})));
  return w;
}

function mapGenerator(typeUrl: string): Generator<World> {
  const kind = shortTypeName(typeUrl);
  return {
    typeUrl,
    needsPush: (_proxy, req) => configsOfKindsChanged(req, new Set([kind])),
    generate: (_proxy, _watched, req) =>
      [...(req.push.get(typeUrl) ?? new Map())].map(([name, msg]) => xdsResource(typeUrl, name, msg)),
  };
}

export interface ControlPlaneOptions {
  /** Types the server serves (default: all five). A missing type is never answered. */
  readonly types?: readonly string[];
  readonly port?: number;
  readonly server?: Partial<AdsServerOptions<World>>;
}

/** mizzend's AdsServer over a mutable World. */
export class TestControlPlane {
  readonly server: AdsServer<World>;
  readonly port: number;
  #world: World;
  /** Every request a stream sent after its first one (the first carries the node). */
  readonly laterRequests: Record<string, unknown>[] = [];

  private constructor(server: AdsServer<World>, port: number, w: World) {
    this.server = server;
    this.port = port;
    this.#world = w;
  }

  static async start(initial: World, options: ControlPlaneOptions = {}): Promise<TestControlPlane> {
    const registry = new GeneratorRegistry<World>();
    for (const t of options.types ?? ALL_TYPES) registry.register(mapGenerator(t));
    let cp: TestControlPlane | undefined;
    const server = new AdsServer<World>({
      generators: registry,
      pushContext: () => (cp as TestControlPlane).#world,
      metrics: new MetricsRegistry(),
      ...options.server,
    });
    const port = await server.listen(options.port ?? 0, '127.0.0.1');
    cp = new TestControlPlane(server, port, initial);
    server.on('connect', (conn) => {
      (conn as Connection<World>).call.on('data', (req: Record<string, unknown>) => {
        (cp as TestControlPlane).laterRequests.push(req);
      });
    });
    return cp;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  world(): World {
    return this.#world;
  }

  /** Replaces resources (`undefined` deletes) and pushes the changed types. */
  set(typeUrl: string, resources: Record<string, object | undefined>): void {
    this.update({ [typeUrl]: resources });
  }

  update(changes: Partial<Record<string, Record<string, object | undefined>>>): void {
    const next: World = new Map([...this.#world].map(([t, m]) => [t, new Map(m)]));
    const kinds: string[] = [];
    for (const [typeUrl, resources] of Object.entries(changes)) {
      const m = next.get(typeUrl) as Map<string, object>;
      for (const [name, msg] of Object.entries(resources ?? {})) {
        if (msg === undefined) m.delete(name);
        else m.set(name, msg);
      }
      kinds.push(shortTypeName(typeUrl));
    }
    this.#world = next;
    const keys: ConfigKey[] = kinds.map((kind) => ({ kind, namespace: 'test', name: 'changed' }));
    this.server.push(newPushRequest({ full: true, configsUpdated: keys, reason: 'config', push: next }));
  }

  /** The one proxy's server-side view of one type. */
  watched(typeUrl: string): ProxySyncStatus['types'][number] | undefined {
    const [conn] = this.server.syncStatus();
    return conn?.types.find((t) => t.typeUrl === typeUrl);
  }

  /** Resolves once the server has had an ACK for the latest response of each type. */
  async synced(...typeUrls: string[]): Promise<void> {
    const done = () => typeUrls.every((t) => this.watched(t)?.state === 'SYNCED');
    while (!done()) await once(this.server, 'ack');
  }

  close(): Promise<void> {
    return this.server.close({ graceMs: 1_000 });
  }
}

// ---------------------------------------------------------------------------------------------
// Envoy resources
// ---------------------------------------------------------------------------------------------

const ADS = { ads: {}, resource_api_version: 'V3' };

export function edsCluster(name: string, serviceName = '', extra: object = {}): object {
  return {
    name,
    type: 'EDS',
    connect_timeout: { seconds: 1 },
    eds_cluster_config: { eds_config: ADS, service_name: serviceName },
    ...extra,
  };
}

export function staticCluster(name: string, port = 8080, extra: object = {}): object {
  return {
    name,
    type: 'STATIC',
    connect_timeout: { seconds: 1 },
    load_assignment: {
      cluster_name: name,
      endpoints: [
        {
          lb_endpoints: [
            { endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } } },
          ],
        },
      ],
    },
    ...extra,
  };
}

export function endpoints(clusterName: string, ports: number[]): object {
  return {
    cluster_name: clusterName,
    endpoints: [
      {
        locality: { region: 'r1' },
        load_balancing_weight: { value: 1 },
        lb_endpoints: ports.map((port) => ({
          endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } },
        })),
      },
    ],
  };
}

/** A listener whose HTTP connection manager loads route config `routeName` over ADS. */
export function rdsListener(
  name: string,
  port: number,
  routeName: string,
  configSource: object = ADS,
): object {
  return {
    name,
    address: { socket_address: { address: '127.0.0.1', port_value: port } },
    filter_chains: [
      {
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: typed(HTTP_CONNECTION_MANAGER_TYPE_URL, {
              stat_prefix: name,
              rds: { route_config_name: routeName, config_source: configSource },
            }),
          },
        ],
      },
    ],
  };
}

export function routeConfig(name: string, cluster: string, domains = ['*']): object {
  return {
    name,
    virtual_hosts: [
      { name: `${name}-vh`, domains, routes: [{ match: { prefix: '/' }, route: { cluster } }] },
    ],
  };
}

export function sidecarNode(pod = 'app-1', namespace = 'default', ip = '10.0.0.1'): XdsNode {
  return {
    id: `sidecar~${ip}~${pod}.${namespace}~${namespace}.svc.cluster.local`,
    cluster: `app.${namespace}`,
    metadata: toProtoStruct({ NAMESPACE: namespace, ISTIO_VERSION: '1.24.0' }),
    locality: {},
  };
}

// ---------------------------------------------------------------------------------------------
// Client helpers
// ---------------------------------------------------------------------------------------------

/** A client on the control plane, recording every update event. */
export function newClient(cp: { address: string }, options: Partial<XdsClientOptions> = {}) {
  const client = new XdsClient({ server: cp.address, node: sidecarNode(), ...options });
  const updates: XdsUpdate[] = [];
  client.on('update', (u) => updates.push(u));
  return { client, updates };
}

/** Resolves with the next update of `typeUrl` (matching `pred`), collecting others meanwhile. */
export function nextUpdate(
  client: XdsClient,
  typeUrl: string,
  pred: (u: XdsUpdate) => boolean = () => true,
): Promise<XdsUpdate> {
  return new Promise((resolve) => {
    const on = (u: XdsUpdate) => {
      if (u.typeUrl !== typeUrl || !pred(u)) return;
      client.off('update', on);
      resolve(u);
    };
    client.on('update', on);
  });
}

/** Resolves on the next event `name` whose first argument matches `pred`. */
export function nextEvent<T>(
  emitter: NodeJS.EventEmitter,
  name: string,
  pred: (arg: T) => boolean = () => true,
): Promise<T> {
  return new Promise((resolve) => {
    const on = (arg: T) => {
      if (!pred(arg)) return;
      emitter.off(name, on);
      resolve(arg);
    };
    emitter.on(name, on);
  });
}

export function names(u: XdsUpdate): { added: string[]; updated: string[]; removed: string[] } {
  return {
    added: u.added.map((r) => r.name).sort(),
    updated: u.updated.map((r) => r.name).sort(),
    removed: [...u.removed].sort(),
  };
}

/** Short form of an update list: `CDS +a ~b -c`. */
export function describe(updates: readonly XdsUpdate[]): string[] {
  return updates.map((u) => {
    const n = names(u);
    return [
      shortTypeName(u.typeUrl),
      ...n.added.map((x) => `+${x}`),
      ...n.updated.map((x) => `~${x}`),
      ...n.removed.map((x) => `-${x}`),
    ].join(' ');
  });
}

export function activeNames(client: XdsClient, typeUrl: string): string[] {
  return client
    .resources(typeUrl)
    .active.map((r) => r.name)
    .sort();
}

export async function initialized(client: XdsClient): Promise<void> {
  if (!client.initialized) await once(client, 'initialized');
}

/** Lets pending I/O callbacks run (not a timing wait: a fixed number of event-loop turns). */
export async function turns(n = 20): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
}

/**
 * Waits, one event-loop turn at a time, until `pred` holds — for state that changes on a
 * message with no reply (a delta unsubscribe). Bounded by turns, not time.
 */
export async function until(pred: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 100_000; i++) {
    if (pred()) return;
    await new Promise((r) => setImmediate(r));
  }
  assert.fail(`never happened: ${what}`);
}

function openHandles(): string[] {
  return process.getActiveResourcesInfo().filter((t) => t.startsWith('TCP') || t === 'Timeout');
}

/**
 * CODE-STYLE §C.8: the file's last test fails when anything it opened is still open. Sockets
 * finish closing a few event-loop turns after close(), so turns, not time, are given first.
 */
export function testNoOpenHandles(): void {
  test('leaves no open handles', async () => {
    for (let i = 0; i < 10_000 && openHandles().length > 0; i++) await new Promise((r) => setImmediate(r));
    const open = openHandles();
    if (open.length > 0) setTimeout(() => process.exit(1), 2_000).unref();
    assert.deepEqual(open, [], 'handles left open');
  });
}
