/**
 * What the ADS server shares between streams of one proxy class (same generated list): the
 * delta state (a reference to the shared list), the full-push diff, and the encoded response —
 * nonce included, which only has to be unique per stream. Real gRPC on port 0.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL } from '../../../src/lib/xds/type-urls.ts';
import type { Proxy } from '../../../src/pilot/model/proxy.ts';
import { configsOfKindsChanged } from '../../../src/pilot/model/push-request.ts';
import type { XdsConnection } from '../../../src/pilot/xds/connection.ts';
import {
  GeneratorRegistry,
  type XdsResource,
  xdsResource,
} from '../../../src/pilot/xds/generator-registry.ts';
import { FakeAdsClient, sidecarNode } from '../../support/fake-ads-client.ts';
import {
  cluster,
  endpoints,
  KIND,
  probe,
  probeDelta,
  startAds,
  state,
  type TestState,
  testNoOpenHandles,
} from './harness.ts';

const T = { timeout: 30_000 };

/**
 * CDS as mizzend's generators hand it out: one list per push state and proxy namespace, shared
 * by reference; namespace `other` sees one extra cluster. `generated` counts list builds.
 */
function sharingGenerators() {
  const lists = new WeakMap<TestState, Map<string, readonly XdsResource[]>>();
  const counter = { generated: 0 };
  const registry = new GeneratorRegistry<TestState>().register({
    typeUrl: CLUSTER_TYPE_URL,
    needsPush: (_proxy, req) => configsOfKindsChanged(req, new Set([KIND.cluster])),
    generate: (proxy: Proxy, _watched, req) => {
      let byNs = lists.get(req.push);
      if (!byNs) {
        byNs = new Map();
        lists.set(req.push, byNs);
      }
      let list = byNs.get(proxy.namespace);
      if (!list) {
        counter.generated++;
        const entries = [...req.push.clusters].map(([name, msg]) => xdsResource(CLUSTER_TYPE_URL, name, msg));
        if (proxy.namespace === 'other')
          entries.push(xdsResource(CLUSTER_TYPE_URL, 'extra', cluster('extra')));
        list = Object.freeze(entries);
        byNs.set(proxy.namespace, list);
      }
      return list;
    },
  });
  return { registry, counter };
}

function knownOf(conn: XdsConnection) {
  return conn.watched.get(CLUSTER_TYPE_URL)?.known;
}

test(
  'delta: streams of one class share their state, the full-push diff and the encoded response',
  T,
  async () => {
    const { registry, counter } = sharingGenerators();
    const initial = state({ clusters: { a: cluster('a'), b: cluster('b'), c: cluster('c') } });
    const ads = await startAds(initial, { generators: registry });
    const client = new FakeAdsClient(ads.address);
    try {
      const s1 = client.deltaStream(sidecarNode('app-1', 'default', '10.0.0.1'));
      const s2 = client.deltaStream(sidecarNode('app-2', 'default', '10.0.0.2'));
      const s3 = client.deltaStream(sidecarNode('app-3', 'other', '10.0.0.3'));
      for (const s of [s1, s2, s3]) s.subscribe(CLUSTER_TYPE_URL);
      const first = await Promise.all([s1, s2, s3].map((s) => s.nextOf(CLUSTER_TYPE_URL)));
      assert.deepEqual(
        first.map((r) => r.names.sort()),
        [
          ['a', 'b', 'c'],
          ['a', 'b', 'c'],
          ['a', 'b', 'c', 'extra'],
        ],
      );
      assert.equal(first[0].nonce, first[1].nonce, 'one encoded response for the class');
      assert.notEqual(first[0].nonce, first[2].nonce, 'another class, another response');
      for (const [i, r] of first.entries()) [s1, s2, s3][i].ack(r);

      // Node ids carry the IPs, so sorting by id gives s1, s2, s3.
      const [c1, c2, c3] = ads.server
        .connections()
        .sort((x, y) => (x.proxy?.nodeId ?? '').localeCompare(y.proxy?.nodeId ?? ''));
      const base = knownOf(c1)?.exactBase;
      assert.ok(base, 'a stream in step with a list holds it by reference');
      assert.equal(knownOf(c2)?.exactBase, base);
      assert.notEqual(knownOf(c3)?.exactBase, base);
      assert.equal(knownOf(c3)?.size, 4);

      // A full push that changes one cluster (as a connectTimeout edit changes all): only it is sent.
      const before = counter.generated;
      ads.update(state({ clusters: { a: cluster('a'), b: cluster('b', 9), c: cluster('c') } }), [
        KIND.cluster,
      ]);
      const pushed = await Promise.all([s1, s2, s3].map((s) => s.nextOf(CLUSTER_TYPE_URL)));
      assert.equal(counter.generated - before, 2, 'one list per class and push');
      for (const r of pushed) {
        assert.deepEqual(r.names, ['b'], 'only the changed resource');
        assert.deepEqual(r.removed_resources, []);
      }
      assert.equal(pushed[0].nonce, pushed[1].nonce);
      assert.notEqual(pushed[0].nonce, pushed[2].nonce);
      assert.equal(knownOf(c1)?.exactBase, knownOf(c2)?.exactBase);
      assert.notEqual(knownOf(c1)?.exactBase, base, 'moved to the new list');

      // Removal travels the same way.
      ads.update(state({ clusters: { a: cluster('a'), b: cluster('b', 9) } }), [KIND.cluster]);
      const removed = await Promise.all([s1, s2].map((s) => s.nextOf(CLUSTER_TYPE_URL)));
      for (const r of removed) {
        assert.deepEqual(r.names, []);
        assert.deepEqual(r.removed_resources, ['c']);
      }
    } finally {
      client.close();
      await ads.server.close();
    }
  },
);

