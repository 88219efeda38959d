/**
 * MeshConfig (istio.mesh.v1alpha1.MeshConfig): the mesh-wide settings istiod reads from its
 * `mesh` file. Schema, Istio's defaults (`DEFAULT_MESH_CONFIG`), Istio's merge of a user file
 * over the defaults, and validation as Istio's ValidateMeshConfig does it, with every problem
 * located (`file:line:col path: message`).
 *
 * A file may hold the MeshConfig itself (what istiod mounts), a Kubernetes ConfigMap with the
 * MeshConfig as YAML text under `data.mesh` (the `istio` ConfigMap), or an IstioOperator with
 * `spec.meshConfig`. Fields Istio has but Mizzen does not implement are refused with a reason.
 */
import { readFile } from 'node:fs/promises';
import { parseDuration } from '../../lib/duration.ts';
import { ErrorCode, MizzenError } from '../../lib/errors.ts';
import { yamlLib } from '../../lib/lazy-module.ts';
import {
  isDns1123Label,
  isDns1123Subdomain,
  isIstioDnsLabel,
  validateConfigExportTo,
  validateLabels,
  validateMinDuration,
  validatePort,
  wildcardDomainError,
} from '../common/validators.ts';
import {
  connectionPoolSettings,
  localityLoadBalancerSetting,
  validateLocalityLbSetting,
} from '../networking/shared.ts';
import { RETRY_ON_CONDITIONS } from '../networking/validate-virtual-service.ts';
import { httpRetry } from '../networking/virtual-service.ts';
import { acceptProtoFieldNames, INVALID, type Infer, t } from '../schema/dsl.ts';
import { type FieldPath, Issues, show } from '../validation.ts';
import {
  formatIssue,
  type LocatedIssue,
  type ParsedDocument,
  type Position,
  parseYamlDocuments,
} from '../yaml-document.ts';
import {
  type ExtensionProvider,
  extensionProvider,
  PROVIDER_KINDS,
  type ProviderCategory,
  providerKind,
  validateAccessLogFormat,
  validateExtensionProviders,
  validateJsonLogFormat,
} from './extension-providers.ts';
import {
  DEFAULT_PROXY_CONFIG,
  mergeProxyConfig,
  type ProxyConfig,
  proxyConfigSchema,
  validateProxyConfig,
} from './proxy-config.ts';
import { removed, unsupported } from './unsupported.ts';

const TLS_VERSIONS = ['TLS_AUTO', 'TLSV1_2', 'TLSV1_3'] as const;

const tlsConfig = t.object('MeshConfig.TLSConfig', {
  minProtocolVersion: t.enum(TLS_VERSIONS),
  ecdhCurves: t.array(t.string()),
  cipherSuites: t.array(t.string()),
});

const labelSelector = t.object('LabelSelector', {
  matchLabels: t.map(t.string()),
  matchExpressions: t.array(
    t.object('LabelSelectorRequirement', {
      key: t.string().required(),
      operator: t.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']).required(),
      values: t.array(t.string()),
    }),
  ),
});

const defaultProviders = t.object('MeshConfig.DefaultProviders', {
  tracing: t.array(t.string()),
  metrics: t.array(t.string()),
  accessLogging: t.array(t.string()),
});

const serviceSettings = t.object('MeshConfig.ServiceSettings', {
  settings: t.object('MeshConfig.ServiceSettings.Settings', { clusterLocal: t.bool() }),
  hosts: t.array(t.string()),
});

const MIXER = 'Mixer was removed in Istio 1.8';
const SDS = 'SDS is always on since Istio 1.6';

