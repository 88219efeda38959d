import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveGatewayName } from '../../../src/pilot/model/indexes/virtual-service-index.ts';
import { updatePushContext } from '../../../src/pilot/model/push-context.ts';
import { newPushRequest } from '../../../src/pilot/model/push-request.ts';
import { assertNoOpenHandles, FakeMizzend, proxyFromSpec } from '../../support/fake-mizzend.ts';

const SERVICES = `
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: default}
spec: {clusterIP: 10.96.0.11, selector: {app: reviews}, ports: [{name: http, port: 9080}]}
---
apiVersion: v1
kind: Service
metadata: {name: ratings, namespace: backend}
spec: {clusterIP: 10.96.0.12, selector: {app: ratings}, ports: [{name: http, port: 9080}]}
---
apiVersion: v1
kind: Service
metadata: {name: productpage, namespace: default}
spec: {clusterIP: 10.96.0.10, selector: {app: productpage}, ports: [{name: http, port: 9080, targetPort: 8080}]}
---
apiVersion: v1
kind: Pod
metadata: {name: productpage-1, namespace: default, labels: {app: productpage}}
status: {podIP: 10.0.0.1}
`;

const productpage = proxyFromSpec({
  id: 'sidecar~10.0.0.1~productpage-1.default~default.svc.cluster.local',
  metadata: { NAMESPACE: 'default', LABELS: { app: 'productpage', version: 'v1' } },
});
const inBackend = proxyFromSpec({
  id: 'sidecar~10.0.5.1~ratings-1.backend~backend.svc.cluster.local',
  metadata: { NAMESPACE: 'backend', LABELS: { app: 'ratings' } },
});

test('gateway names resolve as Istio resolves them', () => {
  assert.equal(resolveGatewayName('mesh', 'default'), 'mesh');
  assert.equal(resolveGatewayName('bookinfo-gateway', 'default'), 'default/bookinfo-gateway');
  assert.equal(resolveGatewayName('./bookinfo-gateway', 'prod'), 'prod/bookinfo-gateway');
  assert.equal(resolveGatewayName('istio-system/ingress', 'default'), 'istio-system/ingress');
  assert.equal(
    resolveGatewayName('ingress.istio-system.svc.cluster.local', 'default'),
    'istio-system/ingress',
  );
});

test('VirtualServices: FQDN hosts and destinations, gateways resolved, exportTo applied', async () => {
  const cp = await FakeMizzend.start({
    configYaml: `${SERVICES}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews]
  gateways: [mesh, bookinfo-gateway]
  http:
  - match: [{uri: {prefix: /v2}, gateways: [bookinfo-gateway]}]
    route: [{destination: {host: reviews, subset: v2}}]
    mirror: {host: ratings.backend.svc.cluster.local}
  - route: [{destination: {host: reviews}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: private, namespace: default}
spec:
  hosts: [productpage]
  exportTo: ["."]
  http: [{route: [{destination: {host: productpage}}]}]
`,
  });
  try {
    const mesh = cp.push.virtualServicesForGateway(productpage, 'mesh');
    assert.deepEqual(
      mesh.map((v) => v.meta.name),
      ['private', 'reviews'],
    );
    const vs = mesh.find((v) => v.meta.name === 'reviews');
    assert.deepEqual(vs?.spec.hosts, ['reviews.default.svc.cluster.local']);
    assert.deepEqual(vs?.spec.gateways, ['mesh', 'default/bookinfo-gateway']);
    assert.deepEqual(vs?.spec.http?.[0].match?.[0].gateways, ['default/bookinfo-gateway']);
    assert.equal(vs?.spec.http?.[0].route?.[0].destination.host, 'reviews.default.svc.cluster.local');
    assert.deepEqual(
      cp.push.virtualServicesForGateway(inBackend, 'mesh').map((v) => v.meta.name),
      ['reviews'],
      'exportTo "." hides `private` from other namespaces',
    );
    assert.deepEqual(
      cp.push.virtualServicesForGateway(productpage, 'default/bookinfo-gateway').map((v) => v.meta.name),
      ['reviews'],
    );
    assert.deepEqual(
      cp.push
        .virtualServicesForHost(productpage, 'productpage.default.svc.cluster.local')
        .map((v) => v.meta.name),
      ['private'],
    );
  } finally {
    await cp.close();
  }
});

