import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  caCertificatesAnalyzer,
  conflictingDestinationRulesAnalyzer,
  destinationRuleTargetAnalyzer,
} from '../../../src/analysis/analyzers/destination-rule.ts';
import { run } from '../helpers.ts';

const reviews = `
  apiVersion: networking.istio.io/v1
  kind: ServiceEntry
  metadata:
    name: reviews
  spec:
    hosts: [reviews.default.svc.cluster.local]
    ports: [{number: 9080, name: http, protocol: HTTP}]
    resolution: STATIC
    workloadSelector:
      labels: {app: reviews}
  ---
  apiVersion: networking.istio.io/v1
  kind: WorkloadEntry
  metadata:
    name: reviews-v1
  spec:
    address: 127.0.0.1
    labels: {app: reviews, version: v1}
  ---
  apiVersion: networking.istio.io/v1
  kind: WorkloadEntry
  metadata:
    name: reviews-v2
  spec:
    address: 127.0.0.1
    labels: {app: reviews, version: v2}
`;

test('target analyzer: a DestinationRule for an unknown host is IST0174', () => {
  const lines = run(
    {
      'se.yaml': reviews,
      'dr.yaml': `
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: reveiws
        spec:
          host: reveiws
        ---
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: reviews
        spec:
          host: reviews
        ---
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: all-default
          namespace: istio-system
        spec:
          host: "*.default.svc.cluster.local"
        ---
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: nothing-there
        spec:
          host: "*.example.org"
      `,
    },
    [destinationRuleTargetAnalyzer],
  );
  assert.deepEqual(lines, [
    'Warning [IST0174] (DestinationRule default/nothing-there dr.yaml:28) The host "*.example.org" of this DestinationRule matches no service (ServiceEntry or Kubernetes Service) visible in namespace "default".',
    'Warning [IST0174] (DestinationRule default/reveiws dr.yaml:6) The host "reveiws" of this DestinationRule matches no service (ServiceEntry or Kubernetes Service) visible in namespace "default".',
  ]);
});

test('target analyzer: a subset that selects none of the service instances is IST0173', () => {
  const lines = run(
    {
      'se.yaml': reviews,
      'dr.yaml': `
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: reviews
        spec:
          host: reviews
          subsets:
          - name: v1
            labels: {version: v1}
          - name: v3
            labels: {version: v3}
          - name: all
      `,
    },
    [destinationRuleTargetAnalyzer],
  );
  assert.deepEqual(lines, [
    'Error [IST0173] (DestinationRule default/reviews dr.yaml:11) Subset "v3" (version=v3) selects none of the 2 instances of "reviews.default.svc.cluster.local"; requests routed to it fail with 503 (no healthy upstream).',
  ]);
});

