/**
 * The proxy's bootstrap: who this proxy is and where its control plane is, resolved once at
 * start from command-line flags, the environment (Istio's names: POD_NAME, POD_NAMESPACE,
 * INSTANCE_IP, SERVICE_ACCOUNT, ISTIO_META_*, ISTIO_METAJSON_*, PROXY_CONFIG, ISTIO_DELTA_XDS)
 * and an optional bootstrap file (YAML or JSON), over the mesh config's `defaultConfig`.
 *
 * Precedence, highest first: flags, environment, bootstrap file, mesh config, Istio's defaults.
 * ProxyConfig layers the same way: defaults < mesh defaultConfig < file `proxyConfig` <
 * PROXY_CONFIG; its `proxyMetadata` entries act as environment variables the real environment
 * overrides (that is how Istio's injector hands them to the agent).
 *
 * The result carries the xDS Node — id `TYPE~IP~POD.NAMESPACE~NAMESPACE.svc.DOMAIN`, cluster,
 * locality and metadata under Istio's keys — exactly as mizzend's `proxyFromNode`
 * (src/pilot/model/proxy.ts) reads it. Every problem is collected and reported together, each
 * naming where the value came from (`--namespace`, `env POD_NAMESPACE`, `file:line:col field`).
 */
import { readFileSync } from 'node:fs';
import { networkInterfaces, hostname as osHostname } from 'node:os';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import packageJson from '../../package.json' with { type: 'json' };
import { isDns1123Label, isDns1123Subdomain, isIpAddress, validateLabels } from '../api/common/validators.ts';
import { DEFAULT_MESH_CONFIG, type MeshConfig, parseMeshConfig } from '../api/mesh/mesh-config.ts';
import {
  mergeProxyConfig,
  type ProxyConfig,
  type ProxyConfigInput,
  proxyConfigSchema,
  validateHostPort,
  validateProxyConfig,
} from '../api/mesh/proxy-config.ts';
import { INVALID, type Infer, t } from '../api/schema/dsl.ts';
import { type FieldPath, formatPath, Issues } from '../api/validation.ts';
import { formatIssue, type ParsedDocument, parseYamlDocuments } from '../api/yaml-document.ts';
import { ErrorCode, MizzenError } from '../lib/errors.ts';
import type { XdsNode } from '../lib/xds/discovery.ts';
import { type JsonValue, toProtoStruct } from '../lib/xds/well-known.ts';
import type { XdsMode } from '../proxy/xds/client.ts';

/** The Istio release whose proxy behaviour mizzen-proxy matches (node metadata ISTIO_VERSION). */
export const ISTIO_COMPAT_VERSION = '1.24.0';
export const USER_AGENT_NAME = 'mizzen-proxy';
export const MIZZEN_VERSION: string = packageJson.version;

export const PROXY_TYPES = ['sidecar', 'router'] as const;
export type ProxyType = (typeof PROXY_TYPES)[number];
export const XDS_MODES = ['delta', 'sotw'] as const;
export const INTERCEPTION_MODES = ['REDIRECT', 'TPROXY', 'NONE'] as const;
export type InterceptionMode = (typeof INTERCEPTION_MODES)[number];

/** Istio's ports, announced in node metadata. */
const ENVOY_STATUS_PORT = 15021;
const ENVOY_PROMETHEUS_PORT = 15090;
const DEFAULT_CLUSTER_ID = 'Kubernetes';
const LOCALITY_LABEL = 'topology.istio.io/locality';

export interface Locality {
  readonly region: string;
  readonly zone: string;
  readonly subZone: string;
}

/** Flags as parsed from the command line (kebab-case flags in camelCase). */
export interface BootstrapFlags {
  readonly type?: string;
  readonly podName?: string;
  readonly namespace?: string;
  readonly ip?: readonly string[];
  readonly serviceAccount?: string;
  readonly clusterId?: string;
  readonly clusterDomain?: string;
  readonly label?: readonly string[];
  readonly labelsFile?: string;
  readonly locality?: string;
  readonly discoveryAddress?: string;
  readonly xdsMode?: string;
  readonly serviceCluster?: string;
  readonly meshConfig?: string;
  readonly config?: string;
  readonly meta?: readonly string[];
  readonly meshId?: string;
  readonly workloadName?: string;
  readonly interceptionMode?: string;
  /** Port of the static Prometheus listener (Istio's 15090); '0' picks a free one; 'none' disables it. */
  readonly prometheusPort?: string;
  /** Address the Prometheus listener binds (Istio: the wildcard; one machine, many proxies: their own IPs). */
  readonly prometheusAddress?: string;
}

