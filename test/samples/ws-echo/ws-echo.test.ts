import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { test } from 'node:test';
import {
  acceptKey,
  CloseCode,
  encodeClosePayload,
  encodeFrame,
  type Frame,
  FrameParser,
  Opcode,
  parseClosePayload,
} from '../../../samples/ws-echo/frame-codec.ts';
import { getJson, request, start, testNoOpenHandles, within } from '../helpers.ts';

/** A raw WebSocket client: does the handshake by hand and reads server frames with the codec. */
class RawClient {
  readonly socket: net.Socket;
  readonly frames: Frame[] = [];
  readonly #parser = new FrameParser({ maxFramePayload: 1 << 24, from: 'server' });
  #wake: (() => void) | undefined;
  ended = false;
  readonly closed: Promise<void>;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    this.closed = new Promise((resolve) => socket.on('close', () => resolve()));
    socket.on('end', () => {
      this.ended = true;
      this.#wake?.();
    });
  }

  static async connect(port: number, extraHeaders = ''): Promise<{ client: RawClient; head: string }> {
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', () => {});
    const client = new RawClient(socket);
    const key = randomBytes(16).toString('base64');
    socket.write(
      `GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n` +
        `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n${extraHeaders}\r\n`,
    );
    let buffered = Buffer.alloc(0);
    const head = await within(
      new Promise<string>((resolve) => {
        const onData = (chunk: Buffer) => {
          buffered = Buffer.concat([buffered, chunk]);
          const end = buffered.indexOf('\r\n\r\n');
          if (end < 0) return;
          socket.removeListener('data', onData);
          socket.on('data', (c: Buffer) => client.#receive(c));
          const rest = buffered.subarray(end + 4);
          if (rest.length > 0) client.#receive(rest);
          resolve(buffered.subarray(0, end).toString('latin1'));
        };
        socket.on('data', onData);
      }),
      'the handshake response',
    );
    if (head.startsWith('HTTP/1.1 101')) {
      assert.match(
        head,
        new RegExp(`\\r\\nSec-WebSocket-Accept: ${acceptKey(key).replace(/[+/]/g, '\\$&')}(\\r|$)`, 'i'),
      );
    }
    return { client, head };
  }

  #receive(chunk: Buffer): void {
    this.frames.push(...this.#parser.push(chunk));
    this.#wake?.();
  }

  send(opcode: number, payload: Buffer | string = Buffer.alloc(0), fin = true): void {
    this.socket.write(encodeFrame({ opcode, payload: Buffer.from(payload), fin, mask: randomBytes(4) }));
  }

  /** Waits for the next frame from the server. */
  async next(): Promise<Frame> {
    await within(
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (this.frames.length > 0) resolve();
          else if (this.ended) reject(new Error('connection ended without a frame'));
        };
        this.#wake = check;
        check();
      }),
      'a frame',
    );
    this.#wake = undefined;
    return this.frames.shift() as Frame;
  }

  async expectClose(code: number | undefined): Promise<string> {
    const frame = await this.next();
    assert.equal(frame.opcode, Opcode.CLOSE);
    const close = parseClosePayload(frame.payload);
    assert.equal(close.code, code);
    return close.reason;
  }
}

