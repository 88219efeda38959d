/**
 * DestinationRule analyzers: the host and subsets it configures, rules of one namespace
 * that fight over a host, and TLS origination that does not verify the server.
 */
import type { Analyzer } from '../analyzer.ts';
import type { AnalysisContext, DestinationRuleInfo } from '../context.ts';
import { isWildcard } from '../hosts.ts';
import { formatSelector, type Labels, selectorMatches } from '../labels.ts';
import { Messages, quote } from '../messages.ts';
import type { ClientTLSSettings, TrafficPolicy } from '../specs.ts';

export const destinationRuleTargetAnalyzer: Analyzer = {
  name: 'destinationrule.TargetAnalyzer',
  description:
    'Checks that a DestinationRule host is a known service and that each subset selects some of its instances',
  produces: [Messages.UnknownDestinationRuleHost, Messages.DestinationRuleSubsetNotSelectPods],
  analyze(ctx: AnalysisContext): void {
    for (const dr of ctx.allDestinationRules()) {
      const r = dr.resource;
      const services = ctx.lookupService(dr.host, r.meta.namespace);
      if (services.length === 0) {
        ctx.report(
          Messages.UnknownDestinationRuleHost,
          r,
          `The host ${quote(dr.spec.host)} of this DestinationRule matches no service (ServiceEntry or Kubernetes Service) visible in namespace ${quote(r.meta.namespace)}.`,
          ['spec', 'host'],
        );
        continue;
      }
      if (isWildcard(dr.host)) continue;
      // Only judge subsets when the inputs say which instances the service has.
      const known = services.map((s) => s.instances()).filter((x): x is readonly Labels[] => x !== undefined);
      const instances = known.flat();
      if (instances.length === 0) continue;
      (dr.spec.subsets ?? []).forEach((subset, i) => {
        const labels = subset.labels ?? {};
        if (Object.keys(labels).length === 0) return;
        if (instances.some((l) => selectorMatches(labels, l))) return;
        ctx.report(
          Messages.DestinationRuleSubsetNotSelectPods,
          r,
          `Subset ${quote(subset.name)} (${formatSelector(labels)}) selects none of the ${instances.length} instance${instances.length > 1 ? 's' : ''} of ${quote(dr.host)}; requests routed to it fail with 503 (no healthy upstream).`,
          ['spec', 'subsets', i, 'labels'],
        );
      });
    }
  },
};

export const conflictingDestinationRulesAnalyzer: Analyzer = {
  name: 'destinationrule.ConflictingDestinationRulesAnalyzer',
  description:
    'Checks that DestinationRules of one namespace for the same host do not define the same subset or both a traffic policy',
  produces: [Messages.ConflictingDestinationRulesHost],
  analyze(ctx: AnalysisContext): void {
    // Istio merges DestinationRules of one namespace for one host (without workload
    // selectors): subsets are combined, and for a repeated subset or a second top-level
    // traffic policy only the first rule counts.
    const groups = new Map<string, DestinationRuleInfo[]>();
    for (const dr of ctx.allDestinationRules()) {
      const selector = dr.spec.workloadSelector?.matchLabels;
      const key = `${dr.resource.meta.namespace}|${dr.host}|${selector ? formatSelector(selector) : ''}`;
      const list = groups.get(key);
      if (list) list.push(dr);
      else groups.set(key, [dr]);
    }
    const id = (dr: DestinationRuleInfo): string => `${dr.resource.meta.namespace}/${dr.resource.meta.name}`;
    for (const rules of groups.values()) {
      if (rules.length < 2) continue;
      const subsetOwner = new Map<string, DestinationRuleInfo>();
      let policyOwner: DestinationRuleInfo | undefined;
      for (const dr of rules) {
        (dr.spec.subsets ?? []).forEach((s, i) => {
          const owner = subsetOwner.get(s.name);
          if (owner && owner !== dr) {
            ctx.report(
              Messages.ConflictingDestinationRulesHost,
              dr.resource,
              `Subset ${quote(s.name)} of host ${quote(dr.host)} is also defined by DestinationRule ${id(owner)}; only one definition is used.`,
              ['spec', 'subsets', i, 'name'],
            );
          } else if (!owner) subsetOwner.set(s.name, dr);
        });
        if (dr.spec.trafficPolicy) {
          if (policyOwner) {
            ctx.report(
              Messages.ConflictingDestinationRulesHost,
              dr.resource,
              `DestinationRule ${id(policyOwner)} also sets a traffic policy for host ${quote(dr.host)}; only one of them is used.`,
              ['spec', 'trafficPolicy'],
            );
          } else policyOwner = dr;
        }
      }
    }
  },
};

function unverified(tls: ClientTLSSettings | undefined): tls is ClientTLSSettings {
  return (
    tls !== undefined &&
    (tls.mode === 'SIMPLE' || tls.mode === 'MUTUAL') &&
    !tls.caCertificates &&
    !tls.credentialName &&
    tls.insecureSkipVerify !== true
  );
}

export const caCertificatesAnalyzer: Analyzer = {
  name: 'destinationrule.CaCertificateAnalyzer',
  description: 'Checks that DestinationRules originating TLS verify the server certificate (caCertificates)',
  produces: [
    Messages.NoServerCertificateVerificationDestinationLevel,
    Messages.NoServerCertificateVerificationPortLevel,
  ],
  analyze(ctx: AnalysisContext): void {
    for (const dr of ctx.allDestinationRules()) {
      const r = dr.resource;
      const name = `${r.meta.namespace}/${r.meta.name}`;
      const check = (policy: TrafficPolicy | undefined, base: (string | number)[], subset?: string): void => {
        if (!policy) return;
        const target = subset
          ? `subset ${quote(subset)} of host ${quote(dr.spec.host)}`
          : `host ${quote(dr.spec.host)}`;
        if (unverified(policy.tls)) {
          ctx.report(
            Messages.NoServerCertificateVerificationDestinationLevel,
            r,
            `DestinationRule ${name} originates TLS (mode ${policy.tls.mode}) to ${target} without caCertificates, so the server's certificate is not verified.`,
            [...base, 'tls', 'mode'],
          );
        }
        (policy.portLevelSettings ?? []).forEach((p, i) => {
          if (!unverified(p.tls)) return;
          ctx.report(
            Messages.NoServerCertificateVerificationPortLevel,
            r,
            `DestinationRule ${name} originates TLS (mode ${p.tls.mode}) to ${target} port ${p.port?.number ?? '?'} without caCertificates, so the server's certificate is not verified.`,
            [...base, 'portLevelSettings', i, 'tls', 'mode'],
          );
        });
      };
      check(dr.spec.trafficPolicy, ['spec', 'trafficPolicy']);
      (dr.spec.subsets ?? []).forEach((s, i) => {
        check(s.trafficPolicy, ['spec', 'subsets', i, 'trafficPolicy'], s.name);
      });
    }
  },
};
