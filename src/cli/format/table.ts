/**
 * Aligned text columns, the shape istioctl's tables have (Go's tabwriter with a padding of
 * five): every cell but the last in a row is padded to the widest cell of its column plus
 * the gap, and lines carry no trailing blanks. Widths count code points, so a non-ASCII
 * character counts once.
 */

export interface TableOptions {
  /** Spaces between columns (default 5, as istioctl). */
  readonly gap?: number;
}

const width = (s: string) => [...s].length;

export function formatTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  options: TableOptions = {},
): string {
  const gap = options.gap ?? 5;
  const all = [header, ...rows];
  const widths: number[] = [];
  for (const row of all) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, width(cell));
    });
  }
  let out = '';
  for (const row of all) {
    let line = '';
    row.forEach((cell, i) => {
      line += i === row.length - 1 ? cell : cell + ' '.repeat(widths[i] - width(cell) + gap);
    });
    out += `${line.trimEnd()}\n`;
  }
  return out;
}
