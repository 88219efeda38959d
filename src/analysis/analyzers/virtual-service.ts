/**
 * VirtualService analyzers: the gateways it binds to, the hosts, ports and subsets it
 * routes to, hosts claimed by several mesh VirtualServices, and routes that can never
 * match.
 */
import type { ConfigResource } from '../../api/resource.ts';
import type { FieldPath } from '../../api/validation.ts';
import type { Analyzer } from '../analyzer.ts';
import type { AnalysisContext } from '../context.ts';
import {
  hostsIntersect,
  MESH_GATEWAY,
  resolveGatewayName,
  splitNamespacedHost,
  toFqdn,
  Visibility,
} from '../hosts.ts';
import { Messages, quote, referencedNotFound } from '../messages.ts';
import { type Destination, type Gateway, spec, type VirtualService } from '../specs.ts';

interface LocatedDestination {
  readonly destination: Destination;
  readonly path: FieldPath;
  readonly mirror: boolean;
}

/** Every destination a VirtualService sends traffic to (routes and mirrors), with its path. */
export function destinations(vs: VirtualService): LocatedDestination[] {
  const out: LocatedDestination[] = [];
  (vs.http ?? []).forEach((r, i) => {
    (r.route ?? []).forEach((w, j) => {
      if (w.destination)
        out.push({
          destination: w.destination,
          path: ['spec', 'http', i, 'route', j, 'destination'],
          mirror: false,
        });
    });
    if (r.mirror) out.push({ destination: r.mirror, path: ['spec', 'http', i, 'mirror'], mirror: true });
    (r.mirrors ?? []).forEach((m, j) => {
      if (m.destination)
        out.push({
          destination: m.destination,
          path: ['spec', 'http', i, 'mirrors', j, 'destination'],
          mirror: true,
        });
    });
  });
  for (const section of ['tcp', 'tls'] as const) {
    (vs[section] ?? []).forEach((r, i) => {
      (r.route ?? []).forEach((w, j) => {
        if (w.destination)
          out.push({
            destination: w.destination,
            path: ['spec', section, i, 'route', j, 'destination'],
            mirror: false,
          });
      });
    });
  }
  return out;
}

/** Whether a VirtualService applies to sidecars (no gateways, or the reserved `mesh`). */
export function boundToMesh(vs: VirtualService): boolean {
  return !vs.gateways || vs.gateways.length === 0 || vs.gateways.includes(MESH_GATEWAY);
}

/** Hosts a Gateway serves to VirtualServices of `namespace`, from its servers' `ns/host` entries. */
function gatewayHostsFor(gw: ConfigResource, namespace: string): string[] {
  const out: string[] = [];
  for (const server of spec<Gateway>(gw).servers ?? []) {
    for (const h of server.hosts ?? []) {
      const { namespace: ns, host } = splitNamespacedHost(h);
      const allowed = ns === '*' || (ns === '.' ? gw.meta.namespace === namespace : ns === namespace);
      if (allowed) out.push(host);
    }
  }
  return out;
}

export const gatewayAnalyzer: Analyzer = {
  name: 'virtualservice.GatewayAnalyzer',
  description: 'Checks that the Gateways a VirtualService is bound to exist and serve its hosts',
  produces: [Messages.ReferencedResourceNotFound, Messages.VirtualServiceHostNotFoundInGateway],
  analyze(ctx: AnalysisContext): void {
    for (const r of ctx.resources('VirtualService')) {
      const vs = spec<VirtualService>(r);
      const ns = r.meta.namespace;
      const check = (ref: string, path: FieldPath, checkHosts: boolean): void => {
        if (ref === MESH_GATEWAY) return;
        const gwName = resolveGatewayName(ref, ns);
        const gw = ctx.gateway(gwName);
        if (!gw) {
          ctx.report(Messages.ReferencedResourceNotFound, r, referencedNotFound('gateway', ref), path);
          return;
        }
        if (!checkHosts) return;
        const served = gatewayHostsFor(gw, ns);
        const missing = (vs.hosts ?? []).filter((h) => !served.some((g) => hostsIntersect(toFqdn(h, ns), g)));
        if (missing.length > 0) {
          ctx.report(
            Messages.VirtualServiceHostNotFoundInGateway,
            r,
            `Host${missing.length > 1 ? 's' : ''} ${missing.map(quote).join(', ')} of VirtualService ${ns}/${r.meta.name} ${missing.length > 1 ? 'are' : 'is'} not served by Gateway ${gwName}.`,
            path,
          );
        }
      };
      (vs.gateways ?? []).forEach((g, i) => {
        check(g, ['spec', 'gateways', i], true);
      });
      const matchGateways = (
        section: 'http' | 'tcp' | 'tls',
        routes: readonly { match?: readonly { gateways?: readonly string[] }[] }[],
      ): void => {
        routes.forEach((route, i) => {
          (route.match ?? []).forEach((m, j) => {
            (m.gateways ?? []).forEach((g, k) => {
              // A gateway also listed in spec.gateways was checked (and reported) there.
              if (!(vs.gateways ?? []).includes(g))
                check(g, ['spec', section, i, 'match', j, 'gateways', k], false);
            });
          });
        });
      };
      matchGateways('http', vs.http ?? []);
      matchGateways('tcp', vs.tcp ?? []);
      matchGateways('tls', vs.tls ?? []);
    }
  },
};

