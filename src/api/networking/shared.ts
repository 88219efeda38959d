/**
 * Message types shared by several networking kinds (istio.networking.v1: Destination,
 * PortSelector, StringMatch, Headers, TrafficPolicy and its parts) with the semantic checks
 * Istio's webhook applies to them. VirtualService and DestinationRule use them; Sidecar
 * (connection pools, client TLS), ServiceEntry and MeshConfig (locality load balancing) too.
 *
 * Every `validate*` helper pushes issues at the given path and never throws.
 */
import { parseDuration } from '../../lib/duration.ts';
import {
  fqdnError,
  isIpAddress,
  isIstioDnsLabel,
  re2Error,
  validateMinDuration,
  validatePercent,
  validatePort,
  wildcardDomainError,
} from '../common/validators.ts';
import { type Infer, t } from '../schema/dsl.ts';
import { type FieldPath, type Issues, show } from '../validation.ts';

// ---------------------------------------------------------------------------------------------
// Schemas
// ---------------------------------------------------------------------------------------------

/** istio.networking.v1.PortSelector */
export const portSelector = t.object('PortSelector', {
  number: t.uint32(),
});
export type PortSelector = Infer<typeof portSelector>;

/** istio.networking.v1.Destination */
export const destination = t.object('Destination', {
  host: t.string().required(),
  subset: t.string(),
  port: portSelector,
});
export type Destination = Infer<typeof destination>;

/** istio.networking.v1.StringMatch: one of exact, prefix or regex (RE2). */
export const stringMatch = t.object(
  'StringMatch',
  { exact: t.string(), prefix: t.string(), regex: t.string() },
  { oneOf: [['exact', 'prefix', 'regex']] },
);
export type StringMatch = Infer<typeof stringMatch>;

/** istio.networking.v1.Headers.HeaderOperations */
export const headerOperations = t.object('HeaderOperations', {
  set: t.map(t.string()),
  add: t.map(t.string()),
  remove: t.array(t.string()),
});
export type HeaderOperations = Infer<typeof headerOperations>;

/** istio.networking.v1.Headers */
export const headers = t.object('Headers', {
  request: headerOperations,
  response: headerOperations,
});
export type Headers = Infer<typeof headers>;

/** istio.networking.v1.LocalityLoadBalancerSetting (also MeshConfig.localityLbSetting). */
export const localityLoadBalancerSetting = t.object('LocalityLoadBalancerSetting', {
  distribute: t.array(
    t.object('LocalityLoadBalancerSetting.Distribute', {
      from: t.string(),
      to: t.map(t.uint32()),
    }),
  ),
  failover: t.array(
    t.object('LocalityLoadBalancerSetting.Failover', {
      from: t.string(),
      to: t.string(),
    }),
  ),
  failoverPriority: t.array(t.string()),
  enabled: t.bool(),
});
export type LocalityLoadBalancerSetting = Infer<typeof localityLoadBalancerSetting>;

const H2_UPGRADE_POLICIES = ['DEFAULT', 'DO_NOT_UPGRADE', 'UPGRADE'] as const;

/** istio.networking.v1.ConnectionPoolSettings */
export const connectionPoolSettings = t.object('ConnectionPoolSettings', {
  tcp: t.object('ConnectionPoolSettings.TCPSettings', {
    maxConnections: t.int32(),
    connectTimeout: t.duration(),
    tcpKeepalive: t.object('ConnectionPoolSettings.TCPSettings.TcpKeepalive', {
      probes: t.uint32(),
      time: t.duration(),
      interval: t.duration(),
    }),
    maxConnectionDuration: t.duration(),
    idleTimeout: t.duration(),
  }),
  http: t.object('ConnectionPoolSettings.HTTPSettings', {
    http1MaxPendingRequests: t.int32(),
    http2MaxRequests: t.int32(),
    maxRequestsPerConnection: t.int32(),
    maxRetries: t.int32(),
    idleTimeout: t.duration(),
    h2UpgradePolicy: t.enum(H2_UPGRADE_POLICIES),
    useClientProtocol: t.bool(),
    maxConcurrentStreams: t.int32(),
    http2KeepAlive: t.object('ConnectionPoolSettings.HTTPSettings.HTTP2KeepAlive', {
      interval: t.duration(),
      timeout: t.duration(),
    }),
  }),
});
export type ConnectionPoolSettings = Infer<typeof connectionPoolSettings>;

export const CLIENT_TLS_MODES = ['DISABLE', 'SIMPLE', 'MUTUAL', 'ISTIO_MUTUAL'] as const;

/** istio.networking.v1.ClientTLSSettings */
export const clientTlsSettings = t.object('ClientTLSSettings', {
  mode: t.enum(CLIENT_TLS_MODES),
  clientCertificate: t.string(),
  privateKey: t.string(),
  caCertificates: t.string(),
  credentialName: t.string(),
  subjectAltNames: t.array(t.string()),
  sni: t.string(),
  insecureSkipVerify: t.bool(),
  caCrl: t.string(),
});
export type ClientTLSSettings = Infer<typeof clientTlsSettings>;

