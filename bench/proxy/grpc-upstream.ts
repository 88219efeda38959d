/**
 * Benchmark gRPC backend (grpc-js, h2c): answers every unary call with 1 KiB.
 * Usage: node bench/proxy/grpc-upstream.ts  (prints the port)
 */
import * as grpc from '@grpc/grpc-js';
import { BENCH_SERVICE } from './grpc-common.ts';

const body = Buffer.alloc(1024, 'x');
const server = new grpc.Server();
server.addService(BENCH_SERVICE, {
  get: (_call: unknown, callback: grpc.sendUnaryData<Buffer>) => callback(null, body),
});
server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) throw err;
  console.log(port);
});
process.on('SIGTERM', () => server.forceShutdown());
