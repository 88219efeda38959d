/**
 * /stats/prometheus: the stats store in Prometheus text format with Envoy's names — the stat
 * name with dots turned into underscores under `envoy_`, and the well-known name parts pulled
 * out as labels as Envoy's default tag extractors do (`cluster.<name>.` → envoy_cluster_name,
 * `listener.<address>.` → envoy_listener_address, `http.<prefix>.` →
 * envoy_http_conn_manager_prefix). Cluster names, listener addresses and HTTP prefixes contain
 * dots, so the known names are passed in; the longest known one wins.
 *
 * Labeled families (Istio's istio_requests_total & co, stats/labeled.ts) are written under their
 * own names with their labels in declared order, and each family's refused samples (over its
 * series cap) show as mizzen_stats_series_overflow_total{metric="<family>"}.
 */
import type { StatsStore } from '../stats/store.ts';

export interface StatFamilies {
  /** Cluster stat names (alt_stat_name or name). */
  readonly clusters: readonly string[];
  /** Listener stat prefixes (`127.0.0.1_15001` or the configured stat_prefix). */
  readonly listeners: readonly string[];
  /** HTTP connection manager stat prefixes (`outbound_0.0.0.0_80`). */
  readonly httpPrefixes?: readonly string[];
}

interface Family {
  readonly root: string;
  readonly label: string;
}

const FAMILIES: readonly Family[] = [
  { root: 'cluster', label: 'envoy_cluster_name' },
  { root: 'listener', label: 'envoy_listener_address' },
  { root: 'http', label: 'envoy_http_conn_manager_prefix' },
];

/** Splits `cluster.<name>.<rest>` into ('cluster_<rest>', {envoy_cluster_name: name}). */
export function extractTags(
  stat: string,
  families: StatFamilies,
): { name: string; labels: [string, string][] } {
  for (const f of FAMILIES) {
    if (!stat.startsWith(`${f.root}.`)) continue;
    const rest = stat.slice(f.root.length + 1);
    const known =
      f.root === 'cluster'
        ? families.clusters
        : f.root === 'listener'
          ? families.listeners
          : (families.httpPrefixes ?? []);
    let tag = '';
    for (const k of known) if (rest.startsWith(`${k}.`) && k.length > tag.length) tag = k;
    // Unknown (the stats of a removed cluster or listener): the first segment is the tag.
    if (tag === '') {
      const dot = rest.indexOf('.');
      if (dot <= 0) break;
      tag = rest.slice(0, dot);
    }
    // Istio's delimited prefixes end in ';' (`outbound_0.0.0.0_80;`); its tag regexes drop it.
    const value = tag.endsWith(';') ? tag.slice(0, -1) : tag;
    return { name: `${f.root}.${rest.slice(tag.length + 1)}`, labels: [[f.label, value]] };
  }
  return { name: stat, labels: [] };
}

const OVERFLOW = 'mizzen_stats_series_overflow_total';

function metricName(stat: string): string {
  return `envoy_${stat.replace(/[^a-zA-Z0-9_]/g, '_')}`;
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function labelText(labels: readonly [string, string][], extra?: [string, string]): string {
  const all = extra ? [...labels, extra] : labels;
  if (all.length === 0) return '';
  return `{${all.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}`;
}

export function prometheusText(store: StatsStore, families: StatFamilies): string {
  // Group samples by metric name: Prometheus wants one TYPE line per name.
  const groups = new Map<string, { type: string; lines: string[] }>();
  const add = (name: string, type: string, line: string) => {
    let g = groups.get(name);
    if (!g) {
      g = { type, lines: [] };
      groups.set(name, g);
    }
    g.lines.push(line);
  };
  for (const c of store.counters()) {
    const t = extractTags(c.name, families);
    const n = metricName(t.name);
    add(n, 'counter', `${n}${labelText(t.labels)} ${c.value}`);
  }
  for (const g of store.gauges()) {
    const t = extractTags(g.name, families);
    const n = metricName(t.name);
    add(n, 'gauge', `${n}${labelText(t.labels)} ${g.value}`);
  }
  for (const h of store.histograms()) {
    const t = extractTags(h.name, families);
    const n = metricName(t.name);
    const cum = h.cumulative();
    h.bounds.forEach((b, i) => {
      add(n, 'histogram', `${n}_bucket${labelText(t.labels, ['le', String(b)])} ${cum[i]}`);
    });
    add(n, 'histogram', `${n}_bucket${labelText(t.labels, ['le', '+Inf'])} ${h.count}`);
    add(n, 'histogram', `${n}_sum${labelText(t.labels)} ${h.sum}`);
    add(n, 'histogram', `${n}_count${labelText(t.labels)} ${h.count}`);
  }
  for (const f of store.labeledFamilies()) {
    const names = f.labelNames;
    const base = (values: readonly string[]): [string, string][] => names.map((n, i) => [n, values[i]]);
    if (f.type === 'counter') {
      // An empty family still gets its TYPE line: scrapers see the metric exists.
      if (f.size === 0) groups.set(f.name, { type: 'counter', lines: [] });
      for (const s of f.all()) add(f.name, 'counter', `${f.name}${labelText(base(s.values))} ${s.value}`);
    } else {
      if (f.size === 0) groups.set(f.name, { type: 'histogram', lines: [] });
      for (const s of f.all()) {
        const labels = base(s.values);
        const counts = s.counts as Float64Array;
        let acc = 0;
        f.bounds.forEach((b, i) => {
          acc += counts[i];
          add(f.name, 'histogram', `${f.name}_bucket${labelText(labels, ['le', String(b)])} ${acc}`);
        });
        add(f.name, 'histogram', `${f.name}_bucket${labelText(labels, ['le', '+Inf'])} ${s.value}`);
        add(f.name, 'histogram', `${f.name}_sum${labelText(labels)} ${s.sum}`);
        add(f.name, 'histogram', `${f.name}_count${labelText(labels)} ${s.value}`);
      }
    }
    add(OVERFLOW, 'counter', `${OVERFLOW}${labelText([['metric', f.name]])} ${f.overflow}`);
  }
  const out: string[] = [];
  for (const name of [...groups.keys()].sort()) {
    const g = groups.get(name) as { type: string; lines: string[] };
    out.push(`# TYPE ${name} ${g.type}`, ...g.lines);
  }
  return out.length ? `${out.join('\n')}\n` : '';
}
