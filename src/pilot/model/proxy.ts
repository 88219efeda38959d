/**
 * Proxy: who is on the other end of an xDS stream, parsed once from the Envoy node of the
 * stream's first request — Istio's node id `TYPE~IP~POD.NAMESPACE~NAMESPACE.svc.cluster.local`
 * plus node metadata under Istio's keys (NAMESPACE, LABELS, SERVICE_ACCOUNT, CLUSTER_ID, …).
 * Immutable; per-push scoping (SidecarScope and friends) lives elsewhere.
 */
import { isIP } from 'node:net';
import { ErrorCode, MizzenError } from '../../lib/errors.ts';
import type { XdsNode } from '../../lib/xds/discovery.ts';
import { fromProtoStruct, type JsonValue } from '../../lib/xds/well-known.ts';

/** Istio's node types that Mizzen serves. Ambient (`ztunnel`, `waypoint`) comes later. */
export const NodeType = { SIDECAR: 'sidecar', ROUTER: 'router' } as const;
export type NodeType = (typeof NodeType)[keyof typeof NodeType];
const NODE_TYPES: ReadonlySet<string> = new Set(Object.values(NodeType));

/** How inbound traffic reaches the proxy (Istio's INTERCEPTION_MODE). */
export type InterceptionMode = 'REDIRECT' | 'TPROXY' | 'NONE';
const INTERCEPTION_MODES: ReadonlySet<string> = new Set(['REDIRECT', 'TPROXY', 'NONE']);

export interface IstioVersion {
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
}

export interface Locality {
  readonly region: string;
  readonly zone: string;
  readonly subZone: string;
}

/** Node metadata, typed for the keys Mizzen reads; everything as received stays in `raw`. */
export interface NodeMetadata {
  readonly namespace?: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly serviceAccount?: string;
  readonly clusterId?: string;
  readonly workloadName?: string;
  readonly istioVersion?: string;
  readonly meshId?: string;
  readonly network?: string;
  readonly instanceIps?: readonly string[];
  readonly interceptionMode?: InterceptionMode;
  /** Generator flavour, e.g. `grpc` for proxyless gRPC clients. */
  readonly generator?: string;
  readonly nodeName?: string;
  readonly owner?: string;
  readonly routerMode?: string;
  readonly requestedNetworkView?: readonly string[];
  readonly dnsCapture?: boolean;
  readonly dnsAutoAllocate?: boolean;
  readonly envoyStatusPort?: number;
  readonly envoyPrometheusPort?: number;
  readonly unprivilegedPod?: boolean;
  readonly appContainers?: readonly string[];
  readonly proxyConfig?: Readonly<Record<string, JsonValue>>;
  readonly platformMetadata?: Readonly<Record<string, string>>;
  readonly raw: Readonly<Record<string, JsonValue>>;
}

export interface Proxy {
  readonly type: NodeType;
  /** The whole Envoy node id, as sent. */
  readonly nodeId: string;
  /** The id part of the node id: `POD.NAMESPACE` (Istio's Proxy.ID). */
  readonly id: string;
  readonly ipAddresses: readonly string[];
  readonly dnsDomain: string;
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly serviceAccount?: string;
  readonly clusterId?: string;
  readonly workloadName?: string;
  readonly istioVersion?: IstioVersion;
  /** Envoy's node.cluster (Istio fills in the service cluster name). */
  readonly serviceCluster: string;
  readonly locality: Locality;
  readonly metadata: NodeMetadata;
}

export interface ParsedNodeId {
  readonly type: NodeType;
  readonly ipAddress: string;
  readonly id: string;
  readonly dnsDomain: string;
}

