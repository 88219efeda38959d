/**
 * envoy.filters.http.cors: the filter (extensions.filters.http.cors.v3.Cors, no fields) does
 * nothing by itself; CorsPolicy comes per route or per virtual host (typed_per_filter_config),
 * the route's winning. With a policy and an Origin header:
 *   - a preflight (OPTIONS + Access-Control-Request-Method) from an allowed origin is answered
 *     200 here with Access-Control-Allow-{Origin,Methods,Headers,Credentials,Private-Network}
 *     and Max-Age; from another origin it is forwarded (forward_not_matching_preflights, default
 *     true) or answered 200 without CORS headers;
 *   - an actual request from an allowed origin gets Access-Control-Allow-Origin (and
 *     -Credentials, -Expose-Headers) added to its response.
 * filter_enabled (default 100%) gates all of it; shadow_enabled only feeds Envoy's stats.
 */
import type { CompileContext, ProtoReader } from '../../../config/proto.ts';
import { compileStringMatcher, type StringMatch } from '../../../matcher/string-matcher.ts';
import { compileRuntimeFraction } from '../router/matchers.ts';
import {
  CONTINUE,
  type FilterStatus,
  type HttpFilter,
  type HttpFilterFactory,
  type HttpStream,
} from './filter.ts';
import type { HttpFilterRegistration } from './registry.ts';

export const CORS_TYPE = 'envoy.extensions.filters.http.cors.v3.Cors';
export const CORS_POLICY_TYPE = 'envoy.extensions.filters.http.cors.v3.CorsPolicy';

export interface CorsPolicy {
  readonly origins: readonly StringMatch[];
  readonly allowMethods: string;
  readonly allowHeaders: string;
  readonly exposeHeaders: string;
  readonly maxAge: string;
  readonly allowCredentials: boolean;
  readonly allowPrivateNetworkAccess: boolean;
  readonly forwardNotMatchingPreflights: boolean;
  readonly enabled: { readonly numerator: number; readonly denominator: number };
}

function compileCorsPolicy(r: ProtoReader): CorsPolicy {
  const origins: StringMatch[] = [];
  for (const m of r.messages('allow_origin_string_match')) {
    const sm = compileStringMatcher(m);
    if (sm) origins.push(sm);
  }
  const allowMethods = r.string('allow_methods');
  const allowHeaders = r.string('allow_headers');
  const exposeHeaders = r.string('expose_headers');
  const maxAge = r.string('max_age');
  if (maxAge !== '' && !/^\d+$/.test(maxAge))
    r.ctx.error(r.at('max_age'), 'max_age must be a number of seconds');
  const allowCredentials = r.wrappedBool('allow_credentials') ?? false;
  const allowPrivateNetworkAccess = r.wrappedBool('allow_private_network_access') ?? false;
  const forwardNotMatchingPreflights = r.wrappedBool('forward_not_matching_preflights') ?? true;
  const fe = r.message('filter_enabled');
  const enabled = fe ? compileRuntimeFraction(fe) : { numerator: 100, denominator: 100 };
  // Shadow mode only evaluates the policy for stats; requests are unaffected either way.
  r.ignore('shadow_enabled');
  r.done();
  return {
    origins,
    allowMethods,
    allowHeaders,
    exposeHeaders,
    maxAge,
    allowCredentials,
    allowPrivateNetworkAccess,
    forwardNotMatchingPreflights,
    enabled,
  };
}

class CorsFilter implements HttpFilter {
  private readonly factory: CorsFilterFactory;
  /** Set for an actual request from an allowed origin: the response gets CORS headers. */
  private origin: string | undefined;
  private policy: CorsPolicy | undefined;

  constructor(factory: CorsFilterFactory) {
    this.factory = factory;
  }

  onRequestHeaders(stream: HttpStream, _endStream: boolean): FilterStatus {
    const p = stream.perFilterConfig(this.factory.name) as CorsPolicy | undefined;
    if (p === undefined) return CONTINUE;
    const origin = stream.requestHeaders.get('origin');
    if (origin === undefined || origin === '') return CONTINUE;
    const e = p.enabled;
    if (e.numerator < e.denominator && !(this.factory.random() * e.denominator < e.numerator))
      return CONTINUE;
    const allowed = p.origins.some((m) => m.match(origin));
    const preflight =
      stream.method === 'OPTIONS' && stream.requestHeaders.get('access-control-request-method') !== undefined;
    if (!preflight) {
      if (allowed) {
        this.origin = origin;
        this.policy = p;
      }
      return CONTINUE;
    }
    if (!allowed) {
      if (p.forwardNotMatchingPreflights) return CONTINUE;
      return { status: 200, details: 'cors_preflight_rejected' };
    }
    const headers: [string, string][] = [['access-control-allow-origin', origin]];
    if (p.allowCredentials) headers.push(['access-control-allow-credentials', 'true']);
    if (p.allowMethods !== '') headers.push(['access-control-allow-methods', p.allowMethods]);
    if (p.allowHeaders !== '') headers.push(['access-control-allow-headers', p.allowHeaders]);
    if (p.maxAge !== '') headers.push(['access-control-max-age', p.maxAge]);
    if (
      p.allowPrivateNetworkAccess &&
      stream.requestHeaders.get('access-control-request-private-network') === 'true'
    ) {
      headers.push(['access-control-allow-private-network', 'true']);
    }
    return { status: 200, details: 'cors_response', headers };
  }

  onResponseHeaders(stream: HttpStream, _endStream: boolean): FilterStatus {
    const p = this.policy;
    const h = stream.responseHeaders;
    if (p === undefined || this.origin === undefined || h === undefined) return CONTINUE;
    h.remove('access-control-allow-origin');
    h.add('access-control-allow-origin', this.origin);
    if (p.allowCredentials) {
      h.remove('access-control-allow-credentials');
      h.add('access-control-allow-credentials', 'true');
    }
    if (p.exposeHeaders !== '') {
      h.remove('access-control-expose-headers');
      h.add('access-control-expose-headers', p.exposeHeaders);
    }
    return CONTINUE;
  }
}

class CorsFilterFactory implements HttpFilterFactory {
  readonly name: string;
  readonly terminal = false;
  readonly random: () => number;
  constructor(name: string, random: () => number) {
    this.name = name;
    this.random = random;
  }
  create(): HttpFilter {
    return new CorsFilter(this);
  }
}

export const corsFilterRegistration: HttpFilterRegistration = {
  typeName: CORS_TYPE,
  compile(r: ProtoReader, filterName: string, env) {
    // The v3 Cors message has no fields; anything set is unknown and reported by done().
    r.done();
    const random = (env.services.random as (() => number) | undefined) ?? Math.random;
    return new CorsFilterFactory(filterName, random);
  },
};

/** The per-route message has its own type name, so it registers separately. */
export const corsPolicyRegistration: HttpFilterRegistration = {
  typeName: CORS_POLICY_TYPE,
  compile(r: ProtoReader) {
    r.ctx.error(r.path, 'CorsPolicy is a per-route config, not a filter config');
    return undefined;
  },
  compilePerRoute(r: ProtoReader, _ctx: CompileContext) {
    return compileCorsPolicy(r);
  },
};
