/**
 * Workload-selector analyzers: policies whose selector matches no workload, Sidecars and
 * Telemetry resources that several of a namespace claim (no selector, or the same
 * workload). Workloads come from WorkloadEntries, WorkloadGroups, Pods and the pod
 * templates of Deployments, ReplicaSets, StatefulSets, DaemonSets, Jobs and CronJobs.
 */
import type { ConfigResource } from '../../api/resource.ts';
import type { FieldPath } from '../../api/validation.ts';
import type { Analyzer } from '../analyzer.ts';
import type { AnalysisContext, Workload } from '../context.ts';
import { formatSelector, type Labels } from '../labels.ts';
import { Messages, type MessageType, quote, referencedNotFound } from '../messages.ts';
import { type SelectorPolicy, type Sidecar, spec, targetsByReference } from '../specs.ts';

const POLICY_KINDS = ['AuthorizationPolicy', 'PeerAuthentication', 'RequestAuthentication', 'Telemetry'];

export const policySelectorAnalyzer: Analyzer = {
  name: 'policy.WorkloadSelectorAnalyzer',
  description:
    'Checks that the selectors of AuthorizationPolicy, PeerAuthentication, RequestAuthentication and Telemetry resources match some workload',
  produces: [Messages.NoMatchingWorkloadsFound],
  analyze(ctx: AnalysisContext): void {
    for (const kind of POLICY_KINDS) {
      for (const r of ctx.resources(kind)) {
        const p = spec<SelectorPolicy>(r);
        const labels = p.selector?.matchLabels;
        if (!labels || Object.keys(labels).length === 0) continue;
        if (ctx.selectWorkloads(r.meta.namespace, labels).length > 0) continue;
        const scope =
          r.meta.namespace === ctx.options.rootNamespace
            ? 'any namespace'
            : `namespace ${quote(r.meta.namespace)}`;
        ctx.report(
          Messages.NoMatchingWorkloadsFound,
          r,
          `No workload in ${scope} has the labels ${formatSelector(labels)} this ${kind} selects; it applies to nothing.`,
          ['spec', 'selector', 'matchLabels'],
        );
      }
    }
  },
};

interface SelectorKind {
  readonly kind: string;
  readonly plural: string;
  readonly selector: (r: ConfigResource) => { labels: Labels; path: FieldPath } | undefined;
  /** Whether the resource names its targets another way (targetRefs) and so is not namespace-wide. */
  readonly targeted: (r: ConfigResource) => boolean;
  readonly multiple: MessageType;
  readonly conflicting: MessageType;
}

/**
 * One resource of the kind per namespace may go without a selector (it is the namespace's
 * default), and one may select a given workload; more is undefined behavior in Istio.
 */
function selectorConflicts(k: SelectorKind, ctx: AnalysisContext): void {
  const unselected = new Map<string, ConfigResource[]>();
  const claims = new Map<Workload, ConfigResource[]>();
  for (const r of ctx.resources(k.kind)) {
    const sel = k.selector(r);
    if (!sel) {
      if (k.targeted(r)) continue;
      const list = unselected.get(r.meta.namespace);
      if (list) list.push(r);
      else unselected.set(r.meta.namespace, [r]);
      continue;
    }
    for (const w of ctx.selectWorkloadsIn(r.meta.namespace, sel.labels)) {
      const list = claims.get(w);
      if (list) list.push(r);
      else claims.set(w, [r]);
    }
  }
  const id = (r: ConfigResource): string => `${r.meta.namespace}/${r.meta.name}`;
  for (const [ns, list] of unselected) {
    if (list.length < 2) continue;
    const names = list.map(id).sort().join(', ');
    for (const r of list) {
      ctx.report(
        k.multiple,
        r,
        `The ${k.plural} ${names} in namespace ${quote(ns)} have no workload selector; only one of them applies, which one is undefined.`,
      );
    }
  }
  for (const [w, list] of claims) {
    if (list.length < 2) continue;
    const names = list.map(id).sort().join(', ');
    for (const r of list) {
      ctx.report(
        k.conflicting,
        r,
        `The ${k.plural} ${names} in namespace ${quote(w.namespace)} all select ${w.kind} ${quote(w.name)}; only one of them applies, which one is undefined.`,
        k.selector(r)?.path,
      );
    }
  }
}

const sidecarKind: SelectorKind = {
  kind: 'Sidecar',
  plural: 'Sidecars',
  selector: (r) => {
    const labels = spec<Sidecar>(r).workloadSelector?.labels;
    return labels && Object.keys(labels).length > 0
      ? { labels, path: ['spec', 'workloadSelector', 'labels'] }
      : undefined;
  },
  targeted: () => false,
  multiple: Messages.MultipleSidecarsWithoutWorkloadSelectors,
  conflicting: Messages.ConflictingSidecarWorkloadSelectors,
};

const telemetryKind: SelectorKind = {
  kind: 'Telemetry',
  plural: 'Telemetries',
  selector: (r) => {
    const labels = spec<SelectorPolicy>(r).selector?.matchLabels;
    return labels && Object.keys(labels).length > 0
      ? { labels, path: ['spec', 'selector', 'matchLabels'] }
      : undefined;
  },
  targeted: (r) => targetsByReference(spec<SelectorPolicy>(r)),
  multiple: Messages.MultipleTelemetriesWithoutWorkloadSelectors,
  conflicting: Messages.ConflictingTelemetryWorkloadSelectors,
};

export const sidecarSelectorAnalyzer: Analyzer = {
  name: 'sidecar.SelectorAnalyzer',
  description:
    'Checks that Sidecar workload selectors match workloads, and that no namespace has two default Sidecars or two Sidecars for one workload',
  produces: [
    Messages.ReferencedResourceNotFound,
    Messages.MultipleSidecarsWithoutWorkloadSelectors,
    Messages.ConflictingSidecarWorkloadSelectors,
  ],
  analyze(ctx: AnalysisContext): void {
    for (const r of ctx.resources('Sidecar')) {
      const sel = sidecarKind.selector(r);
      if (sel && ctx.selectWorkloadsIn(r.meta.namespace, sel.labels).length === 0) {
        ctx.report(
          Messages.ReferencedResourceNotFound,
          r,
          referencedNotFound('selector', formatSelector(sel.labels)),
          sel.path,
        );
      }
    }
    selectorConflicts(sidecarKind, ctx);
  },
};

export const telemetrySelectorAnalyzer: Analyzer = {
  name: 'telemetry.SelectorAnalyzer',
  description: 'Checks that no namespace has two default Telemetry resources or two for one workload',
  produces: [
    Messages.MultipleTelemetriesWithoutWorkloadSelectors,
    Messages.ConflictingTelemetryWorkloadSelectors,
  ],
  analyze(ctx: AnalysisContext): void {
    selectorConflicts(telemetryKind, ctx);
  },
};
