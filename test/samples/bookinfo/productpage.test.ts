import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { renderStars } from '../../../samples/bookinfo/productpage-html.ts';
import {
  closedPort,
  fakeUpstream,
  getJson,
  request,
  type Started,
  start,
  testNoOpenHandles,
} from '../helpers.ts';

/** The "reviews served by" line of a page, without tags. */
function servedBy(page: string): string {
  const m = /<p class="served-by"[^>]*>([^<]*)<\/p>/.exec(page);
  assert.ok(m, 'the page names the reviews version');
  return m[1];
}

describe('productpage over the real workloads', () => {
  let details: Started;
  let ratings: Started;
  const reviews: Record<string, Started> = {};
  const pages: Record<string, Started> = {};

  before(async () => {
    details = await start('details');
    ratings = await start('ratings', 'v1', { POD_NAME: 'ratings-1' });
    for (const v of ['v1', 'v2', 'v3']) {
      reviews[v] = await start('reviews', v, { RATINGS_TARGET: `127.0.0.1:${ratings.port}` });
      pages[v] = await start('productpage', 'v1', {
        DETAILS_URL: details.url,
        REVIEWS_URL: reviews[v].url,
        RATINGS_URL: ratings.url,
      });
    }
  });

  after(async () => {
    for (const w of [...Object.values(pages), ...Object.values(reviews), details, ratings]) await w?.close();
  });

  test('the page shows the book, its details and which reviews version answered', async () => {
    const res = await request(`${pages.v1.url}/productpage`);
    assert.equal(res.status, 200);
    assert.match(String(res.headers['content-type']), /^text\/html/);
    assert.match(res.body, /<h1>The Comedy of Errors<\/h1>/);
    assert.match(res.body, /<dt>Author<\/dt><dd>William Shakespeare<\/dd>/);
    assert.match(res.body, /<dt>Pages<\/dt><dd>200<\/dd>/);
    assert.equal(servedBy(res.body), 'Reviews served by: reviews-v1 (version v1), ratings not shown');
    assert.match(res.body, /data-version="v1" data-ratings="none"/);
    assert.doesNotMatch(res.body, /class="stars"/);
    assert.match(res.body, /<footer>Reviewer1<\/footer>/);
  });

  for (const [v, color] of [
    ['v2', 'black'],
    ['v3', 'red'],
  ] as const) {
    test(`with reviews ${v} the page shows ${color} stars fetched over gRPC`, async () => {
      const res = await request(`${pages[v].url}/productpage`);
      assert.equal(res.status, 200);
      assert.equal(
        servedBy(res.body),
        `Reviews served by: reviews-${v} (version ${v}), ratings shown in ${color} stars from ratings-1`,
      );
      assert.ok(res.body.includes(renderStars(5, color)), 'five stars for Reviewer1');
      assert.ok(res.body.includes(renderStars(4, color)), 'four stars for Reviewer2');
    });
  }

  test('the JSON API: products, details, reviews and ratings', async () => {
    const base = `${pages.v2.url}/api/v1/products`;
    const products = await getJson(base);
    assert.equal(products.status, 200);
    assert.deepEqual(
      products.json.map((p: { id: number; title: string }) => [p.id, p.title]),
      [[0, 'The Comedy of Errors']],
    );
    const d = await getJson(`${base}/0`);
    assert.equal(d.status, 200);
    assert.equal(d.json.author, 'William Shakespeare');
    const r = await getJson(`${base}/0/reviews`);
    assert.equal(r.status, 200);
    assert.equal(r.json.version, 'v2');
    assert.equal(r.json.reviews[0].rating.color, 'black');
    const g = await getJson(`${base}/0/ratings`);
    assert.deepEqual(g.json.ratings, { Reviewer1: 5, Reviewer2: 4 });
    assert.equal((await getJson(`${base}/abc`)).status, 400);
    assert.equal((await request(`${pages.v2.url}/`)).status, 200);
    assert.match(
      (await request(`${pages.v2.url}/static/style.css`)).headers['content-type'] ?? '',
      /^text\/css/,
    );
  });
});

