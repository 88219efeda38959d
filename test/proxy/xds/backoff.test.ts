import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Backoff } from '../../../src/proxy/xds/backoff.ts';

test('delays double from the base up to the cap, within [ceiling/2, ceiling]', () => {
  const low = new Backoff({ random: () => 0 });
  assert.deepEqual(
    Array.from({ length: 9 }, () => low.next()),
    [250, 500, 1000, 2000, 4000, 8000, 15000, 15000, 15000],
  );
  const high = new Backoff({ random: () => 0.999999 });
  assert.deepEqual(
    Array.from({ length: 9 }, () => high.next()),
    [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000],
  );
  assert.equal(high.attempts, 9);
});

test('jitter spreads delays; reset starts again from the base', () => {
  let i = 0;
  const values = [0.1, 0.9, 0.5];
  const b = new Backoff({ baseMs: 1000, maxMs: 4000, random: () => values[i++ % values.length] });
  assert.deepEqual([b.next(), b.next(), b.next()], [550, 1900, 3000]);
  b.reset();
  assert.equal(b.attempts, 0);
  assert.equal(b.next(), 550);
});

test('a large number of attempts stays at the cap', () => {
  const b = new Backoff({ random: () => 0 });
  for (let n = 0; n < 5000; n++) b.next();
  assert.equal(b.next(), 15000);
});

test('invalid options name the field', () => {
  assert.throws(() => new Backoff({ baseMs: 0 }), /backoff\.baseMs must be a positive/);
  assert.throws(
    () => new Backoff({ baseMs: 100, maxMs: 50 }),
    /backoff\.maxMs must be at least baseMs \(100\)/,
  );
});
