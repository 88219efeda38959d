import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeText } from '../../../src/api/decode.ts';
import { type Gateway, validateServerTlsSettings } from '../../../src/api/networking/gateway.ts';
import {
  isHttpProtocol,
  isTcpProtocol,
  isTlsProtocol,
  parseProtocol,
  unixAddressProblem,
  validateNamespacedHost,
} from '../../../src/api/networking/validate-gateway.ts';
import { Issues } from '../../../src/api/validation.ts';
import { formatIssue } from '../../../src/api/yaml-document.ts';

function decode(yaml: string) {
  const r = decodeText(yaml, 'gw.yaml', { defaultNamespace: 'default' });
  const lines = (severity: string) => r.issues.filter((i) => i.severity === severity).map(formatIssue);
  return { resource: r.documents[0]?.resource, errors: lines('error'), warnings: lines('warning') };
}

function gateway(version: string, servers: string): string {
  return `apiVersion: networking.istio.io/${version}\nkind: Gateway\nmetadata:\n  name: gw\nspec:\n  servers:\n${servers}`;
}

describe('Gateway model', () => {
  it('is the same normalized spec in v1, v1beta1 and v1alpha3', () => {
    const servers =
      '  - port: {number: "443", name: https, protocol: HTTPS}\n    hosts: ["*.example.com"]\n    tls: {mode: SIMPLE, credentialName: cert}\n';
    const specs = ['v1', 'v1beta1', 'v1alpha3'].map((v) => {
      const { resource, errors } = decode(gateway(v, servers));
      assert.deepEqual(errors, []);
      assert.equal(resource?.version, v);
      return resource?.spec as Gateway;
    });
    // proto3 JSON writes integers as strings; the model holds numbers.
    assert.equal(specs[0].servers?.[0].port.number, 443);
    assert.deepEqual(specs[1], specs[0]);
    assert.deepEqual(specs[2], specs[0]);
  });
});

describe('port protocols', () => {
  it('parse case-insensitively to Istio canonical names', () => {
    assert.equal(parseProtocol('https'), 'HTTPS');
    assert.equal(parseProtocol('grpc-web'), 'GRPC-Web');
    assert.equal(parseProtocol('MySQL'), 'MySQL');
    assert.equal(parseProtocol('ftp'), undefined);
    assert.equal(parseProtocol(undefined), undefined);
  });

  it('classify as Istio does', () => {
    assert.deepEqual(
      ['HTTP', 'HTTP2', 'GRPC', 'HTTP_PROXY', 'HTTPS', 'TCP'].map((p) => isHttpProtocol(parseProtocol(p))),
      [true, true, true, true, false, false],
    );
    assert.deepEqual(
      ['HTTPS', 'TLS', 'HTTP', 'TCP'].map((p) => isTlsProtocol(parseProtocol(p))),
      [true, true, false, false],
    );
    assert.deepEqual(
      ['TCP', 'TLS', 'MONGO', 'HTTP', 'UDP'].map((p) => isTcpProtocol(parseProtocol(p))),
      [true, true, true, false, false],
    );
  });
});

describe('namespace/host entries', () => {
  const check = (entry: string, owner: 'Gateway' | 'Sidecar'): string[] => {
    const issues = new Issues();
    validateNamespacedHost(entry, owner, ['hosts', 0], issues);
    return issues.list.map((i) => i.message);
  };

  it('accept the forms Istio documents', () => {
    for (const entry of [
      '*',
      'prod/*',
      './*',
      '*/*',
      'prod/*.example.com',
      'reviews.prod.svc.cluster.local',
      'prod/10.1.2.3',
    ]) {
      assert.deepEqual(check(entry, 'Gateway'), [], entry);
    }
    for (const entry of [
      './*',
      '~/*',
      '*/*',
      'istio-system/*',
      'prod/reviews.prod.svc.cluster.local',
      'prod/*.example.com',
    ]) {
      assert.deepEqual(check(entry, 'Sidecar'), [], entry);
    }
  });

  it('differ between gateways and sidecars where Istio does', () => {
    // A bare host means "*/host" on a gateway; a sidecar needs the namespace.
    assert.deepEqual(check('reviews.example.com', 'Gateway'), []);
    assert.match(check('reviews.example.com', 'Sidecar')[0], /must be of the form namespace\/dnsName/);
    // "~" (no namespace) is a sidecar value only; an IP is a gateway dnsName only.
    assert.match(check('~/a.example.com', 'Gateway')[0], /"~" is not a valid namespace/);
    assert.match(check('prod/10.1.2.3', 'Sidecar')[0], /top-level domain "3" cannot be all digits/);
  });

  it('reject short names, partial wildcards and bad labels with one message each', () => {
    assert.match(check('prod/reviews', 'Sidecar')[0], /short name "reviews" is not allowed/);
    assert.match(check('prod/*views.example.com', 'Gateway')[0], /partial wildcard/);
    assert.equal(check('prod/a_b.example.com', 'Gateway').length, 1);
  });
});

