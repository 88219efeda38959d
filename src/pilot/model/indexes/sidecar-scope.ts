/**
 * Sidecar scoping (Istio's SidecarScope): which services, VirtualServices and ports a proxy
 * sees. A proxy gets the oldest Sidecar of its namespace whose workloadSelector matches its
 * labels, else its namespace's Sidecar without selector, else the root namespace's one
 * (applied as if it were in the proxy's namespace), else the default scope: everything
 * exported to its namespace.
 *
 * Egress hosts are `namespace/host` imports (`*` any namespace, `.` the proxy's namespace,
 * `~` none; host exact or `*.suffix` or `*`). A listener imports the services and mesh
 * VirtualServices that match, plus the services the imported VirtualServices route to.
 */
import type { MeshConfig } from '../../../api/mesh/mesh-config.ts';
import type { ConnectionPoolSettings, Destination } from '../../../api/networking/shared.ts';
import type { IstioEgressListener, IstioIngressListener, Sidecar } from '../../../api/networking/sidecar.ts';
import type { VirtualService } from '../../../api/networking/virtual-service.ts';
import { type ConfigResource, configKey } from '../../../api/resource.ts';
import type { ConfigReader } from '../../../config/snapshot.ts';
import { hostsMatch, resolveShortnameToFqdn } from '../../../registry/host.ts';
import { labelsMatch, type Service } from '../../../registry/model.ts';
import type { Proxy } from '../proxy.ts';
import type { PushWarning } from '../push-context.ts';
import type { ServiceIndex } from './service-index.ts';
import {
  MESH_GATEWAY,
  type VirtualServiceConfig,
  type VirtualServiceIndex,
} from './virtual-service-index.ts';

const SIDECAR_KIND = 'Sidecar';
export const DEFAULT_SIDECAR_NAME = 'default-sidecar';

/** One `namespace/host` egress import, `.` resolved. */
export interface HostImport {
  /** A namespace name, `*` (any) or `~` (none). */
  readonly namespace: string;
  readonly host: string;
}

export interface EgressListenerScope {
  /** The Sidecar's egress listener; undefined for the default catch-all (every host, any namespace). */
  readonly listener?: IstioEgressListener;
  readonly hosts: readonly HostImport[];
  /** Services the listener imports, one per host name, sorted by host name. */
  readonly services: readonly Service[];
  /** Mesh VirtualServices the listener imports, in creation order. */
  readonly virtualServices: readonly VirtualServiceConfig[];
}

export interface OutboundPolicy {
  readonly mode: 'ALLOW_ANY' | 'REGISTRY_ONLY';
  /** ALLOW_ANY only: where unknown destinations go instead of the original destination. */
  readonly egressProxy?: Destination;
}

export interface SidecarScope {
  /** `namespace/name` of the Sidecar, or `default-sidecar`. */
  readonly name: string;
  /** The namespace the scope is computed for (the proxy's). */
  readonly namespace: string;
  readonly sidecar?: ConfigResource<Sidecar>;
  readonly egressListeners: readonly EgressListenerScope[];
  readonly ingressListeners: readonly IstioIngressListener[];
  /** Every service of every egress listener, one per (host name, namespace), sorted by host name. */
  readonly services: readonly Service[];
  /** Every VirtualService of every egress listener. */
  readonly virtualServices: readonly VirtualServiceConfig[];
  readonly outboundTrafficPolicy: OutboundPolicy;
  readonly inboundConnectionPool?: ConnectionPoolSettings;
  /** The scope's service with `hostname` (the first listener that imports it wins). */
  serviceForHostname(hostname: string): Service | undefined;
}

/** Parses `ns/host` entries of a Sidecar egress listener relative to `namespace`. */
export function parseHostImports(
  entries: readonly string[],
  namespace: string,
  suffix: string,
): HostImport[] {
  return entries.map((e) => {
    const i = e.indexOf('/');
    const ns = i < 0 ? '*' : e.slice(0, i);
    const host = i < 0 ? e : e.slice(i + 1);
    const resolvedNs = ns === '.' ? namespace : ns;
    // A short host name in an import means the service of that name in the import's namespace.
    const fqdn =
      host.includes('.') || host.startsWith('*') || resolvedNs === '*' || resolvedNs === '~'
        ? host
        : resolveShortnameToFqdn(host, resolvedNs, suffix);
    return { namespace: resolvedNs, host: fqdn };
  });
}

