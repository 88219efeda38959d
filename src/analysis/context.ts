/**
 * What every analyzer reads: the inputs, grouped by kind, and shared indexes built once
 * per run (services by host, workloads by label, gateways by name, DestinationRules by
 * host). Indexes are built on first use so a run pays only for what its analyzers need.
 * Analyzers report through `report`, which locates the message at the field's line.
 */
import type { ConfigResource } from '../api/resource.ts';
import type { FieldPath } from '../api/validation.ts';
import type { AnalysisMessage } from './diagnostic.ts';
import { isWildcard, toFqdn, Visibility, wildcardCandidates } from './hosts.ts';
import type { AnalysisInput, KubeObject } from './input.ts';
import { LabelIndex, type Labels } from './labels.ts';
import type { MessageType } from './messages.ts';
import {
  type DestinationRule,
  type ServiceEntry,
  type ServicePortInfo,
  spec,
  type WorkloadEntry,
  type WorkloadGroup,
} from './specs.ts';

export interface ContextOptions {
  /** Istio's root namespace: policies there apply to every namespace. */
  readonly rootNamespace: string;
}

/** Something that runs sidecars or gateways and carries labels policies select on. */
export interface Workload {
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  readonly labels: Labels;
}

/** One host of a ServiceEntry, or a Kubernetes Service. */
export interface ServiceInfo {
  /** Fully qualified, lower case; may be a wildcard for ServiceEntries. */
  readonly host: string;
  readonly namespace: string;
  readonly visibility: Visibility;
  readonly ports: readonly ServicePortInfo[];
  readonly source: ConfigResource | KubeObject;
  /** Labels of the service's instances, or undefined when they are not known from the inputs. */
  readonly instances: () => readonly Labels[] | undefined;
}

export interface DestinationRuleInfo {
  readonly resource: ConfigResource;
  readonly spec: DestinationRule;
  readonly host: string;
  readonly visibility: Visibility;
}

interface WorkloadIndexes {
  readonly byNamespace: Map<string, LabelIndex<Workload>>;
  readonly all: LabelIndex<Workload>;
}

interface ServiceIndexes {
  readonly byHost: Map<string, ServiceInfo[]>;
  /** Wildcard ServiceEntry hosts, probed with `wildcardCandidates`. */
  readonly wildcards: Map<string, ServiceInfo[]>;
  readonly all: ServiceInfo[];
}

interface DestinationRuleIndexes {
  readonly byHost: Map<string, DestinationRuleInfo[]>;
  readonly all: DestinationRuleInfo[];
}

/** Kinds whose pod template carries the labels of the pods they run. */
const POD_TEMPLATE_KINDS = new Set([
  'Deployment',
  'ReplicaSet',
  'StatefulSet',
  'DaemonSet',
  'Job',
  'ReplicationController',
]);

function record(v: unknown): Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

function stringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(record(v))) if (typeof x === 'string') out[k] = x;
  return out;
}

function templateLabels(obj: KubeObject): Labels | undefined {
  const s = record(obj.object.spec);
  if (obj.kind === 'CronJob') {
    const job = record(record(s.jobTemplate).spec);
    return stringMap(record(record(job.template).metadata).labels);
  }
  if (POD_TEMPLATE_KINDS.has(obj.kind)) return stringMap(record(record(s.template).metadata).labels);
  return undefined;
}

export class AnalysisContext {
  readonly input: AnalysisInput;
  readonly options: ContextOptions;
  readonly messages: AnalysisMessage[] = [];
  readonly #byKind = new Map<string, ConfigResource[]>();
  #workloads?: WorkloadIndexes;
  #services?: ServiceIndexes;
  #gateways?: Map<string, ConfigResource>;
  #destinationRules?: DestinationRuleIndexes;

  constructor(input: AnalysisInput, options: ContextOptions) {
    this.input = input;
    this.options = options;
    for (const r of input.resources) {
      const list = this.#byKind.get(r.kind);
      if (list) list.push(r);
      else this.#byKind.set(r.kind, [r]);
    }
  }

