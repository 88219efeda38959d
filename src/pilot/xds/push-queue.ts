/**
 * The push queue (Istio's PushQueue): at most one entry per connection, later pushes merged into
 * the waiting one; a push that arrives while its connection is being processed is kept and
 * re-queued when that finishes. Work runs in batches (setImmediate between batches), each
 * ending after `maxPerTurn` items or `sliceMs` of synchronous work, whichever comes first, so
 * incoming ACKs, pings and requests are read between batches however large the storm. An
 * optional `admit` gate (e.g. a budget of bytes in flight) stops starting items until `wake()`.
 */
import { logger } from '../../lib/log.ts';

const log = logger('pilot:push-queue');

export interface PushQueueOptions<K, V> {
  /** Items processed at once (an item holds its slot while its promise is pending). */
  readonly concurrency: number;
  /** Items started per event-loop turn (default: `concurrency`). */
  readonly maxPerTurn?: number;
  /** A turn also ends after this much synchronous work (default: unbounded). */
  readonly sliceMs?: number;
  /** Checked before each start; when false, nothing starts until `wake()` is called. */
  readonly admit?: () => boolean;
  /** Clock for `sliceMs` (tests); default performance.now. */
  readonly now?: () => number;
  readonly merge: (older: V, newer: V) => V;
  /** Synchronous, or a promise that holds the slot until settled. */
  readonly process: (key: K, value: V) => void | Promise<void>;
}

export class PushQueue<K, V> {
  readonly #options: PushQueueOptions<K, V>;
  /** FIFO of keys waiting; `#head` avoids O(n) shifts. */
  #order: K[] = [];
  #head = 0;
  readonly #waiting = new Map<K, V>();
  readonly #processing = new Set<K>();
  /** Pushes for keys that were being processed when they arrived. */
  readonly #again = new Map<K, V>();
  #scheduled = false;
  #closed = false;
  #idleWaiters: (() => void)[] = [];

  constructor(options: PushQueueOptions<K, V>) {
    if (!Number.isInteger(options.concurrency) || options.concurrency < 1) {
      throw new RangeError(`push queue concurrency must be a positive integer, got ${options.concurrency}`);
    }
    const perTurn = options.maxPerTurn ?? options.concurrency;
    if (!(perTurn >= 1)) throw new RangeError(`push queue maxPerTurn must be at least 1, got ${perTurn}`);
    this.#maxPerTurn = perTurn;
    this.#sliceMs = options.sliceMs ?? Number.POSITIVE_INFINITY;
    this.#now = options.now ?? (() => performance.now());
    this.#options = options;
  }

  readonly #maxPerTurn: number;
  readonly #sliceMs: number;
  readonly #now: () => number;

  /** Re-checks the `admit` gate (call when what it depends on went down). */
  wake(): void {
    this.#schedule();
  }

  /** Number of keys waiting (not counting those being processed). */
  get pending(): number {
    return this.#waiting.size;
  }
  get inProgress(): number {
    return this.#processing.size;
  }

  enqueue(key: K, value: V): void {
    if (this.#closed) return;
    if (this.#processing.has(key)) {
      const again = this.#again.get(key);
      this.#again.set(key, again === undefined ? value : this.#options.merge(again, value));
      return;
    }
    const waiting = this.#waiting.get(key);
    if (waiting !== undefined) {
      this.#waiting.set(key, this.#options.merge(waiting, value));
      return;
    }
    this.#waiting.set(key, value);
    this.#order.push(key);
    this.#schedule();
  }

  /**
   * Merges `value` into the key's waiting entry, if it has one (it then runs with the newer
   * value when its turn comes); false, and nothing queued, when the key is not waiting.
   */
  mergeIfWaiting(key: K, value: V): boolean {
    if (this.#closed) return false;
    const waiting = this.#waiting.get(key);
    if (waiting === undefined) return false;
    this.#waiting.set(key, this.#options.merge(waiting, value));
    return true;
  }

  /** Drops a key (its connection closed). */
  remove(key: K): void {
    this.#waiting.delete(key); // its slot in #order is skipped when reached
    this.#again.delete(key);
    this.#maybeIdle();
  }

  /** Resolves when nothing is waiting or in progress. */
  idle(): Promise<void> {
    if (this.#isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  close(): void {
    this.#closed = true;
    this.#waiting.clear();
    this.#again.clear();
    this.#order = [];
    this.#head = 0;
    this.#maybeIdle();
  }

  #isIdle(): boolean {
    return this.#waiting.size === 0 && this.#processing.size === 0 && this.#again.size === 0;
  }

  #maybeIdle(): void {
    if (!this.#isIdle() || this.#idleWaiters.length === 0) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const w of waiters) w();
  }

  #schedule(): void {
    if (this.#scheduled || this.#closed || this.#waiting.size === 0) return;
    if (this.#processing.size >= this.#options.concurrency) return;
    if (this.#options.admit && !this.#options.admit()) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#run();
    });
  }

  #run(): void {
    let started = 0;
    const admit = this.#options.admit;
    const sliceEnd = this.#now() + this.#sliceMs;
    while (started < this.#maxPerTurn && this.#processing.size < this.#options.concurrency) {
      if (started > 0 && this.#now() >= sliceEnd) break;
      if (admit && !admit()) break;
      const key = this.#next();
      if (key === undefined) break;
      const value = this.#waiting.get(key) as V;
      this.#waiting.delete(key);
      this.#processing.add(key);
      started++;
      let result: void | Promise<void>;
      try {
        result = this.#options.process(key, value);
      } catch (err) {
        log.error('push failed', { err });
        result = undefined;
      }
      if (result && typeof result.then === 'function') {
        result.then(
          () => this.#done(key),
          (err: unknown) => {
            log.error('push failed', { err });
            this.#done(key);
          },
        );
      } else {
        this.#done(key, false);
      }
    }
    if (this.#head > 1024 && this.#head * 2 > this.#order.length) {
      this.#order = this.#order.slice(this.#head);
      this.#head = 0;
    }
    this.#schedule();
    this.#maybeIdle();
  }

  #next(): K | undefined {
    while (this.#head < this.#order.length) {
      const key = this.#order[this.#head++];
      if (this.#waiting.has(key)) return key;
    }
    return undefined;
  }

  #done(key: K, reschedule = true): void {
    this.#processing.delete(key);
    const again = this.#again.get(key);
    if (again !== undefined) {
      this.#again.delete(key);
      if (!this.#closed) {
        const waiting = this.#waiting.get(key);
        if (waiting === undefined) {
          this.#waiting.set(key, again);
          this.#order.push(key);
        } else {
          this.#waiting.set(key, this.#options.merge(again, waiting));
        }
      }
    }
    if (reschedule) {
      this.#schedule();
      this.#maybeIdle();
    }
  }
}