export interface BootstrapSources {
  readonly flags?: BootstrapFlags;
  /** Default: process.env. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Pod name fallback (default: os.hostname()). */
  readonly hostname?: () => string;
  /** IP fallback when none is given (default: the non-loopback interface addresses). */
  readonly interfaceAddresses?: () => string[];
  /** Default: fs.readFileSync(path, 'utf8'). */
  readonly readFile?: (path: string) => string;
}

export interface Bootstrap {
  readonly proxyType: ProxyType;
  readonly nodeId: string;
  readonly podName: string;
  readonly namespace: string;
  /** The first one is the node id's IP. */
  readonly instanceIps: readonly string[];
  readonly dnsDomain: string;
  readonly serviceAccount?: string;
  readonly clusterId: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly locality: Locality;
  readonly meshId: string;
  readonly workloadName: string;
  readonly interceptionMode: InterceptionMode;
  /**
   * Port of the static listener that serves /stats/prometheus (Istio's 15090); 0 binds a free
   * port; undefined when disabled. See `prometheusStaticResources`.
   */
  readonly prometheusPort: number | undefined;
  /** Bind address of that listener (default 0.0.0.0, as Istio's bootstrap). */
  readonly prometheusAddress: string;
  /** node.cluster */
  readonly serviceCluster: string;
  readonly istioVersion: string;
  /** host:port of the xDS server. */
  readonly discoveryAddress: string;
  readonly xdsMode: XdsMode;
  readonly proxyConfig: ProxyConfig;
  readonly mesh: MeshConfig;
  /** Node metadata as plain JSON (Istio's keys). */
  readonly metadata: Readonly<Record<string, JsonValue>>;
  /** The Envoy node for the xDS client. */
  readonly node: XdsNode;
  /** Things that are allowed but probably not meant. */
  readonly warnings: readonly string[];
}

// ---------------------------------------------------------------------------------------------
// Flags
// ---------------------------------------------------------------------------------------------

const FLAG_OPTIONS = {
  type: { type: 'string' },
  'pod-name': { type: 'string' },
  namespace: { type: 'string' },
  ip: { type: 'string', multiple: true },
  'service-account': { type: 'string' },
  'cluster-id': { type: 'string' },
  'cluster-domain': { type: 'string' },
  label: { type: 'string', multiple: true },
  'labels-file': { type: 'string' },
  locality: { type: 'string' },
  'discovery-address': { type: 'string' },
  'xds-mode': { type: 'string' },
  'service-cluster': { type: 'string' },
  'mesh-config': { type: 'string' },
  config: { type: 'string' },
  meta: { type: 'string', multiple: true },
  'mesh-id': { type: 'string' },
  'workload-name': { type: 'string' },
  'interception-mode': { type: 'string' },
  'prometheus-port': { type: 'string' },
  'prometheus-address': { type: 'string' },
} as const;

/** The bootstrap flags this module understands, for --help texts. */
export const BOOTSTRAP_FLAGS: readonly string[] = Object.keys(FLAG_OPTIONS).map((f) => `--${f}`);

/**
 * Parses `[sidecar|router] --flag value ...` (Istio's `pilot-agent proxy sidecar` form: the
 * proxy type may come first, without `--type`). Throws MZ_ERR_INVALID_ARGUMENT naming the flag.
 */
export function parseBootstrapArgs(argv: readonly string[]): BootstrapFlags {
  const parsed = (() => {
    try {
      return parseArgs({ args: [...argv], options: FLAG_OPTIONS, allowPositionals: true, strict: true });
    } catch (err) {
      throw new MizzenError(ErrorCode.INVALID_ARGUMENT, `bootstrap flags: ${(err as Error).message}`, {
        cause: err,
      });
    }
  })();
  const v = parsed.values;
  const positionals = parsed.positionals;
  if (positionals.length > 1 || (positionals.length === 1 && v.type !== undefined)) {
    throw new MizzenError(
      ErrorCode.INVALID_ARGUMENT,
      `bootstrap flags: unexpected argument(s) ${positionals.map((p) => JSON.stringify(p)).join(' ')}; the proxy type is given once, as "sidecar"/"router" or --type`,
    );
  }
  return {
    type: v.type ?? positionals[0],
    podName: v['pod-name'],
    namespace: v.namespace,
    ip: v.ip,
    serviceAccount: v['service-account'],
    clusterId: v['cluster-id'],
    clusterDomain: v['cluster-domain'],
    label: v.label,
    labelsFile: v['labels-file'],
    locality: v.locality,
    discoveryAddress: v['discovery-address'],
    xdsMode: v['xds-mode'],
    serviceCluster: v['service-cluster'],
    meshConfig: v['mesh-config'],
    config: v.config,
    meta: v.meta,
    meshId: v['mesh-id'],
    workloadName: v['workload-name'],
    interceptionMode: v['interception-mode'],
    prometheusPort: v['prometheus-port'],
    prometheusAddress: v['prometheus-address'],
  };
}

