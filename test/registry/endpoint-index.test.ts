import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EndpointIndex } from '../../src/registry/endpoint-index.ts';
import { type Endpoint, HealthStatus, Provider } from '../../src/registry/model.ts';
import { EndpointIndexUpdater, type RegistryChange } from '../../src/registry/updater.ts';
import { assertNoOpenHandles } from '../support/fake-mizzend.ts';

const SHARD = { provider: Provider.EXTERNAL, cluster: 'Kubernetes' };
const OTHER = { provider: Provider.MEMORY, cluster: 'Kubernetes' };
const HOST = 'reviews.default.svc.cluster.local';

function ep(address: string, extra: Partial<Endpoint> = {}): Endpoint {
  return {
    address,
    port: 9080,
    servicePortName: 'http',
    labels: { app: 'reviews' },
    locality: '',
    clusterId: 'Kubernetes',
    weight: 1,
    healthStatus: HealthStatus.HEALTHY,
    tlsMode: 'disabled',
    workloadName: `w-${address}`,
    namespace: 'default',
    ...extra,
  };
}

test('the first endpoints of a service need a full push; later changes are incremental', () => {
  const index = new EndpointIndex();
  assert.equal(index.update(SHARD, HOST, 'default', [ep('10.0.0.1')]), 'full');
  assert.equal(index.update(SHARD, HOST, 'default', [ep('10.0.0.1'), ep('10.0.0.2')]), 'incremental');
  assert.equal(
    index.update(SHARD, HOST, 'default', [ep('10.0.0.2'), ep('10.0.0.1')]),
    'none',
    'order does not matter',
  );
  assert.equal(
    index.update(SHARD, HOST, 'default', [ep('10.0.0.2'), ep('10.0.0.1', { weight: 3 })]),
    'incremental',
  );
});

test('a new service account is a full push (clusters verify SANs)', () => {
  const index = new EndpointIndex();
  index.update(SHARD, HOST, 'default', [
    ep('10.0.0.1', { serviceAccount: 'spiffe://cluster.local/ns/default/sa/a' }),
  ]);
  const next = index.update(SHARD, HOST, 'default', [
    ep('10.0.0.1', { serviceAccount: 'spiffe://cluster.local/ns/default/sa/a' }),
    ep('10.0.0.2', { serviceAccount: 'spiffe://cluster.local/ns/default/sa/b' }),
  ]);
  assert.equal(next, 'full');
  assert.deepEqual(index.shards(HOST, 'default')?.serviceAccounts, [
    'spiffe://cluster.local/ns/default/sa/a',
    'spiffe://cluster.local/ns/default/sa/b',
  ]);
});

test('shards are copy on write: a reader keeps what it read', () => {
  const index = new EndpointIndex();
  index.update(SHARD, HOST, 'default', [ep('10.0.0.1')]);
  const before = index.shards(HOST, 'default');
  const listBefore = index.endpoints(HOST, 'default');
  index.update(SHARD, HOST, 'default', [ep('10.0.0.9')]);
  assert.equal(before?.shards.get('External/Kubernetes')?.[0].address, '10.0.0.1');
  assert.equal(listBefore[0].address, '10.0.0.1');
  assert.ok(Object.isFrozen(listBefore));
  assert.notEqual(index.shards(HOST, 'default')?.version, before?.version);
});

test('endpoints of several shards come out in shard key order; a shard can go alone', () => {
  const index = new EndpointIndex();
  index.update(SHARD, HOST, 'default', [ep('10.0.0.2')]);
  index.update(OTHER, HOST, 'default', [ep('10.0.0.1')]);
  assert.deepEqual(
    index.endpoints(HOST, 'default').map((e) => e.address),
    ['10.0.0.2', '10.0.0.1'],
    'External/… sorts before Memory/…',
  );
  assert.ok(index.deleteShard(OTHER, HOST, 'default'));
  assert.deepEqual(
    index.endpoints(HOST, 'default').map((e) => e.address),
    ['10.0.0.2'],
  );
  assert.equal(index.update(OTHER, HOST, 'default', []), 'none', 'removing an absent shard is no change');
  assert.ok(index.deleteService(HOST, 'default'));
  assert.deepEqual(index.endpoints(HOST, 'default'), []);
});

test('the updater turns index results into full and incremental registry changes', () => {
  const index = new EndpointIndex();
  const changes: RegistryChange[] = [];
  const u = new EndpointIndexUpdater(index, (c) => changes.push(c));
  u.endpointUpdate(SHARD, HOST, 'default', [ep('10.0.0.1')]);
  u.endpointUpdate(SHARD, HOST, 'default', [ep('10.0.0.1'), ep('10.0.0.2')]);
  u.endpointUpdate(SHARD, HOST, 'default', [ep('10.0.0.1'), ep('10.0.0.2')]);
  u.endpointCacheUpdate(SHARD, HOST, 'default', [ep('10.0.0.3')]);
  u.serviceUpdate(SHARD, HOST, 'default', 'delete');
  u.configUpdate({
    configsUpdated: [{ kind: 'ServiceEntry', namespace: 'default', name: HOST }],
    reason: 'endpoint',
  });
  const key = { kind: 'ServiceEntry', namespace: 'default', name: HOST };
  assert.deepEqual(changes, [
    { full: true, configsUpdated: [key], reason: 'service' },
    { full: false, configsUpdated: [key], reason: 'endpoint' },
    { full: true, configsUpdated: [key], reason: 'service' },
    { full: true, configsUpdated: [key], reason: 'endpoint' },
  ]);
  assert.equal(index.shards(HOST, 'default'), undefined, 'a deleted service leaves the index');
});

test('leaves no open handles', () => assertNoOpenHandles());
