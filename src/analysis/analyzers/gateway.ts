/**
 * Gateway analyzers: servers of gateway workloads that claim the same port and host,
 * within one Gateway or across Gateways with the same selector.
 */
import type { ConfigResource } from '../../api/resource.ts';
import type { Analyzer } from '../analyzer.ts';
import type { AnalysisContext } from '../context.ts';
import { hostsIntersect, isWildcard, splitNamespacedHost, wildcardCandidates } from '../hosts.ts';
import { formatSelector } from '../labels.ts';
import { Messages, quote } from '../messages.ts';
import { type Gateway, spec } from '../specs.ts';

interface ServerHost {
  readonly id: number;
  readonly gateway: ConfigResource;
  readonly server: number;
  readonly hostIndex: number;
  readonly host: string;
}

export const conflictingGatewaysAnalyzer: Analyzer = {
  name: 'gateway.ConflictingGatewayAnalyzer',
  description: 'Checks that Gateway servers of the same workloads and port do not have overlapping hosts',
  produces: [Messages.ConflictingGateways],
  analyze(ctx: AnalysisContext): void {
    // Bucket by (selector, port); inside a bucket, index exact and wildcard hosts so each
    // host finds what it overlaps by probing its own wildcard ancestors, not every host.
    const buckets = new Map<string, ServerHost[]>();
    let nextId = 0;
    for (const g of ctx.resources('Gateway')) {
      const gw = spec<Gateway>(g);
      const selector = formatSelector(gw.selector ?? {});
      (gw.servers ?? []).forEach((server, s) => {
        const port = server.port?.number;
        if (port === undefined) return;
        const key = `${selector}|${port}`;
        let list = buckets.get(key);
        if (!list) buckets.set(key, (list = []));
        (server.hosts ?? []).forEach((h, hostIndex) => {
          list.push({ id: nextId++, gateway: g, server: s, hostIndex, host: splitNamespacedHost(h).host });
        });
      });
    }
    for (const [key, entries] of buckets) {
      if (entries.length < 2) continue;
      const [selector, port] = key.split('|');
      const exact = new Map<string, ServerHost[]>();
      const wild = new Map<string, ServerHost[]>();
      for (const e of entries) {
        const map = isWildcard(e.host) ? wild : exact;
        const list = map.get(e.host);
        if (list) list.push(e);
        else map.set(e.host, [e]);
      }
      // Per reported host: the other servers it collides with.
      const clashes = new Map<ServerHost, Set<ServerHost>>();
      const clash = (a: ServerHost, b: ServerHost): void => {
        if (a.gateway === b.gateway && a.server === b.server) return; // one server listing a host twice
        for (const [x, y] of [
          [a, b],
          [b, a],
        ] as const) {
          let set = clashes.get(x);
          if (!set) clashes.set(x, (set = new Set()));
          set.add(y);
        }
      };
      for (const e of entries) {
        const probes = isWildcard(e.host) ? [] : (exact.get(e.host) ?? []);
        for (const other of probes) if (other.id > e.id) clash(e, other);
        for (const c of wildcardCandidates(e.host)) {
          for (const other of wild.get(c) ?? []) {
            if (other.id !== e.id && hostsIntersect(e.host, other.host) && (c !== e.host || other.id > e.id))
              clash(e, other);
          }
        }
      }
      for (const [e, others] of clashes) {
        const names = [...new Set([...others].map((o) => describe(o, e)))].sort();
        const hosts = [...new Set([e.host, ...[...others].map((o) => o.host)])].sort();
        ctx.report(
          Messages.ConflictingGateways,
          e.gateway,
          `Server host ${quote(e.host)} on port ${port} (workload selector ${selector || '<none>'}) overlaps with ${names.join(', ')} (hosts ${hosts.join(', ')}); only one server gets the traffic.`,
          ['spec', 'servers', e.server, 'hosts', e.hostIndex],
        );
      }
    }
  },
};

function describe(other: ServerHost, self: ServerHost): string {
  const name = `${other.gateway.meta.namespace}/${other.gateway.meta.name}`;
  return other.gateway === self.gateway ? `servers[${other.server}] of the same Gateway` : `Gateway ${name}`;
}
