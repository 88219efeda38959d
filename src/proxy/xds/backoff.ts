/**
 * Jittered exponential backoff for reconnecting to the control plane: the ceiling doubles from
 * `baseMs` per failed attempt up to `maxMs`, and each delay is drawn from [ceiling/2, ceiling)
 * ("equal jitter") so that a fleet of proxies restarted together does not reconnect in lockstep,
 * while no delay ever collapses to zero and spins.
 */
export interface BackoffOptions {
  /** First ceiling (default 500 ms). */
  readonly baseMs?: number;
  /** Largest ceiling (default 30 s). */
  readonly maxMs?: number;
  /** Uniform [0, 1) source; injectable for tests. */
  readonly random?: () => number;
}

export class Backoff {
  readonly baseMs: number;
  readonly maxMs: number;
  readonly #random: () => number;
  #attempt = 0;

  constructor(options: BackoffOptions = {}) {
    const baseMs = options.baseMs ?? 500;
    const maxMs = options.maxMs ?? 30_000;
    if (!(Number.isFinite(baseMs) && baseMs > 0)) {
      throw new RangeError(`backoff.baseMs must be a positive number of milliseconds, got ${baseMs}`);
    }
    if (!(Number.isFinite(maxMs) && maxMs >= baseMs)) {
      throw new RangeError(`backoff.maxMs must be at least baseMs (${baseMs}), got ${maxMs}`);
    }
    this.baseMs = baseMs;
    this.maxMs = maxMs;
    this.#random = options.random ?? Math.random;
  }

  /** Failed attempts since the last reset. */
  get attempts(): number {
    return this.#attempt;
  }

  /** The delay before the next attempt; counts one more failed attempt. */
  next(): number {
    const ceiling = Math.min(this.maxMs, this.baseMs * 2 ** Math.min(this.#attempt, 30));
    this.#attempt++;
    const r = Math.min(Math.max(this.#random(), 0), 1);
    return Math.round(ceiling / 2 + (r * ceiling) / 2);
  }

  /** After a success: the next delay starts from the base again. */
  reset(): void {
    this.#attempt = 0;
  }
}