/** Parses `TYPE~IP~ID~DOMAIN`; throws MZ_ERR_INVALID_ARGUMENT naming what is wrong. */
export function parseNodeId(nodeId: string): ParsedNodeId {
  const parts = nodeId.split('~');
  if (parts.length !== 4) {
    throw invalid(`node id "${nodeId}" must have 4 parts TYPE~IP~POD.NAMESPACE~DOMAIN, got ${parts.length}`);
  }
  const [type, ipAddress, id, dnsDomain] = parts;
  if (!NODE_TYPES.has(type)) {
    throw invalid(`node id "${nodeId}": type "${type}" is not one of ${[...NODE_TYPES].join(', ')}`);
  }
  if (isIP(ipAddress) === 0) throw invalid(`node id "${nodeId}": "${ipAddress}" is not an IP address`);
  if (id === '') throw invalid(`node id "${nodeId}": the POD.NAMESPACE part is empty`);
  return { type: type as NodeType, ipAddress, id, dnsDomain };
}

/** The inverse of parseNodeId, for agents and tests. */
export function formatNodeId(node: {
  type: NodeType;
  ipAddress: string;
  podName: string;
  namespace: string;
  dnsDomain?: string;
}): string {
  const domain = node.dnsDomain ?? `${node.namespace}.svc.cluster.local`;
  return `${node.type}~${node.ipAddress}~${node.podName}.${node.namespace}~${domain}`;
}

/** Parses `1.22.3`, `1.22`, `1.22.0-beta.1`; undefined for anything else (Istio: "newest"). */
export function parseIstioVersion(text: string | undefined): IstioVersion | undefined {
  if (!text) return undefined;
  const m = /^v?(\d+)\.(\d+)(?:\.(\d+))?(?:[-+].*)?$/.exec(text);
  if (!m) return undefined;
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3] ?? 0) };
}

/**
 * Builds the Proxy from the node of a stream's first request. Collects every problem and throws
 * one MZ_ERR_INVALID_ARGUMENT listing them (the ADS server turns it into INVALID_ARGUMENT).
 */
export function proxyFromNode(node: XdsNode | null | undefined): Proxy {
  if (!node?.id) throw invalid('the first request of a stream must carry node.id');
  const parsed = parseNodeId(node.id);
  const errors: string[] = [];
  const metadata = parseNodeMetadata(fromProtoStruct(node.metadata), errors);
  const ipAddresses =
    metadata.instanceIps && metadata.instanceIps.length > 0 ? metadata.instanceIps : [parsed.ipAddress];
  let namespace = metadata.namespace;
  if (!namespace) {
    const idParts = parsed.id.split('.');
    if (idParts.length === 2 && idParts[1]) namespace = idParts[1];
  }
  if (!namespace) {
    errors.push(`cannot tell the namespace: set metadata NAMESPACE or use the node id form POD.NAMESPACE`);
  }
  if (errors.length > 0) throw invalid(`node "${node.id}": ${errors.join('; ')}`);
  return {
    type: parsed.type,
    nodeId: node.id,
    id: parsed.id,
    ipAddresses,
    dnsDomain: parsed.dnsDomain,
    namespace: namespace as string,
    labels: metadata.labels,
    serviceAccount: metadata.serviceAccount,
    clusterId: metadata.clusterId,
    workloadName: metadata.workloadName,
    istioVersion: parseIstioVersion(metadata.istioVersion),
    serviceCluster: node.cluster ?? '',
    locality: {
      region: node.locality?.region ?? '',
      zone: node.locality?.zone ?? '',
      subZone: node.locality?.sub_zone ?? '',
    },
    metadata,
  };
}

