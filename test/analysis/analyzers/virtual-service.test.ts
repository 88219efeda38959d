import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  conflictingMeshHostsAnalyzer,
  destinationHostAnalyzer,
  destinationSubsetAnalyzer,
  gatewayAnalyzer,
  unreachableRulesAnalyzer,
} from '../../../src/analysis/analyzers/virtual-service.ts';
import { run } from '../helpers.ts';

const reviewsService = `
  apiVersion: networking.istio.io/v1
  kind: ServiceEntry
  metadata:
    name: reviews
  spec:
    hosts: [reviews.default.svc.cluster.local]
    ports:
    - {number: 9080, name: http, protocol: HTTP}
    resolution: STATIC
    endpoints:
    - {address: 127.0.0.1, labels: {app: reviews, version: v1}}
`;

const gateway = `
  apiVersion: networking.istio.io/v1
  kind: Gateway
  metadata:
    name: gw
    namespace: ingress
  spec:
    selector: {istio: ingressgateway}
    servers:
    - port: {number: 80, name: http, protocol: HTTP}
      hosts: ["*/bookinfo.example.com", "team/*.team.example.com"]
`;

test('gateway analyzer: a missing gateway is IST0101 at the gateways entry', () => {
  const lines = run(
    {
      'gw.yaml': gateway,
      'vs.yaml': `
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: bookinfo
        spec:
          hosts: [bookinfo.example.com]
          gateways:
          - ingress/gw
          - mesh
          - ingress/gw-typo
          http:
          - route:
            - destination: {host: reviews}
      `,
    },
    [gatewayAnalyzer],
  );
  assert.deepEqual(lines, [
    'Error [IST0101] (VirtualService default/bookinfo vs.yaml:10) Referenced gateway not found: "ingress/gw-typo"',
  ]);
});

test('gateway analyzer: short and legacy dotted gateway names resolve like Istio', () => {
  const lines = run(
    {
      'gw.yaml': gateway,
      'vs.yaml': `
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: a
          namespace: ingress
        spec:
          hosts: [bookinfo.example.com]
          gateways: [gw, gw.ingress.svc.cluster.local, gw.other]
          http:
          - route:
            - destination: {host: reviews}
      `,
    },
    [gatewayAnalyzer],
  );
  assert.deepEqual(lines, [
    'Error [IST0101] (VirtualService ingress/a vs.yaml:8) Referenced gateway not found: "gw.other"',
  ]);
});

test('gateway analyzer: gateways named in route matches are checked too', () => {
  const lines = run(
    {
      'gw.yaml': gateway,
      'vs.yaml': `
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: a
        spec:
          hosts: [reviews]
          gateways: [mesh, ingress/gw-missing]
          http:
          - match:
            - gateways: [ingress/gw-missing]
            route:
            - destination: {host: reviews}
      `,
    },
    [gatewayAnalyzer],
  );
  // The match's reference repeats one of spec.gateways: reported once, there.
  assert.deepEqual(lines, [
    'Error [IST0101] (VirtualService default/a vs.yaml:7) Referenced gateway not found: "ingress/gw-missing"',
  ]);
});

test('gateway analyzer: VirtualService hosts the gateway does not serve to its namespace are IST0132', () => {
  const lines = run(
    {
      'gw.yaml': gateway,
      'vs.yaml': `
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: ok
          namespace: team
        spec:
          hosts: [bookinfo.example.com, api.team.example.com]
          gateways: [ingress/gw]
          http:
          - route:
            - destination: {host: reviews}
        ---
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: wrong-namespace
          namespace: other
        spec:
          hosts: [api.team.example.com, shop.example.com]
          gateways: [ingress/gw]
          http:
          - route:
            - destination: {host: reviews}
      `,
    },
    [gatewayAnalyzer],
  );
  assert.deepEqual(lines, [
    'Warning [IST0132] (VirtualService other/wrong-namespace vs.yaml:20) Hosts "api.team.example.com", "shop.example.com" of VirtualService other/wrong-namespace are not served by Gateway ingress/gw.',
  ]);
});

