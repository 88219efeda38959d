/**
 * VirtualService `http[]` -> Envoy routes (Istio's BuildHTTPRoutesForVirtualService /
 * translateRoute). Each HTTPRoute becomes one Envoy route per `match` entry (all sharing the
 * action), in order; a route whose static conditions (port, sourceLabels, sourceNamespace,
 * gateways) do not hold for this proxy and listener is left out, and nothing is emitted after a
 * catch-all. Actions: redirect, direct response, or forward to one cluster / weighted clusters
 * with rewrite, host rewrite, timeout, retries, mirrors, hash policy and header mutations; fault
 * and CORS go to typed_per_filter_config. Default routes (no VirtualService) live here too.
 *
 * VirtualServices come normalized by the push context: FQDN hosts and destinations, gateway
 * names as `namespace/name` or `mesh`, delegates merged.
 */
import type { ConsistentHashLb, Destination } from '../../../api/networking/shared.ts';
import type {
  HTTPMatchRequest,
  HTTPRedirect,
  HTTPRetry,
  HTTPRoute,
  HTTPRouteDestination,
} from '../../../api/networking/virtual-service.ts';
import { parseDuration } from '../../../lib/duration.ts';
import { typed } from '../../../lib/xds/any.ts';
import { CORS_POLICY_TYPE_URL, HTTP_FAULT_TYPE_URL } from '../../../lib/xds/type-urls.ts';
import { toProtoDuration, toProtoStruct } from '../../../lib/xds/well-known.ts';
import type { VirtualServiceConfig } from '../../model/indexes/virtual-service-index.ts';
import { outboundClusterName } from '../../model/naming.ts';
import { ISTIO_METADATA_KEY } from '../../model/well-known.ts';
import { buildHashPolicy } from '../cluster/lb-policy.ts';
import { HTTP_CORS, HTTP_FAULT } from '../filters/names.ts';
import { buildCorsPolicy } from './cors.ts';
import { buildHttpFault } from './fault.ts';
import { applyHeaderOperations, translateHeaderOperations } from './headers.ts';
import { buildRouteMatch, catchAllRouteMatch, isCatchAllMatch, type Proto } from './match.ts';
import { buildRequestMirrorPolicy, mirrorPercent, mirrorPolicyPercent } from './mirror.ts';
import { buildRetryPolicy } from './retry.ts';

/** Name of default routes (no VirtualService). */
export const DEFAULT_ROUTE_NAME = 'default';

/** What a destination host names in the registry, as far as route building cares. */
export interface RouteServiceView {
  readonly ports: readonly { readonly port: number }[];
}

export interface RouteBuildContext {
  readonly proxyLabels: Readonly<Record<string, string>>;
  readonly proxyNamespace: string;
  /** The listener port (sidecar) or gateway server port the routes are built for. */
  readonly listenPort: number;
  /** `mesh` for sidecars; `namespace/name` of the gateways owning the server for routers. */
  readonly gatewayNames: ReadonlySet<string>;
  /** Gateway server terminates TLS (redirects then default to https). */
  readonly isTls: boolean;
  /** Proxyless gRPC client: timeouts as max_stream_duration, no CORS. */
  readonly proxyless: boolean;
  /** MeshConfig.defaultHttpRetryPolicy. */
  readonly defaultRetryPolicy?: HTTPRetry;
  /** The service a FQDN names (single-port services pick their port when a destination has none). */
  readonly lookupService: (host: string) => RouteServiceView | undefined;
  /** DestinationRule consistent hash for a destination (subset and port-level settings applied). */
  readonly consistentHashFor: (destination: Destination) => ConsistentHashLb | undefined;
}

/** `filter_metadata.istio.config` naming the source object, as Istio's BuildConfigInfoMetadata. */
export function buildConfigInfoMetadata(config: {
  readonly kind: string;
  readonly group: string;
  readonly version: string;
  readonly meta: { readonly name: string; readonly namespace: string };
}): Proto {
  const kebab = config.kind.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase();
  const path = `/apis/${config.group}/${config.version}/namespaces/${config.meta.namespace}/${kebab}/${config.meta.name}`;
  return { filter_metadata: { [ISTIO_METADATA_KEY]: toProtoStruct({ config: path }) } };
}

/** Trace operation of default routes: `host:port/*` (Istio's telemetry.TraceOperation). */
export function traceOperation(host: string, port: number): string {
  return `${host}:${port}/*`;
}