/** istio.networking.v1.OutlierDetection */
export const outlierDetection = t.object('OutlierDetection', {
  splitExternalLocalOriginErrors: t.bool(),
  consecutiveLocalOriginFailures: t.uint32(),
  consecutiveGatewayErrors: t.uint32(),
  consecutive5xxErrors: t.uint32(),
  interval: t.duration(),
  baseEjectionTime: t.duration(),
  maxEjectionPercent: t.int32(),
  minHealthPercent: t.int32(),
  consecutiveErrors: t.int32(),
});
export type OutlierDetection = Infer<typeof outlierDetection>;

export const SIMPLE_LB_POLICIES = [
  'UNSPECIFIED',
  'LEAST_CONN',
  'RANDOM',
  'PASSTHROUGH',
  'ROUND_ROBIN',
  'LEAST_REQUEST',
] as const;

/** istio.networking.v1.LoadBalancerSettings.ConsistentHashLB */
export const consistentHashLb = t.object(
  'LoadBalancerSettings.ConsistentHashLB',
  {
    httpHeaderName: t.string(),
    httpCookie: t.object('LoadBalancerSettings.ConsistentHashLB.HTTPCookie', {
      name: t.string().required(),
      path: t.string(),
      ttl: t.duration(),
      attributes: t.array(
        t.object('LoadBalancerSettings.ConsistentHashLB.HTTPCookie.Attribute', {
          name: t.string().required(),
          value: t.string(),
        }),
      ),
    }),
    useSourceIp: t.bool(),
    httpQueryParameterName: t.string(),
    ringHash: t.object('LoadBalancerSettings.ConsistentHashLB.RingHash', {
      minimumRingSize: t.uint64(),
    }),
    maglev: t.object('LoadBalancerSettings.ConsistentHashLB.MagLev', {
      tableSize: t.uint64(),
    }),
    minimumRingSize: t.uint64(),
  },
  {
    oneOf: [
      ['httpHeaderName', 'httpCookie', 'useSourceIp', 'httpQueryParameterName'],
      ['ringHash', 'maglev'],
    ],
  },
);
export type ConsistentHashLb = Infer<typeof consistentHashLb>;

/** istio.networking.v1.LoadBalancerSettings */
export const loadBalancerSettings = t.object(
  'LoadBalancerSettings',
  {
    simple: t.enum(SIMPLE_LB_POLICIES),
    consistentHash: consistentHashLb,
    localityLbSetting: localityLoadBalancerSetting,
    warmupDurationSecs: t.duration().deprecated('use warmup.duration instead'),
    warmup: t.object('WarmupConfiguration', {
      duration: t.duration().required(),
      minimumPercent: t.double(),
      aggression: t.double(),
    }),
  },
  { oneOf: [['simple', 'consistentHash']] },
);
export type LoadBalancerSettings = Infer<typeof loadBalancerSettings>;

/** istio.networking.v1.TrafficPolicy.PortTrafficPolicy */
export const portTrafficPolicy = t.object('TrafficPolicy.PortTrafficPolicy', {
  port: portSelector,
  loadBalancer: loadBalancerSettings,
  connectionPool: connectionPoolSettings,
  outlierDetection,
  tls: clientTlsSettings,
});
export type PortTrafficPolicy = Infer<typeof portTrafficPolicy>;

/** istio.networking.v1.TrafficPolicy */
export const trafficPolicy = t.object('TrafficPolicy', {
  loadBalancer: loadBalancerSettings,
  connectionPool: connectionPoolSettings,
  outlierDetection,
  tls: clientTlsSettings,
  portLevelSettings: t.array(portTrafficPolicy),
  tunnel: t.object('TrafficPolicy.TunnelSettings', {
    protocol: t.string(),
    targetHost: t.string().required(),
    targetPort: t.uint32().required(),
  }),
  proxyProtocol: t.object('TrafficPolicy.ProxyProtocol', {
    version: t.enum(['V1', 'V2']),
  }),
  retryBudget: t.object('TrafficPolicy.RetryBudget', {
    percent: t.double(),
    minRetryConcurrency: t.uint32(),
  }),
});
export type TrafficPolicy = Infer<typeof trafficPolicy>;

// ---------------------------------------------------------------------------------------------
// Semantic checks
// ---------------------------------------------------------------------------------------------

/** Reports an Istio host rule failure; returns whether the host was good. */
function hostError(message: string | undefined, path: FieldPath, issues: Issues): boolean {
  if (message === undefined) return true;
  issues.error(path, message);
  return false;
}

