/**
 * Proxy statistics as plain numbers. Names are built once, when config arrives (Envoy's stat
 * names: `cluster.<name>.upstream_rq_total`, `http.<prefix>.downstream_rq_total`, ...); the hot
 * path only does `counter.value++`. Asking for a name twice returns the same object, so a
 * config update keeps counting where the previous config left off. Exposition (admin
 * /stats, Prometheus) reads `StatsStore.counters()/gauges()/histograms()`.
 */

import { LabeledFamily } from './labeled.ts';

export class Counter {
  readonly name: string;
  value = 0;
  constructor(name: string) {
    this.name = name;
  }
  inc(): void {
    this.value++;
  }
  add(n: number): void {
    this.value += n;
  }
}

export class Gauge {
  readonly name: string;
  value = 0;
  constructor(name: string) {
    this.name = name;
  }
  inc(): void {
    this.value++;
  }
  dec(): void {
    this.value--;
  }
  set(v: number): void {
    this.value = v;
  }
}

/** Envoy's default histogram bucket bounds, in the histogram's unit (milliseconds for times). */
export const DEFAULT_BUCKETS: readonly number[] = [
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000,
  3600000,
];

export class Histogram {
  readonly name: string;
  readonly bounds: readonly number[];
  /** counts[i] = samples <= bounds[i] and > bounds[i-1]; the last slot holds samples above all bounds. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(name: string, bounds: readonly number[] = DEFAULT_BUCKETS) {
    this.name = name;
    this.bounds = bounds;
    this.counts = new Float64Array(bounds.length + 1);
  }
  record(v: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && v > b[i]) i++;
    this.counts[i]++;
    this.sum += v;
    this.count++;
  }
  /** Cumulative counts per bound, as Prometheus wants them. */
  cumulative(): number[] {
    const out: number[] = [];
    let acc = 0;
    for (let i = 0; i < this.bounds.length; i++) {
      acc += this.counts[i];
      out.push(acc);
    }
    return out;
  }
}

/** Default cap on the series of one labeled family (see labeled.ts). */
export const DEFAULT_MAX_SERIES = 10_000;

export class StatsStore {
  private readonly counterMap = new Map<string, Counter>();
  private readonly labeledMap = new Map<string, LabeledFamily>();
  /** Cap on the series of each labeled family created after it is set. */
  maxSeriesPerFamily = DEFAULT_MAX_SERIES;
  /**
   * The local node's metadata (Istio's keys: NAME, NAMESPACE, LABELS, WORKLOAD_NAME, ...) as
   * plain JSON, for telemetry filters that label samples with the local workload. Set once by
   * whoever assembles the proxy, before config arrives.
   */
  localNode: Readonly<Record<string, unknown>> | undefined = undefined;
  /** Node id (`sidecar~IP~POD.NS~NS.svc.DOMAIN`), sent in the metadata exchange. */
  localNodeId = '';
  private readonly gaugeMap = new Map<string, Gauge>();
  private readonly histogramMap = new Map<string, Histogram>();

  counter(name: string): Counter {
    let c = this.counterMap.get(name);
    if (!c) {
      c = new Counter(name);
      this.counterMap.set(name, c);
    }
    return c;
  }
  gauge(name: string): Gauge {
    let g = this.gaugeMap.get(name);
    if (!g) {
      g = new Gauge(name);
      this.gaugeMap.set(name, g);
    }
    return g;
  }
  histogram(name: string, bounds?: readonly number[]): Histogram {
    let h = this.histogramMap.get(name);
    if (!h) {
      h = new Histogram(name, bounds);
      this.histogramMap.set(name, h);
    }
    return h;
  }
  /**
   * A labeled family (istio_requests_total & co). Asking again returns the same family; the
   * type, labels and buckets of the first call win.
   */
  labeled(
    name: string,
    type: 'counter' | 'histogram',
    labelNames: readonly string[],
    bounds?: readonly number[],
  ): LabeledFamily {
    let f = this.labeledMap.get(name);
    if (!f) {
      f = new LabeledFamily(name, type, labelNames, this.maxSeriesPerFamily, bounds);
      this.labeledMap.set(name, f);
    }
    return f;
  }
  labeledFamilies(): IterableIterator<LabeledFamily> {
    return this.labeledMap.values();
  }
  labeledFamily(name: string): LabeledFamily | undefined {
    return this.labeledMap.get(name);
  }
  scope(prefix: string): StatsScope {
    return new StatsScope(this, prefix);
  }
  counters(): IterableIterator<Counter> {
    return this.counterMap.values();
  }
  gauges(): IterableIterator<Gauge> {
    return this.gaugeMap.values();
  }
  histograms(): IterableIterator<Histogram> {
    return this.histogramMap.values();
  }
  /** Value of a counter or gauge by full name (tests, admin); 0 when it was never created. */
  value(name: string): number {
    return this.counterMap.get(name)?.value ?? this.gaugeMap.get(name)?.value ?? 0;
  }
}

/** A name prefix over a store: `scope('cluster.foo').counter('upstream_rq_total')`. */
export class StatsScope {
  readonly store: StatsStore;
  readonly prefix: string;
  constructor(store: StatsStore, prefix: string) {
    this.store = store;
    this.prefix = prefix.endsWith('.') ? prefix.slice(0, -1) : prefix;
  }
  private name(n: string): string {
    return this.prefix ? `${this.prefix}.${n}` : n;
  }
  counter(n: string): Counter {
    return this.store.counter(this.name(n));
  }
  gauge(n: string): Gauge {
    return this.store.gauge(this.name(n));
  }
  histogram(n: string, bounds?: readonly number[]): Histogram {
    return this.store.histogram(this.name(n), bounds);
  }
  scope(n: string): StatsScope {
    return new StatsScope(this.store, this.name(n));
  }
}

/**
 * Response-code counters by class and exact code (`<prefix>_2xx`, `<prefix>_200`), created
 * lazily per code so the set of names stays what traffic actually produced.
 */
export class CodeCounters {
  private readonly scope: StatsScope;
  private readonly prefix: string;
  private readonly classes: Counter[];
  private readonly codes: (Counter | undefined)[] = [];
  constructor(scope: StatsScope, prefix: string) {
    this.scope = scope;
    this.prefix = prefix;
    this.classes = [1, 2, 3, 4, 5].map((c) => scope.counter(`${prefix}_${c}xx`));
  }
  record(code: number): void {
    const cls = (code / 100) | 0;
    if (cls >= 1 && cls <= 5) this.classes[cls - 1].value++;
    let c = this.codes[code];
    if (c === undefined) {
      if (code < 100 || code > 999) return;
      c = this.scope.counter(`${this.prefix}_${code}`);
      this.codes[code] = c;
    }
    c.value++;
  }
}
