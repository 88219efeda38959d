/**
 * What every sample workload receives and returns: its identity and bind address in, a running
 * server with its real port and a graceful `close` out.
 */
import type { SampleEnv } from './env.ts';
import type { SampleLog } from './log.ts';

export interface WorkloadContext {
  readonly name: string;
  readonly version: string;
  readonly host: string;
  /** 0 picks a free port; the running workload reports the real one. */
  readonly port: number;
  /** Workload-specific settings (upstream URLs, failure modes, …). */
  readonly env: SampleEnv;
  readonly log: SampleLog;
}

export interface Workload {
  readonly name: string;
  readonly version: string;
  readonly host: string;
  readonly port: number;
  /**
   * Stops accepting, lets in-flight requests finish, then closes. Connections still open after
   * `graceMs` are destroyed. Resolves when everything is closed; safe to call twice.
   */
  close(graceMs?: number): Promise<void>;
}

export const DEFAULT_GRACE_MS = 10_000;

/** Waits for `done`, destroying what is left via `force` once `graceMs` has passed. */
export async function withGrace(done: Promise<void>, graceMs: number, force: () => void): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      force();
      resolve();
    }, graceMs);
  });
  try {
    await Promise.race([done, expired]);
    await done;
  } finally {
    clearTimeout(timer);
  }
}