test('target analyzer: Kubernetes Services select Pods and workload templates; unknown instances are not judged', () => {
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
          ports: [{name: http, port: 9080}]
        ---
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: ratings-v1
        spec:
          selector:
            matchLabels: {app: ratings, version: v1}
          template:
            metadata:
              labels: {app: ratings, version: v1}
            spec:
              containers: [{name: ratings, image: ratings:1}]
        ---
        apiVersion: v1
        kind: Pod
        metadata:
          name: ratings-v2-abc
          labels: {app: ratings, version: v2}
        spec:
          containers: [{name: ratings, image: ratings:2}]
        ---
        apiVersion: networking.istio.io/v1
        kind: ServiceEntry
        metadata:
          name: external
        spec:
          hosts: [api.example.com]
          ports: [{number: 443, name: tls, protocol: TLS}]
          resolution: DNS
          location: MESH_EXTERNAL
      `,
      'dr.yaml': `
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: ratings
        spec:
          host: ratings
          subsets:
          - {name: v1, labels: {version: v1}}
          - {name: v2, labels: {version: v2}}
          - {name: v3, labels: {version: v3}}
        ---
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: external
        spec:
          host: api.example.com
          subsets:
          - {name: eu, labels: {region: eu}}
      `,
    },
    [destinationRuleTargetAnalyzer],
  );
  assert.deepEqual(lines, [
    'Error [IST0173] (DestinationRule default/ratings dr.yaml:10) Subset "v3" (version=v3) selects none of the 2 instances of "ratings.default.svc.cluster.local"; requests routed to it fail with 503 (no healthy upstream).',
  ]);
});

test('conflicting DestinationRules: a repeated subset or a second traffic policy for one host is MZN0001', () => {
  const lines = run(
    {
      'se.yaml': reviews,
      'dr.yaml': `
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: reviews-a
        spec:
          host: reviews
          trafficPolicy:
            loadBalancer: {simple: ROUND_ROBIN}
          subsets:
          - {name: v1, labels: {version: v1}}
        ---
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: reviews-b
        spec:
          host: reviews.default.svc.cluster.local
          trafficPolicy:
            loadBalancer: {simple: LEAST_REQUEST}
          subsets:
          - {name: v1, labels: {version: v1}}
          - {name: v2, labels: {version: v2}}
      `,
    },
    [conflictingDestinationRulesAnalyzer],
  );
  assert.deepEqual(lines, [
    'Warning [MZN0001] (DestinationRule default/reviews-b dr.yaml:18) DestinationRule default/reviews-a also sets a traffic policy for host "reviews.default.svc.cluster.local"; only one of them is used.',
    'Warning [MZN0001] (DestinationRule default/reviews-b dr.yaml:21) Subset "v1" of host "reviews.default.svc.cluster.local" is also defined by DestinationRule default/reviews-a; only one definition is used.',
  ]);
});

test('conflicting DestinationRules: rules that split subsets, or live in other namespaces or select workloads, merge cleanly', () => {
  const lines = run(
    {
      'se.yaml': reviews,
      'dr.yaml': `
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: reviews-v1
        spec:
          host: reviews
          subsets:
          - {name: v1, labels: {version: v1}}
        ---
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: reviews-v2
        spec:
          host: reviews
          trafficPolicy:
            loadBalancer: {simple: LEAST_REQUEST}
          subsets:
          - {name: v2, labels: {version: v2}}
        ---
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: reviews
          namespace: client
        spec:
          host: reviews.default.svc.cluster.local
          trafficPolicy:
            loadBalancer: {simple: ROUND_ROBIN}
          subsets:
          - {name: v1, labels: {version: v1}}
        ---
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: reviews-for-canary
        spec:
          host: reviews
          workloadSelector:
            matchLabels: {app: canary}
          trafficPolicy:
            loadBalancer: {simple: RANDOM}
      `,
    },
    [conflictingDestinationRulesAnalyzer],
  );
  assert.deepEqual(lines, []);
});

test('CA certificates: SIMPLE/MUTUAL TLS without caCertificates is IST0128 (host) or IST0129 (port)', () => {
  const lines = run(
    {
      'se.yaml': `
        apiVersion: networking.istio.io/v1
        kind: ServiceEntry
        metadata:
          name: api
        spec:
          hosts: [api.example.com]
          ports:
          - {number: 443, name: https, protocol: HTTPS}
          - {number: 80, name: http, protocol: HTTP}
          resolution: DNS
          location: MESH_EXTERNAL
      `,
      'dr.yaml': `
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: api
        spec:
          host: api.example.com
          trafficPolicy:
            tls:
              mode: SIMPLE
            portLevelSettings:
            - port: {number: 80}
              tls:
                mode: MUTUAL
                clientCertificate: /etc/certs/client.pem
                privateKey: /etc/certs/key.pem
            - port: {number: 443}
              tls:
                mode: SIMPLE
                caCertificates: /etc/ssl/certs/ca-certificates.crt
        ---
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: api-verified
          namespace: other
        spec:
          host: api.example.com
          trafficPolicy:
            tls:
              mode: SIMPLE
              credentialName: api-ca
          subsets:
          - name: insecure
            trafficPolicy:
              tls: {mode: SIMPLE, insecureSkipVerify: true}
          - name: mesh
            trafficPolicy:
              tls: {mode: ISTIO_MUTUAL}
          - name: unverified
            trafficPolicy:
              tls: {mode: SIMPLE}
      `,
    },
    [caCertificatesAnalyzer],
  );
  assert.deepEqual(lines, [
    'Warning [IST0128] (DestinationRule default/api dr.yaml:9) DestinationRule default/api originates TLS (mode SIMPLE) to host "api.example.com" without caCertificates, so the server\'s certificate is not verified.',
    'Warning [IST0128] (DestinationRule other/api-verified dr.yaml:41) DestinationRule other/api-verified originates TLS (mode SIMPLE) to subset "unverified" of host "api.example.com" without caCertificates, so the server\'s certificate is not verified.',
    'Warning [IST0129] (DestinationRule default/api dr.yaml:13) DestinationRule default/api originates TLS (mode MUTUAL) to host "api.example.com" port 80 without caCertificates, so the server\'s certificate is not verified.',
  ]);
});
