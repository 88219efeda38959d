/**
 * A minimal WebSocket (RFC 6455) codec: the opening-handshake accept key, frame encoding (with
 * or without a mask), an incremental frame parser that enforces the framing rules and a size
 * limit before buffering a payload, and a message assembler for fragmentation, control frames,
 * close payloads and UTF-8. No extensions are negotiated, so every RSV bit must be zero.
 * Violations throw a WebSocketProtocolError carrying the close code to send.
 */
import { createHash } from 'node:crypto';

export const Opcode = {
  CONTINUATION: 0x0,
  TEXT: 0x1,
  BINARY: 0x2,
  CLOSE: 0x8,
  PING: 0x9,
  PONG: 0xa,
} as const;

export const CloseCode = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  PROTOCOL_ERROR: 1002,
  UNSUPPORTED_DATA: 1003,
  NO_STATUS: 1005,
  INVALID_PAYLOAD: 1007,
  POLICY_VIOLATION: 1008,
  MESSAGE_TOO_BIG: 1009,
  INTERNAL_ERROR: 1011,
} as const;

/** RFC 6455 §1.3: the GUID appended to the client's key. */
const HANDSHAKE_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const MAX_CONTROL_PAYLOAD = 125;

export class WebSocketProtocolError extends Error {
  readonly closeCode: number;
  constructor(closeCode: number, message: string) {
    super(message);
    this.name = 'WebSocketProtocolError';
    this.closeCode = closeCode;
  }
}

export interface Frame {
  readonly fin: boolean;
  readonly opcode: number;
  /** Unmasked payload. */
  readonly payload: Buffer;
}

/** Sec-WebSocket-Accept for a Sec-WebSocket-Key. */
export function acceptKey(key: string): string {
  return createHash('sha1')
    .update(key + HANDSHAKE_GUID)
    .digest('base64');
}

/** A valid Sec-WebSocket-Key is the base64 of exactly 16 bytes. */
export function isValidKey(key: string | undefined): boolean {
  if (key === undefined || !/^[A-Za-z0-9+/]{22}==$/.test(key)) return false;
  return Buffer.from(key, 'base64').length === 16;
}

function applyMask(data: Buffer, mask: Buffer): void {
  for (let i = 0; i < data.length; i++) data[i] ^= mask[i & 3];
}

export interface EncodeOptions {
  readonly opcode: number;
  readonly payload?: Buffer;
  readonly fin?: boolean;
  /** 4 bytes; clients must mask, servers must not. */
  readonly mask?: Buffer;
}

export function encodeFrame(options: EncodeOptions): Buffer {
  const payload = options.payload ?? Buffer.alloc(0);
  const fin = options.fin ?? true;
  const mask = options.mask;
  if (mask && mask.length !== 4) throw new RangeError('mask must be 4 bytes');
  const len = payload.length;
  const lenBytes = len < 126 ? 0 : len < 0x10000 ? 2 : 8;
  const header = Buffer.alloc(2 + lenBytes + (mask ? 4 : 0));
  header[0] = (fin ? 0x80 : 0) | (options.opcode & 0x0f);
  header[1] = (mask ? 0x80 : 0) | (lenBytes === 0 ? len : lenBytes === 2 ? 126 : 127);
  if (lenBytes === 2) header.writeUInt16BE(len, 2);
  else if (lenBytes === 8) header.writeBigUInt64BE(BigInt(len), 2);
  if (!mask) return Buffer.concat([header, payload]);
  mask.copy(header, 2 + lenBytes);
  const body = Buffer.from(payload);
  applyMask(body, mask);
  return Buffer.concat([header, body]);
}

