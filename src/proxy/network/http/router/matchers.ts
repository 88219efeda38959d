/**
 * Request matchers of the route table, compiled from config.route.v3 protos: HeaderMatcher
 * (every kind, invert_match, treat_missing_header_as_empty, pseudo-headers), query parameter
 * matchers and runtime fractions. Evaluated per request with no allocation beyond the header
 * value strings they read.
 */
import type { ProtoReader } from '../../../config/proto.ts';
import {
  compileRegexMatcher,
  compileStringMatcher,
  type StringMatch,
  StringMatchers,
} from '../../../matcher/string-matcher.ts';
import type { HeaderMap } from '../headers.ts';

/** What matchers read from a request. */
export interface RequestView {
  readonly headers: HeaderMap;
  readonly method: string;
  /** :path as it stands (including the query string). */
  readonly path: string;
  /** :authority / Host. */
  readonly authority: string;
  readonly scheme: string;
}

/** Header value as Envoy's matchers see it: pseudo-headers, and several fields joined by ','. */
export function headerValue(req: RequestView, lowerName: string): string | undefined {
  if (lowerName.charCodeAt(0) === 58 /* ':' */) {
    switch (lowerName) {
      case ':method':
        return req.method;
      case ':path':
        return req.path;
      case ':authority':
        return req.authority;
      case ':scheme':
        return req.scheme;
      default:
        return undefined;
    }
  }
  if (lowerName === 'host') return req.authority;
  return req.headers.get(lowerName);
}

const M_PRESENT = 0;
const M_STRING = 1;
const M_RANGE = 2;

export class HeaderMatcher {
  readonly name: string;
  readonly kind: number;
  readonly present: boolean;
  readonly string: StringMatch | undefined;
  readonly rangeStart: bigint;
  readonly rangeEnd: bigint;
  readonly invert: boolean;
  readonly missingAsEmpty: boolean;

  constructor(init: {
    name: string;
    kind: number;
    present?: boolean;
    string?: StringMatch;
    rangeStart?: bigint;
    rangeEnd?: bigint;
    invert?: boolean;
    missingAsEmpty?: boolean;
  }) {
    this.name = init.name;
    this.kind = init.kind;
    this.present = init.present ?? true;
    this.string = init.string;
    this.rangeStart = init.rangeStart ?? 0n;
    this.rangeEnd = init.rangeEnd ?? 0n;
    this.invert = init.invert ?? false;
    this.missingAsEmpty = init.missingAsEmpty ?? false;
  }

  /** Envoy's HeaderUtility::matchHeaders, including its rules for absent headers. */
  matches(req: RequestView): boolean {
    let value = headerValue(req, this.name);
    if (value === undefined) {
      if (!this.missingAsEmpty) {
        // Absent: only a present_match can be satisfied (present:false, or inverted present:true).
        return this.kind === M_PRESENT && (this.invert ? this.present : !this.present);
      }
      value = '';
    }
    let m: boolean;
    switch (this.kind) {
      case M_PRESENT:
        m = this.present;
        break;
      case M_STRING:
        m = this.string!.match(value);
        break;
      default:
        m = rangeMatch(value, this.rangeStart, this.rangeEnd);
    }
    return m !== this.invert;
  }

  /** Same matching over a plain value lookup (response headers for retriable_headers). */
  matchesHeaders(headers: HeaderMap): boolean {
    return this.matches({ headers, method: '', path: '', authority: headers.get('host') ?? '', scheme: '' });
  }
}

const INT64 = /^[-+]?\d{1,19}$/;
function rangeMatch(value: string, start: bigint, end: bigint): boolean {
  if (!INT64.test(value)) return false;
  const v = BigInt(value);
  return v >= start && v < end;
}