export const meshConfigSchema = t.object('MeshConfig', {
  proxyListenPort: t.int32(),
  proxyInboundListenPort: t.int32(),
  proxyHttpPort: t.int32(),
  connectTimeout: t.duration(),
  protocolDetectionTimeout: t.duration(),
  tcpKeepalive: connectionPoolSettings.fields.tcp.fields.tcpKeepalive,
  ingressClass: t.string(),
  ingressService: t.string(),
  ingressControllerMode: t.enum(['UNSPECIFIED', 'OFF', 'DEFAULT', 'STRICT']),
  ingressSelector: t.string(),
  enableTracing: t.bool(),
  accessLogFile: t.string(),
  accessLogFormat: t.string(),
  accessLogEncoding: t.enum(['TEXT', 'JSON']),
  disableEnvoyListenerLog: t.bool(),
  defaultConfig: proxyConfigSchema,
  outboundTrafficPolicy: t.object('MeshConfig.OutboundTrafficPolicy', {
    mode: t.enum(['REGISTRY_ONLY', 'ALLOW_ANY']),
  }),
  inboundTrafficPolicy: t.object('MeshConfig.InboundTrafficPolicy', {
    mode: t.enum(['PASSTHROUGH', 'LOCALHOST']),
  }),
  enableAutoMtls: t.bool(),
  trustDomain: t.string(),
  trustDomainAliases: t.array(t.string()),
  defaultServiceExportTo: t.array(t.string()),
  defaultVirtualServiceExportTo: t.array(t.string()),
  defaultDestinationRuleExportTo: t.array(t.string()),
  rootNamespace: t.string(),
  localityLbSetting: localityLoadBalancerSetting,
  dnsRefreshRate: t.duration(),
  h2UpgradePolicy: t.enum(['DO_NOT_UPGRADE', 'UPGRADE']),
  inboundClusterStatName: t.string(),
  outboundClusterStatName: t.string(),
  serviceSettings: t.array(serviceSettings),
  enablePrometheusMerge: t.bool(),
  extensionProviders: t.array(extensionProvider),
  defaultProviders,
  discoverySelectors: t.array(labelSelector),
  pathNormalization: t.object('MeshConfig.ProxyPathNormalization', {
    normalization: t.enum(['DEFAULT', 'NONE', 'BASE', 'MERGE_SLASHES', 'DECODE_AND_MERGE_SLASHES']),
  }),
  defaultHttpRetryPolicy: httpRetry,
  meshMTLS: tlsConfig,
  tlsDefaults: tlsConfig,

  configSources: unsupported(
    'Mizzen reads configuration from its own sources (a watched directory, Kubernetes)',
  ),
  enableEnvoyAccessLogService: unsupported(
    'use an envoyHttpAls or envoyTcpAls extension provider with the Telemetry API',
  ),
  caCertificates: unsupported(
    'extra trust anchors are not implemented yet; see defaultConfig.caCertificatesPem',
  ),
  ca: unsupported('an external CA behind the control plane is not implemented yet'),
  compliancePolicy: unsupported('FIPS 140-2 compliance needs a certified cryptographic module'),
  serviceScopeConfigs: unsupported('ambient mode is not implemented yet'),
  certificates: removed('deprecated; use cert-manager or another certificate provisioner'),
  verifyCertificateAtClient: removed(
    'deprecated; certificates are always verified unless a DestinationRule says otherwise',
  ),
  thriftConfig: removed('Thrift support was removed'),
  mixerCheckServer: removed(MIXER),
  mixerReportServer: removed(MIXER),
  mixerAddress: removed(MIXER),
  disablePolicyChecks: removed(MIXER),
  disableMixerHttpReports: removed(MIXER),
  policyCheckFailOpen: removed(MIXER),
  sidecarToTelemetrySessionAffinity: removed(MIXER),
  enableClientSidePolicyCheck: removed(MIXER),
  disableReportBatch: removed(MIXER),
  reportBatchMaxEntries: removed(MIXER),
  reportBatchMaxTime: removed(MIXER),
  authPolicy: removed('use PeerAuthentication'),
  rdsRefreshDelay: removed('routes are pushed, not polled'),
  sdsUdsPath: removed(SDS),
  sdsRefreshDelay: removed(SDS),
  enableSdsTokenMount: removed(SDS),
  sdsUseK8sSaJwt: removed(SDS),
  terminationDrainDuration: removed('set defaultConfig.terminationDrainDuration'),
});
// Istio reads MeshConfig with protobuf's JSON mapping, so proto field names are accepted too.
acceptProtoFieldNames(meshConfigSchema);
export type MeshConfigInput = Infer<typeof meshConfigSchema>;

type Defaulted<T, K extends keyof T> = Omit<T, K> & { readonly [P in K]-?: Exclude<T[P], undefined> };

