/**
 * Service targets from an indexed snapshot: a workload meets only the ServiceEntries of its
 * namespace whose selector can match it (multi-label and empty selectors included), targets
 * come out in the entries' order, and a snapshot answers from its own data after the registry
 * has moved on.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeText } from '../../../src/api/decode.ts';
import type { ConfigResource } from '../../../src/api/resource.ts';
import type { ProxyIdentity } from '../../../src/registry/model.ts';
import { ServiceEntryRegistry } from '../../../src/registry/serviceentry/registry.ts';
import { assertNoOpenHandles } from '../../support/fake-mizzend.ts';

function decode(yaml: string): ConfigResource {
  const d = decodeText(yaml, 'test.yaml', { defaultNamespace: 'default' });
  assert.deepEqual(
    d.issues.filter((i) => i.severity === 'error'),
    [],
  );
  return d.documents[0].resource as ConfigResource;
}

const quiet = {
  serviceUpdate: () => {},
  endpointUpdate: () => {},
  endpointCacheUpdate: () => {},
  configUpdate: () => {},
};

function serviceEntry(name: string, ns: string, port: number, selector: string): ConfigResource {
  return decode(`
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${name}, namespace: ${ns}}
spec:
  hosts: [${name}.${ns}.example.com]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: ${port}, name: http-${port}, protocol: HTTP}]
  workloadSelector: {labels: ${selector}}
`);
}

function workloadEntry(name: string, ns: string, address: string, labels: string): ConfigResource {
  return decode(`
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: ${name}, namespace: ${ns}}
spec: {address: ${address}, labels: ${labels}}
`);
}

const at = (ip: string, namespace = 'shop'): ProxyIdentity => ({ ipAddresses: [ip], namespace, labels: {} });

test('a workload is a target of exactly the entries of its namespace whose selector matches it', () => {
  const reg = new ServiceEntryRegistry({ updater: quiet });
  reg.applyServiceEntry(undefined, serviceEntry('cart', 'shop', 8001, '{app: cart}') as never);
  reg.applyServiceEntry(
    undefined,
    serviceEntry('cart-v2', 'shop', 8002, '{app: cart, version: v2}') as never,
  );
  reg.applyServiceEntry(
    undefined,
    serviceEntry('canary', 'shop', 8003, '{version: v2, track: canary}') as never,
  );
  reg.applyServiceEntry(undefined, serviceEntry('everyone', 'shop', 8004, '{}') as never);
  reg.applyServiceEntry(undefined, serviceEntry('cart', 'other', 8005, '{app: cart}') as never);
  reg.applyWorkloadEntry(
    undefined,
    workloadEntry('cart-1', 'shop', '10.1.0.1', '{app: cart, version: v1}') as never,
  );
  reg.applyWorkloadEntry(
    undefined,
    workloadEntry('cart-2', 'shop', '10.1.0.2', '{app: cart, version: v2}') as never,
  );
  reg.applyWorkloadEntry(
    undefined,
    workloadEntry('cart-3', 'shop', '10.1.0.3', '{app: cart, version: v2, track: canary}') as never,
  );
  const ports = (ip: string) =>
    reg
      .snapshot()
      .serviceTargets(at(ip))
      .map((t) => t.port.port);
  assert.deepEqual(ports('10.1.0.1'), [8001, 8004]);
  assert.deepEqual(ports('10.1.0.2'), [8001, 8002, 8004]);
  assert.deepEqual(ports('10.1.0.3'), [8001, 8002, 8003, 8004]);
  assert.deepEqual(ports('10.9.9.9'), []);
});

test('a snapshot keeps answering from its own data after the registry changes', () => {
  const reg = new ServiceEntryRegistry({ updater: quiet });
  reg.applyServiceEntry(undefined, serviceEntry('cart', 'shop', 8001, '{app: cart}') as never);
  reg.applyWorkloadEntry(undefined, workloadEntry('cart-1', 'shop', '10.1.0.1', '{app: cart}') as never);
  const before = reg.snapshot();
  const se = serviceEntry('cart', 'shop', 8001, '{app: cart}');
  reg.applyServiceEntry(se as never, undefined);
  assert.deepEqual(reg.snapshot().serviceTargets(at('10.1.0.1')), [], 'the current snapshot has no cart');
  assert.deepEqual(
    before.serviceTargets(at('10.1.0.1')).map((t) => t.service.hostname),
    ['cart.shop.example.com'],
    'the old one still has it',
  );
});

test('leaves no open handles', () => assertNoOpenHandles());