test('destination host analyzer: unknown hosts, ports and mirrors', () => {
  const lines = run(
    {
      'se.yaml': reviewsService,
      'vs.yaml': `
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: reviews
        spec:
          hosts: [reviews]
          http:
          - route:
            - destination:
                host: reviewz
              weight: 50
            - destination:
                host: reviews.default.svc.cluster.local
                port: {number: 9081}
              weight: 25
            - destination:
                host: reviews
                port: {number: 9080}
              weight: 25
            mirror:
              host: shadow
      `,
    },
    [destinationHostAnalyzer],
  );
  assert.deepEqual(lines, [
    'Error [IST0101] (VirtualService default/reviews vs.yaml:10) Referenced host not found: "reviewz"',
    'Error [IST0101] (VirtualService default/reviews vs.yaml:14) Referenced host:port not found: "reviews.default.svc.cluster.local:9081"',
    'Error [IST0101] (VirtualService default/reviews vs.yaml:21) Referenced mirror host not found: "shadow"',
  ]);
});

test('destination host analyzer: short names resolve in the VirtualService namespace, and exportTo is honored', () => {
  const lines = run(
    {
      'se.yaml': reviewsService,
      'private.yaml': `
        apiVersion: networking.istio.io/v1
        kind: ServiceEntry
        metadata:
          name: private
          namespace: secret
        spec:
          hosts: [vault.secret.svc.cluster.local]
          exportTo: ["."]
          ports: [{number: 8200, name: http, protocol: HTTP}]
          resolution: STATIC
          endpoints: [{address: 127.0.0.1}]
      `,
      'vs.yaml': `
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: other
          namespace: shop
        spec:
          hosts: [shop]
          http:
          - match: [{uri: {prefix: /reviews}}]
            route:
            - destination: {host: reviews}
          - route:
            - destination: {host: vault.secret.svc.cluster.local}
        ---
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: inside
          namespace: secret
        spec:
          hosts: [secret]
          http:
          - route:
            - destination: {host: vault}
      `,
    },
    [destinationHostAnalyzer],
  );
  assert.deepEqual(lines, [
    'Error [IST0101] (VirtualService shop/other vs.yaml:11) Referenced host not found: "reviews"',
    'Error [IST0101] (VirtualService shop/other vs.yaml:13) Referenced host not found: "vault.secret.svc.cluster.local"',
  ]);
});

test('destination host analyzer: Kubernetes Services and wildcard ServiceEntries are known hosts', () => {
  const lines = run(
    {
      'k8s.yaml': `
        apiVersion: v1
        kind: Service
        metadata:
          name: ratings
          namespace: default
        spec:
          selector: {app: ratings}
          ports:
          - {name: http, port: 9080}
          - {name: grpc, port: 9090}
        ---
        apiVersion: networking.istio.io/v1
        kind: ServiceEntry
        metadata:
          name: wiki
        spec:
          hosts: ["*.wikipedia.org"]
          ports: [{number: 443, name: tls, protocol: TLS}]
          resolution: NONE
          location: MESH_EXTERNAL
      `,
      'vs.yaml': `
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: ratings
        spec:
          hosts: [ratings]
          http:
          - route:
            - destination: {host: ratings}
        ---
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: wiki
        spec:
          hosts: [en.wikipedia.org]
          tls:
          - match: [{sniHosts: [en.wikipedia.org]}]
            route:
            - destination: {host: en.wikipedia.org}
      `,
    },
    [destinationHostAnalyzer],
  );
  assert.deepEqual(lines, [
    'Error [IST0112] (VirtualService default/ratings vs.yaml:9) Destination "ratings" is a service with several ports (9080, 9090); set destination.port to choose one.',
  ]);
});

