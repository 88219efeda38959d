/**
 * `proxy-status <proxy>`: what mizzend would send the proxy now (`/debug/config_dump`) against
 * what the proxy's admin API holds, per type — clusters, listeners, routes, endpoints — as
 * istioctl shows it: "<Type> Match", or a unified diff of the two in canonical JSON (proto3
 * JSON, keys sorted, resources by name). Versions and update times are not compared: only
 * the resources themselves, and only those delivered by xDS (static bootstrap ones are skipped).
 */
import { unifiedDiff } from '../format/diff.ts';
import {
  adminAnnounced,
  adminCandidates,
  formatHostPort,
  getJson,
  type HostPort,
  type SyncEntry,
} from './proxy-config-client.ts';
import { canonicalResources, type DumpSection, type DumpView, readConfigDump } from './proxy-config-dump.ts';
import { readProxyDump } from './proxy-config-run.ts';

const TYPES: readonly (readonly [string, DumpSection, string])[] = [
  ['Clusters', 'clusters', 'CDS'],
  ['Listeners', 'listeners', 'LDS'],
  ['Routes', 'routes', 'RDS'],
  ['Endpoints', 'endpoints', 'EDS'],
];

export interface TypeComparison {
  readonly match: boolean | null;
  readonly diff?: string;
  readonly note?: string;
}

export interface Comparison {
  readonly text: string;
  readonly byType: Record<string, TypeComparison>;
}

/** The xDS-delivered resources of one type: bootstrap (static) ones are not mizzend's to send. */
function resources(view: DumpView, section: DumpSection) {
  const all =
    section === 'clusters'
      ? view.clusters
      : section === 'listeners'
        ? view.listeners
        : section === 'routes'
          ? view.routes
          : view.endpoints;
  return all.filter((r) => !view.statics.has(r));
}

export async function compareWithProxy(
  entry: SyncEntry,
  mizzend: HostPort,
  flags: { readonly admin?: HostPort; readonly adminPort: number },
): Promise<Comparison> {
  const id = typeof entry.connection_id === 'string' ? entry.connection_id : entry.proxy;
  const fromMizzend = readConfigDump(
    await getJson(mizzend, `/debug/config_dump?proxyID=${encodeURIComponent(id)}`, 'mizzend'),
  );
  const candidates = flags.admin ? [flags.admin] : adminCandidates(entry, flags.adminPort);
  const { admin, view: fromProxy } = await readProxyDump(
    candidates,
    entry,
    !flags.admin && !adminAnnounced(entry),
  );
  const where = formatHostPort(admin);
  let text = '';
  const byType: Record<string, TypeComparison> = {};
  for (const [label, section, short] of TYPES) {
    if (!fromMizzend.present.has(section)) {
      const note = `the proxy does not subscribe to ${short}`;
      byType[label] = { match: null, note };
      text += `${label} Not Compared (${note})\n`;
      continue;
    }
    const diff = unifiedDiff(
      canonicalResources(resources(fromMizzend, section)),
      canonicalResources(resources(fromProxy, section)),
      {
        from: `mizzend ${label} (what mizzend would send ${entry.proxy} now)`,
        to: `${entry.proxy} ${label} (what its admin API at ${where} holds)`,
      },
    );
    if (diff === '') {
      const loaded = entry.types.find((t) => t.type === short)?.acked_at;
      const when =
        section === 'routes' && loaded ? ` (RDS last loaded at ${new Date(loaded).toUTCString()})` : '';
      byType[label] = { match: true };
      text += `${label} Match${when}\n`;
    } else {
      byType[label] = { match: false, diff };
      text += diff;
    }
  }
  return { text, byType };
}
