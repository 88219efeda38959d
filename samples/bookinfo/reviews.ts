/**
 * reviews: the book's reviews, in three versions that differ only in what they do with ratings.
 * v1 shows none; v2 asks ratings over gRPC and shows black stars; v3 does the same with red
 * stars. The response says which pod and version answered.
 *
 * Settings: RATINGS_TARGET (gRPC host:port, default ratings:9080), RATINGS_AUTHORITY (optional
 * :authority), RATINGS_TIMEOUT_MS (default 2500); ENABLE_RATINGS and STAR_COLOR override the
 * version's behaviour (and are required for a version other than v1..v3); POD_NAME,
 * CLUSTER_NAME.
 */
import {
  envAuthority,
  envBool,
  envGrpcTarget,
  envInt,
  envOptionalString,
  SampleConfigError,
} from '../common/env.ts';
import { healthRoute, json, router, startHttpService, statusRoute } from '../common/http-service.ts';
import { propagatedHeaders } from '../common/propagation.ts';
import type { Workload, WorkloadContext } from '../common/workload.ts';
import { parseProductId, podName, REVIEWS } from './data.ts';
import { RatingsClient } from './ratings-grpc.ts';

const VERSION_DEFAULTS: Readonly<Record<string, { ratings: boolean; color?: string }>> = {
  v1: { ratings: false },
  v2: { ratings: true, color: 'black' },
  v3: { ratings: true, color: 'red' },
};

export type Rating = { stars: number; color: string } | { error: string };

export interface ReviewsResponse {
  id: number;
  podname: string;
  clustername: string;
  version: string;
  ratingsEnabled: boolean;
  starColor?: string;
  /** Which ratings pod answered (when ratings were fetched). */
  ratingsPodname?: string;
  /** Why ratings are missing (when the call failed). */
  ratingsError?: string;
  reviews: { reviewer: string; text: string; rating?: Rating }[];
}

export const RATINGS_UNAVAILABLE = 'Ratings service is currently unavailable';

interface ReviewsSettings {
  ratings: boolean;
  color: string | undefined;
}

function settingsFor(ctx: WorkloadContext): ReviewsSettings {
  const defaults = VERSION_DEFAULTS[ctx.version];
  const enabledSetting = envOptionalString(ctx.env, 'ENABLE_RATINGS');
  if (!defaults && enabledSetting === undefined) {
    throw new SampleConfigError(
      `reviews: version ${ctx.version} has no built-in behaviour (v1, v2, v3); set ENABLE_RATINGS (and STAR_COLOR)`,
    );
  }
  const ratings = envBool(ctx.env, 'ENABLE_RATINGS', defaults?.ratings ?? false);
  const color = envOptionalString(ctx.env, 'STAR_COLOR') ?? defaults?.color;
  if (ratings && color === undefined)
    throw new SampleConfigError('STAR_COLOR: required when ENABLE_RATINGS is on');
  if (color !== undefined && !/^[a-z]{1,20}$/.test(color)) {
    throw new SampleConfigError(
      `STAR_COLOR: expected a CSS colour name (e.g. black, red), got ${JSON.stringify(color)}`,
    );
  }
  return { ratings, color };
}

export async function startReviews(ctx: WorkloadContext): Promise<Workload> {
  const settings = settingsFor(ctx);
  const pod = podName(ctx.env, ctx.name, ctx.version);
  const cluster = envOptionalString(ctx.env, 'CLUSTER_NAME') ?? 'local';
  const client = settings.ratings
    ? new RatingsClient({
        target: envGrpcTarget(ctx.env, 'RATINGS_TARGET', 'ratings:9080'),
        authority: envAuthority(ctx.env, 'RATINGS_AUTHORITY'),
        timeoutMs: envInt(ctx.env, 'RATINGS_TIMEOUT_MS', 2500, 1, 600_000),
      })
    : undefined;

  async function reviewsFor(
    id: number,
    incoming: Readonly<Record<string, string | undefined>>,
  ): Promise<ReviewsResponse> {
    const out: ReviewsResponse = {
      id,
      podname: pod,
      clustername: cluster,
      version: ctx.version,
      ratingsEnabled: settings.ratings,
      ...(settings.ratings ? { starColor: settings.color } : {}),
      reviews: REVIEWS.map((r) => ({ reviewer: r.reviewer, text: r.text })),
    };
    if (!client || !settings.color) return out;
    try {
      const answer = await client.getRatings(id, propagatedHeaders(incoming));
      out.ratingsPodname = answer.podname;
      for (const review of out.reviews) {
        const stars = answer.ratings[review.reviewer];
        review.rating = stars === undefined ? { error: 'no rating' } : { stars, color: settings.color };
      }
    } catch (err) {
      // Like Bookinfo: the reviews still answer, each rating carries the error.
      out.ratingsError = err instanceof Error ? err.message : String(err);
      for (const review of out.reviews) review.rating = { error: RATINGS_UNAVAILABLE };
      ctx.log.access('ratings call failed', { err: out.ratingsError });
    }
    return out;
  }

  const handler = router([
    healthRoute(ctx.name, ctx.version),
    statusRoute(ctx.name, ctx.version),
    {
      method: 'GET',
      pattern: /^\/reviews\/([^/]+)$/,
      handle: async (req, [raw]) => {
        const id = parseProductId(raw);
        if (id === undefined) return json(400, { error: 'please provide a numeric product id' });
        return json(200, await reviewsFor(id, req.headers));
      },
    },
  ]);

  return startHttpService({ ctx, handler, onClosed: () => client?.close() });
}