// ---------------------------------------------------------------------------------------------
// Bootstrap file
// ---------------------------------------------------------------------------------------------

const bootstrapFileSchema = t.object('Bootstrap', {
  proxyType: t.enum(PROXY_TYPES),
  podName: t.string(),
  namespace: t.string(),
  instanceIps: t.array(t.string()),
  serviceAccount: t.string(),
  clusterId: t.string(),
  clusterDomain: t.string(),
  labels: t.map(t.string()),
  /** Kubernetes downward-API labels file, relative to this file. */
  labelsFile: t.string(),
  locality: t.object('Locality', { region: t.string(), zone: t.string(), subZone: t.string() }),
  xdsMode: t.enum(XDS_MODES),
  interceptionMode: t.enum(INTERCEPTION_MODES),
  meshId: t.string(),
  workloadName: t.string(),
  serviceCluster: t.string(),
  /** Extra node metadata (as ISTIO_META_* would give). */
  metadata: t.struct(),
  /** Mesh config file, relative to this file. */
  meshConfig: t.string(),
  proxyConfig: proxyConfigSchema,
});
type BootstrapFile = Infer<typeof bootstrapFileSchema>;

interface LoadedFile {
  readonly file: string;
  readonly value: BootstrapFile;
  readonly doc: ParsedDocument;
}

// ---------------------------------------------------------------------------------------------
// Resolution
// ---------------------------------------------------------------------------------------------

/** A value with the place it came from, for error messages. */
interface Sourced<T> {
  readonly value: T;
  readonly source: string;
}

class Problems {
  readonly errors: string[] = [];
  readonly warnings: string[] = [];
  error(source: string, message: string): void {
    this.errors.push(`${source}: ${message}`);
  }
}

const FLAG_NAMES: Record<keyof BootstrapFlags, string> = {
  type: '--type',
  podName: '--pod-name',
  namespace: '--namespace',
  ip: '--ip',
  serviceAccount: '--service-account',
  clusterId: '--cluster-id',
  clusterDomain: '--cluster-domain',
  label: '--label',
  labelsFile: '--labels-file',
  locality: '--locality',
  discoveryAddress: '--discovery-address',
  xdsMode: '--xds-mode',
  serviceCluster: '--service-cluster',
  meshConfig: '--mesh-config',
  config: '--config',
  meta: '--meta',
  meshId: '--mesh-id',
  workloadName: '--workload-name',
  interceptionMode: '--interception-mode',
  prometheusPort: '--prometheus-port',
  prometheusAddress: '--prometheus-address',
};

/** First defined candidate (empty strings count as unset, as Istio's env handling does). */
function pick<T>(...candidates: (Sourced<T | undefined> | undefined)[]): Sourced<T> | undefined {
  for (const c of candidates) {
    if (c && c.value !== undefined && c.value !== '') return c as Sourced<T>;
  }
  return undefined;
}

function defaultInterfaceAddresses(): string[] {
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (!a.internal && !a.address.startsWith('fe80:')) out.push(a.address);
  }
  return out;
}

/** `a=b` pairs (flags), each checked; the flag is named in errors. */
function keyValues(
  list: readonly string[] | undefined,
  flag: string,
  problems: Problems,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of list ?? []) {
    const eq = item.indexOf('=');
    if (eq <= 0) {
      problems.error(flag, `${JSON.stringify(item)} is not KEY=VALUE`);
      continue;
    }
    out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}

/**
 * Kubernetes' downward-API file format (`key="value"` per line, Go-quoted values), which is
 * how Istio's injector hands pod labels to the agent at /etc/istio/pod/labels.
 */
export function parseDownwardApiFile(
  text: string,
  file: string,
  problems: { error(s: string, m: string): void },
) {
  const out: Record<string, string> = {};
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '') return;
    const m = /^([^=]+)=(".*")$/.exec(line);
    let value: unknown;
    try {
      value = m ? JSON.parse(m[2]) : undefined;
    } catch {
      value = undefined;
    }
    if (!m || typeof value !== 'string') {
      problems.error(`${file}:${i + 1}`, `expected key="value", got ${JSON.stringify(line)}`);
      return;
    }
    out[m[1]] = value;
  });
  return out;
}

function parseLocality(
  text: string,
  source: string,
  problems: Problems,
  separator: '/' | '.',
): Locality | undefined {
  const parts = text.split(separator);
  if (parts.length > 3 || parts[0] === '') {
    problems.error(
      source,
      `${JSON.stringify(text)} is not a locality: expected REGION${separator}ZONE${separator}SUBZONE`,
    );
    return undefined;
  }
  return { region: parts[0] ?? '', zone: parts[1] ?? '', subZone: parts[2] ?? '' };
}

function readText(
  read: (p: string) => string,
  path: string,
  source: string,
  problems: Problems,
): string | undefined {
  try {
    return read(path);
  } catch (err) {
    problems.error(source, `cannot read ${path}: ${(err as Error).message}`);
    return undefined;
  }
}

