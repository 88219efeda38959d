/**
 * In-memory registry (tests, embedding): services and workloads handed over by code, or read
 * from Kubernetes-shaped YAML (`v1 Service` and `v1 Pod` documents) so that golden cases and
 * fakes can describe `reviews.default.svc.cluster.local` the way a cluster would. A service
 * with a selector gets the endpoints of the ready and unready pods it selects (unready ones
 * as UNHEALTHY); a service without one gets what setEndpoints gave it.
 */
import { formatIssue, type LocatedIssue, parseYamlDocuments } from '../../api/yaml-document.ts';
import { ErrorCode, MizzenError } from '../../lib/errors.ts';
import type { DiscoverySnapshot, Registry, RegistryUpdater, ShardKey } from '../discovery.ts';
import { DEFAULT_DOMAIN_SUFFIX } from '../host.ts';
import {
  type Endpoint,
  EXPORT_PRIVATE,
  HealthStatus,
  labelsMatch,
  Provider,
  type ProxyIdentity,
  Resolution,
  type Service,
  type ServicePort,
  type ServiceTarget,
  spiffeId,
  TLS_MODE_LABEL,
  UNSPECIFIED_IP,
  type Workload,
} from '../model.ts';
import { selectPortProtocol } from '../protocol.ts';

export interface MemoryRegistryOptions {
  readonly updater?: RegistryUpdater;
  readonly clusterId?: string;
  readonly trustDomain?: string;
  readonly domainSuffix?: string;
}

/** Istio's annotation for a Kubernetes Service's exportTo. */
export const EXPORT_TO_ANNOTATION = 'networking.istio.io/exportTo';
/** Kubernetes and Istio topology labels a pod's locality and network come from. */
export const REGION_LABEL = 'topology.kubernetes.io/region';
export const ZONE_LABEL = 'topology.kubernetes.io/zone';
export const SUBZONE_LABEL = 'topology.istio.io/subzone';
export const NETWORK_LABEL = 'topology.istio.io/network';

function svcKey(hostname: string, namespace: string): string {
  return `${namespace}/${hostname}`;
}

export class MemoryRegistry implements Registry {
  readonly provider = Provider.MEMORY;
  readonly clusterId: string;
  readonly trustDomain: string;
  readonly domainSuffix: string;
  readonly #updater: RegistryUpdater | undefined;
  readonly #shard: ShardKey;
  readonly #services = new Map<string, Service>();
  readonly #workloads = new Map<string, Workload>();
  readonly #explicit = new Map<string, readonly Endpoint[]>();
  #snapshot: DiscoverySnapshot | undefined;

  constructor(options: MemoryRegistryOptions = {}) {
    this.clusterId = options.clusterId ?? 'Kubernetes';
    this.trustDomain = options.trustDomain ?? 'cluster.local';
    this.domainSuffix = options.domainSuffix ?? DEFAULT_DOMAIN_SUFFIX;
    this.#updater = options.updater;
    this.#shard = { provider: Provider.MEMORY, cluster: this.clusterId };
  }

  async run(signal: AbortSignal): Promise<void> {
    if (signal.aborted) return;
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
  }

  hasSynced(): boolean {
    return true;
  }

