/**
 * Warming, as Envoy does it: a cluster goes live only with its endpoints, a listener only with
 * its route configuration; listeners are requested only after the clusters warmed; an updated
 * resource keeps its previous version serving while the new one warms; warming gives up after
 * the initial fetch timeout (fake timers), unless the config source says to wait forever.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  CLUSTER_TYPE_URL,
  ENDPOINT_TYPE_URL,
  LISTENER_TYPE_URL,
  ROUTE_TYPE_URL,
} from '../../../src/lib/xds/type-urls.ts';
import type { AckEvent, XdsClient } from '../../../src/proxy/xds/client.ts';
import { FakeTimers } from './fake-timers.ts';
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
  world,
} from './harness.ts';

const T = { timeout: 30_000 };

function acked(client: XdsClient, typeUrl: string): Promise<AckEvent> {
  return nextEvent<AckEvent>(client, 'ack', (e) => e.typeUrl === typeUrl);
}

function warmingNames(client: XdsClient, typeUrl: string): string[] {
  return client
    .resources(typeUrl)
    .warming.map((w) => w.name)
    .sort();
}

function subscribed(client: XdsClient, typeUrl: string): boolean {
  return client.status().types.find((t) => t.typeUrl === typeUrl)?.subscribed ?? false;
}

test('sotw: a cluster is not live before its endpoints, and listeners wait for the clusters', T, async () => {
  const cp = await TestControlPlane.start(
    world({
      [CLUSTER_TYPE_URL]: { a: edsCluster('a') },
      [LISTENER_TYPE_URL]: { l: rdsListener('l', 18080, 'r') },
      [ROUTE_TYPE_URL]: { r: routeConfig('r', 'a') },
    }),
  );
  const { client, updates } = newClient(cp, { mode: 'sotw' });
  try {
    const edsAck = acked(client, ENDPOINT_TYPE_URL);
    client.start();
    await edsAck; // the (empty) EDS answer was processed
    assert.deepEqual(updates, [], 'nothing is live yet');
    assert.deepEqual(warmingNames(client, CLUSTER_TYPE_URL), ['a']);
    assert.equal(subscribed(client, LISTENER_TYPE_URL), false, 'LDS waits for cluster warming');
    const cdsStatus = client.status().types.find((t) => t.typeUrl === CLUSTER_TYPE_URL);
    assert.equal(cdsStatus?.resources[0].warming, true);
    assert.equal(
      client.status().types.find((t) => t.typeUrl === ENDPOINT_TYPE_URL)?.resources[0].state,
      'REQUESTED',
    );

    const live = nextUpdate(client, CLUSTER_TYPE_URL);
    cp.set(ENDPOINT_TYPE_URL, { a: endpoints('a', [9001]) });
    await live;
    assert.deepEqual(describe(updates), ['EDS +a', 'CDS +a'], 'endpoints first, then the cluster');
    assert.equal(subscribed(client, LISTENER_TYPE_URL), true);
    await initialized(client);
    assert.deepEqual(describe(updates), ['EDS +a', 'CDS +a', 'RDS +r', 'LDS +l']);
  } finally {
    client.close();
    await cp.close();
  }
});

test('sotw: a listener is not live before its route configuration', T, async () => {
  const cp = await TestControlPlane.start(
    world({
      [CLUSTER_TYPE_URL]: { s: staticCluster('s') },
      [LISTENER_TYPE_URL]: { l: rdsListener('l', 18080, 'r') },
    }),
  );
  const { client, updates } = newClient(cp, { mode: 'sotw' });
  try {
    const rdsAck = acked(client, ROUTE_TYPE_URL);
    client.start();
    await rdsAck;
    assert.deepEqual(describe(updates), ['CDS +s']);
    assert.deepEqual(warmingNames(client, LISTENER_TYPE_URL), ['l']);
    assert.equal(client.initialized, false, 'not ready while a listener warms');

    const ready = initialized(client);
    cp.set(ROUTE_TYPE_URL, { r: routeConfig('r', 's') });
    await ready;
    assert.deepEqual(describe(updates), ['CDS +s', 'RDS +r', 'LDS +l']);
    assert.deepEqual(warmingNames(client, LISTENER_TYPE_URL), []);
  } finally {
    client.close();
    await cp.close();
  }
});

for (const mode of ['delta', 'sotw'] as const) {
  test(
    mode === 'sotw'
      ? 'sotw: an updated listener keeps its old version serving until its new route config arrives'
      : 'delta: an updated listener whose new route config does not exist yet goes live without it',
    T,
    async () => {
      const cp = await TestControlPlane.start(
        world({
          [CLUSTER_TYPE_URL]: { s: staticCluster('s') },
          [LISTENER_TYPE_URL]: { l: rdsListener('l', 18080, 'r1') },
          [ROUTE_TYPE_URL]: { r1: routeConfig('r1', 's') },
        }),
      );
      // r2 is withheld until the listener has been seen warming.
      const { client, updates } = newClient(cp, { mode });
      try {
        client.start();
        await initialized(client);
        updates.length = 0;

        const ldsAck = acked(client, LISTENER_TYPE_URL);
        const swapped = nextUpdate(client, LISTENER_TYPE_URL);
        cp.set(LISTENER_TYPE_URL, { l: rdsListener('l', 18080, 'r2') });
        await ldsAck;
        if (mode === 'delta') {
          await swapped;
          // Delta says at once that r2 does not exist: the listener goes live without it, as Envoy.
          assert.deepEqual(describe(updates), ['LDS ~l', 'RDS -r1']);
          const rds = client.status().types.find((t) => t.typeUrl === ROUTE_TYPE_URL);
          assert.deepEqual(rds?.resourceNames, ['r2']);
          assert.equal(
            client.status().types.find((t) => t.typeUrl === ROUTE_TYPE_URL)?.resources[0].state,
            'DOES_NOT_EXIST',
          );
          const later = nextUpdate(client, ROUTE_TYPE_URL);
          cp.set(ROUTE_TYPE_URL, { r2: routeConfig('r2', 's') });
          assert.deepEqual(
            describe([await later]),
            ['RDS +r2'],
            'a route config arriving later still applies',
          );
          return;
        }
        assert.deepEqual(updates, [], 'the old listener keeps serving');
        assert.deepEqual(warmingNames(client, LISTENER_TYPE_URL), ['l']);
        const active = client.resources(LISTENER_TYPE_URL).active[0].resource;
        assert.match(JSON.stringify(active.message), /"route_config_name":"r1"/);
        // Both route configs are wanted while the old listener serves and the new one warms.
        const rds = client.status().types.find((t) => t.typeUrl === ROUTE_TYPE_URL);
        assert.deepEqual(rds?.resourceNames, ['r1', 'r2']);

        cp.set(ROUTE_TYPE_URL, { r2: routeConfig('r2', 's') });
        await swapped;
        assert.deepEqual(describe(updates), ['RDS +r2', 'LDS ~l', 'RDS -r1']);
        assert.deepEqual(client.status().types.find((t) => t.typeUrl === ROUTE_TYPE_URL)?.resourceNames, [
          'r2',
        ]);
      } finally {
        client.close();
        await cp.close();
      }
    },
  );
}

test('delta: endpoints that do not exist end the warming at once (DOES_NOT_EXIST)', T, async () => {
  const cp = await TestControlPlane.start(world({ [CLUSTER_TYPE_URL]: { a: edsCluster('a', 'missing') } }));
  const { client, updates } = newClient(cp, { mode: 'delta' });
  try {
    client.start();
    await initialized(client);
    assert.deepEqual(describe(updates), ['CDS +a'], 'the cluster is live without endpoints');
    const eds = client.status().types.find((t) => t.typeUrl === ENDPOINT_TYPE_URL);
    assert.deepEqual(
      eds?.resources.map((r) => `${r.name}=${r.state}`),
      ['missing=DOES_NOT_EXIST'],
    );
    // When the endpoints appear later, they are applied to the live cluster.
    const later = nextUpdate(client, ENDPOINT_TYPE_URL);
    cp.set(ENDPOINT_TYPE_URL, { missing: endpoints('missing', [9001]) });
    assert.deepEqual(describe([await later]), ['EDS +missing']);
    assert.equal(
      client.status().types.find((t) => t.typeUrl === ENDPOINT_TYPE_URL)?.resources[0].state,
      'ACKED',
    );
  } finally {
    client.close();
    await cp.close();
  }
});

test(
  'warming times out after the initial fetch timeout: the cluster goes live without endpoints',
  T,
  async () => {
    const cp = await TestControlPlane.start(world({ [CLUSTER_TYPE_URL]: { a: edsCluster('a') } }));
    const timers = new FakeTimers();
    const { client, updates } = newClient(cp, { mode: 'sotw', initialFetchTimeoutMs: 5_000, timers });
    try {
      const edsAck = acked(client, ENDPOINT_TYPE_URL);
      client.start();
      await edsAck;
      timers.tick(4_999);
      assert.deepEqual(updates, []);
      assert.deepEqual(warmingNames(client, CLUSTER_TYPE_URL), ['a']);
      timers.tick(1);
      assert.deepEqual(describe(updates), ['CDS +a']);
      assert.deepEqual(activeNames(client, CLUSTER_TYPE_URL), ['a']);
      assert.equal(subscribed(client, LISTENER_TYPE_URL), true, 'start-up moves on to listeners');
      // Endpoints arriving after the timeout still apply.
      const later = nextUpdate(client, ENDPOINT_TYPE_URL);
      cp.set(ENDPOINT_TYPE_URL, { a: endpoints('a', [9001]) });
      assert.deepEqual(describe([await later]), ['EDS +a']);
    } finally {
      client.close();
      await cp.close();
    }
  },
);

test("a config source's initial_fetch_timeout wins: 0 waits forever, 2s gives up after 2s", T, async () => {
  const forever = { ads: {}, initial_fetch_timeout: { seconds: 0 } };
  const twoSeconds = { ads: {}, initial_fetch_timeout: { seconds: 2 } };
  const cp = await TestControlPlane.start(
    world({
      [CLUSTER_TYPE_URL]: { s: staticCluster('s') },
      [LISTENER_TYPE_URL]: {
        wait: rdsListener('wait', 18080, 'r-wait', forever),
        quick: rdsListener('quick', 18081, 'r-quick', twoSeconds),
      },
    }),
  );
  const timers = new FakeTimers();
  const { client, updates } = newClient(cp, { mode: 'sotw', timers });
  try {
    const rdsAck = acked(client, ROUTE_TYPE_URL);
    client.start();
    await rdsAck;
    updates.length = 0;
    timers.tick(1_999);
    assert.deepEqual(updates, []);
    timers.tick(1);
    assert.deepEqual(describe(updates), ['LDS +quick']);
    timers.tick(3_600_000);
    assert.deepEqual(
      warmingNames(client, LISTENER_TYPE_URL),
      ['wait'],
      'initial_fetch_timeout 0 never gives up',
    );
    assert.equal(client.initialized, false);
    const ready = initialized(client);
    cp.set(ROUTE_TYPE_URL, { 'r-wait': routeConfig('r-wait', 's') });
    await ready;
    assert.deepEqual(describe(updates), ['LDS +quick', 'RDS +r-wait', 'LDS +wait']);
  } finally {
    client.close();
    await cp.close();
  }
});

test('no CDS answer within the initial fetch timeout: start-up goes on to listeners', T, async () => {
  const cp = await TestControlPlane.start(world({ [LISTENER_TYPE_URL]: {} }), {
    types: [LISTENER_TYPE_URL, ROUTE_TYPE_URL],
  });
  const timers = new FakeTimers();
  const { client } = newClient(cp, { mode: 'delta', timers });
  try {
    const connected = nextEvent(client, 'connecting');
    client.start();
    await connected;
    assert.equal(subscribed(client, LISTENER_TYPE_URL), false);
    timers.tick(15_000);
    assert.equal(subscribed(client, LISTENER_TYPE_URL), true);
    await initialized(client);
    assert.equal(client.status().types.find((x) => x.typeUrl === CLUSTER_TYPE_URL)?.versionInfo, '');
  } finally {
    client.close();
    await cp.close();
  }
});

testNoOpenHandles();