/** A subset name is a DNS-1123 label (Istio: validateSubsetName). */
export function validateSubsetName(name: string, path: FieldPath, issues: Issues): boolean {
  if (name === '') {
    issues.error(path, 'a subset name must not be empty');
    return false;
  }
  if (!isIstioDnsLabel(name)) {
    issues.error(
      path,
      `${show(name)} is not a valid subset name: letters, digits and '-', at most 63 characters, starting and ending with a letter or digit`,
    );
    return false;
  }
  return true;
}

/** A route or mirror destination: a service host (not `*`), a subset name and a port. */
export function validateDestination(dest: Destination, path: FieldPath, issues: Issues): boolean {
  let ok = true;
  if (dest.host === '*') {
    issues.error([...path, 'host'], '"*" is not a valid destination host: name one service');
    ok = false;
  } else {
    ok = hostError(wildcardDomainError(dest.host), [...path, 'host'], issues) && ok;
  }
  if (dest.subset !== undefined) ok = validateSubsetName(dest.subset, [...path, 'subset'], issues) && ok;
  if (dest.port) {
    if (dest.port.number === undefined) {
      issues.error([...path, 'port'], 'port.number is required when port is given');
      ok = false;
    } else ok = validatePort(dest.port.number, [...path, 'port', 'number'], issues) && ok;
  }
  return ok;
}

/** Istio refuses regexes longer than this: Envoy limits RE2 program size. */
const MAX_REGEX_LENGTH = 1024;

/** A regex used by Envoy: RE2 syntax, non-empty, at most 1024 characters. */
export function validateRe2(pattern: string, path: FieldPath, issues: Issues): boolean {
  if (pattern === '') {
    issues.error(path, 'a regex must not be empty');
    return false;
  }
  if (pattern.length > MAX_REGEX_LENGTH) {
    issues.error(
      path,
      `the regex is ${pattern.length} characters long; at most ${MAX_REGEX_LENGTH} are allowed`,
    );
    return false;
  }
  const error = re2Error(pattern);
  if (error !== undefined) {
    issues.error(path, `${show(pattern)} is not a valid RE2 regular expression: ${error}`);
    return false;
  }
  return true;
}

/**
 * StringMatch rules (Istio: validateStringMatch): a prefix must not be empty unless
 * `allowEmptyPrefix` (a URI prefix of "" matches everything in Envoy); a regex must be valid RE2.
 */
export function validateStringMatch(
  match: StringMatch,
  path: FieldPath,
  issues: Issues,
  options: { allowEmptyPrefix?: boolean } = {},
): boolean {
  if (match.prefix !== undefined && match.prefix === '' && !options.allowEmptyPrefix) {
    issues.error([...path, 'prefix'], 'a prefix match must not be empty');
    return false;
  }
  if (match.regex !== undefined) return validateRe2(match.regex, [...path, 'regex'], issues);
  return true;
}

/** RFC 7230 token characters, which Istio's validHeaderNameRegex allows in a header name. */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~A-Za-z0-9]+$/;

/** HTTP/2 pseudo-headers, which a route may match on (Istio: pseudoHeaders). */
const PSEUDO_HEADERS: ReadonlySet<string> = new Set([':method', ':scheme', ':authority', ':path', ':status']);

/**
 * A header name in a match or CORS list: RFC 7230 token characters (Istio:
 * ValidateHTTPHeaderNameOrJwtClaimRoute, ValidateCORSHTTPHeaderName); a match may also name an
 * HTTP/2 pseudo-header such as ":authority".
 */
export function validateHeaderName(
  name: string,
  path: FieldPath,
  issues: Issues,
  options: { allowPseudo?: boolean } = {},
): boolean {
  if (name === '') {
    issues.error(path, 'a header name must not be empty');
    return false;
  }
  if (options.allowPseudo && PSEUDO_HEADERS.has(name)) return true;
  if (!HEADER_NAME.test(name)) {
    issues.error(path, `${show(name)} is not a valid header name (letters, digits and !#$%&'*+-.^_\`|~)`);
    return false;
  }
  return true;
}

// Control characters other than horizontal tab are not allowed in header values.
// biome-ignore lint/suspicious/noControlCharactersInRegex: that is the point of this pattern
const HEADER_VALUE_FORBIDDEN = /[\u0000-\u0008\u000A-\u001F\u007F]/;

/**
 * Where Envoy's header formatter would reject a value: `%` starts a `%VARIABLE%` or
 * `%VARIABLE(args)%` expression that must be closed, and a literal percent is written `%%`.
 * Returns the problem, or undefined.
 */
