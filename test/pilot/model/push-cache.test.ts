import assert from 'node:assert/strict';
import { test } from 'node:test';
import { labelsKey, memo, PushCacheSlot, PushCaches } from '../../../src/pilot/model/push-cache.ts';
import { assertNoOpenHandles, FakeMizzend } from '../../support/fake-mizzend.ts';

test('a slot gives one table per PushCaches, created on first use', () => {
  let created = 0;
  const slot = new PushCacheSlot('test', () => {
    created++;
    return new Map<string, number>();
  });
  const a = new PushCaches();
  const b = new PushCaches();
  assert.equal(created, 0);
  a.get(slot).set('x', 1);
  assert.equal(a.get(slot).get('x'), 1);
  assert.equal(created, 1, 'the table is created once per PushCaches');
  assert.equal(b.get(slot).get('x'), undefined, 'another push starts empty');
  assert.equal(created, 2);
  assert.deepEqual(a.sizes(), { test: 1 });
});

test('memo builds once per key, including values that are null', () => {
  const m = new Map<string, number | null>();
  let builds = 0;
  const build = (v: number | null) => () => {
    builds++;
    return v;
  };
  assert.equal(memo(m, 'a', build(1)), 1);
  assert.equal(memo(m, 'a', build(2)), 1);
  assert.equal(memo(m, 'n', build(null)), null);
  assert.equal(memo(m, 'n', build(3)), null);
  assert.equal(builds, 2);
});

test('labelsKey is independent of key order', () => {
  assert.equal(labelsKey({}), '');
  assert.equal(labelsKey({ app: 'a' }), 'app=a');
  assert.equal(labelsKey({ b: '2', a: '1' }), labelsKey({ a: '1', b: '2' }));
  assert.notEqual(labelsKey({ a: '1,b=2' }), labelsKey({ a: '1', b: '2' }).replace(',', '|'));
});

test('generator caches live in the PushContext: a new push context starts with none', async () => {
  const cp = await FakeMizzend.start({
    configYaml: `
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: default}
spec: {clusterIP: 10.96.0.11, selector: {app: reviews}, ports: [{name: http, port: 9080}]}
`,
  });
  try {
    const proxy = cp.proxy({
      id: 'sidecar~10.0.0.1~productpage-1.default~default.svc.cluster.local',
      metadata: { NAMESPACE: 'default', LABELS: { app: 'productpage' } },
    });
    const first = cp.push;
    assert.deepEqual(first.caches.sizes(), {});
    const a = cp.clusters(proxy);
    assert.ok(Object.keys(first.caches.sizes()).length > 0, 'CDS filled the push context caches');
    assert.equal(cp.clusters(proxy)[0], a[0], 'the same push hands out the same packed cluster');
    const req = await cp.applyConfig(`
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: default}
spec: {host: reviews, trafficPolicy: {loadBalancer: {simple: RANDOM}}}
`);
    assert.ok(req?.full);
    assert.notEqual(cp.push, first);
    assert.deepEqual(cp.push.caches.sizes(), {}, 'nothing is carried into the next push');
    const b = cp.clusters(proxy);
    const reviews = (list: typeof a) => list.find((r) => r.name.includes('reviews'));
    assert.notEqual(reviews(b), reviews(a));
    assert.equal(FakeMizzend.decode<{ lb_policy?: string }>(reviews(b)!).lb_policy, 'RANDOM');
  } finally {
    await cp.close();
  }
});

test('leaves no open handles', () => assertNoOpenHandles());