export const destinationHostAnalyzer: Analyzer = {
  name: 'virtualservice.DestinationHostAnalyzer',
  description: 'Checks that VirtualService destinations are known services, on ports those services expose',
  produces: [Messages.ReferencedResourceNotFound, Messages.VirtualServiceDestinationPortSelectorRequired],
  analyze(ctx: AnalysisContext): void {
    for (const r of ctx.resources('VirtualService')) {
      const ns = r.meta.namespace;
      for (const d of destinations(spec<VirtualService>(r))) {
        const host = d.destination.host;
        if (!host) continue;
        const services = ctx.lookupService(toFqdn(host, ns), ns);
        if (services.length === 0) {
          ctx.report(
            Messages.ReferencedResourceNotFound,
            r,
            referencedNotFound(d.mirror ? 'mirror host' : 'host', host),
            [...d.path, 'host'],
          );
          continue;
        }
        const ports = [...new Set(services.flatMap((s) => s.ports.map((p) => p.number)))].sort(
          (a, b) => a - b,
        );
        const port = d.destination.port?.number;
        if (port === undefined) {
          if (ports.length > 1) {
            ctx.report(
              Messages.VirtualServiceDestinationPortSelectorRequired,
              r,
              `Destination ${quote(host)} is a service with several ports (${ports.join(', ')}); set destination.port to choose one.`,
              [...d.path, 'host'],
            );
          }
        } else if (ports.length > 0 && !ports.includes(port)) {
          ctx.report(
            Messages.ReferencedResourceNotFound,
            r,
            referencedNotFound(d.mirror ? 'mirror host:port' : 'host:port', `${host}:${port}`),
            [...d.path, 'port', 'number'],
          );
        }
      }
    }
  },
};

export const destinationSubsetAnalyzer: Analyzer = {
  name: 'virtualservice.DestinationRuleAnalyzer',
  description:
    'Checks that every subset a VirtualService routes to is defined by a DestinationRule for its host',
  produces: [Messages.ReferencedResourceNotFound],
  analyze(ctx: AnalysisContext): void {
    for (const r of ctx.resources('VirtualService')) {
      const ns = r.meta.namespace;
      for (const d of destinations(spec<VirtualService>(r))) {
        const { host, subset } = d.destination;
        if (!host || !subset) continue;
        const rules = ctx.destinationRulesFor(toFqdn(host, ns), ns);
        if (!rules.some((dr) => (dr.spec.subsets ?? []).some((s) => s.name === subset))) {
          ctx.report(
            Messages.ReferencedResourceNotFound,
            r,
            referencedNotFound('host+subset in destinationrule', `${host}+${subset}`),
            [...d.path, 'subset'],
          );
        }
      }
    }
  },
};

export const conflictingMeshHostsAnalyzer: Analyzer = {
  name: 'virtualservice.ConflictingMeshGatewayHostsAnalyzer',
  description: 'Checks that no two VirtualServices for sidecars (the mesh gateway) claim the same host',
  produces: [Messages.ConflictingMeshGatewayVirtualServiceHosts],
  analyze(ctx: AnalysisContext): void {
    interface Claim {
      readonly r: ConfigResource;
      readonly index: number;
      readonly visibility: Visibility;
    }
    const byHost = new Map<string, Claim[]>();
    for (const r of ctx.resources('VirtualService')) {
      const vs = spec<VirtualService>(r);
      if (!boundToMesh(vs)) continue;
      const visibility = new Visibility(vs.exportTo, r.meta.namespace);
      const seen = new Set<string>();
      (vs.hosts ?? []).forEach((h, index) => {
        const fqdn = toFqdn(h, r.meta.namespace);
        if (seen.has(fqdn)) return;
        seen.add(fqdn);
        const list = byHost.get(fqdn);
        const claim = { r, index, visibility };
        if (list) list.push(claim);
        else byHost.set(fqdn, [claim]);
      });
    }
    for (const [host, claims] of byHost) {
      if (claims.length < 2) continue;
      for (const c of claims) {
        const rivals = claims.filter((o) => o !== c && o.visibility.overlaps(c.visibility));
        if (rivals.length === 0) continue;
        const names = [c, ...rivals].map((x) => `${x.r.meta.namespace}/${x.r.meta.name}`).sort();
        ctx.report(
          Messages.ConflictingMeshGatewayVirtualServiceHosts,
          c.r,
          `The VirtualServices ${names.join(', ')} for the mesh gateway all define host ${quote(host)}; only one of them takes effect. Merge them into one VirtualService or narrow their exportTo.`,
          ['spec', 'hosts', c.index],
        );
      }
    }
  },
};