function labelsSubsetOf(
  want: Readonly<Record<string, string>> | undefined,
  have: Readonly<Record<string, string>>,
): boolean {
  for (const [k, v] of Object.entries(want ?? {})) if (have[k] !== v) return false;
  return true;
}

/** Istio's sourceMatchHTTP: gateways decide if listed, else source labels and namespace. */
function sourceMatches(match: HTTPMatchRequest | undefined, ctx: RouteBuildContext): boolean {
  if (!match) return true;
  if (match.gateways && match.gateways.length > 0) {
    return match.gateways.some((g) => ctx.gatewayNames.has(g));
  }
  if (!labelsSubsetOf(match.sourceLabels, ctx.proxyLabels)) return false;
  return match.sourceNamespace === undefined || match.sourceNamespace === ctx.proxyNamespace;
}

/** The outbound cluster a destination routes to (Istio's GetDestinationCluster). */
export function destinationCluster(
  destination: Destination,
  service: RouteServiceView | undefined,
  listenPort: number,
): string {
  let port = listenPort;
  if (destination.port?.number !== undefined) port = destination.port.number;
  else if (service && service.ports.length === 1) port = service.ports[0].port;
  return outboundClusterName(port, destination.host, destination.subset ?? '');
}

/** RouteAction.HashPolicy for a DestinationRule consistentHash (undefined for none). */
export function consistentHashToHashPolicy(hash: ConsistentHashLb | undefined): Proto | undefined {
  return buildHashPolicy(hash)[0];
}

/** Timeout fields of a RouteAction (Istio's setTimeout). */
function applyTimeout(action: Proto, timeout: string | undefined, proxyless: boolean): void {
  const d = toProtoDuration(timeout !== undefined ? (parseDuration(timeout) ?? 0) : 0);
  action.timeout = d;
  if (proxyless) {
    // gRPC reads only max_stream_duration (grpc-js-xds applies it as the call deadline cap).
    action.max_stream_duration = { max_stream_duration: d };
  } else {
    // Istio still uses the deprecated field: the grpc-timeout header may shorten, never exceed.
    action.max_grpc_timeout = d;
  }
}

/** Istio's ApplyRedirect; undefined for an unsupported redirect code (the route is dropped). */
export function buildRedirectAction(
  redirect: HTTPRedirect,
  listenPort: number,
  isTls: boolean,
): Proto | undefined {
  const out: Proto = {};
  if (redirect.authority) out.host_redirect = redirect.authority;
  if (redirect.uri) out.path_redirect = redirect.uri;
  if (redirect.scheme) out.scheme_redirect = redirect.scheme;
  if (redirect.port !== undefined || redirect.derivePort !== undefined) {
    let port = 0;
    if (redirect.port !== undefined) port = redirect.port;
    // Envoy cannot derive the port at run time, but routes are built per listener port.
    else if (redirect.derivePort === 'FROM_REQUEST_PORT') port = listenPort;
    const scheme = redirect.scheme || (isTls ? 'https' : 'http');
    if ((port === 80 && scheme === 'http') || (port === 443 && scheme === 'https')) port = 0;
    if (port !== 0) out.port_redirect = port;
  }
  const codes: Record<number, string> = {
    301: 'MOVED_PERMANENTLY',
    302: 'FOUND',
    303: 'SEE_OTHER',
    307: 'TEMPORARY_REDIRECT',
    308: 'PERMANENT_REDIRECT',
  };
  const code = codes[redirect.redirectCode ?? 301];
  if (!code) return undefined;
  out.response_code = code;
  return out;
}

/** `host:port<path>` of the single destination, else `vsName:listenPort<path>` (for tracing). */
function routeOperation(route: Proto, vsName: string, listenPort: number): string {
  const match = route.match as Proto;
  let path = '/*';
  if (typeof match.prefix === 'string') path = `${match.prefix}*`;
  else if (typeof match.path === 'string') path = match.path;
  else if (match.safe_regex) path = String((match.safe_regex as Proto).regex);
  const cluster = (route.route as Proto | undefined)?.cluster;
  if (typeof cluster === 'string') {
    const parts = cluster.split('|');
    if (parts.length === 4 && parts[0] === 'outbound' && /^\d+$/.test(parts[1])) {
      return `${parts[3]}:${parts[1]}${path}`;
    }
  }
  return `${vsName}:${listenPort}${path}`;
}

