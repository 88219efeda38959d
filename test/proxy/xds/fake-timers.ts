/**
 * Fake timers handed to the XdsClient through its `timers` option. node:test's global
 * `mock.timers` cannot be used here: it would also freeze grpc-js's own timers, and its
 * clearTimeout breaks on timers grpc-js created before mocking (a TypeError in
 * mock_timers' priority queue). Injecting keeps gRPC on real time and the client on test time.
 */
import type { Timers } from '../../../src/proxy/xds/warming.ts';

interface Timer {
  readonly id: number;
  readonly at: number;
  readonly fn: () => void;
}

export class FakeTimers implements Timers {
  #now = 0;
  #seq = 0;
  readonly #timers = new Map<number, Timer>();

  setTimeout(fn: () => void, ms: number): unknown {
    const t = { id: ++this.#seq, at: this.#now + Math.max(0, ms), fn };
    this.#timers.set(t.id, t);
    return t.id;
  }

  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as number);
  }

  /** Timers waiting to fire, with their delay from now (sorted). */
  pending(): number[] {
    return [...this.#timers.values()].map((t) => t.at - this.#now).sort((a, b) => a - b);
  }

  /** Advances the clock by `ms`, firing due timers in order (including ones they schedule). */
  tick(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      let next: Timer | undefined;
      for (const t of this.#timers.values()) {
        if (t.at <= end && (!next || t.at < next.at || (t.at === next.at && t.id < next.id))) next = t;
      }
      if (!next) break;
      this.#timers.delete(next.id);
      this.#now = next.at;
      next.fn();
    }
    this.#now = end;
  }
}
