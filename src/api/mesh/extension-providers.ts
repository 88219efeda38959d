/**
 * MeshConfig.extensionProviders: the named external authorizers, tracers, metrics and access-log
 * sinks that AuthorizationPolicy (CUSTOM) and Telemetry refer to by name. Schemas for every
 * provider kind Istio has, with the checks of Istio's validateExtensionProvider (service
 * `[namespace/]host`, port, statusOnError, pathPrefix) plus Envoy's own rules for what the
 * proxy would be given (access-log format strings, header names, durations).
 */
import {
  fqdnError,
  isDns1123Label,
  isIpAddress,
  validateMinDuration,
  wildcardDomainError,
} from '../common/validators.ts';
import { type Infer, t } from '../schema/dsl.ts';
import { type FieldPath, type Issues, show } from '../validation.ts';
import { unsupported } from './unsupported.ts';

const strings = () => t.array(t.string());
const service = () => t.string().required();
const port = () => t.uint32().required();

const requestBody = t.object('ExtensionProvider.EnvoyExternalAuthorizationRequestBody', {
  maxRequestBytes: t.uint32(),
  allowPartialMessage: t.bool(),
  packAsBytes: t.bool(),
});

const envoyExtAuthzHttp = t.object('ExtensionProvider.EnvoyExternalAuthorizationHttpProvider', {
  service: service(),
  port: port(),
  timeout: t.duration(),
  pathPrefix: t.string(),
  failOpen: t.bool(),
  statusOnError: t.string(),
  includeHeadersInCheck: strings().deprecated('use includeRequestHeadersInCheck'),
  includeRequestHeadersInCheck: strings(),
  includeAdditionalHeadersInCheck: t.map(t.string()),
  includeRequestBodyInCheck: requestBody,
  headersToUpstreamOnAllow: strings(),
  headersToDownstreamOnDeny: strings(),
  headersToDownstreamOnAllow: strings(),
});

const envoyExtAuthzGrpc = t.object('ExtensionProvider.EnvoyExternalAuthorizationGrpcProvider', {
  service: service(),
  port: port(),
  timeout: t.duration(),
  failOpen: t.bool(),
  statusOnError: t.string(),
  includeRequestBodyInCheck: requestBody,
});

const NOT_YET = 'this option is not implemented yet';

const zipkin = t.object('ExtensionProvider.ZipkinTracingProvider', {
  service: service(),
  port: port(),
  maxTagLength: t.uint32(),
  enable64bitTraceId: t.bool(),
  path: unsupported(NOT_YET),
  traceContextOption: unsupported(NOT_YET),
  timeout: unsupported(NOT_YET),
  headers: unsupported(NOT_YET),
});

const datadog = t.object('ExtensionProvider.DatadogTracingProvider', {
  service: service(),
  port: port(),
  maxTagLength: t.uint32(),
});

const skywalking = t.object('ExtensionProvider.SkyWalkingTracingProvider', {
  service: service(),
  port: port(),
  accessToken: t.string(),
});

const httpHeader = t.object('ExtensionProvider.HttpHeader', {
  name: t.string().required(),
  value: t.string().required(),
});

const opentelemetry = t.object(
  'ExtensionProvider.OpenTelemetryTracingProvider',
  {
    service: service(),
    port: port(),
    maxTagLength: t.uint32(),
    /** Export OTLP over HTTP; gRPC when neither http nor grpc is set. */
    http: t.object('ExtensionProvider.HttpService', {
      path: t.string().required(),
      timeout: t.duration(),
      headers: t.array(httpHeader),
    }),
    grpc: t.object('ExtensionProvider.GrpcService', {
      timeout: t.duration(),
      initialMetadata: t.array(httpHeader),
    }),
    resourceDetectors: t.object('ExtensionProvider.ResourceDetectors', {
      environment: t.object('ResourceDetectors.EnvironmentResourceDetector', {}),
      dynatrace: t.object('ResourceDetectors.DynatraceResourceDetector', {}),
    }),
    dynatraceSampler: unsupported(NOT_YET),
  },
  { oneOf: [['http', 'grpc']] },
);

const fileLogFormat = t.object(
  'EnvoyFileAccessLogProvider.LogFormat',
  {
    /** An Envoy format string; a newline is appended when missing. */
    text: t.string(),
    /** JSON log entries: keys to format strings (or nested objects). */
    labels: t.struct(),
  },
  { oneOf: [['text', 'labels']] },
);