export function headerValueFormatError(value: string): string | undefined {
  type State =
    | 'literal'
    | 'name'
    | 'argsStart'
    | 'string'
    | 'stringOrEnd'
    | 'argsEnd'
    | 'varEnd'
    | 'arrayNext';
  let state: State = 'literal';
  for (let i = 0; i < value.length; i++) {
    const ch = value[i];
    switch (state) {
      case 'literal':
        if (ch !== '%') break;
        if (i + 1 >= value.length) return 'a single "%" must be written "%%"';
        if (value[i + 1] === '%') i++;
        else state = 'name';
        break;
      case 'name':
        if (ch === '%') state = 'literal';
        else if (ch === '(') state = 'argsStart';
        break;
      case 'argsStart':
        if (ch === '[') state = 'stringOrEnd';
        else if (ch !== ' ') state = 'string';
        break;
      case 'stringOrEnd':
        if (ch === '"') state = 'string';
        else if (ch !== ' ') return `expected '"' in the argument list of a %VARIABLE(...)% expression`;
        break;
      case 'string':
        if (ch === '\\') {
          if (i + 1 >= value.length) return 'a backslash at the end of the value escapes nothing';
          i++;
        } else if (ch === ')') state = 'varEnd';
        else if (ch === '"') state = 'arrayNext';
        break;
      case 'arrayNext':
        if (ch === ',') state = 'stringOrEnd';
        else if (ch === ']') state = 'argsEnd';
        else if (ch !== ' ')
          return `expected ',' or ']' in the argument list of a %VARIABLE(...)% expression`;
        break;
      case 'argsEnd':
        if (ch === ')') state = 'varEnd';
        else if (ch !== ' ') return `expected ')' to close a %VARIABLE(...)% expression`;
        break;
      case 'varEnd':
        if (ch === '%') state = 'literal';
        else if (ch !== ' ') return `expected '%' to close a %VARIABLE(...)% expression`;
        break;
    }
  }
  return state === 'literal'
    ? undefined
    : 'a %VARIABLE% expression is not terminated (write "%%" for a literal "%")';
}

export function validateHeaderValue(value: string, path: FieldPath, issues: Issues): boolean {
  if (HEADER_VALUE_FORBIDDEN.test(value)) {
    issues.error(path, `${show(value)} is not a valid header value: it contains control characters`);
    return false;
  }
  const problem = headerValueFormatError(value);
  if (problem !== undefined) {
    issues.error(path, `${show(value)} is not a valid header value: ${problem}`);
    return false;
  }
  return true;
}

function isPseudoOrHost(name: string): boolean {
  return name.startsWith(':') || name.toLowerCase() === 'host';
}

export function isAuthorityHeader(name: string): boolean {
  const lower = name.toLowerCase();
  return lower === ':authority' || lower === 'host';
}

/**
 * Header operations as Istio allows them: request `set`/`add` may rewrite the authority
 * (`:authority` or `host`) but no other pseudo-header; request `remove` and every response
 * operation may touch neither pseudo-headers nor `host`.
 */
export function validateHeaderOperations(
  ops: HeaderOperations,
  direction: 'request' | 'response',
  path: FieldPath,
  issues: Issues,
): boolean {
  let ok = true;
  const checkName = (name: string, where: FieldPath, mayRewriteAuthority: boolean): void => {
    if (name === '') {
      issues.error(where, 'a header name must not be empty');
      ok = false;
    } else if (isPseudoOrHost(name) && !(mayRewriteAuthority && isAuthorityHeader(name))) {
      issues.error(
        where,
        name.startsWith(':')
          ? `${show(name)} cannot be changed: pseudo-headers (starting with ':') are managed by the proxy`
          : `${show(name)} cannot be changed here: the Host header is the request authority`,
      );
      ok = false;
    }
  };
  for (const op of ['set', 'add'] as const) {
    for (const [name, value] of Object.entries(ops[op] ?? {})) {
      const where = [...path, op, name];
      checkName(name, where, direction === 'request');
      if (!validateHeaderValue(value, where, issues)) ok = false;
    }
  }
  (ops.remove ?? []).forEach((name, i) => {
    checkName(name, [...path, 'remove', i], false);
  });
  return ok;
}

export function validateHeaders(h: Headers, path: FieldPath, issues: Issues): boolean {
  let ok = true;
  if (h.request) ok = validateHeaderOperations(h.request, 'request', [...path, 'request'], issues) && ok;
  if (h.response) ok = validateHeaderOperations(h.response, 'response', [...path, 'response'], issues) && ok;
  return ok;
}

