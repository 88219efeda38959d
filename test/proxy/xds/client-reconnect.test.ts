/**
 * The control plane goes away: the last good config keeps serving (nothing is removed), the
 * client reconnects after a jittered exponential backoff (fake timers), and on a fresh server
 * instance it resubscribes and resyncs — delta with the versions it holds, so only what changed
 * comes back. A connection that stops answering is found by gRPC keepalive.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { CLUSTER_TYPE_URL, LISTENER_TYPE_URL, ROUTE_TYPE_URL } from '../../../src/lib/xds/type-urls.ts';
import type { DisconnectEvent } from '../../../src/proxy/xds/client.ts';
import { FakeTimers } from './fake-timers.ts';
import {
  activeNames,
  describe,
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

function initialWorld() {
  return world({
    [CLUSTER_TYPE_URL]: { a: staticCluster('a', 8001), b: staticCluster('b', 8002) },
    [LISTENER_TYPE_URL]: { l: rdsListener('l', 18080, 'r') },
    [ROUTE_TYPE_URL]: { r: routeConfig('r', 'a') },
  });
}

for (const mode of ['delta', 'sotw'] as const) {
  test(
    `${mode}: control plane killed — config keeps serving, backoff reconnects, a fresh server resyncs`,
    T,
    async () => {
      const cp1 = await TestControlPlane.start(initialWorld());
      const timers = new FakeTimers();
      // random() = 0 puts every delay at the bottom of its window: ceiling / 2.
      const { client, updates } = newClient(cp1, { mode, timers, random: () => 0 });
      let cp2: TestControlPlane | undefined;
      try {
        client.start();
        await initialized(client);
        assert.equal(client.connected, true);
        updates.length = 0;
        const before = client.status();

        const gone = nextEvent<DisconnectEvent>(client, 'disconnected');
        await cp1.close();
        const e1 = await gone;
        assert.equal(e1.code, grpc.status.UNAVAILABLE);
        assert.equal(e1.retryInMs, 250);
        // The last good config keeps serving: nothing was removed or changed.
        assert.deepEqual(updates, []);
        assert.deepEqual(activeNames(client, CLUSTER_TYPE_URL), ['a', 'b']);
        assert.deepEqual(activeNames(client, LISTENER_TYPE_URL), ['l']);
        const away = client.status();
        assert.equal(away.connected, false);
        assert.ok(away.disconnectedSince);
        assert.deepEqual(
          away.types.map((t) => t.resources),
          before.types.map((t) => t.resources),
          'every resource keeps its state and version',
        );
        assert.deepEqual(timers.pending(), [250]);

        // Nothing before the delay; the attempt at the delay fails (nobody listens): the delay doubles.
        let attempts = 0;
        client.on('connecting', () => attempts++);
        timers.tick(249);
        assert.equal(attempts, 0);
        const refused = nextEvent<DisconnectEvent>(client, 'disconnected');
        timers.tick(1);
        assert.equal(attempts, 1);
        const e2 = await refused;
        assert.equal(e2.code, grpc.status.UNAVAILABLE);
        assert.equal(e2.retryInMs, 500);
        assert.equal(client.status().reconnectAttempts, 2);

        // A fresh server instance on the same address, whose config moved on meanwhile.
        const next = initialWorld();
        next.get(CLUSTER_TYPE_URL)?.delete('b');
        next.get(CLUSTER_TYPE_URL)?.set('a', staticCluster('a', 8011));
        next.get(CLUSTER_TYPE_URL)?.set('c', staticCluster('c', 8003));
        cp2 = await TestControlPlane.start(next, { port: cp1.port });
        const ldsResponses: number[] = [];
        cp2.server.on('response', (_c, info) => {
          if (info.typeUrl === LISTENER_TYPE_URL) ldsResponses.push(info.resources);
        });
        const resynced = nextUpdate(client, CLUSTER_TYPE_URL);
        const connected = nextEvent(client, 'connected');
        timers.tick(500);
        await connected;
        assert.deepEqual(describe([await resynced]), ['CDS +c ~a -b']);
        await cp2.synced(CLUSTER_TYPE_URL, LISTENER_TYPE_URL, ROUTE_TYPE_URL);
        assert.deepEqual(
          describe(updates),
          ['CDS +c ~a -b'],
          'the unchanged listener and route were not re-applied',
        );
        // Delta resent only what changed (the listener it held was declared with its version).
        assert.deepEqual(ldsResponses, mode === 'delta' ? [0] : [1]);
        const status = client.status();
        assert.equal(status.connected, true);
        assert.equal(status.reconnectAttempts, 0, 'a response resets the backoff');
        assert.deepEqual(
          status.types.flatMap((t) => t.resources.map((r) => `${t.shortType}/${r.name}=${r.state}`)),
          ['CDS/a=ACKED', 'CDS/c=ACKED', 'LDS/l=ACKED', 'RDS/r=ACKED'],
        );
        const nodes = cp2.server.connections().map((c) => c.proxy?.id);
        assert.deepEqual(nodes, ['app-1.default'], 'the node was sent again on the new stream');
      } finally {
        client.close();
        await cp1.close();
        await cp2?.close();
      }
    },
  );
}

test('close() during backoff cancels the retry', T, async () => {
  const cp = await TestControlPlane.start(initialWorld());
  const timers = new FakeTimers();
  const { client } = newClient(cp, { timers, random: () => 1 });
  try {
    client.start();
    await initialized(client);
    const gone = nextEvent<DisconnectEvent>(client, 'disconnected');
    await cp.close();
    assert.equal((await gone).retryInMs, 500, 'random() = 1 gives the top of the window');
    client.close();
    assert.deepEqual(timers.pending(), []);
  } finally {
    client.close();
    await cp.close();
  }
});

/** A TCP relay in front of the server that can stop passing bytes, like a dead network path. */
async function relay(target: number) {
  const sockets = new Set<net.Socket>();
  let frozen = false;
  const server = net.createServer((down) => {
    const up = net.connect(target, '127.0.0.1');
    for (const s of [down, up]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => sockets.delete(s));
    }
    down.on('data', (b) => frozen || up.write(b));
    up.on('data', (b) => frozen || down.write(b));
    down.on('close', () => up.destroy());
    up.on('close', () => down.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    address: `127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    freeze() {
      frozen = true;
    },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

test('keepalive: a connection that stops answering pings is dropped and retried', T, async () => {
  const cp = await TestControlPlane.start(initialWorld());
  const r = await relay(cp.port);
  const timers = new FakeTimers();
  const { client, updates } = newClient(r, { timers, keepalive: { timeMs: 50, timeoutMs: 50 } });
  try {
    client.start();
    await initialized(client);
    updates.length = 0;
    const gone = nextEvent<DisconnectEvent>(client, 'disconnected');
    r.freeze();
    const e = await gone; // only a keepalive timeout can end this stream: no bytes flow any more
    assert.equal(e.code, grpc.status.UNAVAILABLE);
    assert.deepEqual(timers.pending(), [e.retryInMs], 'a retry is scheduled');
    assert.deepEqual(updates, []);
    assert.deepEqual(activeNames(client, CLUSTER_TYPE_URL), ['a', 'b']);
  } finally {
    client.close();
    await r.close();
    await cp.close();
  }
});

testNoOpenHandles();
