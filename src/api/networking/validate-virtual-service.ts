/**
 * VirtualService semantic rules, as Istio's validating webhook applies them
 * (pkg/config/validation: ValidateVirtualService, validateHTTPRoute, ...): hosts and gateways,
 * route/redirect/directResponse/delegate combinations, matches and their regexes, header
 * operations, retries, faults, mirrors, CORS, TLS and TCP routes, and the unreachable-rule
 * warnings. Runs only on a structurally valid spec.
 */
import { parseDuration } from '../../lib/duration.ts';
import {
  fqdnError,
  isIpAddress,
  isIstioDnsLabel,
  validateConfigExportTo,
  validateIpOrCidr,
  validateLabels,
  validateMinDuration,
  validatePercent,
  validatePort,
  wildcardDomainError,
} from '../common/validators.ts';
import type { SemanticContext } from '../schema/kind.ts';
import { type FieldPath, type Issues, show } from '../validation.ts';
import {
  isAuthorityHeader,
  type StringMatch,
  validateDestination,
  validateHeaderName,
  validateHeaders,
  validateRe2,
  validateStringMatch,
} from './shared.ts';
import type {
  CorsPolicy,
  HTTPDirectResponse,
  HTTPFaultInjection,
  HTTPMatchRequest,
  HTTPRedirect,
  HTTPRetry,
  HTTPRewrite,
  HTTPRoute,
  HTTPRouteDestination,
  L4MatchAttributes,
  RouteDestination,
  TCPRoute,
  TLSMatchAttributes,
  TLSRoute,
  VirtualService,
} from './virtual-service.ts';

/** The reserved gateway name for sidecars. */
export const MESH_GATEWAY = 'mesh';

/** Envoy's x-envoy-retry-on and x-envoy-retry-grpc-on conditions Istio accepts. */
export const RETRY_ON_CONDITIONS: ReadonlySet<string> = new Set([
  '5xx',
  'gateway-error',
  'reset',
  'reset-before-request',
  'connect-failure',
  'retriable-4xx',
  'refused-stream',
  'retriable-status-codes',
  'retriable-headers',
  'envoy-ratelimited',
  'http3-post-connect-failure',
  'cancelled',
  'deadline-exceeded',
  'internal',
  'resource-exhausted',
  'unavailable',
]);

/** HTTP status codes with a registered reason phrase (what Istio accepts as a retryOn code). */
const KNOWN_STATUS_CODES: ReadonlySet<number> = new Set([
  100, 101, 102, 103, 200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 307,
  308, 400, 401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415, 416, 417, 418, 421,
  422, 423, 424, 425, 426, 428, 429, 431, 451, 500, 501, 502, 503, 504, 505, 506, 507, 508, 510, 511,
]);

// Istio's supportedCORSMethods: Go's method names, and "*" for any method.
const CORS_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', '*'];

/** gRPC status names a fault may abort with. */
export const GRPC_STATUS_NAMES: ReadonlySet<string> = new Set([
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
]);

const DIRECT_RESPONSE_MAX = 1024 * 1024;
const DIRECT_RESPONSE_WARN = 100 * 1024;

/** Istio host names as in its `host.Name`: a leading `*` is a suffix wildcard. Overlap is symmetric. */
export function hostsOverlap(a: string, b: string): boolean {
  const aw = a.startsWith('*');
  const bw = b.startsWith('*');
  if (aw && bw)
    return a.length < b.length ? b.slice(1).endsWith(a.slice(1)) : a.slice(1).endsWith(b.slice(1));
  if (aw) return b.endsWith(a.slice(1));
  if (bw) return a.endsWith(b.slice(1));
  return a === b;
}

/** `a` is covered by `b` (every name `a` matches, `b` matches too). */
export function hostSubsetOf(a: string, b: string): boolean {
  const aw = a.startsWith('*');
  const bw = b.startsWith('*');
  if (aw) return bw && a.slice(1).endsWith(b.slice(1));
  if (bw) return a.endsWith(b.slice(1));
  return a === b;
}

/**
 * Hosts of a VirtualService bound to gateways; an SNI host may also be the name Istio
 * generates for AUTO_PASSTHROUGH, `outbound_.<port>_._.<host>`.
 */
