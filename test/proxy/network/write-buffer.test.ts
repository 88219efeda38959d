/**
 * Direct socket reads (SlabReader / readDirect): bytes handed out are never overwritten by later
 * reads, and an accepted socket switched mid-stream delivers the rest of its bytes, in order, to
 * the sink, with 'end' still emitted.
 */
import net from 'node:net';
import { type TestContext, test } from 'node:test';
import { readDirect, SlabReader } from '../../../src/proxy/network/write-buffer.ts';
import { assertNoOpenHandles } from '../support/harness.ts';

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

test('no open handles', async () => {
  await assertNoOpenHandles();
});
