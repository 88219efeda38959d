/**
 * Cluster building beyond the goldens: behaviour an independent client checks. grpc-js-xds'
 * own resource validation (the code a proxyless client runs on every CDS/EDS response) must
 * accept what we generate for proxyless clients.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL } from '../../../../src/lib/xds/type-urls.ts';
import type { XdsResource } from '../../../../src/pilot/xds/generator-registry.ts';
import { assertNoOpenHandles, FakeMizzend, proxyFromSpec } from '../../../support/fake-mizzend.ts';

const require = createRequire(import.meta.url);
type ResourceType = {
  decode(ctx: unknown, any: { type_url: string; value: Uint8Array }): { name: string; error?: string };
};
const { ClusterResourceType } =
  require('@grpc/grpc-js-xds/build/src/xds-resource-type/cluster-resource-type.js') as {
    ClusterResourceType: { get(): ResourceType };
  };
const { EndpointResourceType } =
  require('@grpc/grpc-js-xds/build/src/xds-resource-type/endpoint-resource-type.js') as {
    EndpointResourceType: { get(): ResourceType };
  };
const GRPC_CONTEXT = { server: { serverUri: 'localhost:15010' }, bootstrap: { certificateProviders: {} } };

function grpcErrors(type: ResourceType, resources: readonly XdsResource[]): string[] {
  const out: string[] = [];
  for (const r of resources) {
    const d = type.decode(GRPC_CONTEXT, {
      type_url: r.resource.type_url,
      value: Buffer.from(r.resource.value),
    });
    if (d.error) out.push(`${d.name}: ${d.error}`);
  }
  return out;
}

const CONFIG = `
apiVersion: v1
kind: Service
metadata: {name: ratings, namespace: default}
spec: {selector: {app: ratings}, ports: [{name: grpc, port: 9090}, {name: stats, port: 8125, protocol: UDP}]}
---
apiVersion: v1
kind: Pod
metadata: {name: ratings-1, namespace: default, labels: {app: ratings, version: v1, topology.kubernetes.io/region: us-east1}}
status: {podIP: 10.0.2.1}
---
apiVersion: v1
kind: Pod
metadata: {name: ratings-2, namespace: default, labels: {app: ratings, version: v2, topology.kubernetes.io/region: eu-west1}}
status: {podIP: 10.0.2.2}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ratings, namespace: default}
spec:
  host: ratings
  trafficPolicy:
    outlierDetection: {consecutive5xxErrors: 3, interval: 1s}
    loadBalancer:
      consistentHash: {httpHeaderName: x-user}
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}, trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: external, namespace: default}
spec:
  hosts: [api.example.com, gone.example.com]
  resolution: DNS
  ports: [{number: 443, name: tls, protocol: TLS}]
  endpoints: [{address: api.example.com}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: logical, namespace: default}
spec:
  hosts: [one.example.com]
  resolution: DNS_ROUND_ROBIN
  ports: [{number: 443, name: tls, protocol: TLS}]
`;

const grpcClient = proxyFromSpec({
  id: 'sidecar~127.0.0.1~client-1.default~default.svc.cluster.local',
  locality: { region: 'us-east1' },
  metadata: { NAMESPACE: 'default', GENERATOR: 'grpc', LABELS: { app: 'client' } },
});
const sidecar = proxyFromSpec({
  id: 'sidecar~10.0.0.1~productpage-1.default~default.svc.cluster.local',
  metadata: { NAMESPACE: 'default', LABELS: { app: 'productpage' } },
});

test('grpc-js-xds accepts every cluster and endpoint assignment made for a proxyless client', async () => {
  const cp = await FakeMizzend.start({ configYaml: CONFIG });
  try {
    const clusters = cp.clusters(grpcClient);
    assert.ok(clusters.length >= 5, `clusters: ${clusters.map((c) => c.name).join(', ')}`);
    assert.deepEqual(grpcErrors(ClusterResourceType.get(), clusters), []);
    const endpoints = cp.endpoints(grpcClient);
    assert.ok(endpoints.length >= 3);
    assert.deepEqual(grpcErrors(EndpointResourceType.get(), endpoints), []);
    // Failover priorities (outlier detection on): us-east1 first, eu-west1 next, no gaps.
    const cla = FakeMizzend.decode<{ endpoints: { priority: number; locality: { region: string } }[] }>(
      endpoints.find((e) => e.name === 'outbound|9090||ratings.default.svc.cluster.local') as XdsResource,
    );
    assert.deepEqual(
      cla.endpoints.map((g) => [g.locality.region, g.priority]),
      [
        ['eu-west1', 1],
        ['us-east1', 0],
      ],
    );
  } finally {
    await cp.close();
  }
});

test('grpc-js-xds accepts the EDS of Envoy-style proxies too', async () => {
  const cp = await FakeMizzend.start({ configYaml: CONFIG });
  try {
    assert.deepEqual(grpcErrors(EndpointResourceType.get(), cp.endpoints(sidecar)), []);
  } finally {
    await cp.close();
  }
});

test('UDP ports get no cluster; DNS clusters without endpoints are left out', async () => {
  const cp = await FakeMizzend.start({ configYaml: CONFIG });
  try {
    const names = cp.clusters(sidecar).map((c) => c.name);
    assert.ok(!names.some((n) => n.includes('|8125|')));
    assert.ok(names.includes('outbound|443||api.example.com'));
    assert.ok(
      names.includes('outbound|443||gone.example.com'),
      'inline endpoints serve every host of the entry',
    );
    assert.ok(
      names.includes('outbound|443||one.example.com'),
      'DNS without endpoints resolves the host itself',
    );
    const logical = FakeMizzend.decode<{ type: string; load_assignment: { endpoints: unknown[] } }>(
      cp.clusters(sidecar, ['outbound|443||one.example.com'])[0],
    );
    assert.equal(logical.type, 'LOGICAL_DNS');
    assert.equal(logical.load_assignment.endpoints.length, 1);
  } finally {
    await cp.close();
  }
});

test('clusters of one push are encoded once and shared between proxies that see the same', async () => {
  const cp = await FakeMizzend.start({ configYaml: CONFIG });
  try {
    const other = proxyFromSpec({
      id: 'sidecar~10.0.0.7~details-1.default~default.svc.cluster.local',
      metadata: { NAMESPACE: 'default', LABELS: { app: 'details' } },
    });
    const a = cp.clusters(sidecar, ['outbound|9090||ratings.default.svc.cluster.local'])[0];
    const b = cp.clusters(other, ['outbound|9090||ratings.default.svc.cluster.local'])[0];
    assert.equal(a, b);
    assert.equal(a.resource.type_url, CLUSTER_TYPE_URL);
    const e1 = cp.endpoints(sidecar, ['outbound|9090|v1|ratings.default.svc.cluster.local'])[0];
    const e2 = cp.endpoints(other, ['outbound|9090|v1|ratings.default.svc.cluster.local'])[0];
    assert.equal(e1, e2);
    assert.equal(e1.resource.type_url, ENDPOINT_TYPE_URL);
  } finally {
    await cp.close();
  }
});

test('leaves no open handles', () => assertNoOpenHandles());
