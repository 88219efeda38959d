/**
 * ProxyConfig (istio.mesh.v1alpha1.ProxyConfig): the per-proxy settings a MeshConfig carries as
 * `defaultConfig` — where the control plane is, drain times, concurrency, ports, tracing, stats
 * inclusion and metadata. Schema, Istio's defaults, and the checks Istio's
 * ValidateMeshConfigProxyConfig makes (plus the ones a value needs to mean anything).
 *
 * Fields that only steer the Envoy binary Istio runs (bootstrap templates, binary paths, Envoy
 * runtime flags...) are refused with a reason, since mizzen-proxy is not Envoy.
 */
import { X509Certificate } from 'node:crypto';
import { parseDuration } from '../../lib/duration.ts';
import { fqdnError, isIpAddress, re2Error, validateMinDuration, validatePort } from '../common/validators.ts';
import { clientTlsSettings, validateClientTls } from '../networking/shared.ts';
import { type Infer, t } from '../schema/dsl.ts';
import { type FieldPath, type Issues, show } from '../validation.ts';
import { removed, unsupported } from './unsupported.ts';

const NOT_ENVOY = 'mizzen-proxy is not Envoy and has no separate binary, bootstrap file or Envoy runtime';

export const TRACING_SERVICE_NAMES = [
  'APP_LABEL_AND_NAMESPACE',
  'CANONICAL_NAME_ONLY',
  'CANONICAL_NAME_AND_NAMESPACE',
] as const;

export const FORWARD_CLIENT_CERT_DETAILS = [
  'UNDEFINED',
  'SANITIZE',
  'FORWARD_ONLY',
  'APPEND_FORWARD',
  'SANITIZE_SET',
  'ALWAYS_FORWARD_ONLY',
] as const;

/** Tracing.CustomTag: one of literal, environment or header. */
const proxyCustomTag = t.object(
  'Tracing.CustomTag',
  {
    literal: t.object('Tracing.Literal', { value: t.string() }),
    environment: t.object('Tracing.Environment', { name: t.string(), defaultValue: t.string() }),
    header: t.object('Tracing.RequestHeader', { name: t.string(), defaultValue: t.string() }),
  },
  { oneOf: [['literal', 'environment', 'header']] },
);

/** istio.mesh.v1alpha1.Tracing: the tracer of proxies, before the Telemetry API took over. */
export const proxyTracing = t.object(
  'Tracing',
  {
    zipkin: t.object('Tracing.Zipkin', { address: t.string() }),
    datadog: t.object('Tracing.Datadog', { address: t.string() }),
    lightstep: unsupported('Lightstep is deprecated by Istio; use an opentelemetry extension provider'),
    stackdriver: unsupported('use an opentelemetry extension provider and the Telemetry API'),
    openCensusAgent: unsupported('OpenCensus is deprecated; use an opentelemetry extension provider'),
    customTags: t.map(proxyCustomTag),
    maxPathTagLength: t.uint32(),
    /** Percentage of requests traced when the client made no decision; 0-100 (Istio's default is 1). */
    sampling: t.double(),
    tlsSettings: clientTlsSettings,
  },
  { oneOf: [['zipkin', 'datadog', 'lightstep', 'stackdriver', 'openCensusAgent']] },
);
export type ProxyTracing = Infer<typeof proxyTracing>;

export const proxyStatsMatcher = t.object('ProxyConfig.ProxyStatsMatcher', {
  inclusionPrefixes: t.array(t.string()),
  inclusionSuffixes: t.array(t.string()),
  /** RE2 regular expressions. */
  inclusionRegexps: t.array(t.string()),
});

export const gatewayTopology = t.object('Topology', {
  /** Trusted proxies in front of the gateway: the client address is the Nth from the right in X-Forwarded-For. */
  numTrustedProxies: t.uint32(),
  forwardClientCertDetails: t.enum(FORWARD_CLIENT_CERT_DETAILS),
  proxyProtocol: unsupported('the PROXY protocol is not implemented by mizzen-proxy yet'),
});

