/** Focused cases for the shared networking checks that fixtures cannot express well. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  headerValueFormatError,
  validateClientTls,
  validateDestination,
  validateLoadBalancer,
  validateLocalityLbSetting,
  validateRe2,
} from '../../../src/api/networking/shared.ts';
import { formatPath, Issues } from '../../../src/api/validation.ts';

function run(check: (issues: Issues) => void): string[] {
  const issues = new Issues();
  check(issues);
  return issues.list.map((i) => `${i.severity} ${formatPath(i.path)}: ${i.message}`);
}

describe('header value formatting (Envoy %VARIABLE% syntax)', () => {
  for (const ok of [
    '',
    'plain',
    '100%%',
    '%HOSTNAME%',
    'prefix %DOWNSTREAM_REMOTE_ADDRESS% suffix',
    '%REQ(x-request-id)%',
    '%START_TIME(%s.%3f)%',
    '%PER_REQUEST_STATE(["a", "b"])%',
  ]) {
    it(`accepts ${JSON.stringify(ok)}`, () => assert.equal(headerValueFormatError(ok), undefined));
  }
  for (const [bad, why] of [
    ['50%', /single "%"/],
    ['%HOSTNAME', /not terminated/],
    ['%REQ(x-id', /not terminated/],
    ['%FN(["a" x])%', /expected ',' or ']'/],
    ['%FN([x])%', /expected '"'/],
    ['%FN(["a"] x)%', /expected '\)'/],
    ['%FN(a) x%', /expected '%'/],
  ] as const) {
    it(`refuses ${JSON.stringify(bad)}`, () => assert.match(headerValueFormatError(bad) ?? '', why));
  }
});

describe('regexes', () => {
  it('refuses regexes longer than 1024 characters, as Envoy does', () => {
    assert.deepEqual(
      run((i) => validateRe2('a'.repeat(1025), ['r'], i)),
      ['error r: the regex is 1025 characters long; at most 1024 are allowed'],
    );
    assert.deepEqual(
      run((i) => validateRe2('a'.repeat(1024), ['r'], i)),
      [],
    );
  });
  it('uses RE2 syntax: named groups in Go form are fine, lookbehind is not', () => {
    assert.deepEqual(
      run((i) => validateRe2('^/(?P<id>[0-9]+)$', ['r'], i)),
      [],
    );
    assert.match(run((i) => validateRe2('(?<=a)b', ['r'], i))[0], /not a valid RE2 regular expression/);
  });
});

describe('destinations', () => {
  it('needs a port number when a port is given', () => {
    assert.deepEqual(
      run((i) => validateDestination({ host: 'reviews', port: {} }, ['d'], i)),
      ['error d.port: port.number is required when port is given'],
    );
  });
  it('accepts short names, FQDNs and wildcard service hosts', () => {
    for (const host of [
      'reviews',
      'reviews.bookinfo.svc.cluster.local',
      '*.example.com',
      'Reviews.Example.COM.',
    ]) {
      assert.deepEqual(
        run((i) => validateDestination({ host }, ['d'], i)),
        [],
        host,
      );
    }
  });
});

describe('locality load balancer settings', () => {
  it('treats "*" as covering every later locality', () => {
    assert.deepEqual(
      run((i) =>
        validateLocalityLbSetting(
          {
            distribute: [
              { from: '*', to: { 'us-west': 100 } },
              { from: 'us-east', to: { 'us-east': 100 } },
            ],
          },
          ['l'],
          i,
          { hasOutlierDetection: true },
        ),
      ),
      ['error l.distribute[1].from: locality "us-east" overlaps one given before it'],
    );
  });
  it('warns about failover priority without outlier detection, unless the caller has it (MeshConfig)', () => {
    const lb = { failoverPriority: ['topology.istio.io/network'] };
    assert.equal(
      run((i) => validateLocalityLbSetting(lb, ['l'], i, { hasOutlierDetection: false })).length,
      1,
    );
    assert.deepEqual(
      run((i) => validateLocalityLbSetting(lb, ['l'], i, { hasOutlierDetection: true })),
      [],
    );
  });
  it('accepts disjoint subzones of one zone', () => {
    const to = { 'r/z/s1': 50, 'r/z/s2': 50 };
    assert.deepEqual(
      run((i) =>
        validateLocalityLbSetting({ distribute: [{ from: 'r/z/s1', to }] }, ['l'], i, {
          hasOutlierDetection: true,
        }),
      ),
      [],
    );
  });
});

describe('maglev table sizes', () => {
  for (const [size, ok] of [
    [2, true],
    [3, true],
    [131, true],
    [65537, true],
    [5000009, false],
    [9, false],
    [1_000_000, false],
  ] as const) {
    it(`${size} is ${ok ? '' : 'not '}accepted`, () => {
      const out = run((i) =>
        validateLoadBalancer(
          { consistentHash: { useSourceIp: true, maglev: { tableSize: size } } },
          ['lb'],
          i,
          {
            hasOutlierDetection: false,
          },
        ),
      );
      assert.equal(out.length === 0, ok, out.join('\n'));
    });
  }
});

describe('client TLS', () => {
  it('refuses malformed configmap:// credentials', () => {
    assert.match(
      run((i) => validateClientTls({ mode: 'SIMPLE', credentialName: 'configmap://a/b/c' }, ['tls'], i))[0],
      /use configmap:\/\/<name> or configmap:\/\/<namespace>\/<name>/,
    );
    assert.deepEqual(
      run((i) =>
        validateClientTls({ mode: 'SIMPLE', credentialName: 'configmap://egress/ca' }, ['tls'], i, {
          namespace: 'egress',
        }),
      ),
      [],
    );
  });
  it('accepts MUTUAL with a credential and no files', () => {
    assert.deepEqual(
      run((i) => validateClientTls({ mode: 'MUTUAL', credentialName: 'client-cert' }, ['tls'], i)),
      [],
    );
  });
});
