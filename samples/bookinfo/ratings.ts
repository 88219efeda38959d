/**
 * ratings: the stars each reviewer gave, over gRPC (`ratings.v1.Ratings/GetRatings`, the hop
 * reviews v2/v3 use) and over HTTP (`GET /ratings/{id}`), both on one port.
 *
 * Settings: FAIL_PERCENT=0..100 makes that share of rating lookups fail (gRPC UNAVAILABLE,
 * HTTP 503), spread evenly and deterministically (50 fails every second lookup), for retry and
 * outlier-detection demos; UNAVAILABLE=1 is FAIL_PERCENT=100. POD_NAME names the answerer.
 */
import { envBool, envInt } from '../common/env.ts';
import { createGrpcUnaryService, GrpcStatus, GrpcStatusError } from '../common/grpc-unary.ts';
import { healthRoute, json, router, startHttpService, statusRoute } from '../common/http-service.ts';
import type { Workload, WorkloadContext } from '../common/workload.ts';
import { parseProductId, podName, RATINGS } from './data.ts';
import {
  GET_RATINGS_PATH,
  type GetRatingsRequest,
  type GetRatingsResponse,
  getRatingsMethod,
} from './ratings-grpc.ts';

/** Decides which lookups fail: exactly `percent` of every 100, evenly spread. */
export class FailureSchedule {
  readonly percent: number;
  #count = 0;

  constructor(percent: number) {
    this.percent = percent;
  }

  /** True when the next lookup must fail. */
  next(): boolean {
    const n = ++this.#count;
    return Math.floor((n * this.percent) / 100) > Math.floor(((n - 1) * this.percent) / 100);
  }
}

export async function startRatings(ctx: WorkloadContext): Promise<Workload> {
  const percent = envBool(ctx.env, 'UNAVAILABLE', false) ? 100 : envInt(ctx.env, 'FAIL_PERCENT', 0, 0, 100);
  const failures = new FailureSchedule(percent);
  const pod = podName(ctx.env, ctx.name, ctx.version);
  const failureText = `ratings ${pod} is failing on purpose (FAIL_PERCENT=${percent})`;

  const lookup = (id: number): GetRatingsResponse => ({
    product_id: id,
    ratings: { ...RATINGS },
    version: ctx.version,
    podname: pod,
  });

  const method = getRatingsMethod();
  const grpc = createGrpcUnaryService(
    [
      {
        path: GET_RATINGS_PATH,
        decode: (buf) => method.requestDeserialize(buf),
        encode: (value) => method.responseSerialize(value as GetRatingsResponse),
        handle: (request) => {
          const id = (request as GetRatingsRequest).product_id;
          if (id < 0)
            throw new GrpcStatusError(GrpcStatus.INVALID_ARGUMENT, `product_id must be >= 0, got ${id}`);
          if (failures.next()) throw new GrpcStatusError(GrpcStatus.UNAVAILABLE, failureText);
          ctx.log.access('grpc', { method: GET_RATINGS_PATH, product_id: id });
          return lookup(id);
        },
      },
    ],
    { onError: (path, err) => ctx.log.error('grpc handler failed', { path, err }) },
  );

  const handler = router([
    healthRoute(ctx.name, ctx.version),
    statusRoute(ctx.name, ctx.version),
    {
      method: 'GET',
      pattern: /^\/ratings\/([^/]+)$/,
      handle: (_req, [raw]) => {
        const id = parseProductId(raw);
        if (id === undefined) return json(400, { error: 'please provide a numeric product id' });
        if (failures.next()) return json(503, { error: failureText });
        const r = lookup(id);
        return json(200, { id: r.product_id, ratings: r.ratings, version: r.version, podname: r.podname });
      },
    },
  ]);

  return startHttpService({ ctx, handler, grpc });
}