/** Close frame payload: 2-byte code and UTF-8 reason (at most 123 bytes). */
export function encodeClosePayload(code: number | undefined, reason = ''): Buffer {
  if (code === undefined) return Buffer.alloc(0);
  // Cut whole characters, so a shortened reason is still valid UTF-8.
  let cut = reason;
  while (Buffer.byteLength(cut) > MAX_CONTROL_PAYLOAD - 2) cut = cut.slice(0, -1);
  if (/[\ud800-\udbff]$/.test(cut)) cut = cut.slice(0, -1);
  const text = Buffer.from(cut, 'utf8');
  const out = Buffer.alloc(2 + text.length);
  out.writeUInt16BE(code, 0);
  text.copy(out, 2);
  return out;
}

/** Codes a peer may send in a close frame (RFC 6455 §7.4 and the IANA registry). */
export function isValidCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function decodeUtf8(data: Buffer, what: string): string {
  try {
    return utf8.decode(data);
  } catch {
    throw new WebSocketProtocolError(CloseCode.INVALID_PAYLOAD, `${what} is not valid UTF-8`);
  }
}

export function parseClosePayload(payload: Buffer): { code: number | undefined; reason: string } {
  if (payload.length === 0) return { code: undefined, reason: '' };
  if (payload.length === 1)
    throw new WebSocketProtocolError(CloseCode.PROTOCOL_ERROR, 'close payload of 1 byte');
  const code = payload.readUInt16BE(0);
  if (!isValidCloseCode(code))
    throw new WebSocketProtocolError(CloseCode.PROTOCOL_ERROR, `invalid close code ${code}`);
  return { code, reason: decodeUtf8(payload.subarray(2), 'close reason') };
}

export interface FrameParserOptions {
  /** Largest payload accepted in one frame; above it: 1009 before the payload is read. */
  readonly maxFramePayload: number;
  /** 'client' frames must be masked (what a server receives); 'server' frames must not be. */
  readonly from: 'client' | 'server';
}

const VALID_OPCODES = new Set<number>(Object.values(Opcode));

/** Turns a byte stream into frames. Keeps at most one partial frame buffered. */
export class FrameParser {
  readonly #options: FrameParserOptions;
  #buffer: Buffer = Buffer.alloc(0);

  constructor(options: FrameParserOptions) {
    this.#options = options;
  }

  /** Adds bytes; returns the frames completed by them. Throws WebSocketProtocolError. */
  push(chunk: Buffer): Frame[] {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    const frames: Frame[] = [];
    for (;;) {
      const frame = this.#next();
      if (!frame) return frames;
      frames.push(frame);
    }
  }

  #next(): Frame | undefined {
    const buf = this.#buffer;
    if (buf.length < 2) return undefined;
    const fin = (buf[0] & 0x80) !== 0;
    if ((buf[0] & 0x70) !== 0)
      throw new WebSocketProtocolError(CloseCode.PROTOCOL_ERROR, 'reserved bits set');
    const opcode = buf[0] & 0x0f;
    if (!VALID_OPCODES.has(opcode)) {
      throw new WebSocketProtocolError(CloseCode.PROTOCOL_ERROR, `unknown opcode 0x${opcode.toString(16)}`);
    }
    const masked = (buf[1] & 0x80) !== 0;
    if (this.#options.from === 'client' && !masked) {
      throw new WebSocketProtocolError(CloseCode.PROTOCOL_ERROR, 'client frame is not masked');
    }
    if (this.#options.from === 'server' && masked) {
      throw new WebSocketProtocolError(CloseCode.PROTOCOL_ERROR, 'server frame is masked');
    }
    const len7 = buf[1] & 0x7f;
    const control = opcode >= 0x8;
    if (control && (!fin || len7 > MAX_CONTROL_PAYLOAD)) {
      throw new WebSocketProtocolError(
        CloseCode.PROTOCOL_ERROR,
        'control frame fragmented or longer than 125 bytes',
      );
    }
    let offset = 2;
    let length = len7;
    if (len7 === 126) {
      if (buf.length < 4) return undefined;
      length = buf.readUInt16BE(2);
      if (length < 126)
        throw new WebSocketProtocolError(CloseCode.PROTOCOL_ERROR, 'length not minimally encoded');
      offset = 4;
    } else if (len7 === 127) {
      if (buf.length < 10) return undefined;
      const big = buf.readBigUInt64BE(2);
      if (big >> 63n)
        throw new WebSocketProtocolError(CloseCode.PROTOCOL_ERROR, 'length has the top bit set');
      if (big < 0x10000n)
        throw new WebSocketProtocolError(CloseCode.PROTOCOL_ERROR, 'length not minimally encoded');
      if (big > BigInt(this.#options.maxFramePayload)) {
        throw new WebSocketProtocolError(
          CloseCode.MESSAGE_TOO_BIG,
          `frame of ${big} bytes exceeds the limit of ${this.#options.maxFramePayload}`,
        );
      }
      length = Number(big);
      offset = 10;
    }
    if (length > this.#options.maxFramePayload) {
      throw new WebSocketProtocolError(
        CloseCode.MESSAGE_TOO_BIG,
        `frame of ${length} bytes exceeds the limit of ${this.#options.maxFramePayload}`,
      );
    }
    const maskOffset = offset;
    if (masked) offset += 4;
    if (buf.length < offset + length) return undefined;
    const payload = Buffer.from(buf.subarray(offset, offset + length));
    if (masked) applyMask(payload, buf.subarray(maskOffset, maskOffset + 4));
    this.#buffer = buf.subarray(offset + length);
    return { fin, opcode, payload };
  }
}

