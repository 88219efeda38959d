/**
 * Batched socket output. Everything the proxy writes for one I/O event (a response head, its
 * body, the next pipelined response...) is appended into one buffer and handed to the socket
 * in a single write at the end of the event (a microtask), so a small proxied request costs one
 * write syscall per direction.
 *
 * The buffer is reused when the kernel took the whole write synchronously; otherwise the pending
 * write owns it and a fresh one is allocated. Bodies larger than COPY_LIMIT, and chunks handed
 * over by reference (`send`), are written directly, without copying, after whatever is batched.
 *
 * Direct handle writes: on a plain TCP socket whose Writable side has nothing queued, a write
 * goes straight to the libuv handle (`_handle.writeBuffer` with a reused WriteWrap), skipping
 * Writable's bookkeeping, `_writeGeneric`/`createWriteWrap` and the after-write tick. Writes
 * that the kernel cannot take at once stay queued in libuv in order (a later `socket.write` or
 * `end()` queues behind them), and are tracked here for backpressure. These are Node internals
 * (WriteWrap and streamBaseState from `process.binding('stream_wrap')`, which warns only under
 * --pending-deprecation), checked once by name; when absent, for TLS, connecting, ending or
 * corked sockets, or with MIZZEN_PROXY_DIRECT_WRITES=false, `socket.write` is used.
 *
 * Backpressure: when the bytes queued on the socket (Writable's and ours) grow past `limit`,
 * sources that feed this writer are paused (`throttle`) and resumed once they fall back.
 */
import type { Socket } from 'node:net';
import { getSystemErrorName } from 'node:util';
import { defineFeature } from '../../lib/features.ts';
import { latin1Write } from '../common/bytes.ts';