/** MeshConfig with Istio's defaults applied: what the rest of Mizzen reads. */
export type MeshConfig = Defaulted<
  Omit<MeshConfigInput, 'defaultConfig'>,
  | 'proxyListenPort'
  | 'proxyInboundListenPort'
  | 'connectTimeout'
  | 'protocolDetectionTimeout'
  | 'ingressClass'
  | 'ingressService'
  | 'ingressControllerMode'
  | 'ingressSelector'
  | 'enableTracing'
  | 'accessLogFile'
  | 'accessLogFormat'
  | 'accessLogEncoding'
  | 'outboundTrafficPolicy'
  | 'inboundTrafficPolicy'
  | 'enableAutoMtls'
  | 'trustDomain'
  | 'trustDomainAliases'
  | 'defaultServiceExportTo'
  | 'defaultVirtualServiceExportTo'
  | 'defaultDestinationRuleExportTo'
  | 'rootNamespace'
  | 'localityLbSetting'
  | 'dnsRefreshRate'
  | 'enablePrometheusMerge'
  | 'extensionProviders'
  | 'defaultProviders'
> & { readonly defaultConfig: ProxyConfig };

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/**
 * Istio's DefaultMeshConfig. The default extension providers are Istio's, minus
 * `stackdriver`, which Mizzen does not implement.
 */
export const DEFAULT_MESH_CONFIG: MeshConfig = deepFreeze({
  proxyListenPort: 15001,
  proxyInboundListenPort: 15006,
  connectTimeout: '10s',
  protocolDetectionTimeout: '0s',
  ingressClass: 'istio',
  ingressService: 'istio-ingressgateway',
  ingressControllerMode: 'STRICT',
  ingressSelector: 'ingressgateway',
  enableTracing: true,
  accessLogFile: '',
  accessLogFormat: '',
  accessLogEncoding: 'TEXT',
  defaultConfig: DEFAULT_PROXY_CONFIG,
  outboundTrafficPolicy: { mode: 'ALLOW_ANY' },
  inboundTrafficPolicy: { mode: 'PASSTHROUGH' },
  enableAutoMtls: true,
  trustDomain: 'cluster.local',
  trustDomainAliases: [],
  defaultServiceExportTo: ['*'],
  defaultVirtualServiceExportTo: ['*'],
  defaultDestinationRuleExportTo: ['*'],
  rootNamespace: 'istio-system',
  localityLbSetting: { enabled: true },
  dnsRefreshRate: '60s',
  enablePrometheusMerge: true,
  extensionProviders: [
    { name: 'prometheus', prometheus: {} },
    { name: 'envoy', envoyFileAccessLog: { path: '/dev/stdout' } },
  ],
  defaultProviders: {},
} satisfies MeshConfig);

/**
 * A user's MeshConfig over a base (the defaults), the way Istio's ApplyMeshConfig does it:
 * every top-level field set replaces the base's, except defaultConfig (merged field by field,
 * see mergeProxyConfig), defaultProviders (merged field by field), extensionProviders (merged
 * by name: a user provider replaces the base provider of the same name) and
 * trustDomainAliases (the union, sorted).
 */
export function mergeMeshConfig(user: MeshConfigInput, base: MeshConfig = DEFAULT_MESH_CONFIG): MeshConfig {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(user)) if (v !== undefined) out[k] = v;
  out.defaultConfig = mergeProxyConfig(base.defaultConfig, user.defaultConfig);
  out.defaultProviders = { ...base.defaultProviders, ...user.defaultProviders };
  const providers = [...base.extensionProviders];
  for (const p of user.extensionProviders ?? []) {
    const i = providers.findIndex((q) => q.name === p.name);
    if (i >= 0) providers[i] = p;
    else providers.push(p);
  }
  out.extensionProviders = providers;
  out.trustDomainAliases = [
    ...new Set([...base.trustDomainAliases, ...(user.trustDomainAliases ?? [])]),
  ].sort();
  // A protobuf enum left unset is its zero value, REGISTRY_ONLY, not the default's ALLOW_ANY.
  if (user.outboundTrafficPolicy && user.outboundTrafficPolicy.mode === undefined) {
    out.outboundTrafficPolicy = { mode: 'REGISTRY_ONLY' };
  }
  if (user.inboundTrafficPolicy && user.inboundTrafficPolicy.mode === undefined) {
    out.inboundTrafficPolicy = { mode: 'PASSTHROUGH' };
  }
  return out as MeshConfig;
}

