/**
 * The push queue (Istio's PushQueue): at most one entry per connection, later pushes merged into
 * the waiting one; a push that arrives while its connection is being processed is kept and
 * re-queued when that finishes. Work runs in batches of at most `concurrency` items per turn
 * of the event loop (setImmediate between batches), so incoming ACKs and requests are read
 * between batches however large the storm.
 */
import { logger } from '../../lib/log.ts';

const log = logger('pilot:push-queue');

export interface PushQueueOptions<K, V> {
  /** Items processed at once, and items started per event-loop turn. */
  readonly concurrency: number;
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
    this.#options = options;
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
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#run();
    });
  }

  #run(): void {
    let started = 0;
    while (started < this.#options.concurrency && this.#processing.size < this.#options.concurrency) {
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
