/**
 * Envoy's StringMatcher and RegexMatcher compiled once at config time. Regexes use RE2
 * (re2-wasm), with Envoy's full-match semantics: the whole input must match.
 */
import type { RE2 } from 're2-wasm';
import { re2Class } from '../../lib/lazy-module.ts';
import type { CompileContext, ProtoReader } from '../config/proto.ts';

export interface StringMatch {
  match(value: string): boolean;
  /** For config dumps and errors. */
  readonly describe: string;
}

class Exact implements StringMatch {
  readonly v: string;
  readonly describe: string;
  constructor(v: string) {
    this.v = v;
    this.describe = `exact ${JSON.stringify(v)}`;
  }
  match(s: string): boolean {
    return s === this.v;
  }
}
class ExactIgnoreCase implements StringMatch {
  readonly v: string;
  readonly describe: string;
  constructor(v: string) {
    this.v = v.toLowerCase();
    this.describe = `exact (ignore case) ${JSON.stringify(v)}`;
  }
  match(s: string): boolean {
    return s.length === this.v.length && s.toLowerCase() === this.v;
  }
}
class Prefix implements StringMatch {
  readonly v: string;
  readonly ic: boolean;
  readonly describe: string;
  constructor(v: string, ic: boolean) {
    this.v = ic ? v.toLowerCase() : v;
    this.ic = ic;
    this.describe = `prefix ${JSON.stringify(v)}`;
  }
  match(s: string): boolean {
    if (s.length < this.v.length) return false;
    return this.ic ? s.slice(0, this.v.length).toLowerCase() === this.v : s.startsWith(this.v);
  }
}
class Suffix implements StringMatch {
  readonly v: string;
  readonly ic: boolean;
  readonly describe: string;
  constructor(v: string, ic: boolean) {
    this.v = ic ? v.toLowerCase() : v;
    this.ic = ic;
    this.describe = `suffix ${JSON.stringify(v)}`;
  }
  match(s: string): boolean {
    if (s.length < this.v.length) return false;
    return this.ic ? s.slice(s.length - this.v.length).toLowerCase() === this.v : s.endsWith(this.v);
  }
}
class Contains implements StringMatch {
  readonly v: string;
  readonly ic: boolean;
  readonly describe: string;
  constructor(v: string, ic: boolean) {
    this.v = ic ? v.toLowerCase() : v;
    this.ic = ic;
    this.describe = `contains ${JSON.stringify(v)}`;
  }
  match(s: string): boolean {
    return (this.ic ? s.toLowerCase() : s).includes(this.v);
  }
}

/** A compiled RE2 regex with full-match `match()`, search `test()` and global `replace()`. */
export class Re2Regex implements StringMatch {
  readonly source: string;
  readonly describe: string;
  private readonly full: RE2;
  private global: RE2 | undefined;
  constructor(source: string) {
    this.source = source;
    this.describe = `regex ${JSON.stringify(source)}`;
    this.full = new (re2Class())(`^(?:${source})$`, 'u');
  }
  match(s: string): boolean {
    return this.full.test(s);
  }
  /** Replaces every non-overlapping match (RE2::GlobalReplace); `sub` uses \1..\9. */
  replaceAll(s: string, jsReplacement: string): string {
    if (this.global === undefined) this.global = new (re2Class())(this.source, 'gu');
    this.global.lastIndex = 0;
    return this.global.replace(s, jsReplacement);
  }
}

/** Compiles an RE2 pattern, recording an error (with the RE2 message) at `path` on failure. */
export function compileRe2(ctx: CompileContext, pattern: string, path: string): Re2Regex | undefined {
  try {
    return new Re2Regex(pattern);
  } catch (err) {
    ctx.error(
      path,
      `invalid RE2 regex ${JSON.stringify(pattern)}: ${err instanceof Error ? err.message : err}`,
    );
    return undefined;
  }
}

/** RE2 substitution (\1, \\) → JavaScript replacement string ($1, $$). */
export function re2SubstitutionToJs(ctx: CompileContext, sub: string, path: string): string | undefined {
  let out = '';
  for (let i = 0; i < sub.length; i++) {
    const c = sub[i];
    if (c === '$') {
      out += '$$';
    } else if (c === '\\') {
      const n = sub[i + 1];
      if (n === undefined) {
        ctx.error(path, 'substitution ends with a lone backslash');
        return undefined;
      }
      if (n === '\\') out += '\\';
      else if (n >= '0' && n <= '9') out += `$${n}`;
      else {
        ctx.error(path, `invalid escape \\${n} in substitution`);
        return undefined;
      }
      i++;
    } else {
      out += c;
    }
  }
  return out;
}

/** type.matcher.v3.RegexMatcher → Re2Regex. */
export function compileRegexMatcher(r: ProtoReader): Re2Regex | undefined {
  const engine = r.message('google_re2');
  if (engine) {
    // max_program_size is deprecated and only bounds compile cost; RE2 is always the engine.
    engine.ignore('max_program_size');
    engine.done();
  }
  r.raw('engine_type');
  const regex = r.string('regex');
  r.done();
  if (regex === '') {
    r.ctx.error(r.at('regex'), 'regex must not be empty');
    return undefined;
  }
  return compileRe2(r.ctx, regex, r.at('regex'));
}

/** type.matcher.v3.StringMatcher → StringMatch. */
export function compileStringMatcher(r: ProtoReader): StringMatch | undefined {
  const which = r.oneof(['exact', 'prefix', 'suffix', 'safe_regex', 'contains', 'custom']);
  r.raw('match_pattern');
  const ic = r.bool('ignore_case');
  let out: StringMatch | undefined;
  switch (which) {
    case 'exact': {
      const v = r.string('exact');
      out = ic ? new ExactIgnoreCase(v) : new Exact(v);
      break;
    }
    case 'prefix':
      out = new Prefix(r.string('prefix'), ic);
      break;
    case 'suffix':
      out = new Suffix(r.string('suffix'), ic);
      break;
    case 'contains':
      out = new Contains(r.string('contains'), ic);
      break;
    case 'safe_regex': {
      // ignore_case has no effect on safe_regex in Envoy; (?i) in the pattern does that.
      const m = r.message('safe_regex');
      out = m ? compileRegexMatcher(m) : undefined;
      break;
    }
    case 'custom':
      r.unsupported('custom', 'custom string matcher extensions are not supported');
      break;
    default:
      // An unset StringMatcher has exact "" (proto3 default); Envoy requires a pattern.
      r.ctx.error(r.path, 'one of exact, prefix, suffix, safe_regex or contains is required');
  }
  r.done();
  return out;
}

/** Plain constructors for code that builds matchers without protos (tests, TLS SAN). */
export const StringMatchers = {
  exact: (v: string, ignoreCase = false): StringMatch => (ignoreCase ? new ExactIgnoreCase(v) : new Exact(v)),
  prefix: (v: string, ignoreCase = false): StringMatch => new Prefix(v, ignoreCase),
  suffix: (v: string, ignoreCase = false): StringMatch => new Suffix(v, ignoreCase),
  contains: (v: string, ignoreCase = false): StringMatch => new Contains(v, ignoreCase),
};
