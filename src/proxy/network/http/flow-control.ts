import type { Http2Stream } from 'node:http2';
import type { Pausable } from '../write-buffer.ts';

/**
 * Reasons a downstream HTTP connection stops reading (bits, so several can hold at once):
 * too many pipelined bytes waiting, the upstream socket is full, or the router's request
 * buffer is full while it waits for an upstream connection. Reading resumes when none is left.
 */
export const PAUSE_STASH = 1;
export const PAUSE_UPSTREAM_FULL = 2;
export const PAUSE_BODY_BUFFER = 4;

/**
 * Sources paused until one HTTP/2 stream's send buffer drains (downstream and upstream h2
 * streams alike). Created only when a source first has to wait, so a stream that never fills
 * its buffer costs no object and no 'drain' listener.
 */
export class StreamDrainWaiters {
  private waiters: Pausable[] | null = null;
  private readonly stream: Http2Stream;
  private listening = false;

  constructor(stream: Http2Stream) {
    this.stream = stream;
  }

  /** Pauses `source` (once) until the stream's next 'drain'. */
  wait(source: Pausable): void {
    if (!this.listening) {
      this.listening = true;
      this.stream.on('drain', () => this.release());
    }
    const w = (this.waiters ??= []);
    if (!w.includes(source)) {
      w.push(source);
      source.pauseReading();
    }
  }

  /** Resumes every waiting source (on 'drain', or when the stream is reset). */
  release(): void {
    const w = this.waiters;
    if (w === null) return;
    this.waiters = null;
    for (const p of w) p.resumeReading();
  }
}