const envoyFileAccessLog = t.object('ExtensionProvider.EnvoyFileAccessLogProvider', {
  /** Defaults to /dev/stdout. */
  path: t.string(),
  logFormat: fileLogFormat,
});

const envoyHttpAls = t.object('ExtensionProvider.EnvoyHttpGrpcV3LogProvider', {
  service: service(),
  port: port(),
  logName: t.string(),
  filterStateObjectsToLog: strings(),
  additionalRequestHeadersToLog: strings(),
  additionalResponseHeadersToLog: strings(),
  additionalResponseTrailersToLog: strings(),
});

const envoyTcpAls = t.object('ExtensionProvider.EnvoyTcpGrpcV3LogProvider', {
  service: service(),
  port: port(),
  logName: t.string(),
  filterStateObjectsToLog: strings(),
});

const envoyOtelAls = t.object('ExtensionProvider.EnvoyOpenTelemetryLogProvider', {
  service: service(),
  port: port(),
  logName: t.string(),
  logFormat: t.object('EnvoyOpenTelemetryLogProvider.LogFormat', { text: t.string(), labels: t.struct() }),
});

/** The provider kinds, by the category of configuration that may use them. */
export const PROVIDER_KINDS = {
  envoyExtAuthzHttp: 'authorization',
  envoyExtAuthzGrpc: 'authorization',
  zipkin: 'tracing',
  datadog: 'tracing',
  skywalking: 'tracing',
  opentelemetry: 'tracing',
  prometheus: 'metrics',
  envoyFileAccessLog: 'accessLogging',
  envoyHttpAls: 'accessLogging',
  envoyTcpAls: 'accessLogging',
  envoyOtelAls: 'accessLogging',
} as const;
export type ProviderKind = keyof typeof PROVIDER_KINDS;
export type ProviderCategory = (typeof PROVIDER_KINDS)[ProviderKind];

const NOT_MIZZEN = 'its export protocol is not implemented; use an opentelemetry provider';

export const extensionProvider = t.object(
  'MeshConfig.ExtensionProvider',
  {
    name: t.string().required(),
    envoyExtAuthzHttp,
    envoyExtAuthzGrpc,
    zipkin,
    datadog,
    skywalking,
    opentelemetry,
    prometheus: t.object('ExtensionProvider.PrometheusMetricsProvider', {}),
    envoyFileAccessLog,
    envoyHttpAls,
    envoyTcpAls,
    envoyOtelAls,
    stackdriver: unsupported(NOT_MIZZEN),
    lightstep: unsupported(`Lightstep is deprecated by Istio and ${NOT_MIZZEN}`),
    opencensus: unsupported(`OpenCensus is deprecated by Istio and ${NOT_MIZZEN}`),
  },
  { exactlyOneOf: [[...Object.keys(PROVIDER_KINDS), 'stackdriver', 'lightstep', 'opencensus']] },
);
export type ExtensionProvider = Infer<typeof extensionProvider>;

export function providerKind(p: ExtensionProvider): ProviderKind {
  const kind = (Object.keys(PROVIDER_KINDS) as ProviderKind[]).find((k) => p[k] !== undefined);
  if (kind === undefined) throw new Error(`extension provider ${p.name} has no provider`);
  return kind;
}

/** Envoy's envoy.type.v3.StatusCode values: what statusOnError may be. */
const ENVOY_STATUS_CODES = new Set([
  100, 200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 307, 308, 400, 401,
  402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415, 416, 417, 421, 422, 423, 424, 426,
  428, 429, 431, 500, 501, 502, 503, 504, 505, 506, 507, 508, 510, 511,
]);

