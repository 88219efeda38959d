/** VirtualService rules that fixtures cannot express well (large bodies, exact host algebra). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeText } from '../../../src/api/decode.ts';
import { hostSubsetOf, isJwtClaimHeader } from '../../../src/api/networking/validate-virtual-service.ts';
import { formatIssue } from '../../../src/api/yaml-document.ts';

function decode(spec: unknown): string[] {
  const doc = {
    apiVersion: 'networking.istio.io/v1',
    kind: 'VirtualService',
    metadata: { name: 'vs' },
    spec,
  };
  return decodeText(JSON.stringify(doc), 'vs.json', { defaultNamespace: 'default' }).issues.map(
    (i) => `${i.severity} ${formatIssue(i)}`,
  );
}

const gatewayRoute = (directResponse: unknown) => ({
  hosts: ['www.example.com'],
  gateways: ['istio-system/web'],
  http: [{ directResponse }],
});

describe('direct response bodies', () => {
  it('warns above 100KiB', () => {
    const out = decode(gatewayRoute({ status: 200, body: { string: 'x'.repeat(100 * 1024 + 1) } }));
    assert.equal(out.length, 1);
    assert.match(out[0], /^warning .* spec\.http\[0\]\.directResponse\.body: the body is 102401 bytes/);
  });
  it('refuses more than 1MiB, counting decoded bytes', () => {
    const bytes = Buffer.alloc(1024 * 1024 + 1).toString('base64');
    const out = decode(gatewayRoute({ status: 200, body: { bytes } }));
    assert.equal(out.length, 1);
    assert.match(
      out[0],
      /^error .*directResponse\.body: the body is 1048577 bytes; a direct response body must be at most 1MiB/,
    );
  });
});

describe('hosts', () => {
  it('accepts IP addresses as hosts', () => {
    assert.deepEqual(
      decode({ hosts: ['10.0.0.1', '2001:db8::1'], http: [{ route: [{ destination: { host: 'a' } }] }] }),
      [],
    );
  });
  it('accepts the SNI names Istio generates for AUTO_PASSTHROUGH on gateway-bound TLS routes', () => {
    const sni = 'outbound_.9080_._.reviews.bookinfo.svc.cluster.local';
    const spec = {
      hosts: [sni],
      gateways: ['istio-system/cross-network'],
      tls: [
        {
          match: [{ sniHosts: [sni] }],
          route: [{ destination: { host: 'reviews.bookinfo.svc.cluster.local' } }],
        },
      ],
    };
    assert.deepEqual(decode(spec), []);
    assert.match(decode({ ...spec, hosts: ['outbound_.x_._.reviews'] })[0], /expected the form outbound_/);
  });
  it('compares hosts as Istio does: a wildcard covers its suffix', () => {
    assert.ok(hostSubsetOf('a.example.com', '*.example.com'));
    assert.ok(hostSubsetOf('*.a.example.com', '*.example.com'));
    assert.ok(!hostSubsetOf('*.example.com', 'a.example.com'));
    assert.ok(!hostSubsetOf('example.com', '*.example.com'));
    assert.ok(hostSubsetOf('anything', '*'));
  });
});

describe('retryOn', () => {
  it('accepts gRPC conditions and status codes with a sign, as Go parses them', () => {
    const spec = {
      hosts: ['grpc'],
      http: [
        {
          route: [{ destination: { host: 'grpc' } }],
          retries: { attempts: 2, retryOn: 'cancelled,unavailable,+503,429' },
        },
      ],
    };
    assert.deepEqual(decode(spec), []);
  });
});

describe('JWT claim headers', () => {
  for (const [name, yes] of [
    ['@request.auth.claims.sub', true],
    ['@request.auth.claims[groups][0]', true],
    ['@REQUEST.AUTH.CLAIMS.sub', true],
    ['@request.auth.claims', false],
    ['@request.auth.claims.', false],
    ['@request.auth.claims[]', false],
    ['x-claims', false],
  ] as const) {
    it(`${name} is ${yes ? '' : 'not '}a claim`, () => assert.equal(isJwtClaimHeader(name), yes));
  }
});