function loadFile(path: string, read: (p: string) => string, problems: Problems): LoadedFile | undefined {
  const text = readText(read, path, FLAG_NAMES.config, problems);
  if (text === undefined) return undefined;
  const parsed = parseYamlDocuments(text, path);
  for (const i of parsed.issues) if (i.severity === 'error') problems.errors.push(formatIssue(i));
  if (parsed.issues.some((i) => i.severity === 'error')) return undefined;
  const docs = parsed.documents.filter((d) => d.value !== null && d.value !== undefined);
  if (docs.length !== 1) {
    problems.error(path, `a bootstrap file holds exactly one document (found ${docs.length})`);
    return undefined;
  }
  const doc = docs[0];
  const issues = new Issues();
  const value = bootstrapFileSchema.parse(doc.value, [], issues);
  for (const i of issues.list) {
    const line = formatIssue({ ...i, file: path, ...doc.locate(i.path) });
    if (i.severity === 'error') problems.errors.push(line);
    else problems.warnings.push(line);
  }
  if (value === INVALID || issues.hasErrors) return undefined;
  return { file: path, value, doc };
}

/** `file:line:col field` for a field of the bootstrap file. */
function fileSource(f: LoadedFile | undefined, path: FieldPath): string {
  if (!f) return 'bootstrap file';
  const pos = f.doc.locate(path);
  return `${f.file}:${pos.line}:${pos.column} ${formatPath(path)}`;
}

function fromFile<T>(
  f: LoadedFile | undefined,
  key: keyof BootstrapFile,
): Sourced<T | undefined> | undefined {
  if (!f) return undefined;
  return { value: f.value[key] as T | undefined, source: fileSource(f, [key]) };
}

function fromFlag<K extends keyof BootstrapFlags>(flags: BootstrapFlags, key: K): Sourced<BootstrapFlags[K]> {
  return { value: flags[key], source: FLAG_NAMES[key] };
}

function fromEnv(
  env: Readonly<Record<string, string | undefined>>,
  name: string,
): Sourced<string | undefined> {
  return { value: env[name], source: `env ${name}` };
}

/** PROXY_CONFIG: a ProxyConfig in YAML or JSON, checked with positions inside the variable. */
function parseProxyConfigEnv(text: string, problems: Problems): ProxyConfigInput | undefined {
  const name = 'env PROXY_CONFIG';
  const parsed = parseYamlDocuments(text, name);
  for (const i of parsed.issues) if (i.severity === 'error') problems.errors.push(formatIssue(i));
  if (parsed.issues.some((i) => i.severity === 'error')) return undefined;
  const docs = parsed.documents.filter((d) => d.value !== null && d.value !== undefined);
  if (docs.length === 0) return undefined;
  if (docs.length > 1) {
    problems.error(name, 'holds more than one YAML document');
    return undefined;
  }
  const issues = new Issues();
  const value = proxyConfigSchema.parse(docs[0].value, [], issues);
  for (const i of issues.list) {
    const line = formatIssue({ ...i, file: name, ...docs[0].locate(i.path) });
    if (i.severity === 'error') problems.errors.push(line);
    else problems.warnings.push(line);
  }
  return value === INVALID || issues.hasErrors ? undefined : value;
}

/** Istio's serviceCluster rules: an explicit name, or derived from the workload's labels. */
function serviceClusterOf(
  pc: ProxyConfig,
  labels: Record<string, string>,
  workload: string,
  namespace: string,
) {
  if (pc.serviceCluster !== undefined && pc.tracingServiceName === undefined) return pc.serviceCluster;
  const canonical =
    labels['service.istio.io/canonical-name'] ?? labels['app.kubernetes.io/name'] ?? labels.app ?? workload;
  switch (pc.tracingServiceName ?? 'APP_LABEL_AND_NAMESPACE') {
    case 'CANONICAL_NAME_ONLY':
      return canonical;
    case 'CANONICAL_NAME_AND_NAMESPACE':
      return `${canonical}.${namespace}`;
    default:
      return `${labels.app ?? 'istio-proxy'}.${namespace}`;
  }
}

/** Strips `null`s and `undefined`s so the object is plain JSON for a protobuf Struct. */
function toJson(value: unknown): JsonValue | undefined {
  if (value === undefined) return undefined;
  if (value === null || typeof value !== 'object') return value as JsonValue;
  if (Array.isArray(value)) return value.map((v) => toJson(v) ?? null);
  const out: Record<string, JsonValue> = {};
  for (const [k, v] of Object.entries(value)) {
    const j = toJson(v);
    if (j !== undefined) out[k] = j;
  }
  return out;
}

/**
 * Resolves the bootstrap; never throws. `bootstrap` is absent when any error was found; every
 * error names its source.
 */
