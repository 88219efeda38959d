/**
 * The per-push caches of the generators (CDS, EDS, LDS, RDS) must never change what a proxy
 * gets: a cache key that misses something a resource depends on would hand one proxy another
 * proxy's config. For every golden case, proxies that differ from the case's proxy in one
 * thing each (address, labels, locality, namespace, capture mode, metadata the listener
 * builders read) are generated one after the other from ONE push context — so every cache is
 * shared between them — and each must equal what a fresh push context gives it alone.
 * A second mesh adds what the golden cases lack: workload-selected DestinationRules and
 * Sidecars, sourceLabels matches, replicas of one workload, proxies in several namespaces.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import {
  CLUSTER_TYPE_URL,
  ENDPOINT_TYPE_URL,
  LISTENER_TYPE_URL,
  ROUTE_TYPE_URL,
  shortTypeName,
} from '../../../../src/lib/xds/type-urls.ts';
import type { Proxy } from '../../../../src/pilot/model/proxy.ts';
import { initPushContext, type PushContext } from '../../../../src/pilot/model/push-context.ts';
import { newPushRequest } from '../../../../src/pilot/model/push-request.ts';
import type { WatchedResourceView } from '../../../../src/pilot/xds/generator-registry.ts';
import { edsClusterNames } from '../../../../src/pilot/xds/generators/eds.ts';
import { routeNamesFor } from '../../../../src/pilot/xds/generators/rds.ts';
import { SharedNameSets } from '../../../../src/pilot/xds/shared-names.ts';
import {
  assertNoOpenHandles,
  FakeMizzend,
  type ProxySpec,
  proxyFromSpec,
} from '../../../support/fake-mizzend.ts';

const TESTDATA = join(import.meta.dirname, '..', '..', 'networking', 'testdata');
const TYPES = [CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL, LISTENER_TYPE_URL, ROUTE_TYPE_URL] as const;

function read(dir: string, name: string): string | undefined {
  const p = join(dir, name);
  return existsSync(p) ? readFileSync(p, 'utf8') : undefined;
}

/** `type~ip~pod.ns~ns.svc.cluster.local` with parts replaced. */
function withNode(spec: ProxySpec, change: { ip?: string; pod?: string; namespace?: string }): ProxySpec {
  const [type, ip, podNs] = spec.id.split('~');
  const ns = change.namespace ?? podNs.slice(podNs.lastIndexOf('.') + 1);
  const pod = change.pod ?? podNs.slice(0, podNs.lastIndexOf('.'));
  const metadata = { ...(spec.metadata ?? {}) } as Record<string, unknown>;
  if (change.namespace) metadata.NAMESPACE = change.namespace;
  return { ...spec, id: `${type}~${change.ip ?? ip}~${pod}.${ns}~${ns}.svc.cluster.local`, metadata };
}

function withMetadata(spec: ProxySpec, extra: Record<string, unknown>): ProxySpec {
  return { ...spec, metadata: { ...(spec.metadata ?? {}), ...extra } };
}

/** The case's proxy and proxies that each differ from it in one respect. */
function variants(base: ProxySpec): ProxySpec[] {
  const labels = ((base.metadata ?? {}) as { LABELS?: Record<string, string> }).LABELS ?? {};
  return [
    base,
    withNode(base, { ip: '10.250.0.7', pod: 'other-pod-1' }),
    withMetadata(base, { LABELS: { ...labels, version: 'v9', extra: 'x' } }),
    withMetadata(base, { LABELS: {} }),
    { ...base, locality: { region: 'far-region', zone: 'far-zone' } },
    withNode(base, { namespace: 'elsewhere' }),
    withMetadata(base, { INTERCEPTION_MODE: 'NONE' }),
    withMetadata(base, { IDLE_TIMEOUT: '17s', HTTP10: '1' }),
    base,
  ];
}

const interner = new SharedNameSets();