export type WebSocketEvent =
  | {
      readonly type: 'message';
      readonly opcode: typeof Opcode.TEXT | typeof Opcode.BINARY;
      readonly data: Buffer;
    }
  | { readonly type: 'ping'; readonly payload: Buffer }
  | { readonly type: 'pong'; readonly payload: Buffer }
  | { readonly type: 'close'; readonly code: number | undefined; readonly reason: string };

/** Joins fragments into messages and checks the sequencing rules; control frames pass through. */
export class MessageAssembler {
  readonly #maxMessage: number;
  #opcode: number | undefined;
  #fragments: Buffer[] = [];
  #size = 0;

  constructor(maxMessageBytes: number) {
    this.#maxMessage = maxMessageBytes;
  }

  /** Takes one frame; returns the event it completes, if any. Throws WebSocketProtocolError. */
  accept(frame: Frame): WebSocketEvent | undefined {
    switch (frame.opcode) {
      case Opcode.PING:
        return { type: 'ping', payload: frame.payload };
      case Opcode.PONG:
        return { type: 'pong', payload: frame.payload };
      case Opcode.CLOSE:
        return { type: 'close', ...parseClosePayload(frame.payload) };
      case Opcode.TEXT:
      case Opcode.BINARY:
        if (this.#opcode !== undefined) {
          throw new WebSocketProtocolError(
            CloseCode.PROTOCOL_ERROR,
            'new message started before the last one ended',
          );
        }
        this.#opcode = frame.opcode;
        break;
      case Opcode.CONTINUATION:
        if (this.#opcode === undefined) {
          throw new WebSocketProtocolError(CloseCode.PROTOCOL_ERROR, 'continuation frame without a message');
        }
        break;
    }
    this.#size += frame.payload.length;
    if (this.#size > this.#maxMessage) {
      throw new WebSocketProtocolError(
        CloseCode.MESSAGE_TOO_BIG,
        `message exceeds the limit of ${this.#maxMessage} bytes`,
      );
    }
    this.#fragments.push(frame.payload);
    if (!frame.fin) return undefined;
    const opcode = this.#opcode as typeof Opcode.TEXT | typeof Opcode.BINARY;
    const data = this.#fragments.length === 1 ? this.#fragments[0] : Buffer.concat(this.#fragments);
    this.#opcode = undefined;
    this.#fragments = [];
    this.#size = 0;
    if (opcode === Opcode.TEXT) decodeUtf8(data, 'text message');
    return { type: 'message', opcode, data };
  }
}