/** The extension provider named `name`, if the mesh defines one. */
export function extensionProviderByName(mesh: MeshConfig, name: string): ExtensionProvider | undefined {
  return mesh.extensionProviders.find((p) => p.name === name);
}

const CONNECT_TIMEOUT_MAX_MS = 3_600_000;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/**
 * Istio's ValidateMeshConfig on a merged MeshConfig, plus the checks each value needs to mean
 * something (stat name patterns, access-log formats, selectors). `user` is what the file set,
 * to word the warnings that only apply to what the user wrote.
 */
export function validateMeshConfig(
  mesh: MeshConfig,
  path: FieldPath,
  issues: Issues,
  user?: MeshConfigInput,
): void {
  validatePort(mesh.proxyListenPort, [...path, 'proxyListenPort'], issues);
  validatePort(mesh.proxyInboundListenPort, [...path, 'proxyInboundListenPort'], issues);
  if (mesh.proxyHttpPort !== undefined && mesh.proxyHttpPort !== 0) {
    validatePort(mesh.proxyHttpPort, [...path, 'proxyHttpPort'], issues);
  }
  const ct = [...path, 'connectTimeout'];
  if (
    validateMinDuration(mesh.connectTimeout, ct, issues) &&
    (parseDuration(mesh.connectTimeout) ?? 0) > CONNECT_TIMEOUT_MAX_MS
  ) {
    issues.error(ct, `${show(mesh.connectTimeout)} is too long: the connect timeout must be at most 1h`);
  }
  if (parseDuration(mesh.protocolDetectionTimeout) !== 0) {
    validateMinDuration(mesh.protocolDetectionTimeout, [...path, 'protocolDetectionTimeout'], issues);
  }
  for (const k of ['time', 'interval'] as const) {
    const v = mesh.tcpKeepalive?.[k];
    if (v !== undefined) validateMinDuration(v, [...path, 'tcpKeepalive', k], issues);
  }
  validateMinDuration(mesh.dnsRefreshRate, [...path, 'dnsRefreshRate'], issues, { msPrecision: false });
  if (mesh.ingressService !== '' && !isDns1123Label(mesh.ingressService)) {
    issues.error(
      [...path, 'ingressService'],
      `${show(mesh.ingressService)} is not a valid Kubernetes service name`,
    );
  }
  if (mesh.ingressSelector.length > 63 || !LABEL_VALUE.test(mesh.ingressSelector)) {
    issues.error(
      [...path, 'ingressSelector'],
      `${show(mesh.ingressSelector)} is not a valid label value (the istio label of the ingress gateway)`,
    );
  }
  validateAccessLog(mesh, path, issues);
  validateProxyConfig(mesh.defaultConfig, [...path, 'defaultConfig'], issues);
  if (user?.outboundTrafficPolicy && user.outboundTrafficPolicy.mode === undefined) {
    issues.warn(
      [...path, 'outboundTrafficPolicy'],
      'outboundTrafficPolicy without a mode means REGISTRY_ONLY (the protobuf default); set mode explicitly',
    );
  }
  validateTrustDomain(mesh.trustDomain, [...path, 'trustDomain'], issues);
  const aliasesAt = [...path, 'trustDomainAliases'];
  (user?.trustDomainAliases ?? mesh.trustDomainAliases).forEach((alias, i) => {
    validateTrustDomain(alias, [...aliasesAt, i], issues);
  });
  for (const key of [
    'defaultServiceExportTo',
    'defaultVirtualServiceExportTo',
    'defaultDestinationRuleExportTo',
  ] as const) {
    // "." means "the object's own namespace", which no object is here: compare it as itself.
    validateConfigExportTo(mesh[key], '.', [...path, key], issues, { allowNone: true });
  }
  if (!isDns1123Label(mesh.rootNamespace)) {
    issues.error([...path, 'rootNamespace'], `${show(mesh.rootNamespace)} is not a valid namespace name`);
  }
  validateLocalityLbSetting(mesh.localityLbSetting, [...path, 'localityLbSetting'], issues, {
    hasOutlierDetection: true,
  });
  validateStatName(
    mesh.inboundClusterStatName,
    INBOUND_STAT_VARS,
    [...path, 'inboundClusterStatName'],
    issues,
  );
  validateStatName(
    mesh.outboundClusterStatName,
    OUTBOUND_STAT_VARS,
    [...path, 'outboundClusterStatName'],
    issues,
  );
  (mesh.serviceSettings ?? []).forEach((s, i) => {
    (s.hosts ?? []).forEach((h, j) => {
      const problem = wildcardDomainError(h);
      if (problem) issues.error([...path, 'serviceSettings', i, 'hosts', j], problem);
    });
  });
  // The user's providers, at their own positions (the defaults are valid, and a user provider
  // replaces the default of the same name, so duplicates can only come from the user's list).
  validateExtensionProviders(
    user?.extensionProviders ?? mesh.extensionProviders,
    [...path, 'extensionProviders'],
    issues,
  );
  validateDefaultProviders(mesh, [...path, 'defaultProviders'], issues);
  (mesh.discoverySelectors ?? []).forEach((s, i) => {
    validateLabelSelector(s, [...path, 'discoverySelectors', i], issues);
  });
  if (mesh.defaultHttpRetryPolicy)
    validateRetryPolicy(mesh.defaultHttpRetryPolicy, [...path, 'defaultHttpRetryPolicy'], issues);
  if (mesh.meshMTLS) {
    if (mesh.meshMTLS.ecdhCurves !== undefined) {
      issues.error(
        [...path, 'meshMTLS', 'ecdhCurves'],
        'mesh mTLS does not support ECDH curves; set them in tlsDefaults',
      );
    }
    validateCipherSuites(mesh.meshMTLS.cipherSuites, [...path, 'meshMTLS', 'cipherSuites'], issues);
  }
  if (mesh.tlsDefaults) {
    validateEcdhCurves(mesh.tlsDefaults.ecdhCurves, [...path, 'tlsDefaults', 'ecdhCurves'], issues);
    validateCipherSuites(mesh.tlsDefaults.cipherSuites, [...path, 'tlsDefaults', 'cipherSuites'], issues);
  }
}