test('SotW: streams given the same list in one push share the encoded response', T, async () => {
  const { registry } = sharingGenerators();
  const ads = await startAds(state({ clusters: { a: cluster('a') } }), { generators: registry });
  const client = new FakeAdsClient(ads.address);
  try {
    const s1 = client.stream(sidecarNode('app-1', 'default', '10.0.0.1'));
    const s2 = client.stream(sidecarNode('app-2', 'default', '10.0.0.2'));
    s1.request(CLUSTER_TYPE_URL);
    s2.request(CLUSTER_TYPE_URL);
    const [r1, r2] = await Promise.all([s1.nextOf(CLUSTER_TYPE_URL), s2.nextOf(CLUSTER_TYPE_URL)]);
    assert.equal(r1.nonce, r2.nonce);
    assert.equal(r1.version_info, r2.version_info);
    s1.ack(r1);
    s2.ack(r2);
    // The next push: a new version, so a new encoding, shared again.
    ads.update(state({ clusters: { a: cluster('a', 3) } }), [KIND.cluster]);
    const [p1, p2] = await Promise.all([s1.nextOf(CLUSTER_TYPE_URL), s2.nextOf(CLUSTER_TYPE_URL)]);
    assert.notEqual(p1.nonce, r1.nonce);
    assert.equal(p1.nonce, p2.nonce);
    assert.equal(p1.version_info, ads.server.version);
  } finally {
    client.close();
    await ads.server.close();
  }
});

