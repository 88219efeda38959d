/**
 * XdsClient against mizzend's real AdsServer: start-up in Envoy's order, ACKs in both modes,
 * the node in the first request only, updates and removals reaching the data plane.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  CLUSTER_TYPE_URL,
  ENDPOINT_TYPE_URL,
  LISTENER_TYPE_URL,
  ROUTE_TYPE_URL,
} from '../../../src/lib/xds/type-urls.ts';
import type { XdsMode } from '../../../src/proxy/xds/client.ts';
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

function fullWorld() {
  return world({
    [CLUSTER_TYPE_URL]: { a: edsCluster('a'), s: staticCluster('s') },
    [ENDPOINT_TYPE_URL]: { a: endpoints('a', [9001, 9002]) },
    [LISTENER_TYPE_URL]: { l80: rdsListener('l80', 18080, 'r80') },
    [ROUTE_TYPE_URL]: { r80: routeConfig('r80', 'a') },
  });
}

for (const mode of ['delta', 'sotw'] as XdsMode[]) {
  test(`${mode}: start-up follows Envoy's order and every type ends ACKED`, T, async () => {
    const cp = await TestControlPlane.start(fullWorld());
    const { client, updates } = newClient(cp, { mode });
    const order: string[] = [];
    cp.server.on('response', (_c, info) => order.push(info.typeUrl));
    try {
      client.start();
      await initialized(client);
      // A cluster without dependencies is active at once; an EDS cluster after its endpoints.
      assert.deepEqual(describe(updates), ['CDS +s', 'EDS +a', 'CDS +a', 'RDS +r80', 'LDS +l80']);
      // Clusters and their endpoints before listeners, listeners before their routes.
      assert.deepEqual(order, [CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL, LISTENER_TYPE_URL, ROUTE_TYPE_URL]);
      await cp.synced(CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL, LISTENER_TYPE_URL, ROUTE_TYPE_URL);
      const status = client.status();
      assert.equal(status.connected, true);
      assert.equal(status.initialized, true);
      assert.equal(status.mode, mode);
      const states = status.types.flatMap((t) =>
        t.resources.map((r) => `${t.shortType}/${r.name}=${r.state}`),
      );
      assert.deepEqual(states, [
        'CDS/a=ACKED',
        'CDS/s=ACKED',
        'EDS/a=ACKED',
        'LDS/l80=ACKED',
        'RDS/r80=ACKED',
      ]);
      for (const t of status.types) {
        if (t.shortType === 'SDS') continue;
        assert.ok(t.lastAck, `${t.shortType} was ACKed`);
        assert.equal(t.lastNack, undefined);
      }
      // The server saw an ACK (not a NACK) for every type it sent.
      const synced = cp.server.syncStatus()[0].types.map((t) => `${t.shortType}:${t.state}`);
      assert.deepEqual(synced.sort(), ['CDS:SYNCED', 'EDS:SYNCED', 'LDS:SYNCED', 'RDS:SYNCED']);
      // The resource the data plane receives is the decoded proto.
      const la = client.resources(ENDPOINT_TYPE_URL).active[0];
      assert.equal(la.resource.message.cluster_name, 'a');
      assert.equal(la.resource.compiled, undefined, 'no compile hook installed');
    } finally {
      client.close();
      await cp.close();
    }
  });

  test(`${mode}: the node travels in the first request of the stream only`, T, async () => {
    const cp = await TestControlPlane.start(fullWorld());
    const { client } = newClient(cp, { mode });
    try {
      client.start();
      await initialized(client);
      await cp.synced(CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL, LISTENER_TYPE_URL, ROUTE_TYPE_URL);
      const [conn] = cp.server.connections();
      assert.equal(conn.proxy?.nodeId, 'sidecar~10.0.0.1~app-1.default~default.svc.cluster.local');
      // Subscriptions and ACKs: CDS ACK, EDS, EDS ACK, LDS, LDS ACK, RDS, RDS ACK.
      assert.ok(cp.laterRequests.length >= 7, `saw ${cp.laterRequests.length} later requests`);
      for (const req of cp.laterRequests)
        assert.equal(req.node, null, `no node in ${JSON.stringify(req.type_url)}`);
    } finally {
      client.close();
      await cp.close();
    }
  });

  test(
    `${mode}: pushed changes are applied, identical resends are not, removals reach the data plane`,
    T,
    async () => {
      const cp = await TestControlPlane.start(fullWorld());
      const { client, updates } = newClient(cp, { mode });
      try {
        client.start();
        await initialized(client);
        updates.length = 0;

        // An endpoint change of an active cluster applies at once.
        let u = nextUpdate(client, ENDPOINT_TYPE_URL);
        cp.set(ENDPOINT_TYPE_URL, { a: endpoints('a', [9003]) });
        assert.deepEqual(describe([await u]), ['EDS ~a']);

        // A push that changes nothing for the proxy produces no update (SotW resends everything).
        const ack = nextEvent<{ typeUrl: string }>(client, 'ack', (e) => e.typeUrl === CLUSTER_TYPE_URL);
        cp.set(CLUSTER_TYPE_URL, { a: edsCluster('a') });
        if (mode === 'sotw') await ack;
        else await cp.server.pushQueueIdle();
        // A route change then proves the stream moved on, with nothing in between.
        u = nextUpdate(client, ROUTE_TYPE_URL);
        cp.set(ROUTE_TYPE_URL, { r80: routeConfig('r80', 's') });
        await u;
        assert.deepEqual(describe(updates), ['EDS ~a', 'RDS ~r80']);

        // Removing the listener removes it, then its route config (no longer referenced).
        updates.length = 0;
        const removedRoute = nextUpdate(client, ROUTE_TYPE_URL, (x) => x.removed.length > 0);
        cp.set(LISTENER_TYPE_URL, { l80: undefined });
        await removedRoute;
        assert.deepEqual(describe(updates), ['LDS -l80', 'RDS -r80']);
        assert.deepEqual(activeNames(client, LISTENER_TYPE_URL), []);
        await cp.server.pushQueueIdle();
        assert.deepEqual(
          client.status().types.find((t) => t.shortType === 'RDS')?.resourceNames,
          [],
          'the route config is unsubscribed',
        );
      } finally {
        client.close();
        await cp.close();
      }
    },
  );
}

testNoOpenHandles();
