import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sidecarEgressAnalyzer } from '../../../src/analysis/analyzers/sidecar.ts';
import { run } from '../helpers.ts';

const services = `
  apiVersion: networking.istio.io/v1
  kind: ServiceEntry
  metadata:
    name: ratings
    namespace: shop
  spec:
    hosts: [ratings.shop.svc.cluster.local]
    ports: [{number: 9080, name: http, protocol: HTTP}]
    resolution: STATIC
    endpoints: [{address: 127.0.0.1}]
  ---
  apiVersion: networking.istio.io/v1
  kind: ServiceEntry
  metadata:
    name: wiki
    namespace: egress
  spec:
    hosts: ["*.wikipedia.org"]
    ports: [{number: 443, name: tls, protocol: TLS}]
    resolution: NONE
    location: MESH_EXTERNAL
  ---
  apiVersion: v1
  kind: Service
  metadata:
    name: db
    namespace: data
    annotations:
      networking.istio.io/exportTo: data
  spec:
    ports: [{name: tcp, port: 5432}]
`;

test('sidecar egress: hosts must be services of the namespace they name, visible to the Sidecar', () => {
  const lines = run(
    {
      'services.yaml': services,
      'sidecar.yaml': `
        apiVersion: networking.istio.io/v1
        kind: Sidecar
        metadata:
          name: default
          namespace: shop
        spec:
          egress:
          - hosts:
            - ./ratings.shop.svc.cluster.local
            - "*/ratings.shop.svc.cluster.local"
            - egress/en.wikipedia.org
            - ./*
            - "istio-system/*"
            - "~/*"
            - ./ratingz.shop.svc.cluster.local
            - other/ratings.shop.svc.cluster.local
            - data/db.data.svc.cluster.local
      `,
    },
    [sidecarEgressAnalyzer],
  );
  assert.deepEqual(lines, [
    'Error [IST0101] (Sidecar shop/default sidecar.yaml:15) Referenced egress host not found: "./ratingz.shop.svc.cluster.local"',
    'Error [IST0101] (Sidecar shop/default sidecar.yaml:16) Referenced egress host not found: "other/ratings.shop.svc.cluster.local"',
    'Error [IST0101] (Sidecar shop/default sidecar.yaml:17) Referenced egress host not found: "data/db.data.svc.cluster.local"',
  ]);
});