export const proxyConfigSchema = t.object(
  'ProxyConfig',
  {
    serviceCluster: t.string(),
    tracingServiceName: t.enum(TRACING_SERVICE_NAMES),
    drainDuration: t.duration(),
    terminationDrainDuration: t.duration(),
    parentShutdownDuration: t
      .duration()
      .deprecated('parentShutdownDuration has no effect (there is no hot restart); remove it'),
    /** host:port of the control plane's xDS server. */
    discoveryAddress: t.string(),
    proxyAdminPort: t.int32(),
    statusPort: t.int32(),
    controlPlaneAuthPolicy: t.enum(['NONE', 'MUTUAL_TLS', 'INHERIT']),
    /** Worker threads; 0 means one per core. */
    concurrency: t.int32(),
    interceptionMode: t.enum(['REDIRECT', 'TPROXY', 'NONE']),
    tracing: proxyTracing,
    /** Environment of the proxy; ISTIO_META_* entries also become node metadata. */
    proxyMetadata: t.map(t.string()),
    extraStatTags: t.array(t.string()),
    gatewayTopology,
    meshId: t.string(),
    proxyStatsMatcher,
    holdApplicationUntilProxyStarts: t.bool(),
    /** Extra root certificates (PEM) trusted for workload-to-workload traffic. */
    caCertificatesPem: t.array(t.string()),

    configPath: unsupported(NOT_ENVOY),
    binaryPath: unsupported(NOT_ENVOY),
    customConfigFile: unsupported(NOT_ENVOY),
    proxyBootstrapTemplatePath: unsupported(NOT_ENVOY),
    runtimeValues: unsupported(NOT_ENVOY),
    statNameLength: unsupported('stat names are not truncated'),
    statsdUdpAddress: unsupported(
      'statsd export is not implemented; scrape the Prometheus endpoint on port 15020',
    ),
    envoyAccessLogService: unsupported(
      'use an envoyHttpAls or envoyTcpAls extension provider with the Telemetry API',
    ),
    envoyMetricsService: unsupported('Envoy metrics service export is not implemented'),
    readinessProbe: unsupported('VM health checking is not implemented yet'),
    image: unsupported('mizzen-proxy has a single image type'),
    privateKeyProvider: unsupported('CryptoMB/QAT private key providers need Envoy extensions'),
    proxyHeaders: unsupported('proxy header customization is not implemented yet'),
    fileFlushInterval: unsupported('access logs are flushed by mizzen-proxy itself'),
    fileFlushMinSizeKb: unsupported('access logs are flushed by mizzen-proxy itself'),
    sds: removed('SDS is always on'),
    zipkinAddress: removed('use tracing.zipkin.address'),
    envoyMetricsServiceAddress: removed('use envoyMetricsService'),
    discoveryRefreshDelay: removed('since 1.1'),
    availabilityZone: removed('locality comes from node labels'),
  },
  { oneOf: [['serviceCluster', 'tracingServiceName']] },
);
export type ProxyConfigInput = Infer<typeof proxyConfigSchema>;

type Defaulted<T, K extends keyof T> = Omit<T, K> & { readonly [P in K]-?: Exclude<T[P], undefined> };

/** ProxyConfig with Istio's defaults applied. */
export type ProxyConfig = Defaulted<
  ProxyConfigInput,
  | 'drainDuration'
  | 'terminationDrainDuration'
  | 'discoveryAddress'
  | 'proxyAdminPort'
  | 'statusPort'
  | 'controlPlaneAuthPolicy'
  | 'concurrency'
>;

/**
 * Istio's DefaultProxyConfig, with Mizzen's control plane (`mizzend`, where Istio has
 * `istiod`) as the discovery address.
 */
