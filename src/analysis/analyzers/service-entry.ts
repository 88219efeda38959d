/**
 * ServiceEntry analyzers: TCP ports without addresses, and hosts whose port is given
 * different protocols by different ServiceEntries.
 */
import type { ConfigResource } from '../../api/resource.ts';
import type { Analyzer } from '../analyzer.ts';
import type { AnalysisContext } from '../context.ts';
import { toFqdn, Visibility } from '../hosts.ts';
import { Messages, quote } from '../messages.ts';
import { type ServiceEntry, spec } from '../specs.ts';

export const serviceEntryAddressesAnalyzer: Analyzer = {
  name: 'serviceentry.ProtocolAddressesAnalyzer',
  description: 'Checks that ServiceEntries with TCP (or unset protocol) ports have addresses',
  produces: [Messages.ServiceEntryAddressesRequired],
  analyze(ctx: AnalysisContext): void {
    for (const r of ctx.resources('ServiceEntry')) {
      const se = spec<ServiceEntry>(r);
      if ((se.addresses ?? []).length > 0) continue;
      (se.ports ?? []).forEach((p, i) => {
        if (p.protocol && p.protocol.toUpperCase() !== 'TCP') return;
        ctx.report(
          Messages.ServiceEntryAddressesRequired,
          r,
          `Port ${p.number} is TCP${p.protocol ? '' : ' (no protocol set)'} but the ServiceEntry has no addresses; without an address, traffic to the port cannot be told apart from other TCP services on it.`,
          ['spec', 'ports', i],
        );
      });
    }
  },
};

interface PortClaim {
  readonly r: ConfigResource;
  readonly protocol: string;
  readonly visibility: Visibility;
  readonly index: number;
}

export const serviceEntryProtocolAnalyzer: Analyzer = {
  name: 'serviceentry.ConflictingProtocolAnalyzer',
  description:
    'Checks that ServiceEntries seen by the same namespace agree on the protocol of a host and port',
  produces: [Messages.ConflictingServiceEntryProtocol],
  analyze(ctx: AnalysisContext): void {
    const claims = new Map<string, PortClaim[]>();
    for (const r of ctx.resources('ServiceEntry')) {
      const se = spec<ServiceEntry>(r);
      const visibility = new Visibility(se.exportTo, r.meta.namespace);
      for (const h of se.hosts ?? []) {
        const host = toFqdn(h, r.meta.namespace);
        (se.ports ?? []).forEach((p, index) => {
          const key = `${host}:${p.number}`;
          const claim = { r, protocol: (p.protocol ?? '').toUpperCase() || '(unset)', visibility, index };
          const list = claims.get(key);
          if (list) list.push(claim);
          else claims.set(key, [claim]);
        });
      }
    }
    for (const [key, list] of claims) {
      if (list.length < 2) continue;
      const colon = key.lastIndexOf(':');
      for (const c of list) {
        const rivals = list.filter(
          (o) => o.r !== c.r && o.protocol !== c.protocol && o.visibility.overlaps(c.visibility),
        );
        if (rivals.length === 0) continue;
        const names = [
          ...new Set([c, ...rivals].map((x) => `${x.r.meta.namespace}/${x.r.meta.name}`)),
        ].sort();
        const protocols = [...new Set([c, ...rivals].map((x) => x.protocol))].sort();
        ctx.report(
          Messages.ConflictingServiceEntryProtocol,
          c.r,
          `ServiceEntries ${names.join(', ')} define host ${quote(key.slice(0, colon))} port ${key.slice(colon + 1)} with different protocols (${protocols.join(', ')}); only one protocol is used.`,
          ['spec', 'ports', c.index],
        );
      }
    }
  },
};
