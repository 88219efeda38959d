/**
 * DestinationRules of one push, looked up as Istio does (PushContext.destinationRule):
 *   1. the proxy's own namespace (every rule there, whatever its exportTo), most specific host;
 *      a rule with a workloadSelector matching the proxy wins over one without;
 *   2. rules in the service's namespace exported to the proxy's namespace;
 *   3. rules in the mesh root namespace exported to the proxy's namespace.
 * Rules for the same host in one namespace are merged: the oldest is the base, later ones add
 * subsets it lacks and a top-level traffic policy when it has none (Istio's mergeDestinationRule).
 */
import type { MeshConfig } from '../../../api/mesh/mesh-config.ts';
import type { DestinationRule } from '../../../api/networking/destination-rule.ts';
import { type ConfigKey, type ConfigResource, configKey } from '../../../api/resource.ts';
import type { ConfigReader } from '../../../config/snapshot.ts';
import { mostSpecificHostMatch, resolveShortnameToFqdn } from '../../../registry/host.ts';
import { exportToAllows, labelsMatch, resolveExportTo, type Service } from '../../../registry/model.ts';
import type { PushWarning } from '../push-context.ts';

const DR_KIND = 'DestinationRule';

export interface ConsolidatedDestinationRule {
  /** The rule's host, resolved to an FQDN (may be a wildcard). */
  readonly host: string;
  /** Namespace of the rules (credentialName and `.` exportTo are relative to it). */
  readonly namespace: string;
  /** The merged rule. */
  readonly rule: DestinationRule;
  /** The DestinationRules merged into it, oldest first. */
  readonly from: readonly ConfigKey[];
  /** workloadSelector labels when the rule applies only to some proxies. */
  readonly selector?: Readonly<Record<string, string>>;
}

interface Group {
  readonly host: string;
  readonly namespace: string;
  rule: DestinationRule;
  readonly from: ConfigKey[];
  readonly selector?: Readonly<Record<string, string>>;
  readonly selectorKey: string;
  readonly exportTo: ReadonlySet<string>;
  readonly exportKey: string;
}

type HostTable = Map<string, Group[]>;

export class DestinationRuleIndex {
  readonly warnings: PushWarning[] = [];
  readonly #rootNamespace: string;
  /** namespace -> host -> groups (every rule of the namespace). */
  readonly #local = new Map<string, HostTable>();
  /** Namespaces with rules that have a workloadSelector: only there do proxy labels matter. */
  readonly #selectorNamespaces = new Set<string>();
  /** Whether any rule sets failoverPriority (then EDS depends on proxy labels). */
  readonly usesFailoverPriority: boolean;
  /**
   * `namespace|labels` -> service -> rule (null: none). Weak on the service: the index outlives
   * pushes that replace services, and must not keep the old ones alive.
   */
  readonly #cache = new Map<string, WeakMap<Service, ConsolidatedDestinationRule | null>>();

  constructor(config: ConfigReader, mesh: MeshConfig, domainSuffix: string) {
    this.#rootNamespace = mesh.rootNamespace;
    const defaults = mesh.defaultDestinationRuleExportTo;
    const rules = [...config.list<DestinationRule>(DR_KIND)].sort(compareAge);
    let failoverPriority = false;
    for (const r of rules) {
      if (hasFailoverPriority(r.spec)) failoverPriority = true;
      const ns = r.meta.namespace;
      const host = resolveShortnameToFqdn(r.spec.host, ns, domainSuffix);
      const selector = r.spec.workloadSelector?.matchLabels;
      const selectorKey = selector ? labelKey(selector) : '';
      if (selector) this.#selectorNamespaces.add(ns);
      const exportTo = resolveExportTo(r.spec.exportTo ?? defaults, ns);
      const exportKey = [...exportTo].sort().join(',');
      let table = this.#local.get(ns);
      if (!table) this.#local.set(ns, (table = new Map()));
      let groups = table.get(host);
      if (!groups) table.set(host, (groups = []));
      const same = groups.find((g) => g.selectorKey === selectorKey && g.exportKey === exportKey);
      if (!same) {
        groups.push({
          host,
          namespace: ns,
          rule: r.spec,
          from: [configKey(r)],
          ...(selector ? { selector } : {}),
          selectorKey,
          exportTo,
          exportKey,
        });
        continue;
      }
      same.rule = this.#merge(same, r);
      same.from.push(configKey(r));
    }
    this.usesFailoverPriority = failoverPriority;
  }

  /** Whether the rule a proxy of `namespace` gets can depend on its labels (workloadSelector rules). */
  labelsMatter(namespace: string): boolean {
    return this.#selectorNamespaces.has(namespace);
  }