export const DEFAULT_PROXY_CONFIG: ProxyConfig = {
  serviceCluster: 'istio-proxy',
  drainDuration: '45s',
  terminationDrainDuration: '5s',
  proxyAdminPort: 15000,
  statusPort: 15020,
  concurrency: 2,
  controlPlaneAuthPolicy: 'MUTUAL_TLS',
  discoveryAddress: 'mizzend.istio-system.svc:15012',
  tracing: { zipkin: { address: 'zipkin.istio-system:9411' } },
};

/**
 * defaultConfig over the defaults, as Istio merges them: each field the user sets replaces the
 * default's (a `tracing: {}` clears the default tracer), except proxyMetadata, merged by key.
 */
export function mergeProxyConfig(base: ProxyConfig, user: ProxyConfigInput | undefined): ProxyConfig {
  if (user === undefined) return base;
  const out: Record<string, unknown> = { ...base };
  // serviceCluster and tracingServiceName are one protobuf oneof: setting one clears the other.
  if (user.tracingServiceName !== undefined) delete out.serviceCluster;
  if (user.serviceCluster !== undefined) delete out.tracingServiceName;
  for (const [k, v] of Object.entries(user)) if (v !== undefined) out[k] = v;
  if (base.proxyMetadata || user.proxyMetadata) {
    out.proxyMetadata = { ...base.proxyMetadata, ...user.proxyMetadata };
  }
  return out as ProxyConfig;
}

/** Istio's ValidateMeshConfigProxyConfig, on a merged ProxyConfig at `path`. */
export function validateProxyConfig(pc: ProxyConfig, path: FieldPath, issues: Issues): void {
  if (pc.serviceCluster === '') issues.error([...path, 'serviceCluster'], 'serviceCluster must not be empty');
  const drain = [...path, 'drainDuration'];
  if (validateMinDuration(pc.drainDuration, drain, issues)) {
    const ms = parseDuration(pc.drainDuration) ?? 0;
    if (ms % 1000 !== 0)
      issues.error(drain, `${show(pc.drainDuration)}: the drain duration must be whole seconds`);
  }
  if (pc.discoveryAddress === '') {
    issues.error(
      [...path, 'discoveryAddress'],
      'discoveryAddress must be set to the address of the control plane',
    );
  } else {
    validateHostPort(pc.discoveryAddress, [...path, 'discoveryAddress'], issues);
  }
  validatePort(pc.proxyAdminPort, [...path, 'proxyAdminPort'], issues);
  validatePort(pc.statusPort, [...path, 'statusPort'], issues);
  if (pc.controlPlaneAuthPolicy === 'INHERIT') {
    issues.error(
      [...path, 'controlPlaneAuthPolicy'],
      'INHERIT is only for per-workload overrides; the mesh default must be NONE or MUTUAL_TLS',
    );
  }
  if (pc.concurrency < 0)
    issues.error([...path, 'concurrency'], `${pc.concurrency} is negative; use 0 for one worker per core`);
  if (pc.tracing) validateProxyTracing(pc.tracing, [...path, 'tracing'], issues);
  for (const [name] of Object.entries(pc.proxyMetadata ?? {})) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      issues.error(
        [...path, 'proxyMetadata', name],
        `${show(name)} is not a valid environment variable name`,
      );
    }
  }
  if (Object.hasOwn(pc.proxyMetadata ?? {}, 'ISTIO_META_DNS_AUTO_ALLOCATE')) {
    issues.warn(
      [...path, 'proxyMetadata', 'ISTIO_META_DNS_AUTO_ALLOCATE'],
      'ISTIO_META_DNS_AUTO_ALLOCATE is deprecated by Istio (DNS auto-allocation v2 replaces it)',
    );
  }
  (pc.extraStatTags ?? []).forEach((tag, i) => {
    if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(tag)) {
      issues.error(
        [...path, 'extraStatTags', i],
        `${show(tag)} is not a valid tag name (a Prometheus label name)`,
      );
    }
  });
  const matcher = pc.proxyStatsMatcher;
  (matcher?.inclusionRegexps ?? []).forEach((re, i) => {
    const problem = re2Error(re);
    if (problem) {
      issues.error(
        [...path, 'proxyStatsMatcher', 'inclusionRegexps', i],
        `${show(re)} is not a valid RE2 regular expression: ${problem}`,
      );
    }
  });
  for (const key of ['inclusionPrefixes', 'inclusionSuffixes'] as const) {
    (matcher?.[key] ?? []).forEach((v, i) => {
      if (v === '')
        issues.error([...path, 'proxyStatsMatcher', key, i], 'an empty prefix or suffix matches every stat');
    });
  }
  (pc.caCertificatesPem ?? []).forEach((pem, i) => {
    validatePemCertificates(pem, [...path, 'caCertificatesPem', i], issues);
  });
}