test('handshake: 101 with the right accept key; text and binary messages echo back unmasked', async () => {
  const ws = await start('ws-echo');
  const { client, head } = await RawClient.connect(ws.port);
  assert.match(head, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
  assert.match(head, /\r\nUpgrade: websocket\r\n/i);
  client.send(Opcode.TEXT, 'hello, mesh');
  const text = await client.next();
  assert.deepEqual([text.fin, text.opcode, text.payload.toString()], [true, Opcode.TEXT, 'hello, mesh']);
  const bytes = randomBytes(70_000);
  client.send(Opcode.BINARY, bytes);
  const binary = await client.next();
  assert.equal(binary.opcode, Opcode.BINARY);
  assert.ok(binary.payload.equals(bytes));
  client.send(Opcode.CLOSE, encodeClosePayload(CloseCode.NORMAL, 'done'));
  await client.expectClose(CloseCode.NORMAL);
  await within(client.closed, 'the server to close TCP');
  await ws.close();
});

test('a fragmented message with a ping between its fragments: pong first, then the joined message', async () => {
  const ws = await start('ws-echo');
  const { client } = await RawClient.connect(ws.port);
  client.send(Opcode.TEXT, 'frag', false);
  client.send(Opcode.PING, 'are you there');
  client.send(Opcode.CONTINUATION, 'men', false);
  client.send(Opcode.CONTINUATION, 'ted');
  const pong = await client.next();
  assert.deepEqual([pong.opcode, pong.payload.toString()], [Opcode.PONG, 'are you there']);
  const msg = await client.next();
  assert.deepEqual([msg.fin, msg.opcode, msg.payload.toString()], [true, Opcode.TEXT, 'fragmented']);
  // An unsolicited pong is ignored; the next message still echoes.
  client.send(Opcode.PONG, 'x');
  client.send(Opcode.TEXT, 'after');
  assert.equal((await client.next()).payload.toString(), 'after');
  client.send(Opcode.CLOSE);
  await client.expectClose(undefined);
  await within(client.closed, 'close');
  await ws.close();
});

test('an unmasked client frame closes the connection with 1002', async () => {
  const ws = await start('ws-echo');
  const { client } = await RawClient.connect(ws.port);
  client.socket.write(encodeFrame({ opcode: Opcode.TEXT, payload: Buffer.from('no mask') }));
  assert.match(await client.expectClose(CloseCode.PROTOCOL_ERROR), /not masked/);
  await within(client.closed, 'close');
  await ws.close();
});

test('an oversized frame is refused with 1009 from its header alone', async () => {
  const ws = await start('ws-echo', 'v1', { MAX_FRAME_BYTES: '1024' });
  const { client } = await RawClient.connect(ws.port);
  const frame = encodeFrame({ opcode: Opcode.BINARY, payload: Buffer.alloc(2048), mask: randomBytes(4) });
  client.socket.write(frame.subarray(0, 8)); // header and mask only
  assert.match(await client.expectClose(CloseCode.MESSAGE_TOO_BIG), /exceeds the limit of 1024/);
  await within(client.closed, 'close');
  await ws.close();
});

test('invalid UTF-8 in a text message closes with 1007; a message over MAX_MESSAGE_BYTES with 1009', async () => {
  const ws = await start('ws-echo', 'v1', { MAX_MESSAGE_BYTES: '200' });
  const a = (await RawClient.connect(ws.port)).client;
  a.send(Opcode.TEXT, Buffer.from([0xc3, 0x28]));
  await a.expectClose(CloseCode.INVALID_PAYLOAD);
  const b = (await RawClient.connect(ws.port)).client;
  b.send(Opcode.BINARY, Buffer.alloc(120), false);
  b.send(Opcode.CONTINUATION, Buffer.alloc(120));
  await b.expectClose(CloseCode.MESSAGE_TOO_BIG);
  await within(Promise.all([a.closed, b.closed]), 'close');
  await ws.close();
});

test('bad handshakes: wrong version 426, bad key 400, not an upgrade 400', async () => {
  const ws = await start('ws-echo');
  const send = async (headers: string) => {
    const socket = net.connect(ws.port, '127.0.0.1');
    let text = '';
    socket.on('data', (d) => {
      text += d;
    });
    socket.write(`GET / HTTP/1.1\r\nHost: x\r\n${headers}\r\n`);
    await within(new Promise((r) => socket.on('close', r)), 'the refusal');
    return text;
  };
  const key = 'dGhlIHNhbXBsZSBub25jZQ==';
  const v8 = await send(
    `Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 8\r\n`,
  );
  assert.match(v8, /^HTTP\/1\.1 426 /);
  assert.match(v8, /\r\nSec-WebSocket-Version: 13\r\n/);
  const badKey = await send(
    'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: abc\r\nSec-WebSocket-Version: 13\r\n',
  );
  assert.match(badKey, /^HTTP\/1\.1 400 /);
  const h2c = await send('Upgrade: h2c\r\nConnection: Upgrade\r\n');
  assert.match(h2c, /^HTTP\/1\.1 400 .*\r\n\r\nonly the websocket upgrade/s);
  assert.equal((await getJson(`${ws.url}/health`)).json.version, 'v1');
  assert.equal((await getJson(`${ws.url}/`)).json.name, 'ws-echo');
  assert.equal((await request(`${ws.url}/nope`)).status, 404);
  await ws.close();
});

test("Node's built-in WebSocket client (undici) talks to it", async () => {
  const ws = await start('ws-echo', 'v2');
  const socket = new WebSocket(`ws://127.0.0.1:${ws.port}/`);
  socket.binaryType = 'arraybuffer';
  const received: (string | ArrayBuffer)[] = [];
  const closed = new Promise<CloseEvent>((resolve) => socket.addEventListener('close', resolve));
  await within(
    new Promise((resolve, reject) => {
      socket.addEventListener('open', resolve);
      socket.addEventListener('error', reject);
    }),
    'open',
  );
  const two = new Promise<void>((resolve) =>
    socket.addEventListener('message', (e) => {
      received.push(e.data);
      if (received.length === 2) resolve();
    }),
  );
  socket.send('hi');
  socket.send(new Uint8Array([1, 2, 3]));
  await within(two, 'two echoes');
  assert.equal(received[0], 'hi');
  assert.deepEqual([...new Uint8Array(received[1] as ArrayBuffer)], [1, 2, 3]);
  socket.close(4000, 'bye');
  const event = await within(closed, 'close');
  assert.equal(event.code, 4000);
  await ws.close();
});

test('close() says 1001 going away, waits for the client to answer, then resolves', async () => {
  const ws = await start('ws-echo');
  const { client } = await RawClient.connect(ws.port);
  client.send(Opcode.TEXT, 'x');
  await client.next();
  const closing = ws.close();
  assert.match(await client.expectClose(CloseCode.GOING_AWAY), /shutting down/);
  client.send(Opcode.CLOSE, encodeClosePayload(CloseCode.GOING_AWAY));
  await within(client.closed, 'TCP close');
  await within(closing, 'close() to resolve');
});

testNoOpenHandles();
