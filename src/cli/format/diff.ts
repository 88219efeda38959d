/**
 * Unified diff of two texts, line by line, with `context` unchanged lines around each change
 * (the format of `diff -u`). The common head and tail are cut first, so the usual case — two
 * large texts that differ in a few places — costs a longest-common-subsequence table over the
 * differing middle only; a middle too large for that table (over four million cells) is shown
 * as one replaced block rather than taking unbounded memory.
 */

export interface DiffOptions {
  /** Label of the old text (`--- label`). */
  readonly from: string;
  /** Label of the new text (`+++ label`). */
  readonly to: string;
  /** Unchanged lines shown around a change (default 3). */
  readonly context?: number;
}

type Op = { readonly kind: ' ' | '-' | '+'; readonly line: string };

const MAX_TABLE_CELLS = 4_000_000;

function splitLines(text: string): string[] {
  if (text === '') return [];
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/** The edit script turning `a` into `b`. */
export function diffLines(a: readonly string[], b: readonly string[]): Op[] {
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (
    tail < a.length - head &&
    tail < b.length - head &&
    a[a.length - 1 - tail] === b[b.length - 1 - tail]
  ) {
    tail++;
  }
  const ops: Op[] = a.slice(0, head).map((line) => ({ kind: ' ', line }));
  const am = a.slice(head, a.length - tail);
  const bm = b.slice(head, b.length - tail);
  const n = am.length;
  const m = bm.length;
  if (n * m > MAX_TABLE_CELLS) {
    for (const line of am) ops.push({ kind: '-', line });
    for (const line of bm) ops.push({ kind: '+', line });
  } else {
    // lcs[i * (m + 1) + j]: length of the LCS of am[i..] and bm[j..].
    const lcs = new Uint32Array((n + 1) * (m + 1));
    for (let i = n - 1; i >= 0; i--) {
      for (let j = m - 1; j >= 0; j--) {
        lcs[i * (m + 1) + j] =
          am[i] === bm[j]
            ? lcs[(i + 1) * (m + 1) + j + 1] + 1
            : Math.max(lcs[(i + 1) * (m + 1) + j], lcs[i * (m + 1) + j + 1]);
      }
    }
    let i = 0;
    let j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && am[i] === bm[j]) {
        ops.push({ kind: ' ', line: am[i] });
        i++;
        j++;
      } else if (i < n && (j === m || lcs[(i + 1) * (m + 1) + j] >= lcs[i * (m + 1) + j + 1])) {
        // On a tie the deletion goes first, so a changed line reads "-old" then "+new".
        ops.push({ kind: '-', line: am[i] });
        i++;
      } else {
        ops.push({ kind: '+', line: bm[j] });
        j++;
      }
    }
  }
  for (const line of a.slice(a.length - tail)) ops.push({ kind: ' ', line });
  return ops;
}

/** `diff -u`'s range: the first line (1-based; the line before when empty) and the count. */
function range(start: number, count: number): string {
  const first = count === 0 ? start : start + 1;
  return count === 1 ? `${first}` : `${first},${count}`;
}

/** The unified diff of `a` and `b`, or '' when they are equal. */
export function unifiedDiff(a: string, b: string, options: DiffOptions): string {
  const context = options.context ?? 3;
  const ops = diffLines(splitLines(a), splitLines(b));
  const changed = ops.flatMap((op, i) => (op.kind === ' ' ? [] : [i]));
  if (changed.length === 0) return '';
  let out = `--- ${options.from}\n+++ ${options.to}\n`;
  // Group changes whose context windows touch into one hunk.
  let k = 0;
  while (k < changed.length) {
    const start = Math.max(0, changed[k] - context);
    let last = changed[k];
    while (k + 1 < changed.length && changed[k + 1] - last <= 2 * context) last = changed[++k];
    k++;
    const end = Math.min(ops.length, last + context + 1);
    let oldStart = 0;
    let newStart = 0;
    for (let i = 0; i < start; i++) {
      if (ops[i].kind !== '+') oldStart++;
      if (ops[i].kind !== '-') newStart++;
    }
    let oldCount = 0;
    let newCount = 0;
    let body = '';
    for (let i = start; i < end; i++) {
      const op = ops[i];
      if (op.kind !== '+') oldCount++;
      if (op.kind !== '-') newCount++;
      body += `${op.kind}${op.line}\n`;
    }
    out += `@@ -${range(oldStart, oldCount)} +${range(newStart, newCount)} @@\n${body}`;
  }
  return out;
}