function validateProxyTracing(tracing: ProxyTracing, path: FieldPath, issues: Issues): void {
  for (const kind of ['zipkin', 'datadog'] as const) {
    const address = tracing[kind]?.address;
    if (address === undefined) continue;
    // Istio lets the address name the node's IP, filled in by the injector.
    validateHostPort(address.replace('$(HOST_IP)', '127.0.0.1'), [...path, kind, 'address'], issues, address);
  }
  if (tracing.sampling !== undefined && !(tracing.sampling >= 0 && tracing.sampling <= 100)) {
    issues.error([...path, 'sampling'], `${tracing.sampling} is not a valid percentage (0-100)`);
  }
  for (const [name, tag] of Object.entries(tracing.customTags ?? {})) {
    const at = [...path, 'customTags', name];
    if (name === '') issues.error(at, 'a custom tag name must not be empty');
    if (tag.environment && !tag.environment.name)
      issues.error([...at, 'environment', 'name'], 'name must not be empty');
    if (tag.header && !tag.header.name) issues.error([...at, 'header', 'name'], 'name must not be empty');
    if (!tag.literal && !tag.environment && !tag.header) {
      issues.warn(at, 'this custom tag sets none of literal, environment or header, so it adds nothing');
    }
  }
  if (tracing.tlsSettings) validateClientTls(tracing.tlsSettings, [...path, 'tlsSettings'], issues);
}

/**
 * Istio's ValidateProxyAddress: `host:port` where host is a DNS name or an IP address (IPv6 in
 * brackets). `shown` is the value as written, when the checked one was rewritten.
 */
export function validateHostPort(address: string, path: FieldPath, issues: Issues, shown = address): boolean {
  const m = /^(?:\[([^\]]*)\]|([^:[\]]*)):([^:]*)$/.exec(address);
  if (!m) {
    issues.error(path, `${show(shown)} is not a valid address: expected HOST:PORT`);
    return false;
  }
  const host = m[1] ?? m[2];
  const portText = m[3];
  const port = /^\d+$/.test(portText) ? Number(portText) : Number.NaN;
  if (!(port >= 1 && port <= 65535)) {
    issues.error(path, `${show(shown)}: ${show(portText)} is not a valid port (1-65535)`);
    return false;
  }
  const bracketed = m[1] !== undefined;
  const hostOk = bracketed
    ? host.includes(':') && isIpAddress(host)
    : isIpAddress(host) || fqdnError(host) === undefined;
  if (!hostOk) {
    issues.error(path, `${show(shown)}: ${show(host)} is not a valid host name or IP address`);
    return false;
  }
  return true;
}

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

function validatePemCertificates(pem: string, path: FieldPath, issues: Issues): void {
  const blocks = pem.match(PEM_BLOCK) ?? [];
  if (blocks.length === 0) {
    issues.error(path, 'expected one or more PEM certificates (-----BEGIN CERTIFICATE-----)');
    return;
  }
  blocks.forEach((block, i) => {
    try {
      new X509Certificate(block);
    } catch {
      issues.error(path, `PEM block ${i} is not a valid X.509 certificate`);
    }
  });
}