test(
  'a byte budget smaller than one response still lets every stream through, one at a time',
  T,
  async () => {
    const ads = await startAds(state({ clusters: { a: cluster('a'), b: cluster('b') } }), {
      maxInFlightBytes: 1,
      pushConcurrency: 100,
    });
    const client = new FakeAdsClient(ads.address);
    try {
      const streams = Array.from({ length: 8 }, (_, i) =>
        client.deltaStream(sidecarNode(`app-${i}`, 'default', `10.0.0.${i + 1}`)),
      );
      for (const s of streams) s.subscribe(CLUSTER_TYPE_URL);
      const first = await Promise.all(streams.map((s) => s.nextOf(CLUSTER_TYPE_URL)));
      assert.deepEqual(new Set(first.map((r) => r.names.sort().join())), new Set(['a,b']));
      for (const [i, r] of first.entries()) streams[i].ack(r);
      let maxInFlight = 0;
      let largest = 0;
      const watch = (_conn: XdsConnection, info: { bytes: number }) => {
        maxInFlight = Math.max(maxInFlight, ads.server.inFlightBytes);
        largest = Math.max(largest, info.bytes);
      };
      ads.server.on('response', watch);
      ads.update(state({ clusters: { a: cluster('a', 4), b: cluster('b') } }), [KIND.cluster]);
      const pushed = await Promise.all(streams.map((s) => s.nextOf(CLUSTER_TYPE_URL)));
      for (const r of pushed) assert.deepEqual(r.names, ['a']);
      ads.server.off('response', watch);
      // Never more than one response on its way at once (without the budget: all eight).
      assert.ok(maxInFlight > 0 && maxInFlight <= largest, `in flight ${maxInFlight}, largest ${largest}`);
      await ads.server.pushQueueIdle();
      assert.equal(ads.server.inFlightBytes, 0);
    } finally {
      client.close();
      await ads.server.close();
    }
  },
);

test('equal subscriptions are one Set held by every stream; a change copies, others keep it', T, async () => {
  const eds = { a: endpoints('a', [1]), b: endpoints('b', [2]), c: endpoints('c', [3]) };
  const ads = await startAds(state({ endpoints: eds }));
  const client = new FakeAdsClient(ads.address);
  const namesOf = (ip: string) =>
    ads.server
      .connections()
      .find((c) => c.proxy?.nodeId.includes(ip))
      ?.watched.get(ENDPOINT_TYPE_URL)?.resourceNames;
  try {
    const d1 = client.deltaStream(sidecarNode('app-1', 'default', '10.0.0.1'));
    const d2 = client.deltaStream(sidecarNode('app-2', 'default', '10.0.0.2'));
    const s3 = client.stream(sidecarNode('app-3', 'default', '10.0.0.3'));
    d1.subscribe(ENDPOINT_TYPE_URL, ['a', 'b', 'c']);
    d2.subscribe(ENDPOINT_TYPE_URL, ['c', 'b', 'a']);
    s3.request(ENDPOINT_TYPE_URL, ['b', 'a', 'c']);
    const [r1, r2, r3] = await Promise.all([
      d1.nextOf(ENDPOINT_TYPE_URL),
      d2.nextOf(ENDPOINT_TYPE_URL),
      s3.nextOf(ENDPOINT_TYPE_URL),
    ]);
    d1.ack(r1);
    d2.ack(r2);
    // The SotW ACK repeats the names (in another order): the stream keeps the Set it holds.
    s3.ack(r3, ['c', 'a', 'b']);
    await Promise.all([probeDelta(d1), probeDelta(d2), probe(s3)]);
    const shared = namesOf('10.0.0.1');
    assert.deepEqual([...(shared ?? [])].sort(), ['a', 'b', 'c']);
    assert.equal(namesOf('10.0.0.2'), shared, 'delta streams with equal names hold one Set');
    assert.equal(namesOf('10.0.0.3'), shared, 'SotW too, also after its ACK');

    // Unsubscribing copies for that stream only; the Set the others hold is untouched.
    d1.unsubscribe(ENDPOINT_TYPE_URL, ['c']);
    await probeDelta(d1);
    assert.deepEqual([...(namesOf('10.0.0.1') ?? [])].sort(), ['a', 'b']);
    assert.deepEqual([...(shared ?? [])].sort(), ['a', 'b', 'c']);
    assert.equal(namesOf('10.0.0.2'), shared);
    // The change still reaches the generators: a push sends d1 only what it subscribes to.
    ads.update(state({ endpoints: { a: endpoints('a', [4]), b: eds.b, c: endpoints('c', [5]) } }), [
      KIND.endpoint,
    ]);
    const [p1, p2] = await Promise.all([d1.nextOf(ENDPOINT_TYPE_URL), d2.nextOf(ENDPOINT_TYPE_URL)]);
    assert.deepEqual(p1.names.sort(), ['a']);
    assert.deepEqual(p2.names.sort(), ['a', 'c']);
  } finally {
    client.close();
    await ads.server.close();
  }
});

testNoOpenHandles();