/** Typed view of Istio's node metadata keys. Problems are appended to `errors`. */
export function parseNodeMetadata(raw: Record<string, JsonValue>, errors: string[]): NodeMetadata {
  const str = (key: string): string | undefined => {
    const v = raw[key];
    if (v === undefined || v === null || v === '') return undefined;
    if (typeof v !== 'string') {
      errors.push(`metadata ${key} must be a string, got ${JSON.stringify(v)}`);
      return undefined;
    }
    return v;
  };
  // Istio's StringBool: "true"/"false" strings, or real booleans.
  const bool = (key: string): boolean | undefined => {
    const v = raw[key];
    if (v === undefined || v === null || v === '') return undefined;
    if (typeof v === 'boolean') return v;
    if (v === 'true' || v === 'false') return v === 'true';
    errors.push(`metadata ${key} must be "true" or "false", got ${JSON.stringify(v)}`);
    return undefined;
  };
  const port = (key: string): number | undefined => {
    const v = raw[key];
    if (v === undefined || v === null || v === '') return undefined;
    const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : Number.NaN;
    if (!Number.isInteger(n) || n < 0 || n > 65535) {
      errors.push(`metadata ${key} must be a port number, got ${JSON.stringify(v)}`);
      return undefined;
    }
    return n;
  };
  const stringMap = (key: string): Record<string, string> => {
    const v = raw[key];
    if (v === undefined || v === null) return {};
    if (typeof v !== 'object' || Array.isArray(v)) {
      errors.push(`metadata ${key} must be a map of strings`);
      return {};
    }
    const out: Record<string, string> = {};
    for (const [k, item] of Object.entries(v)) {
      if (typeof item !== 'string')
        errors.push(`metadata ${key}.${k} must be a string, got ${JSON.stringify(item)}`);
      else out[k] = item;
    }
    return out;
  };
  // Comma-separated strings (Istio's StringList), or JSON lists of strings.
  const list = (key: string): string[] | undefined => {
    const v = raw[key];
    if (v === undefined || v === null || v === '') return undefined;
    if (typeof v === 'string')
      return v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
    if (Array.isArray(v) && v.every((s) => typeof s === 'string')) return v as string[];
    errors.push(`metadata ${key} must be a comma-separated string`);
    return undefined;
  };

  const instanceIps = list('INSTANCE_IPS');
  for (const ip of instanceIps ?? []) {
    if (isIP(ip) === 0) errors.push(`metadata INSTANCE_IPS: "${ip}" is not an IP address`);
  }
  const interception = str('INTERCEPTION_MODE');
  if (interception !== undefined && !INTERCEPTION_MODES.has(interception)) {
    errors.push(`metadata INTERCEPTION_MODE must be one of REDIRECT, TPROXY, NONE, got "${interception}"`);
  }
  const proxyConfig = raw.PROXY_CONFIG;
  if (
    proxyConfig !== undefined &&
    (typeof proxyConfig !== 'object' || proxyConfig === null || Array.isArray(proxyConfig))
  ) {
    errors.push('metadata PROXY_CONFIG must be an object');
  }

  return {
    namespace: str('NAMESPACE'),
    labels: stringMap('LABELS'),
    annotations: stringMap('ANNOTATIONS'),
    serviceAccount: str('SERVICE_ACCOUNT'),
    clusterId: str('CLUSTER_ID'),
    workloadName: str('WORKLOAD_NAME'),
    istioVersion: str('ISTIO_VERSION'),
    meshId: str('MESH_ID'),
    network: str('NETWORK'),
    instanceIps,
    interceptionMode: interception as InterceptionMode | undefined,
    generator: str('GENERATOR'),
    nodeName: str('NODE_NAME'),
    owner: str('OWNER'),
    routerMode: str('ROUTER_MODE'),
    requestedNetworkView: list('REQUESTED_NETWORK_VIEW'),
    dnsCapture: bool('DNS_CAPTURE'),
    dnsAutoAllocate: bool('DNS_AUTO_ALLOCATE'),
    envoyStatusPort: port('ENVOY_STATUS_PORT'),
    envoyPrometheusPort: port('ENVOY_PROMETHEUS_PORT'),
    unprivilegedPod: bool('UNPRIVILEGED_POD'),
    appContainers: list('APP_CONTAINERS'),
    proxyConfig:
      typeof proxyConfig === 'object' && proxyConfig !== null && !Array.isArray(proxyConfig)
        ? proxyConfig
        : undefined,
    platformMetadata: raw.PLATFORM_METADATA === undefined ? undefined : stringMap('PLATFORM_METADATA'),
    raw,
  };
}

function invalid(message: string): MizzenError {
  return new MizzenError(ErrorCode.INVALID_ARGUMENT, message);
}
