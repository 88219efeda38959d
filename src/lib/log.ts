/**
 * Scoped structured loggers: `const log = logger('config:file')`. One line per event, either
 * `key=value` text (default) or JSON (`MIZZEN_LOG_FORMAT=json`), on stderr. Debug is off unless
 * the level is lowered with `setLogLevel` or `MIZZEN_LOG_LEVEL`.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'none';
const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, none: 100 };

let threshold = LEVELS[(process.env.MIZZEN_LOG_LEVEL as LogLevel) ?? 'info'] ?? LEVELS.info;
let json = process.env.MIZZEN_LOG_FORMAT === 'json';
let sink: (line: string) => void = (line) => process.stderr.write(`${line}\n`);

export function isLogLevel(value: string): value is LogLevel {
  return Object.hasOwn(LEVELS, value);
}
export function setLogLevel(level: LogLevel): void {
  threshold = LEVELS[level];
}
export function setLogFormat(format: 'text' | 'json'): void {
  json = format === 'json';
}
/** Redirects output (tests capture lines with this). Returns the previous sink. */
export function setLogSink(next: (line: string) => void): (line: string) => void {
  const previous = sink;
  sink = next;
  return previous;
}

export type Fields = Record<string, unknown>;
export interface Logger {
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
  enabled(level: LogLevel): boolean;
}

function formatValue(v: unknown): string {
  if (v instanceof Error) return JSON.stringify(v.message);
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return /[\s"=]/.test(s ?? '') ? JSON.stringify(s) : (s ?? 'undefined');
}

function emit(scope: string, level: LogLevel, msg: string, fields?: Fields): void {
  if (LEVELS[level] < threshold) return;
  const time = new Date().toISOString();
  if (json) {
    const rest: Fields = {};
    for (const [k, v] of Object.entries(fields ?? {})) rest[k] = v instanceof Error ? v.message : v;
    sink(JSON.stringify({ time, level, scope, msg, ...rest }));
    return;
  }
  let line = `${time} ${level.padEnd(5)} ${scope} ${msg}`;
  for (const [k, v] of Object.entries(fields ?? {})) line += ` ${k}=${formatValue(v)}`;
  sink(line);
}

export function logger(scope: string): Logger {
  return {
    debug: (m, f) => emit(scope, 'debug', m, f),
    info: (m, f) => emit(scope, 'info', m, f),
    warn: (m, f) => emit(scope, 'warn', m, f),
    error: (m, f) => emit(scope, 'error', m, f),
    enabled: (level) => LEVELS[level] >= threshold,
  };
}