function validateAccessLog(mesh: MeshConfig, path: FieldPath, issues: Issues): void {
  const file = mesh.accessLogFile;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (/[\u0000-\u001F]/.test(file))
    issues.error([...path, 'accessLogFile'], 'the access log path must not contain control characters');
  const format = mesh.accessLogFormat;
  if (format === '') return;
  const at = [...path, 'accessLogFormat'];
  if (mesh.accessLogEncoding === 'TEXT') {
    validateAccessLogFormat(format, at, issues);
    return;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(format);
  } catch {
    parsed = undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    issues.error(
      at,
      'with accessLogEncoding JSON, accessLogFormat must be a JSON object of field names to format strings',
    );
    return;
  }
  validateJsonLogFormat(parsed as Record<string, unknown>, at, issues);
}

/** Istio's ValidateTrustDomain: DNS labels separated by dots (a trailing dot is allowed). */
function validateTrustDomain(domain: string, path: FieldPath, issues: Issues): void {
  if (domain === '') {
    issues.error(path, 'the trust domain must not be empty');
    return;
  }
  const labels = domain.endsWith('.') ? domain.slice(0, -1).split('.') : domain.split('.');
  if (!labels.every(isIstioDnsLabel)) {
    issues.error(path, `${show(domain)} is not a valid trust domain: DNS labels separated by dots`);
  }
}

const INBOUND_STAT_VARS = ['SERVICE', 'SERVICE_FQDN', 'SERVICE_PORT', 'TARGET_PORT', 'SERVICE_PORT_NAME'];
const OUTBOUND_STAT_VARS = ['SERVICE', 'SERVICE_FQDN', 'SERVICE_PORT', 'SERVICE_PORT_NAME', 'SUBSET_NAME'];