describe('unix domain socket addresses', () => {
  it('are absolute file paths or abstract names', () => {
    assert.equal(unixAddressProblem('/var/run/app.sock'), undefined);
    assert.equal(unixAddressProblem('@abstract'), undefined);
    assert.match(unixAddressProblem('run/app.sock') ?? '', /not an absolute path/);
    assert.match(unixAddressProblem('/var/run/') ?? '', /directory/);
    assert.match(unixAddressProblem('') ?? '', /empty/);
  });
});

describe('ServerTLSSettings rules', () => {
  const run = (tls: Parameters<typeof validateServerTlsSettings>[0]) => {
    const issues = new Issues();
    validateServerTlsSettings(tls, ['tls'], issues);
    return { errors: issues.errors.map((i) => i.message), warnings: issues.warnings.map((i) => i.message) };
  };

  it('accept cipher expressions and ALL, which BoringSSL parses', () => {
    assert.deepEqual(
      run({ mode: 'SIMPLE', credentialName: 'c', cipherSuites: ['ALL', '-AES128-SHA', '!DES-CBC3-SHA'] }),
      {
        errors: [],
        warnings: [],
      },
    );
  });

  it('order protocol versions, with TLS_AUTO meaning no bound', () => {
    assert.deepEqual(
      run({
        mode: 'SIMPLE',
        credentialName: 'c',
        minProtocolVersion: 'TLSV1_3',
        maxProtocolVersion: 'TLS_AUTO',
      }).errors,
      [],
    );
    assert.deepEqual(
      run({
        mode: 'SIMPLE',
        credentialName: 'c',
        minProtocolVersion: 'TLSV1_2',
        maxProtocolVersion: 'TLSV1_2',
      }).errors,
      [],
    );
    assert.equal(
      run({
        mode: 'SIMPLE',
        credentialName: 'c',
        minProtocolVersion: 'TLSV1_3',
        maxProtocolVersion: 'TLSV1_1',
      }).errors.length,
      1,
    );
  });

  it('let a named credential stand in for every file of a terminating mode', () => {
    for (const mode of ['SIMPLE', 'MUTUAL', 'OPTIONAL_MUTUAL'] as const) {
      assert.deepEqual(run({ mode, credentialName: 'c' }), { errors: [], warnings: [] }, mode);
      assert.deepEqual(run({ mode, credentialNames: ['rsa', 'ecdsa'] }), { errors: [], warnings: [] }, mode);
    }
  });

  it('accept colon-separated and plain certificate hashes, and base64 SPKI pins', () => {
    const hash = 'ab'.repeat(32);
    const colons = Array.from({ length: 32 }, () => 'AB').join(':');
    const spki = `${'A'.repeat(43)}=`;
    assert.deepEqual(
      run({
        mode: 'MUTUAL',
        credentialName: 'c',
        verifyCertificateHash: [hash, colons],
        verifyCertificateSpki: [spki],
      }).errors,
      [],
    );
    assert.equal(
      run({ mode: 'MUTUAL', credentialName: 'c', verifyCertificateHash: [`${hash}ab`] }).errors.length,
      1,
    );
  });
});

describe('Gateway decoding', () => {
  it('reports the example error of issue 2 with file, line, column and path', () => {
    const { errors } = decode(
      gateway(
        'v1',
        '  - port:\n      number: 70000\n      name: http\n      protocol: HTTP\n    hosts: ["*"]\n',
      ),
    );
    assert.deepEqual(errors, [
      'gw.yaml:8:7 spec.servers[0].port.number: 70000 is not a valid port (1-65535)',
    ]);
  });

  it('accepts a unix socket server with port 0 but not an IP server with port 0', () => {
    const uds = decode(
      gateway(
        'v1',
        '  - bind: unix://@gw\n    port: {number: 0, name: http, protocol: HTTP}\n    hosts: ["*"]\n',
      ),
    );
    assert.deepEqual(uds.errors, []);
    const ip = decode(gateway('v1', '  - port: {number: 0, name: http, protocol: HTTP}\n    hosts: ["*"]\n'));
    assert.deepEqual(ip.errors, [
      'gw.yaml:7:12 spec.servers[0].port.number: 0 is not a valid port (1-65535)',
    ]);
  });

  it('skips the TLS/protocol combination rule when the port itself is wrong', () => {
    // As Istio does: an unknown protocol says nothing about whether tls belongs there.
    const { errors } = decode(
      gateway('v1', '  - port: {number: 443, name: x, protocol: QUIC}\n    hosts: ["*"]\n'),
    );
    assert.equal(errors.length, 1);
    assert.match(errors[0], /"QUIC" is not a supported protocol/);
  });
});
