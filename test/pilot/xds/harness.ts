/**
 * Shared pieces of the ADS protocol tests: generators that serve hand-written resources from a
 * test map (no translation), a server on 127.0.0.1:0, and the open-handle check.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ConfigKey } from '../../../src/api/resource.ts';
import { MetricsRegistry } from '../../../src/lib/metrics.ts';
import {
  CLUSTER_TYPE_URL,
  ENDPOINT_TYPE_URL,
  LISTENER_TYPE_URL,
  ROUTE_TYPE_URL,
} from '../../../src/lib/xds/type-urls.ts';
import {
  configsOfKindsChanged,
  newPushRequest,
  type PushRequest,
} from '../../../src/pilot/model/push-request.ts';
import { AdsServer, type AdsServerOptions } from '../../../src/pilot/xds/ads-server.ts';
import { type Generator, GeneratorRegistry, xdsResource } from '../../../src/pilot/xds/generator-registry.ts';
import type { FakeAdsStream, FakeDeltaAdsStream } from '../../support/fake-ads-client.ts';

/** The "push context" of these tests: resources by name, per type. */
export interface TestState {
  readonly clusters: ReadonlyMap<string, object>;
  readonly endpoints: ReadonlyMap<string, object>;
  readonly listeners: ReadonlyMap<string, object>;
  readonly routes: ReadonlyMap<string, object>;
}

/** Config kinds that trigger each test generator. */
export const KIND = {
  cluster: 'TestCluster',
  endpoint: 'TestEndpoint',
  listener: 'TestListener',
  route: 'TestRoute',
} as const;

export function cluster(name: string, connectTimeoutSeconds = 1): object {
  return {
    name,
    type: 'EDS',
    eds_cluster_config: { eds_config: { ads: {} } },
    connect_timeout: { seconds: connectTimeoutSeconds },
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

export function state(init: Partial<Record<keyof TestState, Record<string, object>>> = {}): TestState {
  const m = (r: Record<string, object> | undefined) => new Map(Object.entries(r ?? {}));
  return {
    clusters: m(init.clusters),
    endpoints: m(init.endpoints),
    listeners: m(init.listeners),
    routes: m(init.routes),
  };
}

function mapGenerator(
  typeUrl: string,
  kind: string,
  pick: (s: TestState) => ReadonlyMap<string, object>,
): Generator<TestState> {
  return {
    typeUrl,
    needsPush: (_proxy, req) => configsOfKindsChanged(req, new Set([kind])),
    generate: (_proxy, _watched, req) =>
      [...pick(req.push)].map(([name, msg]) => xdsResource(typeUrl, name, msg)),
  };
}

/**
 * CDS, EDS, LDS from the maps; RDS from the map plus a route named after every requested
 * `probe-*` name (probes prove that nothing else was sent in between).
 */
export function testGenerators(): GeneratorRegistry<TestState> {
  const routes = mapGenerator(ROUTE_TYPE_URL, KIND.route, (s) => s.routes);
  return new GeneratorRegistry<TestState>()
    .register(mapGenerator(CLUSTER_TYPE_URL, KIND.cluster, (s) => s.clusters))
    .register(mapGenerator(ENDPOINT_TYPE_URL, KIND.endpoint, (s) => s.endpoints))
    .register(mapGenerator(LISTENER_TYPE_URL, KIND.listener, (s) => s.listeners))
    .register({
      ...routes,
      generate: (proxy, watched, req) => [
        ...routes.generate(proxy, watched, req),
        ...[...watched.resourceNames]
          .filter((n) => n.startsWith('probe-'))
          .map((n) => xdsResource(ROUTE_TYPE_URL, n, { name: n })),
      ],
    });
}

export interface TestAds {
  readonly server: AdsServer<TestState>;
  readonly address: string;
  readonly metrics: MetricsRegistry;
  /** Replaces the state and pushes for the given kinds. */
  update(next: TestState, kinds: string[]): void;
  current(): TestState;
}

export async function startAds(
  initial: TestState,
  options: Partial<AdsServerOptions<TestState>> = {},
): Promise<TestAds> {
  let current = initial;
  const metrics = new MetricsRegistry();
  const server = new AdsServer<TestState>({
    generators: testGenerators(),
    pushContext: () => current,
    metrics,
    ...options,
  });
  const port = await server.listen(0, '127.0.0.1');
  return {
    server,
    address: `127.0.0.1:${port}`,
    metrics,
    current: () => current,
    update(next, kinds) {
      current = next;
      server.push(pushRequest(next, kinds));
    },
  };
}

export function pushRequest(push: TestState, kinds: string[]): PushRequest<TestState> {
  const keys: ConfigKey[] = kinds.map((kind) => ({ kind, namespace: 'test', name: 'changed' }));
  return newPushRequest({ full: true, configsUpdated: keys, reason: 'config', push });
}

let probes = 0;

/** SotW: asks for a fresh probe route; the next response must be it. */
export async function probe(stream: FakeAdsStream): Promise<void> {
  const name = `probe-${++probes}`;
  stream.request(ROUTE_TYPE_URL, [name]);
  const res = await stream.next();
  assert.equal(
    res.type_url,
    ROUTE_TYPE_URL,
    `expected the probe response, got a ${res.type_url} response first`,
  );
  assert.deepEqual(res.names, [name]);
}

/** Delta: subscribes to a fresh probe route; the next response must be it. */
export async function probeDelta(stream: FakeDeltaAdsStream): Promise<void> {
  const name = `probe-${++probes}`;
  stream.subscribe(ROUTE_TYPE_URL, [name]);
  const res = await stream.next();
  assert.equal(
    res.type_url,
    ROUTE_TYPE_URL,
    `expected the probe response, got a ${res.type_url} response first`,
  );
  assert.deepEqual(res.names, [name]);
}

function openHandles(): string[] {
  return process.getActiveResourcesInfo().filter((t) => t.startsWith('TCP') || t === 'Timeout');
}

/**
 * CODE-STYLE §C.8: registers the file's last test, which fails when anything the file opened
 * is still open. (A root `after` hook would never run: node:test waits for the event loop to
 * drain before it, and a leaked socket never lets it.) Sockets finish closing a few event-loop
 * turns after close(), so turns, not time, are given to them first.
 */
export function testNoOpenHandles(): void {
  test('leaves no open handles', async () => {
    for (let i = 0; i < 10_000 && openHandles().length > 0; i++) await new Promise((r) => setImmediate(r));
    const open = openHandles();
    if (open.length > 0) {
      // The leak keeps this process alive; end it once the failure has been reported.
      setTimeout(() => process.exit(1), 2_000).unref();
    }
    assert.deepEqual(open, [], 'handles left open');
  });
}