test('subset analyzer: subsets must be defined by a DestinationRule visible to the VirtualService', () => {
  const lines = run(
    {
      'dr.yaml': `
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: reviews
        spec:
          host: reviews
          subsets:
          - {name: v1, labels: {version: v1}}
        ---
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: all-local
          namespace: istio-system
        spec:
          host: "*.default.svc.cluster.local"
          subsets:
          - {name: canary, labels: {track: canary}}
        ---
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: hidden
          namespace: other
        spec:
          host: reviews.default.svc.cluster.local
          exportTo: ["."]
          subsets:
          - {name: v9, labels: {version: v9}}
      `,
      'vs.yaml': `
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: reviews
        spec:
          hosts: [reviews]
          http:
          - route:
            - destination: {host: reviews, subset: v1}
              weight: 70
            - destination: {host: reviews, subset: canary}
              weight: 10
            - destination: {host: reviews, subset: v2}
              weight: 10
            - destination: {host: reviews, subset: v9}
              weight: 10
      `,
    },
    [destinationSubsetAnalyzer],
  );
  assert.deepEqual(lines, [
    'Error [IST0101] (VirtualService default/reviews vs.yaml:13) Referenced host+subset in destinationrule not found: "reviews+v2"',
    'Error [IST0101] (VirtualService default/reviews vs.yaml:15) Referenced host+subset in destinationrule not found: "reviews+v9"',
  ]);
});

test('mesh host conflicts: two mesh VirtualServices for one host are IST0109, gateway-bound ones merge', () => {
  const lines = run(
    `
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata:
        name: reviews-a
      spec:
        hosts: [reviews]
        http:
        - route:
          - destination: {host: reviews}
      ---
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata:
        name: reviews-b
      spec:
        hosts: [reviews.default.svc.cluster.local]
        gateways: [mesh]
        http:
        - route:
          - destination: {host: reviews}
      ---
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata:
        name: reviews-ingress
      spec:
        hosts: [reviews]
        gateways: [ingress]
        http:
        - route:
          - destination: {host: reviews}
      ---
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata:
        name: reviews
        namespace: team
      spec:
        hosts: [reviews]
        http:
        - route:
          - destination: {host: reviews}
    `,
    [conflictingMeshHostsAnalyzer],
  );
  assert.deepEqual(lines, [
    'Error [IST0109] (VirtualService default/reviews-a config.yaml:6) The VirtualServices default/reviews-a, default/reviews-b for the mesh gateway all define host "reviews.default.svc.cluster.local"; only one of them takes effect. Merge them into one VirtualService or narrow their exportTo.',
    'Error [IST0109] (VirtualService default/reviews-b config.yaml:16) The VirtualServices default/reviews-a, default/reviews-b for the mesh gateway all define host "reviews.default.svc.cluster.local"; only one of them takes effect. Merge them into one VirtualService or narrow their exportTo.',
  ]);
});

test('mesh host conflicts: VirtualServices exported to disjoint namespaces do not conflict', () => {
  const lines = run(
    `
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata:
        name: a
        namespace: one
      spec:
        hosts: [api.example.com]
        exportTo: ["."]
        http:
        - route:
          - destination: {host: api.example.com}
      ---
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata:
        name: b
        namespace: two
      spec:
        hosts: [api.example.com]
        exportTo: [".", three]
        http:
        - route:
          - destination: {host: api.example.com}
    `,
    [conflictingMeshHostsAnalyzer],
  );
  assert.deepEqual(lines, []);
});

test('unreachable rules: everything after a rule without match is IST0130', () => {
  const lines = run(
    `
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata:
        name: reviews
      spec:
        hosts: [reviews]
        http:
        - name: all
          route:
          - destination: {host: reviews, subset: v1}
        - match:
          - headers: {end-user: {exact: jason}}
          route:
          - destination: {host: reviews, subset: v2}
    `,
    [unreachableRulesAnalyzer],
  );
  assert.deepEqual(lines, [
    'Warning [IST0130] (VirtualService default/reviews config.yaml:11) VirtualService rule #1 not used (http rule "all" before it takes all traffic: it has no match).',
  ]);
});