/** Every type for the proxy, in canonical JSON; EDS and RDS both by wildcard and by name. */
function generateAll(cp: FakeMizzend, push: PushContext, proxy: Proxy): Record<string, string> {
  const req = newPushRequest({ full: true, push });
  const out: Record<string, string> = {};
  for (const typeUrl of TYPES) {
    const gen = cp.generators.get(typeUrl, proxy.metadata.generator);
    if (!gen) continue;
    const wildcard: WatchedResourceView = { typeUrl, wildcard: true, resourceNames: new Set() };
    out[shortTypeName(typeUrl)] = FakeMizzend.canonical(typeUrl, gen.generate(proxy, wildcard, req));
    const names =
      typeUrl === ENDPOINT_TYPE_URL
        ? edsClusterNames(push, proxy)
        : typeUrl === ROUTE_TYPE_URL
          ? routeNamesFor(push, proxy)
          : undefined;
    if (names) {
      // Equal subscriptions share one Set, as the ADS server hands them to generators.
      const named: WatchedResourceView = {
        typeUrl,
        wildcard: false,
        resourceNames: interner.acquire(typeUrl, new Set(names)),
      };
      const all = gen.generate(proxy, named, req).filter((r) => named.resourceNames.has(r.name));
      out[`${shortTypeName(typeUrl)} by name`] = FakeMizzend.canonical(typeUrl, all);
    }
  }
  return out;
}

function freshPush(cp: FakeMizzend): PushContext {
  return initPushContext({
    config: cp.store.snapshot(),
    registry: cp.registry.snapshot(),
    endpointIndex: cp.endpointIndex,
    mesh: cp.mesh,
  });
}

async function assertSharedEqualsFresh(
  label: string,
  options: Parameters<typeof FakeMizzend.start>[0],
  specs: readonly ProxySpec[],
): Promise<void> {
  const cp = await FakeMizzend.start(options);
  try {
    const proxies = specs.map(proxyFromSpec);
    const shared = cp.push;
    const sharedOut = proxies.map((p) => generateAll(cp, shared, p));
    for (const [i, proxy] of proxies.entries()) {
      const alone = generateAll(cp, freshPush(cp), proxy);
      for (const [type, json] of Object.entries(alone)) {
        assert.equal(
          sharedOut[i][type],
          json,
          `${label}: ${type} of proxy #${i} (${proxy.nodeId}) differs when the push context's caches are shared`,
        );
      }
    }
  } finally {
    await cp.close();
  }
}

const cases = readdirSync(TESTDATA)
  .filter((d) => statSync(join(TESTDATA, d)).isDirectory())
  .sort();

test('the golden cases have proxies to vary', () => assert.ok(cases.length > 0));

for (const name of cases) {
  test(`shared caches give every proxy what a fresh push context gives it: ${name}`, async () => {
    const dir = join(TESTDATA, name);
    const base = parse(read(dir, 'proxy.yaml') as string) as ProxySpec;
    const mesh = read(dir, 'mesh.yaml');
    const registryYaml = read(dir, 'registry.yaml');
    await assertSharedEqualsFresh(
      name,
      {
        configYaml: read(dir, 'input.yaml'),
        file: `${name}/input.yaml`,
        ...(mesh !== undefined ? { mesh } : {}),
        ...(registryYaml !== undefined ? { registryYaml } : {}),
      },
      variants(base),
    );
  });
}

