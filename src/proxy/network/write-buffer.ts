/**
 * Batched socket output. Everything the proxy writes for one I/O event (a response head, its
 * body, the next pipelined response...) is appended into one buffer and handed to the socket
 * in a single write at the end of the event (a microtask), so a small proxied request costs one
 * write syscall per direction.
 *
 * The buffer is reused when the kernel took the whole write synchronously (writableLength is
 * 0 afterwards); otherwise the pending write owns it and a fresh one is allocated. Bodies larger
 * than COPY_LIMIT are written directly, without copying, after whatever is batched.
 *
 * Backpressure: when the socket's own buffer grows past `limit`, sources that feed this writer
 * are paused (`throttle`) and resumed on 'drain'.
 */
import type { Socket } from 'node:net';
import { latin1Write } from '../common/bytes.ts';

const INITIAL = 16 * 1024;
const COPY_LIMIT = 16 * 1024;

/** A data source that can stop and restart reading (a socket owner). */
export interface Pausable {
  pauseReading(): void;
  resumeReading(): void;
}

const dirty: WriteBuffer[] = [];
let scheduled = false;
/** Depth of I/O handlers that promise to flush on exit (no microtask needed inside them). */
let ioDepth = 0;

/** Marks the start of a socket event handler; pair with `exitIo()`, which flushes. */
export function enterIo(): void {
  ioDepth++;
}

export function exitIo(): void {
  if (--ioDepth === 0 && dirty.length > 0) flushAll();
}

function flushAll(): void {
  scheduled = false;
  // A flush may dirty other writers (never itself); loop until quiet.
  for (let i = 0; i < dirty.length; i++) {
    const w = dirty[i];
    w.queued = false;
    w.flush();
  }
  dirty.length = 0;
}

export class WriteBuffer {
  socket: Socket | null;
  buf: Buffer;
  len = 0;
  /** Bytes of socket-side buffering above which sources are throttled. */
  limit: number;
  /** In the dirty list (internal to this module). */
  queued = false;
  private waiters: Pausable[] = [];
  private draining = false;
  /** Total bytes handed to the socket (for byte counters). */
  bytesWritten = 0;

  constructor(socket: Socket | null, limit = 1024 * 1024) {
    this.socket = socket;
    this.buf = Buffer.allocUnsafeSlow(INITIAL);
    this.limit = limit;
  }

  private markDirty(): void {
    if (this.queued) return;
    this.queued = true;
    dirty.push(this);
    // Inside a socket handler the flush happens on its exit; elsewhere (timers, callbacks from
    // other code) a microtask does it.
    if (!scheduled && ioDepth === 0) {
      scheduled = true;
      queueMicrotask(flushAll);
    }
  }

  /** Makes room for n more bytes; returns the buffer to write into at `len`. */
  reserve(n: number): Buffer {
    if (this.len + n > this.buf.length) {
      let size = this.buf.length * 2;
      while (size < this.len + n) size *= 2;
      const next = Buffer.allocUnsafeSlow(size);
      this.buf.copy(next, 0, 0, this.len);
      this.buf = next;
    }
    this.markDirty();
    return this.buf;
  }

  copy(src: Buffer, start: number, end: number): void {
    const n = end - start;
    if (n === 0) return;
    const b = this.reserve(n);
    this.len += src.copy(b, this.len, start, end);
  }

  latin1(s: string): void {
    const b = this.reserve(s.length);
    this.len += latin1Write(b, s, this.len);
  }

  /** Appends body bytes: copied when small, written directly (after the batch) when large. */
  body(src: Buffer, start: number, end: number): void {
    if (end - start <= COPY_LIMIT) {
      this.copy(src, start, end);
      return;
    }
    this.flush();
    this.write(start === 0 && end === src.length ? src : src.subarray(start, end));
  }

  /** Hands the batch to the socket now. */
  flush(): void {
    if (this.len === 0 || this.socket === null) return;
    const view = this.buf.subarray(0, this.len);
    this.len = 0;
    this.write(view);
    if (this.socket !== null && this.socket.writableLength > 0) {
      // The pending write references our bytes: do not overwrite them.
      this.buf = Buffer.allocUnsafeSlow(Math.max(INITIAL, Math.min(this.buf.length, 64 * 1024)));
    }
  }

  private write(chunk: Buffer): void {
    const s = this.socket;
    if (s === null || s.destroyed) return;
    this.bytesWritten += chunk.length;
    s.write(chunk);
    if (s.writableLength > this.limit && !this.draining) {
      this.draining = true;
      s.once('drain', this.onDrain);
    }
  }

