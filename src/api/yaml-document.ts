/**
 * YAML/JSON text -> documents with positions. Keeps, for every field path, the line and
 * column where it was written, so that any validator's `spec.http[1]...` path becomes
 * `file:line:col`. JSON is parsed by the same YAML 1.2 parser (it is a subset).
 */
import type { Node } from 'yaml';
import { jsYamlLib, yamlLib } from '../lib/lazy-module.ts';
import { type FieldPath, formatPath, type Issue, type Severity } from './validation.ts';

export interface Position {
  readonly line: number;
  readonly column: number;
}

export interface LocatedIssue extends Issue {
  readonly file: string;
  readonly line: number;
  readonly column: number;
}

export interface ParsedDocument {
  /** 0-based index of the document in its file. */
  readonly index: number;
  readonly value: unknown;
  /** Where the document starts. */
  readonly start: Position;
  /** Position of the nearest written ancestor of `path` (the key for a field, the item for a list entry). */
  locate(path: FieldPath): Position;
}

export function locateIssue(file: string, doc: ParsedDocument, issue: Issue): LocatedIssue {
  const pos = doc.locate(issue.path);
  return { ...issue, file, line: pos.line, column: pos.column };
}

/** `reviews.yaml:14:9 spec.http[1].route[0].destination.port.number: 70000 is not a valid port (1-65535)` */
export function formatIssue(i: LocatedIssue): string {
  const where = i.path.length > 0 ? ` ${formatPath(i.path)}:` : '';
  return `${i.file}:${i.line}:${i.column}${where} ${i.message}`;
}

function pathKey(path: FieldPath): string {
  return path.map((s) => (typeof s === 'number' ? `#${s}` : `.${s}`)).join('');
}

export interface ParsedFile {
  documents: ParsedDocument[];
  issues: LocatedIssue[];
}

/**
 * Parses every document of a file. Well-formed plain files (the common case) take a fast path:
 * js-yaml builds the values several times faster than the `yaml` library, and positions are
 * computed only when someone asks where a field is (when there is something to report), by
 * parsing the file again with `yaml`. Anything unusual (a syntax error, anchors, tags,
 * directives, document-end markers, tabs, a document that is only a scalar) goes straight to
 * the `yaml` path, which is the reference: both give the same documents, indexes and starts.
 */
export function parseYamlDocuments(text: string, file: string): ParsedFile {
  return parseFast(text, file) ?? parseWithPositions(text, file);
}

const SEPARATOR = /^---(?:[ \t]|$)/;
// Directives, document ends, tabs, and anchors, aliases or tags where a node can start (a
// quoted "*" or a `*` inside a word is not one). False positives only cost speed.
// A ':' right before ',', ']' or '}' is where YAML 1.2 and Go's YAML disagree (see
// goFlowScalars), so such text also takes the reference path.
const UNUSUAL = /^(?:%|\.\.\.(?:[ \t]|$))|\t|(?:^|[\s[{,])[&*!][^\s,\]}]|:[,\]}]/m;

export function parseFast(text: string, file: string): ParsedFile | undefined {
  if (UNUSUAL.test(text)) return undefined;
  const jsYaml = jsYamlLib();
  let values: unknown[];
  try {
    values = jsYaml.loadAll(text, undefined, { schema: jsYaml.CORE_SCHEMA, json: false });
  } catch {
    return undefined; // the reference path reports the error with its position
  }
  // Document starts: the first line of content after each separator. Text before the first
  // separator is a document only when it has content.
  const starts: (Position | undefined)[] = [];
  let current: Position | undefined;
  let open = false;
  text.split('\n').forEach((line, i) => {
    if (SEPARATOR.test(line)) {
      if (open || current) starts.push(current);
      open = true;
      const rest = line.slice(3);
      const at = rest.search(/\S/);
      current = at >= 0 && rest[at] !== '#' ? { line: i + 1, column: 4 + at } : undefined;
      return;
    }
    const trimmed = line.trimStart();
    if (current === undefined && trimmed !== '' && !trimmed.startsWith('#')) {
      current = { line: i + 1, column: line.length - trimmed.length + 1 };
    }
  });
  if (open || current) starts.push(current);
  const nonEmpty = values.filter((v) => v !== null && v !== undefined);
  const withContent = starts.filter((p) => p !== undefined);
  if (nonEmpty.length !== withContent.length || nonEmpty.some((v) => typeof v !== 'object')) return undefined;
  let reference: ParsedFile | undefined;
  const documents: ParsedDocument[] = [];
  let n = 0;
  starts.forEach((start, index) => {
    if (start === undefined) return;
    const value = nonEmpty[n++];
    documents.push({
      index,
      value,
      start,
      locate(path: FieldPath): Position {
        reference ??= parseWithPositions(text, file);
        const doc = reference.documents.find((d) => d.index === index);
        return doc ? doc.locate(path) : start;
      },
    });
  });
  return { documents, issues: [] };
}

