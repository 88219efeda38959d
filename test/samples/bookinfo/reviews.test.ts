import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { ratingsPackage } from '../../../samples/bookinfo/ratings-grpc.ts';
import { RATINGS_UNAVAILABLE } from '../../../samples/bookinfo/reviews.ts';
import { closedPort, getJson, start, testNoOpenHandles } from '../helpers.ts';

test('v1 shows reviews without ratings and never calls ratings', async () => {
  // A target nobody listens on: v1 must not need it.
  const reviews = await start('reviews', 'v1', { RATINGS_TARGET: `127.0.0.1:${await closedPort()}` });
  const { status, json } = await getJson(`${reviews.url}/reviews/0`);
  assert.equal(status, 200);
  assert.equal(json.version, 'v1');
  assert.equal(json.podname, 'reviews-v1');
  assert.equal(json.clustername, 'local');
  assert.equal(json.ratingsEnabled, false);
  assert.equal(json.starColor, undefined);
  assert.deepEqual(
    json.reviews.map((r: { reviewer: string; rating?: unknown }) => [r.reviewer, r.rating]),
    [
      ['Reviewer1', undefined],
      ['Reviewer2', undefined],
    ],
  );
  assert.equal((await getJson(`${reviews.url}/reviews/zero`)).status, 400);
  assert.equal((await getJson(`${reviews.url}/health`)).json.version, 'v1');
  await reviews.close();
});

for (const [version, color] of [
  ['v2', 'black'],
  ['v3', 'red'],
] as const) {
  test(`${version} calls ratings over gRPC and shows ${color} stars`, async () => {
    const ratings = await start('ratings', 'v1', { POD_NAME: 'ratings-1' });
    const reviews = await start('reviews', version, {
      RATINGS_TARGET: `127.0.0.1:${ratings.port}`,
      POD_NAME: `reviews-${version}-abc`,
      CLUSTER_NAME: 'east',
    });
    const { status, json } = await getJson(`${reviews.url}/reviews/0`);
    assert.equal(status, 200);
    assert.equal(json.version, version);
    assert.equal(json.podname, `reviews-${version}-abc`);
    assert.equal(json.clustername, 'east');
    assert.equal(json.ratingsEnabled, true);
    assert.equal(json.starColor, color);
    assert.equal(json.ratingsPodname, 'ratings-1');
    assert.deepEqual(
      json.reviews.map((r: { rating: unknown }) => r.rating),
      [
        { stars: 5, color },
        { stars: 4, color },
      ],
    );
    await reviews.close();
    await ratings.close();
  });
}

test('ratings failing: reviews still answer 200, each rating says ratings are unavailable', async () => {
  const ratings = await start('ratings', 'v1', { UNAVAILABLE: '1' });
  const reviews = await start('reviews', 'v2', { RATINGS_TARGET: `127.0.0.1:${ratings.port}` });
  const { status, json } = await getJson(`${reviews.url}/reviews/0`);
  assert.equal(status, 200);
  assert.match(json.ratingsError, /UNAVAILABLE.*failing on purpose/);
  for (const r of json.reviews) assert.deepEqual(r.rating, { error: RATINGS_UNAVAILABLE });
  await reviews.close();
  await ratings.close();
});

test('ratings not listening: the same degraded answer', async () => {
  const reviews = await start('reviews', 'v3', { RATINGS_TARGET: `127.0.0.1:${await closedPort()}` });
  const { status, json } = await getJson(`${reviews.url}/reviews/0`);
  assert.equal(status, 200);
  assert.match(json.ratingsError, /UNAVAILABLE/);
  assert.deepEqual(json.reviews[0].rating, { error: RATINGS_UNAVAILABLE });
  await reviews.close();
});

test('tracing and identity headers travel to ratings as gRPC metadata; RATINGS_AUTHORITY sets :authority', async () => {
  // An independent gRPC server (grpc-js's own) standing in for ratings.
  const seen: { metadata: grpc.Metadata; host: string }[] = [];
  const server = new grpc.Server();
  const service = ratingsPackage()['ratings.v1.Ratings'] as grpc.ServiceDefinition;
  server.addService(service, {
    GetRatings: (
      call: grpc.ServerUnaryCall<{ product_id: number }, unknown>,
      cb: grpc.sendUnaryData<unknown>,
    ) => {
      seen.push({ metadata: call.metadata, host: call.getHost() });
      cb(null, {
        product_id: call.request.product_id,
        ratings: { Reviewer1: 1 },
        version: 'fake',
        podname: 'fake-1',
      });
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  const reviews = await start('reviews', 'v2', {
    RATINGS_TARGET: `127.0.0.1:${port}`,
    RATINGS_AUTHORITY: 'ratings.bookinfo.svc.cluster.local:9080',
  });
  const { json } = await getJson(`${reviews.url}/reviews/5`, {
    'x-request-id': 'req-42',
    'end-user': 'jason',
    traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    b3: '80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1',
    'x-unrelated': 'not forwarded',
  });
  assert.equal(json.ratingsPodname, 'fake-1');
  assert.deepEqual(json.reviews[0].rating, { stars: 1, color: 'black' });
  assert.deepEqual(json.reviews[1].rating, { error: 'no rating' });
  assert.equal(seen.length, 1);
  const md = seen[0].metadata;
  assert.deepEqual(md.get('x-request-id'), ['req-42']);
  assert.deepEqual(md.get('end-user'), ['jason']);
  assert.deepEqual(md.get('traceparent'), ['00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01']);
  assert.deepEqual(md.get('b3'), ['80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1']);
  assert.deepEqual(md.get('x-unrelated'), []);
  assert.equal(seen[0].host, 'ratings.bookinfo.svc.cluster.local:9080');
  await reviews.close();
  await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
});

test('versions and settings are checked at start', async () => {
  await assert.rejects(start('reviews', 'v4'), /version v4 has no built-in behaviour/);
  await assert.rejects(start('reviews', 'v4', { ENABLE_RATINGS: 'true' }), /STAR_COLOR: required/);
  await assert.rejects(
    start('reviews', 'v2', { RATINGS_TARGET: 'ratings' }),
    /RATINGS_TARGET: expected host:port/,
  );
  await assert.rejects(
    start('reviews', 'v2', { STAR_COLOR: 'red;x' }),
    /STAR_COLOR: expected a CSS colour name/,
  );
  await assert.rejects(start('reviews', 'bad version'), /version: "bad version" is not a valid label value/);
  const custom = await start('reviews', 'v4', { ENABLE_RATINGS: 'false' });
  assert.equal((await getJson(`${custom.url}/reviews/0`)).json.ratingsEnabled, false);
  await custom.close();
});

testNoOpenHandles();