/** Istio's `<region>/<zone>/<subzone>` locality names, `*` allowed once at the end. */
function validateLocalities(
  localities: readonly { value: string; path: FieldPath }[],
  issues: Issues,
): boolean {
  // region -> zone -> subzone; '*' marks "everything below".
  const tree = new Map<string, Map<string, Set<string>>>();
  for (const { value, path } of localities) {
    const stars = value.split('*').length - 1;
    if (stars > 1 || (stars === 1 && !value.endsWith('*'))) {
      issues.error(path, `${show(value)} is not a valid locality: a '*' may appear once, at the end`);
      return false;
    }
    const overlap = (): boolean => {
      issues.error(path, `locality ${show(value)} overlaps one given before it`);
      return false;
    };
    if (tree.has('*')) return overlap();
    const parts = value.split('/');
    if (parts.length > 3) parts.splice(2, parts.length - 2, parts.slice(2).join('/'));
    if (parts.some((p) => p === '')) {
      issues.error(
        path,
        `${show(value)} is not a valid locality: region, zone and subzone must not be empty`,
      );
      return false;
    }
    const [region, zone, subzone] = parts;
    const zones = tree.get(region);
    if (parts.length === 1) {
      if (zones) return overlap();
      tree.set(region, new Map([['*', new Set(['*'])]]));
    } else if (parts.length === 2) {
      if (zones?.has('*') || zones?.has(zone)) return overlap();
      if (zones) zones.set(zone, new Set(['*']));
      else tree.set(region, new Map([[zone, new Set(['*'])]]));
    } else {
      if (zones?.has('*')) return overlap();
      const subzones = zones?.get(zone);
      if (subzones?.has('*') || subzones?.has(subzone)) return overlap();
      if (subzones) subzones.add(subzone);
      else if (zones) zones.set(zone, new Set([subzone]));
      else tree.set(region, new Map([[zone, new Set([subzone])]]));
    }
  }
  return true;
}

const TOPOLOGY_LABELS = new Set([
  'topology.kubernetes.io/region',
  'topology.kubernetes.io/zone',
  'topology.istio.io/subzone',
]);

/**
 * LocalityLoadBalancerSetting (Istio: ValidateLocalityLbSetting): `distribute` and `failover`
 * exclude each other; each `distribute[].to` has weights 1-100 summing to 100; localities do
 * not overlap; failover names different regions without '/' or '*'; `failover` cannot be
 * combined with topology labels in `failoverPriority`. Failover without outlier detection
 * does nothing, which is a warning (`hasOutlierDetection`; MeshConfig passes true).
 */
export function validateLocalityLbSetting(
  lb: LocalityLoadBalancerSetting,
  path: FieldPath,
  issues: Issues,
  options: { hasOutlierDetection: boolean },
): boolean {
  const distribute = lb.distribute ?? [];
  const failover = lb.failover ?? [];
  const priority = lb.failoverPriority ?? [];
  if (distribute.length > 0 && failover.length > 0) {
    issues.error([...path, 'failover'], 'distribute and failover cannot both be set');
    return false;
  }
  if (failover.length > 0) {
    const i = priority.findIndex((p) => TOPOLOGY_LABELS.has(p));
    if (i >= 0) {
      issues.error(
        [...path, 'failoverPriority', i],
        `failover cannot be combined with the topology label ${show(priority[i])} in failoverPriority`,
      );
      return false;
    }
  }
  let ok = true;
  for (let i = 0; i < distribute.length; i++) {
    const d = distribute[i];
    const dPath = [...path, 'distribute', i];
    let total = 0;
    for (const [loc, weight] of Object.entries(d.to ?? {})) {
      if (weight < 1 || weight > 100) {
        issues.error([...dPath, 'to', loc], `${weight} is not a valid locality weight (1-100)`);
        return false;
      }
      total += weight;
    }
    if (total !== 100) {
      issues.error([...dPath, 'to'], `the weights add up to ${total}; they must add up to 100`);
      return false;
    }
    const dest = Object.keys(d.to ?? {}).map((value) => ({ value, path: [...dPath, 'to', value] }));
    if (!validateLocalities(dest, issues)) ok = false;
  }
  const sources = distribute.map((d, i) => ({
    value: d.from ?? '',
    path: [...path, 'distribute', i, 'from'],
  }));
  if (!validateLocalities(sources, issues)) ok = false;
  if ((failover.length > 0 || priority.length > 0) && !options.hasOutlierDetection) {
    issues.warn(
      path,
      'failover needs outlier detection: without an outlierDetection policy, unhealthy endpoints are never ejected and traffic never fails over',
    );
  }
  failover.forEach((f, i) => {
    const fPath = [...path, 'failover', i];
    const from = f.from ?? '';
    const to = f.to ?? '';
    if (from === to) {
      issues.error(fPath, `failover from and to must name different regions (both are ${show(from)})`);
      ok = false;
    }
    if (from.includes('/') || to.includes('/')) {
      issues.error(fPath, 'failover from and to name regions only, without "/zone"');
      ok = false;
    }
    if (from.includes('*') || to.includes('*')) {
      issues.error(fPath, "failover regions must not contain a '*' wildcard");
      ok = false;
    }
  });
  return ok;
}

function nonNegative(value: number | undefined, path: FieldPath, issues: Issues): boolean {
  if (value === undefined || value >= 0) return true;
  issues.error(path, `${value} is negative; the value must be zero or more`);
  return false;
}