test('delegate VirtualServices are merged into their root, matches narrowed', async () => {
  const cp = await FakeMizzend.start({
    configYaml: `${SERVICES}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: root, namespace: default}
spec:
  hosts: [bookinfo.example.com]
  gateways: [bookinfo-gateway]
  http:
  - name: reviews
    match: [{uri: {prefix: /reviews}}]
    timeout: 5s
    delegate: {name: reviews-delegate, namespace: backend}
  - name: missing
    delegate: {name: nope}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews-delegate, namespace: backend}
spec:
  http:
  - name: v2
    match: [{uri: {prefix: /reviews/v2}, headers: {end-user: {exact: jason}}}]
    route: [{destination: {host: ratings}}]
  - name: conflicting
    match: [{uri: {prefix: /ratings}}]
    route: [{destination: {host: ratings}}]
  - name: rest
    route: [{destination: {host: ratings}}]
    timeout: 1s
`,
  });
  try {
    const [root] = cp.push.virtualServicesForGateway(productpage, 'default/bookinfo-gateway');
    const http = root.spec.http ?? [];
    assert.deepEqual(
      http.map((r) => r.name),
      ['reviews-v2', 'reviews-rest'],
    );
    assert.deepEqual(http[0].match, [
      { uri: { prefix: '/reviews/v2' }, headers: { 'end-user': { exact: 'jason' } } },
    ]);
    assert.equal(http[0].timeout, '5s', 'inherited from the root');
    assert.equal(http[1].timeout, '1s', 'the delegate wins where it sets a value');
    assert.deepEqual(http[1].match, [{ uri: { prefix: '/reviews' } }]);
    assert.equal(
      http[0].route?.[0].destination.host,
      'ratings.backend.svc.cluster.local',
      'relative to the delegate',
    );
    const warnings = cp.push.warnings.map((w) => w.message).join('\n');
    assert.match(warnings, /http\[1\]: its matches conflict/);
    assert.match(warnings, /VirtualService default\/nope does not exist/);
  } finally {
    await cp.close();
  }
});

test('Sidecar selection: workload selector, then namespace default, then root namespace', async () => {
  const sidecar = (name: string, ns: string, hosts: string, selector = '') => `---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: ${name}, namespace: ${ns}}
spec:
${selector}  egress: [{hosts: [${hosts}]}]
`;
  const cp = await FakeMizzend.start({
    configYaml:
      SERVICES +
      sidecar('mesh-default', 'istio-system', '"./*"') +
      sidecar('default', 'default', '"backend/*"') +
      sidecar(
        'productpage',
        'default',
        '"./reviews.default.svc.cluster.local"',
        '  workloadSelector: {labels: {app: productpage}}\n',
      ),
  });
  try {
    const scope = cp.push.sidecarScope(productpage);
    assert.equal(scope.name, 'default/productpage');
    assert.deepEqual(
      scope.services.map((s) => s.hostname),
      ['reviews.default.svc.cluster.local'],
    );
    const other = proxyFromSpec({
      id: 'sidecar~10.0.0.2~details-1.default~default.svc.cluster.local',
      metadata: { NAMESPACE: 'default', LABELS: { app: 'details' } },
    });
    assert.equal(cp.push.sidecarScope(other).name, 'default/default');
    assert.deepEqual(
      cp.push.services(other).map((s) => s.hostname),
      ['ratings.backend.svc.cluster.local'],
    );
    // backend has no Sidecar: the root one applies, with "." meaning backend.
    const scopeB = cp.push.sidecarScope(inBackend);
    assert.equal(scopeB.name, 'istio-system/mesh-default');
    assert.deepEqual(
      scopeB.services.map((s) => s.hostname),
      ['ratings.backend.svc.cluster.local'],
    );
    assert.equal(scopeB.outboundTrafficPolicy.mode, 'ALLOW_ANY', 'the mesh default');
    assert.equal(cp.push.sidecarScope(productpage), scope, 'memoised per push');
  } finally {
    await cp.close();
  }
});

test('default scope: every service exported to the namespace, one per host name', async () => {
  const cp = await FakeMizzend.start({
    configYaml: `${SERVICES}---
apiVersion: v1
kind: Service
metadata: {name: ratings, namespace: backend2, annotations: {networking.istio.io/exportTo: "~"}}
spec: {selector: {app: x}, ports: [{name: http, port: 9080}]}
`,
  });
  try {
    const scope = cp.push.sidecarScope(productpage);
    assert.equal(scope.name, 'default-sidecar');
    assert.deepEqual(
      scope.services.map((s) => `${s.namespace}/${s.hostname}`),
      [
        'default/productpage.default.svc.cluster.local',
        'backend/ratings.backend.svc.cluster.local',
        'default/reviews.default.svc.cluster.local',
      ],
    );
    assert.equal(scope.serviceForHostname('ratings.backend2.svc.cluster.local'), undefined);
    assert.equal(
      cp.push.serviceForHostname('ratings.backend.svc.cluster.local', 'default')?.namespace,
      'backend',
    );
  } finally {
    await cp.close();
  }
});