function gatewayHostError(host: string, sni: boolean): string | undefined {
  if (sni && host.startsWith('outbound_')) {
    const parts = host.split('_');
    const format = 'outbound_.<PORT>_._.<HOSTNAME>';
    if (parts.length < 4) return `${show(host)} is not a valid host name: expected the form ${format}`;
    const port = parts[1].replace(/^\.+|\.+$/g, '');
    const name = parts[3].replace(/^\.+|\.+$/g, '');
    if (!/[0-9]/.test(port) || !/[a-zA-Z]/.test(name)) {
      return `${show(host)} is not a valid host name: expected the form ${format}`;
    }
    return undefined;
  }
  return wildcardDomainError(host);
}

/** `ns/name`, `mesh`, or a legacy `name.ns...` name (a warning). */
export function validateGatewayNames(names: readonly string[], path: FieldPath, issues: Issues): boolean {
  let ok = true;
  names.forEach((name, i) => {
    const where = [...path, i];
    const slash = name.indexOf('/');
    if (slash < 0) {
      if (name.includes('.')) {
        const [gw, ns] = name.split('.');
        issues.warn(
          where,
          `${show(name)} uses the legacy gateway name format; prefer <namespace>/<name>: "${ns}/${gw}"`,
        );
      }
      const err = fqdnError(name);
      if (err !== undefined) {
        issues.error(where, `${show(name)} is not a valid gateway name: use "mesh" or <namespace>/<name>`);
        ok = false;
      }
      return;
    }
    const ns = name.slice(0, slash);
    const gw = name.slice(slash + 1);
    if (ns === '' || gw === '') {
      issues.error(where, `${show(name)}: the namespace and the gateway name must not be empty`);
      ok = false;
    } else if (!isIstioDnsLabel(ns)) {
      issues.error(where, `${show(name)}: ${show(ns)} is not a valid namespace name`);
      ok = false;
    } else if (!isIstioDnsLabel(gw)) {
      issues.error(where, `${show(name)}: ${show(gw)} is not a valid gateway name`);
      ok = false;
    }
  });
  return ok;
}

/** `@request.auth.claims.<name>` or `@request.auth.claims[a][b]`: routing on JWT claims. */
export function isJwtClaimHeader(name: string): boolean {
  const prefix = '@request.auth.claims';
  if (!name.toLowerCase().startsWith(prefix)) return false;
  const rest = name.slice(prefix.length);
  return (
    (rest.startsWith('.') && rest.length > 1) ||
    (rest.startsWith('[') && rest.endsWith(']') && rest.length > 2)
  );
}

function validateNamespaceName(value: string, path: FieldPath, issues: Issues): boolean {
  if (value === '' || isIstioDnsLabel(value)) return true;
  issues.error(path, `${show(value)} is not a valid namespace name`);
  return false;
}

function validateMatchHeaders(
  map: Readonly<Record<string, StringMatch>> | undefined,
  path: FieldPath,
  issues: Issues,
  without: boolean,
): void {
  for (const [name, sm] of Object.entries(map ?? {})) {
    const where = [...path, name];
    if (!isJwtClaimHeader(name)) validateHeaderName(name, where, issues, { allowPseudo: true });
    // In withoutHeaders, regex "*" is not a regex: it means "header absent".
    if (!(without && sm.regex === '*')) validateStringMatch(sm, where, issues);
  }
}

function validateHttpMatch(m: HTTPMatchRequest, path: FieldPath, issues: Issues): void {
  validateMatchHeaders(m.headers, [...path, 'headers'], issues, false);
  validateMatchHeaders(m.withoutHeaders, [...path, 'withoutHeaders'], issues, true);
  // An empty URI prefix matches everything (Envoy allows it); other prefixes must not be empty.
  if (m.uri) validateStringMatch(m.uri, [...path, 'uri'], issues, { allowEmptyPrefix: true });
  for (const k of ['scheme', 'method', 'authority'] as const) {
    const sm = m[k];
    if (sm) validateStringMatch(sm, [...path, k], issues);
  }
  for (const [name, sm] of Object.entries(m.queryParams ?? {})) {
    validateStringMatch(sm, [...path, 'queryParams', name], issues);
  }
  if (m.port !== undefined && m.port !== 0) validatePort(m.port, [...path, 'port'], issues);
  if (m.sourceLabels) validateLabels(m.sourceLabels, [...path, 'sourceLabels'], issues);
  if (m.gateways) validateGatewayNames(m.gateways, [...path, 'gateways'], issues);
  if (m.sourceNamespace !== undefined)
    validateNamespaceName(m.sourceNamespace, [...path, 'sourceNamespace'], issues);
}

