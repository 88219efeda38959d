/**
 * gRPC load client (grpc-js): C unary calls kept in flight on one channel for D seconds after
 * a warm-up; prints {"event":"start"} when measuring starts, then JSON
 * {requests, failed, seconds, rps, firstError}.
 * Usage: node bench/proxy/grpc-load.ts --port P [--concurrency 50] [--seconds 5] [--warmup 1]
 */

import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { BENCH_SERVICE } from './grpc-common.ts';

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    concurrency: { type: 'string', default: '50' },
    seconds: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '1' },
  },
});
const Client = grpc.makeGenericClientConstructor(BENCH_SERVICE, 'Bench');
const client = new Client(
  `127.0.0.1:${values.port}`,
  grpc.credentials.createInsecure(),
) as unknown as grpc.Client & {
  get(req: Buffer, cb: (err: grpc.ServiceError | null) => void): void;
};
const empty = Buffer.alloc(0);
let measuring = false;
let stopping = false;
let done = 0;
let failed = 0;
let firstError = '';

function loop(): void {
  if (stopping) return;
  client.get(empty, (err) => {
    if (measuring) {
      if (err) {
        failed++;
        firstError ||= err.message;
      } else done++;
    }
    // A failing target must not spin: back off a little on errors.
    if (err) setTimeout(loop, 10);
    else loop();
  });
}
for (let i = 0; i < Number(values.concurrency); i++) loop();

setTimeout(() => {
  measuring = true;
  // Tells the harness to take its first CPU sample of the proxy now.
  console.log(JSON.stringify({ event: 'start' }));
  const t0 = performance.now();
  setTimeout(() => {
    measuring = false;
    stopping = true;
    const seconds = (performance.now() - t0) / 1000;
    console.log(JSON.stringify({ requests: done, failed, seconds, rps: done / seconds, firstError }));
    client.close();
    setTimeout(() => process.exit(0), 100).unref();
  }, Number(values.seconds) * 1000);
}, Number(values.warmup) * 1000);