export function resolveBootstrap(sources: BootstrapSources = {}): {
  bootstrap?: Bootstrap;
  errors: readonly string[];
  warnings: readonly string[];
} {
  const flags = sources.flags ?? {};
  const rawEnv = sources.env ?? process.env;
  const read = sources.readFile ?? ((p: string) => readFileSync(p, 'utf8'));
  const problems = new Problems();

  // The file first: it may name the mesh config and hold a proxyConfig.
  const file = flags.config ? loadFile(flags.config, read, problems) : undefined;
  const fileDir = flags.config ? dirname(resolve(flags.config)) : process.cwd();

  // Mesh config (defaultConfig), then ProxyConfig layers.
  let mesh: MeshConfig = DEFAULT_MESH_CONFIG;
  const meshPath =
    flags.meshConfig ?? (file?.value.meshConfig ? resolve(fileDir, file.value.meshConfig) : undefined);
  if (meshPath) {
    const source = flags.meshConfig ? FLAG_NAMES.meshConfig : fileSource(file, ['meshConfig']);
    const text = readText(read, meshPath, source, problems);
    if (text !== undefined) {
      const result = parseMeshConfig(text, meshPath);
      for (const i of result.issues) {
        if (i.severity === 'error') problems.errors.push(formatIssue(i));
        else problems.warnings.push(formatIssue(i));
      }
      if (result.config) mesh = result.config;
    }
  }
  let proxyConfig = mergeProxyConfig(mesh.defaultConfig, file?.value.proxyConfig);
  const pcEnv = rawEnv.PROXY_CONFIG;
  if (pcEnv !== undefined && pcEnv.trim() !== '') {
    proxyConfig = mergeProxyConfig(proxyConfig, parseProxyConfigEnv(pcEnv, problems));
  }
  // proxyMetadata is environment the real environment overrides.
  const env: Record<string, string | undefined> = { ...proxyConfig.proxyMetadata, ...rawEnv };

  const proxyType = pick<string>(fromFlag(flags, 'type'), fromFile(file, 'proxyType')) ?? {
    value: 'sidecar',
    source: 'default',
  };
  if (!(PROXY_TYPES as readonly string[]).includes(proxyType.value)) {
    problems.error(
      proxyType.source,
      `${JSON.stringify(proxyType.value)} is not a proxy type; use sidecar or router`,
    );
  }

  const hostname = sources.hostname ?? osHostname;
  const podName = pick<string>(
    fromFlag(flags, 'podName'),
    fromEnv(env, 'POD_NAME'),
    fromFile(file, 'podName'),
  ) ?? {
    value: hostname(),
    source: 'hostname',
  };
  if (podName.value === '' || podName.value.includes('~') || /\s/.test(podName.value)) {
    problems.error(
      podName.source,
      `${JSON.stringify(podName.value)} is not a usable pod name (empty, "~" or blanks)`,
    );
  }

  const namespace = pick<string>(
    fromFlag(flags, 'namespace'),
    fromEnv(env, 'POD_NAMESPACE'),
    fromFile(file, 'namespace'),
  ) ?? { value: 'default', source: 'default' };
  if (!isDns1123Label(namespace.value)) {
    problems.error(
      namespace.source,
      `${JSON.stringify(namespace.value)} is not a valid namespace (a DNS-1123 label)`,
    );
  }

  const ipList = (s: Sourced<string | undefined> | undefined): Sourced<string[] | undefined> | undefined =>
    s?.value === undefined
      ? undefined
      : {
          value: s.value
            .split(',')
            .map((x) => x.trim())
            .filter(Boolean),
          source: s.source,
        };
  const flagIps =
    flags.ip && flags.ip.length > 0
      ? { value: flags.ip.flatMap((x) => x.split(',')).map((x) => x.trim()), source: FLAG_NAMES.ip }
      : undefined;
  const fileIps = file?.value.instanceIps?.length ? fromFile<string[]>(file, 'instanceIps') : undefined;
  let ips = pick<string[]>(flagIps, ipList(fromEnv(env, 'INSTANCE_IP')), fileIps);
  if (!ips) {
    const found = (sources.interfaceAddresses ?? defaultInterfaceAddresses)();
    ips =
      found.length > 0
        ? { value: found, source: 'interface addresses' }
        : { value: ['127.0.0.1'], source: 'default' };
  }
  for (const ip of ips.value) {
    if (!isIpAddress(ip)) problems.error(ips.source, `${JSON.stringify(ip)} is not an IP address`);
  }

  const serviceAccount = pick<string>(
    fromFlag(flags, 'serviceAccount'),
    fromEnv(env, 'SERVICE_ACCOUNT'),
    fromFile(file, 'serviceAccount'),
  );
  if (serviceAccount && !isDns1123Subdomain(serviceAccount.value)) {
    problems.error(
      serviceAccount.source,
      `${JSON.stringify(serviceAccount.value)} is not a valid service account name (a DNS-1123 subdomain)`,
    );
  }

  const clusterId = pick<string>(
    fromFlag(flags, 'clusterId'),
    fromEnv(env, 'ISTIO_META_CLUSTER_ID'),
    fromFile(file, 'clusterId'),
  ) ?? { value: DEFAULT_CLUSTER_ID, source: 'default' };
  if (clusterId.value.includes('~') || /\s/.test(clusterId.value)) {
    problems.error(clusterId.source, `${JSON.stringify(clusterId.value)} is not a valid cluster id`);
  }

  const clusterDomain = pick<string>(fromFlag(flags, 'clusterDomain'), fromFile(file, 'clusterDomain')) ?? {
    value: 'cluster.local',
    source: 'default',
  };
  if (!isDns1123Subdomain(clusterDomain.value)) {
    problems.error(clusterDomain.source, `${JSON.stringify(clusterDomain.value)} is not a valid DNS domain`);
  }

  // Labels: file < labels file < ISTIO_METAJSON_LABELS < --label (merged by key).
  const labelSources: Sourced<Record<string, string>>[] = [];
  if (file?.value.labels)
    labelSources.push({ value: file.value.labels, source: fileSource(file, ['labels']) });
  const labelsFilePath =
    flags.labelsFile ?? (file?.value.labelsFile ? resolve(fileDir, file.value.labelsFile) : undefined);
  if (labelsFilePath) {
    const source = flags.labelsFile ? FLAG_NAMES.labelsFile : fileSource(file, ['labelsFile']);
    const text = readText(read, labelsFilePath, source, problems);
    if (text !== undefined) {
      labelSources.push({
        value: parseDownwardApiFile(text, labelsFilePath, problems),
        source: labelsFilePath,
      });
    }
  }
  const metaJson: Record<string, JsonValue> = {};
  for (const [name, text] of Object.entries(env)) {
    if (!name.startsWith('ISTIO_METAJSON_') || text === undefined || text === '') continue;
    const key = name.slice('ISTIO_METAJSON_'.length);
    try {
      metaJson[key] = JSON.parse(text) as JsonValue;
    } catch (err) {
      problems.error(`env ${name}`, `is not valid JSON: ${(err as Error).message}`);
    }
  }
  if (metaJson.LABELS !== undefined) {
    const v = metaJson.LABELS;
    if (
      typeof v !== 'object' ||
      v === null ||
      Array.isArray(v) ||
      Object.values(v).some((x) => typeof x !== 'string')
    ) {
      problems.error('env ISTIO_METAJSON_LABELS', 'must be a JSON object of strings');
    } else {
      labelSources.push({ value: v as Record<string, string>, source: 'env ISTIO_METAJSON_LABELS' });
    }
  }
  if (flags.label?.length) {
    labelSources.push({
      value: keyValues(flags.label, FLAG_NAMES.label, problems),
      source: FLAG_NAMES.label,
    });
  }
  const labels: Record<string, string> = {};
  for (const s of labelSources) {
    const issues = new Issues();
    validateLabels(s.value, [], issues);
    for (const i of issues.errors) problems.error(s.source, i.message);
    Object.assign(labels, s.value);
  }

  let locality: Locality = { region: '', zone: '', subZone: '' };
  if (flags.locality) {
    locality = parseLocality(flags.locality, FLAG_NAMES.locality, problems, '/') ?? locality;
  } else if (file?.value.locality) {
    const l = file.value.locality;
    locality = { region: l.region ?? '', zone: l.zone ?? '', subZone: l.subZone ?? '' };
  } else if (labels[LOCALITY_LABEL]) {
    locality = parseLocality(labels[LOCALITY_LABEL], `label ${LOCALITY_LABEL}`, problems, '.') ?? locality;
  }

  // The flag is checked here; a discoveryAddress from ProxyConfig by validateProxyConfig below.
  const discoveryFlag = pick<string>(fromFlag(flags, 'discoveryAddress'));
  if (discoveryFlag) {
    const issues = new Issues();
    validateHostPort(discoveryFlag.value, [], issues);
    for (const i of issues.errors) problems.error(discoveryFlag.source, i.message);
  }
  const discoveryAddress = discoveryFlag?.value ?? proxyConfig.discoveryAddress;

  let xdsMode: Sourced<string> = { value: 'delta', source: 'default' };
  const flagMode = pick<string>(fromFlag(flags, 'xdsMode'));
  const deltaEnv = env.ISTIO_DELTA_XDS;
  if (flagMode) xdsMode = flagMode;
  else if (deltaEnv !== undefined && deltaEnv !== '') {
    if (deltaEnv === 'true' || deltaEnv === 'false') {
      xdsMode = { value: deltaEnv === 'true' ? 'delta' : 'sotw', source: 'env ISTIO_DELTA_XDS' };
    } else {
      problems.error('env ISTIO_DELTA_XDS', `must be "true" or "false", got ${JSON.stringify(deltaEnv)}`);
    }
  } else if (file?.value.xdsMode)
    xdsMode = { value: file.value.xdsMode, source: fileSource(file, ['xdsMode']) };
  if (!(XDS_MODES as readonly string[]).includes(xdsMode.value)) {
    problems.error(xdsMode.source, `${JSON.stringify(xdsMode.value)} is not an xDS mode; use delta or sotw`);
  }

  const interception = pick<string>(
    fromFlag(flags, 'interceptionMode'),
    fromEnv(env, 'ISTIO_META_INTERCEPTION_MODE'),
    fromFile(file, 'interceptionMode'),
  ) ?? { value: proxyConfig.interceptionMode ?? 'REDIRECT', source: 'proxyConfig.interceptionMode' };
  if (!(INTERCEPTION_MODES as readonly string[]).includes(interception.value)) {
    problems.error(
      interception.source,
      `${JSON.stringify(interception.value)} is not an interception mode; use ${INTERCEPTION_MODES.join(', ')}`,
    );
  }

  let prometheusPort: number | undefined = ENVOY_PROMETHEUS_PORT;
  if (flags.prometheusPort !== undefined) {
    const v = flags.prometheusPort.trim();
    if (v === 'none') prometheusPort = undefined;
    else if (/^\d+$/.test(v) && Number(v) <= 65535) prometheusPort = Number(v);
    else
      problems.error(
        FLAG_NAMES.prometheusPort,
        `${JSON.stringify(flags.prometheusPort)} is not a port; use 0-65535, or "none" to serve no Prometheus listener`,
      );
  }
  const prometheusAddress = flags.prometheusAddress?.trim() || '0.0.0.0';
  if (!isIpAddress(prometheusAddress))
    problems.error(FLAG_NAMES.prometheusAddress, `${JSON.stringify(prometheusAddress)} is not an IP address`);

  const meshId = pick<string>(
    fromFlag(flags, 'meshId'),
    fromEnv(env, 'ISTIO_META_MESH_ID'),
    fromFile(file, 'meshId'),
  ) ?? {
    value: proxyConfig.meshId || mesh.trustDomain,
    source: 'mesh',
  };
  const workloadName = pick<string>(
    fromFlag(flags, 'workloadName'),
    fromEnv(env, 'ISTIO_META_WORKLOAD_NAME'),
    fromFile(file, 'workloadName'),
  ) ?? { value: podName.value, source: 'pod name' };
  const istioVersion = env.ISTIO_META_ISTIO_VERSION || ISTIO_COMPAT_VERSION;

  {
    const issues = new Issues();
    validateProxyConfig(proxyConfig, [], issues);
    for (const i of issues.errors) problems.error(`proxyConfig.${formatPath(i.path)}`, i.message);
  }

  // Metadata: ISTIO_META_* and ISTIO_METAJSON_*, then the file's, then --meta; Istio's own keys last.
  const metadata: Record<string, JsonValue> = {};
  for (const [name, value] of Object.entries(env)) {
    if (name.startsWith('ISTIO_META_') && value !== undefined)
      metadata[name.slice('ISTIO_META_'.length)] = value;
  }
  Object.assign(metadata, metaJson);
  if (file?.value.metadata) Object.assign(metadata, toJson(file.value.metadata) as Record<string, JsonValue>);
  Object.assign(metadata, keyValues(flags.meta, FLAG_NAMES.meta, problems));
  const own: Record<string, JsonValue | undefined> = {
    NAME: podName.value,
    NAMESPACE: namespace.value,
    LABELS: labels,
    SERVICE_ACCOUNT: serviceAccount?.value,
    CLUSTER_ID: clusterId.value,
    WORKLOAD_NAME: workloadName.value,
    ISTIO_VERSION: istioVersion,
    INTERCEPTION_MODE: interception.value,
    INSTANCE_IPS: ips.value.join(','),
    MESH_ID: meshId.value,
    ENVOY_STATUS_PORT: ENVOY_STATUS_PORT,
    // What scrapers are told (Istio's prometheus.io/port annotation points at it).
    ENVOY_PROMETHEUS_PORT: prometheusPort === undefined || prometheusPort === 0 ? undefined : prometheusPort,
    PROXY_CONFIG: toJson(proxyConfig),
  };
  for (const [key, value] of Object.entries(own)) {
    if (value === undefined) continue;
    const given = metadata[key];
    if (given !== undefined && typeof value === 'string' && given !== value) {
      problems.warnings.push(
        `node metadata ${key}=${JSON.stringify(given)} is replaced by the resolved value ${JSON.stringify(value)}`,
      );
    }
    metadata[key] = value;
  }

  if (problems.errors.length > 0) return { errors: problems.errors, warnings: problems.warnings };

  const type = proxyType.value as ProxyType;
  const dnsDomain = `${namespace.value}.svc.${clusterDomain.value}`;
  const nodeId = `${type}~${ips.value[0]}~${podName.value}.${namespace.value}~${dnsDomain}`;
  const serviceCluster =
    pick<string>(fromFlag(flags, 'serviceCluster'), fromFile(file, 'serviceCluster'))?.value ??
    serviceClusterOf(proxyConfig, labels, workloadName.value, namespace.value);
  const node: XdsNode = {
    id: nodeId,
    cluster: serviceCluster,
    locality: { region: locality.region, zone: locality.zone, sub_zone: locality.subZone },
    metadata: toProtoStruct(metadata),
    user_agent_name: USER_AGENT_NAME,
    user_agent_version: MIZZEN_VERSION,
  };
  const bootstrap: Bootstrap = {
    proxyType: type,
    nodeId,
    podName: podName.value,
    namespace: namespace.value,
    instanceIps: ips.value,
    dnsDomain,
    ...(serviceAccount ? { serviceAccount: serviceAccount.value } : {}),
    clusterId: clusterId.value,
    labels,
    locality,
    meshId: meshId.value,
    workloadName: workloadName.value,
    interceptionMode: interception.value as InterceptionMode,
    prometheusPort,
    prometheusAddress,
    serviceCluster,
    istioVersion,
    discoveryAddress,
    xdsMode: xdsMode.value as XdsMode,
    proxyConfig,
    mesh,
    metadata,
    node,
    warnings: problems.warnings,
  };
  return { bootstrap, errors: [], warnings: problems.warnings };
}

