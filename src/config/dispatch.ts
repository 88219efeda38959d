/**
 * Delivery of store events to one handler. Producers only enqueue (never wait for a handler);
 * the handler is called later, one event at a time, awaiting it when it returns a promise, in
 * the order the store produced the events.
 *
 * The queue is bounded. When a handler falls `capacity` events behind, its queue switches to
 * coalescing: one pending entry per object holding what the handler last saw and the newest
 * state, so memory stays bounded by the number of objects however fast changes come. The
 * handler then receives the net change per object (an add followed by a delete cancels out),
 * still in order per object, and never a state older than one it has already seen. The queue
 * returns to plain FIFO once it has drained.
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { type ConfigKey, type ConfigResource, formatConfigKey } from '../api/resource.ts';
import { errorMessage } from '../lib/errors.ts';
import type { Logger } from '../lib/log.ts';

export type ConfigEventType = 'add' | 'update' | 'delete';

export interface ConfigEvent {
  readonly type: ConfigEventType;
  readonly key: ConfigKey;
  /** Store revision that produced the event (the resourceVersion of `current` for add/update). */
  readonly revision: number;
  /** Set on the adds a handler receives for objects that existed when it registered. */
  readonly replay?: boolean;
  /** Set when the event stands for several changes merged while the handler was behind. */
  readonly coalesced?: boolean;
}

/**
 * `previous` is the object before the change (undefined for add), `current` after it
 * (undefined for delete). A returned promise is awaited before the next event is delivered.
 */
export type ConfigHandler = (
  previous: ConfigResource | undefined,
  current: ConfigResource | undefined,
  event: ConfigEvent,
) => void | Promise<void>;

interface Pending {
  readonly id: string;
  readonly key: ConfigKey;
  readonly previous: ConfigResource | undefined;
  current: ConfigResource | undefined;
  revision: number;
  /** Revision of the oldest change merged into this entry. */
  readonly firstRevision: number;
  replay: boolean;
  coalesced: boolean;
}

/** Events handed over per turn of the event loop before yielding to I/O. */
const BATCH = 512;

export class HandlerQueue {
  readonly name: string;
  readonly kind: string;
  readonly capacity: number;
  readonly #handler: ConfigHandler;
  readonly #log: Logger;
  readonly #onDelivered: () => void;
  /** FIFO of pending events: `#fifo[#head..]`. */
  #fifo: Pending[] = [];
  #head = 0;
  /** Set while coalescing; insertion order is the delivery order. */
  #merged: Map<string, Pending> | undefined;
  #inflight: Pending | undefined;
  #running = false;
  #closed = false;
  #overflows = 0;

  constructor(options: {
    name: string;
    kind: string;
    capacity: number;
    handler: ConfigHandler;
    log: Logger;
    onDelivered: () => void;
  }) {
    this.name = options.name;
    this.kind = options.kind;
    this.capacity = options.capacity;
    this.#handler = options.handler;
    this.#log = options.log;
    this.#onDelivered = options.onDelivered;
  }

  /** Times the handler fell `capacity` behind (each starts a coalescing episode). */
  get overflows(): number {
    return this.#overflows;
  }

  get pending(): number {
    return (this.#merged?.size ?? this.#fifo.length - this.#head) + (this.#inflight ? 1 : 0);
  }

  get idle(): boolean {
    return this.pending === 0;
  }

  /** Revision of the oldest change not yet fully handled, or Infinity when idle. */
  oldestPendingRevision(): number {
    if (this.#inflight) return this.#inflight.firstRevision;
    if (this.#merged) {
      const first = this.#merged.values().next();
      return first.done ? Infinity : first.value.firstRevision;
    }
    return this.#head < this.#fifo.length ? this.#fifo[this.#head].firstRevision : Infinity;
  }

  push(
    key: ConfigKey,
    previous: ConfigResource | undefined,
    current: ConfigResource | undefined,
    revision: number,
    replay = false,
  ): void {
    if (this.#closed) return;
    const entry: Pending = {
      id: formatConfigKey(key),
      key,
      previous,
      current,
      revision,
      firstRevision: revision,
      replay,
      coalesced: false,
    };
    if (this.#merged) this.#merge(entry);
    else if (this.#fifo.length - this.#head >= this.capacity) {
      this.#overflows++;
      this.#log.warn('config handler fell behind; coalescing its events per object', {
        handler: this.name,
        kind: this.kind,
        capacity: this.capacity,
      });
      this.#merged = new Map();
      for (let i = this.#head; i < this.#fifo.length; i++) this.#merge(this.#fifo[i]);
      this.#fifo = [];
      this.#head = 0;
      this.#merge(entry);
    } else this.#fifo.push(entry);
    if (!this.#running) {
      this.#running = true;
      queueMicrotask(() => void this.#drain());
    }
  }

  close(): void {
    this.#closed = true;
    this.#fifo = [];
    this.#head = 0;
    this.#merged = undefined;
  }

  #merge(entry: Pending): void {
    const merged = this.#merged!;
    const existing = merged.get(entry.id);
    if (!existing) {
      merged.set(entry.id, entry);
      return;
    }
    existing.current = entry.current;
    existing.revision = entry.revision;
    existing.replay &&= entry.replay;
    existing.coalesced = true;
  }

  #take(): Pending | undefined {
    if (this.#merged) {
      const first = this.#merged.values().next();
      if (first.done) {
        this.#merged = undefined;
        return undefined;
      }
      this.#merged.delete(first.value.id);
      if (this.#merged.size === 0) this.#merged = undefined;
      return first.value;
    }
    if (this.#head >= this.#fifo.length) return undefined;
    const next = this.#fifo[this.#head++];
    // Compact now and then instead of shifting on every take.
    if (this.#head > 1024 && this.#head * 2 > this.#fifo.length) {
      this.#fifo = this.#fifo.slice(this.#head);
      this.#head = 0;
    }
    return next;
  }

  async #drain(): Promise<void> {
    let delivered = 0;
    try {
      for (let p = this.#take(); p && !this.#closed; p = this.#take()) {
        const type = eventType(p);
        if (type) {
          this.#inflight = p;
          const event: ConfigEvent = {
            type,
            key: p.key,
            revision: p.revision,
            ...(p.replay ? { replay: true } : {}),
            ...(p.coalesced ? { coalesced: true } : {}),
          };
          try {
            const result = this.#handler(p.previous, p.current, event);
            if (result && typeof (result as Promise<void>).then === 'function') await result;
          } catch (err) {
            this.#log.error('config handler failed', {
              handler: this.name,
              event: type,
              key: p.id,
              error: errorMessage(err),
            });
          }
          this.#inflight = undefined;
          this.#onDelivered();
        }
        if (++delivered % BATCH === 0) await yieldToLoop();
      }
    } finally {
      this.#inflight = undefined;
      this.#running = false;
      this.#onDelivered();
    }
  }
}

function eventType(p: Pending): ConfigEventType | undefined {
  if (p.previous === undefined) return p.current === undefined ? undefined : 'add';
  if (p.current === undefined) return 'delete';
  // Defensive: a merged entry ending on the very object the handler already has is no change.
  return p.previous === p.current ? undefined : 'update';
}
