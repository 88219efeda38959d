/** unifiedDiff: `diff -u` output, hunks and ranges. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { diffLines, unifiedDiff } from '../../../src/cli/format/diff.ts';

const labels = { from: 'a', to: 'b' };
const lines = (n: number, f = (i: number) => `line ${i}`) =>
  `${Array.from({ length: n }, (_, i) => f(i + 1)).join('\n')}\n`;

test('equal texts give an empty diff', () => {
  assert.equal(unifiedDiff('x\ny\n', 'x\ny\n', labels), '');
  assert.equal(unifiedDiff('', '', labels), '');
});

test('one changed line: a hunk with three lines of context either side', () => {
  const a = lines(10);
  const b = a.replace('line 5\n', 'line five\n');
  assert.equal(
    unifiedDiff(a, b, labels),
    '--- a\n+++ b\n@@ -2,7 +2,7 @@\n line 2\n line 3\n line 4\n-line 5\n+line five\n line 6\n line 7\n line 8\n',
  );
});

test('changes far apart make separate hunks; near ones share a hunk', () => {
  const a = lines(30);
  const far = a.replace('line 3\n', 'X\n').replace('line 25\n', 'Y\n');
  const d = unifiedDiff(a, far, labels);
  assert.deepEqual(d.match(/^@@ .* @@$/gm), ['@@ -1,6 +1,6 @@', '@@ -22,7 +22,7 @@']);
  const near = a.replace('line 3\n', 'X\n').replace('line 8\n', 'Y\n');
  assert.deepEqual(unifiedDiff(a, near, labels).match(/^@@ .* @@$/gm), ['@@ -1,11 +1,11 @@']);
});

test('pure insertions and deletions use diff -u ranges (an empty side names the line before)', () => {
  assert.equal(unifiedDiff('', 'new\n', labels), '--- a\n+++ b\n@@ -0,0 +1 @@\n+new\n');
  assert.equal(unifiedDiff('a\nb\n', 'a\n', labels), '--- a\n+++ b\n@@ -1,2 +1 @@\n a\n-b\n');
});

test('the edit script is minimal: a moved line is one delete and one insert', () => {
  const ops = diffLines(['a', 'b', 'c', 'd'], ['b', 'c', 'd', 'a']);
  assert.equal(ops.filter((o) => o.kind !== ' ').length, 2);
  assert.deepEqual(
    ops.filter((o) => o.kind === ' ').map((o) => o.line),
    ['b', 'c', 'd'],
  );
});

test('a middle too large for the table is shown as one replaced block, still correct', () => {
  const a = lines(2100, (i) => `a${i}`);
  const b = lines(2100, (i) => `b${i}`);
  const ops = diffLines(a.trimEnd().split('\n'), b.trimEnd().split('\n'));
  assert.equal(ops.filter((o) => o.kind === '-').length, 2100);
  assert.equal(ops.filter((o) => o.kind === '+').length, 2100);
  assert.ok(ops.findIndex((o) => o.kind === '+') > ops.findLastIndex((o) => o.kind === '-'));
});