test('headers for tracing and routing are forwarded; a signed-in user becomes end-user', async () => {
  const reviewsStub = await fakeUpstream(() => ({
    status: 200,
    body: { id: 0, podname: 'stub', version: 'v9', ratingsEnabled: false, reviews: [] },
  }));
  const detailsStub = await fakeUpstream(() => ({ status: 200, body: { id: 0, author: 'A' } }));
  const page = await start('productpage', 'v1', {
    DETAILS_URL: detailsStub.url,
    REVIEWS_URL: reviewsStub.url,
    REVIEWS_AUTHORITY: 'reviews:9080',
  });
  const incoming = {
    'x-request-id': 'rid-1',
    'end-user': 'jason',
    'user-agent': 'curl/8',
    b3: '1-2-1',
    'x-b3-traceid': 'abc',
    traceparent: '00-aa-bb-01',
    cookie: 'theme=dark',
    'x-not-forwarded': 'no',
  };
  await request(`${page.url}/productpage`, { headers: incoming });
  for (const stub of [reviewsStub, detailsStub]) {
    const h = stub.seen[0].headers;
    for (const [k, v] of Object.entries(incoming)) {
      if (k === 'x-not-forwarded') assert.equal(h[k], undefined);
      else assert.equal(h[k], v, `${k} forwarded`);
    }
  }
  assert.equal(reviewsStub.seen[0].headers.host, 'reviews:9080', 'REVIEWS_AUTHORITY is the Host header');
  assert.equal(detailsStub.seen[0].headers.host, new URL(detailsStub.url).host);

  // Sign in: the cookie is set, and later calls carry end-user from it.
  const login = await request(`${page.url}/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'username=jason',
  });
  assert.equal(login.status, 302);
  assert.equal(login.headers.location, '/productpage');
  const cookie = String(login.headers['set-cookie']?.[0]).split(';')[0];
  assert.equal(cookie, 'user=jason');
  const signedIn = await request(`${page.url}/productpage`, { headers: { cookie } });
  assert.match(signedIn.body, /Signed in as <b id="user">jason<\/b>/);
  assert.equal(reviewsStub.seen[1].headers['end-user'], 'jason');
  const logout = await request(`${page.url}/logout`);
  assert.match(String(logout.headers['set-cookie']?.[0]), /^user=; .*Max-Age=0/);
  const bad = await request(`${page.url}/login`, { method: 'POST', body: 'username=a%0d%0ab' });
  assert.equal(bad.status, 400);
  await page.close();
  await reviewsStub.close();
  await detailsStub.close();
});

test('reviews down: the page is still a 200 and says "Error fetching product reviews"', async () => {
  const details = await start('details');
  const page = await start('productpage', 'v1', {
    DETAILS_URL: details.url,
    REVIEWS_URL: `http://127.0.0.1:${await closedPort()}`,
  });
  const res = await request(`${page.url}/productpage`);
  assert.equal(res.status, 200);
  assert.match(res.body, /Error fetching product reviews/);
  assert.match(res.body, /connection refused/);
  assert.match(res.body, /<dd>William Shakespeare<\/dd>/, 'details still shown');
  const api = await getJson(`${page.url}/api/v1/products/0/reviews`);
  assert.equal(api.status, 503);
  assert.match(api.json.error, /reviews are currently unavailable/);
  await page.close();
  await details.close();
});

test('upstream errors degrade each part alone: reviews 503, details malformed, hostile text escaped', async () => {
  const reviewsStub = await fakeUpstream(() => ({ status: 503, body: 'no healthy upstream' }));
  const detailsStub = await fakeUpstream(() => ({ status: 200, body: 'not json' }));
  const page = await start('productpage', 'v1', {
    DETAILS_URL: detailsStub.url,
    REVIEWS_URL: reviewsStub.url,
  });
  const res = await request(`${page.url}/productpage`);
  assert.equal(res.status, 200);
  assert.match(res.body, /Error fetching product reviews/);
  assert.match(res.body, /HTTP 503 no healthy upstream/);
  assert.match(res.body, /Error fetching product details/);
  assert.match(res.body, /response is not JSON/);
  assert.equal((await getJson(`${page.url}/api/v1/products/0/reviews`)).status, 503);
  await page.close();
  await reviewsStub.close();
  await detailsStub.close();

  const evil = await fakeUpstream(() => ({
    status: 200,
    body: {
      id: 0,
      podname: '<script>x</script>',
      version: 'v1',
      ratingsEnabled: true,
      starColor: 'red',
      reviews: [{ reviewer: '<b>', text: '"&', rating: { stars: 9, color: 'red" onclick="x' } }],
    },
  }));
  const page2 = await start('productpage', 'v1', {
    DETAILS_URL: `http://127.0.0.1:${await closedPort()}`,
    REVIEWS_URL: evil.url,
  });
  const body = (await request(`${page2.url}/productpage`)).body;
  assert.doesNotMatch(body, /<script>x/);
  assert.match(body, /&#60;script&#62;x/);
  assert.match(body, /color: red&#34; onclick=&#34;x/);
  assert.match(body, /title="5 of 5 stars"/, 'stars are clamped to 5');
  await page2.close();
  await evil.close();
});

test('a slow upstream is cut off by UPSTREAM_TIMEOUT_MS', async () => {
  let release!: () => void;
  const held = new Promise<void>((r) => {
    release = r;
  });
  const slow = await fakeUpstream(async () => {
    await held;
    return { status: 200, body: {} };
  });
  const page = await start('productpage', 'v1', {
    DETAILS_URL: slow.url,
    REVIEWS_URL: slow.url,
    UPSTREAM_TIMEOUT_MS: '50',
  });
  const res = await request(`${page.url}/productpage`);
  assert.equal(res.status, 200);
  assert.match(res.body, /no response within 50 ms/);
  release();
  await page.close();
  await slow.close();
});

test('bad upstream settings are refused at start', async () => {
  await assert.rejects(
    start('productpage', 'v1', { REVIEWS_URL: 'https://reviews:9080' }),
    /REVIEWS_URL: only plain http/,
  );
  await assert.rejects(
    start('productpage', 'v1', { DETAILS_URL: 'http://details:9080/x' }),
    /DETAILS_URL: give only/,
  );
  await assert.rejects(start('productpage', 'v1', { DETAILS_URL: 'details' }), /DETAILS_URL: not a URL/);
});

testNoOpenHandles();
