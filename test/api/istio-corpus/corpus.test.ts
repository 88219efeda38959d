/**
 * Istio's own configuration as the judge of Mizzen's validation (see README.md here):
 * - every document under accepted/ (Istio's samples, docs and valid test data) decodes with no
 *   error; warnings are allowed;
 * - every document under rejected/ (Istio's invalid test data) is rejected with an error at the
 *   field and line its `# expect-path: <path> @<line>` comments name.
 * Files named mesh-*.yaml hold one mesh config (bare, an `istio` ConfigMap or an IstioOperator)
 * and are read as Mizzen reads its mesh config file.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { decodeText } from '../../../src/api/decode.ts';
import { parseMeshConfig } from '../../../src/api/mesh/mesh-config.ts';
import { formatPath } from '../../../src/api/validation.ts';
import { formatIssue } from '../../../src/api/yaml-document.ts';

const HERE = import.meta.dirname;
const SOURCE = /^# Source: \S/;
const EXPECT_PATH = /^#\s*expect-path:\s*(\S+)\s+@(\d+)\s*$/;
/** `(document)` in an expect-path line: the error is about the document itself (empty path). */
const WHOLE_DOCUMENT = '(document)';
const ISTIO_SAYS = /^#\s*istio:\s*\S/;

interface CorpusFile {
  readonly name: string;
  readonly text: string;
}

function corpusFiles(dir: 'accepted' | 'rejected'): CorpusFile[] {
  return readdirSync(join(HERE, 'testdata', dir))
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .map((name) => ({ name, text: readFileSync(join(HERE, 'testdata', dir, name), 'utf8') }));
}

interface RejectedDocument {
  /** 1-based line of the chunk's first line in its file. */
  readonly firstLine: number;
  readonly text: string;
  readonly expected: readonly { path: string; line: number }[];
  readonly explained: boolean;
}

/** The documents of a file, split at `---` lines, with the expectations written inside each. */
function rejectedDocuments(text: string): RejectedDocument[] {
  const lines = text.split('\n');
  const docs: RejectedDocument[] = [];
  let start = 0;
  const flush = (end: number): void => {
    const chunk = lines.slice(start, end);
    if (chunk.some((l) => /^kind:/.test(l))) {
      docs.push({
        firstLine: start + 1,
        text: chunk.join('\n'),
        expected: chunk.flatMap((l) => {
          const m = EXPECT_PATH.exec(l);
          return m ? [{ path: m[1] === WHOLE_DOCUMENT ? '' : m[1], line: Number(m[2]) }] : [];
        }),
        explained: chunk.some((l) => ISTIO_SAYS.test(l)),
      });
    }
  };
  lines.forEach((line, i) => {
    if (/^---\s*$/.test(line)) {
      flush(i);
      start = i + 1;
    }
  });
  flush(lines.length);
  return docs;
}

const decode = (text: string, file: string) => decodeText(text, file, { defaultNamespace: 'default' });
const isMeshConfig = (name: string) => name.startsWith('mesh-');

describe('Istio corpus: documents Istio accepts', () => {
  for (const f of corpusFiles('accepted')) {
    it(`accepted/${f.name} decodes with no error`, () => {
      assert.match(f.text.split('\n')[0], SOURCE, `${f.name}: the first line must name the source`);
      if (isMeshConfig(f.name)) {
        const mesh = parseMeshConfig(f.text, f.name);
        const errors = mesh.issues.filter((i) => i.severity === 'error').map(formatIssue);
        assert.deepEqual(errors, [], `${f.name}: Istio accepts this mesh config, Mizzen rejected it`);
        assert.ok(mesh.config, `${f.name}: no mesh config`);
        return;
      }
      const decoded = decode(f.text, f.name);
      const errors = decoded.issues.filter((i) => i.severity === 'error').map(formatIssue);
      assert.deepEqual(errors, [], `${f.name}: Istio accepts these documents, Mizzen rejected them`);
      const resources = decoded.documents.filter((d) => d.resource);
      assert.ok(resources.length > 0, `${f.name}: no Istio object in the file`);
      for (const d of decoded.documents) {
        assert.ok(d.resource || d.skipped, `${f.name}: document ${d.index} was neither read nor skipped`);
      }
    });
  }
});

describe('Istio corpus: documents Istio rejects', () => {
  for (const f of corpusFiles('rejected')) {
    describe(`rejected/${f.name}`, () => {
      it('names its source', () => {
        assert.match(f.text.split('\n')[0], SOURCE, `${f.name}: the first line must name the source`);
      });
      const docs = rejectedDocuments(f.text);
      it('has documents', () => assert.ok(docs.length > 0));
      for (const doc of docs) {
        it(`the document at line ${doc.firstLine} is rejected at the expected fields`, () => {
          assert.ok(doc.explained, `${f.name}:${doc.firstLine}: say what Istio reports with "# istio: ..."`);
          assert.ok(
            doc.expected.length > 0,
            `${f.name}:${doc.firstLine}: name the rejected field with "# expect-path: <path> @<line>"`,
          );
          // Blank lines in front keep the reported lines those of the whole file.
          const decoded = decode('\n'.repeat(doc.firstLine - 1) + doc.text, f.name);
          const errors = decoded.issues.filter((i) => i.severity === 'error');
          const produced = errors.map(formatIssue);
          assert.ok(
            decoded.documents.every((d) => !d.resource),
            `${f.name}:${doc.firstLine}: Istio rejects this document, Mizzen accepted it`,
          );
          for (const want of doc.expected) {
            const hit = errors.some(
              (e) => formatPath(e.path) === want.path && e.line === want.line && e.file === f.name,
            );
            assert.ok(
              hit,
              `${f.name}:${doc.firstLine}: no error at ${want.path} (line ${want.line}); produced:\n  ${produced.join('\n  ')}`,
            );
          }
        });
      }
    });
  }
});

describe('the corpus reader', () => {
  it('splits a file into documents and reads each one’s expectations', () => {
    const docs = rejectedDocuments(
      [
        '# Source: x',
        '# istio: bad',
        '# expect-path: spec.hosts @6',
        'apiVersion: networking.istio.io/v1',
        'kind: ServiceEntry',
        'metadata: {name: a}',
        '---',
        '# only a comment',
        '---',
        'kind: Gateway',
        '---',
        '# istio: does not parse',
        '# expect-path: (document) @14',
        'kind: Sidecar',
      ].join('\n'),
    );
    assert.deepEqual(
      docs.map((d) => [d.firstLine, d.expected, d.explained]),
      [
        [1, [{ path: 'spec.hosts', line: 6 }], true],
        [10, [], false],
        [12, [{ path: '', line: 14 }], true],
      ],
    );
  });
});
