/**
 * Pre-framed writes: grpc-js writes a FramedMessage's frame as is (no copy per stream), the
 * same frame reaches every stream intact, and every other value still takes grpc-js' own
 * framing (other gRPC servers in the process are unaffected). Real gRPC on port 0.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import {
  FramedMessage,
  frameMessage,
  installFramedWrites,
  writable,
} from '../../../src/pilot/xds/framed-write.ts';
import { testNoOpenHandles } from './harness.ts';

const T = { timeout: 30_000 };
const identity = (b: Buffer) => b;
const METHOD = {
  Push: {
    path: '/test.Framed/Push',
    requestStream: false,
    responseStream: true,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};

test('frameMessage writes the gRPC length prefix once, in front of the message', () => {
  const m = frameMessage(Uint8Array.of(1, 2, 3));
  assert.ok(m instanceof FramedMessage);
  assert.deepEqual([...m.frame], [0, 0, 0, 0, 3, 1, 2, 3]);
  assert.equal(m.length, 3);
  assert.deepEqual([...m.message()], [1, 2, 3]);
});

test('the installed grpc-js has the framing hook (else every response is copied per stream)', () => {
  assert.equal(installFramedWrites(), true);
  assert.equal(installFramedWrites(), true, 'idempotent');
  const m = frameMessage(Uint8Array.of(9));
  assert.equal(writable(m), m);
});

test(
  'one frame written to many streams arrives intact; plain messages still framed by grpc-js',
  T,
  async () => {
    installFramedWrites();
    const big = Buffer.alloc(200_000);
    for (let i = 0; i < big.length; i++) big[i] = i % 251;
    const shared = frameMessage(big);
    const server = new grpc.Server();
    server.addService(METHOD, {
      Push: (call: grpc.ServerWritableStream<Buffer, unknown>) => {
        call.write(shared);
        call.write(Buffer.from('plain'));
        call.write(shared);
        call.end();
      },
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    const Client = grpc.makeGenericClientConstructor(METHOD, 'Framed');
    const client = new Client(
      `127.0.0.1:${port}`,
      grpc.credentials.createInsecure(),
    ) as unknown as grpc.Client & {
      Push(req: Buffer): grpc.ClientReadableStream<Buffer>;
    };
    try {
      const read = (): Promise<Buffer[]> =>
        new Promise((resolve, reject) => {
          const got: Buffer[] = [];
          const call = client.Push(Buffer.alloc(0));
          call.on('data', (b: Buffer) => got.push(b));
          call.on('error', reject);
          call.on('end', () => resolve(got));
        });
      const streams = await Promise.all([read(), read(), read()]);
      for (const got of streams) {
        assert.equal(got.length, 3);
        assert.ok(got[0].equals(big));
        assert.equal(got[1].toString(), 'plain');
        assert.ok(got[2].equals(big));
      }
    } finally {
      client.close();
      server.forceShutdown();
    }
  },
);

testNoOpenHandles();