/** The reference parser: the `yaml` library, with every node's position. */
export function parseWithPositions(text: string, file: string): ParsedFile {
  const { isScalar, LineCounter, parseAllDocuments } = yamlLib();
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: false, uniqueKeys: true, strict: true });
  const documents: ParsedDocument[] = [];
  const issues: LocatedIssue[] = [];
  const at = (offset: number): Position => {
    const p = lineCounter.linePos(offset);
    return { line: p.line, column: p.col };
  };
  const list = Array.isArray(docs) ? docs : [docs];
  list.forEach((doc, index) => {
    const problems = [
      ...doc.errors.map((e) => ({ e, severity: 'error' as Severity })),
      ...doc.warnings.map((e) => ({ e, severity: 'warning' as Severity })),
    ];
    for (const { e, severity } of problems) {
      const pos = at(e.pos[0]);
      const message = e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
      issues.push({
        file,
        path: [],
        message: `YAML: ${message}`,
        severity,
        line: pos.line,
        column: pos.column,
      });
    }
    if (doc.errors.length > 0) return;
    if (doc.contents) goFlowScalars(doc.contents as Node, text);
    const contents = doc.contents as Node | null;
    // An empty document ("---" alone, a trailing "---", only comments) is skipped, as kubectl does.
    if (contents === null || contents === undefined || (isScalar(contents) && contents.value === null))
      return;
    const start = contents.range ? at(contents.range[0]) : { line: 1, column: 1 };
    let positions: Map<string, Position> | undefined;
    documents.push({
      index,
      value: doc.toJS({ maxAliasCount: 100 }),
      start,
      locate(path: FieldPath): Position {
        // Built on first use: most documents are valid and never asked where a field is.
        positions ??= indexPositions(contents, at);
        for (let n = path.length; n > 0; n--) {
          const hit = positions.get(pathKey(path.slice(0, n)));
          if (hit) return hit;
        }
        return start;
      },
    });
  });
  return { documents, issues };
}

/**
 * Reads flow-sequence items as Go's YAML parser (which Kubernetes and Istio use) does. In YAML
 * 1.2 the item `001:db8::` in `[1.2.3.4, 001:db8::]` is a one-entry map `{"001:db8:": null}`,
 * because its last ':' is followed by ']'; Go ends a plain scalar only at a ':' followed by a
 * space, so it reads the string "001:db8::" (an IPv6 address). Such an item, a plain key whose
 * ':' is directly followed by ',' or ']' and no value, becomes that string.
 */
function goFlowScalars(node: Node, text: string): void {
  const { isMap, isPair, isScalar, isSeq, Scalar } = yamlLib();
  if (isMap(node)) {
    for (const pair of node.items) if (isPair(pair) && pair.value) goFlowScalars(pair.value as Node, text);
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => {
      const m = item as Node | null;
      if (isMap(m) && m.flow && m.items.length === 1 && m.range) {
        const [pair] = m.items;
        const key = pair.key as Node | null;
        const value = pair.value as Node | null;
        const end = m.range[1];
        if (
          (value === null || (isScalar(value) && value.value === null && value.source === '')) &&
          isScalar(key) &&
          key.type === Scalar.PLAIN &&
          key.range &&
          text[key.range[0]] !== ':' &&
          text[end - 1] === ':' &&
          end === key.range[1] + 1 &&
          /^\s*[,\]]/.test(text.slice(end))
        ) {
          const scalar = new Scalar(text.slice(key.range[0], end));
          scalar.range = [key.range[0], end, end];
          node.items[i] = scalar;
          return;
        }
      }
      if (m) goFlowScalars(m, text);
    });
  }
}

/** Field path -> position of its key (map entries) or of the item (list entries). */
function indexPositions(contents: Node, at: (offset: number) => Position): Map<string, Position> {
  const { isMap, isPair, isScalar, isSeq } = yamlLib();
  const positions = new Map<string, Position>();
  const walk = (node: unknown, path: FieldPath): void => {
    if (isMap(node)) {
      for (const pair of node.items) {
        if (!isPair(pair) || !isScalar(pair.key)) continue;
        const p = [...path, String(pair.key.value)];
        if (pair.key.range) positions.set(pathKey(p), at(pair.key.range[0]));
        walk(pair.value, p);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => {
        const p = [...path, i];
        const range = (item as Node | null)?.range;
        if (range) positions.set(pathKey(p), at(range[0]));
        walk(item, p);
      });
    }
  };
  walk(contents, []);
  return positions;
}