/** Resolves the bootstrap or throws MZ_ERR_CONFIG_INVALID listing every problem. */
export function loadBootstrap(sources: BootstrapSources = {}): Bootstrap {
  const r = resolveBootstrap(sources);
  if (r.bootstrap) return r.bootstrap;
  throw new MizzenError(ErrorCode.CONFIG_INVALID, `invalid proxy bootstrap:\n  ${r.errors.join('\n  ')}`);
}

// ---------------------------------------------------------------------------------------------
// Static resources
// ---------------------------------------------------------------------------------------------

/** Names of the bootstrap's Prometheus listener and the cluster it routes to (Istio's). */
export const PROMETHEUS_LISTENER_NAME = 'prometheus_stats';
export const PROMETHEUS_CLUSTER_NAME = 'prometheus_stats';
const PROMETHEUS_PATH = '/stats/prometheus';

/**
 * The static resources Istio's bootstrap carries for Prometheus: a listener on
 * `<wildcard>:<port>` whose HTTP connection manager routes `/stats/prometheus` to the STATIC
 * cluster `prometheus_stats`, which points at the admin address. Scrapers reach the stats
 * without reaching the admin API's control endpoints. The admin port is known only once the
 * admin server is bound (it may be 0), so this is built then, by whoever binds it.
 */
