/**
 * Subscriptions follow dependencies: EDS names come from the clusters, RDS names from the
 * listeners; a name no longer referenced is unsubscribed and forgotten. Absence: delta removes
 * a named resource the server no longer has (DOES_NOT_EXIST); SotW keeps EDS it does not see,
 * since a SotW EDS response need not carry every resource.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  CLUSTER_TYPE_URL,
  ENDPOINT_TYPE_URL,
  LISTENER_TYPE_URL,
  ROUTE_TYPE_URL,
} from '../../../src/lib/xds/type-urls.ts';
import type { XdsClient } from '../../../src/proxy/xds/client.ts';
import {
  activeNames,
  describe,
  edsCluster,
  endpoints,
  initialized,
  newClient,
  nextEvent,
  nextUpdate,
  rdsListener,
  routeConfig,
  staticCluster,
  TestControlPlane,
  testNoOpenHandles,
  until,
  world,
} from './harness.ts';

const T = { timeout: 30_000 };

function clientNames(client: XdsClient, typeUrl: string): readonly string[] {
  return client.status().types.find((t) => t.typeUrl === typeUrl)?.resourceNames ?? [];
}

function serverNames(cp: TestControlPlane, typeUrl: string): string {
  return (cp.watched(typeUrl)?.resourceNames ?? []).join(',');
}

for (const mode of ['delta', 'sotw'] as const) {
  test(`${mode}: EDS subscriptions follow the clusters`, T, async () => {
    const cp = await TestControlPlane.start(
      world({
        [CLUSTER_TYPE_URL]: { a: edsCluster('a', 'svc-a'), b: edsCluster('b') },
        [ENDPOINT_TYPE_URL]: {
          'svc-a': endpoints('svc-a', [9001]),
          'svc-c': endpoints('svc-c', [9003]),
          b: endpoints('b', [9002]),
        },
      }),
    );
    const { client, updates } = newClient(cp, { mode });
    try {
      client.start();
      await initialized(client);
      assert.deepEqual(clientNames(client, ENDPOINT_TYPE_URL), ['b', 'svc-a']);
      await until(() => serverNames(cp, ENDPOINT_TYPE_URL) === 'b,svc-a', 'server sees b,svc-a');
      updates.length = 0;

      // Cluster a moves to another service: the new endpoints are fetched, the old dropped.
      const moved = nextUpdate(client, ENDPOINT_TYPE_URL, (u) => u.removed.length > 0);
      cp.set(CLUSTER_TYPE_URL, { a: edsCluster('a', 'svc-c') });
      await moved;
      assert.deepEqual(describe(updates), ['EDS +svc-c', 'CDS ~a', 'EDS -svc-a']);
      assert.deepEqual(clientNames(client, ENDPOINT_TYPE_URL), ['b', 'svc-c']);
      await until(() => serverNames(cp, ENDPOINT_TYPE_URL) === 'b,svc-c', 'server sees b,svc-c');
      const eds = client.status().types.find((t) => t.typeUrl === ENDPOINT_TYPE_URL);
      assert.deepEqual(
        eds?.resources.map((r) => r.name),
        ['b', 'svc-c'],
        'the unsubscribed resource is forgotten',
      );

      // Cluster b goes: so does its subscription.
      updates.length = 0;
      const gone = nextUpdate(client, ENDPOINT_TYPE_URL, (u) => u.removed.length > 0);
      cp.set(CLUSTER_TYPE_URL, { b: undefined });
      await gone;
      assert.deepEqual(describe(updates), ['CDS -b', 'EDS -b']);
      await until(() => serverNames(cp, ENDPOINT_TYPE_URL) === 'svc-c', 'server sees svc-c');
    } finally {
      client.close();
      await cp.close();
    }
  });

  test(`${mode}: RDS subscriptions follow the listeners`, T, async () => {
    const cp = await TestControlPlane.start(
      world({
        [CLUSTER_TYPE_URL]: { s: staticCluster('s') },
        [LISTENER_TYPE_URL]: { l1: rdsListener('l1', 18081, 'r1'), l2: rdsListener('l2', 18082, 'r2') },
        [ROUTE_TYPE_URL]: {
          r1: routeConfig('r1', 's'),
          r2: routeConfig('r2', 's'),
          r3: routeConfig('r3', 's'),
        },
      }),
    );
    const { client, updates } = newClient(cp, { mode });
    try {
      client.start();
      await initialized(client);
      assert.deepEqual(activeNames(client, ROUTE_TYPE_URL), ['r1', 'r2']);
      await until(() => serverNames(cp, ROUTE_TYPE_URL) === 'r1,r2', 'server sees r1,r2');
      updates.length = 0;

      const added = nextUpdate(client, LISTENER_TYPE_URL);
      cp.set(LISTENER_TYPE_URL, { l3: rdsListener('l3', 18083, 'r3'), l1: undefined });
      await added;
      // One LDS response removed l1 and added l3 (which first warmed on r3).
      await until(() => activeNames(client, LISTENER_TYPE_URL).join() === 'l2,l3', 'l3 live');
      assert.deepEqual(activeNames(client, ROUTE_TYPE_URL), ['r2', 'r3']);
      await until(() => serverNames(cp, ROUTE_TYPE_URL) === 'r2,r3', 'server sees r2,r3');
      assert.ok(describe(updates).includes('RDS -r1'));
    } finally {
      client.close();
      await cp.close();
    }
  });
}

test('delta: endpoints the server deletes are removed and reported DOES_NOT_EXIST', T, async () => {
  const cp = await TestControlPlane.start(
    world({ [CLUSTER_TYPE_URL]: { a: edsCluster('a') }, [ENDPOINT_TYPE_URL]: { a: endpoints('a', [9001]) } }),
  );
  const { client } = newClient(cp, { mode: 'delta' });
  try {
    client.start();
    await initialized(client);
    const removed = nextUpdate(client, ENDPOINT_TYPE_URL);
    cp.set(ENDPOINT_TYPE_URL, { a: undefined });
    assert.deepEqual(describe([await removed]), ['EDS -a']);
    assert.deepEqual(activeNames(client, CLUSTER_TYPE_URL), ['a'], 'the cluster stays, without endpoints');
    const eds = client.status().types.find((t) => t.typeUrl === ENDPOINT_TYPE_URL);
    assert.deepEqual(
      eds?.resources.map((r) => `${r.name}=${r.state}`),
      ['a=DOES_NOT_EXIST'],
    );
    assert.deepEqual(eds?.resourceNames, ['a'], 'still subscribed: it may come back');
  } finally {
    client.close();
    await cp.close();
  }
});

test(
  'sotw: endpoints missing from an EDS response are kept (absence is not removal for EDS)',
  T,
  async () => {
    const cp = await TestControlPlane.start(
      world({
        [CLUSTER_TYPE_URL]: { a: edsCluster('a'), b: edsCluster('b') },
        [ENDPOINT_TYPE_URL]: { a: endpoints('a', [9001]), b: endpoints('b', [9002]) },
      }),
    );
    const { client, updates } = newClient(cp, { mode: 'sotw' });
    try {
      client.start();
      await initialized(client);
      updates.length = 0;
      const ack = nextEvent(client, 'ack', (e: { typeUrl: string }) => e.typeUrl === ENDPOINT_TYPE_URL);
      const changed = nextUpdate(client, ENDPOINT_TYPE_URL);
      cp.set(ENDPOINT_TYPE_URL, { a: undefined, b: endpoints('b', [9003]) });
      await ack;
      await changed;
      assert.deepEqual(describe(updates), ['EDS ~b']);
      assert.deepEqual(activeNames(client, ENDPOINT_TYPE_URL), ['a', 'b']);
    } finally {
      client.close();
      await cp.close();
    }
  },
);

test('sotw: a listener missing from an LDS response is removed and forgotten', T, async () => {
  const cp = await TestControlPlane.start(
    world({
      [CLUSTER_TYPE_URL]: { s: staticCluster('s') },
      [LISTENER_TYPE_URL]: { l1: rdsListener('l1', 18081, 'r1'), l2: rdsListener('l2', 18082, 'r1') },
      [ROUTE_TYPE_URL]: { r1: routeConfig('r1', 's') },
    }),
  );
  const { client, updates } = newClient(cp, { mode: 'sotw' });
  try {
    client.start();
    await initialized(client);
    updates.length = 0;
    const removed = nextUpdate(client, LISTENER_TYPE_URL);
    cp.set(LISTENER_TYPE_URL, { l2: undefined });
    assert.deepEqual(describe([await removed]), ['LDS -l2']);
    assert.deepEqual(describe(updates), ['LDS -l2'], 'r1 stays: l1 still uses it');
    const lds = client.status().types.find((t) => t.typeUrl === LISTENER_TYPE_URL);
    assert.deepEqual(
      lds?.resources.map((r) => r.name),
      ['l1'],
    );
  } finally {
    client.close();
    await cp.close();
  }
});

testNoOpenHandles();