/** ConnectionPoolSettings (Istio: validateConnectionPool). */
export function validateConnectionPool(cp: ConnectionPoolSettings, path: FieldPath, issues: Issues): boolean {
  if (!cp.http && !cp.tcp) {
    issues.error(path, 'a connection pool must set tcp or http');
    return false;
  }
  let ok = true;
  if (cp.http) {
    const p = [...path, 'http'];
    const h = cp.http;
    for (const k of [
      'http1MaxPendingRequests',
      'http2MaxRequests',
      'maxRequestsPerConnection',
      'maxRetries',
      'maxConcurrentStreams',
    ] as const) {
      ok = nonNegative(h[k], [...p, k], issues) && ok;
    }
    if (h.idleTimeout !== undefined)
      ok = validateMinDuration(h.idleTimeout, [...p, 'idleTimeout'], issues) && ok;
    for (const k of ['interval', 'timeout'] as const) {
      const v = h.http2KeepAlive?.[k];
      if (v !== undefined) ok = validateMinDuration(v, [...p, 'http2KeepAlive', k], issues) && ok;
    }
    if (h.h2UpgradePolicy === 'UPGRADE' && h.useClientProtocol === true) {
      issues.error(
        [...p, 'useClientProtocol'],
        'useClientProtocol cannot be true when h2UpgradePolicy is UPGRADE',
      );
      ok = false;
    }
  }
  if (cp.tcp) {
    const p = [...path, 'tcp'];
    const tcp = cp.tcp;
    ok = nonNegative(tcp.maxConnections, [...p, 'maxConnections'], issues) && ok;
    for (const k of ['connectTimeout', 'maxConnectionDuration'] as const) {
      const v = tcp[k];
      if (v !== undefined) ok = validateMinDuration(v, [...p, k], issues) && ok;
    }
    // Istio skips the check when the TCP idle timeout is under 1ms: "0s" disables the timeout.
    const idle = tcp.idleTimeout;
    if (idle !== undefined && Math.trunc(parseDuration(idle) ?? 0) !== 0) {
      ok = validateMinDuration(idle, [...p, 'idleTimeout'], issues) && ok;
    }
    for (const k of ['time', 'interval'] as const) {
      const v = tcp.tcpKeepalive?.[k];
      if (v !== undefined) ok = validateMinDuration(v, [...p, 'tcpKeepalive', k], issues) && ok;
    }
  }
  return ok;
}

const CONFIGMAP_CREDENTIAL = 'configmap://';

/**
 * ClientTLSSettings (Istio: ValidateTLS): with `credentialName`, SIMPLE and MUTUAL take no
 * file-based certificates; MUTUAL otherwise needs clientCertificate and privateKey;
 * insecureSkipVerify excludes CA and SAN checks; a `configmap://` credential must live in the
 * object's own namespace. ISTIO_MUTUAL uses Istio's own certificates, so files given with it
 * are ignored (a warning, as Istio accepts them).
 */
export function validateClientTls(
  tls: ClientTLSSettings,
  path: FieldPath,
  issues: Issues,
  options: { namespace?: string } = {},
): boolean {
  let ok = true;
  const mode = tls.mode ?? 'DISABLE';
  const err = (field: keyof ClientTLSSettings | undefined, message: string): void => {
    issues.error(field ? [...path, field] : path, message);
    ok = false;
  };
  const cred = tls.credentialName ?? '';
  if (cred.startsWith(CONFIGMAP_CREDENTIAL)) {
    const rest = cred.slice(CONFIGMAP_CREDENTIAL.length);
    const parts = rest.split('/');
    if (rest === '' || parts.length > 2 || parts.some((p) => p === '')) {
      err(
        'credentialName',
        `${show(cred)} is not a valid credential: use configmap://<name> or configmap://<namespace>/<name>`,
      );
    } else if (parts.length === 2 && options.namespace !== undefined && parts[0] !== options.namespace) {
      err(
        'credentialName',
        `${show(cred)}: a configmap:// credential must be in the object's own namespace (${show(options.namespace)})`,
      );
    }
  }
  if (tls.insecureSkipVerify === true) {
    if (
      mode === 'SIMPLE' &&
      (tls.caCertificates || tls.credentialName || tls.subjectAltNames !== undefined)
    ) {
      err(
        'insecureSkipVerify',
        'insecureSkipVerify cannot be true together with caCertificates, credentialName or subjectAltNames',
      );
    }
    if (mode === 'MUTUAL' && (tls.caCertificates || tls.subjectAltNames !== undefined)) {
      err(
        'insecureSkipVerify',
        'insecureSkipVerify cannot be true together with caCertificates or subjectAltNames',
      );
    }
  }
  if ((mode === 'SIMPLE' || mode === 'MUTUAL') && cred !== '') {
    const files = (['clientCertificate', 'caCertificates', 'privateKey', 'caCrl'] as const).filter(
      (k) => tls[k],
    );
    if (files.length > 0) {
      err(
        files[0],
        `${files.join(', ')} cannot be set together with credentialName: the credential provides the certificates`,
      );
    }
    return ok;
  }
  if (mode === 'MUTUAL') {
    if (!tls.clientCertificate) err(undefined, 'MUTUAL TLS needs clientCertificate (or credentialName)');
    if (!tls.privateKey) err(undefined, 'MUTUAL TLS needs privateKey (or credentialName)');
  }
  if (mode === 'ISTIO_MUTUAL') {
    for (const k of [
      'clientCertificate',
      'privateKey',
      'caCertificates',
      'credentialName',
      'caCrl',
    ] as const) {
      if (tls[k])
        issues.warn([...path, k], `${k} is ignored with ISTIO_MUTUAL, which uses Istio's own certificates`);
    }
  }
  return ok;
}

