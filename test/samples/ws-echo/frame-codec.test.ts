import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  acceptKey,
  CloseCode,
  encodeClosePayload,
  encodeFrame,
  type Frame,
  FrameParser,
  isValidKey,
  MessageAssembler,
  Opcode,
  parseClosePayload,
  WebSocketProtocolError,
} from '../../../samples/ws-echo/frame-codec.ts';

const MASK = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);

function closeCode(code: number) {
  return (err: unknown) => {
    assert.ok(err instanceof WebSocketProtocolError, String(err));
    assert.equal(err.closeCode, code, err.message);
    return true;
  };
}

test('accept key: the example from RFC 6455 §1.3', () => {
  assert.equal(acceptKey('dGhlIHNhbXBsZSBub25jZQ=='), 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
  assert.equal(isValidKey('dGhlIHNhbXBsZSBub25jZQ=='), true);
  assert.equal(isValidKey('dGhlIHNhbXBsZQ=='), false, '11 bytes');
  assert.equal(isValidKey(undefined), false);
});

test('masked "Hello" is the RFC 6455 §5.7 byte sequence, and parses back', () => {
  const frame = encodeFrame({ opcode: Opcode.TEXT, payload: Buffer.from('Hello'), mask: MASK });
  assert.deepEqual([...frame], [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);
  const parsed = new FrameParser({ maxFramePayload: 1024, from: 'client' }).push(frame);
  assert.deepEqual(parsed, [{ fin: true, opcode: Opcode.TEXT, payload: Buffer.from('Hello') }]);
  const unmasked = encodeFrame({ opcode: Opcode.TEXT, payload: Buffer.from('Hello') });
  assert.deepEqual([...unmasked], [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
});

test('all three length encodings round-trip, fed one byte at a time', () => {
  for (const size of [0, 125, 126, 65535, 65536, 70000]) {
    const payload = Buffer.alloc(size, size % 251);
    const wire = encodeFrame({ opcode: Opcode.BINARY, payload, mask: MASK });
    const headerLen = wire.length - size;
    assert.equal(headerLen, 2 + (size < 126 ? 0 : size < 65536 ? 2 : 8) + 4, `header for ${size}`);
    const parser = new FrameParser({ maxFramePayload: 1 << 20, from: 'client' });
    const frames: Frame[] = [];
    // Byte by byte through the header, then the rest in one piece.
    for (let i = 0; i < headerLen; i++) frames.push(...parser.push(wire.subarray(i, i + 1)));
    assert.equal(frames.length, size === 0 ? 1 : 0);
    frames.push(...parser.push(wire.subarray(headerLen)));
    assert.equal(frames.length, 1);
    assert.ok(frames[0].payload.equals(payload), `payload of ${size}`);
  }
});

test('several frames in one chunk are all returned', () => {
  const parser = new FrameParser({ maxFramePayload: 100, from: 'server' });
  const wire = Buffer.concat([
    encodeFrame({ opcode: Opcode.TEXT, payload: Buffer.from('a'), fin: false }),
    encodeFrame({ opcode: Opcode.PING, payload: Buffer.from('p') }),
    encodeFrame({ opcode: Opcode.CONTINUATION, payload: Buffer.from('b') }),
  ]);
  assert.deepEqual(
    parser.push(wire).map((f) => [f.fin, f.opcode, f.payload.toString()]),
    [
      [false, Opcode.TEXT, 'a'],
      [true, Opcode.PING, 'p'],
      [true, Opcode.CONTINUATION, 'b'],
    ],
  );
});

test('framing violations are protocol errors (1002)', () => {
  const client = () => new FrameParser({ maxFramePayload: 1 << 20, from: 'client' });
  const masked = (o: Parameters<typeof encodeFrame>[0]) => encodeFrame({ ...o, mask: MASK });
  const rsv = masked({ opcode: Opcode.TEXT, payload: Buffer.from('x') });
  rsv[0] |= 0x40;
  assert.throws(() => client().push(rsv), closeCode(CloseCode.PROTOCOL_ERROR));
  assert.throws(() => client().push(masked({ opcode: 0x3 })), closeCode(CloseCode.PROTOCOL_ERROR));
  assert.throws(
    () => client().push(encodeFrame({ opcode: Opcode.TEXT, payload: Buffer.from('x') })),
    /client frame is not masked/,
  );
  assert.throws(
    () => new FrameParser({ maxFramePayload: 10, from: 'server' }).push(masked({ opcode: Opcode.TEXT })),
    /server frame is masked/,
  );
  assert.throws(
    () => client().push(masked({ opcode: Opcode.PING, payload: Buffer.alloc(126) })),
    /control frame/,
  );
  assert.throws(() => client().push(masked({ opcode: Opcode.PING, fin: false })), /control frame/);
  // 16-bit length used for a 5-byte payload.
  assert.throws(() => client().push(Buffer.from([0x81, 0xfe, 0x00, 0x05])), /minimally/);
  // 64-bit length with the top bit set.
  assert.throws(() => client().push(Buffer.from([0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0])), /top bit/);
});

test('an oversized frame is refused (1009) from its header, before its payload arrives', () => {
  const parser = new FrameParser({ maxFramePayload: 1000, from: 'client' });
  const header = encodeFrame({ opcode: Opcode.BINARY, payload: Buffer.alloc(1001), mask: MASK }).subarray(
    0,
    8,
  );
  assert.throws(() => parser.push(header), closeCode(CloseCode.MESSAGE_TOO_BIG));
  const huge = Buffer.from([0x82, 0xff, 0, 0, 0, 1, 0, 0, 0, 0]);
  assert.throws(
    () => new FrameParser({ maxFramePayload: 1000, from: 'client' }).push(huge),
    /exceeds the limit/,
  );
});

test('assembler: fragments join, control frames interleave, UTF-8 is checked on the whole message', () => {
  const a = new MessageAssembler(100);
  const euro = Buffer.from('€'); // 3 bytes, split across fragments
  assert.equal(a.accept({ fin: false, opcode: Opcode.TEXT, payload: euro.subarray(0, 1) }), undefined);
  assert.deepEqual(a.accept({ fin: true, opcode: Opcode.PING, payload: Buffer.from('x') }), {
    type: 'ping',
    payload: Buffer.from('x'),
  });
  assert.equal(
    a.accept({ fin: false, opcode: Opcode.CONTINUATION, payload: euro.subarray(1, 2) }),
    undefined,
  );
  const done = a.accept({ fin: true, opcode: Opcode.CONTINUATION, payload: euro.subarray(2) });
  assert.deepEqual(done, { type: 'message', opcode: Opcode.TEXT, data: euro });
  assert.throws(
    () =>
      new MessageAssembler(100).accept({
        fin: true,
        opcode: Opcode.TEXT,
        payload: Buffer.from([0xc3, 0x28]),
      }),
    closeCode(CloseCode.INVALID_PAYLOAD),
  );
  const binary = new MessageAssembler(100).accept({
    fin: true,
    opcode: Opcode.BINARY,
    payload: Buffer.from([0xff]),
  });
  assert.deepEqual(binary, { type: 'message', opcode: Opcode.BINARY, data: Buffer.from([0xff]) });
});

test('assembler: sequencing errors and the message size limit', () => {
  assert.throws(
    () =>
      new MessageAssembler(100).accept({ fin: true, opcode: Opcode.CONTINUATION, payload: Buffer.alloc(1) }),
    /continuation frame without a message/,
  );
  const b = new MessageAssembler(100);
  b.accept({ fin: false, opcode: Opcode.BINARY, payload: Buffer.alloc(1) });
  assert.throws(
    () => b.accept({ fin: true, opcode: Opcode.TEXT, payload: Buffer.alloc(1) }),
    /new message started/,
  );
  const c = new MessageAssembler(10);
  c.accept({ fin: false, opcode: Opcode.BINARY, payload: Buffer.alloc(6) });
  assert.throws(
    () => c.accept({ fin: true, opcode: Opcode.CONTINUATION, payload: Buffer.alloc(5) }),
    closeCode(CloseCode.MESSAGE_TOO_BIG),
  );
});

test('close payloads: empty, code + reason, and the invalid ones', () => {
  assert.deepEqual(parseClosePayload(Buffer.alloc(0)), { code: undefined, reason: '' });
  assert.deepEqual(parseClosePayload(encodeClosePayload(1000, 'bye')), { code: 1000, reason: 'bye' });
  assert.deepEqual(parseClosePayload(encodeClosePayload(4000)), { code: 4000, reason: '' });
  assert.throws(() => parseClosePayload(Buffer.from([0x03])), /1 byte/);
  for (const bad of [999, 1004, 1005, 1006, 1015, 2000, 5000]) {
    assert.throws(
      () => parseClosePayload(encodeClosePayload(bad)),
      closeCode(CloseCode.PROTOCOL_ERROR),
      String(bad),
    );
  }
  assert.throws(
    () => parseClosePayload(Buffer.concat([encodeClosePayload(1000), Buffer.from([0xff])])),
    closeCode(CloseCode.INVALID_PAYLOAD),
  );
  assert.equal(encodeClosePayload(1000, 'x'.repeat(200)).length, 125, 'reason cut to fit a control frame');
});

test('a long close reason is cut on a character boundary', () => {
  const payload = encodeClosePayload(1000, '€'.repeat(60));
  assert.ok(payload.length <= 125);
  assert.equal(parseClosePayload(payload).reason, '€'.repeat(41));
});
