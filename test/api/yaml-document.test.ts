import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  formatIssue,
  parseFast,
  parseWithPositions,
  parseYamlDocuments,
} from '../../src/api/yaml-document.ts';

describe('parseYamlDocuments', () => {
  it('skips empty documents: a leading or trailing "---", comments only', () => {
    const text = '---\n# just a comment\n---\na: 1\n---\n';
    const { documents, issues } = parseYamlDocuments(text, 'f.yaml');
    assert.deepEqual(issues, []);
    assert.equal(documents.length, 1);
    assert.deepEqual(documents[0].value, { a: 1 });
  });

  it('locates nested fields and list items; an unwritten path falls back to its nearest ancestor', () => {
    const text = 'spec:\n  http:\n  - route:\n    - destination:\n        host: reviews\n';
    const [doc] = parseYamlDocuments(text, 'vs.yaml').documents;
    assert.deepEqual(doc.locate(['spec', 'http', 0, 'route', 0, 'destination', 'host']), {
      line: 5,
      column: 9,
    });
    assert.deepEqual(doc.locate(['spec', 'http', 0]), { line: 3, column: 5 });
    assert.deepEqual(doc.locate(['spec', 'http', 0, 'timeout']), { line: 3, column: 5 });
  });

  it('reports syntax errors and duplicate keys with their line, and keeps the other documents', () => {
    const text = 'a: 1\n---\nb: [1\n---\nc: 1\nc: 2\n---\nd: 4\n';
    const { documents, issues } = parseYamlDocuments(text, 'bad.yaml');
    assert.deepEqual(
      documents.map((d) => d.value),
      [{ a: 1 }, { d: 4 }],
    );
    assert.equal(issues.length >= 2, true);
    assert.match(formatIssue(issues[0]), /^bad\.yaml:[34]:\d+ YAML: Flow sequence/);
    assert.ok(issues.some((i) => i.line === 6 && /unique/i.test(i.message)));
  });
});

describe('flow sequences read as Go reads them', () => {
  it('keeps an IPv6 address ending in "::" a string, as Kubernetes and Istio do', () => {
    // YAML 1.2 reads `001:db8::` here as the map {"001:db8:": null}; Go's parser, the string.
    const text = 'addresses: [1.2.3.4, 001:db8::, "2001:db8::"]\nmap: [{a: 1}, b: 2]\n';
    for (const parsed of [parseYamlDocuments(text, 'f.yaml'), parseWithPositions(text, 'f.yaml')]) {
      assert.deepEqual(parsed.issues, []);
      assert.deepEqual(parsed.documents[0].value, {
        addresses: ['1.2.3.4', '001:db8::', '2001:db8::'],
        map: [{ a: 1 }, { b: 2 }],
      });
    }
    const [doc] = parseYamlDocuments(text, 'f.yaml').documents;
    assert.deepEqual(doc.locate(['addresses', 1]), { line: 1, column: 22 });
  });
});

describe('the fast path agrees with the reference parser', () => {
  const roots = ['test/api/testdata', 'examples', 'test/api/mesh/testdata'];
  const files = roots.flatMap((root) =>
    existsSync(root)
      ? readdirSync(root, { recursive: true, encoding: 'utf8' })
          .filter((f) => /\.(ya?ml|json)$/.test(f))
          .map((f) => join(root, f))
      : [],
  );
  const extra = [
    'a: 1\n---\nb: 2\n---\n',
    '# lead\n---\n# c\napiVersion: v1\n---\n--- {x: 1}\n---   \n',
    'k: v\n---\n---\n- 1\n',
    '---\nnull\n',
  ];
  it(`gives the same documents, indexes, values and starts for ${files.length} files and ${extra.length} edge cases`, () => {
    let fast = 0;
    for (const [name, text] of [
      ...files.map((f) => [f, readFileSync(f, 'utf8')]),
      ...extra.map((t, i) => [`extra-${i}`, t]),
    ]) {
      const ref = parseWithPositions(text, name);
      const quick = parseFast(text, name);
      if (!quick) continue;
      fast++;
      assert.deepEqual(
        quick.documents.map((d) => ({ index: d.index, value: d.value, start: d.start })),
        ref.documents.map((d) => ({ index: d.index, value: d.value, start: d.start })),
        name,
      );
      assert.deepEqual(quick.issues, ref.issues, name);
      for (const d of quick.documents) {
        const r = ref.documents.find((x) => x.index === d.index);
        assert.deepEqual(d.locate(['spec', 'x']), r?.locate(['spec', 'x']), name);
      }
    }
    assert.ok(fast > files.length / 2, `the fast path took only ${fast} of ${files.length} files`);
  });
});
