/**
 * What a push costs on the wire, over real gRPC on 127.0.0.1 port 0: an incremental
 * (endpoint-only) push sends a SotW proxy only the changed assignments — EDS responses need not
 * hold every resource (xDS spec) — while a full push sends the whole set; a delta proxy whose
 * resources did not change gets nothing; equal subscriptions reach generators as one shared Set.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import type * as grpc from '@grpc/grpc-js';
import { CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL } from '../../../src/lib/xds/type-urls.ts';
import { newPushRequest, type PushRequest } from '../../../src/pilot/model/push-request.ts';
import {
  type Generator,
  GeneratorRegistry,
  type WatchedResourceView,
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
  testGenerators,
  testNoOpenHandles,
} from './harness.ts';

const T = { timeout: 30_000 };

/** Resolves after `n` ACK events. */
function acks(
  server: { on(e: 'ack', f: () => void): unknown; off(e: 'ack', f: () => void): unknown },
  n: number,
): Promise<void> {
  let seen = 0;
  return new Promise((resolve) => {
    const onAck = () => {
      if (++seen < n) return;
      server.off('ack', onAck);
      resolve();
    };
    server.on('ack', onAck);
  });
}

/** The names an incremental test push says changed (`TestEndpoint/test/<cluster>`). */
function changedNames(req: PushRequest<TestState>): Set<string> {
  return new Set([...req.configsUpdated.values()].filter((k) => k.kind === KIND.endpoint).map((k) => k.name));
}

/** EDS from the test state, with an incremental form, recording the name Sets it is handed. */
function incrementalEds(seen: ReadonlySet<string>[]): Generator<TestState> {
  const all = (req: PushRequest<TestState>) =>
    [...req.push.endpoints].map(([name, msg]) => xdsResource(ENDPOINT_TYPE_URL, name, msg));
  return {
    typeUrl: ENDPOINT_TYPE_URL,
    needsPush: (_proxy, req) => !req.full || changedNames(req).size > 0,
    generate(_proxy, watched: WatchedResourceView, req) {
      seen.push(watched.resourceNames);
      return all(req);
    },
    generateDelta(_proxy, _watched, req) {
      if (req.full) return { resources: all(req), removed: [] };
      const changed = changedNames(req);
      return { resources: all(req).filter((r) => changed.has(r.name)), removed: [] };
    },
  };
}

function generators(seen: ReadonlySet<string>[]): GeneratorRegistry<TestState> {
  const base = testGenerators();
  const registry = new GeneratorRegistry<TestState>().register(incrementalEds(seen));
  for (const t of base.typeUrls())
    if (t !== ENDPOINT_TYPE_URL) registry.register(base.get(t) as Generator<TestState>);
  return registry;
}

function push(next: TestState, full: boolean, clusters: string[]): PushRequest<TestState> {
  return newPushRequest({
    full,
    configsUpdated: clusters.map((name) => ({ kind: KIND.endpoint, namespace: 'test', name })),
    reason: full ? 'config' : 'endpoint',
    push: next,
  });
}

const two = (pa: number, pb: number) =>
  state({
    clusters: { a: cluster('a'), b: cluster('b') },
    endpoints: { a: endpoints('a', [pa]), b: endpoints('b', [pb]) },
  });

test('SotW: an incremental push sends only the changed assignments; a full push all of them', T, async () => {
  const ads = await startAds(two(1, 1), { generators: generators([]) });
  const client = new FakeAdsClient(ads.address);
  try {
    const s = client.stream();
    s.request(ENDPOINT_TYPE_URL, ['a', 'b']);
    const first = await s.nextOf(ENDPOINT_TYPE_URL);
    assert.deepEqual(first.names.sort(), ['a', 'b']);
    const acked = once(ads.server, 'ack');
    s.ack(first, ['a', 'b']);
    await acked;

    ads.server.push(push(two(2, 1), false, ['a']));
    const inc = await s.nextOf(ENDPOINT_TYPE_URL);
    assert.deepEqual(inc.names, ['a'], 'only the changed assignment');
    s.ack(inc, ['a', 'b']);

    ads.server.push(push(two(2, 1), false, ['c']));
    await ads.server.pushQueueIdle();
    await probe(s); // a change to nothing the proxy holds sends nothing

    ads.server.push(push(two(3, 3), true, ['a']));
    const full = await s.nextOf(ENDPOINT_TYPE_URL);
    assert.deepEqual(full.names.sort(), ['a', 'b'], 'a full push sends the whole set');
  } finally {
    client.close();
    await ads.server.close();
  }
});