  addService(service: Service): void {
    const k = svcKey(service.hostname, service.namespace);
    this.#services.set(k, Object.freeze(service));
    this.#snapshot = undefined;
    this.#updater?.endpointCacheUpdate(
      this.#shard,
      service.hostname,
      service.namespace,
      this.endpointsOf(service),
    );
    this.#updater?.serviceUpdate(this.#shard, service.hostname, service.namespace, 'update');
  }

  deleteService(hostname: string, namespace: string): boolean {
    const k = svcKey(hostname, namespace);
    if (!this.#services.delete(k)) return false;
    this.#explicit.delete(k);
    this.#snapshot = undefined;
    this.#updater?.serviceUpdate(this.#shard, hostname, namespace, 'delete');
    return true;
  }

  /** Endpoints of a service without selector (an explicit Endpoints object). */
  setEndpoints(hostname: string, namespace: string, endpoints: readonly Endpoint[]): void {
    const k = svcKey(hostname, namespace);
    this.#explicit.set(k, Object.freeze([...endpoints]));
    const s = this.#services.get(k);
    if (s) this.#updater?.endpointUpdate(this.#shard, hostname, namespace, this.endpointsOf(s));
  }

  /** Adds or replaces a workload (pod); services selecting it get an endpoint update. */
  setWorkload(w: Workload): void {
    const k = `${w.namespace}/${w.name}`;
    const old = this.#workloads.get(k);
    this.#workloads.set(k, Object.freeze(w));
    this.#snapshot = undefined;
    this.#workloadChanged(old, w);
  }

  deleteWorkload(namespace: string, name: string): boolean {
    const k = `${namespace}/${name}`;
    const old = this.#workloads.get(k);
    if (!old) return false;
    this.#workloads.delete(k);
    this.#snapshot = undefined;
    this.#workloadChanged(old, undefined);
    return true;
  }

  #workloadChanged(old: Workload | undefined, next: Workload | undefined): void {
    for (const s of this.#services.values()) {
      if (!s.selector) continue;
      const hit = [old, next].some(
        (w) => w && w.namespace === s.namespace && labelsMatch(s.selector, w.labels),
      );
      if (hit) this.#updater?.endpointUpdate(this.#shard, s.hostname, s.namespace, this.endpointsOf(s));
    }
  }

  /** The service's endpoints: its pods' (selector) or the explicit ones. */
  endpointsOf(service: Service): readonly Endpoint[] {
    if (!service.selector) return this.#explicit.get(svcKey(service.hostname, service.namespace)) ?? [];
    const out: Endpoint[] = [];
    for (const w of this.#workloads.values()) {
      if (w.namespace !== service.namespace || !labelsMatch(service.selector, w.labels)) continue;
      for (const port of service.ports) out.push(podEndpoint(w, port, this.trustDomain));
    }
    return out;
  }

  /**
   * Loads `v1 Service` and `v1 Pod` documents. Throws MZ_ERR_CONFIG_INVALID listing every
   * problem as `file:line:col path: message`.
   */
  loadYaml(text: string, file = '<registry>'): this {
    const parsed = parseYamlDocuments(text, file);
    const issues: LocatedIssue[] = parsed.issues.filter((i) => i.severity === 'error');
    const services: Service[] = [];
    const pods: Workload[] = [];
    for (const doc of parsed.documents) {
      const v = doc.value as Record<string, unknown>;
      const err = (path: (string | number)[], message: string) => {
        const pos = doc.locate(path);
        issues.push({ file, path, message, severity: 'error', line: pos.line, column: pos.column });
      };
      if (typeof v !== 'object' || v === null) {
        err([], 'expected a Kubernetes object');
        continue;
      }
      if (v.apiVersion !== 'v1' || (v.kind !== 'Service' && v.kind !== 'Pod')) {
        err(
          ['kind'],
          `${String(v.apiVersion)} ${String(v.kind)} is not a registry object (v1 Service or v1 Pod)`,
        );
        continue;
      }
      const meta = (v.metadata ?? {}) as Record<string, unknown>;
      if (typeof meta.name !== 'string' || meta.name === '') {
        err(['metadata', 'name'], 'metadata.name is required');
        continue;
      }
      const namespace = typeof meta.namespace === 'string' ? meta.namespace : 'default';
      const labels = (meta.labels ?? {}) as Record<string, string>;
      const annotations = (meta.annotations ?? {}) as Record<string, string>;
      const spec = (v.spec ?? {}) as Record<string, unknown>;
      if (v.kind === 'Service') {
        const ports: ServicePort[] = [];
        for (const [i, raw] of ((spec.ports ?? []) as Record<string, unknown>[]).entries()) {
          const port = raw.port;
          if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
            err(['spec', 'ports', i, 'port'], 'port must be a number from 1 to 65535');
            continue;
          }
          const name = typeof raw.name === 'string' ? raw.name : '';
          const target = raw.targetPort;
          if (target !== undefined && typeof target !== 'number') {
            err(
              ['spec', 'ports', i, 'targetPort'],
              'only numeric targetPorts are supported by the memory registry',
            );
            continue;
          }
          ports.push({
            name: name || String(port),
            port,
            protocol: selectPortProtocol({
              name,
              port,
              ...(typeof raw.appProtocol === 'string' ? { appProtocol: raw.appProtocol } : {}),
              ...(typeof raw.protocol === 'string' ? { transport: raw.protocol } : {}),
            }),
            ...(typeof target === 'number' ? { targetPort: target } : {}),
          });
        }
        const clusterIp = typeof spec.clusterIP === 'string' ? spec.clusterIP : '';
        const headless = clusterIp === 'None';
        const exportTo = annotations[EXPORT_TO_ANNOTATION];
        const selector = spec.selector as Record<string, string> | undefined;
        services.push({
          hostname: `${meta.name}.${namespace}.svc.${this.domainSuffix}`,
          namespace,
          name: meta.name,
          provider: Provider.MEMORY,
          clusterId: this.clusterId,
          addresses: clusterIp && !headless ? [clusterIp] : [],
          defaultAddress: clusterIp && !headless ? clusterIp : UNSPECIFIED_IP,
          ports,
          resolution: headless ? Resolution.PASSTHROUGH : Resolution.CLIENT_SIDE_LB,
          meshExternal: false,
          ...(exportTo
            ? {
                exportTo: new Set(
                  exportTo
                    .split(',')
                    .map((s) => s.trim())
                    .filter(Boolean)
                    .map((s) => (s === EXPORT_PRIVATE ? namespace : s)),
                ),
              }
            : {}),
          serviceAccounts: [],
          labels,
          ...(selector ? { selector } : {}),
          ...(typeof meta.creationTimestamp === 'string'
            ? { creationTimestamp: meta.creationTimestamp }
            : {}),
        });
      } else {
        const status = (v.status ?? {}) as Record<string, unknown>;
        const ip = status.podIP;
        if (typeof ip !== 'string' || ip === '') {
          err(['status', 'podIP'], 'status.podIP is required');
          continue;
        }
        const conditions = (status.conditions ?? []) as { type?: string; status?: string }[];
        const ready = conditions.find((c) => c.type === 'Ready');
        const locality = [labels[REGION_LABEL] ?? '', labels[ZONE_LABEL] ?? '', labels[SUBZONE_LABEL] ?? '']
          .join('/')
          .replace(/\/+$/, '');
        const sa = typeof spec.serviceAccountName === 'string' ? spec.serviceAccountName : 'default';
        pods.push({
          kind: 'Pod',
          name: meta.name,
          namespace,
          address: ip,
          labels,
          ports: {},
          serviceAccount: sa,
          locality,
          ...(labels[NETWORK_LABEL] ? { network: labels[NETWORK_LABEL] } : {}),
          weight: 1,
          clusterId: this.clusterId,
          healthStatus: ready && ready.status !== 'True' ? HealthStatus.UNHEALTHY : HealthStatus.HEALTHY,
        });
      }
    }
    if (issues.length > 0) {
      throw new MizzenError(
        ErrorCode.CONFIG_INVALID,
        `invalid registry input:\n  ${issues.map(formatIssue).join('\n  ')}`,
      );
    }
    for (const p of pods) this.setWorkload(p);
    for (const s of services) this.addService(s);
    return this;
  }

  snapshot(): DiscoverySnapshot {
    this.#snapshot ??= this.#build();
    return this.#snapshot;
  }

  #build(): DiscoverySnapshot {
    const services = Object.freeze(
      [...this.#services.values()].sort((a, b) =>
        a.hostname !== b.hostname ? (a.hostname < b.hostname ? -1 : 1) : a.namespace < b.namespace ? -1 : 1,
      ),
    );
    const workloads = Object.freeze(
      [...this.#workloads.values()].sort((a, b) =>
        a.namespace !== b.namespace ? (a.namespace < b.namespace ? -1 : 1) : a.name < b.name ? -1 : 1,
      ),
    );
    return Object.freeze({
      services,
      workloads,
      getService: (hostname: string, namespace?: string) =>
        services.find(
          (s) => s.hostname === hostname && (namespace === undefined || s.namespace === namespace),
        ),
      serviceTargets(proxy: ProxyIdentity): readonly ServiceTarget[] {
        const ips = new Set(proxy.ipAddresses);
        const out: ServiceTarget[] = [];
        for (const w of workloads) {
          if (!ips.has(w.address)) continue;
          for (const s of services) {
            if (!s.selector || s.namespace !== w.namespace || !labelsMatch(s.selector, w.labels)) continue;
            for (const port of s.ports)
              out.push({ service: s, port, targetPort: port.targetPort ?? port.port });
          }
        }
        return out;
      },
    });
  }
}

function podEndpoint(w: Workload, port: ServicePort, trustDomain: string): Endpoint {
  return Object.freeze({
    address: w.address,
    port: w.ports[port.name] ?? port.targetPort ?? port.port,
    servicePortName: port.name,
    labels: w.labels,
    ...(w.serviceAccount ? { serviceAccount: spiffeId(trustDomain, w.namespace, w.serviceAccount) } : {}),
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
