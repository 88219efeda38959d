import assert from 'node:assert/strict';
import { test } from 'node:test';
import { messageLine } from '../../src/analysis/diagnostic.ts';
import { inputOf } from './helpers.ts';

test('a YAML syntax error is IST0106 at its line, and the other documents of the file still count', () => {
  const input = inputOf({
    'broken.yaml': `
      apiVersion: networking.istio.io/v1
      kind: Gateway
      metadata:
        name: gw
      spec:
        selector: {istio: ingressgateway}
        servers:
        - port: {number: 80, name: http, protocol: HTTP}
          hosts: ["*"]
      ---
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata:
        name: bad
      spec:
        hosts: [a
    `,
  });
  const lines = input.messages.map(messageLine);
  assert.equal(lines.length, 1);
  assert.match(lines[0], /^Error \[IST0106\] \(broken\.yaml:1[67]\) Schema validation error: YAML: /);
  assert.deepEqual(
    input.resources.map((r) => `${r.kind}/${r.meta.namespace}/${r.meta.name}`),
    ['Gateway/default/gw'],
  );
});

test('a validation error is IST0106 on the object, at the line of the field, with the field path', () => {
  const input = inputOf({
    'reviews.yaml': `
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata:
        name: reviews
        namespace: shop
      spec:
        hosts: [reviews]
        http:
        - route:
          - destination:
              host: reviews
              port: {number: 70000}
    `,
  });
  assert.equal(input.resources.length, 0);
  assert.deepEqual(input.messages.length, 1);
  const [m] = input.messages;
  assert.equal(m.type.code, 'IST0106');
  assert.deepEqual(m.origin, {
    kind: 'VirtualService',
    namespace: 'shop',
    name: 'reviews',
    file: 'reviews.yaml',
    line: 12,
  });
  assert.match(
    m.text,
    /^Schema validation error: spec\.http\[0\]\.route\[0\]\.destination\.port\.number: 70000/,
  );
});

test('objects without a namespace get the default one; a document without kind is located by file only', () => {
  const input = inputOf({
    'x.yaml': `
      apiVersion: networking.istio.io/v1
      metadata:
        name: nameless
      spec: {}
    `,
  });
  const lines = input.messages.map(messageLine);
  assert.deepEqual(lines, ['Error [IST0106] (x.yaml:1) Schema validation error: kind: kind is required']);
});

test('Kubernetes documents are kept for the analyzers and are not reported as skipped', () => {
  const input = inputOf({
    'k8s.yaml': `
      apiVersion: v1
      kind: Service
      metadata:
        name: ratings
      spec:
        ports: [{port: 9080}]
      ---
      apiVersion: apps/v1
      kind: Deployment
      metadata:
        name: ratings-v1
        namespace: shop
        labels: {team: a}
      spec:
        template:
          metadata:
            labels: {app: ratings}
      ---
      apiVersion: v1
      kind: ConfigMap
      metadata: {}
    `,
  });
  assert.deepEqual(input.messages, []);
  assert.deepEqual(
    input.kube.map((k) => [k.kind, k.namespace, k.name, k.labels]),
    [
      ['Service', 'default', 'ratings', {}],
      ['Deployment', 'shop', 'ratings-v1', { team: 'a' }],
    ],
  );
});

test('an object defined twice is MZN0002 on the later definition, which wins', () => {
  const doc = (host: string) => `
    apiVersion: networking.istio.io/v1
    kind: DestinationRule
    metadata:
      name: reviews
    spec:
      host: ${host}
  `;
  const input = inputOf({ 'a.yaml': doc('reviews'), 'b.yaml': doc('ratings') });
  assert.deepEqual(input.messages.map(messageLine), [
    'Warning [MZN0002] (DestinationRule default/reviews b.yaml:1) Also defined at a.yaml:1; this later definition replaces it.',
  ]);
  assert.equal(input.resources.length, 1);
  assert.deepEqual(input.resources[0].spec, { host: 'ratings' });
});

test('schema warnings are IST0133 with the field path', () => {
  const input = inputOf(`
    apiVersion: networking.istio.io/v1
    kind: VirtualService
    metadata:
      name: cors
    spec:
      hosts: [cors]
      http:
      - corsPolicy:
          allowOrigin: ["https://a.example.com"]
        route:
        - destination: {host: cors}
  `);
  const lines = input.messages.map(messageLine);
  assert.equal(lines.length, 1);
  assert.match(
    lines[0],
    /^Warning \[IST0133\] \(VirtualService default\/cors config\.yaml:9\) Schema validation warning: spec\.http\[0\]\.corsPolicy\.allowOrigin: deprecated/,
  );
  assert.equal(input.resources.length, 1, 'a warning does not reject the object');
});

test("validation's unreachable-rule warnings are reported as IST0130 and IST0131, as Istio does", () => {
  const input = inputOf(`
    apiVersion: networking.istio.io/v1
    kind: VirtualService
    metadata:
      name: api
    spec:
      hosts: [api]
      http:
      - match: [{uri: {prefix: /api}}]
        route:
        - destination: {host: api}
      - match: [{uri: {prefix: /api/v1}}]
        route:
        - destination: {host: api}
      - route:
        - destination: {host: api}
      - route:
        - destination: {host: api}
  `);
  const codes = input.messages.map((m) => `${m.type.code}@${m.origin?.line}`).sort();
  assert.deepEqual(codes, ['IST0130@16', 'IST0131@11']);
});

test('a kind: List document (kubectl get -o yaml) stands for its items, located inside the list', () => {
  const input = inputOf({
    'list.yaml': `
      apiVersion: v1
      kind: List
      items:
      - apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: ok
          namespace: shop
        spec:
          host: ok
      - apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: broken
          namespace: shop
        spec:
          host: broken
          subsets:
          - labels: {version: v1}
    `,
  });
  assert.deepEqual(
    input.resources.map((r) => r.meta.name),
    ['ok'],
  );
  assert.deepEqual(input.messages.map(messageLine), [
    'Error [IST0106] (DestinationRule shop/broken list.yaml:19) Schema validation error: spec.subsets[0].name: name is required',
  ]);
  assert.equal(input.origin(input.resources[0]).line, 4);
});
