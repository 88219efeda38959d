/**
 * HTTPMatchRequest -> Envoy RouteMatch (Istio's TranslateRouteMatch): uri exact/prefix/regex as
 * path/prefix/safe_regex, headers and withoutHeaders as HeaderMatchers (inverted for
 * withoutHeaders, sorted by name), method/authority/scheme as pseudo-header matchers,
 * queryParams as QueryParameterMatchers, ignoreUriCase as case_sensitive, and JWT claim
 * "headers" (`@request.auth.claims…`) as dynamic-metadata matchers on the jwt_authn payload.
 *
 * The static parts of a match (port, sourceLabels, sourceNamespace, gateways) are not runtime
 * predicates; route.ts evaluates them for the proxy being configured.
 */
import type { StringMatch } from '../../../api/networking/shared.ts';
import type { HTTPMatchRequest } from '../../../api/networking/virtual-service.ts';

export type Proto = Record<string, unknown>;

const JWT_AUTHN_FILTER = 'envoy.filters.http.jwt_authn';
const JWT_PAYLOAD_KEY = 'payload';
const CLAIMS_PREFIX = '@request.auth.claims';

/** Istio StringMatch -> envoy.type.matcher.v3.StringMatcher (undefined for an empty match). */
export function toStringMatcher(m: StringMatch | undefined): Proto | undefined {
  if (!m) return undefined;
  if (m.exact !== undefined) return { exact: m.exact };
  if (m.prefix !== undefined) return { prefix: m.prefix };
  if (m.regex !== undefined) return { safe_regex: { regex: m.regex } };
  return undefined;
}

/**
 * An empty StringMatch, or the regex `*` (a glob, not RE2: Istio reads it as "present"), becomes
 * a presence check.
 */
export function isPresentMatch(m: StringMatch | undefined): boolean {
  if (!m) return true;
  if (m.exact === undefined && m.prefix === undefined && m.regex === undefined) return true;
  return m.regex === '*';
}

export function buildHeaderMatcher(name: string, m: StringMatch | undefined): Proto {
  if (isPresentMatch(m)) return { name, present_match: true };
  return { name, string_match: toStringMatcher(m) };
}

function buildQueryParameterMatcher(name: string, m: StringMatch | undefined): Proto {
  if (isPresentMatch(m)) return { name, present_match: true };
  return { name, string_match: toStringMatcher(m) };
}

/**
 * `@request.auth.claims.a.b` or `@request.auth.claims[a][b]` -> ['a', 'b']; undefined when the
 * name is not a claim reference (Istio's jwt.ToRoutingClaim).
 */
export function parseRoutingClaim(name: string): string[] | undefined {
  if (!name.startsWith(CLAIMS_PREFIX)) return undefined;
  const rest = name.slice(CLAIMS_PREFIX.length);
  if (rest.startsWith('.')) {
    const parts = rest.slice(1).split('.');
    return parts.every((p) => p.length > 0) ? parts : undefined;
  }
  if (rest.startsWith('[')) {
    const parts: string[] = [];
    const re = /\[([^\]]+)\]/y;
    let i = 0;
    while (i < rest.length) {
      re.lastIndex = i;
      const m = re.exec(rest);
      if (!m) return undefined;
      parts.push(m[1]);
      i = re.lastIndex;
    }
    return parts.length > 0 ? parts : undefined;
  }
  return undefined;
}

/**
 * The metadata matcher for a claim: the claim may be a string or a list of strings, so the value
 * matches either form (Istio's extended JWT claim matching).
 */
function buildClaimMatcher(claims: readonly string[], m: StringMatch | undefined): Proto {
  const value = { string_match: toStringMatcher(m) ?? { safe_regex: { regex: '.+' } } };
  return {
    filter: JWT_AUTHN_FILTER,
    path: [JWT_PAYLOAD_KEY, ...claims].map((key) => ({ key })),
    value: { or_match: { value_matchers: [{ list_match: { one_of: value } }, value] } },
  };
}

function sortedEntries<V>(map: Readonly<Record<string, V>> | undefined): [string, V][] {
  return Object.entries(map ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** The catch-all match Istio uses for default routes and match-less HTTP routes. */
export function catchAllRouteMatch(): Proto {
  return { prefix: '/' };
}

export function buildRouteMatch(match: HTTPMatchRequest | undefined): Proto {
  const out: Proto = catchAllRouteMatch();
  if (!match) return out;

  const headers: Proto[] = [];
  const dynamicMetadata: Proto[] = [];
  for (const [name, m] of sortedEntries(match.headers)) {
    const claims = parseRoutingClaim(name);
    if (claims) dynamicMetadata.push(buildClaimMatcher(claims, m));
    else headers.push(buildHeaderMatcher(name, m));
  }
  for (const [name, m] of sortedEntries(match.withoutHeaders)) {
    const claims = parseRoutingClaim(name);
    if (claims) {
      dynamicMetadata.push({ ...buildClaimMatcher(claims, m), invert: true });
    } else {
      const h: Proto = { ...buildHeaderMatcher(name, m), invert_match: true };
      // A missing header counts as "not matching" (treat_missing_header_as_empty conflicts with
      // present_match, so it is only set on value matches).
      if (!isPresentMatch(m)) h.treat_missing_header_as_empty = true;
      headers.push(h);
    }
  }
  headers.sort((a, b) => (String(a.name) < String(b.name) ? -1 : String(a.name) > String(b.name) ? 1 : 0));

  if (match.uri) {
    if (match.uri.exact !== undefined) {
      delete out.prefix;
      out.path = match.uri.exact;
    } else if (match.uri.prefix !== undefined) {
      out.prefix = match.uri.prefix;
    } else if (match.uri.regex !== undefined) {
      delete out.prefix;
      out.safe_regex = { regex: match.uri.regex };
    }
  }
  out.case_sensitive = { value: !match.ignoreUriCase };

  if (match.method) headers.push(buildHeaderMatcher(':method', match.method));
  if (match.authority) headers.push(buildHeaderMatcher(':authority', match.authority));
  if (match.scheme) headers.push(buildHeaderMatcher(':scheme', match.scheme));
  if (headers.length > 0) out.headers = headers;

  const query = sortedEntries(match.queryParams).map(([name, m]) => buildQueryParameterMatcher(name, m));
  if (query.length > 0) out.query_parameters = query;
  if (dynamicMetadata.length > 0) out.dynamic_metadata = dynamicMetadata;
  return out;
}

/**
 * A catch-all route: prefix `/` (or regex `.*`) without header, query or metadata conditions.
 * Routes after it can never match.
 */
export function isCatchAllMatch(match: Proto): boolean {
  const pathAll = match.prefix === '/' || (match.safe_regex as Proto | undefined)?.regex === '.*';
  const none = (v: unknown) => !Array.isArray(v) || v.length === 0;
  return pathAll && none(match.headers) && none(match.query_parameters) && none(match.dynamic_metadata);
}
