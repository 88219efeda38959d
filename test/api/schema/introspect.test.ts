import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Schema, t } from '../../../src/api/schema/dsl.ts';
import { schemaFieldPaths, setFieldPaths } from '../../../src/api/schema/introspect.ts';

const match = t.object('Match', { exact: t.string(), prefix: t.string() });
type Node = { name?: string; children?: Node[] };
const node: Schema<Node> = t.object('Node', { name: t.string(), children: t.array(t.lazy(() => node)) });
const spec = t.object('Spec', {
  hosts: t.array(t.string()).required(),
  match: t.array(t.object('M', { uri: match, headers: t.map(match), port: t.uint32() })),
  config: t.struct(),
  value: t.any(),
  empty: t.object('Empty', {}),
  timeout: t.duration().deprecated('use deadline'),
  tree: node,
});

describe('schema introspection', () => {
  it('lists every leaf field path, with [] for list items and {} for maps and Structs', () => {
    assert.deepEqual(schemaFieldPaths(spec), [
      'config{}',
      'empty',
      'hosts[]',
      'match[].headers{}',
      'match[].port',
      'match[].uri.exact',
      'match[].uri.prefix',
      'timeout',
      'tree.children[]',
      'tree.name',
      'value',
    ]);
  });

  it('cuts recursive schemas where a message repeats', () => {
    assert.deepEqual(schemaFieldPaths(node), ['children[]', 'name']);
    const tree = { name: 'a', children: [{ name: 'b', children: [{ name: 'c' }] }] };
    assert.deepEqual([...setFieldPaths(node, tree)].sort(), ['children[]', 'name']);
  });

  it('has no paths for an empty root message', () => {
    assert.deepEqual(schemaFieldPaths(t.object('Stub', {})), []);
  });

  it('lists the field paths a value sets', () => {
    const value = {
      hosts: [],
      match: [{ uri: { exact: '/a' } }, { headers: { a: { prefix: 'x' } }, port: 80 }],
      config: {},
      empty: {},
      unknown: 1,
    };
    assert.deepEqual([...setFieldPaths(spec, value)].sort(), [
      'config{}',
      'empty',
      'match[].headers{}',
      'match[].port',
      'match[].uri.exact',
    ]);
  });
});
