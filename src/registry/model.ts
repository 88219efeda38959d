/**
 * The service registry's model, in Istio's words (pilot/pkg/model/service.go): a Service with
 * its ports, the Endpoints behind it, the Workloads that run them, and ServiceTargets (a
 * proxy's own service ports, for inbound). Every object is immutable once a registry hands it
 * out; a change produces new objects.
 */
import type { ConfigKey } from '../api/resource.ts';
import type { Protocol } from './protocol.ts';

/** Which kind of registry a service comes from (Istio's provider.ID). */
export const Provider = {
  KUBERNETES: 'Kubernetes',
  EXTERNAL: 'External',
  MEMORY: 'Memory',
} as const;
export type Provider = (typeof Provider)[keyof typeof Provider];

/** How clients find the service's endpoints (Istio's model.Resolution). */
export const Resolution = {
  /** The proxy balances over endpoints it gets by EDS. */
  CLIENT_SIDE_LB: 'ClientSideLB',
  /** The proxy resolves the endpoints' names and balances over every address (STRICT_DNS). */
  DNS_LB: 'DNSLB',
  /** The proxy resolves the name and uses one address at a time (LOGICAL_DNS). */
  DNS_ROUND_ROBIN_LB: 'DNSRoundRobinLB',
  /** The proxy forwards to the address the client dialed (ORIGINAL_DST). */
  PASSTHROUGH: 'Passthrough',
} as const;
export type Resolution = (typeof Resolution)[keyof typeof Resolution];

/** `exportTo` entries after resolution: `*` (all), `~` (none) or namespace names. */
export const EXPORT_ALL = '*';
export const EXPORT_NONE = '~';
export const EXPORT_PRIVATE = '.';

/** The address a service without a VIP is listed under (Istio's UnspecifiedIP). */
export const UNSPECIFIED_IP = '0.0.0.0';

export interface ServicePort {
  /** Port name, unique within the service; endpoints refer to ports by it. */
  readonly name: string;
  readonly port: number;
  readonly protocol: Protocol;
  /** Default port on the endpoints (ServiceEntry `targetPort`); else `port`. */
  readonly targetPort?: number;
}

export interface Service {
  /** Fully qualified host name, or a `*.suffix` wildcard (ServiceEntry). */
  readonly hostname: string;
  readonly namespace: string;
  /** Name of the object that declared the service (ServiceEntry, Kubernetes Service). */
  readonly name: string;
  readonly provider: Provider;
  readonly clusterId: string;
  /** Virtual IPs or CIDRs; empty when the service has none. */
  readonly addresses: readonly string[];
  /** The first address, or 0.0.0.0. */
  readonly defaultAddress: string;
  readonly ports: readonly ServicePort[];
  readonly resolution: Resolution;
  /** Outside the mesh (ServiceEntry MESH_EXTERNAL): no mTLS, no telemetry of the far side. */
  readonly meshExternal: boolean;
  /**
   * Namespaces the service is visible to (`*`, `~`, names; `.` already resolved to
   * `namespace`). Undefined: the mesh's `defaultServiceExportTo` applies.
   */
  readonly exportTo?: ReadonlySet<string>;
  /** SPIFFE identities (or other SANs) the service's workloads present, from its declaration. */
  readonly serviceAccounts: readonly string[];
  readonly labels: Readonly<Record<string, string>>;
  /** Workload labels selecting the service's workloads (ServiceEntry workloadSelector, Service selector). */
  readonly selector?: Readonly<Record<string, string>>;
  /** The config object the service came from, when it came from config. */
  readonly source?: ConfigKey;
  /** RFC 3339 creation time of the declaring object, for Istio's oldest-first conflict rules. */
  readonly creationTimestamp?: string;
}

export const HealthStatus = {
  HEALTHY: 'HEALTHY',
  UNHEALTHY: 'UNHEALTHY',
  /** Being removed: keeps serving its open connections only. */
  DRAINING: 'DRAINING',
  TERMINATING: 'TERMINATING',
} as const;
export type HealthStatus = (typeof HealthStatus)[keyof typeof HealthStatus];

/** Whether the endpoint's proxy takes Istio mTLS (label `security.istio.io/tlsMode`). */
export type TlsMode = 'istio' | 'disabled';
export const TLS_MODE_LABEL = 'security.istio.io/tlsMode';

