/**
 * Trailing debounce with a ceiling: `trigger()` (re)starts a quiet-period timer of `delayMs`;
 * the action runs once when no trigger came for `delayMs`, or at the latest `maxDelayMs` after
 * the first trigger of the burst, so a steady stream of triggers cannot starve it (Istio's
 * PILOT_DEBOUNCE_AFTER / PILOT_DEBOUNCE_MAX). Uses only setTimeout, so `node:test` mock timers
 * drive it in tests.
 */
import { ErrorCode, MizzenError } from './errors.ts';

export interface DebounceOptions {
  /** Quiet period after the last trigger, in milliseconds (>= 0). */
  readonly delayMs: number;
  /** Longest wait after the first trigger of a burst, in milliseconds (>= delayMs). */
  readonly maxDelayMs?: number;
}

export class Debouncer {
  readonly delayMs: number;
  readonly maxDelayMs: number;
  readonly #action: () => void;
  #quiet: NodeJS.Timeout | undefined;
  #ceiling: NodeJS.Timeout | undefined;

  constructor(action: () => void, options: DebounceOptions) {
    const { delayMs, maxDelayMs = Math.max(delayMs * 10, delayMs) } = options;
    if (!Number.isFinite(delayMs) || delayMs < 0) {
      throw new MizzenError(
        ErrorCode.INVALID_ARGUMENT,
        `debounce delayMs must be a finite number >= 0, got ${delayMs}`,
      );
    }
    if (!Number.isFinite(maxDelayMs) || maxDelayMs < delayMs) {
      throw new MizzenError(
        ErrorCode.INVALID_ARGUMENT,
        `debounce maxDelayMs must be a finite number >= delayMs (${delayMs}), got ${maxDelayMs}`,
      );
    }
    this.#action = action;
    this.delayMs = delayMs;
    this.maxDelayMs = maxDelayMs;
  }

  /** True while a run is scheduled. */
  get pending(): boolean {
    return this.#quiet !== undefined;
  }

  trigger(): void {
    if (this.#quiet !== undefined) clearTimeout(this.#quiet);
    this.#quiet = setTimeout(() => this.#fire(), this.delayMs);
    if (this.#ceiling === undefined && this.maxDelayMs > this.delayMs) {
      this.#ceiling = setTimeout(() => this.#fire(), this.maxDelayMs);
    }
  }

  /** Runs the action now if a run is scheduled. */
  flush(): void {
    if (this.pending) this.#fire();
  }

  /** Drops a scheduled run. */
  cancel(): void {
    if (this.#quiet !== undefined) clearTimeout(this.#quiet);
    if (this.#ceiling !== undefined) clearTimeout(this.#ceiling);
    this.#quiet = undefined;
    this.#ceiling = undefined;
  }

  #fire(): void {
    this.cancel();
    this.#action();
  }
}