function validateStatName(
  pattern: string | undefined,
  vars: readonly string[],
  path: FieldPath,
  issues: Issues,
): void {
  for (const m of (pattern ?? '').matchAll(/%([^%]*)%/g)) {
    if (!vars.includes(m[1])) {
      issues.error(
        path,
        `${show(`%${m[1]}%`)} is not a stat name variable here; use ${vars.map((v) => `%${v}%`).join(', ')}`,
      );
    }
  }
}

function validateDefaultProviders(mesh: MeshConfig, path: FieldPath, issues: Issues): void {
  const categories: Record<keyof MeshConfig['defaultProviders'], ProviderCategory> = {
    tracing: 'tracing',
    metrics: 'metrics',
    accessLogging: 'accessLogging',
  };
  for (const [field, category] of Object.entries(categories) as [
    keyof typeof categories,
    ProviderCategory,
  ][]) {
    (mesh.defaultProviders[field] ?? []).forEach((name, i) => {
      const at = [...path, field, i];
      const provider = extensionProviderByName(mesh, name);
      if (!provider) {
        const defined = mesh.extensionProviders.map((p) => p.name).join(', ');
        issues.error(
          at,
          `${show(name)} is not an extension provider of this mesh (defined: ${defined || 'none'})`,
        );
        return;
      }
      const kind = providerKind(provider);
      if (PROVIDER_KINDS[kind] !== category) {
        issues.error(
          at,
          `${show(name)} is an extension provider of kind ${kind}, which cannot be used for ${field}`,
        );
      }
    });
  }
}

const LABEL_KEY =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;

function validateLabelSelector(s: Infer<typeof labelSelector>, path: FieldPath, issues: Issues): void {
  if (s.matchLabels) validateLabels(s.matchLabels, [...path, 'matchLabels'], issues);
  (s.matchExpressions ?? []).forEach((e, i) => {
    const at = [...path, 'matchExpressions', i];
    const prefix = e.key.includes('/') ? e.key.slice(0, e.key.lastIndexOf('/')) : '';
    if (!LABEL_KEY.test(e.key) || (prefix !== '' && !isDns1123Subdomain(prefix))) {
      issues.error([...at, 'key'], `${show(e.key)} is not a valid label key`);
    }
    const values = e.values ?? [];
    if ((e.operator === 'In' || e.operator === 'NotIn') && values.length === 0) {
      issues.error([...at, 'values'], `the ${e.operator} operator needs at least one value`);
    }
    if ((e.operator === 'Exists' || e.operator === 'DoesNotExist') && values.length > 0) {
      issues.error([...at, 'values'], `the ${e.operator} operator takes no values`);
    }
  });
}

function validateRetryPolicy(r: Infer<typeof httpRetry>, path: FieldPath, issues: Issues): void {
  if ((r.attempts ?? 0) < 0)
    issues.error([...path, 'attempts'], `${r.attempts} is negative; use 0 to disable retries`);
  if (r.perTryTimeout !== undefined) {
    issues.warn(
      [...path, 'perTryTimeout'],
      'perTryTimeout has no effect mesh-wide; set it per route in a VirtualService',
    );
  }
  if (r.backoff !== undefined)
    validateMinDuration(r.backoff, [...path, 'backoff'], issues, { msPrecision: false });
  for (const cond of (r.retryOn ?? '').split(',').filter((c) => c !== '')) {
    const code = /^\d+$/.test(cond) ? Number(cond) : Number.NaN;
    if (!RETRY_ON_CONDITIONS.has(cond) && !(code >= 100 && code <= 599)) {
      issues.error(
        [...path, 'retryOn'],
        `${show(cond)} is not a retryOn condition (such as 5xx, connect-failure, unavailable) or an HTTP status code`,
      );
    }
  }
}

const ECDH_CURVES = new Set([
  'P-224',
  'P-256',
  'P-521',
  'P-384',
  'X25519',
  'X25519Kyber768Draft00',
  'X25519MLKEM768',
]);
const CIPHER_SUITES = new Set([
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
  'ECDHE-ECDSA-AES128-SHA',
  'ECDHE-RSA-AES128-SHA',
  'ECDHE-ECDSA-AES256-SHA',
  'ECDHE-RSA-AES256-SHA',
  'AES128-GCM-SHA256',
  'AES256-GCM-SHA384',
  'AES128-SHA',
  'AES256-SHA',
  'DES-CBC3-SHA',
]);

