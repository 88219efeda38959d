import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  policySelectorAnalyzer,
  sidecarSelectorAnalyzer,
  telemetrySelectorAnalyzer,
} from '../../../src/analysis/analyzers/selectors.ts';
import { run } from '../helpers.ts';

const workloads = `
  apiVersion: networking.istio.io/v1
  kind: WorkloadEntry
  metadata:
    name: ratings-v1
    namespace: shop
  spec:
    address: 127.0.0.1
    labels: {app: ratings, version: v1}
  ---
  apiVersion: apps/v1
  kind: StatefulSet
  metadata:
    name: db
    namespace: shop
  spec:
    selector: {matchLabels: {app: db}}
    serviceName: db
    template:
      metadata:
        labels: {app: db}
      spec:
        containers: [{name: db, image: db:1}]
  ---
  apiVersion: batch/v1
  kind: CronJob
  metadata:
    name: backup
    namespace: shop
  spec:
    schedule: "0 * * * *"
    jobTemplate:
      spec:
        template:
          metadata:
            labels: {app: backup}
          spec:
            containers: [{name: backup, image: backup:1}]
  ---
  apiVersion: v1
  kind: Pod
  metadata:
    name: web
    namespace: front
    labels: {app: web}
  spec:
    containers: [{name: web, image: web:1}]
`;

test('policy selectors: AuthorizationPolicy and PeerAuthentication selecting no workload are IST0127', () => {
  const lines = run(
    {
      'workloads.yaml': workloads,
      'policies.yaml': `
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata:
          name: ratings
          namespace: shop
        spec:
          selector:
            matchLabels: {app: ratings}
          rules:
          - from: [{source: {namespaces: [shop]}}]
        ---
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata:
          name: typo
          namespace: shop
        spec:
          selector:
            matchLabels: {app: ratngs}
          rules:
          - {}
        ---
        apiVersion: security.istio.io/v1
        kind: PeerAuthentication
        metadata:
          name: web
          namespace: shop
        spec:
          selector:
            matchLabels: {app: web}
          mtls: {mode: STRICT}
        ---
        apiVersion: security.istio.io/v1
        kind: PeerAuthentication
        metadata:
          name: db
          namespace: shop
        spec:
          selector:
            matchLabels: {app: db}
          mtls: {mode: STRICT}
        ---
        apiVersion: security.istio.io/v1
        kind: RequestAuthentication
        metadata:
          name: backup
          namespace: shop
        spec:
          selector:
            matchLabels: {app: backup}
          jwtRules:
          - issuer: https://issuer.example.com
            jwksUri: https://issuer.example.com/jwks
        ---
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata:
          name: web-everywhere
          namespace: istio-system
        spec:
          selector:
            matchLabels: {app: web}
          action: DENY
          rules:
          - to: [{operation: {paths: [/admin]}}]
        ---
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata:
          name: namespace-wide
          namespace: shop
        spec: {}
      `,
    },
    [policySelectorAnalyzer],
  );
  assert.deepEqual(lines, [
    'Warning [IST0127] (AuthorizationPolicy shop/typo policies.yaml:19) No workload in namespace "shop" has the labels app=ratngs this AuthorizationPolicy selects; it applies to nothing.',
    'Warning [IST0127] (PeerAuthentication shop/web policies.yaml:30) No workload in namespace "shop" has the labels app=web this PeerAuthentication selects; it applies to nothing.',
  ]);
});

test('sidecar selectors: a selector matching no workload is IST0101', () => {
  const lines = run(
    {
      'workloads.yaml': workloads,
      'sidecars.yaml': `
        apiVersion: networking.istio.io/v1
        kind: Sidecar
        metadata:
          name: ratings
          namespace: shop
        spec:
          workloadSelector:
            labels: {app: ratings}
          egress:
          - hosts: ["./*"]
        ---
        apiVersion: networking.istio.io/v1
        kind: Sidecar
        metadata:
          name: web
          namespace: shop
        spec:
          workloadSelector:
            labels: {app: web}
          egress:
          - hosts: ["./*"]
      `,
    },
    [sidecarSelectorAnalyzer],
  );
  assert.deepEqual(lines, [
    'Error [IST0101] (Sidecar shop/web sidecars.yaml:19) Referenced selector not found: "app=web"',
  ]);
});