/** One address:port serving one port of one service (Istio's IstioEndpoint). */
export interface Endpoint {
  /** IP, DNS name (DNS resolution) or `unix:///path` / `unix://@abstract`. */
  readonly address: string;
  /** Port on the endpoint (0 for unix sockets). */
  readonly port: number;
  /** Name of the service port this endpoint serves. */
  readonly servicePortName: string;
  readonly labels: Readonly<Record<string, string>>;
  /** SPIFFE identity `spiffe://<trust-domain>/ns/<ns>/sa/<sa>`, when known. */
  readonly serviceAccount?: string;
  readonly network?: string;
  /** `region/zone/subzone` (any part may be empty). */
  readonly locality: string;
  readonly clusterId: string;
  /** Load-balancing weight, at least 1. */
  readonly weight: number;
  readonly healthStatus: HealthStatus;
  readonly tlsMode: TlsMode;
  /** Name and namespace of the workload behind it (WorkloadEntry, pod), for telemetry. */
  readonly workloadName: string;
  readonly namespace: string;
}

export type WorkloadKind = 'WorkloadEntry' | 'Pod' | 'ServiceEntryEndpoint';

/** A running instance: a WorkloadEntry, a pod, an inline ServiceEntry endpoint. */
export interface Workload {
  readonly kind: WorkloadKind;
  readonly name: string;
  readonly namespace: string;
  readonly address: string;
  readonly labels: Readonly<Record<string, string>>;
  /** Port name -> port on the workload (WorkloadEntry `ports`). */
  readonly ports: Readonly<Record<string, number>>;
  readonly serviceAccount?: string;
  readonly locality: string;
  readonly network?: string;
  readonly weight: number;
  readonly clusterId: string;
  readonly healthStatus: HealthStatus;
  readonly source?: ConfigKey;
}

/** One port of a service a proxy serves itself, with the port its workload listens on. */
export interface ServiceTarget {
  readonly service: Service;
  readonly port: ServicePort;
  /** The workload's port for `port` (the inbound cluster's port). */
  readonly targetPort: number;
}

/** What a registry needs to know about a proxy to tell which services it serves. */
export interface ProxyIdentity {
  readonly ipAddresses: readonly string[];
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** Istio's LocalityLbEndpoints parse of `region/zone/subzone`. */
export interface LocalityParts {
  readonly region: string;
  readonly zone: string;
  readonly subZone: string;
}

export function parseLocality(locality: string): LocalityParts {
  const [region = '', zone = '', subZone = ''] = locality.split('/');
  return { region, zone, subZone };
}

export function formatLocality(l: Partial<LocalityParts>): string {
  const parts = [l.region ?? '', l.zone ?? '', l.subZone ?? ''];
  while (parts.length > 0 && parts[parts.length - 1] === '') parts.pop();
  return parts.join('/');
}

/** `spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>` */
export function spiffeId(trustDomain: string, namespace: string, serviceAccount: string): string {
  return `spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
}

/** True when every selector label is on `labels` with the same value (an empty selector selects all). */
export function labelsMatch(
  selector: Readonly<Record<string, string>> | undefined,
  labels: Readonly<Record<string, string>>,
): boolean {
  if (!selector) return true;
  for (const k in selector) if (labels[k] !== selector[k]) return false;
  return true;
}

/** The service port named `name`, or the one numbered `port`. */
export function servicePort(service: Service, port: number | string): ServicePort | undefined {
  return typeof port === 'number'
    ? service.ports.find((p) => p.port === port)
    : service.ports.find((p) => p.name === port);
}

/**
 * Whether `service` is visible from `namespace` (Istio's exportTo rules); `defaults` is the
 * mesh's defaultServiceExportTo with `.` meaning the service's own namespace.
 */
export function serviceVisibleTo(service: Service, namespace: string, defaults: readonly string[]): boolean {
  const exportTo = service.exportTo ?? resolveExportTo(defaults, service.namespace);
  return exportToAllows(exportTo, service.namespace, namespace);
}

/** `exportTo` list -> set with `.` replaced by `ownNamespace`. */
export function resolveExportTo(values: readonly string[], ownNamespace: string): ReadonlySet<string> {
  return new Set(values.map((v) => (v === EXPORT_PRIVATE ? ownNamespace : v)));
}

/** Whether a resolved exportTo set lets `namespace` see an object of `ownNamespace`. */
export function exportToAllows(
  exportTo: ReadonlySet<string>,
  ownNamespace: string,
  namespace: string,
): boolean {
  if (exportTo.size === 0) return true;
  if (exportTo.has(EXPORT_NONE)) return false;
  if (exportTo.has(EXPORT_ALL)) return true;
  return exportTo.has(namespace) || (namespace === ownNamespace && exportTo.has(EXPORT_PRIVATE));
}

const compareStrings = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** The registry's one order for services: by hostname, then namespace. */
export function compareServices(a: Service, b: Service): number {
  return compareStrings(a.hostname, b.hostname) || compareStrings(a.namespace, b.namespace);
}

/** The registry's one order for workloads: by namespace, then name. */
export function compareWorkloads(a: Workload, b: Workload): number {
  return compareStrings(a.namespace, b.namespace) || compareStrings(a.name, b.name);
}