test(
  'delta: a full push that changes nothing a proxy holds sends it nothing; a change only the change',
  T,
  async () => {
    const ads = await startAds(two(1, 1), { generators: generators([]) });
    const client = new FakeAdsClient(ads.address);
    try {
      const s = client.deltaStream();
      s.subscribe(CLUSTER_TYPE_URL);
      const cds = await s.nextOf(CLUSTER_TYPE_URL);
      assert.deepEqual(cds.names.sort(), ['a', 'b']);
      s.ack(cds);
      s.subscribe(ENDPOINT_TYPE_URL, ['a', 'b']);
      const eds = await s.nextOf(ENDPOINT_TYPE_URL);
      s.ack(eds);

      // Same content, new objects: nothing to send, for CDS (full diff) and EDS (generateDelta).
      ads.update(two(1, 1), [KIND.cluster]);
      ads.server.push(push(two(1, 1), true, ['a']));
      await ads.server.pushQueueIdle();
      await probeDelta(s);

      ads.update(
        state({
          clusters: { a: cluster('a', 5), b: cluster('b') },
          endpoints: Object.fromEntries(ads.current().endpoints),
        }),
        [KIND.cluster],
      );
      const changed = await s.nextOf(CLUSTER_TYPE_URL);
      assert.deepEqual(changed.names, ['a']);
      assert.deepEqual(changed.removed_resources, []);
      s.ack(changed);
      ads.update(
        state({ clusters: { a: cluster('a', 5) }, endpoints: Object.fromEntries(ads.current().endpoints) }),
        [KIND.cluster],
      );
      const removed = await s.nextOf(CLUSTER_TYPE_URL);
      assert.deepEqual([removed.names, removed.removed_resources], [[], ['b']]);
    } finally {
      client.close();
      await ads.server.close();
    }
  },
);

test('equal subscriptions reach the generator as one shared Set; a different one as another', T, async () => {
  const seen: ReadonlySet<string>[] = [];
  const ads = await startAds(two(1, 1), { generators: generators(seen) });
  const client = new FakeAdsClient(ads.address);
  try {
    const [s1, s2, s3] = [client.stream(), client.stream(), client.stream()];
    s1.request(ENDPOINT_TYPE_URL, ['a', 'b']);
    await s1.nextOf(ENDPOINT_TYPE_URL);
    s2.request(ENDPOINT_TYPE_URL, ['b', 'a']);
    await s2.nextOf(ENDPOINT_TYPE_URL);
    s3.request(ENDPOINT_TYPE_URL, ['a']);
    await s3.nextOf(ENDPOINT_TYPE_URL);
    assert.equal(seen.length, 3);
    assert.equal(seen[0], seen[1], 'the same names in another order are the same subscription');
    assert.notEqual(seen[2], seen[0]);
    assert.deepEqual([...seen[2]], ['a']);
  } finally {
    client.close();
    await ads.server.close();
  }
});