type RouteType = 'independent' | 'root' | 'delegate';

/** Route, redirect, directResponse and delegate exclude each other (Istio: validateHTTPRouteConflict). */
function validateRouteConflicts(r: HTTPRoute, type: RouteType, path: FieldPath, issues: Issues): void {
  if (type === 'root') {
    if (r.redirect) issues.error([...path, 'redirect'], 'a route that delegates cannot also redirect');
    if (r.route)
      issues.error([...path, 'route'], 'a route that delegates cannot also set route destinations');
    return;
  }
  if (type === 'delegate' && r.delegate) {
    issues.error(
      [...path, 'delegate'],
      'a delegate VirtualService (one without hosts) cannot delegate again',
    );
  }
  if (r.redirect) {
    if ((r.route ?? []).length > 0)
      issues.error([...path, 'redirect'], 'redirect and route cannot both be set');
    if (r.fault) issues.error([...path, 'fault'], 'fault cannot be combined with redirect');
    if (r.rewrite) issues.error([...path, 'rewrite'], 'rewrite cannot be combined with redirect');
    if (r.directResponse)
      issues.error([...path, 'directResponse'], 'directResponse and redirect cannot both be set');
  } else if (r.directResponse) {
    if ((r.route ?? []).length > 0)
      issues.error([...path, 'directResponse'], 'directResponse and route cannot both be set');
    if (r.fault) issues.error([...path, 'fault'], 'fault cannot be combined with directResponse');
    if (r.rewrite) issues.error([...path, 'rewrite'], 'rewrite cannot be combined with directResponse');
  } else if ((r.route ?? []).length === 0) {
    issues.error(
      path,
      type === 'delegate'
        ? 'an HTTP route needs route destinations, a redirect or a directResponse'
        : 'an HTTP route needs route destinations, a redirect, a directResponse or a delegate',
    );
  }
  if (r.mirror && (r.mirrors ?? []).length > 0) {
    issues.error([...path, 'mirrors'], 'mirror and mirrors cannot both be set; move mirror into mirrors');
  }
}

function validateCors(c: CorsPolicy, path: FieldPath, issues: Issues): void {
  (c.allowOrigins ?? []).forEach((o, i) => {
    const where = [...path, 'allowOrigins', i];
    const value = o.exact ?? o.prefix ?? o.regex ?? '';
    if (value === '') {
      issues.error(where, 'an allowOrigins entry needs a non-empty exact, prefix or regex');
    } else if (o.regex !== undefined) {
      validateRe2(o.regex, [...where, 'regex'], issues);
    }
  });
  (c.allowMethods ?? []).forEach((m, i) => {
    if (!CORS_METHODS.includes(m)) {
      issues.error(
        [...path, 'allowMethods', i],
        `${show(m)} is not a supported HTTP method; expected one of ${CORS_METHODS.join(', ')}`,
      );
    }
  });
  for (const k of ['allowHeaders', 'exposeHeaders'] as const) {
    (c[k] ?? []).forEach((h, i) => {
      if (h !== '*') validateHeaderName(h, [...path, k, i], issues);
    });
  }
  if (c.maxAge !== undefined && validateMinDuration(c.maxAge, [...path, 'maxAge'], issues)) {
    const ms = Math.round(parseDuration(c.maxAge) ?? 0);
    if (ms % 1000 !== 0) {
      issues.error(
        [...path, 'maxAge'],
        `${show(c.maxAge)} is not a whole number of seconds; maxAge has second precision`,
      );
    }
  }
}

/** A fault's Percent: 0, or between 0.0001 and 100 (Envoy's finest fraction is one in a million). */
function validateFaultPercentage(value: number | undefined, path: FieldPath, issues: Issues): void {
  if (value === undefined) return;
  if (value < 0 || value > 100 || (value > 0 && value < 0.0001)) {
    issues.error(path, `${value} is not a valid percentage: use 0, or a value from 0.0001 to 100`);
  }
}

