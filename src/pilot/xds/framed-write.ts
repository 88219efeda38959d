/**
 * Pre-framed responses: one encoded response goes to hundreds of streams (shared per proxy
 * class), but grpc-js frames every message it writes into a fresh Buffer (5-byte prefix + a
 * copy of the bytes). At mesh size that is ~4 GB of copies per full push, and every 64 MB of
 * fresh Buffers makes V8 run a full GC of mizzend's heap. Here the frame is built once per
 * response and grpc-js is taught to write such a frame as is.
 *
 * How: grpc-js (1.10+) frames in `BaseServerInterceptingCall.prototype.serializeMessage`. That
 * method is wrapped so a `FramedMessage` — a class only this module creates — is returned
 * unchanged; every other value takes grpc-js' own path. If the installed grpc-js does not have
 * the method, nothing is patched and `writable()` hands grpc-js the plain message instead (it
 * copies it, as before): slower, never wrong.
 */
import { createRequire } from 'node:module';
import { logger } from '../../lib/log.ts';

const log = logger('pilot:framed-write');

/** A gRPC length-prefixed message: [compressed flag 0][u32 length][message]. */
export class FramedMessage {
  readonly frame: Buffer;
  constructor(frame: Buffer) {
    this.frame = frame;
  }
  /** Bytes of the message itself (without the 5-byte prefix). */
  get length(): number {
    return this.frame.length - 5;
  }
  /** The message without its prefix (a view, no copy). */
  message(): Buffer {
    return this.frame.subarray(5);
  }
}

/** Frames `message` (one copy, made once however many streams the frame goes to). */
export function frameMessage(message: Uint8Array): FramedMessage {
  const frame = Buffer.allocUnsafe(message.length + 5);
  frame.writeUInt8(0, 0);
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, 5);
  return new FramedMessage(frame);
}

interface SerializingCall {
  serializeMessage(value: unknown): Buffer;
}

let installed: boolean | undefined;

/**
 * Teaches grpc-js to write FramedMessages as they are; idempotent. False when this grpc-js
 * has no hook for it (then frames are unwrapped by `writable`).
 */
export function installFramedWrites(): boolean {
  if (installed !== undefined) return installed;
  installed = false;
  try {
    const require = createRequire(import.meta.url);
    // The module grpc-js' own index loads (same resolved file, so the same class).
    const mod = require('@grpc/grpc-js/build/src/server-interceptors.js') as {
      BaseServerInterceptingCall?: { prototype: SerializingCall };
    };
    const proto = mod.BaseServerInterceptingCall?.prototype;
    const original = proto?.serializeMessage;
    if (!proto || typeof original !== 'function') {
      log.warn('grpc-js has no serializeMessage hook; responses are copied per stream');
      return false;
    }
    proto.serializeMessage = function serializeMessage(this: SerializingCall, value: unknown): Buffer {
      return value instanceof FramedMessage ? value.frame : original.call(this, value);
    };
    installed = true;
  } catch (err) {
    log.warn('cannot hook grpc-js framing; responses are copied per stream', { err });
  }
  return installed;
}

/** What to hand grpc-js' `write()`: the frame when grpc-js writes frames as is, else the message. */
export function writable(m: FramedMessage): FramedMessage | Buffer {
  return installed ? m : m.message();
}
