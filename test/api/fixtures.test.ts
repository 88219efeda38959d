/**
 * The generic fixture runner for every kind in the kinds table (convention in
 * test/support/fixtures.ts):
 * - valid fixtures decode to resources with no errors and exactly the declared warnings, and
 *   also pass the independent validators generated from Istio's CRDs
 *   (@kubernetes-models/istio);
 * - invalid fixtures produce exactly the declared `# expect:` errors (and warnings).
 * On a mismatch the failure prints the lines the file produced, ready to paste.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KINDS } from '../../src/api/schema/kinds.ts';
import { parseYamlDocuments } from '../../src/api/yaml-document.ts';
import {
  decodeFixture,
  type Fixture,
  fixtureFiles,
  fixtureKindDirs,
  kebabKind,
  parseExpectations,
  producedLines,
} from '../support/fixtures.ts';

function sorted(lines: readonly string[]): string[] {
  return [...lines].sort();
}

/** A readable diff plus the full actual output as `# expect` lines. */
function mismatch(f: Fixture, errors: string[], warnings: string[]): string {
  const lines: string[] = [`${f.file}: the produced lines differ from the file's expectations.`];
  const diff = (label: string, expected: readonly string[], actual: readonly string[]): void => {
    const missing = expected.filter((l) => !actual.includes(l));
    const extra = actual.filter((l) => !expected.includes(l));
    if (missing.length)
      lines.push(`  ${label} expected but not produced:`, ...missing.map((l) => `    ${l}`));
    if (extra.length) lines.push(`  ${label} produced but not expected:`, ...extra.map((l) => `    ${l}`));
  };
  diff('errors', f.expectErrors, errors);
  diff('warnings', f.expectWarnings, warnings);
  lines.push('  actual lines:');
  for (const e of errors) lines.push(`# expect: ${e}`);
  for (const w of warnings) lines.push(`# expect-warning: ${w}`);
  return lines.join('\n');
}

function checkLines(f: Fixture): void {
  const decoded = decodeFixture(f);
  const { errors, warnings } = producedLines(decoded);
  const same =
    JSON.stringify(sorted(errors)) === JSON.stringify(sorted(f.expectErrors)) &&
    JSON.stringify(sorted(warnings)) === JSON.stringify(sorted(f.expectWarnings));
  assert.ok(same, mismatch(f, errors, warnings));
  if (f.valid) {
    const bad = decoded.documents.filter((d) => !d.resource);
    assert.equal(bad.length, 0, `${f.file}: documents ${bad.map((d) => d.index).join(', ')} did not decode`);
    assert.ok(
      decoded.documents.some((d) => d.resource?.kind === f.kind),
      `${f.file}: a valid ${f.kind} fixture must contain at least one ${f.kind}`,
    );
  }
}

type ModelClass = new (data: unknown) => { validate(): void };

const modelCache = new Map<string, Promise<Record<string, unknown> | undefined>>();

function modelModule(group: string, version: string): Promise<Record<string, unknown> | undefined> {
  const key = `${group}/${version}`;
  let p = modelCache.get(key);
  if (!p) {
    p = import(`@kubernetes-models/istio/${key}`).then(
      (m) => m as Record<string, unknown>,
      () => undefined,
    );
    modelCache.set(key, p);
  }
  return p;
}

/**
 * Points where the generated validators are stricter than Istio itself; each entry names
 * the kind, the JSON-pointer pattern of the field and the reason. Keep this list short.
 */
const KNOWN_MODEL_GAPS: readonly { kind: string; path: RegExp; reason: string }[] = [
  {
    kind: 'DestinationRule',
    path: /\/connectionPool\/http$/,
    reason: 'http2KeepAlive is newer than the CRDs the models were generated from',
  },
  {
    kind: 'Sidecar',
    path: /(\/inboundConnectionPool|\/connectionPool)\/http$/,
    reason: 'http2KeepAlive is newer than the CRDs the models were generated from',
  },
];

