/**
 * The incremental EDS path at scale of one: an endpoint change rebuilds only the changed
 * service's ClusterLoadAssignments (whole and per subset), once for every proxy that sees
 * them, and touches nothing else; what it hands out equals a full regeneration from scratch.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ENDPOINT_TYPE_URL } from '../../../../src/lib/xds/type-urls.ts';
import { initPushContext } from '../../../../src/pilot/model/push-context.ts';
import { newPushRequest } from '../../../../src/pilot/model/push-request.ts';
import type { WatchedResourceView } from '../../../../src/pilot/xds/generator-registry.ts';
import { edsClusterNames, edsGenerator } from '../../../../src/pilot/xds/generators/eds.ts';
import { assertNoOpenHandles, FakeMizzend, proxyFromSpec } from '../../../support/fake-mizzend.ts';

const CONFIG = `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews.vm.example.com]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 9080, name: http, protocol: HTTP}, {number: 9443, name: grpc, protocol: GRPC}]
  workloadSelector: {labels: {app: reviews}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ratings, namespace: default}
spec:
  hosts: [ratings.vm.example.com]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 9080, name: http, protocol: HTTP}]
  workloadSelector: {labels: {app: ratings}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: reviews-1, namespace: default}
spec: {address: 10.2.0.1, labels: {app: reviews, version: v1}, serviceAccount: reviews}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: ratings-1, namespace: default}
spec: {address: 10.3.0.1, labels: {app: ratings}, serviceAccount: ratings}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: default}
spec:
  host: reviews.vm.example.com
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: only-ratings, namespace: other}
spec:
  egress: [{hosts: ["default/ratings.vm.example.com"]}]
`;

const sidecar = (ip: string, pod: string, ns: string) =>
  proxyFromSpec({
    id: `sidecar~${ip}~${pod}.${ns}~${ns}.svc.cluster.local`,
    metadata: { NAMESPACE: ns, LABELS: { app: pod.replace(/-\d+$/, '') } },
  });

const REVIEWS = (port: number, subset = '') => `outbound|${port}|${subset}|reviews.vm.example.com`;
const RATINGS = 'outbound|9080||ratings.vm.example.com';

test('an endpoint change rebuilds only the changed service, per subscribed cluster, shared by proxies', async () => {
  const cp = await FakeMizzend.start({ configYaml: CONFIG });
  try {
    const a = sidecar('10.0.0.1', 'productpage-1', 'default');
    const b = sidecar('10.0.0.2', 'productpage-2', 'default');
    const outsider = sidecar('10.0.9.1', 'client-1', 'other');
    const wildcard: WatchedResourceView = {
      typeUrl: ENDPOINT_TYPE_URL,
      wildcard: true,
      resourceNames: new Set(),
    };
    const named: WatchedResourceView = {
      typeUrl: ENDPOINT_TYPE_URL,
      wildcard: false,
      resourceNames: new Set([REVIEWS(9080), REVIEWS(9080, 'v2'), RATINGS, REVIEWS(9999)]),
    };
    const full = { ...newPushRequest({ full: true }), push: cp.push };
    const before = edsGenerator.generate(a, wildcard, full);
    assert.deepEqual(
      [...edsClusterNames(cp.push, a)].sort(),
      [
        RATINGS,
        REVIEWS(9080),
        REVIEWS(9080, 'v1'),
        REVIEWS(9080, 'v2'),
        REVIEWS(9443),
        REVIEWS(9443, 'v1'),
        REVIEWS(9443, 'v2'),
      ].sort(),
    );
    assert.equal(edsGenerator.generate(b, wildcard, full), before, 'proxies of one class share the list');

    const req = await cp.applyConfig(`
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: reviews-2, namespace: default}
spec: {address: 10.2.0.2, labels: {app: reviews, version: v2}, serviceAccount: reviews}
`);
    assert.ok(req && !req.full, 'an endpoint-only change');
    assert.equal(edsGenerator.needsPush(outsider, req), false, 'the outsider cannot see reviews');
    assert.ok(edsGenerator.needsPush(a, req));

    const da = edsGenerator.generateDelta?.(a, wildcard, req);
    const db = edsGenerator.generateDelta?.(b, wildcard, req);
    assert.deepEqual(
      da?.resources.map((r) => r.name).sort(),
      [
        REVIEWS(9080),
        REVIEWS(9080, 'v1'),
        REVIEWS(9080, 'v2'),
        REVIEWS(9443),
        REVIEWS(9443, 'v1'),
        REVIEWS(9443, 'v2'),
      ].sort(),
      'every cluster of the changed service, and nothing of ratings',
    );
    assert.deepEqual(da?.removed, []);
    for (const [i, r] of (da?.resources ?? []).entries()) {
      assert.equal(db?.resources[i], r, `${r.name} is built once for both proxies`);
    }
    const dn = edsGenerator.generateDelta?.(a, named, req);
    assert.deepEqual(
      dn?.resources.map((r) => r.name).sort(),
      [REVIEWS(9080), REVIEWS(9080, 'v2')].sort(),
      'a named subscription gets only the changed clusters it asked for',
    );

    // What the incremental path hands out equals a regeneration from a fresh push context.
    const fresh = {
      ...newPushRequest({ full: true }),
      push: initPushContext({
        config: cp.store.snapshot(),
        registry: cp.registry.snapshot(),
        endpointIndex: cp.endpointIndex,
        mesh: cp.mesh,
      }),
    };
    const expected = edsGenerator.generate(a, wildcard, fresh).filter((r) => r.name.includes('reviews'));
    assert.equal(
      FakeMizzend.canonical(ENDPOINT_TYPE_URL, da?.resources ?? []),
      FakeMizzend.canonical(ENDPOINT_TYPE_URL, expected),
    );
    const v2 = FakeMizzend.decode<{ endpoints: { lb_endpoints: unknown[] }[] }>(
      da?.resources.find((r) => r.name === REVIEWS(9080, 'v2')) as never,
    );
    assert.equal(v2.endpoints[0].lb_endpoints.length, 1, 'the new v2 endpoint is in its subset');

    // A full answer after the change: the changed assignments are new, the others reused.
    const after = edsGenerator.generate(a, wildcard, { ...newPushRequest({ full: true }), push: cp.push });
    assert.notEqual(after, before);
    const byName = (list: typeof before, n: string) => list.find((r) => r.name === n);
    assert.equal(byName(after, RATINGS), byName(before, RATINGS), 'ratings was not rebuilt');
    assert.notEqual(byName(after, REVIEWS(9080)), byName(before, REVIEWS(9080)));
    assert.equal(
      byName(after, REVIEWS(9080)),
      da?.resources.find((r) => r.name === REVIEWS(9080)),
    );
  } finally {
    await cp.close();
  }
});

test('leaves no open handles', () => assertNoOpenHandles());
