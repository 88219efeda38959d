/**
 * KnownResources (a delta proxy's name -> version state as a shared list plus its own overlay)
 * and the shared list index and diff.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CLUSTER_TYPE_URL } from '../../../src/lib/xds/type-urls.ts';
import { xdsResource } from '../../../src/pilot/xds/generator-registry.ts';
import {
  baseIndexOf,
  diffLists,
  EMPTY_INDEX,
  KnownResources,
} from '../../../src/pilot/xds/known-resources.ts';
import { resourceVersion } from '../../../src/pilot/xds/resource-version.ts';

const res = (name: string, seconds = 1) =>
  xdsResource(CLUSTER_TYPE_URL, name, { name, connect_timeout: { seconds } });

test('baseIndexOf: one index per list object, versions are the content hashes', () => {
  const list = [res('a'), res('b')];
  const index = baseIndexOf(list);
  assert.equal(baseIndexOf(list), index, 'cached per list');
  assert.deepEqual([...index.versions.keys()], ['a', 'b']);
  assert.equal(index.versions.get('a'), resourceVersion(list[0].resource.value));
  assert.notEqual(baseIndexOf([...list]), index, 'another list object, another index');
});

test('diffLists: changed and added resources, removed names; computed once per pair', () => {
  const from = baseIndexOf([res('a'), res('b'), res('gone')]);
  const to = baseIndexOf([res('a'), res('b', 5), res('new')]);
  const diff = diffLists(from, to);
  assert.deepEqual(
    diff.changed.map((c) => c.name),
    ['b', 'new'],
  );
  assert.deepEqual(diff.removed, ['gone']);
  assert.equal(diffLists(from, to), diff, 'the same object for every proxy making that move');
  assert.deepEqual(
    diffLists(EMPTY_INDEX, to).changed.map((c) => c.name),
    ['a', 'b', 'new'],
  );
  assert.deepEqual(diffLists(to, to).changed, []);
});

test('KnownResources behaves as a Map over base + overlay', () => {
  const list = [res('a'), res('b')];
  const base = baseIndexOf(list);
  const k = new KnownResources();
  assert.equal(k.size, 0);
  assert.equal(k.exactBase, undefined);
  k.set('x', '1');
  k.resetTo(base);
  assert.equal(k.size, 2);
  assert.equal(k.has('x'), false, 'resetTo replaces everything');
  assert.equal(k.exactBase, base);

  k.set('c', '3');
  assert.equal(k.exactBase, undefined, 'an own change leaves the shared list');
  assert.equal(k.size, 3);
  k.set('a', 'changed');
  assert.equal(k.get('a'), 'changed');
  assert.equal(k.size, 3);
  assert.equal(k.delete('b'), true);
  assert.equal(k.delete('b'), false);
  assert.equal(k.has('b'), false);
  assert.equal(k.size, 2);
  assert.deepEqual(Object.fromEntries(k), { a: 'changed', c: '3' });
  assert.deepEqual([...k.keys()].sort(), ['a', 'c']);

  // Undoing the own changes returns to the shared list.
  k.set('a', base.versions.get('a') as string);
  k.set('b', base.versions.get('b') as string);
  k.delete('c');
  assert.equal(k.exactBase, base);
  assert.equal(k.size, 2);

  // Deleting while iterating keys (as unsubscribing does) is safe.
  for (const name of k.keys()) k.delete(name);
  assert.equal(k.size, 0);
  k.clear();
  assert.equal(k.exactBase, undefined);
});