async function checkAgainstModels(f: Fixture): Promise<void> {
  const { documents } = parseYamlDocuments(f.text, f.name);
  for (const doc of documents) {
    const obj = doc.value as { apiVersion?: string; kind?: string };
    const [group, version] = (obj.apiVersion ?? '').split('/');
    const mod = await modelModule(group, version);
    const Model = mod?.[obj.kind ?? ''] as ModelClass | undefined;
    assert.ok(Model, `${f.file}: no @kubernetes-models/istio class for ${obj.apiVersion} ${obj.kind}`);
    try {
      new Model(obj).validate();
    } catch (e) {
      const errors = ((e as { errors?: { instancePath: string; message?: string }[] }).errors ?? []).filter(
        (err) => !KNOWN_MODEL_GAPS.some((g) => g.kind === obj.kind && g.path.test(err.instancePath)),
      );
      const summary = errors.map((err) => `${err.instancePath} ${err.message ?? ''}`).join('\n  ');
      assert.equal(
        errors.length,
        0,
        `${f.file} document ${doc.index}: Istio's CRD schema rejects it:\n  ${summary}`,
      );
    }
  }
}

const kindDirs = new Set(KINDS.map((k) => kebabKind(k.kind)));

describe('the fixture runner', () => {
  const text = [
    '# expect: inline.yaml:8:11 spec.http[0].route[0].destination.port.number: 0 is not a valid port (1-65535)',
    'apiVersion: networking.istio.io/v1',
    'kind: VirtualService',
    'metadata: {name: inline}',
    'spec:',
    '  hosts: [reviews]',
    '  http:',
    '  - route: [{destination: {host: reviews,',
    '            port: {number: 0}}}]',
  ].join('\n');
  const fixture = (body: string, valid: boolean): Fixture => {
    const { errors, warnings } = parseExpectations(body);
    return {
      kind: 'VirtualService',
      valid,
      file: 'inline.yaml',
      name: 'inline.yaml',
      text: body,
      expectErrors: errors,
      expectWarnings: warnings,
    };
  };

  it('reads # expect and # expect-warning lines', () => {
    assert.deepEqual(parseExpectations('# expect: a b\n#expect-warning:  c\nkind: x # expect: no\n'), {
      errors: ['a b'],
      warnings: [' c'],
    });
  });

  it('accepts a file whose errors are exactly the expected ones', () => {
    checkLines(fixture(text.replace(':8:11 ', ':9:20 '), false));
  });

  it('fails on a mismatch and prints the actual lines, ready to paste', () => {
    assert.throws(
      () => checkLines(fixture(text, false)),
      (e: Error) =>
        e.message.includes('errors expected but not produced') &&
        e.message.includes(
          '# expect: inline.yaml:9:20 spec.http[0].route[0].destination.port.number: 0 is not a valid port (1-65535)',
        ),
    );
  });

  it('fails a valid fixture with undeclared warnings', () => {
    const body = text.split('\n').slice(1).join('\n').replace('port: {number: 0}', 'port: {number: 80}');
    checkLines(fixture(body, true));
    assert.throws(
      () => checkLines(fixture(`${body}\n    mirrorPercent: 5`, true)),
      /warnings produced but not expected/,
    );
  });
});

it('every testdata directory belongs to a kind in the kinds table', () => {
  const unknown = fixtureKindDirs().filter((d) => !kindDirs.has(d));
  assert.deepEqual(unknown, [], `unknown fixture directories (expected one of ${[...kindDirs].join(', ')})`);
});

for (const def of KINDS) {
  describe(`${def.kind} fixtures`, () => {
    const valid = fixtureFiles(def.kind, true);
    const invalid = fixtureFiles(def.kind, false);
    if (valid.length === 0 && invalid.length === 0) {
      it(`test/api/testdata/${kebabKind(def.kind)}/ has fixtures`, { todo: 'no fixtures yet' }, () => {});
      return;
    }
    for (const f of valid) {
      it(`valid/${f.name} decodes cleanly`, () => {
        assert.equal(f.expectErrors.length, 0, `${f.file}: a valid fixture cannot expect errors`);
        checkLines(f);
      });
      it(`valid/${f.name} passes the CRD-generated validators`, () => checkAgainstModels(f));
    }
    for (const f of invalid) {
      it(`invalid/${f.name} produces exactly its expected errors`, () => {
        assert.ok(
          f.expectErrors.length > 0,
          `${f.file}: an invalid fixture must declare its errors with # expect:`,
        );
        checkLines(f);
      });
    }
  });
}