/** OutlierDetection (Istio: validateOutlierDetection). */
export function validateOutlierDetection(od: OutlierDetection, path: FieldPath, issues: Issues): boolean {
  let ok = true;
  for (const k of ['baseEjectionTime', 'interval'] as const) {
    const v = od[k];
    if (v !== undefined) ok = validateMinDuration(v, [...path, k], issues) && ok;
  }
  if (od.consecutiveErrors !== undefined && od.consecutiveErrors !== 0) {
    issues.warn(
      [...path, 'consecutiveErrors'],
      'deprecated: use consecutiveGatewayErrors or consecutive5xxErrors instead',
    );
  }
  if (od.splitExternalLocalOriginErrors !== true && (od.consecutiveLocalOriginFailures ?? 0) > 0) {
    issues.error(
      [...path, 'consecutiveLocalOriginFailures'],
      'consecutiveLocalOriginFailures needs splitExternalLocalOriginErrors: true',
    );
    ok = false;
  }
  for (const k of ['maxEjectionPercent', 'minHealthPercent'] as const) {
    const v = od[k];
    if (v !== undefined) ok = validatePercent(v, [...path, k], issues) && ok;
  }
  return ok;
}

const MAGLEV_MAX_TABLE_SIZE = 5_000_011;

/** Envoy's primality check for Maglev table sizes (1, 2 and 3 count as prime there). */
function isPrime(x: number): boolean {
  if (x !== 0 && x < 4) return true;
  if (x % 2 === 0) return false;
  const limit = Math.floor(Math.sqrt(x));
  for (let f = 3; f <= limit; f += 2) if (x % f === 0) return false;
  return true;
}

/** LoadBalancerSettings (Istio: validateLoadBalancer), including its locality settings. */
export function validateLoadBalancer(
  lb: LoadBalancerSettings,
  path: FieldPath,
  issues: Issues,
  options: { hasOutlierDetection: boolean },
): boolean {
  let ok = true;
  const ch = lb.consistentHash;
  if (ch) {
    const p = [...path, 'consistentHash'];
    if (ch.httpCookie && ch.httpCookie.name === '') {
      issues.error([...p, 'httpCookie', 'name'], 'the cookie name must not be empty');
      ok = false;
    }
    // httpCookie.ttl has no lower bound: Istio's own example uses "0s" (a session cookie).
    if (ch.minimumRingSize !== undefined && ch.minimumRingSize !== 0) {
      issues.warn([...p, 'minimumRingSize'], 'deprecated: use ringHash.minimumRingSize instead');
      if (ch.ringHash || ch.maglev) {
        issues.error(
          [...p, 'minimumRingSize'],
          `minimumRingSize cannot be combined with ${ch.ringHash ? 'ringHash' : 'maglev'}`,
        );
        ok = false;
      }
    }
    if (ch.maglev) {
      const size = ch.maglev.tableSize ?? 0;
      const where = [...p, 'maglev', 'tableSize'];
      if (size === 0) {
        issues.error(where, 'maglev needs tableSize (a prime number below 5000011, such as 65537)');
        ok = false;
      } else if (size >= MAGLEV_MAX_TABLE_SIZE) {
        issues.error(
          where,
          `${size} is too large: the maglev table size must be below ${MAGLEV_MAX_TABLE_SIZE}`,
        );
        ok = false;
      } else if (!isPrime(size)) {
        issues.error(
          where,
          `${size} is not a prime number; the maglev table size must be prime (such as 65537)`,
        );
        ok = false;
      }
    }
  }
  if (lb.localityLbSetting) {
    ok =
      validateLocalityLbSetting(lb.localityLbSetting, [...path, 'localityLbSetting'], issues, options) && ok;
  }
  if (lb.warmupDurationSecs !== undefined) {
    ok = validateMinDuration(lb.warmupDurationSecs, [...path, 'warmupDurationSecs'], issues) && ok;
    if (lb.warmup) {
      issues.error([...path, 'warmup'], 'only one of warmupDurationSecs and warmup may be set');
      ok = false;
    }
  }
  if (lb.warmup) {
    const w = lb.warmup;
    ok =
      validateMinDuration(w.duration, [...path, 'warmup', 'duration'], issues, { msPrecision: false }) && ok;
    if (w.minimumPercent !== undefined) {
      ok = validatePercent(w.minimumPercent, [...path, 'warmup', 'minimumPercent'], issues) && ok;
    }
    // Istio's CRD: aggression is at least 1 (1 ramps traffic up linearly; higher is faster).
    if (w.aggression !== undefined && w.aggression < 1) {
      issues.error(
        [...path, 'warmup', 'aggression'],
        `${w.aggression} is below 1; aggression must be 1 or more (1 ramps traffic up linearly)`,
      );
      ok = false;
    }
  }
  return ok;
}

