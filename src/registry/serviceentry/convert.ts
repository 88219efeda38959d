/**
 * Pure conversions from Istio config to the registry model (Istio's serviceentry/conversion.go):
 * ServiceEntry -> Services (one per host), WorkloadEntry -> Workload, and the Endpoints of a
 * service from its inline endpoints, the WorkloadEntries its workloadSelector picks, or (DNS
 * resolution without either) the host name itself.
 */
import {
  type ServiceEntry,
  type ServiceEntryResolution,
  serviceEntryLocation,
  serviceEntryResolution,
} from '../../api/networking/service-entry.ts';
import type { WorkloadEntry } from '../../api/networking/workload-entry.ts';
import type { WorkloadGroup } from '../../api/networking/workload-group.ts';
import { type ConfigResource, configKey } from '../../api/resource.ts';
import { isWildcardHost } from '../host.ts';
import {
  type Endpoint,
  HealthStatus,
  labelsMatch,
  Provider,
  Resolution,
  resolveExportTo,
  type Service,
  type ServicePort,
  spiffeId,
  TLS_MODE_LABEL,
  UNSPECIFIED_IP,
  type Workload,
} from '../model.ts';
import { serviceEntryPortProtocol } from '../protocol.ts';

export interface ConvertOptions {
  readonly clusterId: string;
  readonly trustDomain: string;
}

const RESOLUTIONS: Readonly<Record<Exclude<ServiceEntryResolution, 'DYNAMIC_DNS'>, Resolution>> = {
  NONE: Resolution.PASSTHROUGH,
  STATIC: Resolution.CLIENT_SIDE_LB,
  DNS: Resolution.DNS_LB,
  DNS_ROUND_ROBIN: Resolution.DNS_ROUND_ROBIN_LB,
};

export interface ConvertedServiceEntry {
  readonly services: readonly Service[];
  /** Why the entry yields no services, when it yields none. */
  readonly problem?: string;
}

/** A `/32` or `/128` CIDR is just its address (Istio does the same). */
function normalizeAddress(a: string): string {
  if (a.endsWith('/32') && !a.includes(':')) return a.slice(0, -3);
  if (a.endsWith('/128') && a.includes(':')) return a.slice(0, -4);
  return a;
}

/** One Service per host of the ServiceEntry, all sharing ports, addresses and resolution. */
export function convertServiceEntry(
  se: ConfigResource<ServiceEntry>,
  opts: ConvertOptions,
): ConvertedServiceEntry {
  const spec = se.spec;
  const resolution = serviceEntryResolution(spec);
  if (resolution === 'DYNAMIC_DNS') {
    return {
      services: [],
      problem: 'resolution DYNAMIC_DNS is not supported by Mizzen; the entry is ignored',
    };
  }
  const ports: ServicePort[] = (spec.ports ?? []).map((p) => ({
    name: p.name,
    port: p.number,
    protocol: serviceEntryPortProtocol(p),
    ...(p.targetPort ? { targetPort: p.targetPort } : {}),
  }));
  const addresses = (spec.addresses ?? []).map(normalizeAddress);
  const exportTo = spec.exportTo ? resolveExportTo(spec.exportTo, se.meta.namespace) : undefined;
  const selector = spec.workloadSelector?.labels;
  const services = spec.hosts.map(
    (hostname): Service =>
      Object.freeze({
        hostname,
        namespace: se.meta.namespace,
        name: se.meta.name,
        provider: Provider.EXTERNAL,
        clusterId: opts.clusterId,
        addresses,
        defaultAddress: addresses[0] ?? UNSPECIFIED_IP,
        ports,
        resolution: RESOLUTIONS[resolution],
        meshExternal: serviceEntryLocation(spec) === 'MESH_EXTERNAL',
        ...(exportTo ? { exportTo } : {}),
        serviceAccounts: spec.subjectAltNames ?? [],
        labels: se.meta.labels,
        ...(selector ? { selector } : {}),
        source: configKey(se),
        ...(se.meta.creationTimestamp ? { creationTimestamp: se.meta.creationTimestamp } : {}),
      }),
  );
  return { services };
}

/** A WorkloadEntry as a Workload. */
export function workloadFromEntry(we: ConfigResource<WorkloadEntry>, opts: ConvertOptions): Workload {
  return workloadOf(we.spec, {
    kind: 'WorkloadEntry',
    name: we.meta.name,
    namespace: we.meta.namespace,
    clusterId: opts.clusterId,
    source: configKey(we),
    extraLabels: we.meta.labels,
  });
}

