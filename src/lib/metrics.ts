/**
 * A small metrics registry: counters, gauges and histograms with fixed label names, exposed in
 * Prometheus' text format (version 0.0.4). Hot paths hold a labelled child (`labels(...)`) and
 * only add numbers; nothing is formatted until a scrape. No prom-client: it allocates per call
 * and would sit on the xDS push path.
 */
import { ErrorCode, MizzenError } from './errors.ts';

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export interface MetricOptions {
  readonly name: string;
  readonly help: string;
  readonly labelNames?: readonly string[];
}
export interface HistogramOptions extends MetricOptions {
  /** Upper bounds, ascending; `+Inf` is added. */
  readonly buckets: readonly number[];
}

type Kind = 'counter' | 'gauge' | 'histogram';

abstract class Metric<Child> {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  abstract readonly kind: Kind;
  protected readonly children = new Map<string, { values: readonly string[]; child: Child }>();

  constructor(options: MetricOptions) {
    if (!NAME.test(options.name)) {
      throw new MizzenError(
        ErrorCode.INVALID_ARGUMENT,
        `metric name "${options.name}" is not a Prometheus name`,
      );
    }
    for (const l of options.labelNames ?? []) {
      if (!LABEL.test(l) || l.startsWith('__') || l === 'le') {
        throw new MizzenError(
          ErrorCode.INVALID_ARGUMENT,
          `metric ${options.name}: label name "${l}" is not allowed`,
        );
      }
    }
    this.name = options.name;
    this.help = options.help;
    this.labelNames = [...(options.labelNames ?? [])];
  }

  protected abstract newChild(): Child;

  /** The series for these label values (in labelNames order); create it on first use. */
  labels(...values: string[]): Child {
    if (values.length !== this.labelNames.length) {
      throw new MizzenError(
        ErrorCode.INVALID_ARGUMENT,
        `metric ${this.name} takes ${this.labelNames.length} label value(s) (${this.labelNames.join(', ')}), got ${values.length}`,
      );
    }
    const key = values.join('\u0000');
    let entry = this.children.get(key);
    if (!entry) {
      entry = { values: [...values], child: this.newChild() };
      this.children.set(key, entry);
    }
    return entry.child;
  }

  /** Forget every series (for tests and for gauges rebuilt on scrape). */
  reset(): void {
    this.children.clear();
  }

  protected labelText(values: readonly string[], extra?: string): string {
    const parts = values.map((v, i) => `${this.labelNames[i]}="${escapeLabel(v)}"`);
    if (extra) parts.push(extra);
    return parts.length ? `{${parts.join(',')}}` : '';
  }

  abstract expose(): string;
}

export class CounterChild {
  value = 0;
  inc(by = 1): void {
    if (by < 0) throw new MizzenError(ErrorCode.INVALID_ARGUMENT, 'a counter only goes up');
    this.value += by;
  }
}

export class Counter extends Metric<CounterChild> {
  readonly kind = 'counter';
  protected newChild(): CounterChild {
    return new CounterChild();
  }
  /** For metrics without labels. */
  inc(by = 1): void {
    this.labels().inc(by);
  }
  /** Current value of one series (0 when it was never touched). */
  get(...values: string[]): number {
    return this.children.get(values.join('\u0000'))?.child.value ?? 0;
  }
  expose(): string {
    let out = '';
    for (const { values, child } of this.children.values()) {
      out += `${this.name}${this.labelText(values)} ${formatNumber(child.value)}\n`;
    }
    return out;
  }
}

export class GaugeChild {
  value = 0;
  set(v: number): void {
    this.value = v;
  }
  inc(by = 1): void {
    this.value += by;
  }
  dec(by = 1): void {
    this.value -= by;
  }
}

export class Gauge extends Metric<GaugeChild> {
  readonly kind = 'gauge';
  protected newChild(): GaugeChild {
    return new GaugeChild();
  }
  set(v: number): void {
    this.labels().set(v);
  }
  inc(by = 1): void {
    this.labels().inc(by);
  }
  dec(by = 1): void {
    this.labels().dec(by);
  }
  get(...values: string[]): number {
    return this.children.get(values.join('\u0000'))?.child.value ?? 0;
  }
  expose(): string {
    let out = '';
    for (const { values, child } of this.children.values()) {
      out += `${this.name}${this.labelText(values)} ${formatNumber(child.value)}\n`;
    }
    return out;
  }
}

