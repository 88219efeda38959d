import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  serviceEntryAddressesAnalyzer,
  serviceEntryProtocolAnalyzer,
} from '../../../src/analysis/analyzers/service-entry.ts';
import { run } from '../helpers.ts';

test('ServiceEntry addresses: TCP or protocol-less ports need addresses (IST0134)', () => {
  const lines = run(
    `
      apiVersion: networking.istio.io/v1
      kind: ServiceEntry
      metadata:
        name: db
      spec:
        hosts: [db.example.com]
        ports:
        - {number: 5432, name: tcp-postgres, protocol: TCP}
        - {number: 8080, name: http, protocol: HTTP}
        resolution: DNS
        location: MESH_EXTERNAL
      ---
      apiVersion: networking.istio.io/v1
      kind: ServiceEntry
      metadata:
        name: db-with-vip
      spec:
        hosts: [db2.example.com]
        addresses: [240.0.0.10]
        ports:
        - {number: 5432, name: tcp-postgres, protocol: TCP}
        resolution: DNS
        location: MESH_EXTERNAL
    `,
    [serviceEntryAddressesAnalyzer],
  );
  assert.deepEqual(lines, [
    'Warning [IST0134] (ServiceEntry default/db config.yaml:8) Port 5432 is TCP but the ServiceEntry has no addresses; without an address, traffic to the port cannot be told apart from other TCP services on it.',
  ]);
});

test('ServiceEntry protocols: one host and port with different protocols in two ServiceEntries is IST0177', () => {
  const lines = run(
    `
      apiVersion: networking.istio.io/v1
      kind: ServiceEntry
      metadata:
        name: api-http
      spec:
        hosts: [api.example.com]
        ports: [{number: 443, name: http, protocol: HTTP}]
        resolution: DNS
      ---
      apiVersion: networking.istio.io/v1
      kind: ServiceEntry
      metadata:
        name: api-tls
      spec:
        hosts: [api.example.com]
        ports: [{number: 443, name: tls, protocol: TLS}]
        resolution: DNS
      ---
      apiVersion: networking.istio.io/v1
      kind: ServiceEntry
      metadata:
        name: internal-a
        namespace: a
      spec:
        hosts: [internal.example.com]
        exportTo: ["."]
        ports: [{number: 8443, name: grpc, protocol: GRPC}]
        resolution: DNS
      ---
      apiVersion: networking.istio.io/v1
      kind: ServiceEntry
      metadata:
        name: internal-b
        namespace: b
      spec:
        hosts: [internal.example.com]
        exportTo: ["."]
        ports: [{number: 8443, name: https, protocol: HTTPS}]
        resolution: DNS
    `,
    [serviceEntryProtocolAnalyzer],
  );
  assert.deepEqual(lines, [
    'Warning [IST0177] (ServiceEntry default/api-http config.yaml:7) ServiceEntries default/api-http, default/api-tls define host "api.example.com" port 443 with different protocols (HTTP, TLS); only one protocol is used.',
    'Warning [IST0177] (ServiceEntry default/api-tls config.yaml:16) ServiceEntries default/api-http, default/api-tls define host "api.example.com" port 443 with different protocols (HTTP, TLS); only one protocol is used.',
  ]);
});

test('ServiceEntry protocols: a namespace-private ServiceEntry conflicts with a public one it can see', () => {
  const lines = run(
    `
      apiVersion: networking.istio.io/v1
      kind: ServiceEntry
      metadata:
        name: api
      spec:
        hosts: [api.example.com]
        ports: [{number: 443, name: tls, protocol: TLS}]
        resolution: DNS
      ---
      apiVersion: networking.istio.io/v1
      kind: ServiceEntry
      metadata:
        name: api
        namespace: team
      spec:
        hosts: [api.example.com]
        exportTo: ["."]
        ports: [{number: 443, name: https, protocol: HTTPS}]
        resolution: DNS
    `,
    [serviceEntryProtocolAnalyzer],
  );
  assert.deepEqual(lines, [
    'Warning [IST0177] (ServiceEntry default/api config.yaml:7) ServiceEntries default/api, team/api define host "api.example.com" port 443 with different protocols (HTTPS, TLS); only one protocol is used.',
    'Warning [IST0177] (ServiceEntry team/api config.yaml:18) ServiceEntries default/api, team/api define host "api.example.com" port 443 with different protocols (HTTPS, TLS); only one protocol is used.',
  ]);
});
