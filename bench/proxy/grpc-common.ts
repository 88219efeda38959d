/**
 * The benchmark's gRPC service without protos: one unary method whose request and response are
 * raw bytes (identity serialisers), so neither side pays for protobuf encoding.
 */
import type { ServiceDefinition } from '@grpc/grpc-js';

const identity = (b: Buffer): Buffer => b;

export const BENCH_SERVICE: ServiceDefinition = {
  get: {
    path: '/mizzen.bench.Bench/Get',
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};
