/**
 * VirtualService `corsPolicy` -> envoy.extensions.filters.http.cors.v3.CorsPolicy, the per-route
 * config of the CORS filter (Istio's TranslateCORSPolicy). Unmatched preflights are forwarded
 * unless `unmatchedPreflights: IGNORE`; maxAge is whole seconds.
 */
import type { CorsPolicy } from '../../../api/networking/virtual-service.ts';
import { parseDuration } from '../../../lib/duration.ts';
import { type Proto, toStringMatcher } from './match.ts';

export function buildCorsPolicy(cors: CorsPolicy): Proto {
  const out: Proto = {
    forward_not_matching_preflights: { value: cors.unmatchedPreflights !== 'IGNORE' },
  };
  if (cors.allowOrigins !== undefined) {
    const matchers = cors.allowOrigins.map(toStringMatcher).filter((m): m is Proto => m !== undefined);
    if (matchers.length > 0) out.allow_origin_string_match = matchers;
  } else if (cors.allowOrigin !== undefined && cors.allowOrigin.length > 0) {
    out.allow_origin_string_match = cors.allowOrigin.map((exact) => ({ exact }));
  }
  out.filter_enabled = { default_value: { numerator: 100, denominator: 'HUNDRED' } };
  if (cors.allowCredentials !== undefined) out.allow_credentials = { value: cors.allowCredentials };
  if (cors.allowHeaders?.length) out.allow_headers = cors.allowHeaders.join(',');
  if (cors.allowMethods?.length) out.allow_methods = cors.allowMethods.join(',');
  if (cors.exposeHeaders?.length) out.expose_headers = cors.exposeHeaders.join(',');
  if (cors.maxAge !== undefined) out.max_age = String(Math.trunc((parseDuration(cors.maxAge) ?? 0) / 1000));
  return out;
}
