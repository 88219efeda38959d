/**
 * ListenerManager: LDS add / in-place update (established connections keep their chains) /
 * move to a new port / remove, bind failures reported and retried, drainAll, and RDS providers.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';
import { compileListener, type ListenerConfig } from '../../../src/proxy/listener/listener.ts';
import { ListenerManager } from '../../../src/proxy/listener/listener-manager.ts';
import { compileRouteConfiguration } from '../../../src/proxy/network/http/router/route-table.ts';
import { StatsStore } from '../../../src/proxy/stats/store.ts';
import { ClusterManager } from '../../../src/proxy/upstream/cluster-manager.ts';
import type { XdsUpdate } from '../../../src/proxy/xds/client.ts';
import { assertNoOpenHandles, hcm, routeConfig } from '../support/harness.ts';
import { freePort, request } from './harness.ts';

const stats = new StatsStore();
const clusterManager = new ClusterManager(stats);

function compiled(name: string, port: number, status: number): ListenerConfig {
  const r = compileListener(
    {
      name,
      address: { socket_address: { address: '127.0.0.1', port_value: port } },
      filter_chains: [
        {
          filters: [
            {
              name: 'hcm',
              typed_config: hcm(routeConfig([{ match: { prefix: '/' }, direct_response: { status } }])),
            },
          ],
        },
      ],
    },
    { clusterManager, stats },
  );
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.value;
}

function update(
  typeUrl: string,
  changes: { added?: [string, unknown][]; updated?: [string, unknown][]; removed?: string[] },
): XdsUpdate {
  const entry = ([name, value]: [string, unknown]) => ({
    name,
    version: 'v1',
    resource: { typeUrl, name, message: {}, compiled: value, hash: name, dependencies: [] },
  });
  return {
    typeUrl,
    added: (changes.added ?? []).map(entry),
    updated: (changes.updated ?? []).map(entry),
    removed: changes.removed ?? [],
  };
}

const LDS = 'type.googleapis.com/envoy.config.listener.v3.Listener';

test('add, update in place (established keep-alive keeps its chain), move, remove', async () => {
  const lm = new ListenerManager(stats, { drainTimeMs: 5000 });
  const p1 = await freePort();
  await lm.applyListeners(update(LDS, { added: [['a', compiled('a', p1, 200)]] }));
  assert.deepEqual(
    lm.listeners().map((l) => [l.name, l.port]),
    [['a', p1]],
  );
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const first = await request(p1, '/', { agent });
  assert.equal(first.status, 200);

  await lm.applyListeners(update(LDS, { updated: [['a', compiled('a', p1, 201)]] }));
  const again = await request(p1, '/', { agent });
  assert.equal(again.localPort, first.localPort, 'same connection');
  assert.equal(again.status, 200, 'the established connection keeps the chain it started with');
  assert.equal((await request(p1, '/')).status, 201, 'a new connection gets the new chain');
  agent.destroy();

  const p2 = await freePort();
  await lm.applyListeners(update(LDS, { updated: [['a', compiled('a', p2, 202)]] }));
  assert.equal((await request(p2, '/')).status, 202);
  await assert.rejects(request(p1, '/'), /ECONNREFUSED/, 'the old socket stopped accepting');

  await lm.applyListeners(update(LDS, { removed: ['a'] }));
  assert.deepEqual(lm.listeners(), []);
  await assert.rejects(request(p2, '/'), /ECONNREFUSED/);
  await lm.close();
});

test('a port taken by a removed listener is free for a listener added in the same update', async () => {
  const lm = new ListenerManager(stats);
  const p = await freePort();
  await lm.applyListeners(update(LDS, { added: [['old', compiled('old', p, 200)]] }));
  await lm.applyListeners(update(LDS, { added: [['new', compiled('new', p, 203)]], removed: ['old'] }));
  assert.deepEqual(
    lm.listeners().map((l) => l.name),
    ['new'],
  );
  assert.equal((await request(p, '/')).status, 203);
  await lm.close();
});

test('a bind failure is reported by name and retried on the next update', async () => {
  const lm = new ListenerManager(stats);
  const blocker = http.createServer();
  const p = await freePort();
  await new Promise<void>((resolve) => blocker.listen(p, '127.0.0.1', () => resolve()));
  await lm.applyListeners(update(LDS, { added: [['x', compiled('x', p, 200)]] }));
  assert.match(lm.failures().get('x') ?? '', /EADDRINUSE/);
  assert.deepEqual(lm.listeners(), []);
  await new Promise<void>((resolve) => blocker.close(() => resolve()));
  await lm.applyListeners(update(LDS, { updated: [['x', compiled('x', p, 204)]] }));
  assert.equal(lm.failures().size, 0);
  assert.equal((await request(p, '/')).status, 204);
  await lm.close();
});

test('a move to a port that cannot be bound keeps the previous listener serving', async () => {
  const lm = new ListenerManager(stats);
  const p1 = await freePort();
  const blocker = http.createServer();
  const p2 = await freePort();
  await new Promise<void>((resolve) => blocker.listen(p2, '127.0.0.1', () => resolve()));
  await lm.applyListeners(update(LDS, { added: [['m', compiled('m', p1, 200)]] }));
  await lm.applyListeners(update(LDS, { updated: [['m', compiled('m', p2, 201)]] }));
  assert.match(lm.failures().get('m') ?? '', /EADDRINUSE/);
  assert.equal((await request(p1, '/')).status, 200);
  await new Promise<void>((resolve) => blocker.close(() => resolve()));
  await lm.close();
});

test('drainAll stops accepting and resolves once connections are gone', async () => {
  const lm = new ListenerManager(stats);
  const p = await freePort();
  await lm.applyListeners(update(LDS, { added: [['d', compiled('d', p, 200)]] }));
  assert.equal((await request(p, '/')).status, 200);
  await lm.drainAll(5000);
  await assert.rejects(request(p, '/'), /ECONNREFUSED/);
  // Later updates after a drain bind nothing.
  await lm.applyListeners(update(LDS, { added: [['e', compiled('e', await freePort(), 200)]] }));
  assert.deepEqual(lm.listeners(), []);
});

test('RDS: providers are shared by name, updated, and emptied when the route configuration goes', () => {
  const lm = new ListenerManager(stats);
  const p = lm.rdsProvider('80');
  assert.equal(lm.rdsProvider('80'), p);
  assert.equal(p.current(), undefined);
  const rc = compileRouteConfiguration(
    routeConfig([{ match: { prefix: '/' }, direct_response: { status: 200 } }]),
  );
  if (!rc.ok) throw new Error(JSON.stringify(rc.errors));
  const RDS = 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration';
  lm.applyRoutes(update(RDS, { added: [['80', rc.value]] }));
  assert.equal(p.current(), rc.value);
  lm.applyRoutes(update(RDS, { removed: ['80'] }));
  assert.equal(p.current(), undefined);
});

test('no open handles', async () => {
  clusterManager.destroy();
  await assertNoOpenHandles();
});