  /** Valid Istio objects of one kind, in input order. */
  resources(kind: string): readonly ConfigResource[] {
    return this.#byKind.get(kind) ?? [];
  }

  /** Kubernetes objects of one kind (`Service`, `Pod`...) from the inputs. */
  kube(kind: string): KubeObject[] {
    return this.input.kube.filter((k) => k.kind === kind);
  }

  report(type: MessageType, about: ConfigResource | KubeObject, text: string, path: FieldPath = []): void {
    this.messages.push({ type, text, origin: this.input.origin(about, path) });
  }

  // ---- workloads ----

  #buildWorkloads(): WorkloadIndexes {
    const byNamespace = new Map<string, LabelIndex<Workload>>();
    const all = new LabelIndex<Workload>();
    const add = (w: Workload): void => {
      let idx = byNamespace.get(w.namespace);
      if (!idx) byNamespace.set(w.namespace, (idx = new LabelIndex()));
      idx.add(w);
      all.add(w);
    };
    for (const r of this.resources('WorkloadEntry')) {
      add({
        kind: r.kind,
        namespace: r.meta.namespace,
        name: r.meta.name,
        labels: spec<WorkloadEntry>(r).labels ?? {},
      });
    }
    for (const r of this.resources('WorkloadGroup')) {
      // Entries registered from the group carry the template's labels and the group's.
      const wg = spec<WorkloadGroup>(r);
      const labels = { ...wg.template?.labels, ...wg.metadata?.labels };
      add({ kind: r.kind, namespace: r.meta.namespace, name: r.meta.name, labels });
    }
    for (const k of this.input.kube) {
      if (k.kind === 'Pod') add({ kind: k.kind, namespace: k.namespace, name: k.name, labels: k.labels });
      else {
        const labels = templateLabels(k);
        if (labels) add({ kind: k.kind, namespace: k.namespace, name: k.name, labels });
      }
    }
    return { byNamespace, all };
  }

  /** Workloads of `namespace` (of every namespace for the root namespace) matching `selector`. */
  selectWorkloads(namespace: string, selector: Labels): readonly Workload[] {
    this.#workloads ??= this.#buildWorkloads();
    if (namespace === this.options.rootNamespace) return this.#workloads.all.select(selector);
    return this.#workloads.byNamespace.get(namespace)?.select(selector) ?? [];
  }

  /** Workloads of exactly `namespace` matching `selector`. */
  selectWorkloadsIn(namespace: string, selector: Labels): readonly Workload[] {
    this.#workloads ??= this.#buildWorkloads();
    return this.#workloads.byNamespace.get(namespace)?.select(selector) ?? [];
  }

  // ---- services ----

  #buildServices(): ServiceIndexes {
    const byHost = new Map<string, ServiceInfo[]>();
    const wildcards = new Map<string, ServiceInfo[]>();
    const all: ServiceInfo[] = [];
    const add = (s: ServiceInfo): void => {
      const map = isWildcard(s.host) ? wildcards : byHost;
      const list = map.get(s.host);
      if (list) list.push(s);
      else map.set(s.host, [s]);
      all.push(s);
    };
    for (const r of this.resources('ServiceEntry')) {
      const se = spec<ServiceEntry>(r);
      const ns = r.meta.namespace;
      const visibility = new Visibility(se.exportTo, ns);
      let cached: readonly Labels[] | undefined | null = null;
      const instances = (): readonly Labels[] | undefined => {
        if (cached !== null) return cached;
        if (se.workloadSelector) {
          cached = this.selectWorkloadsIn(ns, se.workloadSelector.labels ?? {}).map((w) => w.labels);
        } else if (se.endpoints && se.endpoints.length > 0) {
          cached = se.endpoints.map((e) => e.labels ?? {});
        } else cached = undefined;
        return cached;
      };
      for (const h of se.hosts ?? []) {
        add({ host: toFqdn(h, ns), namespace: ns, visibility, ports: se.ports ?? [], source: r, instances });
      }
    }
    for (const k of this.kube('Service')) {
      const s = record(k.object.spec);
      const exportTo = k.annotations['networking.istio.io/exportTo'];
      const visibility = new Visibility(
        exportTo
          ?.split(',')
          .map((x) => x.trim())
          .filter((x) => x !== ''),
        k.namespace,
      );
      const ports: ServicePortInfo[] = [];
      for (const p of Array.isArray(s.ports) ? s.ports : []) {
        const port = record(p);
        if (typeof port.port !== 'number') continue;
        ports.push({
          number: port.port,
          name: typeof port.name === 'string' ? port.name : undefined,
          protocol: typeof port.protocol === 'string' ? port.protocol : undefined,
        });
      }
      const selector = s.selector === undefined ? undefined : stringMap(s.selector);
      const instances = (): readonly Labels[] | undefined =>
        selector && Object.keys(selector).length > 0
          ? this.selectWorkloadsIn(k.namespace, selector).map((w) => w.labels)
          : undefined;
      add({
        host: `${k.name}.${k.namespace}.svc.cluster.local`,
        namespace: k.namespace,
        visibility,
        ports,
        source: k,
        instances,
      });
    }
    return { byHost, wildcards, all };
  }

  allServices(): readonly ServiceInfo[] {
    this.#services ??= this.#buildServices();
    return this.#services.all;
  }

  /**
   * Services visible from `namespace` that `host` (fully qualified) reaches: an exact host,
   * or a wildcard ServiceEntry host that covers it. A wildcard `host` also reaches every
   * service inside it.
   */
  lookupService(host: string, namespace: string): ServiceInfo[] {
    this.#services ??= this.#buildServices();
    const { byHost, wildcards, all } = this.#services;
    const visible = (s: ServiceInfo): boolean => s.visibility.visibleFrom(namespace);
    const out = (byHost.get(host) ?? []).filter(visible);
    if (out.length > 0) return out;
    for (const c of wildcardCandidates(host))
      for (const s of wildcards.get(c) ?? []) if (visible(s)) out.push(s);
    if (out.length === 0 && isWildcard(host)) {
      const suffix = host.slice(1);
      for (const s of all) if (s.host.endsWith(suffix) && visible(s)) out.push(s);
    }
    return out;
  }

  // ---- gateways ----

  /** Gateway by `ns/name`. */
  gateway(ref: string): ConfigResource | undefined {
    if (!this.#gateways) {
      this.#gateways = new Map();
      for (const g of this.resources('Gateway')) this.#gateways.set(`${g.meta.namespace}/${g.meta.name}`, g);
    }
    return this.#gateways.get(ref);
  }

  // ---- destination rules ----

  #buildDestinationRules(): DestinationRuleIndexes {
    const byHost = new Map<string, DestinationRuleInfo[]>();
    const all: DestinationRuleInfo[] = [];
    for (const r of this.resources('DestinationRule')) {
      const dr = spec<DestinationRule>(r);
      if (!dr.host) continue;
      const info: DestinationRuleInfo = {
        resource: r,
        spec: dr,
        host: toFqdn(dr.host, r.meta.namespace),
        visibility: new Visibility(dr.exportTo, r.meta.namespace),
      };
      const list = byHost.get(info.host);
      if (list) list.push(info);
      else byHost.set(info.host, [info]);
      all.push(info);
    }
    return { byHost, all };
  }

  allDestinationRules(): readonly DestinationRuleInfo[] {
    this.#destinationRules ??= this.#buildDestinationRules();
    return this.#destinationRules.all;
  }

  /** DestinationRules visible from `namespace` whose host (exact or wildcard) covers `host`. */
  destinationRulesFor(host: string, namespace: string): DestinationRuleInfo[] {
    this.#destinationRules ??= this.#buildDestinationRules();
    const { byHost } = this.#destinationRules;
    const out: DestinationRuleInfo[] = [];
    const candidates = isWildcard(host) ? wildcardCandidates(host) : [host, ...wildcardCandidates(host)];
    for (const c of candidates) {
      for (const d of byHost.get(c) ?? []) if (d.visibility.visibleFrom(namespace)) out.push(d);
    }
    return out;
  }
}