const MESH = `
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: default}
spec: {clusterIP: 10.96.0.11, selector: {app: reviews}, ports: [{name: http, port: 9080}, {name: tcp-db, port: 3306}]}
---
apiVersion: v1
kind: Service
metadata: {name: ratings, namespace: backend}
spec: {clusterIP: 10.96.0.12, selector: {app: ratings}, ports: [{name: http, port: 9080}]}
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: backend, annotations: {networking.istio.io/exportTo: "."}}
spec: {clusterIP: None, selector: {app: db}, ports: [{name: tcp, port: 5432}]}
---
apiVersion: v1
kind: Pod
metadata: {name: reviews-1, namespace: default, labels: {app: reviews, version: v1}}
status: {podIP: 10.0.1.1}
---
apiVersion: v1
kind: Pod
metadata: {name: reviews-2, namespace: default, labels: {app: reviews, version: v2}}
status: {podIP: 10.0.1.2}
---
apiVersion: v1
kind: Pod
metadata: {name: reviews-3, namespace: default, labels: {app: reviews, version: v1, track: canary}}
status: {podIP: 10.0.1.3}
---
apiVersion: v1
kind: Pod
metadata: {name: ratings-1, namespace: backend, labels: {app: ratings}}
status: {podIP: 10.0.2.1}
---
apiVersion: v1
kind: Pod
metadata: {name: db-1, namespace: backend, labels: {app: db}}
status: {podIP: 10.0.3.1}
---
apiVersion: v1
kind: Pod
metadata: {name: db-2, namespace: backend, labels: {app: db}}
status: {podIP: 10.0.3.2}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ratings-for-canary, namespace: default}
spec:
  host: ratings.backend.svc.cluster.local
  workloadSelector: {matchLabels: {version: v2}}
  trafficPolicy:
    loadBalancer: {consistentHash: {httpHeaderName: x-user}}
    connectionPool: {http: {http1MaxPendingRequests: 7}}
  subsets: [{name: only, labels: {app: ratings}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews-for-canary, namespace: default}
spec:
  host: reviews
  workloadSelector: {matchLabels: {track: canary}}
  trafficPolicy: {connectionPool: {tcp: {maxConnections: 3}}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: default}
spec:
  host: reviews
  trafficPolicy:
    outlierDetection: {consecutive5xxErrors: 3}
    loadBalancer: {localityLbSetting: {failover: [{from: r1, to: r2}]}}
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews]
  http:
  - match: [{sourceLabels: {version: v2}}]
    route: [{destination: {host: reviews, subset: v2}}]
  - route: [{destination: {host: reviews, subset: v1}}]
  tcp:
  - match: [{port: 3306, sourceLabels: {app: reviews}}]
    route: [{destination: {host: reviews, subset: v2, port: {number: 3306}}}]
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: canary-only, namespace: default}
spec:
  workloadSelector: {labels: {version: v2}}
  egress: [{hosts: ["./*", "backend/ratings.backend.svc.cluster.local"]}]
`;

function sidecar(ip: string, pod: string, ns: string, labels: Record<string, string>, extra = {}): ProxySpec {
  return {
    id: `sidecar~${ip}~${pod}.${ns}~${ns}.svc.cluster.local`,
    locality: { region: 'r1', zone: 'z1' },
    metadata: { NAMESPACE: ns, LABELS: labels, ...extra },
  };
}

test('shared caches across replicas, namespaces, selected rules and Sidecars, sourceLabels', async () => {
  await assertSharedEqualsFresh('mesh', { configYaml: MESH }, [
    sidecar('10.0.1.1', 'reviews-1', 'default', { app: 'reviews', version: 'v1' }),
    sidecar('10.0.1.2', 'reviews-2', 'default', { app: 'reviews', version: 'v2' }),
    sidecar('10.0.1.9', 'reviews-9', 'default', { app: 'reviews', version: 'v1' }),
    sidecar('10.0.1.3', 'reviews-3', 'default', { app: 'reviews', version: 'v1', track: 'canary' }),
    sidecar('10.0.4.1', 'productpage-1', 'default', { app: 'productpage', version: 'v1' }),
    sidecar('10.0.2.1', 'ratings-1', 'backend', { app: 'ratings' }),
    sidecar('10.0.3.1', 'db-1', 'backend', { app: 'db' }),
    sidecar('10.0.3.2', 'db-2', 'backend', { app: 'db' }),
    sidecar('10.0.9.1', 'client-1', 'backend', { app: 'client' }),
    sidecar('10.0.9.2', 'client-2', 'backend', { app: 'client' }, { GENERATOR: 'grpc' }),
    { ...sidecar('10.0.9.3', 'client-3', 'backend', { app: 'client' }), locality: { region: 'r2' } },
    sidecar('10.0.1.1', 'reviews-1', 'default', { app: 'reviews', version: 'v1' }),
  ]);
});

test('leaves no open handles', () => assertNoOpenHandles());
