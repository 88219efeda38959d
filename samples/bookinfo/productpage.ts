/**
 * productpage: the front end. `GET /productpage` calls details and reviews (in parallel) and
 * renders one HTML page; `/api/v1/products…` gives the same data as JSON. Tracing and identity
 * headers are copied to every upstream call; a signed-in user (POST /login) is sent as
 * `end-user`, which is what header-based routing matches. An upstream that fails only blanks
 * its part of the page ("Error fetching product reviews"): the page itself is still a 200.
 *
 * Settings: DETAILS_URL (default http://details:9080), REVIEWS_URL (http://reviews:9080),
 * RATINGS_URL (http://ratings:9080, for the ratings API), each with an optional *_AUTHORITY
 * Host header override; UPSTREAM_TIMEOUT_MS (default 3000).
 */
import { envAuthority, envHttpBase, envInt } from '../common/env.ts';
import { Upstream, UpstreamError } from '../common/http-client.ts';
import {
  healthRoute,
  html,
  json,
  plain,
  router,
  type SampleRequest,
  type SampleResponse,
  startHttpService,
  statusRoute,
} from '../common/http-service.ts';
import { propagatedHeaders } from '../common/propagation.ts';
import type { Workload, WorkloadContext } from '../common/workload.ts';
import { PRODUCTS, parseProductId, productById } from './data.ts';
import {
  type Fetched,
  parseReviews,
  type ReviewsView,
  renderIndexPage,
  renderProductPage,
  STYLE_CSS,
} from './productpage-html.ts';

const USER_COOKIE = 'user';
const USER_RE = /^[A-Za-z0-9._-]{1,64}$/;

/** The signed-in user from the `user` cookie, if any (and well-formed). */
export function userFromCookie(cookie: string | undefined): string | undefined {
  if (!cookie) return undefined;
  for (const part of cookie.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== USER_COOKIE) continue;
    const value = part.slice(eq + 1).trim();
    return USER_RE.test(value) ? value : undefined;
  }
  return undefined;
}

/** Headers for an upstream call: the propagated set, plus `end-user` from the session. */
export function upstreamHeaders(req: SampleRequest): Record<string, string> {
  const headers = propagatedHeaders(req.headers);
  const user = userFromCookie(req.headers.cookie);
  if (headers['end-user'] === undefined && user) headers['end-user'] = user;
  return headers;
}

function upstream(ctx: WorkloadContext, service: string, timeoutMs: number): Upstream {
  const prefix = service.toUpperCase();
  return new Upstream({
    base: envHttpBase(ctx.env, `${prefix}_URL`, `http://${service}:9080`),
    authority: envAuthority(ctx.env, `${prefix}_AUTHORITY`),
    timeoutMs,
  });
}

const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err));

export async function startProductPage(ctx: WorkloadContext): Promise<Workload> {
  const timeoutMs = envInt(ctx.env, 'UPSTREAM_TIMEOUT_MS', 3000, 1, 600_000);
  const details = upstream(ctx, 'details', timeoutMs);
  const reviews = upstream(ctx, 'reviews', timeoutMs);
  const ratings = upstream(ctx, 'ratings', timeoutMs);

  async function fetchDetails(
    id: number,
    headers: Record<string, string>,
  ): Promise<Fetched<Record<string, unknown>>> {
    try {
      const value = await details.getJson(`/details/${id}`, headers);
      if (typeof value !== 'object' || value === null)
        return { ok: false, error: 'details: response is not an object' };
      return { ok: true, value: value as Record<string, unknown> };
    } catch (err) {
      ctx.log.access('details call failed', { err });
      return { ok: false, error: errorText(err) };
    }
  }

  async function fetchReviews(id: number, headers: Record<string, string>): Promise<Fetched<ReviewsView>> {
    try {
      const view = parseReviews(await reviews.getJson(`/reviews/${id}`, headers));
      if (!view) return { ok: false, error: 'reviews: response does not have the expected shape' };
      return { ok: true, value: view };
    } catch (err) {
      ctx.log.access('reviews call failed', { err });
      return { ok: false, error: errorText(err) };
    }
  }

  /** The JSON API passes an upstream answer through, or explains why there is none. */
  async function proxyJson(
    from: Upstream,
    path: string,
    req: SampleRequest,
    what: string,
  ): Promise<SampleResponse> {
    try {
      return json(200, await from.getJson(path, upstreamHeaders(req)));
    } catch (err) {
      const status =
        err instanceof UpstreamError && err.status !== undefined && err.status >= 400 ? err.status : 503;
      return json(status, {
        error: `Sorry, product ${what} are currently unavailable for this book.`,
        detail: errorText(err),
      });
    }
  }

  const productRoute = (suffix: string, fn: (id: number, req: SampleRequest) => Promise<SampleResponse>) => ({
    method: 'GET' as const,
    pattern: new RegExp(`^/api/v1/products/([^/]+)${suffix}$`),
    handle: (req: SampleRequest, [raw]: readonly string[]) => {
      const id = parseProductId(raw);
      if (id === undefined) return json(400, { error: 'please provide a numeric product id' });
      return fn(id, req);
    },
  });

  const handler = router([
    healthRoute(ctx.name, ctx.version),
    statusRoute(ctx.name, ctx.version),
    { method: 'GET', pattern: /^\/$/, handle: () => html(200, renderIndexPage()) },
    {
      method: 'GET',
      pattern: /^\/productpage$/,
      handle: async (req) => {
        const headers = upstreamHeaders(req);
        const product = productById(0);
        const [d, r] = await Promise.all([
          fetchDetails(product.id, headers),
          fetchReviews(product.id, headers),
        ]);
        const page = renderProductPage({
          product,
          user: userFromCookie(req.headers.cookie),
          version: ctx.version,
          details: d,
          reviews: r,
        });
        return html(200, page, { 'cache-control': 'no-store' });
      },
    },
    {
      method: 'GET',
      pattern: /^\/static\/style\.css$/,
      handle: () => ({
        status: 200,
        headers: { 'content-type': 'text/css; charset=utf-8' },
        body: STYLE_CSS,
      }),
    },
    {
      method: 'POST',
      pattern: /^\/login$/,
      handle: (req) => {
        const username = new URLSearchParams(req.body.toString('utf8')).get('username') ?? '';
        if (!USER_RE.test(username)) {
          return plain(400, 'username: 1 to 64 letters, digits, ".", "_" or "-"\n');
        }
        return {
          status: 302,
          headers: {
            location: '/productpage',
            'set-cookie': `${USER_COOKIE}=${username}; Path=/; HttpOnly; SameSite=Lax`,
          },
        };
      },
    },
    {
      method: 'GET',
      pattern: /^\/logout$/,
      handle: () => ({
        status: 302,
        headers: {
          location: '/productpage',
          'set-cookie': `${USER_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax`,
        },
      }),
    },
    { method: 'GET', pattern: /^\/api\/v1\/products$/, handle: () => json(200, PRODUCTS) },
    productRoute('', (id, req) => proxyJson(details, `/details/${id}`, req, 'details')),
    productRoute('/reviews', (id, req) => proxyJson(reviews, `/reviews/${id}`, req, 'reviews')),
    productRoute('/ratings', (id, req) => proxyJson(ratings, `/ratings/${id}`, req, 'ratings')),
  ]);

  return startHttpService({
    ctx,
    handler,
    onClosed: () => {
      details.close();
      reviews.close();
      ratings.close();
    },
  });
}
