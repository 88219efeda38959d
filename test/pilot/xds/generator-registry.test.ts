import assert from 'node:assert/strict';
import { test } from 'node:test';
import { unpackAny } from '../../../src/lib/xds/any.ts';
import { CLUSTER_TYPE_URL, LISTENER_TYPE_URL } from '../../../src/lib/xds/type-urls.ts';
import { type Generator, GeneratorRegistry, xdsResource } from '../../../src/pilot/xds/generator-registry.ts';

const gen = (typeUrl: string, tag: string): Generator & { tag: string } => ({
  typeUrl,
  tag,
  needsPush: () => true,
  generate: () => [],
});

const tagOf = (g: Generator | undefined) => (g as (Generator & { tag: string }) | undefined)?.tag;

test('lookup by type URL, with a flavour falling back to the default', () => {
  const r = new GeneratorRegistry();
  r.register(gen(CLUSTER_TYPE_URL, 'default')).register(gen(LISTENER_TYPE_URL, 'default-lds'));
  r.register(gen(LISTENER_TYPE_URL, 'grpc-lds'), { flavour: 'grpc' });
  assert.equal(tagOf(r.get(LISTENER_TYPE_URL, 'grpc')), 'grpc-lds');
  assert.equal(tagOf(r.get(LISTENER_TYPE_URL)), 'default-lds');
  assert.equal(tagOf(r.get(CLUSTER_TYPE_URL, 'grpc')), 'default');
  assert.equal(r.get('type.googleapis.com/unknown.Type'), undefined);
  assert.deepEqual(r.typeUrls().sort(), [CLUSTER_TYPE_URL, LISTENER_TYPE_URL].sort());
});

test('a second generator for the same type and flavour, or a bare message name, is refused', () => {
  const r = new GeneratorRegistry().register(gen(CLUSTER_TYPE_URL, 'x'));
  assert.throws(() => r.register(gen(CLUSTER_TYPE_URL, 'y')), /already registered/);
  assert.throws(() => r.register(gen('envoy.config.cluster.v3.Cluster', 'z')), /full type URL/);
});

test('xdsResource packs a named resource', () => {
  const r = xdsResource(CLUSTER_TYPE_URL, 'c1', { name: 'c1', type: 'STATIC' });
  assert.equal(r.name, 'c1');
  assert.equal(r.resource.type_url, CLUSTER_TYPE_URL);
  assert.equal(unpackAny(r.resource).type, 'STATIC');
});