test('unreachable rules: a prefix "/" match catches everything; duplicate matches are IST0131', () => {
  const lines = run(
    `
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata:
        name: reviews
      spec:
        hosts: [reviews]
        http:
        - match:
          - uri: {prefix: /api}
            headers: {x-test: {exact: "1"}}
          route:
          - destination: {host: reviews}
        - match:
          - headers: {x-test: {exact: "1"}}
            uri: {prefix: /api}
            name: same-in-other-order
          - uri: {exact: /health}
          route:
          - destination: {host: reviews}
        - match:
          - uri: {prefix: /api}
            headers: {x-test: {exact: "1"}}
          route:
          - destination: {host: reviews}
        - match:
          - uri: {prefix: /}
            ignoreUriCase: true
          route:
          - destination: {host: reviews}
        - route:
          - destination: {host: reviews}
    `,
    [unreachableRulesAnalyzer],
  );
  assert.deepEqual(lines, [
    'Warning [IST0130] (VirtualService default/reviews config.yaml:20) VirtualService rule #2 not used (all its matches are used by earlier rules).',
    'Warning [IST0130] (VirtualService default/reviews config.yaml:30) VirtualService rule #4 not used (http rule #3 before it takes all traffic: uri prefix "/").',
    'Info [IST0131] (VirtualService default/reviews config.yaml:14) VirtualService rule #1 match "same-in-other-order" is not used (rule #0 has the same match).',
    'Info [IST0131] (VirtualService default/reviews config.yaml:21) VirtualService rule #2 match #0 is not used (rule #0 has the same match).',
  ]);
});

test('unreachable rules: TCP routes after one without match are unreachable; distinct matches are fine', () => {
  const lines = run(
    `
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata:
        name: mongo
      spec:
        hosts: [mongo]
        tcp:
        - match: [{port: 27017}]
          route:
          - destination: {host: mongo}
        - route:
          - destination: {host: mongo}
        - match: [{port: 27018}]
          route:
          - destination: {host: mongo}
    `,
    [unreachableRulesAnalyzer],
  );
  assert.deepEqual(lines, [
    'Warning [IST0130] (VirtualService default/mongo config.yaml:13) VirtualService rule #2 not used (tcp rule #1 before it takes all traffic: it has no match).',
  ]);
});

test('a consistent configuration gives no VirtualService messages', () => {
  const lines = run(
    {
      'se.yaml': reviewsService,
      'dr.yaml': `
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: reviews
        spec:
          host: reviews
          subsets:
          - {name: v1, labels: {version: v1}}
      `,
      'vs.yaml': `
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: reviews
        spec:
          hosts: [reviews]
          http:
          - match:
            - headers: {end-user: {exact: jason}}
            route:
            - destination: {host: reviews, subset: v1}
          - route:
            - destination: {host: reviews, subset: v1, port: {number: 9080}}
      `,
    },
    [
      gatewayAnalyzer,
      destinationHostAnalyzer,
      destinationSubsetAnalyzer,
      conflictingMeshHostsAnalyzer,
      unreachableRulesAnalyzer,
    ],
  );
  assert.deepEqual(lines, []);
});

test('unreachable rules: matches differing only inside (a header called "name") are not duplicates', () => {
  const lines = run(
    `
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata:
        name: api
      spec:
        hosts: [api]
        http:
        - match:
          - headers: {name: {exact: a}}
          route:
          - destination: {host: api}
        - match:
          - headers: {name: {exact: b}}
          route:
          - destination: {host: api}
    `,
    [unreachableRulesAnalyzer],
  );
  assert.deepEqual(lines, []);
});

test('gateway analyzer: a "./host" server serves only VirtualServices of the Gateway\'s namespace', () => {
  const lines = run(
    {
      'gw.yaml': `
        apiVersion: networking.istio.io/v1
        kind: Gateway
        metadata:
          name: shop-gw
          namespace: shop
        spec:
          selector: {istio: ingressgateway}
          servers:
          - port: {number: 80, name: http, protocol: HTTP}
            hosts: [./shop.example.com]
      `,
      'vs.yaml': `
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: same
          namespace: shop
        spec:
          hosts: [shop.example.com]
          gateways: [shop-gw]
          http:
          - route:
            - destination: {host: shop}
        ---
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: other
          namespace: elsewhere
        spec:
          hosts: [shop.example.com]
          gateways: [shop/shop-gw]
          http:
          - route:
            - destination: {host: shop}
      `,
    },
    [gatewayAnalyzer],
  );
  assert.deepEqual(lines, [
    'Warning [IST0132] (VirtualService elsewhere/other vs.yaml:20) Host "shop.example.com" of VirtualService elsewhere/other is not served by Gateway shop/shop-gw.',
  ]);
});