function importMatches(imp: HostImport, namespace: string, hostname: string): boolean {
  if (imp.namespace === '~') return false;
  if (imp.namespace !== '*' && imp.namespace !== namespace) return false;
  return imp.host === '*' || hostsMatch(imp.host, hostname);
}

export interface SidecarScopeIndexInput {
  readonly config: ConfigReader;
  readonly mesh: MeshConfig;
  readonly domainSuffix: string;
  readonly services: ServiceIndex;
  readonly virtualServices: VirtualServiceIndex;
}

export class SidecarScopeIndex {
  readonly warnings: PushWarning[] = [];
  readonly #input: SidecarScopeIndexInput;
  readonly #sidecars: readonly ConfigResource<Sidecar>[];
  readonly #scopes = new Map<string, SidecarScope>();

  constructor(input: SidecarScopeIndexInput) {
    this.#input = input;
    this.#sidecars = [...input.config.list<Sidecar>(SIDECAR_KIND)].sort(compareAge);
  }

  /** The Sidecar resource that applies to the proxy, if any. */
  sidecarFor(proxy: Pick<Proxy, 'namespace' | 'labels'>): ConfigResource<Sidecar> | undefined {
    const inNs = this.#sidecars.filter((s) => s.meta.namespace === proxy.namespace);
    const selected = inNs.find(
      (s) => hasSelector(s) && labelsMatch(s.spec.workloadSelector?.labels, proxy.labels),
    );
    if (selected) return selected;
    const nsDefault = inNs.find((s) => !hasSelector(s));
    if (nsDefault) return nsDefault;
    const root = this.#input.mesh.rootNamespace;
    return this.#sidecars.find((s) => s.meta.namespace === root && !hasSelector(s));
  }

  scopeFor(proxy: Pick<Proxy, 'namespace' | 'labels'>): SidecarScope {
    const sidecar = this.sidecarFor(proxy);
    const key = `${proxy.namespace}|${sidecar ? `${sidecar.meta.namespace}/${sidecar.meta.name}` : ''}`;
    let scope = this.#scopes.get(key);
    if (!scope) {
      scope = this.#build(proxy.namespace, sidecar);
      this.#scopes.set(key, scope);
    }
    return scope;
  }