  private onDrain = (): void => {
    this.draining = false;
    const w = this.waiters;
    this.waiters = [];
    for (const p of w) p.resumeReading();
  };

  /** Whether the socket is over its limit: the caller should throttle its source. */
  get blocked(): boolean {
    return this.draining;
  }

  /** Pauses `source` until this writer drains (no-op when not blocked). */
  throttle(source: Pausable): void {
    if (!this.draining) return;
    if (!this.waiters.includes(source)) {
      this.waiters.push(source);
      source.pauseReading();
    }
  }

  /** Drops waiters (the source went away). */
  forget(source: Pausable): void {
    const i = this.waiters.indexOf(source);
    if (i >= 0) this.waiters.splice(i, 1);
  }

  /** Flushes and half-closes the socket. */
  end(): void {
    this.flush();
    const s = this.socket;
    if (s !== null && !s.destroyed && s.writable) s.end();
  }

  detach(): void {
    this.socket = null;
    this.len = 0;
    const w = this.waiters;
    this.waiters = [];
    for (const p of w) p.resumeReading();
  }
}

/** Flushes every pending batch now (used before handing a socket to another owner). */
export function flushPendingWrites(): void {
  if (dirty.length > 0) flushAll();
}

/** Read slab size; a fresh slab once less than READ_MIN is left in the current one. */
const READ_SLAB = 64 * 1024;
const READ_MIN = 16 * 1024;

/**
 * Direct socket reads (net's `onread`): no Readable push, 'data' event or read-more tick per
 * read. The kernel reads into the unused tail of a slab, so bytes already handed to `sink` are
 * never overwritten (they may be stashed, or referenced by a pending large write); a slab with
 * less than READ_MIN left is replaced, not reused.
 */
export class SlabReader {
  private slab: Buffer = Buffer.allocUnsafeSlow(READ_SLAB);
  private offset = 0;
  private readonly sink: (chunk: Buffer) => void;

  constructor(sink: (chunk: Buffer) => void) {
    this.sink = sink;
  }

  /** The buffer the next read goes into (net calls this after every read). */
  next = (): Buffer => {
    if (this.slab.length - this.offset < READ_MIN) {
      this.slab = Buffer.allocUnsafeSlow(READ_SLAB);
      this.offset = 0;
    }
    return this.slab.subarray(this.offset);
  };

  /** `buf` is what `next` returned last: it starts at `offset` of the current slab. */
  onRead = (n: number, buf: Uint8Array): boolean => {
    this.offset += n;
    this.sink((buf as Buffer).subarray(0, n));
    return true; // false would stop reading; flow control uses socket.pause() instead
  };
}

interface UserBufferHandle {
  useUserBuffer(buf: Buffer): void;
}

let readSymbols: { buffer: symbol; callback: symbol; gen: symbol } | null | undefined;

/**
 * Switches an accepted plain TCP socket to direct reads into `sink` from its next read on.
 * net.Server has no `onread` option, so this sets the same (internal) per-socket fields that
 * `net.connect({ onread })` sets; when this Node does not have them, or the socket is not plain
 * TCP (TLS, HTTP/2 sessions...), it returns false and the caller keeps its 'data' listener.
 * Call it only while the socket's readable buffer is empty (e.g. from a 'data' handler).
 */
export function readDirect(socket: Socket, sink: (chunk: Buffer) => void): boolean {
  if (readSymbols === undefined) {
    const own = Object.getOwnPropertySymbols(socket);
    const find = (d: string) => own.find((x) => x.description === d);
    const buffer = find('kBuffer');
    const callback = find('kBufferCb');
    const gen = find('kBufferGen');
    readSymbols = buffer && callback && gen ? { buffer, callback, gen } : null;
  }
  const syms = readSymbols;
  const handle = (socket as unknown as { _handle?: Partial<UserBufferHandle> & object })._handle;
  if (
    syms === null ||
    handle == null ||
    handle.constructor.name !== 'TCP' ||
    typeof handle.useUserBuffer !== 'function' ||
    socket.readableLength > 0
  ) {
    return false;
  }
  const reader = new SlabReader(sink);
  const first = reader.next();
  const fields = socket as unknown as Record<symbol, unknown>;
  fields[syms.buffer] = first;
  fields[syms.callback] = reader.onRead;
  fields[syms.gen] = reader.next;
  handle.useUserBuffer(first);
  return true;
}
