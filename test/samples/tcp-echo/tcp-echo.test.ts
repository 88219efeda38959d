import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { start, testNoOpenHandles, within } from '../helpers.ts';

/** Connects, lets `talk` write, collects everything until the server's FIN. */
async function converse(
  port: number,
  talk: (socket: net.Socket) => void,
): Promise<{ text: string; socket: net.Socket }> {
  const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  let text = '';
  socket.setEncoding('utf8');
  socket.on('data', (d: string) => {
    text += d;
  });
  const ended = new Promise<void>((resolve) => socket.on('end', resolve));
  await new Promise((r) => socket.once('connect', r));
  talk(socket);
  await within(ended, 'the server to end its side');
  return { text, socket };
}

test('each line comes back prefixed by version; CRLF accepted; a half-close is answered then closed', async () => {
  const v1 = await start('tcp-echo', 'v1');
  const { text, socket } = await converse(v1.port, (s) => {
    s.write('hello\nwor');
    s.write('ld\r\nlast line without newline');
    s.end();
  });
  assert.equal(text, 'one hello\none world\none last line without newline\n');
  // Our side is ended and so is the server's: the socket closes without an error.
  await within(new Promise((r) => socket.on('close', r)), 'the socket to close');
  await v1.close();
});

test('v2 answers "two", PREFIX overrides', async () => {
  const v2 = await start('tcp-echo', 'v2');
  const custom = await start('tcp-echo', 'canary', { PREFIX: 'hi' });
  assert.equal((await converse(v2.port, (s) => s.end('hello\n'))).text, 'two hello\n');
  assert.equal((await converse(custom.port, (s) => s.end('hello\n'))).text, 'hi hello\n');
  await v2.close();
  await custom.close();
});

test('replies flow while the client is still writing (full duplex before the half-close)', async () => {
  const v1 = await start('tcp-echo', 'v3');
  const socket = net.connect({ port: v1.port, host: '127.0.0.1', allowHalfOpen: true });
  socket.setEncoding('utf8');
  const firstReply = new Promise<string>((resolve) => socket.once('data', resolve));
  socket.write('ping\n');
  assert.equal(await within(firstReply, 'the first reply'), 'three ping\n');
  const rest = new Promise<string>((resolve) => {
    let text = '';
    socket.on('data', (d: string) => {
      text += d;
    });
    socket.on('end', () => resolve(text));
  });
  socket.end('bye\n');
  assert.equal(await within(rest, 'the rest'), 'three bye\n');
  socket.destroy();
  await v1.close();
});

test('a line longer than MAX_LINE_BYTES gets an error and the connection ends', async () => {
  const w = await start('tcp-echo', 'v1', { MAX_LINE_BYTES: '8' });
  const { text, socket } = await converse(w.port, (s) => s.write('ok\n0123456789'));
  assert.equal(text, 'one ok\nerror: line longer than 8 bytes\n');
  socket.destroy();
  await w.close();
});

test('close() ends open connections: the client sees the FIN', async () => {
  const w = await start('tcp-echo', 'v1');
  const socket = net.connect({ port: w.port, host: '127.0.0.1', allowHalfOpen: true });
  socket.setEncoding('utf8');
  const reply = new Promise<string>((resolve) => socket.once('data', resolve));
  socket.write('x\n');
  await within(reply, 'a reply');
  const ended = new Promise<void>((resolve) => socket.on('end', resolve));
  const closing = w.close();
  await within(ended, 'the FIN');
  socket.end();
  await within(closing, 'close() to resolve');
  await assert.rejects(
    new Promise((resolve, reject) =>
      net.connect(w.port, '127.0.0.1').on('connect', resolve).on('error', reject),
    ),
    { code: 'ECONNREFUSED' },
  );
});

testNoOpenHandles();
