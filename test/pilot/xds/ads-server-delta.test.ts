/**
 * ADS protocol, delta (incremental) xDS: subscribe/unsubscribe, removed_resources, reconnect
 * with initial_resource_versions, ACK/NACK — each a named test over real gRPC on port 0.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import type { Counter } from '../../../src/lib/metrics.ts';
import { CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL } from '../../../src/lib/xds/type-urls.ts';
import { GeneratorRegistry, xdsResource } from '../../../src/pilot/xds/generator-registry.ts';
import { FakeAdsClient, type ReceivedDeltaResponse } from '../../support/fake-ads-client.ts';
import {
  cluster,
  endpoints,
  KIND,
  probeDelta,
  startAds,
  state,
  type TestState,
  testGenerators,
  testNoOpenHandles,
} from './harness.ts';

const T = { timeout: 30_000 };

function versions(res: ReceivedDeltaResponse): Record<string, string> {
  return Object.fromEntries(res.resources.map((r) => [r.name, r.version]));
}

test(
  'delta wildcard: an empty first subscription gets everything, with per-resource versions; ACK not answered',
  T,
  async () => {
    const ads = await startAds(state({ clusters: { a: cluster('a'), b: cluster('b') } }));
    const client = new FakeAdsClient(ads.address);
    try {
      const s = client.deltaStream();
      s.subscribe(CLUSTER_TYPE_URL);
      const r1 = await s.nextOf(CLUSTER_TYPE_URL);
      assert.deepEqual(r1.names.sort(), ['a', 'b']);
      assert.deepEqual(r1.removed_resources, []);
      assert.equal(r1.system_version_info, ads.server.version);
      for (const r of r1.resources) assert.match(r.version, /^[0-9a-z]+$/);
      assert.notEqual(r1.resources[0].version, r1.resources[1].version);

      const acked = once(ads.server, 'ack');
      s.ack(r1);
      await acked;
      await probeDelta(s);
      const cds = ads.server.syncStatus()[0].types.find((t) => t.typeUrl === CLUSTER_TYPE_URL)!;
      assert.equal(cds.state, 'SYNCED');
      assert.equal(cds.wildcard, true);
      assert.equal(ads.server.syncStatus()[0].delta, true);
    } finally {
      client.close();
      await ads.server.close();
    }
  },
);

test(
  'delta subscribe/unsubscribe: only newly subscribed names are sent; unsubscribed ones are never sent again',
  T,
  async () => {
    const ads = await startAds(state({ endpoints: { a: endpoints('a', [1]), b: endpoints('b', [2]) } }));
    const client = new FakeAdsClient(ads.address);
    try {
      const s = client.deltaStream();
      s.subscribe(ENDPOINT_TYPE_URL, ['a']);
      const r1 = await s.nextOf(ENDPOINT_TYPE_URL);
      assert.deepEqual(r1.names, ['a']);
      s.ack(r1);

      s.subscribe(ENDPOINT_TYPE_URL, ['b']);
      const r2 = await s.nextOf(ENDPOINT_TYPE_URL);
      assert.deepEqual(r2.names, ['b'], 'a is not resent');
      s.ack(r2);

      s.unsubscribe(ENDPOINT_TYPE_URL, ['a']);
      await probeDelta(s); // an unsubscription is not answered

      const acked = once(ads.server, 'ack');
      ads.update(state({ endpoints: { a: endpoints('a', [7]), b: endpoints('b', [8]) } }), [KIND.endpoint]);
      const r3 = await s.nextOf(ENDPOINT_TYPE_URL);
      assert.deepEqual(r3.names, ['b']);
      s.ack(r3);
      await acked;
      const eds = ads.server.syncStatus()[0].types.find((t) => t.typeUrl === ENDPOINT_TYPE_URL)!;
      assert.deepEqual(eds.resourceNames, ['b']);
    } finally {
      client.close();
      await ads.server.close();
    }
  },
);

test(
  'delta removed_resources: deletions are announced by name, unchanged resources are not resent',
  T,
  async () => {
    const ads = await startAds(state({ clusters: { a: cluster('a'), b: cluster('b'), c: cluster('c') } }));
    const client = new FakeAdsClient(ads.address);
    try {
      const s = client.deltaStream();
      s.subscribe(CLUSTER_TYPE_URL, ['*']);
      const r1 = await s.nextOf(CLUSTER_TYPE_URL);
      const acked = once(ads.server, 'ack');
      s.ack(r1);
      await acked;

      ads.update(state({ clusters: { a: cluster('a', 5), c: cluster('c') } }), [KIND.cluster]);
      const r2 = await s.nextOf(CLUSTER_TYPE_URL);
      assert.deepEqual(r2.names, ['a'], 'only the changed resource');
      assert.deepEqual(r2.removed_resources, ['b']);
      assert.notEqual(versions(r2).a, versions(r1).a);
      s.ack(r2);

      // A push that changes nothing sends nothing.
      ads.update(state({ clusters: { a: cluster('a', 5), c: cluster('c') } }), [KIND.cluster]);
      await ads.server.pushQueueIdle();
      await probeDelta(s);
    } finally {
      client.close();
      await ads.server.close();
    }
  },
);

test('delta: a subscribed name that does not exist is reported in removed_resources', T, async () => {
  const ads = await startAds(state({ endpoints: { a: endpoints('a', [1]) } }));
  const client = new FakeAdsClient(ads.address);
  try {
    const s = client.deltaStream();
    s.subscribe(ENDPOINT_TYPE_URL, ['a', 'ghost']);
    const r1 = await s.nextOf(ENDPOINT_TYPE_URL);
    assert.deepEqual(r1.names, ['a']);
    assert.deepEqual(r1.removed_resources, ['ghost']);
  } finally {
    client.close();
    await ads.server.close();
  }
});

test('delta explicit "*" and unsubscribing from it', T, async () => {
  const ads = await startAds(state({ clusters: { a: cluster('a'), b: cluster('b') } }));
  const client = new FakeAdsClient(ads.address);
  try {
    const s = client.deltaStream();
    s.subscribe(CLUSTER_TYPE_URL, ['a']);
    const r1 = await s.nextOf(CLUSTER_TYPE_URL);
    assert.deepEqual(r1.names, ['a'], 'a named first subscription is not a wildcard');
    s.ack(r1);
    s.subscribe(CLUSTER_TYPE_URL, ['*']);
    const r2 = await s.nextOf(CLUSTER_TYPE_URL);
    assert.deepEqual(r2.names, ['b'], 'the wildcard adds what the proxy does not have yet');
    s.ack(r2);
    s.unsubscribe(CLUSTER_TYPE_URL, ['*']);
    await probeDelta(s);
    const acked = once(ads.server, 'ack');
    ads.update(state({ clusters: { a: cluster('a', 3), b: cluster('b', 3) } }), [KIND.cluster]);
    const r3 = await s.nextOf(CLUSTER_TYPE_URL);
    assert.deepEqual(r3.names, ['a']);
    s.ack(r3);
    await acked;
  } finally {
    client.close();
    await ads.server.close();
  }
});

test(
  'delta reconnect with initial_resource_versions: only what differs is sent to a fresh server',
  T,
  async () => {
    const first = await startAds(state({ clusters: { a: cluster('a'), b: cluster('b'), d: cluster('d') } }));
    const client1 = new FakeAdsClient(first.address);
    let held: Record<string, string>;
    try {
      const s = client1.deltaStream();
      s.subscribe(CLUSTER_TYPE_URL);
      const r1 = await s.nextOf(CLUSTER_TYPE_URL);
      held = versions(r1);
    } finally {
      client1.close();
      await first.server.close();
    }
    // The new instance: a unchanged, b changed, c new, d gone.
    const second = await startAds(
      state({ clusters: { a: cluster('a'), b: cluster('b', 9), c: cluster('c') } }),
    );
    const client2 = new FakeAdsClient(second.address);
    try {
      const s = client2.deltaStream();
      s.subscribe(CLUSTER_TYPE_URL, [], held);
      const r = await s.nextOf(CLUSTER_TYPE_URL);
      assert.deepEqual(r.names.sort(), ['b', 'c']);
      assert.deepEqual(r.removed_resources, ['d']);
      assert.equal(versions(r).a, undefined);
    } finally {
      client2.close();
      await second.server.close();
    }
  },
);

test(
  'delta NACK: recorded and counted, the rejected resources are not resent until they change',
  T,
  async () => {
    const ads = await startAds(state({ clusters: { a: cluster('a') } }));
    const client = new FakeAdsClient(ads.address);
    try {
      const s = client.deltaStream();
      s.subscribe(CLUSTER_TYPE_URL);
      const r1 = await s.nextOf(CLUSTER_TYPE_URL);
      const acked = once(ads.server, 'ack');
      s.ack(r1);
      await acked;
      ads.update(state({ clusters: { a: cluster('a', 50) } }), [KIND.cluster]);
      const r2 = await s.nextOf(CLUSTER_TYPE_URL);
      const nacked = once(ads.server, 'nack');
      s.nack(r2, 'a: timeout out of range');
      await nacked;
      await probeDelta(s);
      assert.equal((ads.metrics.get('pilot_total_xds_rejects') as Counter).get('cds'), 1);
      const cds = ads.server.syncStatus()[0].types.find((t) => t.typeUrl === CLUSTER_TYPE_URL)!;
      assert.equal(cds.state, 'ERROR');
      assert.equal(cds.lastNack?.message, 'a: timeout out of range');
      assert.equal(cds.ackedVersion, r1.system_version_info);

      // Same content again: still nothing to send. New content: sent.
      ads.update(state({ clusters: { a: cluster('a', 50) } }), [KIND.cluster]);
      await ads.server.pushQueueIdle();
      await probeDelta(s);
      ads.update(state({ clusters: { a: cluster('a', 2) } }), [KIND.cluster]);
      const r3 = await s.nextOf(CLUSTER_TYPE_URL);
      assert.deepEqual(r3.names, ['a']);
    } finally {
      client.close();
      await ads.server.close();
    }
  },
);

test('delta: a generator with generateDelta serves pushes incrementally', T, async () => {
  const generators = testGenerators();
  const calls: string[] = [];
  const base = generators.get(ENDPOINT_TYPE_URL)!;
  const registry = new GeneratorRegistry<TestState>();
  for (const t of generators.typeUrls()) if (t !== ENDPOINT_TYPE_URL) registry.register(generators.get(t)!);
  registry.register({
    ...base,
    generate: (p, w, r) => {
      calls.push('generate');
      return base.generate(p, w, r);
    },
    generateDelta: (_p, _w, r) => {
      calls.push('generateDelta');
      return {
        resources: [xdsResource(ENDPOINT_TYPE_URL, 'a', r.push.endpoints.get('a')!)],
        removed: ['b'],
      };
    },
  });
  const ads = await startAds(state({ endpoints: { a: endpoints('a', [1]), b: endpoints('b', [2]) } }), {
    generators: registry,
  });
  const client = new FakeAdsClient(ads.address);
  try {
    const s = client.deltaStream();
    s.subscribe(ENDPOINT_TYPE_URL, ['a', 'b']);
    const r1 = await s.nextOf(ENDPOINT_TYPE_URL);
    assert.deepEqual(r1.names.sort(), ['a', 'b']);
    const acked = once(ads.server, 'ack');
    s.ack(r1);
    await acked;
    ads.update(state({ endpoints: { a: endpoints('a', [3]) } }), [KIND.endpoint]);
    const r2 = await s.nextOf(ENDPOINT_TYPE_URL);
    assert.deepEqual(r2.names, ['a']);
    assert.deepEqual(r2.removed_resources, ['b']);
    assert.deepEqual(calls, ['generate', 'generateDelta']);
  } finally {
    client.close();
    await ads.server.close();
  }
});

test('delta: missing type URL -> INVALID_ARGUMENT', T, async () => {
  const ads = await startAds(state());
  const client = new FakeAdsClient(ads.address);
  try {
    const s = client.deltaStream();
    s.send({ resource_names_subscribe: ['a'] });
    const st = await s.status;
    assert.equal(st.code, grpc.status.INVALID_ARGUMENT);
    assert.match(st.details, /type_url/);
  } finally {
    client.close();
    await ads.server.close();
  }
});

testNoOpenHandles();