  #build(namespace: string, sidecar: ConfigResource<Sidecar> | undefined): SidecarScope {
    const { mesh, domainSuffix, services: serviceIndex, virtualServices: vsIndex } = this.#input;
    const meshVs = vsIndex.forGateway(namespace, MESH_GATEWAY);
    const egressSpecs: (IstioEgressListener | undefined)[] = sidecar?.spec.egress?.length
      ? sidecar.spec.egress
      : [undefined];
    const listeners: EgressListenerScope[] = egressSpecs.map((listener) => {
      const hosts = listener
        ? parseHostImports(listener.hosts, namespace, domainSuffix)
        : [{ namespace: '*', host: '*' }];
      if (!listener) {
        // Default scope: every visible service and mesh VirtualService.
        return Object.freeze({
          hosts,
          services: serviceIndex.visibleTo(namespace),
          virtualServices: meshVs,
        });
      }
      return this.#listenerScope(listener, hosts, namespace, meshVs, sidecar as ConfigResource<Sidecar>);
    });
    const byKey = new Map<string, Service>();
    const byHost = new Map<string, Service>();
    for (const l of listeners) {
      for (const s of l.services) {
        byKey.set(`${s.namespace}/${s.hostname}`, s);
        if (!byHost.has(s.hostname)) byHost.set(s.hostname, s);
      }
    }
    const services = Object.freeze([...byKey.values()].sort(compareHost));
    const vsSet = new Set<VirtualServiceConfig>();
    for (const l of listeners) for (const vs of l.virtualServices) vsSet.add(vs);
    const policy = sidecar?.spec.outboundTrafficPolicy;
    const outboundTrafficPolicy: OutboundPolicy = policy
      ? {
          mode: policy.mode ?? 'REGISTRY_ONLY',
          ...(policy.egressProxy ? { egressProxy: policy.egressProxy } : {}),
        }
      : { mode: mesh.outboundTrafficPolicy.mode ?? 'ALLOW_ANY' };
    return Object.freeze({
      name: sidecar ? `${sidecar.meta.namespace}/${sidecar.meta.name}` : DEFAULT_SIDECAR_NAME,
      namespace,
      ...(sidecar ? { sidecar } : {}),
      egressListeners: Object.freeze(listeners),
      ingressListeners: sidecar?.spec.ingress ?? [],
      services,
      virtualServices: Object.freeze([...vsSet]),
      outboundTrafficPolicy,
      ...(sidecar?.spec.inboundConnectionPool
        ? { inboundConnectionPool: sidecar.spec.inboundConnectionPool }
        : {}),
      serviceForHostname: (hostname: string) => byHost.get(hostname),
    });
  }

  #listenerScope(
    listener: IstioEgressListener,
    hosts: readonly HostImport[],
    namespace: string,
    meshVs: readonly VirtualServiceConfig[],
    sidecar: ConfigResource<Sidecar>,
  ): EgressListenerScope {
    const serviceIndex = this.#input.services;
    const picked = new Map<string, Service>();
    const add = (s: Service) => {
      const current = picked.get(s.hostname);
      // One service per host name: the proxy's own namespace wins, else the oldest.
      if (!current || (current.namespace !== namespace && s.namespace === namespace))
        picked.set(s.hostname, s);
    };
    for (const s of serviceIndex.all) {
      if (!serviceIndex.isVisible(s, namespace)) continue;
      if (hosts.some((h) => importMatches(h, s.namespace, s.hostname))) add(s);
    }
    const virtualServices = meshVs.filter((vs) =>
      (vs.spec.hosts ?? []).some((h) => hosts.some((imp) => importMatches(imp, vs.meta.namespace, h))),
    );
    // Services the imported VirtualServices route to come along (Istio does the same), without
    // overriding what the hosts chose explicitly.
    for (const vs of virtualServices) {
      for (const host of destinationHosts(vs.spec)) {
        if (picked.has(host)) continue;
        const own = serviceIndex.serviceInNamespace(host, vs.meta.namespace);
        const s =
          own && serviceIndex.isVisible(own, namespace)
            ? own
            : serviceIndex.serviceForHostname(host, namespace);
        if (s) picked.set(host, s);
      }
    }
    if (picked.size === 0 && virtualServices.length === 0) {
      this.warnings.push({
        config: configKey(sidecar),
        message: `egress listener ${listener.port ? `on port ${listener.port.number}` : '(catch-all)'} imports no service (hosts ${listener.hosts.join(', ')})`,
      });
    }
    return Object.freeze({
      listener,
      hosts,
      services: Object.freeze([...picked.values()].sort(compareHost)),
      virtualServices: Object.freeze(virtualServices),
    });
  }
}

/** Every host a VirtualService routes or mirrors to. */
export function destinationHosts(vs: VirtualService): Set<string> {
  const out = new Set<string>();
  for (const r of vs.http ?? []) {
    for (const d of r.route ?? []) out.add(d.destination.host);
    if (r.mirror) out.add(r.mirror.host);
    for (const m of r.mirrors ?? []) out.add(m.destination.host);
  }
  for (const r of vs.tcp ?? []) for (const d of r.route ?? []) out.add(d.destination.host);
  for (const r of vs.tls ?? []) for (const d of r.route ?? []) out.add(d.destination.host);
  return out;
}

function hasSelector(s: ConfigResource<Sidecar>): boolean {
  return Object.keys(s.spec.workloadSelector?.labels ?? {}).length > 0;
}

function compareHost(a: Service, b: Service): number {
  if (a.hostname !== b.hostname) return a.hostname < b.hostname ? -1 : 1;
  return a.namespace < b.namespace ? -1 : a.namespace > b.namespace ? 1 : 0;
}

function compareAge(a: ConfigResource, b: ConfigResource): number {
  const at = a.meta.creationTimestamp ?? '';
  const bt = b.meta.creationTimestamp ?? '';
  if (at !== bt) return at < bt ? -1 : 1;
  if (a.meta.namespace !== b.meta.namespace) return a.meta.namespace < b.meta.namespace ? -1 : 1;
  return a.meta.name < b.meta.name ? -1 : a.meta.name > b.meta.name ? 1 : 0;
}