const HEADER_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** The checks of Istio's validateExtensionProvider, for every provider of a merged mesh config. */
export function validateExtensionProviders(
  providers: readonly ExtensionProvider[],
  path: FieldPath,
  issues: Issues,
): void {
  const seen = new Set<string>();
  providers.forEach((p, i) => {
    const at = [...path, i];
    if (p.name === '') issues.error([...at, 'name'], 'name must not be empty');
    else if (seen.has(p.name))
      issues.error([...at, 'name'], `duplicate extension provider name ${show(p.name)}`);
    seen.add(p.name);
    const kind = providerKind(p);
    const body = p[kind] as Record<string, unknown>;
    const bodyAt = [...at, kind];
    if (typeof body.service === 'string') validateServiceRef(body.service, [...bodyAt, 'service'], issues);
    if (typeof body.port === 'number' && !(body.port >= 1 && body.port <= 65535)) {
      issues.error([...bodyAt, 'port'], `${body.port} is not a valid port (1-65535)`);
    }
    if (typeof body.timeout === 'string') validateMinDuration(body.timeout, [...bodyAt, 'timeout'], issues);
    if (typeof body.statusOnError === 'string')
      validateStatusOnError(body.statusOnError, [...bodyAt, 'statusOnError'], issues);
    switch (kind) {
      case 'envoyExtAuthzHttp':
        validateExtAuthzHttp(p.envoyExtAuthzHttp!, bodyAt, issues);
        break;
      case 'opentelemetry':
        validateOpenTelemetry(p.opentelemetry!, bodyAt, issues);
        break;
      case 'envoyFileAccessLog': {
        const f = p.envoyFileAccessLog!;
        if (f.path !== undefined && f.path !== '' && !f.path.startsWith('/')) {
          issues.error([...bodyAt, 'path'], `${show(f.path)} is not an absolute file path`);
        }
        validateLogFormat(f.logFormat, [...bodyAt, 'logFormat'], issues);
        break;
      }
      case 'envoyOtelAls':
        validateLogFormat(p.envoyOtelAls!.logFormat, [...bodyAt, 'logFormat'], issues);
        break;
      case 'envoyHttpAls':
        for (const key of [
          'additionalRequestHeadersToLog',
          'additionalResponseHeadersToLog',
          'additionalResponseTrailersToLog',
        ] as const) {
          validateHeaderNames(p.envoyHttpAls![key], [...bodyAt, key], issues, false);
        }
        break;
      default:
        break;
    }
  });
}

/**
 * `[<namespace>/]<hostname>` (Istio's validateExtensionProviderService): a DNS name or IP alone,
 * or a namespace ("*", "." or a name) and a host name with dots.
 */
export function validateServiceRef(value: string, path: FieldPath, issues: Issues): boolean {
  if (value === '') {
    issues.error(path, 'service must not be empty');
    return false;
  }
  const slash = value.indexOf('/');
  if (slash < 0) {
    if (fqdnError(value) !== undefined && !isIpAddress(value)) {
      issues.error(
        path,
        `${show(value)} is not a valid service: use a host name, an IP address or namespace/host`,
      );
      return false;
    }
    return true;
  }
  const ns = value.slice(0, slash);
  const host = value.slice(slash + 1);
  if (ns === '' || host === '') {
    issues.error(path, `${show(value)}: the namespace and the host of namespace/host must not be empty`);
    return false;
  }
  if (ns !== '*' && ns !== '.' && ns !== '~' && !isDns1123Label(ns)) {
    issues.error(path, `${show(value)}: ${show(ns)} is not a valid namespace`);
    return false;
  }
  if (host !== '*' && !host.includes('.')) {
    issues.error(
      path,
      `${show(value)}: the host must be a fully qualified name (with dots) after "namespace/"`,
    );
    return false;
  }
  const hostProblem = wildcardDomainError(host);
  if (hostProblem || (host.includes('*') && host !== '*' && !host.startsWith('*.'))) {
    issues.error(path, hostProblem ?? `${show(value)}: partial wildcard ${show(host)} is not allowed`);
    return false;
  }
  return true;
}

function validateStatusOnError(value: string, path: FieldPath, issues: Issues): void {
  if (value === '') return;
  const code = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!ENVOY_STATUS_CODES.has(code)) {
    issues.error(
      path,
      `${show(value)} is not an HTTP status code Envoy can return (e.g. "403", "500", "503")`,
    );
  }
}

function validateExtAuthzHttp(
  p: NonNullable<ExtensionProvider['envoyExtAuthzHttp']>,
  path: FieldPath,
  issues: Issues,
): void {
  if (p.pathPrefix !== undefined && p.pathPrefix !== '' && !p.pathPrefix.startsWith('/')) {
    issues.error([...path, 'pathPrefix'], `pathPrefix must begin with "/" (found ${show(p.pathPrefix)})`);
  }
  for (const key of [
    'includeHeadersInCheck',
    'includeRequestHeadersInCheck',
    'headersToUpstreamOnAllow',
    'headersToDownstreamOnDeny',
    'headersToDownstreamOnAllow',
  ] as const) {
    validateHeaderNames(p[key], [...path, key], issues, true);
  }
  for (const [name, value] of Object.entries(p.includeAdditionalHeadersInCheck ?? {})) {
    const at = [...path, 'includeAdditionalHeadersInCheck', name];
    if (!HEADER_TOKEN.test(name)) issues.error(at, `${show(name)} is not a valid header name`);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
    else if (/[\u0000-\u0008\u000A-\u001F\u007F]/.test(value))
      issues.error(at, 'a header value must not contain control characters');
  }
}

