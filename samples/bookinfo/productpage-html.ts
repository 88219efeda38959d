/**
 * HTML of the productpage: the book, its details, its reviews with stars, and a line saying
 * which reviews version answered and whether ratings were shown, so a reload shows routing
 * at work. Every value from a request or an upstream is escaped.
 */
import type { Product } from './data.ts';

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export type Fetched<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: string };

export type RatingView = { readonly stars: number; readonly color: string } | { readonly error: string };

/** What productpage takes from a reviews answer (checked by `parseReviews`). */
export interface ReviewsView {
  readonly version: string;
  readonly podname: string;
  readonly ratingsEnabled: boolean;
  readonly starColor?: string;
  readonly ratingsPodname?: string;
  readonly ratingsError?: string;
  readonly reviews: readonly {
    readonly reviewer: string;
    readonly text: string;
    readonly rating?: RatingView;
  }[];
}

const str = (v: unknown): v is string => typeof v === 'string';

/** Checks the shape of a reviews answer; undefined when it is not one. */
export function parseReviews(value: unknown): ReviewsView | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  if (
    !str(v.version) ||
    !str(v.podname) ||
    typeof v.ratingsEnabled !== 'boolean' ||
    !Array.isArray(v.reviews)
  ) {
    return undefined;
  }
  const reviews: ReviewsView['reviews'][number][] = [];
  for (const item of v.reviews as unknown[]) {
    if (typeof item !== 'object' || item === null) return undefined;
    const r = item as Record<string, unknown>;
    if (!str(r.reviewer) || !str(r.text)) return undefined;
    let rating: RatingView | undefined;
    if (typeof r.rating === 'object' && r.rating !== null) {
      const g = r.rating as Record<string, unknown>;
      if (typeof g.stars === 'number' && str(g.color)) rating = { stars: g.stars, color: g.color };
      else if (str(g.error)) rating = { error: g.error };
      else return undefined;
    }
    reviews.push({ reviewer: r.reviewer, text: r.text, rating });
  }
  return {
    version: v.version,
    podname: v.podname,
    ratingsEnabled: v.ratingsEnabled,
    starColor: str(v.starColor) ? v.starColor : undefined,
    ratingsPodname: str(v.ratingsPodname) ? v.ratingsPodname : undefined,
    ratingsError: str(v.ratingsError) ? v.ratingsError : undefined,
    reviews,
  };
}

const MAX_STARS = 5;

/** Filled and empty stars, e.g. ★★★★☆ for 4, in the reviews version's colour. */
export function renderStars(stars: number, color: string): string {
  const n = Math.max(0, Math.min(MAX_STARS, Math.round(stars)));
  const label = `${n} of ${MAX_STARS} stars`;
  return (
    `<span class="stars" style="color: ${escapeHtml(color)}" title="${label}" aria-label="${label}">` +
    `${'\u2605'.repeat(n)}${'\u2606'.repeat(MAX_STARS - n)}</span>`
  );
}

function layout(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeHtml(title)}</title>
<link rel="stylesheet" href="/static/style.css">
</head>
<body>
${body}
</body>
</html>
`;
}

export function renderIndexPage(): string {
  return layout(
    'Simple Bookstore App',
    `<main>
