import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AggregateRegistry } from '../../../src/registry/aggregate.ts';
import { EndpointIndex } from '../../../src/registry/endpoint-index.ts';
import { MemoryRegistry } from '../../../src/registry/memory/memory-registry.ts';
import { HealthStatus, Resolution } from '../../../src/registry/model.ts';
import { Protocol } from '../../../src/registry/protocol.ts';
import { EndpointIndexUpdater, type RegistryChange } from '../../../src/registry/updater.ts';
import { assertNoOpenHandles } from '../../support/fake-mizzend.ts';

const YAML = `apiVersion: v1
kind: Service
metadata:
  name: reviews
  namespace: default
  annotations: {networking.istio.io/exportTo: ".,istio-system"}
spec:
  clusterIP: 10.96.0.11
  selector: {app: reviews}
  ports:
  - {name: http, port: 9080, targetPort: 8080}
  - {name: metrics, port: 15020, appProtocol: http}
  - {name: dns, port: 53, protocol: UDP}
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: default}
spec:
  clusterIP: None
  ports: [{port: 5432}]
---
apiVersion: v1
kind: Pod
metadata:
  name: reviews-v1
  namespace: default
  labels: {app: reviews, version: v1, topology.kubernetes.io/region: us-east1, topology.kubernetes.io/zone: us-east1-b}
spec: {serviceAccountName: bookinfo-reviews}
status:
  podIP: 10.0.1.1
  conditions: [{type: Ready, status: "False"}]
`;

test('Kubernetes-shaped YAML becomes services and pods with Istio protocol selection', () => {
  const index = new EndpointIndex();
  const reg = new MemoryRegistry({ updater: new EndpointIndexUpdater(index, () => {}) }).loadYaml(YAML);
  const snap = reg.snapshot();
  const reviews = snap.getService('reviews.default.svc.cluster.local');
  assert.ok(reviews);
  assert.deepEqual(
    reviews.ports.map((p) => [p.name, p.protocol]),
    [
      ['http', Protocol.HTTP],
      ['metrics', Protocol.HTTP],
      ['dns', Protocol.UDP],
    ],
  );
  assert.deepEqual([...(reviews.exportTo ?? [])], ['default', 'istio-system']);
  assert.equal(snap.getService('db.default.svc.cluster.local')?.resolution, Resolution.PASSTHROUGH);
  assert.equal(
    snap.getService('db.default.svc.cluster.local')?.ports[0].protocol,
    Protocol.TCP,
    'well-known port',
  );
  const eps = index.endpoints('reviews.default.svc.cluster.local', 'default');
  const http = eps.find((e) => e.servicePortName === 'http');
  assert.equal(http?.port, 8080);
  assert.equal(http?.locality, 'us-east1/us-east1-b');
  assert.equal(http?.healthStatus, HealthStatus.UNHEALTHY);
  assert.equal(http?.serviceAccount, 'spiffe://cluster.local/ns/default/sa/bookinfo-reviews');
  const targets = snap.serviceTargets({ ipAddresses: ['10.0.1.1'], namespace: 'default', labels: {} });
  assert.deepEqual(
    targets.map((t) => [t.port.name, t.targetPort]),
    [
      ['http', 8080],
      ['metrics', 15020],
      ['dns', 53],
    ],
  );
});

test('bad registry YAML fails with every problem located', () => {
  const reg = new MemoryRegistry();
  assert.throws(
    () =>
      reg.loadYaml(
        `apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec:\n  ports: [{port: 70000}]\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: b}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: p}\n`,
        'reg.yaml',
      ),
    (err: Error) => {
      assert.match(
        err.message,
        /reg\.yaml:5:\d+ spec\.ports\[0\]\.port: port must be a number from 1 to 65535/,
      );
      assert.match(err.message, /reg\.yaml:8:\d+ kind: apps\/v1 Deployment is not a registry object/);
      assert.match(err.message, /reg\.yaml:\d+:\d+ status\.podIP: status\.podIP is required/);
      return true;
    },
  );
  assert.equal(reg.snapshot().services.length, 0, 'nothing is applied from a bad file');
});

test('a pod change is an incremental endpoint update; a new service a full one', () => {
  const changes: RegistryChange[] = [];
  const reg = new MemoryRegistry({
    updater: new EndpointIndexUpdater(new EndpointIndex(), (c) => changes.push(c)),
  });
  reg.loadYaml(YAML);
  changes.length = 0;
  const pod = reg.snapshot().workloads[0];
  reg.setWorkload({ ...pod, healthStatus: HealthStatus.HEALTHY });
  assert.deepEqual(
    changes.map((c) => [c.full, c.reason]),
    [[false, 'endpoint']],
  );
  changes.length = 0;
  reg.deleteService('db.default.svc.cluster.local', 'default');
  assert.deepEqual(
    changes.map((c) => [c.full, c.reason]),
    [[true, 'service']],
  );
});

test('the aggregate lists every registry, the first one winning a (host, namespace)', () => {
  const a = new MemoryRegistry().loadYaml(YAML);
  const b = new MemoryRegistry({ clusterId: 'east' }).loadYaml(
    YAML.replace('clusterIP: 10.96.0.11', 'clusterIP: 10.96.9.9'),
  );
  const agg = new AggregateRegistry([a, b]);
  const snap = agg.snapshot();
  assert.equal(snap.services.length, 2);
  assert.equal(snap.getService('reviews.default.svc.cluster.local')?.defaultAddress, '10.96.0.11');
  assert.equal(agg.snapshot(), snap, 'reused while no member changed');
  assert.equal(snap.workloads.length, 2);
  assert.equal(
    snap.serviceTargets({ ipAddresses: ['10.0.1.1'], namespace: 'default', labels: {} }).length,
    3,
  );
});

test('leaves no open handles', () => assertNoOpenHandles());