function workloadOf(
  spec: WorkloadEntry,
  w: {
    kind: Workload['kind'];
    name: string;
    namespace: string;
    clusterId: string;
    source?: Workload['source'];
    extraLabels?: Readonly<Record<string, string>>;
  },
): Workload {
  return Object.freeze({
    kind: w.kind,
    name: w.name,
    namespace: w.namespace,
    address: spec.address ?? '',
    // The object's own labels count too (Istio merges WorkloadEntry metadata labels in).
    labels: { ...w.extraLabels, ...spec.labels },
    ports: spec.ports ?? {},
    ...(spec.serviceAccount ? { serviceAccount: spec.serviceAccount } : {}),
    locality: spec.locality ?? '',
    ...(spec.network ? { network: spec.network } : {}),
    weight: spec.weight || 1,
    clusterId: w.clusterId,
    healthStatus: HealthStatus.HEALTHY,
    ...(w.source ? { source: w.source } : {}),
  });
}

/** The inline endpoints of a ServiceEntry as workloads (named `<entry>-<index>`). */
export function inlineWorkloads(se: ConfigResource<ServiceEntry>, opts: ConvertOptions): Workload[] {
  return (se.spec.endpoints ?? []).map((ep, i) =>
    workloadOf(ep, {
      kind: 'ServiceEntryEndpoint',
      name: `${se.meta.name}-${i}`,
      namespace: se.meta.namespace,
      clusterId: opts.clusterId,
      source: configKey(se),
    }),
  );
}

/** Whether a ServiceEntry's workloadSelector picks the workload (same namespace, labels ⊆). */
export function selects(service: Pick<Service, 'selector' | 'namespace'>, w: Workload): boolean {
  return (
    service.selector !== undefined &&
    w.namespace === service.namespace &&
    labelsMatch(service.selector, w.labels)
  );
}

/** The port a workload serves a service port on: its own mapping, else targetPort, else the port. */
export function workloadPort(w: Pick<Workload, 'ports'>, port: ServicePort): number {
  return w.ports[port.name] ?? port.targetPort ?? port.port;
}

function isUnixAddress(address: string): boolean {
  return address.startsWith('unix://');
}

/** Endpoint of service port `port` on workload `w`. */
export function endpointFor(port: ServicePort, w: Workload, opts: ConvertOptions): Endpoint {
  const unix = isUnixAddress(w.address);
  return Object.freeze({
    address: w.address,
    port: unix ? 0 : workloadPort(w, port),
    servicePortName: port.name,
    labels: w.labels,
    ...(w.serviceAccount
      ? { serviceAccount: spiffeId(opts.trustDomain, w.namespace, w.serviceAccount) }
      : {}),
    ...(w.network ? { network: w.network } : {}),
    locality: w.locality,
    clusterId: w.clusterId,
    weight: w.weight,
    healthStatus: w.healthStatus,
    tlsMode: w.labels[TLS_MODE_LABEL] === 'istio' ? 'istio' : 'disabled',
    workloadName: w.name,
    namespace: w.namespace,
  });
}

/**
 * Every endpoint of `service`: inline endpoints of its entry, else the workloads its selector
 * picks, else — for DNS resolution of a concrete host — the host name on each port.
 */
export function serviceEndpoints(
  service: Service,
  inline: readonly Workload[],
  selected: readonly Workload[],
  opts: ConvertOptions,
): Endpoint[] {
  const out: Endpoint[] = [];
  const workloads = service.selector ? selected : inline;
  for (const w of workloads) {
    if (!w.address) continue;
    for (const port of service.ports) {
      // A workload that maps ports serves only the ports it names (Istio skips the others
      // only for unix sockets; a missing entry falls back to the service port).
      out.push(endpointFor(port, w, opts));
    }
  }
  if (
    out.length === 0 &&
    !service.selector &&
    inline.length === 0 &&
    (service.resolution === Resolution.DNS_LB || service.resolution === Resolution.DNS_ROUND_ROBIN_LB) &&
    !isWildcardHost(service.hostname)
  ) {
    for (const port of service.ports) {
      out.push(
        Object.freeze({
          address: service.hostname,
          port: port.targetPort ?? port.port,
          servicePortName: port.name,
          labels: {},
          locality: '',
          clusterId: service.clusterId,
          weight: 1,
          healthStatus: HealthStatus.HEALTHY,
          tlsMode: 'disabled',
          // No workload behind a resolved host name.
          workloadName: '',
          namespace: service.namespace,
        }),
      );
    }
  }
  return out;
}

/**
 * The WorkloadEntry Istio's auto-registration creates when a VM of `group` connects from
 * `address`: the group's template, its metadata labels, the proxy's address, network and
 * locality (what the proxy reports wins over the template).
 */
export function workloadEntryFromGroup(
  group: ConfigResource<WorkloadGroup>,
  proxy: { address: string; network?: string; locality?: string; labels?: Readonly<Record<string, string>> },
): WorkloadEntry {
  const t = group.spec.template;
  return {
    ...t,
    address: proxy.address,
    labels: { ...t.labels, ...group.spec.metadata?.labels, ...proxy.labels },
    ...(proxy.network || t.network ? { network: proxy.network || t.network } : {}),
    ...(proxy.locality || t.locality ? { locality: proxy.locality || t.locality } : {}),
  };
}