function forwardAction(
  out: Proto,
  http: HTTPRoute,
  ctx: RouteBuildContext,
  authorityFromHeaders: string,
): Proto {
  const action: Proto = {};
  applyTimeout(action, http.timeout, ctx.proxyless);

  let authority = authorityFromHeaders;
  if (http.rewrite) {
    if (http.rewrite.uriRegexRewrite) {
      action.regex_rewrite = {
        pattern: { regex: http.rewrite.uriRegexRewrite.match ?? '' },
        substitution: http.rewrite.uriRegexRewrite.rewrite ?? '',
      };
    } else if (http.rewrite.uri) {
      action.prefix_rewrite = http.rewrite.uri;
    }
    if (http.rewrite.authority) authority = http.rewrite.authority;
  }
  if (authority !== '') action.host_rewrite_literal = authority;

  const mirrors: Proto[] = [];
  if (http.mirror) {
    const mp = mirrorPercent(http);
    if (mp) {
      const dst = http.mirror;
      mirrors.push(
        buildRequestMirrorPolicy(destinationCluster(dst, ctx.lookupService(dst.host), ctx.listenPort), mp),
      );
    }
  }
  for (const m of http.mirrors ?? []) {
    const mp = mirrorPolicyPercent(m);
    if (!mp) continue;
    const dst = m.destination;
    mirrors.push(
      buildRequestMirrorPolicy(destinationCluster(dst, ctx.lookupService(dst.host), ctx.listenPort), mp),
    );
  }
  if (mirrors.length > 0) action.request_mirror_policies = mirrors;

  const destinations: readonly HTTPRouteDestination[] = http.route ?? [];
  const hashPolicies: Proto[] = [];
  let consistentHash = false;
  if (destinations.length === 1) {
    const d = destinations[0];
    action.cluster = destinationCluster(d.destination, ctx.lookupService(d.destination.host), ctx.listenPort);
    if (d.headers) {
      const ops = translateHeaderOperations(d.headers);
      applyHeaderOperations(out, ops);
      // The route-level rewrite wins; a destination's authority only fills an unset one.
      if (ops.authority !== '' && action.host_rewrite_literal === undefined)
        action.host_rewrite_literal = ops.authority;
    }
    const hash = ctx.consistentHashFor(d.destination);
    const hp = consistentHashToHashPolicy(hash);
    if (hp) hashPolicies.push(hp);
    consistentHash = hash !== undefined;
  } else {
    const clusters: Proto[] = [];
    for (const d of destinations) {
      if ((d.weight ?? 0) === 0) continue;
      const cw: Proto = {
        name: destinationCluster(d.destination, ctx.lookupService(d.destination.host), ctx.listenPort),
        weight: { value: d.weight },
      };
      if (d.headers) {
        const ops = translateHeaderOperations(d.headers);
        applyHeaderOperations(cw, ops);
        if (ops.authority !== '') cw.host_rewrite_literal = ops.authority;
      }
      clusters.push(cw);
      const hp = consistentHashToHashPolicy(ctx.consistentHashFor(d.destination));
      if (hp) hashPolicies.push(hp);
    }
    action.weighted_clusters = { clusters };
  }
  if (hashPolicies.length > 0) action.hash_policy = hashPolicies;

  const retry = buildRetryPolicy(http.retries ?? ctx.defaultRetryPolicy, consistentHash);
  if (retry) action.retry_policy = retry;
  return action;
}

