/** Telemetry: the model across versions and the rules fixtures cannot tabulate. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeText } from '../../../src/api/decode.ts';
import { KINDS } from '../../../src/api/schema/kinds.ts';
import type { Telemetry } from '../../../src/api/telemetry/telemetry.ts';
import { formatIssue } from '../../../src/api/yaml-document.ts';

function decode(spec: object, version = 'v1') {
  const doc = {
    apiVersion: `telemetry.istio.io/${version}`,
    kind: 'Telemetry',
    metadata: { name: 't' },
    spec,
  };
  const res = decodeText(JSON.stringify(doc), 't.json', { defaultNamespace: 'default' });
  return {
    errors: res.issues.filter((i) => i.severity === 'error').map((i) => formatIssue(i)),
    warnings: res.issues.filter((i) => i.severity === 'warning').map((i) => formatIssue(i)),
    spec: res.documents[0]?.resource?.spec as Telemetry | undefined,
  };
}

it('is registered for telemetry.istio.io v1 and v1alpha1', () => {
  const def = KINDS.find((k) => k.kind === 'Telemetry');
  assert.deepEqual(
    [def?.group, def?.versions, def?.plural],
    ['telemetry.istio.io', ['v1', 'v1alpha1'], 'telemetries'],
  );
});

it('decodes both versions into the same model', () => {
  const spec = { tracing: [{ providers: [{ name: 'zipkin' }], randomSamplingPercentage: 50 }] };
  const a = decode(spec, 'v1');
  const b = decode(spec, 'v1alpha1');
  assert.deepEqual(a.errors, []);
  assert.deepEqual(a.spec, b.spec);
  assert.deepEqual(a.spec, spec);
});

describe('randomSamplingPercentage', () => {
  for (const pct of [0, 0.01, 50, 100]) {
    it(`accepts ${pct}`, () =>
      assert.deepEqual(decode({ tracing: [{ randomSamplingPercentage: pct }] }).errors, []));
  }
  for (const pct of [-0.1, 100.01, 1000]) {
    it(`refuses ${pct}`, () =>
      assert.equal(decode({ tracing: [{ randomSamplingPercentage: pct }] }).errors.length, 1));
  }
});

describe('tag overrides', () => {
  const override = (o: object) => decode({ metrics: [{ overrides: [{ tagOverrides: { tag: o } }] }] });
  it('an unset operation is UPSERT and needs a value', () => {
    assert.deepEqual(override({ value: 'request.host' }).errors, []);
    assert.match(override({}).errors[0], /value is required when the operation is UPSERT \(the default\)$/);
  });
  it('REMOVE takes no value', () => {
    assert.deepEqual(override({ operation: 'REMOVE' }).errors, []);
    assert.match(
      override({ operation: 'REMOVE', value: 'x' }).errors[0],
      /value may only be set when the operation is UPSERT$/,
    );
  });
  it('a value that is not CEL is a warning: Istio accepts it, the proxy cannot evaluate it', () => {
    const { errors, warnings } = override({ value: 'request.host ==' });
    assert.deepEqual(errors, []);
    assert.equal(warnings.length, 1);
  });
});

it('an access-log filter must be valid CEL', () => {
  assert.deepEqual(
    decode({ accessLogging: [{ filter: { expression: 'response.code >= 500' } }] }).errors,
    [],
  );
  assert.equal(decode({ accessLogging: [{ filter: { expression: 'response.code >=' } }] }).errors.length, 1);
});
