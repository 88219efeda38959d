import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeText } from '../../../src/api/decode.ts';
import {
  validateWorkloadEntryFields,
  type WorkloadEntry,
  type WorkloadEntryRules,
} from '../../../src/api/networking/workload-entry.ts';
import { Issues } from '../../../src/api/validation.ts';

function check(we: WorkloadEntry, rules: WorkloadEntryRules): { errors: string[]; warnings: string[] } {
  const issues = new Issues();
  validateWorkloadEntryFields(we, ['spec'], issues, rules);
  return { errors: issues.errors.map((i) => i.message), warnings: issues.warnings.map((i) => i.message) };
}

describe('WorkloadEntry addresses by context', () => {
  const cases: [string, WorkloadEntryRules['address'], boolean][] = [
    ['10.0.0.1', 'standalone', true],
    ['2001:db8::1', 'standalone', true],
    ['vm-1.example.com', 'standalone', true],
    ['unix:///var/run/app.sock', 'standalone', true],
    ['10.0.0.1', 'static', true],
    ['vm-1.example.com', 'static', false],
    ['unix://@app', 'static', true],
    ['vm-1.example.com', 'dns', true],
    ['unix:///var/run/app.sock', 'dns', false],
    ['10.0.0.1:8080', 'standalone', false],
    ['[2001:db8::1]:8080', 'standalone', false],
    ['bad_name.example.com', 'dns', false],
  ];
  for (const [address, kind, ok] of cases) {
    it(`${address} is ${ok ? 'accepted' : 'rejected'} as a ${kind} address`, () => {
      assert.equal(check({ address }, { address: kind }).errors.length, ok ? 0 : 1);
    });
  }

  it('needs an address, or a network (with a warning), except in a template', () => {
    assert.equal(check({}, { address: 'standalone' }).errors.length, 1);
    assert.deepEqual(check({ network: 'n2' }, { address: 'standalone' }), {
      errors: [],
      warnings: ['address is not set: the workload is reached only through the gateway of network "n2"'],
    });
    assert.equal(check({ network: 'n2' }, { address: 'dns' }).errors.length, 1);
    assert.deepEqual(check({}, { address: 'template' }), { errors: [], warnings: [] });
  });

  it('checks port names against the ServiceEntry ports when given', () => {
    const servicePorts = new Set(['http']);
    assert.deepEqual(
      check({ address: '10.0.0.1', ports: { http: 8080 } }, { address: 'static', servicePorts }).errors,
      [],
    );
    assert.deepEqual(
      check({ address: '10.0.0.1', ports: { grpc: 9090 } }, { address: 'static', servicePorts }).errors,
      ['port name "grpc" is not one of the ServiceEntry\'s ports (declared: "http")'],
    );
    // A standalone entry is not tied to one ServiceEntry.
    assert.deepEqual(
      check({ address: '10.0.0.1', ports: { grpc: 9090 } }, { address: 'standalone' }).errors,
      [],
    );
  });
});

describe('WorkloadEntry decoding', () => {
  it('reads proto3 JSON (numbers as strings) into numbers', () => {
    const json = JSON.stringify({
      apiVersion: 'networking.istio.io/v1beta1',
      kind: 'WorkloadEntry',
      metadata: { name: 'vm', namespace: 'bookinfo' },
      spec: { address: '10.0.0.1', ports: { http: '8080' }, weight: '3' },
    });
    const r = decodeText(json, 'we.json', { defaultNamespace: 'default' });
    assert.deepEqual(r.issues, []);
    assert.deepEqual(r.documents[0].resource?.spec, {
      address: '10.0.0.1',
      ports: { http: 8080 },
      weight: 3,
    });
  });
});
