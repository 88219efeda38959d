/** Where policies apply: selector / targetRef / targetRefs rules shared by four kinds, and the dry-run annotation. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ResourceMeta } from '../../../src/api/resource.ts';
import {
  parseGoBool,
  rejectDryRunAnnotation,
  validatePolicyScope,
  validatePolicyTargetReference,
} from '../../../src/api/security/policy-scope.ts';
import { formatPath, Issues } from '../../../src/api/validation.ts';

function lines(issues: Issues): string[] {
  return issues.list.map((i) => `${i.severity} ${formatPath(i.path)}: ${i.message}`);
}

const meta = (annotations: Record<string, string> = {}): ResourceMeta => ({
  name: 'p',
  namespace: 'foo',
  labels: {},
  annotations,
  resourceVersion: '1',
});

describe('targetRef kinds', () => {
  for (const [group, kind] of [
    [undefined, 'Service'],
    ['', 'Service'],
    ['core', 'Service'],
    ['networking.istio.io', 'ServiceEntry'],
    ['gateway.networking.k8s.io', 'Gateway'],
    ['gateway.networking.k8s.io', 'GatewayClass'],
  ] as const) {
    it(`accepts ${group ?? '(no group)'}/${kind}`, () => {
      const issues = new Issues();
      validatePolicyTargetReference({ group, kind, name: 'a' }, 'foo', ['t'], issues);
      assert.deepEqual(lines(issues), []);
    });
  }
  for (const [group, kind] of [
    ['networking.istio.io', 'Gateway'],
    ['apps', 'Deployment'],
    ['gateway.networking.k8s.io', 'HTTPRoute'],
    ['', 'ServiceEntry'],
  ] as const) {
    it(`refuses ${group}/${kind}`, () => {
      const issues = new Issues();
      validatePolicyTargetReference({ group, kind, name: 'a' }, 'foo', ['t'], issues);
      assert.deepEqual(lines(issues), [
        `error t: a policy cannot target ${JSON.stringify(`${group}/${kind}`)}; supported targets are core/Service, networking.istio.io/ServiceEntry, gateway.networking.k8s.io/Gateway and gateway.networking.k8s.io/GatewayClass`,
      ]);
    });
  }
  it('refuses any namespace, even the policy\'s own (Istio: "targetRef namespace must not be set")', () => {
    const unset = new Issues();
    validatePolicyTargetReference({ kind: 'Service', name: 'a', namespace: '' }, 'foo', ['t'], unset);
    validatePolicyTargetReference({ kind: 'Service', name: 'a' }, 'foo', ['t'], unset);
    assert.deepEqual(lines(unset), []);
    for (const namespace of ['foo', 'bar']) {
      const issues = new Issues();
      validatePolicyTargetReference({ kind: 'Service', name: 'a', namespace }, 'foo', ['t'], issues);
      assert.deepEqual(lines(issues), [
        `error t.namespace: "${namespace}": cross-namespace targets are not supported; leave namespace unset (the target is always in the policy's namespace, "foo")`,
      ]);
    }
  });
  it('checks names and kinds as the CRD does', () => {
    const issues = new Issues();
    validatePolicyTargetReference({ kind: 'Service', name: 'a'.repeat(254) }, 'foo', ['t'], issues);
    validatePolicyTargetReference({ kind: 'S'.repeat(64), name: 'a' }, 'foo', ['u'], issues);
    assert.equal(issues.errors.length, 2);
    assert.match(issues.errors[0].message, /longer than 253 characters/);
    assert.match(issues.errors[1].message, /is not a valid kind/);
  });
});

describe('selector, targetRef and targetRefs', () => {
  const ctx = (issues: Issues) => ({ issues, meta: meta(), path: ['spec'] });
  it('at most one of them', () => {
    const issues = new Issues();
    validatePolicyScope(
      { selector: { matchLabels: { app: 'a' } }, targetRefs: [{ kind: 'Service', name: 'a' }] },
      ctx(issues),
    );
    assert.deepEqual(lines(issues), [
      'error spec.targetRefs: only one of selector, targetRef or targetRefs may be set (found selector and targetRefs)',
    ]);
  });
  it('an empty targetRefs list counts as unset', () => {
    const issues = new Issues();
    validatePolicyScope({ selector: { matchLabels: { app: 'a' } }, targetRefs: [] }, ctx(issues));
    assert.deepEqual(lines(issues), []);
  });
  it('at most 16 targetRefs', () => {
    const issues = new Issues();
    const refs = Array.from({ length: 17 }, (_, i) => ({ kind: 'Service', name: `s${i}` }));
    validatePolicyScope({ targetRefs: refs }, ctx(issues));
    assert.deepEqual(lines(issues), [
      'error spec.targetRefs: at most 16 targetRefs may be listed (found 17)',
    ]);
  });
});

describe('istio.io/dry-run', () => {
  it('is refused on kinds other than AuthorizationPolicy', () => {
    const issues = new Issues();
    rejectDryRunAnnotation(
      { issues, meta: meta({ 'istio.io/dry-run': 'true' }), path: ['spec'] },
      'Telemetry',
    );
    assert.deepEqual(lines(issues), [
      'error metadata.annotations["istio.io/dry-run"]: the istio.io/dry-run annotation is only supported on AuthorizationPolicy, not Telemetry; remove it',
    ]);
  });
  it("parses values as Go's strconv.ParseBool does", () => {
    for (const v of ['1', 't', 'T', 'TRUE', 'true', 'True']) assert.equal(parseGoBool(v), true, v);
    for (const v of ['0', 'f', 'F', 'FALSE', 'false', 'False']) assert.equal(parseGoBool(v), false, v);
    for (const v of ['yes', 'no', '', 'tRUE', ' true']) assert.equal(parseGoBool(v), undefined, v);
  });
});
