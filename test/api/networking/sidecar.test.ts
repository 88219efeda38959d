import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeText } from '../../../src/api/decode.ts';
import type { Sidecar } from '../../../src/api/networking/sidecar.ts';
import { formatIssue } from '../../../src/api/yaml-document.ts';

function decode(spec: string, namespace = 'shop') {
  const yaml = `apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata:\n  name: sc\n  namespace: ${namespace}\nspec:\n${spec}`;
  const r = decodeText(yaml, 'sc.yaml', { defaultNamespace: 'default' });
  const lines = (severity: string) =>
    r.issues.filter((i) => i.severity === severity).map((i) => formatIssue(i));
  return {
    spec: r.documents[0]?.resource?.spec as Sidecar | undefined,
    errors: lines('error'),
    warnings: lines('warning'),
  };
}

describe('Sidecar ingress defaultEndpoint', () => {
  for (const endpoint of [
    '127.0.0.1:8080',
    '0.0.0.0:8080',
    '"[::1]:8080"',
    '"[::]:8080"',
    '":8080"',
    'unix:///var/run/app.sock',
    'unix://@app',
  ]) {
    it(`accepts ${endpoint}`, () => {
      const { errors } = decode(
        `  ingress:\n  - port: {number: 9080, protocol: HTTP, name: http}\n    defaultEndpoint: ${endpoint}\n`,
      );
      assert.deepEqual(errors, []);
    });
  }
  for (const endpoint of [
    'localhost:8080',
    '10.0.0.1:8080',
    '"127.0.0.1:"',
    '127.0.0.1:65536',
    '"[::1]8080"',
  ]) {
    it(`rejects ${endpoint}`, () => {
      const { errors } = decode(
        `  ingress:\n  - port: {number: 9080, protocol: HTTP, name: http}\n    defaultEndpoint: ${endpoint}\n`,
      );
      assert.equal(errors.length, 1);
      assert.match(errors[0], /spec\.ingress\[0\]\.defaultEndpoint: /);
    });
  }
});

describe('Sidecar egress hosts', () => {
  it('treats "." as the Sidecar namespace when looking for duplicates', () => {
    const { errors, warnings } = decode(
      '  egress:\n  - hosts: ["./*", "shop/cart.shop.svc.cluster.local"]\n',
    );
    assert.deepEqual(errors, []);
    assert.deepEqual(warnings, [
      'sc.yaml:8:20 spec.egress[0].hosts[1]: duplicate egress host "shop/cart.shop.svc.cluster.local": an earlier entry already covers it',
    ]);
  });

  it('does not confuse hosts of different namespaces', () => {
    const { errors, warnings } = decode(
      '  egress:\n  - hosts: ["./*", "istio-system/*", "*/api.example.com"]\n',
    );
    assert.deepEqual(errors, []);
    assert.deepEqual(warnings, []);
  });
});

describe('Sidecar egress listeners', () => {
  it('take a catch-all listener last, after listeners on ports and sockets', () => {
    const { spec, errors } = decode(
      '  egress:\n  - port: {number: 9080, protocol: HTTP, name: http}\n    hosts: ["./*"]\n  - port: {number: 0, protocol: HTTP, name: uds}\n    bind: unix://@egress\n    hosts: ["./*"]\n  - hosts: ["istio-system/*"]\n',
    );
    assert.deepEqual(errors, []);
    assert.equal(spec?.egress?.length, 3);
  });

  it('treat a port without a number as a unix socket listener, as Istio does', () => {
    const { errors } = decode('  egress:\n  - port: {protocol: HTTP, name: uds}\n    hosts: ["./*"]\n');
    assert.deepEqual(errors, [
      'sc.yaml:8:5 spec.egress[0].bind: a listener with port number 0 must bind a unix domain socket (unix:///path or unix://@name)',
    ]);
  });
});

describe('Sidecar outbound traffic policy', () => {
  it('accepts mode alone, and an egress proxy with ALLOW_ANY', () => {
    assert.deepEqual(decode('  outboundTrafficPolicy: {mode: ALLOW_ANY}\n').errors, []);
    assert.deepEqual(
      decode(
        '  outboundTrafficPolicy:\n    mode: ALLOW_ANY\n    egressProxy: {host: squid.egress.svc.cluster.local, port: {number: 3128}}\n',
      ).errors,
      [],
    );
  });
});