/** The settings a (port) traffic policy applies; each present one is checked. */
function validatePolicyParts(
  tp: PortTrafficPolicy | TrafficPolicy,
  path: FieldPath,
  issues: Issues,
  namespace: string | undefined,
): boolean {
  let ok = true;
  if (tp.outlierDetection) {
    ok = validateOutlierDetection(tp.outlierDetection, [...path, 'outlierDetection'], issues) && ok;
  }
  if (tp.connectionPool)
    ok = validateConnectionPool(tp.connectionPool, [...path, 'connectionPool'], issues) && ok;
  if (tp.loadBalancer) {
    ok =
      validateLoadBalancer(tp.loadBalancer, [...path, 'loadBalancer'], issues, {
        hasOutlierDetection: tp.outlierDetection !== undefined,
      }) && ok;
  }
  if (tp.tls) ok = validateClientTls(tp.tls, [...path, 'tls'], issues, { namespace }) && ok;
  return ok;
}

/**
 * TrafficPolicy (Istio: validateTrafficPolicy): at least one setting; tunnel and
 * proxyProtocol exclude each other; port-level settings name a port and set something.
 * `namespace` is the object's namespace (for configmap:// credentials).
 */
export function validateTrafficPolicy(
  tp: TrafficPolicy,
  path: FieldPath,
  issues: Issues,
  options: { namespace?: string } = {},
): boolean {
  const portLevel = tp.portLevelSettings ?? [];
  if (
    !tp.outlierDetection &&
    !tp.connectionPool &&
    !tp.loadBalancer &&
    !tp.tls &&
    portLevel.length === 0 &&
    !tp.tunnel &&
    !tp.proxyProtocol &&
    !tp.retryBudget
  ) {
    issues.error(path, 'a traffic policy must set at least one field');
    return false;
  }
  if (tp.tunnel && tp.proxyProtocol) {
    issues.error([...path, 'proxyProtocol'], 'tunnel and proxyProtocol cannot both be set');
    return false;
  }
  let ok = validatePolicyParts(tp, path, issues, options.namespace);
  const seenPorts = new Map<number, number>();
  portLevel.forEach((pl, i) => {
    const p = [...path, 'portLevelSettings', i];
    if (pl.port?.number === undefined) {
      issues.error([...p, 'port'], 'a port-level traffic policy must name its port (port.number)');
      ok = false;
    } else if (validatePort(pl.port.number, [...p, 'port', 'number'], issues)) {
      const first = seenPorts.get(pl.port.number);
      if (first !== undefined) {
        issues.warn(
          [...p, 'port', 'number'],
          `port ${pl.port.number} already has settings in portLevelSettings[${first}]; only the first entry applies`,
        );
      } else seenPorts.set(pl.port.number, i);
    } else ok = false;
    if (!pl.outlierDetection && !pl.connectionPool && !pl.loadBalancer && !pl.tls) {
      issues.error(
        p,
        'a port-level traffic policy must set loadBalancer, connectionPool, outlierDetection or tls',
      );
      ok = false;
    } else ok = validatePolicyParts(pl, p, issues, options.namespace) && ok;
  });
  if (tp.tunnel) {
    const p = [...path, 'tunnel'];
    const { protocol, targetHost, targetPort } = tp.tunnel;
    if (protocol !== undefined && protocol !== '' && protocol !== 'CONNECT' && protocol !== 'POST') {
      issues.error(
        [...p, 'protocol'],
        `${show(protocol)} is not a valid tunnel protocol; expected CONNECT or POST`,
      );
      ok = false;
    }
    if (!isIpAddress(targetHost) && fqdnError(targetHost) !== undefined) {
      issues.error([...p, 'targetHost'], `${show(targetHost)} is not a valid host name or IP address`);
      ok = false;
    }
    ok = validatePort(targetPort, [...p, 'targetPort'], issues) && ok;
  }
  if (tp.retryBudget?.percent !== undefined) {
    ok = validatePercent(tp.retryBudget.percent, [...path, 'retryBudget', 'percent'], issues) && ok;
  }
  return ok;
}
