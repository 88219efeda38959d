/**
 * The samples' own one-line logger (they are plain applications and share no code with the
 * mesh). Lines go to stderr as `time level name=.. version=.. msg k=v`; stdout is kept for the
 * single `ready` line a supervisor waits for.
 */
export type LogSink = (line: string) => void;

export interface SampleLog {
  info(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  /** Per-request lines, only when LOG_REQUESTS is on (they would drown the demo's output). */
  access(msg: string, fields?: Record<string, unknown>): void;
}

export const stderrSink: LogSink = (line) => {
  process.stderr.write(`${line}\n`);
};

function format(v: unknown): string {
  const s = v instanceof Error ? v.message : typeof v === 'string' ? v : JSON.stringify(v);
  return /[\s"=]/.test(s ?? '') ? JSON.stringify(s) : String(s);
}

export function createLog(name: string, version: string, sink: LogSink, accessEnabled: boolean): SampleLog {
  const emit = (level: string, msg: string, fields?: Record<string, unknown>) => {
    let line = `${new Date().toISOString()} ${level} name=${name} version=${version} ${msg}`;
    for (const [k, v] of Object.entries(fields ?? {})) line += ` ${k}=${format(v)}`;
    sink(line);
  };
  return {
    info: (m, f) => emit('info', m, f),
    error: (m, f) => emit('error', m, f),
    access: (m, f) => {
      if (accessEnabled) emit('info', m, f);
    },
  };
}
