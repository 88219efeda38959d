/**
 * NACKs: the error detail names the resource and the field; delta applies the valid siblings of
 * a rejected resource, SotW rejects the whole response; the last good value keeps serving and
 * the status says NACKED with the error until a good version arrives. The proxy's compile hook
 * takes part in the decision.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { CLUSTER_TYPE_URL } from '../../../src/lib/xds/type-urls.ts';
import type { NackRecord } from '../../../src/pilot/xds/connection.ts';
import type { NackEvent } from '../../../src/proxy/xds/client.ts';
import { envoyResourceTypes } from '../../../src/proxy/xds/resource-types/registry.ts';
import type { ResourceStatus } from '../../../src/proxy/xds/status.ts';
import {
  activeNames,
  describe,
  initialized,
  newClient,
  nextEvent,
  nextUpdate,
  staticCluster,
  TestControlPlane,
  testNoOpenHandles,
  world,
} from './harness.ts';

const T = { timeout: 30_000 };
const BAD_TIMEOUT = 'Cluster "b": connect_timeout: must be greater than 0s';

function clusterStatus(
  client: { status(): { types: readonly { typeUrl: string; resources: readonly ResourceStatus[] }[] } },
  name: string,
) {
  const t = client.status().types.find((x) => x.typeUrl === CLUSTER_TYPE_URL);
  return t?.resources.find((r) => r.name === name);
}

function serverNack(cp: TestControlPlane): Promise<NackRecord | undefined> {
  return new Promise((resolve) => cp.server.once('nack', (_c, _t, nack) => resolve(nack)));
}

test('delta: an invalid cluster is NACKed by name and field while its valid sibling applies', T, async () => {
  const cp = await TestControlPlane.start(world({ [CLUSTER_TYPE_URL]: { a: staticCluster('a', 8001) } }));
  const { client, updates } = newClient(cp, { mode: 'delta' });
  try {
    client.start();
    await initialized(client);
    updates.length = 0;

    const nack = nextEvent<NackEvent>(client, 'nack');
    const atServer = serverNack(cp);
    const applied = nextUpdate(client, CLUSTER_TYPE_URL);
    cp.set(CLUSTER_TYPE_URL, {
      a: staticCluster('a', 8002),
      b: staticCluster('b', 8003, { connect_timeout: { seconds: 0 } }),
    });
    const e = await nack;
    assert.deepEqual(e.errors, [BAD_TIMEOUT]);
    assert.deepEqual(e.applied, ['a']);
    assert.deepEqual(describe([await applied]), ['CDS ~a']);
    const record = await atServer;
    assert.equal(record?.code, grpc.status.INTERNAL);
    assert.equal(record?.message, BAD_TIMEOUT, 'error_detail names the resource and the field');

    assert.deepEqual(activeNames(client, CLUSTER_TYPE_URL), ['a']);
    const b = clusterStatus(client, 'b');
    assert.equal(b?.state, 'NACKED');
    assert.equal(b?.version, undefined, 'no good version of b was ever accepted');
    assert.equal(b?.error?.message, BAD_TIMEOUT);
    assert.equal(clusterStatus(client, 'a')?.state, 'ACKED');
  } finally {
    client.close();
    await cp.close();
  }
});

test('delta: a rejected update keeps the previous value serving until a good one arrives', T, async () => {
  const cp = await TestControlPlane.start(world({ [CLUSTER_TYPE_URL]: { b: staticCluster('b', 8001) } }));
  const { client, updates } = newClient(cp, { mode: 'delta' });
  try {
    client.start();
    await initialized(client);
    const good = clusterStatus(client, 'b');
    const before = client.resources(CLUSTER_TYPE_URL).active[0].resource;
    updates.length = 0;

    const nack = nextEvent<NackEvent>(client, 'nack');
    cp.set(CLUSTER_TYPE_URL, { b: staticCluster('b', 8002, { connect_timeout: { seconds: 0 } }) });
    await nack;
    assert.deepEqual(updates, [], 'nothing reached the data plane');
    assert.equal(client.resources(CLUSTER_TYPE_URL).active[0].resource, before, 'the previous value serves');
    const rejected = clusterStatus(client, 'b');
    assert.equal(rejected?.state, 'NACKED');
    assert.equal(rejected?.version, good?.version, 'the version in use is still the good one');
    assert.equal(rejected?.error?.message, BAD_TIMEOUT);
    assert.notEqual(rejected?.error?.version, good?.version);

    const fixed = nextUpdate(client, CLUSTER_TYPE_URL);
    cp.set(CLUSTER_TYPE_URL, { b: staticCluster('b', 8003) });
    assert.deepEqual(describe([await fixed]), ['CDS ~b']);
    const now = clusterStatus(client, 'b');
    assert.equal(now?.state, 'ACKED');
    assert.equal(now?.error, undefined, 'the error is cleared by a good version');
  } finally {
    client.close();
    await cp.close();
  }
});

test('sotw: one invalid cluster rejects the whole response and every previous value stays', T, async () => {
  const cp = await TestControlPlane.start(world({ [CLUSTER_TYPE_URL]: { a: staticCluster('a', 8001) } }));
  const { client, updates } = newClient(cp, { mode: 'sotw' });
  try {
    client.start();
    await initialized(client);
    const accepted = client.status().types.find((t) => t.typeUrl === CLUSTER_TYPE_URL)?.versionInfo;
    assert.ok(accepted);
    updates.length = 0;

    const nack = nextEvent<NackEvent>(client, 'nack');
    const atServer = serverNack(cp);
    cp.set(CLUSTER_TYPE_URL, {
      a: staticCluster('a', 8002),
      b: staticCluster('b', 8003, { connect_timeout: { seconds: 0 } }),
    });
    const e = await nack;
    assert.deepEqual(e.errors, [BAD_TIMEOUT]);
    assert.deepEqual(e.applied, []);
    const record = await atServer;
    assert.equal(record?.message, BAD_TIMEOUT);
    assert.equal(record?.versionInfo, accepted, 'the NACK carries the last accepted version');
    assert.notEqual(record?.rejectedVersion, accepted);

    assert.deepEqual(updates, [], 'the valid change to a was not applied either');
    const served = JSON.stringify(client.resources(CLUSTER_TYPE_URL).active[0].resource.message);
    assert.match(served, /"port_value":8001/, 'a still has its old endpoint');

    assert.equal(clusterStatus(client, 'b')?.state, 'NACKED');
    assert.equal(clusterStatus(client, 'a')?.state, 'ACKED');
    const cds = client.status().types.find((t) => t.typeUrl === CLUSTER_TYPE_URL);
    assert.equal(cds?.versionInfo, accepted);
    assert.equal(cds?.lastNack?.message, BAD_TIMEOUT);

    const fixed = nextUpdate(client, CLUSTER_TYPE_URL);
    cp.set(CLUSTER_TYPE_URL, { b: staticCluster('b', 8003) });
    assert.deepEqual(describe([await fixed]), ['CDS +b ~a']);
  } finally {
    client.close();
    await cp.close();
  }
});

test(
  'the compile hook: its output reaches the data plane, its errors are NACKed with their field',
  T,
  async () => {
    const resourceTypes = envoyResourceTypes({
      cluster: (message, ctx) =>
        message.lb_policy === 'RING_HASH'
          ? {
              ok: false,
              errors: [{ path: 'lb_policy', message: 'RING_HASH is not supported by mizzen-proxy' }],
            }
          : {
              ok: true,
              value: {
                name: ctx.name,
                port: JSON.stringify(message.load_assignment).match(/port_value":(\d+)/)?.[1],
              },
            },
    });
    const cp = await TestControlPlane.start(world({ [CLUSTER_TYPE_URL]: { a: staticCluster('a') } }));
    const { client } = newClient(cp, { mode: 'delta', resourceTypes });
    try {
      client.start();
      await initialized(client);
      assert.deepEqual(client.resources(CLUSTER_TYPE_URL).active[0].resource.compiled, {
        name: 'a',
        port: '8080',
      });
      const nack = nextEvent<NackEvent>(client, 'nack');
      const atServer = serverNack(cp);
      cp.set(CLUSTER_TYPE_URL, { a: staticCluster('a', 8080, { lb_policy: 'RING_HASH' }) });
      const expected = 'Cluster "a": lb_policy: RING_HASH is not supported by mizzen-proxy';
      assert.deepEqual((await nack).errors, [expected]);
      assert.equal((await atServer)?.message, expected);
      assert.deepEqual(client.resources(CLUSTER_TYPE_URL).active[0].resource.compiled, {
        name: 'a',
        port: '8080',
      });
    } finally {
      client.close();
      await cp.close();
    }
  },
);

testNoOpenHandles();