function validateFault(f: HTTPFaultInjection, path: FieldPath, issues: Issues): void {
  if (!f.abort && !f.delay) {
    issues.error(path, 'a fault needs abort, delay or both');
    return;
  }
  if (f.abort) {
    const p = [...path, 'abort'];
    const a = f.abort;
    validateFaultPercentage(a.percentage?.value, [...p, 'percentage', 'value'], issues);
    if (a.grpcStatus !== undefined) {
      if (!GRPC_STATUS_NAMES.has(a.grpcStatus)) {
        issues.error(
          [...p, 'grpcStatus'],
          `${show(a.grpcStatus)} is not a gRPC status name; use one such as UNAVAILABLE, NOT_FOUND or DEADLINE_EXCEEDED`,
        );
      }
    } else if (a.http2Error !== undefined) {
      issues.error([...p, 'http2Error'], 'http2Error aborts are not supported; use httpStatus or grpcStatus');
    } else if (a.httpStatus !== undefined) {
      validateHttpStatus(a.httpStatus, [...p, 'httpStatus'], issues);
    } else {
      issues.warn(p, 'abort has no httpStatus or grpcStatus, so it aborts nothing');
    }
  }
  if (f.delay) {
    const p = [...path, 'delay'];
    const d = f.delay;
    validateFaultPercentage(d.percentage?.value, [...p, 'percentage', 'value'], issues);
    if (d.percent !== undefined) validatePercent(d.percent, [...p, 'percent'], issues);
    if (d.fixedDelay !== undefined) validateMinDuration(d.fixedDelay, [...p, 'fixedDelay'], issues);
    if (d.exponentialDelay !== undefined) {
      issues.error([...p, 'exponentialDelay'], 'exponentialDelay is not supported; use fixedDelay');
    }
  }
}

function validateHttpStatus(status: number, path: FieldPath, issues: Issues): void {
  if (status < 200 || status > 600) issues.error(path, `${status} is not a valid HTTP status here (200-600)`);
}

