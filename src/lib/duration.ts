/**
 * Durations as Istio writes them: Go's time.ParseDuration syntax ("1.5s", "300ms", "1h30m",
 * "10us"), which also covers protobuf JSON's "1.500s". Values are kept in milliseconds
 * (fractions allowed) inside Mizzen and turned into proto3-JSON ("1.500s") at the xDS edge.
 */
const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};
const PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;

/** Parses a duration to milliseconds, or returns undefined when it is not one. */
export function parseDuration(text: string): number | undefined {
  if (typeof text !== 'string' || text.length === 0) return undefined;
  let i = 0;
  let sign = 1;
  if (text[0] === '-' || text[0] === '+') {
    sign = text[0] === '-' ? -1 : 1;
    i = 1;
  }
  if (text.slice(i) === '0') return 0;
  let total = 0;
  let parts = 0;
  while (i < text.length) {
    PART.lastIndex = i;
    const m = PART.exec(text);
    if (!m) return undefined;
    total += Number(m[1]) * UNIT_MS[m[2]];
    i = PART.lastIndex;
    parts++;
  }
  return parts > 0 ? sign * total : undefined;
}

/** proto3 JSON form of a duration: seconds with up to nanosecond precision and an "s". */
export function formatProtoDuration(ms: number): string {
  const nanos = Math.round(ms * 1e6);
  const seconds = Math.trunc(nanos / 1e9);
  const frac = Math.abs(nanos % 1e9);
  if (frac === 0) return `${seconds}s`;
  const sign = nanos < 0 && seconds === 0 ? '-' : '';
  let digits = String(frac).padStart(9, '0');
  digits = digits.endsWith('000000')
    ? digits.slice(0, 3)
    : digits.endsWith('000')
      ? digits.slice(0, 6)
      : digits;
  return `${sign}${seconds}.${digits}s`;
}

/** Short human form for tables and messages: 1500 -> "1.5s", 300 -> "300ms". */
export function formatDuration(ms: number): string {
  if (ms !== 0 && Math.abs(ms) < 1) return `${+(ms * 1000).toFixed(3)}us`;
  if (Math.abs(ms) < 1000) return `${+ms.toFixed(3)}ms`;
  if (Math.abs(ms) < 60_000 || ms % 60_000 !== 0) return `${+(ms / 1000).toFixed(3)}s`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  return `${ms / 60_000}m`;
}