<h1>Simple Bookstore App</h1>
<p>A sample application for the mesh: productpage calls details and reviews; reviews v2 and v3 call
ratings over gRPC. Each answer says which version served it.</p>
<ul>
<li><a href="/productpage">Product page</a> (reload to see the reviews versions change)</li>
<li><a href="/api/v1/products">Products API</a></li>
<li><a href="/health">Health</a></li>
</ul>
</main>`,
  );
}

export const STYLE_CSS = `body { font-family: system-ui, sans-serif; margin: 0; color: #222; }
header { background: #2d3e50; color: #fff; padding: 0.6em 1em; display: flex; justify-content: space-between; }
header a { color: #fff; }
main { max-width: 60em; margin: 1em auto; padding: 0 1em; }
.columns { display: flex; gap: 2em; flex-wrap: wrap; }
.columns > section { flex: 1 1 20em; }
dt { font-weight: bold; }
blockquote { border-left: 4px solid #ccc; margin: 1em 0; padding: 0.2em 1em; }
.stars { font-size: 1.3em; letter-spacing: 0.1em; }
.served-by { background: #eef3f8; padding: 0.5em; border-radius: 4px; }
.error { color: #b00020; }
pre.error-detail { white-space: pre-wrap; color: #666; }
`;

function renderSignIn(user: string | undefined): string {
  if (user)
    return `<span>Signed in as <b id="user">${escapeHtml(user)}</b> &middot; <a href="/logout">sign out</a></span>`;
  return `<form method="post" action="/login"><label>User <input name="username" size="10"></label> <button>Sign in</button></form>`;
}

function renderDetails(details: Fetched<Record<string, unknown>>): string {
  if (!details.ok) {
    return `<h4 class="error">Error fetching product details</h4>
<p>Sorry, product details are currently unavailable for this book.</p>
<pre class="error-detail">${escapeHtml(details.error)}</pre>`;
  }
  const fields: [string, string][] = [
    ['Author', 'author'],
    ['Year', 'year'],
    ['Type', 'type'],
    ['Pages', 'pages'],
    ['Publisher', 'publisher'],
    ['Language', 'language'],
    ['ISBN-10', 'ISBN-10'],
    ['ISBN-13', 'ISBN-13'],
  ];
  const rows = fields
    .filter(([, key]) => details.value[key] !== undefined)
    .map(([label, key]) => `<dt>${label}</dt><dd>${escapeHtml(String(details.value[key]))}</dd>`)
    .join('\n');
  return `<dl>\n${rows}\n</dl>`;
}

/** One line saying who answered and what happened to ratings. */
export function describeReviewsSource(view: ReviewsView): string {
  let ratings: string;
  if (!view.ratingsEnabled) ratings = 'ratings not shown';
  else if (view.ratingsError !== undefined) ratings = `ratings unavailable (${view.ratingsError})`;
  else
    ratings = `ratings shown in ${view.starColor ?? 'coloured'} stars${view.ratingsPodname ? ` from ${view.ratingsPodname}` : ''}`;
  return `Reviews served by: ${view.podname} (version ${view.version}), ${ratings}`;
}

function renderReviews(reviews: Fetched<ReviewsView>): string {
  if (!reviews.ok) {
    return `<h4 class="error">Error fetching product reviews</h4>
<p>Sorry, product reviews are currently unavailable for this book.</p>
<pre class="error-detail">${escapeHtml(reviews.error)}</pre>`;
  }
  const view = reviews.value;
  const items = view.reviews
    .map((r) => {
      let rating = '';
      if (r.rating && 'stars' in r.rating) rating = `\n${renderStars(r.rating.stars, r.rating.color)}`;
      else if (r.rating) rating = `\n<p class="error">${escapeHtml(r.rating.error)}</p>`;
      return `<blockquote>\n<p>${escapeHtml(r.text)}</p>\n<footer>${escapeHtml(r.reviewer)}</footer>${rating}\n</blockquote>`;
    })
    .join('\n');
  return `<p class="served-by" id="reviews-source" data-version="${escapeHtml(view.version)}" data-ratings="${
    view.ratingsEnabled ? (view.ratingsError === undefined ? 'shown' : 'unavailable') : 'none'
  }">${escapeHtml(describeReviewsSource(view))}</p>\n${items}`;
}

export interface ProductPageModel {
  readonly product: Product;
  readonly user: string | undefined;
  readonly version: string;
  readonly details: Fetched<Record<string, unknown>>;
  readonly reviews: Fetched<ReviewsView>;
}

export function renderProductPage(model: ProductPageModel): string {
  return layout(
    'Simple Bookstore App',
    `<header><span><a href="/">BookInfo Sample</a> &middot; productpage ${escapeHtml(model.version)}</span>${renderSignIn(
      model.user,
    )}</header>
<main>
<h1>${escapeHtml(model.product.title)}</h1>
<p>${model.product.descriptionHtml}</p>
<div class="columns">
<section id="details">
<h2>Book Details</h2>
${renderDetails(model.details)}
</section>
<section id="reviews">
<h2>Book Reviews</h2>
${renderReviews(model.reviews)}
</section>
</div>
</main>`,
  );
}
