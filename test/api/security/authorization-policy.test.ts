/** AuthorizationPolicy cases that fixtures cannot express well: tables of values, versions, defaults. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeText } from '../../../src/api/decode.ts';
import { KINDS } from '../../../src/api/schema/kinds.ts';
import {
  type AuthorizationPolicy,
  authorizationAction,
} from '../../../src/api/security/authorization-policy.ts';
import { formatIssue } from '../../../src/api/yaml-document.ts';

function decode(spec: string, version = 'v1', annotations = '') {
  const text = `apiVersion: security.istio.io/${version}\nkind: AuthorizationPolicy\nmetadata:\n  name: p\n  namespace: foo\n${annotations}spec:\n${spec}\n`;
  const res = decodeText(text, 'ap.yaml', { defaultNamespace: 'default' });
  return {
    errors: res.issues.filter((i) => i.severity === 'error').map((i) => formatIssue(i)),
    warnings: res.issues.filter((i) => i.severity === 'warning').map((i) => formatIssue(i)),
    spec: res.documents[0]?.resource?.spec as AuthorizationPolicy | undefined,
  };
}

const when = (key: string, values: string) =>
  `  rules:\n  - when:\n    - key: ${JSON.stringify(key)}\n      values: ${values}`;

it('is registered for security.istio.io v1 and v1beta1', () => {
  const def = KINDS.find((k) => k.kind === 'AuthorizationPolicy');
  assert.equal(def?.group, 'security.istio.io');
  assert.deepEqual(def?.versions, ['v1', 'v1beta1']);
  assert.equal(def?.plural, 'authorizationpolicies');
});

it('decodes both versions into the same model', () => {
  const spec = '  action: DENY\n  rules:\n  - to:\n    - operation:\n        ports: ["80"]';
  const a = decode(spec, 'v1');
  const b = decode(spec, 'v1beta1');
  assert.deepEqual(a.errors, []);
  assert.deepEqual(a.spec, b.spec);
  assert.deepEqual(a.spec, { action: 'DENY', rules: [{ to: [{ operation: { ports: ['80'] } }] }] });
});

it('the action defaults to ALLOW, and an empty spec (deny everything) is valid', () => {
  const { errors, spec } = decode('  {}');
  assert.deepEqual(errors, []);
  assert.equal(authorizationAction(spec!), 'ALLOW');
});

describe('condition keys', () => {
  for (const key of [
    'request.headers[x-user]',
    'request.experimental.inline.headers[x]',
    'request.auth.claims[groups]',
    'request.auth.claims[nested.key]',
    'request.auth.principal',
    'request.auth.audiences',
    'request.auth.presenter',
    'source.namespace',
    'source.principal',
    'connection.sni',
    'experimental.envoy.filters.network.mysql_proxy[db.table]',
  ]) {
    it(`accepts ${key}`, () => assert.deepEqual(decode(when(key, '["a"]')).errors, []));
  }
  for (const key of [
    'request.method',
    'source.user',
    'request.headers[',
    'request.headers[]',
    'experimental.envoy.filters.x',
  ]) {
    it(`refuses ${key}`, () => assert.equal(decode(when(key, '["a"]')).errors.length, 1));
  }
  it('checks IP, port and service-account values by key', () => {
    assert.deepEqual(decode(when('source.ip', '["10.0.0.0/8", "::1", "2001:db8::/32"]')).errors, []);
    assert.deepEqual(decode(when('remote.ip', '["1.2.3.4"]')).errors, []);
    assert.deepEqual(decode(when('destination.port', '["0", "65535"]')).errors, []);
    assert.equal(decode(when('destination.ip', '["10.0.0.300"]')).errors.length, 1);
    assert.equal(decode(when('destination.port', '["65536"]')).errors.length, 1);
    assert.equal(decode(when('source.serviceAccount', '["ns/sa/x"]')).errors.length, 1);
  });
});

describe('wildcards: only alone, leading or trailing', () => {
  const principals = (v: string) =>
    `  rules:\n  - from:\n    - source:\n        principals: [${JSON.stringify(v)}]`;
  for (const v of ['*', '*/ns/foo/sa/bar', 'cluster.local/ns/foo/*', 'exact']) {
    it(`${JSON.stringify(v)} is a valid pattern`, () => assert.deepEqual(decode(principals(v)).warnings, []));
  }
  for (const v of ['cluster.local/*/sa/bar', '*foo*', '**']) {
    it(`${JSON.stringify(v)} warns that "*" is literal`, () => {
      const { errors, warnings } = decode(principals(v));
      assert.deepEqual(errors, []);
      assert.equal(warnings.length, 1);
      assert.match(warnings[0], /here it is matched literally$/);
    });
  }
});

describe('DENY rules with only HTTP attributes', () => {
  const deny = (rule: string) => decode(`  action: DENY\n  rules:\n${rule}`).warnings;
  it('warn for methods without ports', () => {
    assert.equal(deny('  - to:\n    - operation:\n        methods: ["POST"]').length, 1);
  });
  it('warn for request principals alone', () => {
    assert.equal(deny('  - from:\n    - source:\n        requestPrincipals: ["*"]').length, 1);
  });
  it('do not warn when ports or TCP source attributes scope them', () => {
    assert.deepEqual(
      deny('  - to:\n    - operation:\n        methods: ["POST"]\n        notPorts: ["8080"]'),
      [],
    );
    assert.deepEqual(deny('  - from:\n    - source:\n        ipBlocks: ["10.0.0.0/8"]'), []);
    assert.deepEqual(deny('  - when:\n    - key: request.headers[x]\n      values: ["a"]'), []);
  });
  it('never warn for ALLOW', () => {
    assert.deepEqual(decode('  rules:\n  - to:\n    - operation:\n        methods: ["POST"]').warnings, []);
  });
});

it('the dry-run annotation accepts Go booleans with ALLOW and DENY', () => {
  const annotations = '  annotations:\n    istio.io/dry-run: "False"\n';
  assert.deepEqual(decode('  rules:\n  - {}', 'v1', annotations).errors, []);
  const audit = decode('  action: AUDIT\n  rules:\n  - {}', 'v1', annotations).errors;
  assert.equal(audit.length, 1);
  assert.match(audit[0], /only supports the ALLOW and DENY actions \(action is AUDIT\)/);
});

it('CUSTOM accepts header, IP and path conditions', () => {
  const { errors } = decode(
    '  action: CUSTOM\n  provider:\n    name: authz\n  rules:\n  - from:\n    - source:\n        notIpBlocks: ["10.0.0.1"]\n        remoteIpBlocks: ["1.2.3.0/24"]\n    to:\n    - operation:\n        paths: ["/api/*"]\n    when:\n    - key: request.headers[x-a]\n      notValues: ["b"]',
  );
  assert.deepEqual(errors, []);
});
