/**
 * The CDS and EDS generators' triggers and the incremental EDS path, end to end through the
 * fake control plane: a WorkloadEntry change is an endpoint-only push (same PushContext, EDS
 * only, only proxies that see the service, only the affected clusters); a ServiceEntry change
 * is a full push.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KIND_NAMES } from '../../../../src/api/schema/kinds.ts';
import { CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL } from '../../../../src/lib/xds/type-urls.ts';
import { newPushRequest } from '../../../../src/pilot/model/push-request.ts';
import { CDS_KIND_EFFECTS, cdsGenerator } from '../../../../src/pilot/xds/generators/cds.ts';
import { EDS_KIND_EFFECTS, edsGenerator } from '../../../../src/pilot/xds/generators/eds.ts';
import { defaultGenerators } from '../../../../src/pilot/xds/generators/index.ts';
import { assertNoOpenHandles, FakeMizzend, proxyFromSpec } from '../../../support/fake-mizzend.ts';

test('every config kind has an entry in the CDS and EDS trigger tables', () => {
  assert.deepEqual(Object.keys(CDS_KIND_EFFECTS).sort(), [...KIND_NAMES].sort());
  assert.deepEqual(Object.keys(EDS_KIND_EFFECTS).sort(), [...KIND_NAMES].sort());
});

test('defaultGenerators registers CDS and EDS', () => {
  const g = defaultGenerators();
  assert.equal(g.get(CLUSTER_TYPE_URL), cdsGenerator);
  assert.equal(g.get(ENDPOINT_TYPE_URL), edsGenerator);
  assert.equal(g.get(CLUSTER_TYPE_URL, 'grpc'), cdsGenerator, 'proxyless clients use the same generators');
});

const CONFIG = `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: reviews-vms, namespace: default}
spec:
  hosts: [reviews.vm.example.com]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 9080, name: http, protocol: HTTP}]
  workloadSelector: {labels: {app: reviews}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ratings-vms, namespace: default}
spec:
  hosts: [ratings.vm.example.com]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 9080, name: http, protocol: HTTP}]
  endpoints: [{address: 10.3.0.1}]
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: reviews-1, namespace: default}
spec: {address: 10.2.0.1, labels: {app: reviews}, serviceAccount: reviews}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: only-ratings, namespace: other}
spec:
  egress: [{hosts: ["default/ratings.vm.example.com"]}]
`;

const productpage = proxyFromSpec({
  id: 'sidecar~10.0.0.1~productpage-1.default~default.svc.cluster.local',
  metadata: { NAMESPACE: 'default', LABELS: { app: 'productpage' } },
});
const outsider = proxyFromSpec({
  id: 'sidecar~10.0.7.1~client-1.other~other.svc.cluster.local',
  metadata: { NAMESPACE: 'other', LABELS: { app: 'client' } },
});

const REVIEWS = 'outbound|9080||reviews.vm.example.com';
const RATINGS = 'outbound|9080||ratings.vm.example.com';

test('a WorkloadEntry change is an endpoint-only push: same context, EDS only, affected proxies and clusters', async () => {
  const cp = await FakeMizzend.start({ configYaml: CONFIG });
  try {
    const before = cp.push;
    const req = await cp.applyConfig(`
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: reviews-2, namespace: default}
spec: {address: 10.2.0.2, labels: {app: reviews}, serviceAccount: reviews}
`);
    assert.ok(req);
    assert.equal(req.full, false);
    assert.deepEqual([...req.configsUpdated.keys()], ['ServiceEntry/default/reviews.vm.example.com']);
    assert.equal(req.push, before, 'the push context is not rebuilt');
    assert.equal(cdsGenerator.needsPush(productpage, req), false);
    assert.equal(edsGenerator.needsPush(productpage, req), true);
    assert.equal(edsGenerator.needsPush(outsider, req), false, 'the outsider cannot see reviews');
    const watched = {
      typeUrl: ENDPOINT_TYPE_URL,
      wildcard: false,
      resourceNames: new Set([REVIEWS, RATINGS]),
    };
    const delta = edsGenerator.generateDelta?.(productpage, watched, req);
    assert.deepEqual(
      delta?.resources.map((r) => r.name),
      [REVIEWS],
    );
    const cla = FakeMizzend.decode<{ endpoints: { lb_endpoints: unknown[] }[] }>(
      delta?.resources[0] as never,
    );
    assert.equal(cla.endpoints[0].lb_endpoints.length, 2, 'the new endpoint is in');
  } finally {
    await cp.close();
  }
});

test('a new identity behind a service is a full push (clusters verify SANs)', async () => {
  const cp = await FakeMizzend.start({ configYaml: CONFIG });
  try {
    const req = await cp.applyConfig(`
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: reviews-2, namespace: default}
spec: {address: 10.2.0.2, labels: {app: reviews}, serviceAccount: reviews-canary}
`);
    assert.equal(req?.full, true);
    assert.ok(req && cdsGenerator.needsPush(productpage, req));
  } finally {
    await cp.close();
  }
});

test('ServiceEntry and DestinationRule changes are full pushes with a new context', async () => {
  const cp = await FakeMizzend.start({ configYaml: CONFIG });
  try {
    const before = cp.push;
    const req = await cp.applyConfig(`
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: default}
spec:
  host: reviews.vm.example.com
  subsets: [{name: v1, labels: {version: v1}}]
`);
    assert.equal(req?.full, true);
    assert.notEqual(req?.push, before);
    assert.ok(req && cdsGenerator.needsPush(productpage, req) && edsGenerator.needsPush(productpage, req));
    assert.ok(cp.clusters(productpage).some((c) => c.name === 'outbound|9080|v1|reviews.vm.example.com'));
    const se = await cp.deleteConfig('ServiceEntry', 'default', 'ratings-vms');
    assert.equal(se?.full, true);
    assert.deepEqual([...(se?.configsUpdated.keys() ?? [])], ['ServiceEntry/default/ratings.vm.example.com']);
    assert.ok(!cp.clusters(productpage).some((c) => c.name === RATINGS));
  } finally {
    await cp.close();
  }
});

test('kinds that cannot change clusters or endpoints do not trigger them', async () => {
  const cp = await FakeMizzend.start({ configYaml: CONFIG });
  try {
    const authz = {
      ...newPushRequest({
        full: true,
        configsUpdated: [{ kind: 'AuthorizationPolicy', namespace: 'default', name: 'x' }],
      }),
      push: cp.push,
    };
    assert.equal(cdsGenerator.needsPush(productpage, authz), false);
    assert.equal(edsGenerator.needsPush(productpage, authz), false);
    const gateway = {
      ...newPushRequest({
        full: true,
        configsUpdated: [{ kind: 'Gateway', namespace: 'default', name: 'x' }],
      }),
      push: cp.push,
    };
    assert.equal(cdsGenerator.needsPush(productpage, gateway), true);
    assert.equal(edsGenerator.needsPush(productpage, gateway), false);
    const everything = { ...newPushRequest({ full: true }), push: cp.push };
    assert.ok(
      cdsGenerator.needsPush(productpage, everything) && edsGenerator.needsPush(productpage, everything),
    );
  } finally {
    await cp.close();
  }
});

test('a wildcard EDS subscription gets every EDS cluster of the proxy, and only those', async () => {
  const cp = await FakeMizzend.start({
    configYaml: `${CONFIG}---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: external, namespace: default}
spec:
  hosts: [api.example.com]
  resolution: DNS
  ports: [{number: 443, name: tls, protocol: TLS}]
`,
  });
  try {
    assert.deepEqual(
      cp
        .endpoints(productpage)
        .map((r) => r.name)
        .sort(),
      [RATINGS, REVIEWS],
    );
    const unknown = FakeMizzend.decode<{ cluster_name: string; endpoints: unknown[] }>(
      cp.endpoints(productpage, ['outbound|9080||unknown.example.com'])[0],
    );
    assert.deepEqual([unknown.cluster_name, unknown.endpoints], ['outbound|9080||unknown.example.com', []]);
  } finally {
    await cp.close();
  }
});

test('leaves no open handles', () => assertNoOpenHandles());