/** Header name lists; `patterns` allows Istio's "*" prefix/suffix matching ("x-*", "*-id"). */
function validateHeaderNames(
  names: readonly string[] | undefined,
  path: FieldPath,
  issues: Issues,
  patterns: boolean,
): void {
  (names ?? []).forEach((name, i) => {
    if (name === '') issues.error([...path, i], 'a header name must not be empty');
    else if (!HEADER_TOKEN.test(name)) {
      issues.error(
        [...path, i],
        `${show(name)} is not a valid header name${patterns ? ' or pattern ("*" only at the start or end)' : ''}`,
      );
    }
  });
}

function validateOpenTelemetry(
  p: NonNullable<ExtensionProvider['opentelemetry']>,
  path: FieldPath,
  issues: Issues,
): void {
  if (p.http) {
    const at = [...path, 'http'];
    // No leading "/" needed: Istio joins the path to the host with url.JoinPath (its docs use "v1/traces").
    if (p.http.timeout !== undefined) validateMinDuration(p.http.timeout, [...at, 'timeout'], issues);
    validateHttpHeaders(p.http.headers, [...at, 'headers'], issues);
  }
  if (p.grpc) {
    const at = [...path, 'grpc'];
    if (p.grpc.timeout !== undefined) validateMinDuration(p.grpc.timeout, [...at, 'timeout'], issues);
    validateHttpHeaders(p.grpc.initialMetadata, [...at, 'initialMetadata'], issues);
  }
}

function validateHttpHeaders(
  headers: readonly { name: string; value: string }[] | undefined,
  path: FieldPath,
  issues: Issues,
): void {
  (headers ?? []).forEach((h, i) => {
    if (!HEADER_TOKEN.test(h.name))
      issues.error([...path, i, 'name'], `${show(h.name)} is not a valid header name`);
    if (h.value === '') issues.error([...path, i, 'value'], 'a header value must not be empty');
  });
}

function validateLogFormat(
  format: { text?: string; labels?: Record<string, unknown> } | undefined,
  path: FieldPath,
  issues: Issues,
): void {
  if (format?.text !== undefined) validateAccessLogFormat(format.text, [...path, 'text'], issues);
  if (format?.labels !== undefined) validateJsonLogFormat(format.labels, [...path, 'labels'], issues);
}

/**
 * An Envoy access-log format string: text with command operators `%NAME%`, `%NAME(arg)%` or
 * `%NAME(arg):LENGTH%`; a literal percent sign is `%%`.
 */
export function accessLogFormatError(format: string): string | undefined {
  let i = 0;
  while (i < format.length) {
    const at = format.indexOf('%', i);
    if (at < 0) return undefined;
    if (format[at + 1] === '%') {
      i = at + 2;
      continue;
    }
    const m = /^%([A-Z][A-Z0-9_]*)(\([^)]*\))?(:\d+)?%/.exec(format.slice(at));
    if (!m) {
      return `the "%" at position ${at + 1} does not start a command operator such as %RESPONSE_CODE%, %REQ(:PATH)% or %REQ(USER-AGENT):20% (write %% for a literal percent sign)`;
    }
    i = at + m[0].length;
  }
  return undefined;
}

export function validateAccessLogFormat(format: string, path: FieldPath, issues: Issues): boolean {
  const problem = accessLogFormatError(format);
  if (problem) issues.error(path, `${show(format)} is not a valid access log format: ${problem}`);
  return problem === undefined;
}

/** JSON access-log formats: string values are format strings; nested objects are allowed. */
export function validateJsonLogFormat(
  labels: Record<string, unknown>,
  path: FieldPath,
  issues: Issues,
): void {
  for (const [key, value] of Object.entries(labels)) {
    const at = [...path, key];
    if (typeof value === 'string') validateAccessLogFormat(value, at, issues);
    else if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      validateJsonLogFormat(value as Record<string, unknown>, at, issues);
    } else if (typeof value !== 'number' && typeof value !== 'boolean') {
      issues.error(at, `expected a format string, a number, a boolean or an object, got ${show(value)}`);
    }
  }
}