/** Istio warns about, and then drops, curves it does not know and duplicates. */
function validateEcdhCurves(curves: readonly string[] | undefined, path: FieldPath, issues: Issues): void {
  const seen = new Set<string>();
  (curves ?? []).forEach((c, i) => {
    if (!ECDH_CURVES.has(c)) issues.warn([...path, i], `${show(c)} is not a known ECDH curve and is ignored`);
    else if (seen.has(c)) issues.warn([...path, i], `duplicate ECDH curve ${show(c)}`);
    seen.add(c);
  });
}

/** Istio drops unknown cipher suites; a name starting with "-", "+" or "!" is an OpenSSL operator. */
function validateCipherSuites(suites: readonly string[] | undefined, path: FieldPath, issues: Issues): void {
  (suites ?? []).forEach((c, i) => {
    if (c === '' || c === 'ALL' || !/^[A-Za-z0-9]/.test(c)) return;
    if (!CIPHER_SUITES.has(c))
      issues.warn([...path, i], `${show(c)} is not a supported cipher suite and is ignored`);
  });
}

// ---------------------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------------------

export interface MeshConfigResult {
  /** The merged, validated config; absent when any error was found. */
  readonly config?: MeshConfig;
  /** What the file itself set, before the defaults (when it is structurally valid). */
  readonly input?: MeshConfigInput;
  /** Errors and warnings, located in the file. */
  readonly issues: readonly LocatedIssue[];
}

interface MeshSource {
  readonly value: unknown;
  /** Path of the MeshConfig inside the document. */
  readonly base: FieldPath;
  readonly locate: (path: FieldPath) => Position;
}

/**
 * Parses and validates mesh config text. `file` names it in the messages. An empty file is
 * the defaults.
 */
export function parseMeshConfig(text: string, file: string): MeshConfigResult {
  const parsed = parseYamlDocuments(text, file);
  const located: LocatedIssue[] = [...parsed.issues];
  if (located.some((i) => i.severity === 'error')) return { issues: located };
  const docs = parsed.documents.filter((d) => d.value !== null && d.value !== undefined);
  if (docs.length > 1) {
    const at = docs[1].start;
    located.push({
      file,
      path: [],
      severity: 'error',
      message: `a mesh config file holds one document (found ${docs.length})`,
      ...at,
    });
    return { issues: located };
  }
  if (docs.length === 0) return { config: DEFAULT_MESH_CONFIG, input: {}, issues: located };
  // Issues about the document around the MeshConfig are located in the document itself.
  const outer = new Issues();
  const source = meshSource(docs[0], text, file, outer, located);
  located.push(...outer.list.map((i) => ({ ...i, file, ...docs[0].locate(i.path) })));
  if (source === undefined) return { issues: located };
  const issues = new Issues();
  const user = meshConfigSchema.parse(source.value ?? {}, source.base, issues);
  let config: MeshConfig | undefined;
  if (user !== INVALID && !issues.hasErrors) {
    config = mergeMeshConfig(user);
    validateMeshConfig(config, source.base, issues, user);
  }
  located.push(...issues.list.map((i) => ({ ...i, file, ...source.locate(i.path) })));
  const input = user === INVALID ? undefined : user;
  const ok = !located.some((i) => i.severity === 'error');
  return ok && config ? { config: deepFreeze(config), input, issues: located } : { input, issues: located };
}