const INITIAL = 16 * 1024;
const EMPTY = Buffer.alloc(0);
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
  #limit = 0;
  /**
   * Bytes of socket-side buffering above which sources are throttled. 0 turns the limit off, as a
   * zero high watermark does in Envoy (per_connection_buffer_limit_bytes: 0).
   */
  get limit(): number {
    return this.#limit;
  }
  set limit(bytes: number) {
    this.#limit = bytes === 0 ? Number.POSITIVE_INFINITY : bytes;
  }
  /** In the dirty list (internal to this module). */
  queued = false;
  private waiters: Pausable[] = [];
  private draining = false;
  /** Total bytes handed to the socket (for byte counters). */
  bytesWritten = 0;
  /** Bytes of direct handle writes the kernel has not taken yet (libuv holds them). */
  pendingDirect = 0;
  /** A WriteWrap no pending write owns (reused while writes complete synchronously). */
  private req: DirectWriteReq | null = null;

  constructor(socket: Socket | null, limit = 1024 * 1024) {
    this.socket = socket;
    // Allocated on the first batched write: tcp_proxy only ever `send`s by reference.
    this.buf = EMPTY;
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
      let size = Math.max(INITIAL, this.buf.length * 2);
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

  /**
   * Writes `chunk` now, by reference, after whatever is batched. The caller must not change its
   * bytes afterwards (a write the kernel did not take at once still points into them); slab
   * chunks meet that, since SlabReader reads into them again only after `releaseLast`. Returns
   * whether a pending write still references the chunk (false: the kernel has it, the bytes may
   * be reused).
   */
  send(chunk: Buffer): boolean {
    if (chunk.length === 0) return false;
    if (this.len > 0) this.flush();
    return this.write(chunk);
  }

  /** Hands the batch to the socket now. */
  flush(): void {
    if (this.len === 0 || this.socket === null) return;
    const view = this.buf.subarray(0, this.len);
    this.len = 0;
    if (this.write(view)) {
      // The pending write references our bytes: do not overwrite them (the next batch gets a
      // fresh buffer).
      this.buf = EMPTY;
    }
  }

  /**
   * Bytes queued on the socket and not yet taken by the kernel. The only true measure: while
   * direct writes are pending, the socket's own writableLength/bufferSize read 0 and its 'drain'
   * does not fire for them.
   */
  get queuedBytes(): number {
    const s = this.socket;
    return this.pendingDirect + (s === null ? 0 : s.writableLength);
  }

  /** Returns whether the chunk is still referenced by a pending write. */
  private write(chunk: Buffer): boolean {
    const s = this.socket;
    if (s === null || s.destroyed) return false;
    this.bytesWritten += chunk.length;
    let pending: boolean;
    const handle = directHandle(s);
    if (handle !== null) pending = this.writeDirect(s, handle, chunk);
    else if (this.draining || s.writableLength + this.pendingDirect + chunk.length > this.limit) {
      // Over the limit: this write's callback says when it (and all before it) left.
      s.write(chunk, this.checkDrain);
      pending = s.writableLength > 0;
    } else {
      s.write(chunk);
      pending = s.writableLength > 0;
    }
    if (!this.draining && this.queuedBytes > this.limit) this.draining = true;
    return pending;
  }

  private writeDirect(s: Socket, handle: StreamHandle, chunk: Buffer): boolean {
    const n = native!;
    let req = this.req;
    if (req === null) {
      req = new n.WriteWrap() as DirectWriteReq;
      req.oncomplete = onDirectWriteComplete;
      req.owner = this;
      req.bytes = 0;
      req.buffer = null;
      this.req = req;
    }
    req.handle = handle;
    const err = handle.writeBuffer(req, chunk);
    // The handle counts socket.bytesWritten itself; the idle timer refresh is Writable's job.
    if (s.timeout) (s as unknown as SocketInternals)._unrefTimer();
    if (err !== 0) {
      s.destroy(writeError(err));
      return false;
    }
    if (n.state[n.asyncIndex] === 0) return false;
    // libuv holds the request until the kernel took the rest: it owns req and the bytes.
    this.req = null;
    req.bytes = chunk.length;
    req.buffer = chunk;
    this.pendingDirect += chunk.length;
    return true;
  }

  /** A direct write finished (status < 0: failed, or cancelled by a close). */
  directWriteDone(req: DirectWriteReq, status: number): void {
    this.pendingDirect -= req.bytes;
    req.buffer = null;
    const s = this.socket;
    if (status < 0 && s !== null && !s.destroyed) s.destroy(writeError(status));
    // req is not reused: its native side is still alive until this callback returns.
    if (this.draining) this.checkDrain();
  }

  private checkDrain = (): void => {
    if (!this.draining) return;
    const s = this.socket;
    if (s !== null && !s.destroyed && this.queuedBytes > this.limit) return;
    this.draining = false;
    const w = this.waiters;
    if (w.length === 0) return;
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

  /** Flushes and half-closes the socket (after every queued write, direct ones included). */
  end(): void {
    this.flush();
    const s = this.socket;
    if (s !== null && !s.destroyed && s.writable) s.end();
  }

  detach(): void {
    this.socket = null;
    this.len = 0;
    this.draining = false;
    const w = this.waiters;
    this.waiters = [];
    for (const p of w) p.resumeReading();
  }
}

// Direct handle writes (Node internals, found by name; see the header).

interface StreamHandle {
  writeBuffer(req: object, chunk: Uint8Array): number;
}

interface DirectWriteReq {
  handle: StreamHandle;
  oncomplete: (this: DirectWriteReq, status: number) => void;
  owner: WriteBuffer;
  bytes: number;
  /** Keeps the bytes alive while libuv writes them. */
  buffer: Buffer | null;
}

interface SocketInternals {
  _handle: (object & Partial<StreamHandle>) | null;
  _unrefTimer(): void;
}

interface NativeWrites {
  WriteWrap: new () => object;
  /** streamBaseState: set by every handle write. */
  state: Int32Array;
  asyncIndex: number;
  /** The TCP handle class, learned from the first plain TCP socket seen. */
  tcp: unknown;
}

export const MIZZEN_PROXY_DIRECT_WRITES = defineFeature<boolean>({
  name: 'MIZZEN_PROXY_DIRECT_WRITES',
  type: 'boolean',
  default: true,
  description:
    'mizzen-proxy writes to plain TCP sockets through the libuv handle when nothing is queued (skipping the Writable stream); false always uses socket.write.',
});

let native: NativeWrites | null | undefined;

function loadNative(): NativeWrites | null {
  if (!MIZZEN_PROXY_DIRECT_WRITES.get()) return null;
  try {
    const binding = (process as unknown as { binding?: (name: string) => unknown }).binding?.(
      'stream_wrap',
    ) as { WriteWrap?: unknown; streamBaseState?: unknown; kLastWriteWasAsync?: unknown } | undefined;
    if (
      binding === undefined ||
      typeof binding.WriteWrap !== 'function' ||
      !(binding.streamBaseState instanceof Int32Array) ||
      typeof binding.kLastWriteWasAsync !== 'number'
    ) {
      return null;
    }
    return {
      WriteWrap: binding.WriteWrap as new () => object,
      state: binding.streamBaseState,
      asyncIndex: binding.kLastWriteWasAsync,
      tcp: undefined,
    };
  } catch {
    // process.binding refused (permission model) or removed: Writable writes only.
    return null;
  }
}

/** The socket's handle when a direct write may be used now, else null. */
function directHandle(s: Socket): StreamHandle | null {
  if (native === undefined) native = loadNative();
  const n = native;
  if (n === null) return null;
  const h = (s as unknown as SocketInternals)._handle;
  if (h == null) return null;
  if (h.constructor !== n.tcp) {
    if (n.tcp !== undefined || h.constructor.name !== 'TCP' || typeof h.writeBuffer !== 'function')
      return null;
    n.tcp = h.constructor;
  }
  // Anything queued in Writable must go first, and it owns connecting/ending/corked sockets.
  if (s.connecting || s.writableLength !== 0 || s.writableEnded || s.writableCorked !== 0) return null;
  return h as StreamHandle;
}

function onDirectWriteComplete(this: DirectWriteReq, status: number): void {
  this.owner.directWriteDone(this, status);
}

function writeError(errno: number): Error {
  const code = getSystemErrorName(errno);
  return Object.assign(new Error(`write ${code}`), { code, errno, syscall: 'write' });
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
  /** Where the last chunk handed to `sink` starts (for `releaseLast`). */
  private lastStart = 0;
  /** The view `next` returned last, reused while the offset stays put. */
  private view: Buffer | null = null;
  private viewOffset = -1;
  private readonly sink: (chunk: Buffer) => void;

  constructor(sink: (chunk: Buffer) => void) {
    this.sink = sink;
  }

  /** The buffer the next read goes into (net calls this after every read). */
  next = (): Buffer => {
    if (this.slab.length - this.offset < READ_MIN) {
      this.slab = Buffer.allocUnsafeSlow(READ_SLAB);
      this.offset = 0;
      this.viewOffset = -1;
    }
    if (this.viewOffset !== this.offset || this.view === null) {
      this.view = this.slab.subarray(this.offset);
      this.viewOffset = this.offset;
    }
    return this.view;
  };

  /** `buf` is what `next` returned last: it starts at `offset` of the current slab. */
  onRead = (n: number, buf: Uint8Array): boolean => {
    this.lastStart = this.offset;
    this.offset += n;
    this.sink((buf as Buffer).subarray(0, n));
    return true; // false would stop reading; flow control uses socket.pause() instead
  };

  /**
   * From inside `sink`: nothing references the chunk just handed out any more (it was written
   * synchronously and not kept), so the next read may go into the same bytes.
   */
  releaseLast(): void {
    this.offset = this.lastStart;
  }
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
  return readDirectWith(socket, () => new SlabReader(sink)) !== null;
}

/** readDirect with a reader made by the caller (so it can `releaseLast`); null when refused. */
export function readDirectWith(socket: Socket, makeReader: () => SlabReader): SlabReader | null {
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
    return null;
  }
  const reader = makeReader();
  const first = reader.next();
  const fields = socket as unknown as Record<symbol, unknown>;
  fields[syms.buffer] = first;
  fields[syms.callback] = reader.onRead;
  fields[syms.gen] = reader.next;
  handle.useUserBuffer(first);
  return reader;
}
