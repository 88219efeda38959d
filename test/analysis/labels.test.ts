import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatSelector, LabelIndex, selectorMatches } from '../../src/analysis/labels.ts';

test('selectorMatches: every selector pair must be present; an empty selector matches all', () => {
  assert.ok(selectorMatches({ app: 'a' }, { app: 'a', version: 'v1' }));
  assert.ok(!selectorMatches({ app: 'a', version: 'v2' }, { app: 'a', version: 'v1' }));
  assert.ok(selectorMatches({}, {}));
});

test('formatSelector sorts keys', () => {
  assert.equal(formatSelector({ version: 'v1', app: 'a' }), 'app=a,version=v1');
  assert.equal(formatSelector({}), '');
});

test('LabelIndex selects by intersecting posting lists', () => {
  const idx = new LabelIndex<{ name: string; labels: Record<string, string> }>();
  idx.add({ name: 'r1', labels: { app: 'reviews', version: 'v1' } });
  idx.add({ name: 'r2', labels: { app: 'reviews', version: 'v2' } });
  idx.add({ name: 'p1', labels: { app: 'productpage', version: 'v1' } });
  const names = (sel: Record<string, string>) => idx.select(sel).map((x) => x.name);
  assert.deepEqual(names({ app: 'reviews' }), ['r1', 'r2']);
  assert.deepEqual(names({ version: 'v1' }), ['r1', 'p1']);
  assert.deepEqual(names({ app: 'reviews', version: 'v1' }), ['r1']);
  assert.deepEqual(names({ app: 'ratings' }), []);
  assert.deepEqual(names({}), ['r1', 'r2', 'p1']);
  assert.equal(idx.any({ app: 'reviews', version: 'v2' }), true);
  assert.equal(idx.any({ app: 'reviews', version: 'v3' }), false);
  assert.equal(new LabelIndex().any({}), false);
});