test('DestinationRule lookup: proxy namespace, then service namespace (exported), then root', async () => {
  const dr = (name: string, ns: string, host: string, extra = '') => `---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ${name}, namespace: ${ns}}
spec:
  host: "${host}"
${extra}  trafficPolicy: {connectionPool: {tcp: {maxConnections: 1}}}
`;
  const cp = await FakeMizzend.start({
    configYaml:
      SERVICES +
      dr('ratings-local', 'default', 'ratings.backend.svc.cluster.local') +
      dr('ratings-owner', 'backend', 'ratings') +
      dr('reviews-private', 'backend', 'reviews.default.svc.cluster.local', '  exportTo: ["."]\n') +
      dr('all', 'istio-system', '*.cluster.local'),
  });
  try {
    const ratings = cp.push.serviceForHostname('ratings.backend.svc.cluster.local', 'default');
    const reviews = cp.push.serviceForHostname('reviews.default.svc.cluster.local', 'default');
    assert.ok(ratings && reviews);
    assert.equal(cp.push.destinationRule(productpage, ratings)?.from[0].name, 'ratings-local');
    assert.equal(cp.push.destinationRule(inBackend, ratings)?.from[0].name, 'ratings-owner');
    assert.equal(cp.push.destinationRule(productpage, reviews)?.from[0].name, 'all');
    assert.equal(
      cp.push.destinationRule(inBackend, reviews)?.from[0].name,
      'reviews-private',
      'local rules ignore exportTo',
    );
  } finally {
    await cp.close();
  }
});

test('gateways: selected by labels, servers merged per port with Istio route names', async () => {
  const cp = await FakeMizzend.start({
    configYaml: `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: bookinfo-gateway, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*"]
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [bookinfo.example.com]
    tls: {mode: SIMPLE, credentialName: bookinfo-cert}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: shop, namespace: shop}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http2, protocol: HTTP2}
    hosts: ["./shop.example.com"]
  - port: {number: 443, name: tls, protocol: TLS}
    hosts: [db.example.com]
    tls: {mode: PASSTHROUGH}
  - port: {number: 80, name: tcp, protocol: TCP}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: egress, namespace: istio-system}
spec:
  selector: {istio: egressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*"]
`,
  });
  try {
    const gw = proxyFromSpec({
      id: 'router~10.0.9.1~ingress-1.istio-system~istio-system.svc.cluster.local',
      metadata: { NAMESPACE: 'istio-system', LABELS: { istio: 'ingressgateway' } },
    });
    const merged = cp.push.gatewaysForProxy(gw);
    assert.ok(merged);
    assert.deepEqual([...merged.gatewayNames], ['default/bookinfo-gateway', 'shop/shop']);
    assert.deepEqual(
      merged.ports.map((p) => [p.port, p.protocol, p.servers.length]),
      [
        [80, 'HTTP', 2],
        [443, 'HTTPS', 2],
      ],
    );
    assert.deepEqual([...merged.serversByRouteName.keys()].sort(), [
      'http.80',
      'https.443.https.bookinfo-gateway.default',
    ]);
    assert.deepEqual(merged.ports[0].servers[1].hosts, [{ namespace: 'shop', host: 'shop.example.com' }]);
    assert.equal(merged.ports[1].servers[1].passthrough, true);
    assert.match(
      cp.push.warnings.map((w) => w.message).join('\n'),
      /port 80 is already served as HTTP.*TCP server is ignored/,
    );
    assert.equal(cp.push.gatewaysForProxy(productpage), undefined, 'sidecars have no gateways');
  } finally {
    await cp.close();
  }
});

test('service targets: the proxy serves its own service ports', async () => {
  const cp = await FakeMizzend.start({ configYaml: SERVICES });
  try {
    const targets = cp.push.serviceTargets(productpage);
    assert.deepEqual(
      targets.map((t) => [t.service.hostname, t.port.port, t.targetPort]),
      [['productpage.default.svc.cluster.local', 9080, 8080]],
    );
  } finally {
    await cp.close();
  }
});

test('updates reuse the indexes a change cannot touch; endpoint pushes keep the context', async () => {
  const cp = await FakeMizzend.start({ configYaml: SERVICES });
  try {
    const before = cp.push;
    const req = await cp.applyConfig(`
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews]
  http: [{route: [{destination: {host: reviews}}]}]
`);
    assert.ok(req?.full);
    const after = cp.push;
    assert.notEqual(after, before);
    assert.notEqual(after.virtualServiceIndex, before.virtualServiceIndex);
    assert.equal(after.destinationRuleIndex, before.destinationRuleIndex);
    assert.equal(after.gatewayIndex, before.gatewayIndex);
    assert.equal(after.serviceIndex, before.serviceIndex);
    const same = updatePushContext(
      after,
      {
        config: cp.store.snapshot(),
        registry: cp.registry.snapshot(),
        endpointIndex: cp.endpointIndex,
        mesh: cp.mesh,
      },
      newPushRequest({ full: false }),
    );
    assert.equal(same, after, 'an endpoint-only push never rebuilds');
  } finally {
    await cp.close();
  }
});

test('leaves no open handles', () => assertNoOpenHandles());