/** Match fields that do not narrow which requests a match takes. */
const NON_RESTRICTING = new Set(['name', 'ignoreUriCase', 'statPrefix']);

function catchAllReason(
  section: 'http' | 'tcp' | 'tls',
  match: Readonly<Record<string, unknown>>,
): string | undefined {
  const keys = Object.keys(match).filter((k) => !NON_RESTRICTING.has(k) && match[k] !== undefined);
  if (keys.length === 0) return 'an empty match';
  if (section === 'http' && keys.length === 1 && keys[0] === 'uri') {
    const uri = match.uri as { prefix?: string; regex?: string };
    if (uri.prefix === '/') return 'uri prefix "/"';
    if (uri.regex === '.*' || uri.regex === '/.*') return `uri regex ${quote(uri.regex)}`;
  }
  if (section === 'tls' && keys.length === 1 && keys[0] === 'sniHosts') {
    const sni = match.sniHosts as unknown[];
    if (Array.isArray(sni) && sni.includes('*')) return 'sniHosts "*"';
  }
  return undefined;
}

/**
 * JSON with sorted keys, so that equal matches written in a different order compare equal.
 * The match's own `name` does not change what it matches and is left out.
 */
function canonical(value: unknown, top = true): string {
  if (Array.isArray(value)) return `[${value.map((v) => canonical(v, false)).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const obj = value as Record<string, unknown>;
    return `{${Object.keys(obj)
      .filter((k) => !(top && k === 'name') && obj[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(obj[k], false)}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

export const unreachableRulesAnalyzer: Analyzer = {
  name: 'virtualservice.UnreachableRulesAnalyzer',
  description: 'Checks for routes that never match because earlier routes take all their traffic',
  produces: [Messages.VirtualServiceUnreachableRule, Messages.VirtualServiceIneffectiveMatch],
  analyze(ctx: AnalysisContext): void {
    for (const r of ctx.resources('VirtualService')) {
      const vs = spec<VirtualService>(r);
      for (const section of ['http', 'tcp', 'tls'] as const) {
        // The three route kinds share what this needs: a name (http only) and matches.
        const routes: readonly { name?: string; match?: readonly Readonly<Record<string, unknown>>[] }[] =
          vs[section] ?? [];
        const ruleName = (i: number): string => {
          const n = routes[i]?.name;
          return n ? quote(n) : `#${i}`;
        };
        const seen = new Map<string, number>();
        let catchAll: { index: number; why: string } | undefined;
        routes.forEach((route, i) => {
          const path = ['spec', section, i];
          if (catchAll) {
            ctx.report(
              Messages.VirtualServiceUnreachableRule,
              r,
              `VirtualService rule ${ruleName(i)} not used (${section} rule ${ruleName(catchAll.index)} before it takes all traffic: ${catchAll.why}).`,
              path,
            );
            return;
          }
          const matches = route.match ?? [];
          if (matches.length === 0) {
            catchAll = { index: i, why: 'it has no match' };
            return;
          }
          let duplicates = 0;
          matches.forEach((m, j) => {
            const key = canonical(m);
            const earlier = seen.get(key);
            if (earlier === undefined) {
              seen.set(key, i);
              return;
            }
            duplicates++;
            const matchName = typeof m.name === 'string' && m.name !== '' ? quote(m.name) : `#${j}`;
            ctx.report(
              Messages.VirtualServiceIneffectiveMatch,
              r,
              `VirtualService rule ${ruleName(i)} match ${matchName} is not used (rule ${ruleName(earlier)} has the same match).`,
              [...path, 'match', j],
            );
          });
          if (duplicates === matches.length) {
            ctx.report(
              Messages.VirtualServiceUnreachableRule,
              r,
              `VirtualService rule ${ruleName(i)} not used (all its matches are used by earlier rules).`,
              path,
            );
          }
          for (const m of matches) {
            const why = catchAllReason(section, m);
            if (why) {
              catchAll = { index: i, why };
              break;
            }
          }
        });
      }
    }
  },
};