/** Reads and validates a mesh config file. Throws MizzenError(CONFIG_UNREADABLE) when it cannot be read. */
export async function loadMeshConfig(path: string): Promise<MeshConfigResult> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new MizzenError(
      ErrorCode.CONFIG_UNREADABLE,
      `cannot read mesh config ${path}: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  return parseMeshConfig(text, path);
}

/** The config of a result, or a MizzenError(CONFIG_INVALID) listing every error. */
export function meshConfigOrThrow(result: MeshConfigResult): MeshConfig {
  if (result.config) return result.config;
  const errors = result.issues.filter((i) => i.severity === 'error').map(formatIssue);
  throw new MizzenError(ErrorCode.CONFIG_INVALID, `invalid mesh config:\n  ${errors.join('\n  ')}`);
}

/** Where the MeshConfig is in the document: itself, a ConfigMap's data.mesh, or an IstioOperator's spec.meshConfig. */
function meshSource(
  doc: ParsedDocument,
  text: string,
  file: string,
  issues: Issues,
  located: LocatedIssue[],
): MeshSource | undefined {
  const value = doc.value;
  const locate = (p: FieldPath) => doc.locate(p);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { value, base: [], locate };
  const obj = value as Record<string, unknown>;
  if (obj.kind === undefined && obj.apiVersion === undefined) return { value, base: [], locate };
  if (obj.kind === 'IstioOperator') {
    const spec = (obj.spec ?? {}) as Record<string, unknown>;
    const others = Object.keys(spec).filter((k) => k !== 'meshConfig');
    if (others.length > 0) {
      issues.warn(
        ['spec', others[0]],
        `only spec.meshConfig is read from an IstioOperator here; ${others.map((k) => `spec.${k}`).join(', ')} ${others.length > 1 ? 'are' : 'is'} not`,
      );
    }
    return { value: spec.meshConfig ?? {}, base: ['spec', 'meshConfig'], locate };
  }
  if (obj.kind === 'ConfigMap') {
    const data = obj.data as Record<string, unknown> | undefined;
    for (const key of Object.keys(data ?? {})) {
      if (key === 'mesh') continue;
      issues.warn(
        ['data', key],
        key === 'meshNetworks'
          ? 'data.meshNetworks is not read: Mizzen does not support multi-network meshes yet'
          : `data.${key} is not part of the mesh config and is not read`,
      );
    }
    const mesh = data?.mesh;
    if (typeof mesh !== 'string') {
      issues.error(
        data ? ['data'] : [],
        'this ConfigMap has no data.mesh: Istio keeps the mesh config as YAML text under data.mesh',
      );
      return undefined;
    }
    return embeddedMesh(mesh, doc, text, file, located);
  }
  issues.error(
    ['kind'],
    `expected a MeshConfig, a ConfigMap with data.mesh or an IstioOperator, not kind ${show(obj.kind)}`,
  );
  return undefined;
}

/**
 * The MeshConfig written as text inside a ConfigMap. Positions inside a literal block (`mesh: |`)
 * map back to the file exactly; for other scalar styles they point at the `mesh` key.
 */
function embeddedMesh(
  mesh: string,
  outer: ParsedDocument,
  text: string,
  file: string,
  located: LocatedIssue[],
): MeshSource | undefined {
  const keyPos = outer.locate(['data', 'mesh']);
  const map = literalBlockMapping(text, outer.index);
  const toOuter = (p: Position): Position =>
    map ? { line: map.line + p.line - 1, column: map.indent + p.column } : keyPos;
  const inner = parseYamlDocuments(mesh, file);
  const relocate = (i: LocatedIssue): LocatedIssue => ({ ...i, ...toOuter(i) });
  located.push(...inner.issues.map(relocate));
  if (inner.issues.some((i) => i.severity === 'error')) return undefined;
  const docs = inner.documents.filter((d) => d.value !== null && d.value !== undefined);
  if (docs.length === 0) return { value: {}, base: [], locate: () => keyPos };
  return { value: docs[0].value, base: [], locate: (p) => toOuter(docs[0].locate(p)) };
}

/** For `data.mesh: |` in document `index`: the file line of the block's first line and its indentation. */
function literalBlockMapping(text: string, index: number): { line: number; indent: number } | undefined {
  const { isMap, isScalar, LineCounter, parseAllDocuments, Scalar } = yamlLib();
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter });
  const doc = (Array.isArray(docs) ? docs : [docs])[index];
  const data = doc?.get('data', true);
  const node = isMap(data) ? data.get('mesh', true) : undefined;
  if (!isScalar(node) || node.type !== Scalar.BLOCK_LITERAL || !node.range) return undefined;
  const header = lineCounter.linePos(node.range[0]).line;
  const lines = text.split('\n');
  for (let l = header; l < lines.length; l++) {
    const content = lines[l];
    if (content.trim() === '') continue;
    return { line: header + 1, indent: content.length - content.trimStart().length };
  }
  return undefined;
}
