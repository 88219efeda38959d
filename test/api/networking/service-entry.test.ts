import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeText } from '../../../src/api/decode.ts';
import {
  type ServiceEntry,
  serviceEntryLocation,
  serviceEntryResolution,
} from '../../../src/api/networking/service-entry.ts';
import { formatIssue } from '../../../src/api/yaml-document.ts';

function decode(spec: string, version = 'v1') {
  const yaml = `apiVersion: networking.istio.io/${version}\nkind: ServiceEntry\nmetadata:\n  name: se\n  namespace: shop\nspec:\n${spec}`;
  const r = decodeText(yaml, 'se.yaml', { defaultNamespace: 'default' });
  const lines = (severity: string) =>
    r.issues.filter((i) => i.severity === severity).map((i) => formatIssue(i));
  return {
    spec: r.documents[0]?.resource?.spec as ServiceEntry | undefined,
    errors: lines('error'),
    warnings: lines('warning'),
  };
}

describe('ServiceEntry model', () => {
  it('keeps endpoints as WorkloadEntries and applies Istio defaults through helpers', () => {
    const { spec, errors } = decode(
      '  hosts: [api.example.com]\n  ports:\n  - {number: 443, name: https, protocol: TLS}\n  resolution: DNS\n  endpoints:\n  - address: edge.example.com\n    ports: {https: "8443"}\n',
    );
    assert.deepEqual(errors, []);
    assert.ok(spec);
    assert.deepEqual(spec.endpoints, [{ address: 'edge.example.com', ports: { https: 8443 } }]);
    assert.equal(serviceEntryResolution(spec), 'DNS');
    assert.equal(serviceEntryLocation(spec), 'MESH_EXTERNAL');
    assert.equal(serviceEntryResolution({ hosts: ['a.example.com'] }), 'NONE');
  });

  it('is the same in v1alpha3', () => {
    const body = '  hosts: [a.example.com]\n  ports:\n  - {number: 443, name: tls, protocol: TLS}\n';
    assert.deepEqual(decode(body, 'v1alpha3').spec, decode(body).spec);
  });
});

describe('ServiceEntry limits from the CRD', () => {
  it('allows at most 256 hosts', () => {
    const hosts = Array.from({ length: 257 }, (_, i) => `h${i}.example.com`).join(', ');
    const { errors } = decode(
      `  hosts: [${hosts}]\n  ports:\n  - {number: 80, name: http, protocol: HTTP}\n`,
    );
    assert.deepEqual(errors, ['se.yaml:7:3 spec.hosts: 257 entries are too many; at most 256 are allowed']);
  });

  it('allows at most 64 characters per address', () => {
    const { errors } = decode(`  hosts: [a.example.com]\n  addresses: ["${'1'.repeat(65)}"]\n`);
    assert.deepEqual(errors, [
      'se.yaml:8:15 spec.addresses[0]: the value is 65 characters long; at most 64 are allowed',
    ]);
  });
});

describe('resolution rules', () => {
  it('accept DNS endpoints given as IPv6 addresses and names', () => {
    const { errors } = decode(
      '  hosts: ["*.example.com"]\n  ports:\n  - {number: 80, name: http, protocol: HTTP}\n  resolution: DNS\n  endpoints:\n  - address: "2001:db8::10"\n  - address: backend.example.com\n',
    );
    assert.deepEqual(errors, []);
  });

  it('check every host without endpoints in DNS mode, but only once per bad host', () => {
    const { errors } = decode(
      '  hosts: ["*.example.com", "api_v1.example.com"]\n  ports:\n  - {number: 80, name: http, protocol: HTTP}\n  resolution: DNS\n',
    );
    assert.equal(errors.length, 2);
    assert.match(errors[0], /hosts\[1\]: "api_v1.example.com" is not a valid host name/);
    assert.match(errors[1], /hosts\[0\]: "\*.example.com": resolution DNS without endpoints/);
  });

  it('allow several hosts on HTTP and TLS ports, and with resolution NONE on any port', () => {
    const hosts = '  hosts: [a.example.com, b.example.com]\n';
    assert.deepEqual(
      decode(
        `${hosts}  ports:\n  - {number: 80, name: http, protocol: HTTP}\n  - {number: 443, name: tls, protocol: TLS}\n  resolution: DNS\n`,
      ).errors,
      [],
    );
    assert.deepEqual(
      decode(`${hosts}  addresses: [10.0.0.0/24]\n  ports:\n  - {number: 5432, name: pg, protocol: TCP}\n`)
        .errors,
      [],
    );
  });
});