function isValidHeaderName(name: string): boolean {
  return /^:?[a-z0-9!#$%&'*+\-.^_`|~]+$/.test(name);
}

/** config.route.v3.HeaderMatcher → HeaderMatcher. */
export function compileHeaderMatcher(r: ProtoReader): HeaderMatcher | undefined {
  const rawName = r.string('name');
  const name = rawName.toLowerCase();
  if (!isValidHeaderName(name)) r.ctx.error(r.at('name'), `invalid header name ${JSON.stringify(rawName)}`);
  const invert = r.bool('invert_match');
  const missingAsEmpty = r.bool('treat_missing_header_as_empty');
  const which = r.oneof([
    'exact_match',
    'safe_regex_match',
    'range_match',
    'present_match',
    'prefix_match',
    'suffix_match',
    'contains_match',
    'string_match',
  ]);
  r.raw('header_match_specifier');
  let out: HeaderMatcher | undefined;
  switch (which) {
    case 'exact_match':
      out = new HeaderMatcher({
        name,
        kind: M_STRING,
        string: StringMatchers.exact(r.string('exact_match')),
        invert,
        missingAsEmpty,
      });
      break;
    case 'prefix_match':
      out = new HeaderMatcher({
        name,
        kind: M_STRING,
        string: StringMatchers.prefix(r.string('prefix_match')),
        invert,
        missingAsEmpty,
      });
      break;
    case 'suffix_match':
      out = new HeaderMatcher({
        name,
        kind: M_STRING,
        string: StringMatchers.suffix(r.string('suffix_match')),
        invert,
        missingAsEmpty,
      });
      break;
    case 'contains_match':
      out = new HeaderMatcher({
        name,
        kind: M_STRING,
        string: StringMatchers.contains(r.string('contains_match')),
        invert,
        missingAsEmpty,
      });
      break;
    case 'safe_regex_match': {
      const m = r.message('safe_regex_match');
      const re = m ? compileRegexMatcher(m) : undefined;
      if (re) out = new HeaderMatcher({ name, kind: M_STRING, string: re, invert, missingAsEmpty });
      break;
    }
    case 'string_match': {
      const m = r.message('string_match');
      const sm = m ? compileStringMatcher(m) : undefined;
      if (sm) out = new HeaderMatcher({ name, kind: M_STRING, string: sm, invert, missingAsEmpty });
      break;
    }
    case 'range_match': {
      const m = r.message('range_match');
      if (m) {
        const start = BigInt(Math.trunc(m.number('start')));
        const end = BigInt(Math.trunc(m.number('end')));
        m.done();
        if (end <= start) r.ctx.error(r.at('range_match'), 'range end must be greater than start');
        out = new HeaderMatcher({
          name,
          kind: M_RANGE,
          rangeStart: start,
          rangeEnd: end,
          invert,
          missingAsEmpty,
        });
      }
      break;
    }
    case 'present_match':
      out = new HeaderMatcher({
        name,
        kind: M_PRESENT,
        present: r.bool('present_match'),
        invert,
        missingAsEmpty,
      });
      break;
    default:
      // Only a name: the header must be present.
      out = new HeaderMatcher({ name, kind: M_PRESENT, present: true, invert, missingAsEmpty });
  }
  r.done();
  return out;
}

/** config.route.v3.QueryParameterMatcher. */
export class QueryParameterMatcher {
  readonly name: string;
  readonly string: StringMatch | undefined;
  constructor(name: string, string: StringMatch | undefined) {
    this.name = name;
    this.string = string;
  }
  /** `params` is the decoded query (first value per name, Envoy's getFirstValue). */
  matches(params: Map<string, string>): boolean {
    const v = params.get(this.name);
    if (v === undefined) return false;
    return this.string === undefined || this.string.match(v);
  }
}

export function compileQueryParameterMatcher(r: ProtoReader): QueryParameterMatcher | undefined {
  const name = r.string('name');
  if (name === '') r.ctx.error(r.at('name'), 'query parameter name must not be empty');
  const which = r.oneof(['string_match', 'present_match']);
  r.raw('query_parameter_match_specifier');
  let sm: StringMatch | undefined;
  if (which === 'string_match') {
    const m = r.message('string_match');
    sm = m ? compileStringMatcher(m) : undefined;
  } else if (which === 'present_match') {
    if (!r.bool('present_match')) r.ctx.error(r.at('present_match'), 'present_match must be true when set');
  }
  r.done();
  return new QueryParameterMatcher(name, sm);
}

/** Parses and percent-decodes a query string into first-value-per-name (Envoy's rules). */
export function parseQuery(path: string): Map<string, string> {
  const out = new Map<string, string>();
  const q = path.indexOf('?');
  if (q < 0) return out;
  const hash = path.indexOf('#', q);
  const query = path.slice(q + 1, hash < 0 ? undefined : hash);
  for (const part of query.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = decodePercent(eq < 0 ? part : part.slice(0, eq));
    const value = eq < 0 ? '' : decodePercent(part.slice(eq + 1));
    if (!out.has(name)) out.set(name, value);
  }
  return out;
}

function decodePercent(s: string): string {
  if (!s.includes('%')) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

const DENOMINATORS: Record<string, number> = { HUNDRED: 100, TEN_THOUSAND: 10_000, MILLION: 1_000_000 };

/** type.v3.FractionalPercent → {numerator, denominator}. */
export function compileFractionalPercent(r: ProtoReader): { numerator: number; denominator: number } {
  const numerator = r.number('numerator');
  const den = r.enumName('denominator', ['HUNDRED', 'TEN_THOUSAND', 'MILLION'] as const);
  r.done();
  const denominator = DENOMINATORS[den];
  return { numerator: Math.min(numerator, denominator), denominator };
}

/**
 * core.v3.RuntimeFractionalPercent. Mizzen has no runtime layer, so the runtime key (which
 * only overrides the default in Envoy) is accepted and the default fraction applies.
 */
export function compileRuntimeFraction(r: ProtoReader): { numerator: number; denominator: number } {
  const dv = r.message('default_value');
  const f = dv ? compileFractionalPercent(dv) : { numerator: 0, denominator: 100 };
  r.ignore('runtime_key');
  r.done();
  return f;
}
