/**
 * Request path handling done by the connection manager before routing: RFC 3986 dot-segment
 * removal with percent-encoding normalisation (normalize_path), slash merging (merge_slashes)
 * and the escaped-slash actions. Each returns undefined when the path is invalid (400).
 */

const HEX = '0123456789ABCDEF';

function isUnreserved(c: number): boolean {
  return (
    (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x61 && c <= 0x7a) ||
    (c >= 0x30 && c <= 0x39) ||
    c === 0x2d ||
    c === 0x2e ||
    c === 0x5f ||
    c === 0x7e
  );
}

function hexVal(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

/** Splits "/a/b?q" into path and query (query includes '?'). */
export function splitQuery(path: string): [string, string] {
  const q = path.indexOf('?');
  return q < 0 ? [path, ''] : [path.slice(0, q), path.slice(q)];
}

/** Decodes %XX of unreserved characters, upper-cases the hex of the others, checks syntax. */
function normalizePercent(p: string): string | undefined {
  if (!p.includes('%')) return p;
  let out = '';
  for (let i = 0; i < p.length; i++) {
    const c = p.charCodeAt(i);
    if (c !== 37) {
      out += p[i];
      continue;
    }
    const h = hexVal(p.charCodeAt(i + 1));
    const l = hexVal(p.charCodeAt(i + 2));
    if (h < 0 || l < 0) return undefined;
    const v = h * 16 + l;
    if (isUnreserved(v)) out += String.fromCharCode(v);
    else out += `%${HEX[h]}${HEX[l]}`;
    i += 2;
  }
  return out;
}

/** RFC 3986 §5.2.4 remove_dot_segments on an absolute path. */
export function removeDotSegments(path: string): string {
  const segments = path.split('/');
  const out: string[] = [];
  for (let i = 1; i < segments.length; i++) {
    const s = segments[i];
    const last = i === segments.length - 1;
    if (s === '.') {
      if (last) out.push('');
      continue;
    }
    if (s === '..') {
      if (out.length > 0) out.pop();
      if (last) out.push('');
      continue;
    }
    out.push(s);
  }
  return `/${out.join('/')}`;
}

/** normalize_path: percent-encoding normalisation then dot-segment removal. */
export function normalizePath(full: string): string | undefined {
  const [p, q] = splitQuery(full);
  const pct = normalizePercent(p);
  if (pct === undefined) return undefined;
  return removeDotSegments(pct) + q;
}

/** merge_slashes: "//a///b" → "/a/b" (path part only). */
export function mergeSlashes(full: string): string {
  const [p, q] = splitQuery(full);
  if (!p.includes('//')) return full;
  return p.replace(/\/{2,}/g, '/') + q;
}

const ESCAPED_SLASH = /%2f|%5c/i;

export function hasEscapedSlashes(full: string): boolean {
  const [p] = splitQuery(full);
  return ESCAPED_SLASH.test(p);
}

export function unescapeSlashes(full: string): string {
  const [p, q] = splitQuery(full);
  return p.replace(/%2f/gi, '/').replace(/%5c/gi, '\\') + q;
}
