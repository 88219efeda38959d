/**
 * A strict parser for the Prometheus text exposition format (0.0.4), for tests: it throws on
 * anything a Prometheus server would reject or silently mangle — bad metric or label names,
 * bad escapes, unparsable values, a TYPE after samples or twice, a family split in two runs,
 * duplicate series or label names, histograms without a +Inf bucket, non-cumulative buckets or
 * a count that differs from the +Inf bucket.
 */

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface Family {
  readonly name: string;
  readonly type: string;
  readonly samples: Sample[];
}

const METRIC = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

function parseValue(s: string, line: number): number {
  if (s === 'NaN') return Number.NaN;
  if (s === '+Inf') return Number.POSITIVE_INFINITY;
  if (s === '-Inf') return Number.NEGATIVE_INFINITY;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) throw new Error(`line ${line}: bad value ${s}`);
  return Number(s);
}

function familyOf(sample: string, types: Map<string, string>): string {
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (sample.endsWith(suffix)) {
      const base = sample.slice(0, -suffix.length);
      const t = types.get(base);
      if (t === 'histogram' || t === 'summary') return base;
    }
  }
  return sample;
}

export function parsePrometheusText(text: string): Map<string, Family> {
  if (text !== '' && !text.endsWith('\n')) throw new Error('the exposition must end with a newline');
  const families = new Map<string, Family>();
  const types = new Map<string, string>();
  const finished = new Set<string>();
  const series = new Set<string>();
  let current: string | undefined;
  const lines = text.split('\n');
  lines.pop();
  lines.forEach((l, i) => {
    const n = i + 1;
    if (l === '') return;
    if (l.startsWith('#')) {
      const m = /^# (TYPE|HELP) (\S+) ?(.*)$/.exec(l);
      if (!m) return; // a comment
      const [, kind, name, rest] = m;
      if (!METRIC.test(name)) throw new Error(`line ${n}: bad metric name ${name}`);
      if (kind === 'TYPE') {
        if (!TYPES.has(rest)) throw new Error(`line ${n}: bad type ${rest}`);
        if (types.has(name)) throw new Error(`line ${n}: second TYPE for ${name}`);
        if (families.has(name)) throw new Error(`line ${n}: TYPE for ${name} after its samples`);
        types.set(name, rest);
        families.set(name, { name, type: rest, samples: [] });
        if (current !== undefined && current !== name) finished.add(current);
        current = name;
      }
      return;
    }
    // name{labels} value [timestamp]
    let pos = 0;
    while (pos < l.length && l[pos] !== '{' && l[pos] !== ' ') pos++;
    const name = l.slice(0, pos);
    if (!METRIC.test(name)) throw new Error(`line ${n}: bad metric name ${JSON.stringify(name)}`);
    const labels: Record<string, string> = {};
    if (l[pos] === '{') {
      pos++;
      while (l[pos] !== '}') {
        const eq = l.indexOf('=', pos);
        if (eq < 0) throw new Error(`line ${n}: label without =`);
        const ln = l.slice(pos, eq);
        if (!LABEL.test(ln) || ln.startsWith('__')) throw new Error(`line ${n}: bad label name ${ln}`);
        if (ln in labels) throw new Error(`line ${n}: label ${ln} twice`);
        if (l[eq + 1] !== '"') throw new Error(`line ${n}: label value must be quoted`);
        pos = eq + 2;
        let v = '';
        for (;;) {
          if (pos >= l.length) throw new Error(`line ${n}: unterminated label value`);
          const c = l[pos];
          if (c === '"') break;
          if (c === '\\') {
            const e = l[pos + 1];
            if (e === '\\') v += '\\';
            else if (e === '"') v += '"';
            else if (e === 'n') v += '\n';
            else throw new Error(`line ${n}: bad escape \\${e}`);
            pos += 2;
          } else {
            v += c;
            pos++;
          }
        }
        labels[ln] = v;
        pos++;
        if (l[pos] === ',') pos++;
        else if (l[pos] !== '}') throw new Error(`line ${n}: expected , or } after a label`);
      }
      pos++;
    }
    if (l[pos] !== ' ') throw new Error(`line ${n}: expected a space before the value`);
    const parts = l.slice(pos + 1).split(' ');
    if (parts.length > 2 || parts[0] === '') throw new Error(`line ${n}: bad value part`);
    const value = parseValue(parts[0], n);
    if (parts.length === 2 && !/^-?\d+$/.test(parts[1])) throw new Error(`line ${n}: bad timestamp`);
    const fam = familyOf(name, types);
    if (finished.has(fam)) throw new Error(`line ${n}: samples of ${fam} are not contiguous`);
    if (current !== undefined && current !== fam) finished.add(current);
    current = fam;
    let f = families.get(fam);
    if (!f) {
      f = { name: fam, type: 'untyped', samples: [] };
      families.set(fam, f);
    }
    const key = `${name}{${Object.keys(labels)
      .sort()
      .map((k) => `${k}=${JSON.stringify(labels[k])}`)
      .join(',')}}`;
    if (series.has(key)) throw new Error(`line ${n}: duplicate series ${key}`);
    series.add(key);
    f.samples.push({ name, labels, value });
  });
  for (const f of families.values()) if (f.type === 'histogram') checkHistogram(f);
  return families;
}

function checkHistogram(f: Family): void {
  const groups = new Map<string, { buckets: [number, number][]; count?: number; sum?: number }>();
  for (const s of f.samples) {
    const { le, ...rest } = s.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    let g = groups.get(key);
    if (!g) {
      g = { buckets: [] };
      groups.set(key, g);
    }
    if (s.name === `${f.name}_bucket`) {
      if (le === undefined) throw new Error(`${f.name}: bucket without le`);
      g.buckets.push([parseValue(le, 0), s.value]);
    } else if (s.name === `${f.name}_count`) g.count = s.value;
    else if (s.name === `${f.name}_sum`) g.sum = s.value;
    else throw new Error(`${f.name}: unexpected sample ${s.name}`);
  }
  for (const [key, g] of groups) {
    const b = g.buckets.sort((x, y) => x[0] - y[0]);
    if (b.length === 0 || b[b.length - 1][0] !== Number.POSITIVE_INFINITY)
      throw new Error(`${f.name}${key}: no +Inf bucket`);
    for (let i = 1; i < b.length; i++)
      if (b[i][1] < b[i - 1][1]) throw new Error(`${f.name}${key}: buckets not cumulative`);
    if (g.count === undefined || g.sum === undefined)
      throw new Error(`${f.name}${key}: _count or _sum missing`);
    if (g.count !== b[b.length - 1][1])
      throw new Error(`${f.name}${key}: _count differs from the +Inf bucket`);
  }
}

/** Sum of the samples named `name` whose labels include `match`. */
export function sampleValue(
  families: Map<string, Family>,
  name: string,
  match: Readonly<Record<string, string>> = {},
): number {
  let total = 0;
  for (const f of families.values()) {
    for (const s of f.samples) {
      if (s.name !== name) continue;
      if (Object.entries(match).every(([k, v]) => s.labels[k] === v)) total += s.value;
    }
  }
  return total;
}
