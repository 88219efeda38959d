/**
 * Debounce of push requests (Istio's PILOT_DEBOUNCE_AFTER / PILOT_DEBOUNCE_MAX): requests are
 * merged until `afterMs` passed without a new one, or `maxMs` since the first of the burst;
 * then one push runs with the merged request. Only one push runs at a time — requests arriving
 * meanwhile form the next burst. Requests for which `bypass` is true (EDS when
 * PILOT_ENABLE_EDS_DEBOUNCE is off) push at once. The timing is lib/debounce.ts; this adds the
 * merging and the single flight. One timer pair per debouncer, never per proxy.
 */
import { Debouncer } from '../../lib/debounce.ts';
import { logger } from '../../lib/log.ts';

const log = logger('pilot:debounce');

export interface PushDebounceOptions<T> {
  readonly afterMs: number;
  readonly maxMs: number;
  readonly merge: (older: T, newer: T) => T;
  /** Runs one merged push; the next one waits until its promise settles. */
  readonly push: (value: T, info: { events: number; waitedMs: number }) => void | Promise<void>;
  readonly bypass?: (value: T) => boolean;
  /** Clock for `waitedMs`; Date.now by default (mockable with node:test timers). */
  readonly now?: () => number;
}

export class PushDebouncer<T> {
  readonly #o: PushDebounceOptions<T>;
  readonly #now: () => number;
  readonly #timer: Debouncer;
  #value: T | undefined;
  #events = 0;
  #firstAt = 0;
  #busy = false;
  /** The quiet period ended while a push was running: push as soon as it is done. */
  #due = false;
  #closed = false;

  constructor(options: PushDebounceOptions<T>) {
    if (!(options.afterMs >= 0) || !(options.maxMs >= options.afterMs)) {
      throw new RangeError(
        `push debounce: need 0 <= afterMs <= maxMs, got afterMs=${options.afterMs} maxMs=${options.maxMs}`,
      );
    }
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.#timer = new Debouncer(() => this.#fire(), { delayMs: options.afterMs, maxDelayMs: options.maxMs });
  }

  /** Requests merged and not yet pushed. */
  get pendingEvents(): number {
    return this.#events;
  }

  enqueue(value: T): void {
    if (this.#closed) return;
    if (this.#o.bypass?.(value)) {
      void this.#run(value, { events: 1, waitedMs: 0 }, false);
      return;
    }
    if (this.#events === 0) this.#firstAt = this.#now();
    this.#events++;
    this.#value = this.#value === undefined ? value : this.#o.merge(this.#value, value);
    this.#timer.trigger();
  }

  /** Stops the timers and drops what is pending. */
  close(): void {
    this.#closed = true;
    this.#timer.cancel();
    this.#value = undefined;
    this.#events = 0;
  }

  #fire(): void {
    if (this.#closed || this.#value === undefined) return;
    if (this.#busy) {
      this.#due = true;
      return;
    }
    const value = this.#value;
    const info = { events: this.#events, waitedMs: this.#now() - this.#firstAt };
    this.#value = undefined;
    this.#events = 0;
    void this.#run(value, info, true);
  }

  async #run(value: T, info: { events: number; waitedMs: number }, serial: boolean): Promise<void> {
    if (serial) this.#busy = true;
    try {
      await this.#o.push(value, info);
    } catch (err) {
      log.error('push failed', { err });
    } finally {
      if (serial) {
        this.#busy = false;
        if (this.#due) {
          this.#due = false;
          this.#fire();
        }
      }
    }
  }
}