/** One Envoy route for one (HTTPRoute, match) pair; undefined when it does not apply here. */
export function translateRoute(
  http: HTTPRoute,
  match: HTTPMatchRequest | undefined,
  vs: VirtualServiceConfig,
  ctx: RouteBuildContext,
): Proto | undefined {
  if (match?.port !== undefined && match.port !== 0 && match.port !== ctx.listenPort) return undefined;
  if (!sourceMatches(match, ctx)) return undefined;

  let name = http.name ?? '';
  if (match?.name) name = `${name}.${match.name}`;
  const out: Proto = {};
  if (name !== '') out.name = name;
  out.match = buildRouteMatch(match);
  out.metadata = buildConfigInfoMetadata(vs);
  if (match?.statPrefix) out.stat_prefix = match.statPrefix;

  let authority = '';
  if (http.headers) {
    const ops = translateHeaderOperations(http.headers);
    applyHeaderOperations(out, ops);
    authority = ops.authority;
  }

  if (http.redirect) {
    const redirect = buildRedirectAction(http.redirect, ctx.listenPort, ctx.isTls);
    if (!redirect) return undefined;
    out.redirect = redirect;
  } else if (http.directResponse) {
    const dr: Proto = { status: http.directResponse.status };
    const body = http.directResponse.body;
    if (body?.string !== undefined) dr.body = { inline_string: body.string };
    else if (body?.bytes !== undefined) dr.body = { inline_bytes: body.bytes };
    out.direct_response = dr;
  } else {
    out.route = forwardAction(out, http, ctx, authority);
  }

  out.decorator = { operation: routeOperation(out, vs.meta.name, ctx.listenPort) };

  const perFilter: Proto = {};
  const fault = buildHttpFault(http.fault);
  if (fault) perFilter[HTTP_FAULT] = typed(HTTP_FAULT_TYPE_URL, fault);
  // Proxyless gRPC rejects per-route config of filters it does not implement (CORS).
  if (http.corsPolicy && !ctx.proxyless)
    perFilter[HTTP_CORS] = typed(CORS_POLICY_TYPE_URL, buildCorsPolicy(http.corsPolicy));
  if (Object.keys(perFilter).length > 0) out.typed_per_filter_config = perFilter;
  return out;
}

/**
 * All Envoy routes of a VirtualService for one listener port, in order; stops after a catch-all.
 * Empty when nothing applies (Istio then leaves the VirtualService out of this port).
 */
export function buildHttpRoutesForVirtualService(vs: VirtualServiceConfig, ctx: RouteBuildContext): Proto[] {
  const out: Proto[] = [];
  for (const http of vs.spec.http ?? []) {
    // Delegating routes are expanded into their delegates when the push context merges them;
    // one left here points at a missing delegate and routes nowhere.
    if (http.delegate) continue;
    let catchAll = false;
    if (!http.match || http.match.length === 0) {
      const r = translateRoute(http, undefined, vs, ctx);
      if (r) out.push(r);
      catchAll = true;
    } else {
      for (const m of http.match) {
        const r = translateRoute(http, m, vs, ctx);
        if (!r) continue;
        out.push(r);
        if (isCatchAllMatch(r.match as Proto)) {
          catchAll = true;
          break;
        }
      }
    }
    if (catchAll) break;
  }
  return out;
}

/** Moves catch-all routes behind the others, keeping relative order (Istio's SortVHostRoutes). */
export function sortVirtualHostRoutes(routes: readonly Proto[]): Proto[] {
  const normal = routes.filter((r) => !isCatchAllMatch(r.match as Proto));
  const catchAll = routes.filter((r) => isCatchAllMatch(r.match as Proto));
  return [...normal, ...catchAll];
}

/** The route of a service without VirtualService (Istio's BuildDefaultHTTPOutboundRoute). */
export function buildDefaultOutboundRoute(
  cluster: string,
  operation: string,
  options: { readonly defaultRetryPolicy?: HTTPRetry; readonly hash?: ConsistentHashLb },
): Proto {
  const action: Proto = { cluster };
  const retry = buildRetryPolicy(options.defaultRetryPolicy, false);
  if (retry) action.retry_policy = retry;
  applyTimeout(action, undefined, false);
  const hp = consistentHashToHashPolicy(options.hash);
  if (hp) action.hash_policy = [hp];
  return { name: DEFAULT_ROUTE_NAME, match: catchAllRouteMatch(), decorator: { operation }, route: action };
}

/**
 * The single route of an inbound HTTP chain (Istio's BuildDefaultHTTPInboundRoute): no timeout,
 * grpc-timeout honoured without cap, and a retry of requests reset before reaching the app.
 */
export function buildDefaultInboundRoute(cluster: string, operation: string): Proto {
  const zero = toProtoDuration(0);
  return {
    name: DEFAULT_ROUTE_NAME,
    match: catchAllRouteMatch(),
    decorator: { operation },
    route: {
      cluster,
      timeout: zero,
      max_stream_duration: { max_stream_duration: zero, grpc_timeout_header_max: zero },
      retry_policy: { retry_on: 'reset-before-request', num_retries: { value: 2 } },
    },
  };
}
