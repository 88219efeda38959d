/**
 * A syntax checker for CEL (Common Expression Language) expressions, which Telemetry uses for
 * access-log filters and metric tag values. It answers "does this parse?" the way a CEL parser
 * would (no type checking: attribute names are only known inside the proxy) and says where it
 * stopped. It builds no tree.
 */

const RESERVED = new Set([
  'as',
  'break',
  'const',
  'continue',
  'else',
  'for',
  'function',
  'if',
  'import',
  'let',
  'loop',
  'package',
  'namespace',
  'return',
  'var',
  'void',
  'while',
]);
const MAX_DEPTH = 250;

type TokenKind = 'ident' | 'number' | 'string' | 'punct' | 'eof';
interface Token {
  readonly kind: TokenKind;
  readonly text: string;
  readonly offset: number;
}

export class CelSyntaxError extends Error {
  readonly offset: number;
  constructor(message: string, offset: number) {
    super(message);
    this.name = 'CelSyntaxError';
    this.offset = offset;
  }
}

const PUNCT = [
  '&&',
  '||',
  '==',
  '!=',
  '<=',
  '>=',
  '(',
  ')',
  '[',
  ']',
  '{',
  '}',
  '.',
  ',',
  '?',
  ':',
  '!',
  '-',
  '+',
  '*',
  '/',
  '%',
  '<',
  '>',
];

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i];
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (src.startsWith('//', i)) {
      while (i < src.length && src[i] !== '\n') i++;
      continue;
    }
    const start = i;
    const str = /^(?:[rR][bB]?|[bB][rR]?)?(?:"""|'''|"|')/.exec(src.slice(i, i + 5));
    if (str) {
      i = scanString(src, i, str[0]);
      out.push({ kind: 'string', text: src.slice(start, i), offset: start });
      continue;
    }
    if (/[A-Za-z_]/.test(c)) {
      while (i < src.length && /[A-Za-z0-9_]/.test(src[i])) i++;
      out.push({ kind: 'ident', text: src.slice(start, i), offset: start });
      continue;
    }
    if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(src[i + 1] ?? ''))) {
      i = scanNumber(src, i);
      out.push({ kind: 'number', text: src.slice(start, i), offset: start });
      continue;
    }
    const p = PUNCT.find((op) => src.startsWith(op, i));
    if (!p) throw new CelSyntaxError(`unexpected character ${JSON.stringify(c)}`, i);
    i += p.length;
    out.push({ kind: 'punct', text: p, offset: start });
  }
  out.push({ kind: 'eof', text: '', offset: src.length });
  return out;
}

function scanNumber(src: string, start: number): number {
  const rest = src.slice(start);
  const m =
    /^0[xX][0-9a-fA-F]+[uU]?/.exec(rest) ??
    /^(?:[0-9]*\.[0-9]+(?:[eE][+-]?[0-9]+)?|[0-9]+[eE][+-]?[0-9]+)/.exec(rest) ??
    /^[0-9]+[uU]?/.exec(rest);
  const end = start + (m ? m[0].length : 1);
  if (/[A-Za-z_0-9.]/.test(src[end] ?? '') && !(src[end] === '.' && /[A-Za-z_]/.test(src[end + 1] ?? ''))) {
    throw new CelSyntaxError(`malformed number ${JSON.stringify(src.slice(start, end + 1))}`, start);
  }
  return end;
}

function scanString(src: string, start: number, opener: string): number {
  const quote = opener.replace(/^[rRbB]+/, '');
  const raw = /[rR]/.test(opener.slice(0, opener.length - quote.length));
  let i = start + opener.length;
  while (i < src.length) {
    if (src.startsWith(quote, i)) return i + quote.length;
    const c = src[i];
    if (quote.length === 1 && (c === '\n' || c === '\r')) break;
    if (c === '\\' && !raw) {
      const esc = /^\\(?:[abfnrtv\\'"`?]|x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-3][0-7]{2})/.exec(
        src.slice(i, i + 10),
      );
      if (!esc) throw new CelSyntaxError(`invalid escape sequence in string`, i);
      i += esc[0].length;
      continue;
    }
    i++;
  }
  throw new CelSyntaxError('unterminated string literal', start);
}

class Parser {
  private readonly tokens: Token[];
  private pos = 0;
  private depth = 0;
  constructor(tokens: Token[]) {
    this.tokens = tokens;
  }
  private get tok(): Token {
    return this.tokens[this.pos];
  }
  private is(text: string): boolean {
    return this.tok.kind === 'punct' && this.tok.text === text;
  }
  private accept(text: string): boolean {
    if (!this.is(text)) return false;
    this.pos++;
    return true;
  }
  private expect(text: string): void {
    if (!this.accept(text)) this.fail(`expected ${JSON.stringify(text)}`);
  }
  private fail(what: string): never {
    const t = this.tok;
    const found = t.kind === 'eof' ? 'the end of the expression' : JSON.stringify(t.text);
    throw new CelSyntaxError(`${what}, found ${found}`, t.offset);
  }
  parseAll(): void {
    this.expr();
    if (this.tok.kind !== 'eof') this.fail('expected an operator or the end of the expression');
  }
  private expr(): void {
    if (++this.depth > MAX_DEPTH)
      throw new CelSyntaxError('expression is nested too deeply', this.tok.offset);
    this.binary(0);
    if (this.accept('?')) {
      this.binary(0);
      this.expect(':');
      this.expr();
    }
    this.depth--;
  }
  private static readonly LEVELS: readonly (readonly string[])[] = [
    ['||'],
    ['&&'],
    ['==', '!=', '<', '<=', '>', '>=', 'in'],
    ['+', '-'],
    ['*', '/', '%'],
  ];
  private binary(level: number): void {
    if (level === Parser.LEVELS.length) {
      this.unary();
      return;
    }
    this.binary(level + 1);
    while (this.atOperator(Parser.LEVELS[level])) {
      this.pos++;
      this.binary(level + 1);
    }
  }
  private atOperator(ops: readonly string[]): boolean {
    const t = this.tok;
    return (t.kind === 'punct' || (t.kind === 'ident' && t.text === 'in')) && ops.includes(t.text);
  }
  private unary(): void {
    let ops = 0;
    while (this.accept('!') || this.accept('-')) {
      if (++ops > MAX_DEPTH) throw new CelSyntaxError('expression is nested too deeply', this.tok.offset);
    }
    this.member();
  }
  private member(): void {
    this.primary();
    for (;;) {
      if (this.accept('.')) {
        this.identifier('a field name');
        if (this.accept('(')) this.args(')');
      } else if (this.accept('[')) {
        this.expr();
        this.expect(']');
      } else return;
    }
  }
  private primary(): void {
    const t = this.tok;
    if (t.kind === 'number' || t.kind === 'string') {
      this.pos++;
      return;
    }
    if (this.accept('(')) {
      this.expr();
      this.expect(')');
      return;
    }
    if (this.accept('[')) {
      this.args(']');
      return;
    }
    if (this.accept('{')) {
      this.entries('}', () => {
        this.expr();
        this.expect(':');
        this.expr();
      });
      return;
    }
    const leadingDot = this.accept('.');
    if (this.tok.kind === 'ident' && ['true', 'false', 'null'].includes(this.tok.text) && !leadingDot) {
      this.pos++;
      return;
    }
    this.identifier('an expression');
    if (this.accept('(')) {
      this.args(')');
      return;
    }
    // A qualified message name followed by `{field: value, ...}` constructs a message.
    while (this.is('.') && this.tokens[this.pos + 1]?.kind === 'ident') {
      const save = this.pos;
      this.pos++;
      this.identifier('a name');
      if (this.is('(')) {
        this.pos = save;
        return;
      }
    }
    if (this.accept('{')) {
      this.entries('}', () => {
        this.identifier('a field name');
        this.expect(':');
        this.expr();
      });
    }
  }
  private identifier(what: string): void {
    const t = this.tok;
    if (t.kind !== 'ident' || t.text === 'in') this.fail(`expected ${what}`);
    if (RESERVED.has(t.text))
      throw new CelSyntaxError(`${JSON.stringify(t.text)} is a reserved word`, t.offset);
    this.pos++;
  }
  private args(close: string): void {
    this.entries(close, () => this.expr());
  }
  private entries(close: string, item: () => void): void {
    if (this.accept(close)) return;
    for (;;) {
      item();
      if (this.accept(close)) return;
      this.expect(',');
      if (this.accept(close)) return; // trailing comma
    }
  }
}

/** Throws CelSyntaxError when `expression` is not valid CEL syntax. */
export function parseCel(expression: string): void {
  if (expression.trim() === '') throw new CelSyntaxError('the expression is empty', 0);
  new Parser(tokenize(expression)).parseAll();
}

/** The error message with a 1-based line:column, or undefined when the expression parses. */
export function celSyntaxError(expression: string): string | undefined {
  try {
    parseCel(expression);
    return undefined;
  } catch (e) {
    if (!(e instanceof CelSyntaxError)) throw e;
    const before = expression.slice(0, e.offset).split('\n');
    return `${e.message} at ${before.length}:${before[before.length - 1].length + 1}`;
  }
}
