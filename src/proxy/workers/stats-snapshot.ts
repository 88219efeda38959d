/**
 * Stats across worker processes: each worker sends a snapshot of its StatsStore (absolute
 * values) to the primary, which folds the latest snapshot of every worker into the store its
 * admin server reads. Counters, histograms and labeled families are summed; gauges are summed
 * too (connections, requests in flight) except the config-level ones every worker holds the same
 * value of (cluster membership, listener counts), which take the largest. A worker that exits
 * leaves its counters and histograms behind as "retired", so totals never go backwards when it
 * is replaced.
 */
import type { StatsStore } from '../stats/store.ts';

export interface LabeledSnapshot {
  readonly name: string;
  readonly type: 'counter' | 'histogram';
  readonly labelNames: readonly string[];
  readonly bounds: readonly number[];
  /** [label values, value, bucket counts (histograms), sum] */
  readonly series: readonly [readonly string[], number, readonly number[] | null, number][];
}

export interface StatsSnapshot {
  readonly counters: readonly [string, number][];
  readonly gauges: readonly [string, number][];
  /** [name, bounds, bucket counts, sum, count] */
  readonly histograms: readonly [string, readonly number[], readonly number[], number, number][];
  readonly labeled: readonly LabeledSnapshot[];
}

export const EMPTY_SNAPSHOT: StatsSnapshot = { counters: [], gauges: [], histograms: [], labeled: [] };

export function takeSnapshot(store: StatsStore): StatsSnapshot {
  return {
    counters: [...store.counters()].map((c) => [c.name, c.value]),
    gauges: [...store.gauges()].map((g) => [g.name, g.value]),
    histograms: [...store.histograms()].map((h) => [h.name, h.bounds, [...h.counts], h.sum, h.count]),
    labeled: [...store.labeledFamilies()].map((f) => ({
      name: f.name,
      type: f.type,
      labelNames: f.labelNames,
      bounds: f.bounds,
      series: [...f.all()].map((s) => [s.values, s.value, s.counts ? [...s.counts] : null, s.sum]),
    })),
  };
}

/** Gauges that describe config (the same in every worker), not traffic: not summed. */
function isConfigGauge(name: string): boolean {
  return /\.membership_|\.max_host_weight$|^listener_manager\.|\.version$|warming/.test(name);
}

/** Adds `b`'s counters, histograms and labeled series into `a` (gauges are not carried). */
export function accumulate(a: StatsSnapshot, b: StatsSnapshot): StatsSnapshot {
  return merge([a, b], false);
}

function merge(snapshots: readonly StatsSnapshot[], withGauges: boolean): StatsSnapshot {
  const counters = new Map<string, number>();
  const gauges = new Map<string, number>();
  const histograms = new Map<string, [readonly number[], number[], number, number]>();
  const labeled = new Map<
    string,
    { head: LabeledSnapshot; series: Map<string, [string[], number, number[] | null, number]> }
  >();
  for (const s of snapshots) {
    for (const [n, v] of s.counters) counters.set(n, (counters.get(n) ?? 0) + v);
    if (withGauges) {
      for (const [n, v] of s.gauges) {
        const prev = gauges.get(n);
        gauges.set(n, prev === undefined ? v : isConfigGauge(n) ? Math.max(prev, v) : prev + v);
      }
    }
    for (const [n, bounds, counts, sum, count] of s.histograms) {
      const h = histograms.get(n);
      if (!h) histograms.set(n, [bounds, [...counts], sum, count]);
      else if (h[1].length === counts.length) {
        for (let i = 0; i < counts.length; i++) h[1][i] += counts[i];
        h[2] += sum;
        h[3] += count;
      }
    }
    for (const f of s.labeled) {
      let m = labeled.get(f.name);
      if (!m) {
        m = { head: f, series: new Map() };
        labeled.set(f.name, m);
      }
      for (const [values, value, counts, sum] of f.series) {
        const key = values.join('\u0001');
        const cur = m.series.get(key);
        if (!cur) m.series.set(key, [[...values], value, counts ? [...counts] : null, sum]);
        else {
          cur[1] += value;
          cur[3] += sum;
          if (cur[2] && counts && cur[2].length === counts.length)
            for (let i = 0; i < counts.length; i++) cur[2][i] += counts[i];
        }
      }
    }
  }
  return {
    counters: [...counters],
    gauges: [...gauges],
    histograms: [...histograms].map(([n, [b, c, s, k]]) => [n, b, c, s, k]),
    labeled: [...labeled.values()].map(({ head, series }) => ({ ...head, series: [...series.values()] })),
  };
}

/**
 * Writes the sum of `retired` and the workers' latest snapshots into `store` (the primary's).
 * Names no worker reports keep the primary's own values (its xDS client's, for instance).
 */
export function applySnapshots(
  store: StatsStore,
  workers: readonly StatsSnapshot[],
  retired: StatsSnapshot,
): void {
  const live = merge(workers, true);
  const total = merge([retired, live], false);
  for (const [n, v] of total.counters) store.counter(n).value = v;
  for (const [n, v] of live.gauges) store.gauge(n).value = v;
  for (const [n, bounds, counts, sum, count] of total.histograms) {
    const h = store.histogram(n, bounds);
    if (h.counts.length !== counts.length) continue;
    h.counts.set(counts);
    h.sum = sum;
    h.count = count;
  }
  for (const f of total.labeled) {
    const family = store.labeled(f.name, f.type, f.labelNames, f.bounds);
    for (const [values, value, counts, sum] of f.series) {
      const s = family.series(values);
      if (s === undefined) continue; // over the family's series cap: counted in its overflow
      s.value = value;
      s.sum = sum;
      if (s.counts && counts && s.counts.length === counts.length) s.counts.set(counts);
    }
  }
}