export function prometheusStaticResources(options: {
  readonly port: number;
  readonly adminAddress: string;
  readonly adminPort: number;
  /** Bind address (Istio: 0.0.0.0, or :: on IPv6 pods). */
  readonly address?: string;
}): { listeners: Record<string, unknown>[]; clusters: Record<string, unknown>[] } {
  const socketAddress = (address: string, port: number) => ({
    socket_address: { protocol: 'TCP', address, port_value: port },
  });
  const listener = {
    name: PROMETHEUS_LISTENER_NAME,
    address: socketAddress(options.address ?? '0.0.0.0', options.port),
    filter_chains: [
      {
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type':
                'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
              codec_type: 'AUTO',
              stat_prefix: 'stats',
              route_config: {
                virtual_hosts: [
                  {
                    name: 'backend',
                    domains: ['*'],
                    routes: [
                      { match: { prefix: PROMETHEUS_PATH }, route: { cluster: PROMETHEUS_CLUSTER_NAME } },
                    ],
                  },
                ],
              },
              http_filters: [
                {
                  name: 'envoy.filters.http.router',
                  typed_config: {
                    '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router',
                  },
                },
              ],
            },
          },
        ],
      },
    ],
  };
  const cluster = {
    name: PROMETHEUS_CLUSTER_NAME,
    type: 'STATIC',
    connect_timeout: { seconds: 0, nanos: 250_000_000 },
    lb_policy: 'ROUND_ROBIN',
    load_assignment: {
      cluster_name: PROMETHEUS_CLUSTER_NAME,
      endpoints: [
        {
          lb_endpoints: [{ endpoint: { address: socketAddress(options.adminAddress, options.adminPort) } }],
        },
      ],
    },
  };
  return { listeners: [listener], clusters: [cluster] };
}
