import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatIssue, parseYamlDocuments } from '../../src/api/yaml-document.ts';

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
