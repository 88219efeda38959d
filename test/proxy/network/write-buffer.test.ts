/**
 * Direct socket reads (SlabReader / readDirect): bytes handed out are never overwritten by later
 * reads, and an accepted socket switched mid-stream delivers the rest of its bytes, in order, to
 * the sink, with 'end' still emitted.
 * Direct handle writes (WriteBuffer): a slow reader leaves writes pending in libuv, the writer
 * blocks and throttles its source until they leave; order holds when socket.write and end() mix
 * with direct writes; the Writable fallback wakes sources even below its highWaterMark.
 */
import net from 'node:net';
import { type TestContext, test } from 'node:test';
import {
  type Pausable,
  readDirect,
  SlabReader,
  WriteBuffer,
} from '../../../src/proxy/network/write-buffer.ts';
import { assertNoOpenHandles } from '../support/harness.ts';

/** A connected pair on loopback: `client` is ours, `peer` is the accepted end (paused). */
async function pair(): Promise<{ client: net.Socket; peer: net.Socket; close: () => Promise<void> }> {
  let peer!: net.Socket;
  const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true });
  const accepted = new Promise<void>((resolve) =>
    server.once('connection', (s: net.Socket) => {
      peer = s;
      resolve();
    }),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const client = net.connect({ port: (server.address() as net.AddressInfo).port, host: '127.0.0.1' });
  await Promise.all([accepted, new Promise((resolve) => client.once('connect', resolve))]);
  return {
    client,
    peer,
    close: () =>
      new Promise<void>((resolve) => {
        client.destroy();
        peer.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Reads everything the peer sends until its FIN. */
function readAll(s: net.Socket): Promise<Buffer> {
  const parts: Buffer[] = [];
  s.on('data', (d: Buffer) => parts.push(d));
  return new Promise((resolve) => s.once('end', () => resolve(Buffer.concat(parts))));
}

/** n bytes of a 251-byte cycle that depends on seed (so misplaced or repeated bytes show). */
function pattern(n: number, seed: number): Buffer {
  const cycle = Buffer.allocUnsafe(251);
  for (let i = 0; i < cycle.length; i++) cycle[i] = (i * 31 + seed) & 255;
  return Buffer.alloc(n, cycle);
}

test('direct writes: a slow reader leaves writes pending; the writer blocks, throttles and resumes its source', async (t: TestContext) => {
  t.plan(6);
  const { client, peer, close } = await pair();
  const w = new WriteBuffer(client, 256 * 1024);
  const chunks: Buffer[] = [];
  let paused = 0;
  let resumed = 0;
  const source: Pausable = {
    pauseReading: () => paused++,
    resumeReading: () => resumed++,
  };
  // The peer reads nothing: the kernel's buffers fill, then libuv holds our writes.
  for (let i = 0; !w.blocked && i < 4096; i++) {
    const c = pattern(64 * 1024, i);
    chunks.push(c);
    w.send(c);
  }
  t.assert.ok(w.blocked, 'the writer blocks within 256 MiB');
  t.assert.ok(w.pendingDirect > 0, 'writes are pending on the handle, not in Writable');
  t.assert.equal(client.writableLength, 0);
  w.throttle(source);
  const resumedAt = new Promise<void>((resolve) => {
    source.resumeReading = () => {
      resumed++;
      resolve();
    };
  });
  const all = readAll(peer);
  peer.resume();
  await resumedAt;
  t.assert.equal(paused, 1);
  w.end();
  const got = await all;
  t.assert.ok(got.equals(Buffer.concat(chunks)), `all ${got.length} bytes, in order`);
  t.assert.equal(resumed, 1);
  await close();
});

test('direct writes: socket.write and end() queue behind pending direct writes, in order', async (t: TestContext) => {
  t.plan(2);
  const { client, peer, close } = await pair();
  const w = new WriteBuffer(client);
  const a = pattern(32 * 1024 * 1024, 1); // more than the kernel takes while the peer sleeps
  w.send(a);
  t.assert.ok(w.pendingDirect > 0, 'the first write is pending in libuv');
  const b = pattern(1000, 2);
  client.write(b); // through Writable: queued in libuv after a
  const c = pattern(5000, 3);
  w.copy(c, 0, c.length); // batched; Writable is busy, so it follows b through Writable
  w.end();
  const all = readAll(peer);
  peer.resume();
  t.assert.ok((await all).equals(Buffer.concat([a, b, c])));
  await close();
});

test('Writable fallback (connecting socket): a limit below highWaterMark still wakes the source', async (t: TestContext) => {
  t.plan(3);
  const server = net.createServer((s) => s.resume());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const client = net.connect({ port: (server.address() as net.AddressInfo).port, host: '127.0.0.1' });
  const w = new WriteBuffer(client, 1024);
  w.send(pattern(8 * 1024, 4)); // still connecting: Writable buffers it
  t.assert.equal(w.blocked, true);
  let paused = 0;
  await new Promise<void>((resolve) => {
    w.throttle({ pauseReading: () => paused++, resumeReading: () => resolve() });
  });
  t.assert.equal(paused, 1);
  t.assert.equal(w.blocked, false);
  client.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

test('SlabReader: chunks already handed out survive later reads and slab changes', (t: TestContext) => {
  const got: Buffer[] = [];
  const r = new SlabReader((c) => got.push(c));
  const expected: string[] = [];
  // 40 reads of 5000 bytes: several 64 KiB slabs are used up and replaced.
  for (let i = 0; i < 40; i++) {
    const buf = r.next();
    const text = String.fromCharCode(65 + (i % 26)).repeat(5000);
    t.assert.ok(buf.length >= 16 * 1024);
    buf.write(text, 'latin1');
    r.onRead(5000, buf);
    expected.push(text);
  }
  t.assert.deepEqual(
    got.map((c) => c.toString('latin1')),
    expected,
  );
});

test('readDirect: an accepted socket switched from its first data event reads the rest directly', async (t: TestContext) => {
  const parts: string[] = [];
  let viaData = 0;
  let switched = false;
  const done = new Promise<void>((resolve) => {
    const server = net.createServer((s) => {
      s.on('data', (c: Buffer) => {
        viaData++;
        parts.push(c.toString('latin1'));
        if (!switched) {
          switched = readDirect(s, (chunk) => {
            parts.push(chunk.toString('latin1'));
            if (parts.join('').endsWith('!')) client.end();
          });
          client.write('second');
          client.write(Buffer.alloc(200 * 1024, 'x'));
          client.write('!');
        }
      });
      s.on('end', () => {
        s.end();
        server.close(() => resolve());
      });
    });
    let client: net.Socket;
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      client = net.connect(port, '127.0.0.1', () => client.write('first'));
      client.resume();
    });
  });
  await done;
  t.assert.equal(switched, true);
  t.assert.equal(viaData, 1);
  t.assert.equal(parts.join(''), `firstsecond${'x'.repeat(200 * 1024)}!`);
});

test('a limit of 0 turns flow control off, as a zero high watermark does in Envoy', (t: TestContext) => {
  const w = new WriteBuffer(null, 0);
  t.assert.equal(w.limit, Number.POSITIVE_INFINITY);
  w.limit = 4096;
  t.assert.equal(w.limit, 4096);
  w.limit = 0;
  t.assert.equal(w.limit, Number.POSITIVE_INFINITY);
});

test('no open handles', async () => {
  await assertNoOpenHandles();
});
