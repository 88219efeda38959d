import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { FailureSchedule } from '../../../samples/bookinfo/ratings.ts';
import { getRatingsMethod, RatingsClient } from '../../../samples/bookinfo/ratings-grpc.ts';
import { frameMessage } from '../../../samples/common/grpc-unary.ts';
import { getJson, h2Requests, start, testNoOpenHandles, within } from '../helpers.ts';

test('HTTP: GET /ratings/{id} gives the fixed ratings and who answered', async () => {
  const ratings = await start('ratings', 'v1', { POD_NAME: 'ratings-pod-a' });
  const { status, json } = await getJson(`${ratings.url}/ratings/7`);
  assert.equal(status, 200);
  assert.deepEqual(json, {
    id: 7,
    ratings: { Reviewer1: 5, Reviewer2: 4 },
    version: 'v1',
    podname: 'ratings-pod-a',
  });
  assert.equal((await getJson(`${ratings.url}/ratings/x`)).status, 400);
  assert.equal((await getJson(`${ratings.url}/health`)).json.status, 'ok');
  // The same endpoint answers a plain HTTP/2 request (a sidecar may upgrade the hop).
  const [h2] = await h2Requests(ratings.url, [{ path: '/ratings/0' }]);
  assert.equal(h2.status, 200);
  assert.equal(JSON.parse(h2.body).podname, 'ratings-pod-a');
  await ratings.close();
});

test('gRPC: ratings.v1.Ratings/GetRatings answers a @grpc/grpc-js client on the same port', async () => {
  const ratings = await start('ratings', 'v2');
  const client = new RatingsClient({ target: `127.0.0.1:${ratings.port}`, timeoutMs: 5000 });
  const answer = await client.getRatings(3, { 'x-request-id': 'abc' });
  assert.deepEqual(answer, {
    product_id: 3,
    ratings: { Reviewer1: 5, Reviewer2: 4 },
    version: 'v2',
    podname: 'ratings-v2',
  });
  await assert.rejects(client.getRatings(-1, {}), (err: grpc.ServiceError) => {
    assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
    assert.match(err.details, /product_id must be >= 0/);
    return true;
  });
  client.close();
  await ratings.close();
});

test('gRPC protocol edges: unknown method UNIMPLEMENTED, compressed message refused, message framing checked', async () => {
  const ratings = await start('ratings');
  const session = http2.connect(ratings.url);
  const call = (path: string, body: Buffer) =>
    new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
      const stream = session.request({
        ':method': 'POST',
        ':path': path,
        'content-type': 'application/grpc',
        te: 'trailers',
      });
      let status: http2.IncomingHttpHeaders = {};
      stream.on('response', (h) => {
        if (h['grpc-status'] !== undefined) status = h;
      });
      stream.on('trailers', (t) => {
        status = t;
      });
      stream.on('data', () => {});
      stream.on('end', () => resolve(status));
      stream.on('error', reject);
      stream.end(body);
    });
  const request = getRatingsMethod().requestSerialize({ product_id: 1 });
  assert.equal((await call('/ratings.v1.Ratings/GetRatings', frameMessage(request)))['grpc-status'], '0');
  const unknown = await call('/ratings.v1.Ratings/Nope', frameMessage(request));
  assert.equal(unknown['grpc-status'], String(grpc.status.UNIMPLEMENTED));
  assert.match(String(unknown['grpc-message']), /unknown method/);
  const compressed = Buffer.from(frameMessage(request));
  compressed[0] = 1;
  assert.equal(
    (await call('/ratings.v1.Ratings/GetRatings', compressed))['grpc-status'],
    String(grpc.status.UNIMPLEMENTED),
  );
  const truncated = frameMessage(request).subarray(0, 6);
  assert.equal(
    (await call('/ratings.v1.Ratings/GetRatings', truncated))['grpc-status'],
    String(grpc.status.INTERNAL),
  );
  const two = Buffer.concat([frameMessage(request), frameMessage(request)]);
  assert.equal(
    (await call('/ratings.v1.Ratings/GetRatings', two))['grpc-status'],
    String(grpc.status.INTERNAL),
  );
  await new Promise<void>((r) => session.close(() => r()));
  await ratings.close();
});

test('FailureSchedule fails exactly the given share, evenly spread', () => {
  const pattern = (percent: number, n: number) => {
    const s = new FailureSchedule(percent);
    return Array.from({ length: n }, () => s.next());
  };
  assert.deepEqual(pattern(50, 6), [false, true, false, true, false, true]);
  assert.deepEqual(pattern(0, 4), [false, false, false, false]);
  assert.deepEqual(pattern(100, 4), [true, true, true, true]);
  for (const p of [1, 10, 33, 90]) assert.equal(pattern(p, 100).filter(Boolean).length, p, `${p}%`);
});

test('FAIL_PERCENT=50 fails every second lookup, over gRPC and HTTP alike', async () => {
  const ratings = await start('ratings', 'v1', { FAIL_PERCENT: '50' });
  const client = new RatingsClient({ target: `127.0.0.1:${ratings.port}`, timeoutMs: 5000 });
  assert.equal((await client.getRatings(0, {})).product_id, 0);
  await assert.rejects(client.getRatings(0, {}), (err: grpc.ServiceError) => {
    assert.equal(err.code, grpc.status.UNAVAILABLE);
    assert.match(err.details, /failing on purpose \(FAIL_PERCENT=50\)/);
    return true;
  });
  assert.equal((await getJson(`${ratings.url}/ratings/0`)).status, 200);
  const failed = await getJson(`${ratings.url}/ratings/0`);
  assert.equal(failed.status, 503);
  assert.match(failed.json.error, /failing on purpose/);
  // Health checks do not count as lookups and never fail.
  assert.equal((await getJson(`${ratings.url}/health`)).status, 200);
  assert.equal((await getJson(`${ratings.url}/ratings/0`)).status, 200);
  client.close();
  await ratings.close();
});

test('UNAVAILABLE=1 fails every lookup', async () => {
  const ratings = await start('ratings', 'v1', { UNAVAILABLE: '1' });
  const client = new RatingsClient({ target: `127.0.0.1:${ratings.port}`, timeoutMs: 5000 });
  for (let i = 0; i < 3; i++) {
    await assert.rejects(client.getRatings(0, {}), { code: grpc.status.UNAVAILABLE });
  }
  assert.equal((await getJson(`${ratings.url}/ratings/0`)).status, 503);
  client.close();
  await ratings.close();
});

test('bad settings are refused at start with the variable named', async () => {
  await assert.rejects(start('ratings', 'v1', { FAIL_PERCENT: '150' }), /FAIL_PERCENT: 150 is out of range/);
  await assert.rejects(
    start('ratings', 'v1', { UNAVAILABLE: 'maybe' }),
    /UNAVAILABLE: expected true or false/,
  );
});

test('close() waits for the gRPC client to go away', async () => {
  const ratings = await start('ratings');
  const client = new RatingsClient({ target: `127.0.0.1:${ratings.port}`, timeoutMs: 5000 });
  await client.getRatings(0, {});
  await within(ratings.close(), 'ratings to close');
  client.close();
});

testNoOpenHandles();
