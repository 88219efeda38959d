/**
 * DestinationRule semantic rules, as Istio's validating webhook applies them
 * (ValidateDestinationRule): the host, the traffic policies (top level, per subset, per
 * port), subset names and labels, exportTo and the workload selector. Runs only on a
 * structurally valid spec.
 */
import {
  isIpAddress,
  validateConfigExportTo,
  validateLabels,
  validateSelectorLabels,
  wildcardDomainError,
} from '../common/validators.ts';
import type { SemanticContext } from '../schema/kind.ts';
import { show } from '../validation.ts';
import type { DestinationRule } from './destination-rule.ts';
import { validateSubsetName, validateTrafficPolicy } from './shared.ts';

export function validateDestinationRule(spec: DestinationRule, ctx: SemanticContext): void {
  const { issues, path } = ctx;
  const namespace = ctx.meta.namespace;
  if (isIpAddress(spec.host)) {
    issues.error([...path, 'host'], `${show(spec.host)} is an IP address; the host must name a service`);
  } else {
    const hostErr = wildcardDomainError(spec.host);
    if (hostErr !== undefined) issues.error([...path, 'host'], hostErr);
  }
  if (spec.trafficPolicy)
    validateTrafficPolicy(spec.trafficPolicy, [...path, 'trafficPolicy'], issues, { namespace });
  const names = new Map<string, number>();
  (spec.subsets ?? []).forEach((s, i) => {
    const p = [...path, 'subsets', i];
    const first = names.get(s.name);
    if (first !== undefined) {
      issues.error([...p, 'name'], `duplicate subset name ${show(s.name)} (also subsets[${first}])`);
    } else names.set(s.name, i);
    validateSubsetName(s.name, [...p, 'name'], issues);
    if (s.labels) validateLabels(s.labels, [...p, 'labels'], issues);
    if (s.trafficPolicy)
      validateTrafficPolicy(s.trafficPolicy, [...p, 'trafficPolicy'], issues, { namespace });
  });
  const exportTo = spec.exportTo ?? [];
  if (exportTo.length > 0 && validateConfigExportTo(exportTo, namespace, [...path, 'exportTo'], issues)) {
    // A rule for selected workloads is about this namespace's proxies only.
    if (spec.workloadSelector) {
      const own = exportTo.some((e) => e === '.' || e === namespace);
      if (!own) {
        issues.error(
          [...path, 'exportTo'],
          `a DestinationRule with a workloadSelector can only be exported to its own namespace (${show(namespace)} or ".")`,
        );
      } else if (exportTo.length > 1) {
        issues.error(
          [...path, 'exportTo'],
          'a DestinationRule with a workloadSelector can have only one exportTo entry (its own namespace)',
        );
      }
    }
  }
  if (spec.workloadSelector) {
    validateSelectorLabels(spec.workloadSelector.matchLabels, [...path, 'workloadSelector'], issues);
  }
}
