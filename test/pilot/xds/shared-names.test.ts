import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SharedNameSets } from '../../../src/pilot/xds/shared-names.ts';

test('equal name sets share one Set, whatever their order; it lives while someone holds it', () => {
  const shared = new SharedNameSets();
  const a = shared.acquire('eds', new Set(['x', 'y', 'z']));
  const b = shared.acquire('eds', new Set(['z', 'x', 'y']));
  assert.equal(a, b);
  assert.deepEqual([...a].sort(), ['x', 'y', 'z']);
  assert.notEqual(shared.acquire('eds', new Set(['x', 'y'])), a, 'a subset is another subscription');
  assert.notEqual(shared.acquire('rds', new Set(['x', 'y', 'z'])), a, 'types never share');
  assert.equal(shared.size, 3);
  shared.release('eds', a);
  assert.equal(shared.acquire('eds', new Set(['y', 'x', 'z'])), a, 'still held once');
  shared.release('eds', a);
  shared.release('eds', b);
  assert.equal(shared.size, 2, 'dropped with its last holder');
  const fresh = new Set(['x', 'y', 'z']);
  assert.notEqual(shared.acquire('eds', fresh), a);
});

test('the shared Set is a copy: the caller may change its own afterwards', () => {
  const shared = new SharedNameSets();
  const mine = new Set(['a']);
  const s = shared.acquire('cds', mine);
  mine.add('b');
  assert.deepEqual([...s], ['a']);
});

test('many distinct subscriptions of one size never merge', () => {
  const shared = new SharedNameSets();
  const sets = Array.from({ length: 500 }, (_, i) => shared.acquire('t', new Set([`n${i}`, `m${i * 7}`])));
  assert.equal(new Set(sets).size, 500);
  for (let i = 0; i < 500; i++) assert.ok(sets[i].has(`n${i}`) && sets[i].has(`m${i * 7}`));
});