  /** The rule for traffic from a proxy in `namespace` with `labels` to `service`. */
  lookup(
    namespace: string,
    labels: Readonly<Record<string, string>>,
    service: Service,
  ): ConsolidatedDestinationRule | undefined {
    const key = this.#selectorNamespaces.has(namespace) ? `${namespace}|${labelKey(labels)}` : namespace;
    let byService = this.#cache.get(key);
    if (!byService) this.#cache.set(key, (byService = new WeakMap()));
    const cached = byService.get(service);
    if (cached !== undefined) return cached ?? undefined;
    const found = this.#lookup(namespace, labels, service);
    byService.set(service, found ?? null);
    return found;
  }

  /** Every consolidated rule, for debug output. */
  all(): readonly ConsolidatedDestinationRule[] {
    const out: ConsolidatedDestinationRule[] = [];
    for (const table of this.#local.values())
      for (const groups of table.values()) out.push(...groups.map(view));
    return out;
  }

  #lookup(
    namespace: string,
    labels: Readonly<Record<string, string>>,
    service: Service,
  ): ConsolidatedDestinationRule | undefined {
    const host = service.hostname;
    // 1. The proxy's namespace (in the root namespace: its local rules likewise).
    const local = this.#local.get(namespace);
    if (local) {
      const h = mostSpecificHostMatch(host, local.keys());
      if (h) {
        const groups = local.get(h) as Group[];
        const selected = groups.find((g) => g.selector && labelsMatch(g.selector, labels));
        const plain = groups.find((g) => !g.selector);
        if (selected ?? plain) return view((selected ?? plain) as Group);
      }
    }
    // 2. The service's namespace, 3. the root namespace: exported rules only, no selectors.
    for (const ns of [service.namespace, this.#rootNamespace]) {
      if (ns === namespace) continue;
      const found = this.#exported(ns, host, namespace);
      if (found) return view(found);
    }
    return undefined;
  }

  #exported(ns: string, host: string, to: string): Group | undefined {
    const table = this.#local.get(ns);
    if (!table) return undefined;
    const candidates = new Map<string, Group>();
    for (const [h, groups] of table) {
      const g = groups.find((x) => !x.selector && exportToAllows(x.exportTo, ns, to));
      if (g) candidates.set(h, g);
    }
    const h = mostSpecificHostMatch(host, candidates.keys());
    return h ? candidates.get(h) : undefined;
  }

  #merge(base: Group, next: ConfigResource<DestinationRule>): DestinationRule {
    const rule = base.rule;
    const names = new Set((rule.subsets ?? []).map((s) => s.name));
    const subsets = [...(rule.subsets ?? [])];
    for (const s of next.spec.subsets ?? []) {
      if (names.has(s.name)) {
        this.warnings.push({
          config: configKey(next),
          message: `subset ${s.name} of host ${base.host} is already defined by ${base.from.map(fmt).join(', ')}; this one is ignored`,
        });
        continue;
      }
      names.add(s.name);
      subsets.push(s);
    }
    const out: DestinationRule = { ...rule };
    if (subsets.length > 0) out.subsets = subsets;
    if (!rule.trafficPolicy && next.spec.trafficPolicy) out.trafficPolicy = next.spec.trafficPolicy;
    else if (rule.trafficPolicy && next.spec.trafficPolicy) {
      this.warnings.push({
        config: configKey(next),
        message: `host ${base.host} already has a top-level trafficPolicy from ${fmt(base.from[0])}; this rule's trafficPolicy is ignored`,
      });
    }
    return out;
  }
}

function hasFailoverPriority(rule: DestinationRule): boolean {
  const policies = [rule.trafficPolicy, ...(rule.subsets ?? []).map((s) => s.trafficPolicy)];
  return policies.some(
    (p) =>
      (p?.loadBalancer?.localityLbSetting?.failoverPriority?.length ?? 0) > 0 ||
      (p?.portLevelSettings ?? []).some(
        (pl) => (pl.loadBalancer?.localityLbSetting?.failoverPriority?.length ?? 0) > 0,
      ),
  );
}

function view(g: Group): ConsolidatedDestinationRule {
  return {
    host: g.host,
    namespace: g.namespace,
    rule: g.rule,
    from: g.from,
    ...(g.selector ? { selector: g.selector } : {}),
  };
}

function fmt(k: ConfigKey): string {
  return `${k.kind}/${k.namespace}/${k.name}`;
}

function labelKey(labels: Readonly<Record<string, string>>): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`)
    .join(',');
}

function compareAge(a: ConfigResource, b: ConfigResource): number {
  const at = a.meta.creationTimestamp ?? '';
  const bt = b.meta.creationTimestamp ?? '';
  if (at !== bt) return at < bt ? -1 : 1;
  if (a.meta.namespace !== b.meta.namespace) return a.meta.namespace < b.meta.namespace ? -1 : 1;
  return a.meta.name < b.meta.name ? -1 : a.meta.name > b.meta.name ? 1 : 0;
}
