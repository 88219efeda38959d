/**
 * Metric families with labels, for the stats Istio defines with tags (istio_requests_total{...}).
 * Envoy keeps these as ordinary stats whose tags are extracted at exposition; here the label
 * values are the key, so the hot path does one Map lookup per family per request.
 *
 * Label values come from traffic (peer metadata, Host headers, response codes), so the number
 * of series is bounded: past `maxSeries` a family refuses new label sets and counts each refused
 * sample in `overflow` (exposed as its own counter), instead of growing without limit.
 */

/** One series: a label-value tuple and its number (counter) or buckets (histogram). */
export interface LabeledSeries {
  readonly values: readonly string[];
  value: number;
  /** Histograms only: per-bucket counts (last slot: above every bound), sum and count. */
  readonly counts: Float64Array | undefined;
  sum: number;
}

/** Values joined with a byte that label values cannot meaningfully contain. */
const SEP = '\u0001';

export class LabeledFamily {
  readonly name: string;
  readonly type: 'counter' | 'histogram';
  readonly labelNames: readonly string[];
  readonly bounds: readonly number[];
  readonly maxSeries: number;
  /** Samples dropped because the family was at maxSeries. */
  overflow = 0;
  readonly #series = new Map<string, LabeledSeries>();

  constructor(
    name: string,
    type: 'counter' | 'histogram',
    labelNames: readonly string[],
    maxSeries: number,
    bounds: readonly number[] = [],
  ) {
    this.name = name;
    this.type = type;
    this.labelNames = labelNames;
    this.maxSeries = maxSeries;
    this.bounds = bounds;
  }

  /** The series for these label values (in labelNames order); undefined when capped. */
  series(values: readonly string[], key: string = values.join(SEP)): LabeledSeries | undefined {
    let s = this.#series.get(key);
    if (s === undefined) {
      // Refused: the sample is counted in `overflow` by addTo/recordInto.
      if (this.#series.size >= this.maxSeries) return undefined;
      s = {
        values: values.slice(),
        value: 0,
        counts: this.type === 'histogram' ? new Float64Array(this.bounds.length + 1) : undefined,
        sum: 0,
      };
      this.#series.set(key, s);
    }
    return s;
  }

  add(values: readonly string[], n: number, key?: string): void {
    this.addTo(this.series(values, key), n);
  }

  record(values: readonly string[], v: number, key?: string): void {
    this.recordInto(this.series(values, key), v);
  }

  /**
   * Adds to a series the caller resolved earlier (hot paths cache series by their inputs);
   * undefined is a sample refused by the cap.
   */
  addTo(s: LabeledSeries | undefined, n: number): void {
    if (s === undefined) this.overflow++;
    else s.value += n;
  }

  /** Records into a series the caller resolved earlier; undefined is a sample refused by the cap. */
  recordInto(s: LabeledSeries | undefined, v: number): void {
    if (s === undefined) {
      this.overflow++;
      return;
    }
    if (s.counts === undefined) return;
    const b = this.bounds;
    let i = 0;
    while (i < b.length && v > b[i]) i++;
    s.counts[i]++;
    s.sum += v;
    s.value++;
  }

  get size(): number {
    return this.#series.size;
  }

  all(): IterableIterator<LabeledSeries> {
    return this.#series.values();
  }

  /** Value of the counter series (or sample count of the histogram series) with these labels. */
  value(labels: Readonly<Record<string, string>>): number {
    let total = 0;
    for (const s of this.#series.values()) {
      let match = true;
      for (const [k, v] of Object.entries(labels)) {
        const i = this.labelNames.indexOf(k);
        if (i < 0 || s.values[i] !== v) {
          match = false;
          break;
        }
      }
      if (match) total += s.value;
    }
    return total;
  }
}

/** Joins label values into a family key (callers that build keys themselves use the same separator). */
export function seriesKey(values: readonly string[]): string {
  return values.join(SEP);
}
