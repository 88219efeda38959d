/**
 * Sidecar egress analyzer: every `namespace/host` a Sidecar imports must name a service
 * that exists in that namespace (and is exported to the Sidecar's). Wildcard hosts are
 * scopes, not references, and are not checked.
 */
import type { Analyzer } from '../analyzer.ts';
import type { AnalysisContext } from '../context.ts';
import { Messages, referencedNotFound } from '../messages.ts';
import { type Sidecar, spec } from '../specs.ts';

export const sidecarEgressAnalyzer: Analyzer = {
  name: 'sidecar.EgressHostAnalyzer',
  description:
    'Checks that the non-wildcard egress hosts of Sidecars are services of the namespace they name',
  produces: [Messages.ReferencedResourceNotFound],
  analyze(ctx: AnalysisContext): void {
    for (const r of ctx.resources('Sidecar')) {
      const own = r.meta.namespace;
      (spec<Sidecar>(r).egress ?? []).forEach((listener, i) => {
        (listener.hosts ?? []).forEach((entry, j) => {
          const slash = entry.indexOf('/');
          if (slash < 0) return; // malformed; validation reports it
          const nsPart = entry.slice(0, slash);
          const host = entry.slice(slash + 1).toLowerCase();
          if (host.includes('*') || nsPart === '~') return;
          const ns = nsPart === '.' ? own : nsPart;
          const found = ctx.lookupService(host, own).some((s) => ns === '*' || s.namespace === ns);
          if (!found) {
            ctx.report(Messages.ReferencedResourceNotFound, r, referencedNotFound('egress host', entry), [
              'spec',
              'egress',
              i,
              'hosts',
              j,
            ]);
          }
        });
      });
    }
  },
};