test('a push encodes for the next proxy only when gRPC has written the previous ones', T, async () => {
  // ~350 KB per response; pushConcurrency 1: one proxy's response in flight at a time.
  const big = (n: number) => {
    const clusters: Record<string, object> = {};
    for (let i = 0; i < 1500; i++)
      clusters[`c${i}`] = { ...cluster(`c${i}`, n), alt_stat_name: 'x'.repeat(150) };
    return state({ clusters });
  };
  const ads = await startAds(big(0), { pushConcurrency: 1 });
  const client = new FakeAdsClient(ads.address);
  try {
    const STREAMS = 12;
    const streams = Array.from({ length: STREAMS }, () => client.stream());
    let maxInFlight = 0;
    let size = 0;
    ads.server.on('response', (_conn, info) => {
      size = Math.max(size, info.bytes);
      maxInFlight = Math.max(maxInFlight, ads.server.inFlightBytes);
    });
    for (const s of streams) s.request(CLUSTER_TYPE_URL);
    const first = await Promise.all(streams.map((s) => s.nextOf(CLUSTER_TYPE_URL)));
    const acked = acks(ads.server, STREAMS);
    for (const [i, s] of streams.entries()) s.ack(first[i]);
    await acked;
    ads.update(big(1), [KIND.cluster]);
    const pushed = await Promise.all(streams.map((s) => s.nextOf(CLUSTER_TYPE_URL)));
    assert.ok(pushed.every((r) => (r.decoded[0].connect_timeout as { seconds: string }).seconds === '1'));
    assert.ok(size > 300_000);
    // Without the slot held until written, all twelve would be encoded and queued in one go.
    assert.ok(
      maxInFlight <= size,
      `one response in flight at a time, saw ${maxInFlight} bytes (${size} each)`,
    );
    await ads.server.pushQueueIdle();
    assert.equal(ads.server.inFlightBytes, 0);
  } finally {
    client.close();
    await ads.server.close();
  }
});

test('an endpoint push goes first: not queued behind a full push still under way', T, async () => {
  // ~200 KB of CDS: more than a paused stream's flow-control window takes.
  const withClusters = (n: number, pa: number) => {
    const clusters: Record<string, object> = {};
    for (let i = 0; i < 1000; i++)
      clusters[`c${i}`] = { ...cluster(`c${i}`, n), alt_stat_name: 'x'.repeat(150) };
    return state({ clusters, endpoints: { a: endpoints('a', [pa]), b: endpoints('b', [1]) } });
  };
  // One push slot, and the first stream in line stops reading: the full push is slow to reach the rest.
  const ads = await startAds(withClusters(0, 1), {
    generators: generators([]),
    pushConcurrency: 1,
    sendTimeoutMs: 60_000,
  });
  const stuckClient = new FakeAdsClient(ads.address);
  const client = new FakeAdsClient(ads.address);
  try {
    const stuck = stuckClient.stream(sidecarNode('stuck', 'default', '10.0.0.9'));
    stuck.request(CLUSTER_TYPE_URL);
    const r0 = await stuck.nextOf(CLUSTER_TYPE_URL);
    const stuckAcked = once(ads.server, 'ack');
    stuck.ack(r0);
    await stuckAcked;
    const call = (stuck as unknown as { call: grpc.ClientDuplexStream<unknown, unknown> }).call;
    call.pause();

    const streams = [1, 2].map((i) => client.deltaStream(sidecarNode(`app-${i}`, 'default', `10.0.0.${i}`)));
    for (const d of streams) {
      d.subscribe(CLUSTER_TYPE_URL);
      d.ack(await d.nextOf(CLUSTER_TYPE_URL));
      d.subscribe(ENDPOINT_TYPE_URL, ['a', 'b']);
      const eds = await d.nextOf(ENDPOINT_TYPE_URL);
      const acked = once(ads.server, 'ack');
      d.ack(eds);
      await acked;
    }

    // A full push (every cluster changes): the stuck stream, first in line, takes the slot.
    const first = once(ads.server, 'response');
    ads.update(withClusters(1, 1), [KIND.cluster]);
    const [conn] = (await first) as [{ proxy?: { nodeId: string } }];
    assert.match(conn.proxy?.nodeId ?? '', /stuck/);

    // An endpoint change now reaches the others at once, before the full push does.
    const next = withClusters(1, 2);
    ads.server.push(push(next, false, ['a']));
    for (const d of streams) {
      const r = await d.next();
      assert.equal(r.type_url, ENDPOINT_TYPE_URL, 'the endpoint change comes first');
      assert.deepEqual(r.names, ['a']);
      d.ack(r);
    }
    call.resume();
    // The full push still reaches them, with the newer push context merged into it.
    for (const d of streams) {
      const r = await d.nextOf(CLUSTER_TYPE_URL);
      assert.equal(r.names.length, 1000);
    }
  } finally {
    stuckClient.close();
    client.close();
    await ads.server.close();
  }
});

testNoOpenHandles();