function validateRedirect(r: HTTPRedirect, path: FieldPath, issues: Issues): void {
  if (!r.uri && !r.authority && r.port === undefined && r.derivePort === undefined && !r.scheme) {
    issues.error(path, 'a redirect must set uri, authority, scheme, port or derivePort');
  }
  if (
    r.redirectCode !== undefined &&
    r.redirectCode !== 0 &&
    (r.redirectCode < 300 || r.redirectCode > 399)
  ) {
    issues.error([...path, 'redirectCode'], `${r.redirectCode} is not a redirect status code (300-399)`);
  }
  if (r.scheme && r.scheme !== 'http' && r.scheme !== 'https') {
    issues.error(
      [...path, 'scheme'],
      `${show(r.scheme)} is not a valid redirect scheme; expected "http" or "https"`,
    );
  }
  if (r.port !== undefined && r.port > 0) validatePort(r.port, [...path, 'port'], issues);
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function validateDirectResponse(d: HTTPDirectResponse, path: FieldPath, issues: Issues): void {
  validateHttpStatus(d.status, [...path, 'status'], issues);
  const body = d.body;
  if (!body) return;
  let size = 0;
  if (body.string !== undefined) size = Buffer.byteLength(body.string);
  else if (body.bytes !== undefined) {
    if (!BASE64.test(body.bytes)) {
      issues.error([...path, 'body', 'bytes'], 'bytes must be base64-encoded');
      return;
    }
    size = Buffer.from(body.bytes, 'base64').length;
  }
  if (size > DIRECT_RESPONSE_MAX) {
    issues.error([...path, 'body'], `the body is ${size} bytes; a direct response body must be at most 1MiB`);
  } else if (size > DIRECT_RESPONSE_WARN) {
    issues.warn(
      [...path, 'body'],
      `the body is ${size} bytes; bodies over 100KiB slow the control plane down`,
    );
  }
}

function validateRetries(r: HTTPRetry, path: FieldPath, issues: Issues): void {
  const attempts = r.attempts ?? 0;
  if (attempts < 0)
    issues.error([...path, 'attempts'], `${attempts} is negative; attempts must be zero or more`);
  if (
    attempts === 0 &&
    (r.perTryTimeout !== undefined || (r.retryOn ?? '') !== '' || r.retryRemoteLocalities !== undefined)
  ) {
    issues.error(
      [...path, 'attempts'],
      'retries are configured but attempts is 0 (retries disabled); set attempts to 1 or more',
    );
  }
  if (r.perTryTimeout !== undefined) validateMinDuration(r.perTryTimeout, [...path, 'perTryTimeout'], issues);
  if (r.backoff !== undefined)
    validateMinDuration(r.backoff, [...path, 'backoff'], issues, { msPrecision: false });
  if (r.retryOn) {
    for (const policy of r.retryOn.split(',')) {
      const code = /^[+-]?\d+$/.test(policy) ? Number(policy) : Number.NaN;
      if (!KNOWN_STATUS_CODES.has(code) && !RETRY_ON_CONDITIONS.has(policy)) {
        issues.error(
          [...path, 'retryOn'],
          `${show(policy)} is not a valid retryOn condition; use Envoy's conditions (such as 5xx, gateway-error, connect-failure, retriable-4xx, reset, unavailable) or HTTP status codes, separated by commas without spaces`,
        );
      }
    }
  }
}

function validateRewrite(r: HTTPRewrite, path: FieldPath, issues: Issues): void {
  if (r.uri && r.uriRegexRewrite) {
    issues.error([...path, 'uriRegexRewrite'], 'uri and uriRegexRewrite cannot both be set');
    return;
  }
  if (!r.uri && !r.uriRegexRewrite && !r.authority) {
    issues.error(path, 'a rewrite must set uri, uriRegexRewrite or authority');
    return;
  }
  const rr = r.uriRegexRewrite;
  if (rr) {
    if (!rr.match || !rr.rewrite) {
      issues.error([...path, 'uriRegexRewrite'], 'uriRegexRewrite needs both match and rewrite');
      return;
    }
    validateRe2(rr.match, [...path, 'uriRegexRewrite', 'match'], issues);
  }
}

/** The authority may be rewritten in one place only: rewrite.authority or one request header. */
function validateAuthorityRewrite(r: HTTPRoute, path: FieldPath, issues: Issues): void {
  let current = r.rewrite?.authority ?? '';
  let from = 'rewrite.authority';
  for (const op of ['set', 'add'] as const) {
    for (const [name, value] of Object.entries(r.headers?.request?.[op] ?? {})) {
      if (!isAuthorityHeader(name)) continue;
      if (current !== '') {
        issues.error(
          [...path, 'headers', 'request', op, name],
          `the authority is already set to ${show(current)} by ${from}; it cannot also be set to ${show(value)}`,
        );
        return;
      }
      current = value;
      from = `headers.request.${op}[${JSON.stringify(name)}]`;
    }
  }
}

function validateWeights(
  dests: readonly (HTTPRouteDestination | RouteDestination)[],
  path: FieldPath,
  issues: Issues,
): void {
  let total = 0;
  dests.forEach((d, i) => {
    const p = [...path, i];
    if ('headers' in d && d.headers) validateHeaders(d.headers, [...p, 'headers'], issues);
    validateDestination(d.destination, [...p, 'destination'], issues);
    const w = d.weight ?? 0;
    if (w < 0) issues.error([...p, 'weight'], `${w} is negative; weights must be zero or more`);
    total += w;
  });
  if (dests.length > 1 && total === 0) {
    issues.error(path, 'the destinations have a total weight of 0; give at least one a positive weight');
  }
}

function validateHttpRoute(r: HTTPRoute, type: RouteType, path: FieldPath, issues: Issues): void {
  validateRouteConflicts(r, type, path, issues);
  (r.match ?? []).forEach((m, i) => {
    validateHttpMatch(m, [...path, 'match', i], issues);
  });
  if (r.headers) validateHeaders(r.headers, [...path, 'headers'], issues);
  if (r.corsPolicy) validateCors(r.corsPolicy, [...path, 'corsPolicy'], issues);
  if (r.fault) validateFault(r.fault, [...path, 'fault'], issues);
  for (const k of ['mirrorPercent', 'mirror_percent'] as const) {
    const v = r[k];
    if (v !== undefined && v > 100) issues.error([...path, k], `${v} is not a valid percentage (0-100)`);
  }
  if (r.mirrorPercentage?.value !== undefined) {
    validatePercent(r.mirrorPercentage.value, [...path, 'mirrorPercentage', 'value'], issues);
  }
  if (r.mirror) validateDestination(r.mirror, [...path, 'mirror'], issues);
  (r.mirrors ?? []).forEach((m, i) => {
    const p = [...path, 'mirrors', i];
    validateDestination(m.destination, [...p, 'destination'], issues);
    if (m.percentage?.value !== undefined)
      validatePercent(m.percentage.value, [...p, 'percentage', 'value'], issues);
  });
  if (r.redirect) validateRedirect(r.redirect, [...path, 'redirect'], issues);
  if (r.directResponse) validateDirectResponse(r.directResponse, [...path, 'directResponse'], issues);
  if (r.retries) validateRetries(r.retries, [...path, 'retries'], issues);
  if (r.rewrite) validateRewrite(r.rewrite, [...path, 'rewrite'], issues);
  validateAuthorityRewrite(r, path, issues);
  if (r.route) validateWeights(r.route, [...path, 'route'], issues);
  if (r.timeout !== undefined) validateMinDuration(r.timeout, [...path, 'timeout'], issues);
}

function validateL4Common(m: L4MatchAttributes | TLSMatchAttributes, path: FieldPath, issues: Issues): void {
  (m.destinationSubnets ?? []).forEach((s, i) => {
    validateIpOrCidr(s, [...path, 'destinationSubnets', i], issues, true);
  });
  if (m.port !== undefined && m.port !== 0) validatePort(m.port, [...path, 'port'], issues);
  if (m.sourceLabels) validateLabels(m.sourceLabels, [...path, 'sourceLabels'], issues);
  if (m.gateways) validateGatewayNames(m.gateways, [...path, 'gateways'], issues);
  if (m.sourceNamespace !== undefined)
    validateNamespaceName(m.sourceNamespace, [...path, 'sourceNamespace'], issues);
}

function validateSniHost(sni: string, vs: VirtualService, path: FieldPath, issues: Issues): void {
  const boundToGateway = !(vs.gateways ?? []).includes(MESH_GATEWAY);
  const err = boundToGateway ? gatewayHostError(sni, true) : wildcardDomainError(sni);
  if (err !== undefined) {
    if (isIpAddress(sni)) {
      issues.warn(
        path,
        `${show(sni)} is an IP address; SNI names hosts, and most clients never send an IP as SNI`,
      );
    } else issues.error(path, err);
    return;
  }
  const hosts = vs.hosts ?? [];
  if (!hosts.some((h) => hostSubsetOf(sni, h))) {
    const listed = hosts.length > 0 ? hosts.map((h) => show(h)).join(', ') : 'it has none';
    issues.error(path, `SNI host ${show(sni)} is not covered by any host of the VirtualService (${listed})`);
  }
}

function validateTlsRoute(r: TLSRoute, vs: VirtualService, path: FieldPath, issues: Issues): void {
  if (r.match.length === 0)
    issues.error([...path, 'match'], 'a TLS route needs at least one match with sniHosts');
  r.match.forEach((m, i) => {
    const p = [...path, 'match', i];
    if (m.sniHosts.length === 0) issues.error([...p, 'sniHosts'], 'a TLS match needs at least one SNI host');
    m.sniHosts.forEach((sni, j) => {
      validateSniHost(sni, vs, [...p, 'sniHosts', j], issues);
    });
    validateL4Common(m, p, issues);
  });
  if ((r.route ?? []).length === 0) {
    issues.error(r.route ? [...path, 'route'] : path, 'a TLS route needs at least one route destination');
  }
  validateWeights(r.route ?? [], [...path, 'route'], issues);
}

function validateTcpRoute(r: TCPRoute, path: FieldPath, issues: Issues): void {
  (r.match ?? []).forEach((m, i) => {
    const p = [...path, 'match', i];
    validateL4Common(m, p, issues);
    if (m.sourceSubnet !== undefined) validateIpOrCidr(m.sourceSubnet, [...p, 'sourceSubnet'], issues, true);
  });
  if ((r.route ?? []).length === 0) {
    issues.error(r.route ? [...path, 'route'] : path, 'a TCP route needs at least one route destination');
  }
  validateWeights(r.route ?? [], [...path, 'route'], issues);
}

/** JSON with sorted keys: two matches are the same when their canonical forms are. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

function exactOrPrefix(sm: StringMatch | undefined): string {
  if (sm?.exact) return `exact:${sm.exact}`;
  if (sm?.prefix) return `prefix:${sm.prefix}`;
  return '';
}

interface PrefixMatch {
  readonly path: FieldPath;
  readonly prefix: string;
  readonly port: number;
  readonly method: string;
  readonly authority: string;
  readonly headers: Map<string, string>;
  readonly queryParams: Map<string, string>;
  readonly withoutHeaders: Map<string, string>;
}

function toPrefixMatch(m: HTTPMatchRequest, path: FieldPath): PrefixMatch | undefined {
  const prefix = m.uri?.prefix;
  if (!prefix) return undefined;
  const mapOf = (x: Readonly<Record<string, StringMatch>> | undefined): Map<string, string> =>
    new Map(Object.entries(x ?? {}).map(([k, v]) => [k, exactOrPrefix(v)]));
  return {
    path,
    prefix,
    port: m.port ?? 0,
    method: exactOrPrefix(m.method) || 'exact:GET',
    authority: exactOrPrefix(m.authority),
    headers: mapOf(m.headers),
    queryParams: mapOf(m.queryParams),
    withoutHeaders: mapOf(m.withoutHeaders),
  };
}

/** Istio's heuristic: `a` (earlier) catches everything `b` (later) would match. */
function covers(a: PrefixMatch, b: PrefixMatch): boolean {
  if (!b.prefix.startsWith(a.prefix) || a.port !== b.port) return false;
  const narrower = (x: string, y: string): boolean => x === y || x.startsWith(y);
  if (!narrower(a.method, b.method) || !narrower(a.authority, b.authority)) return false;
  for (const [am, bm] of [
    [a.headers, b.headers],
    [a.queryParams, b.queryParams],
    [a.withoutHeaders, b.withoutHeaders],
  ] as const) {
    if (am.size !== bm.size) return false;
    for (const [k, v] of am) {
      const w = bm.get(k);
      if (w === undefined || !narrower(v, w)) return false;
    }
  }
  return true;
}

function showPath(path: FieldPath): string {
  return path
    .slice(1)
    .map((s) => (typeof s === 'number' ? `[${s}]` : `.${s}`))
    .join('')
    .replace(/^\./, '');
}

/** Rules no request can reach: warnings, as Istio gives them (VirtualServiceUnreachableRule). */
function warnUnreachable(
  routes: readonly { match?: readonly object[] }[],
  path: FieldPath,
  issues: Issues,
  isHttp: boolean,
): void {
  const seen = new Map<string, number>();
  let noMatchSeen = false;
  const prefixMatches: PrefixMatch[] = [];
  routes.forEach((route, i) => {
    const rPath = [...path, i];
    const matches = route.match ?? [];
    if (matches.length === 0) {
      if (noMatchSeen)
        issues.warn(rPath, 'this rule is never used: only the last rule can have no match conditions');
      noMatchSeen = true;
      return;
    }
    let duplicates = 0;
    matches.forEach((m, j) => {
      const { name: _name, ...rest } = m as { name?: string };
      const key = canonical(isHttp ? rest : m);
      const earlier = seen.get(key);
      if (earlier !== undefined) {
        issues.warn(
          [...rPath, 'match', j],
          `this match is never used: the same match in ${showPath([...path, earlier])} catches it first`,
        );
        duplicates++;
        return;
      }
      seen.set(key, i);
      if (isHttp) {
        const pm = toPrefixMatch(m as HTTPMatchRequest, [...rPath, 'match', j]);
        if (pm) prefixMatches.push(pm);
      }
    });
    if (duplicates === matches.length) {
      issues.warn(rPath, 'this rule is never used: earlier rules catch all of its matches');
    }
  });
  for (let i = 0; i < prefixMatches.length; i++) {
    for (let j = i + 1; j < prefixMatches.length; j++) {
      const a = prefixMatches[i];
      const b = prefixMatches[j];
      if (a.prefix === b.prefix || !covers(a, b)) continue;
      issues.warn(
        b.path,
        `this match is never used: ${showPath(a.path)} (prefix ${show(a.prefix)}) catches every request it matches (prefix ${show(b.prefix)})`,
      );
    }
  }
}

export function validateVirtualService(spec: VirtualService, ctx: SemanticContext): void {
  const { issues, path } = ctx;
  const hosts = spec.hosts ?? [];
  const gateways = spec.gateways ?? [];
  const http = spec.http ?? [];
  const tls = spec.tls ?? [];
  const tcp = spec.tcp ?? [];
  const isDelegate = hosts.length === 0;
  if (isDelegate) {
    const why = 'a VirtualService without hosts is a delegate, which';
    if (gateways.length > 0)
      issues.error([...path, 'gateways'], `${why} cannot set gateways (the root one does)`);
    if (tls.length > 0) issues.error([...path, 'tls'], `${why} cannot have tls routes (only http delegates)`);
    if (tcp.length > 0) issues.error([...path, 'tcp'], `${why} cannot have tcp routes (only http delegates)`);
  }
  let boundToGateway = false;
  let boundToMesh = true;
  if (gateways.length > 0) {
    validateGatewayNames(gateways, [...path, 'gateways'], issues);
    boundToGateway = !gateways.includes(MESH_GATEWAY);
    boundToMesh = !boundToGateway;
  }
  if (!boundToGateway) {
    http.forEach((r, i) => {
      (r.match ?? []).forEach((m, j) => {
        for (const k of ['headers', 'withoutHeaders'] as const) {
          for (const name of Object.keys(m[k] ?? {})) {
            if (isJwtClaimHeader(name)) {
              issues.error(
                [...path, 'http', i, 'match', j, k, name],
                'routing on JWT claims works only on gateways; this VirtualService applies to sidecars (mesh)',
              );
            }
          }
        }
      });
    });
  }
  const sni = tls.some((r) => r.match.some((m) => m.sniHosts.length > 0));
  let allHostsValid = true;
  hosts.forEach((h, i) => {
    const err = boundToGateway ? gatewayHostError(h, sni) : wildcardDomainError(h);
    if (err !== undefined) {
      if (!isIpAddress(h)) {
        issues.error([...path, 'hosts', i], err);
        allHostsValid = false;
      }
    } else if (boundToMesh && h === '*') {
      issues.error(
        [...path, 'hosts', i],
        'the wildcard host "*" is not allowed for a VirtualService that applies to sidecars (mesh); name the hosts, or bind it to gateways',
      );
      allHostsValid = false;
    }
  });
  if (allHostsValid) {
    for (let i = 0; i < hosts.length; i++) {
      for (let j = i + 1; j < hosts.length; j++) {
        if (hostsOverlap(hosts[i], hosts[j])) {
          issues.error(
            [...path, 'hosts', j],
            `${show(hosts[j])} overlaps ${show(hosts[i])} (hosts[${i}]); list each host once`,
          );
        }
      }
    }
  }
  if (http.length === 0 && tls.length === 0 && tcp.length === 0) {
    issues.error(path, 'a VirtualService needs http, tls or tcp routes');
  }
  http.forEach((r, i) => {
    const type: RouteType = isDelegate ? 'delegate' : r.delegate ? 'root' : 'independent';
    validateHttpRoute(r, type, [...path, 'http', i], issues);
  });
  tls.forEach((r, i) => {
    validateTlsRoute(r, spec, [...path, 'tls', i], issues);
  });
  tcp.forEach((r, i) => {
    validateTcpRoute(r, [...path, 'tcp', i], issues);
  });
  if (spec.exportTo) validateConfigExportTo(spec.exportTo, ctx.meta.namespace, [...path, 'exportTo'], issues);
  warnUnreachable(http, [...path, 'http'], issues, true);
  warnUnreachable(tcp, [...path, 'tcp'], issues, false);
  warnUnreachable(tls, [...path, 'tls'], issues, false);
}
