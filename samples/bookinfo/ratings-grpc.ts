/**
 * The ratings gRPC API (ratings.proto) loaded with @grpc/proto-loader: the message codecs the
 * ratings server uses, and the @grpc/grpc-js client reviews v2/v3 call it with.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

export const RATINGS_PROTO = path.join(path.dirname(fileURLToPath(import.meta.url)), 'ratings.proto');
export const GET_RATINGS_PATH = '/ratings.v1.Ratings/GetRatings';

export interface GetRatingsRequest {
  product_id: number;
}

export interface GetRatingsResponse {
  product_id: number;
  ratings: Record<string, number>;
  version: string;
  podname: string;
}

let loaded: protoLoader.PackageDefinition | undefined;

export function ratingsPackage(): protoLoader.PackageDefinition {
  loaded ??= protoLoader.loadSync(RATINGS_PROTO, {
    keepCase: true,
    longs: Number,
    enums: String,
    defaults: true,
  });
  return loaded;
}

export function getRatingsMethod(): protoLoader.MethodDefinition<GetRatingsRequest, GetRatingsResponse> {
  const service = ratingsPackage()['ratings.v1.Ratings'] as protoLoader.ServiceDefinition;
  return service.GetRatings as protoLoader.MethodDefinition<GetRatingsRequest, GetRatingsResponse>;
}

export interface RatingsClientOptions {
  /** host:port of the ratings service (plaintext HTTP/2). */
  readonly target: string;
  /** :authority to send instead of the target (e.g. the service name behind a local sidecar port). */
  readonly authority?: string;
  readonly timeoutMs: number;
}

type GetRatingsFn = (
  request: GetRatingsRequest,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  callback: (err: grpc.ServiceError | null, response?: GetRatingsResponse) => void,
) => grpc.ClientUnaryCall;

export class RatingsClient {
  readonly #client: grpc.Client;
  readonly #timeoutMs: number;

  constructor(options: RatingsClientOptions) {
    const pkg = grpc.loadPackageDefinition(ratingsPackage()) as unknown as {
      ratings: { v1: { Ratings: grpc.ServiceClientConstructor } };
    };
    const channelOptions: grpc.ChannelOptions = {
      // A restarted ratings (or sidecar) is found again within seconds, not minutes.
      'grpc.initial_reconnect_backoff_ms': 200,
      'grpc.max_reconnect_backoff_ms': 2000,
    };
    if (options.authority) channelOptions['grpc.default_authority'] = options.authority;
    this.#client = new pkg.ratings.v1.Ratings(
      options.target,
      grpc.credentials.createInsecure(),
      channelOptions,
    );
    this.#timeoutMs = options.timeoutMs;
  }

  /** Calls GetRatings; `headers` become request metadata (binary `-bin` values are base64). */
  getRatings(productId: number, headers: Readonly<Record<string, string>>): Promise<GetRatingsResponse> {
    const metadata = new grpc.Metadata();
    for (const [key, value] of Object.entries(headers)) {
      // grpc-js sends its own user-agent.
      if (key === 'user-agent') continue;
      if (key.endsWith('-bin')) metadata.set(key, Buffer.from(value, 'base64'));
      else metadata.set(key, value);
    }
    const call = (this.#client as unknown as { GetRatings: GetRatingsFn }).GetRatings.bind(this.#client);
    return new Promise((resolve, reject) => {
      call(
        { product_id: productId },
        metadata,
        { deadline: Date.now() + this.#timeoutMs },
        (err, response) =>
          err || !response ? reject(err ?? new Error('empty response')) : resolve(response),
      );
    });
  }

  close(): void {
    this.#client.close();
  }
}
