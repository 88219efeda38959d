/**
 * ADS protocol, state of the world: each edge case a named test (CODE-STYLE §C.4), over real
 * gRPC on 127.0.0.1 port 0, with hand-built resources. "Nothing was sent" is proven by a probe:
 * responses on a stream are ordered, so a probe answered next means nothing came before it.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { type LogLevel, logger, setLogLevel, setLogSink } from '../../../src/lib/log.ts';
import type { Counter } from '../../../src/lib/metrics.ts';
import {
  CLUSTER_TYPE_URL,
  ENDPOINT_TYPE_URL,
  LISTENER_TYPE_URL,
  ROUTE_TYPE_URL,
} from '../../../src/lib/xds/type-urls.ts';
import { toProtoStruct } from '../../../src/lib/xds/well-known.ts';
import type { PushRequest } from '../../../src/pilot/model/push-request.ts';
import { AdsServer } from '../../../src/pilot/xds/ads-server.ts';
import {
  FakeAdsClient,
  type ReceivedResponse,
  StreamEndedError,
  sidecarNode,
} from '../../support/fake-ads-client.ts';
import {
  cluster,
  endpoints,
  KIND,
  probe,
  pushRequest,
  startAds,
  state,
  type TestState,
  testGenerators,
  testNoOpenHandles,
} from './harness.ts';

const T = { timeout: 30_000 };

/** Resolves after `n` ACK events. */
function acks(server: AdsServer<TestState>, n: number): Promise<void> {
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

/** The lowest log level currently enabled, to restore after a test lowers it. */
function currentLogLevel(): LogLevel {
  const probeLog = logger('test');
  return (['debug', 'info', 'warn', 'error'] as const).find((l) => probeLog.enabled(l)) ?? 'none';
}

function counter(ads: { metrics: { get(n: string): unknown } }, name: string): Counter {
  return ads.metrics.get(name) as Counter;
}

test('SotW ACK: the first request gets the full set; an ACK is recorded and never answered', T, async () => {
  const ads = await startAds(state({ clusters: { a: cluster('a'), b: cluster('b') } }));
  const client = new FakeAdsClient(ads.address);
  try {
    const s = client.stream();
    s.request(CLUSTER_TYPE_URL);
    const r1 = await s.nextOf(CLUSTER_TYPE_URL);
    assert.deepEqual(r1.names.sort(), ['a', 'b']);
    assert.equal(r1.version_info, ads.server.version);
    assert.notEqual(r1.nonce, '');
    assert.equal(r1.decoded[0]['@type'] ?? CLUSTER_TYPE_URL, CLUSTER_TYPE_URL);

    const acked = once(ads.server, 'ack');
    s.ack(r1);
    const [, typeUrl, nonce] = await acked;
    assert.equal(typeUrl, CLUSTER_TYPE_URL);
    assert.equal(nonce, r1.nonce);
    await probe(s); // the ACK got no response

    const [status] = ads.server.syncStatus();
    const cds = status.types.find((t) => t.typeUrl === CLUSTER_TYPE_URL)!;
    assert.equal(cds.state, 'SYNCED');
    assert.equal(cds.ackedVersion, r1.version_info);
    assert.equal(cds.ackedNonce, r1.nonce);
    assert.equal(counter(ads, 'pilot_xds_pushes').get('cds'), 1);
  } finally {
    client.close();
    await ads.server.close();
  }
});

test(
  'SotW NACK: keeps the last good config, nothing is resent until the next push; logged, counted, in status',
  T,
  async () => {
    const ads = await startAds(state({ clusters: { a: cluster('a') } }));
    const client = new FakeAdsClient(ads.address);
    const lines: string[] = [];
    const previousSink = setLogSink((line) => lines.push(line));
    const previousLevel = currentLogLevel();
    setLogLevel('warn');
    try {
      const s = client.stream();
      s.request(CLUSTER_TYPE_URL);
      const r1 = await s.nextOf(CLUSTER_TYPE_URL);
      const acked = once(ads.server, 'ack');
      s.ack(r1);
      await acked;

      ads.update(state({ clusters: { a: cluster('a', 99) } }), [KIND.cluster]);
      const r2 = await s.nextOf(CLUSTER_TYPE_URL);
      assert.notEqual(r2.version_info, r1.version_info);

      const nacked = once(ads.server, 'nack');
      s.nack(r2, 'cluster a: connect_timeout too large', r1.version_info);
      await nacked;
      await probe(s); // no resend after the NACK

      assert.equal(counter(ads, 'pilot_total_xds_rejects').get('cds'), 1);
      const cds = ads.server.syncStatus()[0].types.find((t) => t.typeUrl === CLUSTER_TYPE_URL)!;
      assert.equal(cds.state, 'ERROR');
      assert.equal(cds.ackedVersion, r1.version_info, 'the proxy still runs the last good version');
      assert.equal(cds.sentVersion, r2.version_info);
      assert.equal(cds.nackCount, 1);
      assert.equal(cds.lastNack?.message, 'cluster a: connect_timeout too large');
      assert.equal(cds.lastNack?.rejectedVersion, r2.version_info);
      assert.equal(cds.lastNack?.versionInfo, r1.version_info);
      assert.equal(cds.lastNack?.code, grpc.status.INVALID_ARGUMENT);
      const logged = lines.find((l) => l.includes('NACK'));
      assert.ok(
        logged?.includes('connect_timeout too large'),
        `the NACK log line carries the error detail: ${logged}`,
      );

      // A new push is sent again, and its ACK clears the error state.
      ads.update(state({ clusters: { a: cluster('a', 2) } }), [KIND.cluster]);
      const r3 = await s.nextOf(CLUSTER_TYPE_URL);
      const acked3 = once(ads.server, 'ack');
      s.ack(r3);
      await acked3;
      assert.equal(
        ads.server.syncStatus()[0].types.find((t) => t.typeUrl === CLUSTER_TYPE_URL)!.state,
        'SYNCED',
      );
    } finally {
      setLogSink(previousSink);
      setLogLevel(previousLevel);
      client.close();
      await ads.server.close();
    }
  },
);

test('SotW stale nonce: a request answering a superseded response is ignored', T, async () => {
  const ads = await startAds(state({ endpoints: { a: endpoints('a', [1]), b: endpoints('b', [2]) } }));
  const client = new FakeAdsClient(ads.address);
  try {
    const s = client.stream();
    s.request(ENDPOINT_TYPE_URL, ['a']);
    const r1 = await s.nextOf(ENDPOINT_TYPE_URL);
    ads.update(state({ endpoints: { a: endpoints('a', [3]), b: endpoints('b', [2]) } }), [KIND.endpoint]);
    const r2 = await s.nextOf(ENDPOINT_TYPE_URL);

    // An ACK of r1 — even one that also changes the subscription — arrives after r2 was sent.
    const stale = once(ads.server, 'stale');
    s.ack(r1, ['a', 'b']);
    const [, , nonce] = await stale;
    assert.equal(nonce, r1.nonce);
    await probe(s); // ignored: no response for the subscription change either

    assert.equal(counter(ads, 'pilot_xds_expired_nonce').get('eds'), 1);
    const eds = ads.server.syncStatus()[0].types.find((t) => t.typeUrl === ENDPOINT_TYPE_URL)!;
    assert.equal(eds.state, 'STALE');
    assert.equal(eds.ackedNonce, undefined);
    assert.deepEqual(eds.resourceNames, ['a']);

    // The current nonce is honoured.
    s.ack(r2, ['a', 'b']);
    const r3 = await s.nextOf(ENDPOINT_TYPE_URL);
    assert.deepEqual(r3.names.sort(), ['a', 'b']);
  } finally {
    client.close();
    await ads.server.close();
  }
});

test('SotW wildcard vs named: empty or "*" means all for wildcard types; names filter', T, async () => {
  const ads = await startAds(
    state({
      clusters: { a: cluster('a'), b: cluster('b'), c: cluster('c') },
      endpoints: { a: endpoints('a', [1]), b: endpoints('b', [2]) },
    }),
  );
  const client = new FakeAdsClient(ads.address);
  try {
    const legacy = client.stream(sidecarNode('legacy'));
    legacy.request(CLUSTER_TYPE_URL);
    assert.deepEqual((await legacy.nextOf(CLUSTER_TYPE_URL)).names.sort(), ['a', 'b', 'c']);

    const star = client.stream(sidecarNode('star'));
    star.request(CLUSTER_TYPE_URL, ['*', 'a']);
    assert.deepEqual((await star.nextOf(CLUSTER_TYPE_URL)).names.sort(), ['a', 'b', 'c']);

    const named = client.stream(sidecarNode('named'));
    named.request(CLUSTER_TYPE_URL, ['b', 'missing']);
    assert.deepEqual((await named.nextOf(CLUSTER_TYPE_URL)).names, ['b']);

    // Endpoints are not a wildcard type: an empty list asks for nothing.
    const eds = client.stream(sidecarNode('eds'));
    eds.request(ENDPOINT_TYPE_URL, []);
    assert.deepEqual((await eds.nextOf(ENDPOINT_TYPE_URL)).names, []);
    eds.request(ENDPOINT_TYPE_URL, ['b']);
    assert.deepEqual((await eds.nextOf(ENDPOINT_TYPE_URL)).names, ['b']);

    const byProxy = new Map(ads.server.syncStatus().map((p) => [p.nodeId?.split('~')[2], p.types[0]]));
    assert.equal(byProxy.get('legacy.default')?.wildcard, true);
    assert.equal(byProxy.get('star.default')?.wildcard, true);
    assert.equal(byProxy.get('named.default')?.wildcard, false);

    // A legacy wildcard ends when explicit names are sent.
    const r = legacy.received[0] as ReceivedResponse;
    legacy.ack(r, ['c']);
    assert.deepEqual((await legacy.nextOf(CLUSTER_TYPE_URL)).names, ['c']);
  } finally {
    client.close();
    await ads.server.close();
  }
});

test('SotW unsubscribe: dropped names are no longer sent, now or on later pushes', T, async () => {
  const ads = await startAds(state({ endpoints: { a: endpoints('a', [1]), b: endpoints('b', [2]) } }));
  const client = new FakeAdsClient(ads.address);
  try {
    const s = client.stream();
    s.request(ENDPOINT_TYPE_URL, ['a', 'b']);
    const r1 = await s.nextOf(ENDPOINT_TYPE_URL);
    assert.deepEqual(r1.names.sort(), ['a', 'b']);
    s.ack(r1, ['a']);
    const r2 = await s.nextOf(ENDPOINT_TYPE_URL);
    assert.deepEqual(r2.names, ['a']);
    const acked = once(ads.server, 'ack');
    s.ack(r2, ['a']);
    await acked;

    ads.update(state({ endpoints: { a: endpoints('a', [5]), b: endpoints('b', [6]) } }), [KIND.endpoint]);
    const r3 = await s.nextOf(ENDPOINT_TYPE_URL);
    assert.deepEqual(r3.names, ['a']);

    // Unsubscribing from everything.
    s.ack(r3, []);
    assert.deepEqual((await s.nextOf(ENDPOINT_TYPE_URL)).names, []);
  } finally {
    client.close();
    await ads.server.close();
  }
});

test(
  'SotW resource removal: a deleted resource is omitted from the next full set of a wildcard type',
  T,
  async () => {
    const ads = await startAds(state({ clusters: { a: cluster('a'), b: cluster('b') } }));
    const client = new FakeAdsClient(ads.address);
    try {
      const s = client.stream();
      s.request(CLUSTER_TYPE_URL);
      const r1 = await s.nextOf(CLUSTER_TYPE_URL);
      const acked = once(ads.server, 'ack');
      s.ack(r1);
      await acked;
      ads.update(state({ clusters: { a: cluster('a') } }), [KIND.cluster]);
      const r2 = await s.nextOf(CLUSTER_TYPE_URL);
      assert.deepEqual(r2.names, ['a']);
    } finally {
      client.close();
      await ads.server.close();
    }
  },
);

test('SotW reconnect to a fresh server instance re-sends everything (AlwaysRespond)', T, async () => {
  const initial = state({
    clusters: { a: cluster('a'), b: cluster('b') },
    endpoints: { a: endpoints('a', [1]) },
  });
  const first = await startAds(initial);
  const client1 = new FakeAdsClient(first.address);
  let cds: ReceivedResponse;
  let eds: ReceivedResponse;
  try {
    const s = client1.stream();
    s.request(CLUSTER_TYPE_URL);
    cds = await s.nextOf(CLUSTER_TYPE_URL);
    s.ack(cds);
    s.request(ENDPOINT_TYPE_URL, ['a']);
    eds = await s.nextOf(ENDPOINT_TYPE_URL);
    const acked = once(first.server, 'ack');
    s.ack(eds, ['a']);
    await acked;
    const closed = s.status;
    await first.server.close();
    assert.equal((await closed).code, grpc.status.UNAVAILABLE);
  } finally {
    client1.close();
  }

  // Same content, new instance: the proxy re-requests with the version and nonce it holds.
  const second = await startAds(initial);
  const client2 = new FakeAdsClient(second.address);
  try {
    const s = client2.stream();
    s.request(CLUSTER_TYPE_URL, [], cds.version_info, cds.nonce);
    const again = await s.nextOf(CLUSTER_TYPE_URL);
    assert.deepEqual(again.names.sort(), ['a', 'b']);
    s.request(ENDPOINT_TYPE_URL, ['a'], eds.version_info, eds.nonce);
    assert.deepEqual((await s.nextOf(ENDPOINT_TYPE_URL)).names, ['a']);
    assert.notEqual(again.nonce, cds.nonce);
  } finally {
    client2.close();
    await second.server.close();
  }
});

test(
  'missing type URL on ADS -> INVALID_ARGUMENT; so is a first request without a valid node',
  T,
  async () => {
    const ads = await startAds(state());
    const client = new FakeAdsClient(ads.address);
    try {
      const noType = client.stream();
      noType.send({ resource_names: [] });
      const st = await noType.status;
      assert.equal(st.code, grpc.status.INVALID_ARGUMENT);
      assert.match(st.details, /type_url/);
      await assert.rejects(noType.next(), StreamEndedError);

      const noNode = client.stream(null);
      noNode.request(CLUSTER_TYPE_URL);
      const st2 = await noNode.status;
      assert.equal(st2.code, grpc.status.INVALID_ARGUMENT);
      assert.match(st2.details, /node\.id/);

      const badNode = client.stream({ id: 'sidecar~not-an-ip~pod.ns~ns.svc.cluster.local', locality: {} });
      badNode.request(CLUSTER_TYPE_URL);
      const st3 = await badNode.status;
      assert.equal(st3.code, grpc.status.INVALID_ARGUMENT);
      assert.match(st3.details, /not-an-ip/);

      const badMeta = client.stream({
        id: 'sidecar~10.0.0.9~pod.ns~ns.svc.cluster.local',
        metadata: toProtoStruct({ LABELS: { app: 5 }, INTERCEPTION_MODE: 'MAGIC' }),
      });
      badMeta.request(CLUSTER_TYPE_URL);
      const st4 = await badMeta.status;
      assert.equal(st4.code, grpc.status.INVALID_ARGUMENT);
      assert.match(st4.details, /LABELS\.app/);
      assert.match(st4.details, /INTERCEPTION_MODE/);
      assert.equal(ads.server.connections().length, 0);
    } finally {
      client.close();
      await ads.server.close();
    }
  },
);

test('the node is read from the first request only; later requests may omit it', T, async () => {
  const ads = await startAds(state({ clusters: { a: cluster('a') } }));
  const client = new FakeAdsClient(ads.address);
  try {
    const s = client.stream(sidecarNode('first', 'shop', '10.1.2.3', { LABELS: { app: 'cart' } }));
    s.request(CLUSTER_TYPE_URL);
    await s.nextOf(CLUSTER_TYPE_URL);
    s.send({
      type_url: ENDPOINT_TYPE_URL,
      resource_names: ['x'],
      node: { id: 'router~10.9.9.9~other.ns~ns.svc.cluster.local' },
    });
    await s.nextOf(ENDPOINT_TYPE_URL);
    const [conn] = ads.server.connections();
    assert.equal(conn.proxy?.id, 'first.shop');
    assert.equal(conn.proxy?.type, 'sidecar');
    assert.equal(conn.proxy?.namespace, 'shop');
    assert.deepEqual(conn.proxy?.labels, { app: 'cart' });
    assert.deepEqual(conn.proxy?.ipAddresses, ['10.1.2.3']);
    assert.equal(conn.id, 'first.shop-1');
  } finally {
    client.close();
    await ads.server.close();
  }
});

test('a request for a type without a generator is ignored, the stream stays up', T, async () => {
  const ads = await startAds(state());
  const client = new FakeAdsClient(ads.address);
  try {
    const s = client.stream();
    s.request('type.googleapis.com/envoy.service.runtime.v3.Runtime', ['rt']);
    await probe(s);
  } finally {
    client.close();
    await ads.server.close();
  }
});

test(
  'version and nonce rules: the version bumps on every push, every response has a new nonce',
  T,
  async () => {
    const ads = await startAds(
      state({ clusters: { a: cluster('a') }, endpoints: { a: endpoints('a', [1]) } }),
    );
    const client = new FakeAdsClient(ads.address);
    try {
      const s = client.stream();
      s.request(CLUSTER_TYPE_URL);
      const responses: ReceivedResponse[] = [await s.nextOf(CLUSTER_TYPE_URL)];
      s.ack(responses[0]);
      s.request(ENDPOINT_TYPE_URL, ['a']);
      const eds = await s.nextOf(ENDPOINT_TYPE_URL);
      // Between pushes, a request is answered at the current version.
      assert.equal(eds.version_info, responses[0].version_info);
      s.ack(eds, ['a']);
      responses.push(eds);

      for (let i = 0; i < 3; i++) {
        const before = ads.server.version;
        // Same content every time: the version still moves.
        const pushed = once(ads.server, 'push');
        ads.server.push(pushRequest(ads.current(), [KIND.cluster, KIND.endpoint]));
        const [, version] = await pushed;
        assert.notEqual(version, before);
        const c = await s.nextOf(CLUSTER_TYPE_URL);
        const e = await s.nextOf(ENDPOINT_TYPE_URL);
        assert.equal(c.version_info, version);
        assert.equal(e.version_info, version);
        s.ack(c);
        s.ack(e, ['a']);
        responses.push(c, e);
      }
      const versions = new Set(
        responses.filter((r) => r.type_url === CLUSTER_TYPE_URL).map((r) => r.version_info),
      );
      assert.equal(versions.size, 4);
      const nonces = new Set(responses.map((r) => r.nonce));
      assert.equal(nonces.size, responses.length, 'nonces are unique per response');
    } finally {
      client.close();
      await ads.server.close();
    }
  },
);

test('push order: clusters and endpoints before listeners and routes', T, async () => {
  const ads = await startAds(
    state({
      clusters: { a: cluster('a') },
      endpoints: { a: endpoints('a', [1]) },
      listeners: { l: { name: 'l' } },
      routes: { r: { name: 'r' } },
    }),
  );
  const client = new FakeAdsClient(ads.address);
  try {
    const s = client.stream();
    // Subscribe in the "wrong" order.
    for (const [type, names] of [
      [ROUTE_TYPE_URL, ['r']],
      [LISTENER_TYPE_URL, []],
      [ENDPOINT_TYPE_URL, ['a']],
      [CLUSTER_TYPE_URL, []],
    ] as const) {
      s.request(type, [...names]);
      const res = await s.nextOf(type);
      s.ack(res, [...names]);
    }
    const all = [KIND.route, KIND.listener, KIND.endpoint, KIND.cluster];
    ads.update(ads.current(), all);
    const order = [];
    for (let i = 0; i < 4; i++) order.push((await s.next()).type_url);
    assert.deepEqual(order, [CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL, LISTENER_TYPE_URL, ROUTE_TYPE_URL]);
  } finally {
    client.close();
    await ads.server.close();
  }
});

test('needsPush: a push reaches only the types whose generator asks for it', T, async () => {
  const ads = await startAds(state({ clusters: { a: cluster('a') }, endpoints: { a: endpoints('a', [1]) } }));
  const client = new FakeAdsClient(ads.address);
  try {
    const s = client.stream();
    s.request(CLUSTER_TYPE_URL);
    s.ack(await s.nextOf(CLUSTER_TYPE_URL));
    s.request(ENDPOINT_TYPE_URL, ['a']);
    const eds = await s.nextOf(ENDPOINT_TYPE_URL);
    const acked = once(ads.server, 'ack');
    s.ack(eds, ['a']);
    await acked;
    ads.update(state({ clusters: { a: cluster('a') }, endpoints: { a: endpoints('a', [2]) } }), [
      KIND.endpoint,
    ]);
    const next = await s.next();
    assert.equal(next.type_url, ENDPOINT_TYPE_URL);
    await ads.server.pushQueueIdle();
    await probe(s); // no CDS response came
  } finally {
    client.close();
    await ads.server.close();
  }
});

test('a push storm does not starve ACKs: ACKs are read while pushes keep coming', T, async () => {
  const STORM = 100_000;
  let stormPushes = 0;
  let stopAt = STORM;
  const stormKind = 'Storm';
  let ads: Awaited<ReturnType<typeof startAds>>;
  // Every storm push, when processed, triggers the next one: the push queue never runs dry
  // until the storm ends. A server that drained its queue without yielding to I/O would end
  // the whole storm before reading the ACK.
  const proxyNeedsPush = (_proxy: unknown, req: PushRequest<TestState>) => {
    if (!req.configsUpdated.has(`${stormKind}/test/changed`)) return true;
    if (++stormPushes < stopAt) ads.server.push(pushRequest(ads.current(), [stormKind]));
    return false;
  };
  ads = await startAds(state({ clusters: { a: cluster('a') } }), { pushConcurrency: 1, proxyNeedsPush });
  const client = new FakeAdsClient(ads.address);
  try {
    const s = client.stream();
    s.request(CLUSTER_TYPE_URL);
    const r1 = await s.nextOf(CLUSTER_TYPE_URL);

    ads.server.push(pushRequest(ads.current(), [stormKind]));
    const acked = once(ads.server, 'ack');
    s.ack(r1);
    await acked;
    const atAck = stormPushes;
    stopAt = 0; // end the storm
    await ads.server.pushQueueIdle();
    assert.ok(atAck < STORM, `the ACK was read after ${atAck} storm pushes, before the storm ended`);
    assert.equal(ads.server.syncStatus()[0].types[0].state, 'SYNCED');
  } finally {
    client.close();
    await ads.server.close();
  }
});

test('many pushes to one connection merge; the proxy converges on the latest state', T, async () => {
  const ads = await startAds(state({ clusters: { a: cluster('a', 0) } }));
  const client = new FakeAdsClient(ads.address);
  try {
    const s = client.stream();
    s.request(CLUSTER_TYPE_URL);
    const r1 = await s.nextOf(CLUSTER_TYPE_URL);
    const acked = once(ads.server, 'ack');
    s.ack(r1);
    await acked;
    for (let i = 1; i <= 50; i++) ads.update(state({ clusters: { a: cluster('a', i) } }), [KIND.cluster]);
    const r2 = await s.nextOf(CLUSTER_TYPE_URL);
    assert.deepEqual(r2.decoded[0].connect_timeout, { seconds: '50', nanos: 0 });
    await ads.server.pushQueueIdle();
    await probe(s); // fifty pushes queued at once merged into that one response
    assert.equal(counter(ads, 'pilot_push_triggers').get('config'), 50);
  } finally {
    client.close();
    await ads.server.close();
  }
});

test(
  'a stream that stops reading is not written to until it drains; it then gets the latest state',
  T,
  async () => {
    // ~200 KB per response: HTTP/2 flow control stops the stream after a few.
    const big = (n: number) => {
      const clusters: Record<string, object> = {};
      for (let i = 0; i < 1000; i++)
        clusters[`c${i}`] = { ...cluster(`c${i}`, n), alt_stat_name: 'x'.repeat(150) };
      return state({ clusters });
    };
    const ads = await startAds(big(0));
    const client = new FakeAdsClient(ads.address);
    try {
      const s = client.stream();
      s.request(CLUSTER_TYPE_URL);
      const r1 = await s.nextOf(CLUSTER_TYPE_URL);
      const acked = once(ads.server, 'ack');
      s.ack(r1);
      await acked;
      const call = (s as unknown as { call: grpc.ClientDuplexStream<unknown, unknown> }).call;
      call.pause();
      const PUSHES = 60;
      let sent = 0;
      ads.server.on('response', () => sent++);
      for (let i = 1; i <= PUSHES; i++) {
        ads.update(big(i), [KIND.cluster]);
        await ads.server.pushQueueIdle();
      }
      assert.ok(sent < PUSHES, `only ${sent} of ${PUSHES} pushes were written while the proxy did not read`);
      call.resume();
      // Read until the latest state arrives.
      for (;;) {
        const r = await s.nextOf(CLUSTER_TYPE_URL);
        if ((r.decoded[0].connect_timeout as { seconds: string }).seconds === String(PUSHES)) break;
      }
      await ads.server.pushQueueIdle();
      await probe(s);
      assert.ok(s.received.length - 2 <= sent + 1);
    } finally {
      client.close();
      await ads.server.close();
    }
  },
);

test('thousands of concurrent streams: every proxy gets the push and ACKs it', T, async () => {
  const STREAMS = 1000;
  const ads = await startAds(state({ clusters: { a: cluster('a') } }));
  const clients = Array.from({ length: 4 }, () => new FakeAdsClient(ads.address));
  try {
    const streams = Array.from({ length: STREAMS }, (_, i) =>
      clients[i % clients.length].stream(sidecarNode(`pod-${i}`, 'load', `10.2.${i >> 8}.${i & 255}`)),
    );
    const first = await Promise.all(
      streams.map(async (s) => {
        s.request(CLUSTER_TYPE_URL);
        return s.nextOf(CLUSTER_TYPE_URL);
      }),
    );
    const allAcked = acks(ads.server, STREAMS);
    streams.forEach((s, i) => {
      s.ack(first[i]);
    });
    await allAcked;
    assert.equal(ads.server.connections().length, STREAMS);

    ads.update(state({ clusters: { a: cluster('a'), b: cluster('b') } }), [KIND.cluster]);
    const second = await Promise.all(streams.map((s) => s.nextOf(CLUSTER_TYPE_URL)));
    for (const r of second) assert.deepEqual(r.names.sort(), ['a', 'b']);
    const allAcked2 = acks(ads.server, STREAMS);
    streams.forEach((s, i) => {
      s.ack(second[i]);
    });
    await allAcked2;
    assert.ok(ads.server.syncStatus().every((p) => p.types[0].state === 'SYNCED'));
    assert.equal((ads.metrics.get('pilot_xds') as { get(v: string): number }).get('1.24.0'), STREAMS);
  } finally {
    for (const c of clients) c.close();
    await ads.server.close();
  }
});

test('close(): open streams end with UNAVAILABLE and the connection gauge returns to zero', T, async () => {
  const ads = await startAds(state({ clusters: { a: cluster('a') } }));
  const client = new FakeAdsClient(ads.address);
  try {
    const s = client.stream();
    s.request(CLUSTER_TYPE_URL);
    await s.nextOf(CLUSTER_TYPE_URL);
    const gauge = ads.metrics.get('pilot_xds') as { get(v: string): number };
    assert.equal(gauge.get('1.24.0'), 1);
    const disconnected = once(ads.server, 'disconnect');
    await ads.server.close();
    await disconnected;
    const st = await s.status;
    assert.equal(st.code, grpc.status.UNAVAILABLE);
    assert.equal(gauge.get('1.24.0'), 0);
    assert.equal(ads.server.connections().length, 0);
  } finally {
    client.close();
    await ads.server.close();
  }
});

test('options are validated in the constructor, naming the field', () => {
  const base = { generators: testGenerators(), pushContext: () => state() };
  assert.throws(
    () => new AdsServer({ ...base, pushConcurrency: 0 }),
    /pushConcurrency must be a positive integer/,
  );
  assert.throws(
    () => new AdsServer({ ...base, keepalive: { timeMs: -5 } }),
    /keepalive\.timeMs must be a positive/,
  );
  assert.throws(() => new AdsServer({ ...base, maxReceiveMessageBytes: 1.5 }), /maxReceiveMessageBytes/);
  assert.throws(
    () => new AdsServer({ ...base, pushContext: undefined as never }),
    /pushContext must be a function/,
  );
});

testNoOpenHandles();
