/**
 * The floor under a full push: how long this machine takes to move the same bytes through
 * HTTP/2 to a reading client on the same cores, with no control plane at all. A server process
 * writes one shared, pre-encoded message of `--bytes` to each of `--streams` open streams (50
 * per connection, 1 MiB flow-control windows, at most 64 MiB written and not yet flushed — the
 * load client's and mizzend's settings); the client only counts bytes. Prints figures, asserts
 * nothing (DESIGN §8).
 *
 *   node_modules/.bin/node bench/control-plane/floor.ts [--mode http2|grpc|grpc-framed] [--streams 2000]
 *     [--bytes 2100000] [--per-connection 50] [--request-bytes 0]
 *
 * `http2` is bare node:http2 (the shared Buffer is written as is: no copy per stream); `grpc`
 * is @grpc/grpc-js on both ends (it frames every message into a fresh Buffer, as mizzend's
 * server did); `grpc-framed` is grpc-js with the frame built once and written as is by every
 * stream (mizzend's framed-write.ts). The differences are what gRPC itself costs. The grpc
 * modes use a bidirectional method, as ADS: each stream's request (`--request-bytes`) starts
 * the push, and the server RSS printed shows what receiving it kept.
 */
import { fork } from 'node:child_process';
import http2 from 'node:http2';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { frameMessage, installFramedWrites } from '../../src/pilot/xds/framed-write.ts';

const { values: args } = parseArgs({
  options: {
    mode: { type: 'string', default: 'http2' },
    streams: { type: 'string', default: '2000' },
    bytes: { type: 'string', default: '2100000' },
    'per-connection': { type: 'string', default: '50' },
    // grpc modes: each stream's request message has this size (an EDS subscription at full
    // size is ~150 KB), to see what receiving it costs the server.
    'request-bytes': { type: 'string', default: '0' },
    // Internal: run as the server child.
    serve: { type: 'boolean', default: false },
  },
});
const MODE = args.mode;
const STREAMS = Number(args.streams);
const BYTES = Number(args.bytes);
const PER_CONNECTION = Number(args['per-connection']);
const REQUEST_BYTES = Number(args['request-bytes']);
const WINDOW = 1024 * 1024;
const BUDGET = 64 * 1024 * 1024;
const METHOD = '/bench.Floor/Push';

if (MODE !== 'http2' && MODE !== 'grpc' && MODE !== 'grpc-framed')
  throw new Error(`--mode must be http2, grpc or grpc-framed, got ${MODE}`);

type ToServer = { type: 'go' } | { type: 'report' } | { type: 'stop' };
type FromServer =
  | { type: 'listening'; port: number }
  | { type: 'ready'; rssMb: number }
  /** Server CPU from the first write until the client had read everything. */
  | { type: 'report'; cpuMs: number; writtenMs: number; rssMb: number; peakRssMb: number };

/** Writes to every stream with at most BUDGET bytes handed over and not yet flushed. */
function pump(writers: ((done: () => void) => void)[], bytes: number, finished: (ms: number) => void) {
  const start = performance.now();
  let next = 0;
  let inFlight = 0;
  let completed = 0;
  const fill = () => {
    while (next < writers.length && inFlight < BUDGET) {
      inFlight += bytes;
      writers[next++](() => {
        inFlight -= bytes;
        if (++completed === writers.length) finished(performance.now() - start);
        else fill();
      });
    }
  };
  fill();
}

function serve() {
  const send = (m: FromServer) => process.send?.(m);
  // One pre-encoded message, shared by every stream (as mizzend shares one encoded response).
  const message = Buffer.alloc(BYTES, 7);
  const writers: ((done: () => void) => void)[] = [];
  let close: () => void;
  const arrived = () => {
    if (writers.length === STREAMS) {
      // Garbage would otherwise count as held: RSS here is what the open streams keep.
      (globalThis as { gc?: () => void }).gc?.();
      const m = process.memoryUsage();
      console.log(
        `server: heap used ${(m.heapUsed / 2 ** 20).toFixed(0)} MB, external ${(m.external / 2 ** 20).toFixed(0)} MB with the streams open`,
      );
      send({ type: 'ready', rssMb: m.rss / 2 ** 20 });
    }
  };
  if (MODE === 'http2') {
    // gRPC's framing, done once: the 5-byte prefix and the message, written to every stream.
    const framed = Buffer.allocUnsafe(BYTES + 5);
    framed.writeUInt8(0, 0);
    framed.writeUInt32BE(BYTES, 1);
    message.copy(framed, 5);
    const server = http2.createServer({ settings: { initialWindowSize: WINDOW } });
    server.on('session', (s) => s.setLocalWindowSize(WINDOW * PER_CONNECTION));
    server.on('stream', (stream) => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
      writers.push((done) => stream.write(framed, done));
      arrived();
    });
    server.listen(0, '127.0.0.1', () => {
      const a = server.address();
      send({ type: 'listening', port: typeof a === 'object' && a ? a.port : 0 });
    });
    close = () => server.close();
  } else {
    // grpc-framed: the frame is built once and grpc-js writes it as is (mizzend's way).
    const framed = MODE === 'grpc-framed' && installFramedWrites();
    if (MODE === 'grpc-framed' && !framed) throw new Error('grpc-js framing hook not available');
    const shared: unknown = framed ? frameMessage(message) : message;
    const server = new grpc.Server({ 'grpc-node.flow_control_window': WINDOW * PER_CONNECTION });
    server.addService(
      {
        Push: {
          path: METHOD,
          requestStream: true,
          responseStream: true,
          requestSerialize: (b: Buffer) => b,
          requestDeserialize: (b: Buffer) => b,
          responseSerialize: (b: Buffer) => b,
          responseDeserialize: (b: Buffer) => b,
        },
      },
      {
        // A bidirectional stream, as ADS: the push starts once every stream sent its request.
        Push: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
          call.once('data', () => {
            writers.push((done) => call.write(shared as Buffer, done));
            arrived();
          });
        },
      },
    );
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
      if (err) throw err;
      send({ type: 'listening', port });
    });
    close = () => server.forceShutdown();
  }
  let cpu = process.cpuUsage();
  let writtenMs = Number.NaN;
  process.on('message', (m: ToServer) => {
    if (m.type === 'go') {
      cpu = process.cpuUsage();
      pump(writers, BYTES, (ms) => {
        writtenMs = ms;
      });
    } else if (m.type === 'report') {
      const used = process.cpuUsage(cpu);
      send({
        type: 'report',
        cpuMs: (used.user + used.system) / 1000,
        writtenMs,
        rssMb: process.memoryUsage.rss() / 2 ** 20,
        peakRssMb: process.resourceUsage().maxRSS / 1024,
      });
    } else {
      close();
      process.disconnect();
    }
  });
}