test('sidecar selectors: two Sidecars without selector in a namespace are IST0111, two for one workload IST0110', () => {
  const lines = run(
    {
      'workloads.yaml': workloads,
      'sidecars.yaml': `
        apiVersion: networking.istio.io/v1
        kind: Sidecar
        metadata:
          name: default
          namespace: shop
        spec:
          egress:
          - hosts: ["./*"]
        ---
        apiVersion: networking.istio.io/v1
        kind: Sidecar
        metadata:
          name: also-default
          namespace: shop
        spec:
          egress:
          - hosts: ["istio-system/*"]
        ---
        apiVersion: networking.istio.io/v1
        kind: Sidecar
        metadata:
          name: default
          namespace: front
        spec:
          egress:
          - hosts: ["./*"]
        ---
        apiVersion: networking.istio.io/v1
        kind: Sidecar
        metadata:
          name: ratings
          namespace: shop
        spec:
          workloadSelector:
            labels: {app: ratings}
          egress:
          - hosts: ["./*"]
        ---
        apiVersion: networking.istio.io/v1
        kind: Sidecar
        metadata:
          name: ratings-v1
          namespace: shop
        spec:
          workloadSelector:
            labels: {version: v1}
          egress:
          - hosts: ["./*"]
      `,
    },
    [sidecarSelectorAnalyzer],
  );
  assert.deepEqual(lines, [
    'Error [IST0110] (Sidecar shop/ratings sidecars.yaml:35) The Sidecars shop/ratings, shop/ratings-v1 in namespace "shop" all select WorkloadEntry "ratings-v1"; only one of them applies, which one is undefined.',
    'Error [IST0110] (Sidecar shop/ratings-v1 sidecars.yaml:46) The Sidecars shop/ratings, shop/ratings-v1 in namespace "shop" all select WorkloadEntry "ratings-v1"; only one of them applies, which one is undefined.',
    'Error [IST0111] (Sidecar shop/also-default sidecars.yaml:10) The Sidecars shop/also-default, shop/default in namespace "shop" have no workload selector; only one of them applies, which one is undefined.',
    'Error [IST0111] (Sidecar shop/default sidecars.yaml:1) The Sidecars shop/also-default, shop/default in namespace "shop" have no workload selector; only one of them applies, which one is undefined.',
  ]);
});

test('telemetry selectors: IST0160 for two namespace-wide Telemetries, IST0159 for two on one workload', () => {
  const lines = run(
    {
      'workloads.yaml': workloads,
      'telemetry.yaml': `
        apiVersion: telemetry.istio.io/v1
        kind: Telemetry
        metadata:
          name: logs
          namespace: shop
        spec:
          accessLogging: [{providers: [{name: envoy}]}]
        ---
        apiVersion: telemetry.istio.io/v1
        kind: Telemetry
        metadata:
          name: traces
          namespace: shop
        spec:
          tracing: [{randomSamplingPercentage: 10}]
        ---
        apiVersion: telemetry.istio.io/v1
        kind: Telemetry
        metadata:
          name: db-a
          namespace: shop
        spec:
          selector:
            matchLabels: {app: db}
          tracing: [{disableSpanReporting: true}]
        ---
        apiVersion: telemetry.istio.io/v1
        kind: Telemetry
        metadata:
          name: db-b
          namespace: shop
        spec:
          selector:
            matchLabels: {app: db}
          accessLogging: [{disabled: true}]
      `,
    },
    [telemetrySelectorAnalyzer],
  );
  assert.deepEqual(lines, [
    'Error [IST0159] (Telemetry shop/db-a telemetry.yaml:24) The Telemetries shop/db-a, shop/db-b in namespace "shop" all select StatefulSet "db"; only one of them applies, which one is undefined.',
    'Error [IST0159] (Telemetry shop/db-b telemetry.yaml:34) The Telemetries shop/db-a, shop/db-b in namespace "shop" all select StatefulSet "db"; only one of them applies, which one is undefined.',
    'Error [IST0160] (Telemetry shop/logs telemetry.yaml:1) The Telemetries shop/logs, shop/traces in namespace "shop" have no workload selector; only one of them applies, which one is undefined.',
    'Error [IST0160] (Telemetry shop/traces telemetry.yaml:9) The Telemetries shop/logs, shop/traces in namespace "shop" have no workload selector; only one of them applies, which one is undefined.',
  ]);
});

test('telemetry selectors: a Telemetry with targetRefs is not a namespace default', () => {
  const lines = run(
    `
      apiVersion: telemetry.istio.io/v1
      kind: Telemetry
      metadata:
        name: default
        namespace: shop
      spec:
        accessLogging: [{providers: [{name: envoy}]}]
      ---
      apiVersion: telemetry.istio.io/v1
      kind: Telemetry
      metadata:
        name: gateway
        namespace: shop
      spec:
        targetRefs:
        - {group: gateway.networking.k8s.io, kind: Gateway, name: shop-gw}
        tracing: [{randomSamplingPercentage: 100}]
    `,
    [telemetrySelectorAnalyzer],
  );
  assert.deepEqual(lines, []);
});