export class HistogramChild {
  readonly bounds: readonly number[];
  /** Per-bucket (non-cumulative) counts; the last slot is +Inf. */
  readonly counts: number[];
  sum = 0;
  count = 0;
  constructor(bounds: readonly number[]) {
    this.bounds = bounds;
    this.counts = new Array(bounds.length + 1).fill(0);
  }
  observe(v: number): void {
    let i = 0;
    while (i < this.bounds.length && v > this.bounds[i]) i++;
    this.counts[i]++;
    this.sum += v;
    this.count++;
  }
}

export class Histogram extends Metric<HistogramChild> {
  readonly kind = 'histogram';
  readonly buckets: readonly number[];
  constructor(options: HistogramOptions) {
    super(options);
    const b = [...options.buckets];
    if (b.length === 0 || b.some((x, i) => !Number.isFinite(x) || (i > 0 && x <= b[i - 1]))) {
      throw new MizzenError(
        ErrorCode.INVALID_ARGUMENT,
        `histogram ${options.name}: buckets must be finite and strictly ascending`,
      );
    }
    this.buckets = b;
  }
  protected newChild(): HistogramChild {
    return new HistogramChild(this.buckets);
  }
  observe(v: number): void {
    this.labels().observe(v);
  }
  /** One series' child, or undefined when it was never observed. */
  get(...values: string[]): HistogramChild | undefined {
    return this.children.get(values.join('\u0000'))?.child;
  }
  expose(): string {
    let out = '';
    for (const { values, child } of this.children.values()) {
      let cumulative = 0;
      for (let i = 0; i <= this.buckets.length; i++) {
        cumulative += child.counts[i];
        const le = i < this.buckets.length ? formatNumber(this.buckets[i]) : '+Inf';
        out += `${this.name}_bucket${this.labelText(values, `le="${le}"`)} ${cumulative}\n`;
      }
      out += `${this.name}_sum${this.labelText(values)} ${formatNumber(child.sum)}\n`;
      out += `${this.name}_count${this.labelText(values)} ${child.count}\n`;
    }
    return out;
  }
}

type AnyMetric = Counter | Gauge | Histogram;

export class MetricsRegistry {
  readonly #metrics = new Map<string, AnyMetric>();

  /** Get-or-create: registering the same name, kind and labels again returns the same metric. */
  counter(options: MetricOptions): Counter {
    return this.#register(options, 'counter', () => new Counter(options));
  }
  gauge(options: MetricOptions): Gauge {
    return this.#register(options, 'gauge', () => new Gauge(options));
  }
  histogram(options: HistogramOptions): Histogram {
    return this.#register(options, 'histogram', () => new Histogram(options));
  }

  get(name: string): AnyMetric | undefined {
    return this.#metrics.get(name);
  }

  #register<M extends AnyMetric>(options: MetricOptions, kind: Kind, create: () => M): M {
    const existing = this.#metrics.get(options.name);
    if (existing) {
      const labels = options.labelNames ?? [];
      if (existing.kind !== kind || existing.labelNames.join(',') !== labels.join(',')) {
        throw new MizzenError(
          ErrorCode.INVALID_ARGUMENT,
          `metric ${options.name} is already registered as a ${existing.kind} with labels [${existing.labelNames.join(', ')}]`,
        );
      }
      return existing as M;
    }
    const metric = create();
    this.#metrics.set(options.name, metric);
    return metric;
  }

  /** Prometheus text exposition of every metric that has at least one series. */
  expose(): string {
    let out = '';
    for (const m of this.#metrics.values()) {
      const body = m.expose();
      if (!body) continue;
      out += `# HELP ${m.name} ${escapeHelp(m.help)}\n# TYPE ${m.name} ${m.kind}\n${body}`;
    }
    return out;
  }
}

/** The process-wide registry that `/metrics` exposes. Tests pass their own. */
export const defaultRegistry = new MetricsRegistry();

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}
function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}
function formatNumber(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Number.POSITIVE_INFINITY) return '+Inf';
  if (n === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(n);
}