async function main() {
  const child = fork(fileURLToPath(import.meta.url), [...process.argv.slice(2), '--serve'], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    execArgv: [...process.execArgv, '--expose-gc'],
  });
  const messages: FromServer[] = [];
  const waiters: ((m: FromServer) => void)[] = [];
  child.on('message', (m: FromServer) => {
    const w = waiters.shift();
    if (w) w(m);
    else messages.push(m);
  });
  const next = () =>
    new Promise<FromServer>((resolve) => {
      const m = messages.shift();
      if (m) resolve(m);
      else waiters.push(resolve);
    });
  const listening = await next();
  if (listening.type !== 'listening') throw new Error(`unexpected ${listening.type}`);
  const address = `127.0.0.1:${listening.port}`;

  const connections = Math.ceil(STREAMS / PER_CONNECTION);
  const expected = BYTES + 5;
  let complete = 0;
  let lastByte = 0;
  let allDone: () => void = () => {};
  const done = new Promise<void>((r) => {
    allDone = r;
  });
  const received = (n: number, total: { n: number }) => {
    total.n += n;
    if (total.n === expected) {
      if (++complete === STREAMS) {
        lastByte = performance.now();
        allDone();
      }
    }
  };
  const closers: (() => void)[] = [];
  if (MODE === 'http2') {
    for (let c = 0; c < connections; c++) {
      const session = http2.connect(`http://${address}`, { settings: { initialWindowSize: WINDOW } });
      session.on('connect', () => session.setLocalWindowSize(WINDOW * PER_CONNECTION));
      closers.push(() => session.destroy());
      for (let s = 0; s < PER_CONNECTION && c * PER_CONNECTION + s < STREAMS; s++) {
        const req = session.request({
          ':method': 'POST',
          ':path': METHOD,
          'content-type': 'application/grpc',
        });
        const total = { n: 0 };
        req.on('data', (chunk: Buffer) => received(chunk.length, total));
        req.on('error', () => {});
      }
    }
  } else {
    const Ctor = grpc.makeGenericClientConstructor(
      {
        Push: {
          path: METHOD,
          requestStream: true,
          responseStream: true,
          requestSerialize: (b: Buffer) => b,
          requestDeserialize: (b: Buffer) => b,
          responseSerialize: (b: Buffer) => b,
          responseDeserialize: (b: Buffer) => b,
        },
      },
      'Floor',
    );
    for (let c = 0; c < connections; c++) {
      const client = new Ctor(address, grpc.credentials.createInsecure(), {
        'grpc.max_receive_message_length': -1,
        'grpc.use_local_subchannel_pool': 1,
        'grpc-node.flow_control_window': WINDOW,
      }) as unknown as grpc.Client & {
        Push(): grpc.ClientDuplexStream<Buffer, Buffer>;
      };
      closers.push(() => client.close());
      for (let s = 0; s < PER_CONNECTION && c * PER_CONNECTION + s < STREAMS; s++) {
        const call = client.Push();
        call.write(Buffer.alloc(REQUEST_BYTES, 1));
        // grpc-js hands over whole messages: count the framing too, as the http2 client does.
        const total = { n: 0 };
        call.on('data', (m: Buffer) => received(m.length + 5, total));
        call.on('error', () => {});
      }
    }
  }
  const ready = await next();
  if (ready.type !== 'ready') throw new Error(`unexpected ${ready.type}`);
  const clientCpu = process.cpuUsage();
  const start = performance.now();
  child.send({ type: 'go' } satisfies ToServer);
  await done;
  const used = process.cpuUsage(clientCpu);
  child.send({ type: 'report' } satisfies ToServer);
  const server = await next();
  if (server.type !== 'report') throw new Error(`unexpected ${server.type}`);
  const ms = lastByte - start;
  const gb = (STREAMS * expected) / 1e9;
  console.log(
    `${MODE}: ${STREAMS} streams × ${(BYTES / 1e6).toFixed(2)} MB (${gb.toFixed(2)} GB, ${PER_CONNECTION} streams per connection, ` +
      `1 MiB windows, 64 MiB in flight): last byte read ${(ms / 1000).toFixed(2)} s after the first write ` +
      `(${(gb / (ms / 1000)).toFixed(2)} GB/s); server CPU ${(server.cpuMs / 1000).toFixed(2)} s, ` +
      `client CPU ${((used.user + used.system) / 1e6).toFixed(2)} s; server RSS ${ready.rssMb.toFixed(0)} MB with the ` +
      `streams open, ${server.rssMb.toFixed(0)} MB after (peak ${server.peakRssMb.toFixed(0)} MB)`,
  );
  for (const c of closers) c();
  child.send({ type: 'stop' } satisfies ToServer);
}

if (args.serve) serve();
else
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
