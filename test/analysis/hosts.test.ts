import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  hostSubsetOf,
  hostsIntersect,
  resolveGatewayName,
  splitNamespacedHost,
  toFqdn,
  Visibility,
  wildcardCandidates,
} from '../../src/analysis/hosts.ts';

test('toFqdn expands only short names, in the namespace that wrote them', () => {
  assert.equal(toFqdn('reviews', 'default'), 'reviews.default.svc.cluster.local');
  assert.equal(toFqdn('Reviews', 'shop'), 'reviews.shop.svc.cluster.local');
  assert.equal(toFqdn('reviews.default', 'shop'), 'reviews.default');
  assert.equal(toFqdn('*.example.com', 'shop'), '*.example.com');
  assert.equal(toFqdn('*', 'shop'), '*');
  assert.equal(toFqdn('10.0.0.1', 'shop'), '10.0.0.1');
  assert.equal(toFqdn('::1', 'shop'), '::1');
});

test('hostsIntersect follows Istio wildcard semantics in both directions', () => {
  assert.ok(hostsIntersect('a.example.com', 'a.example.com'));
  assert.ok(!hostsIntersect('a.example.com', 'b.example.com'));
  assert.ok(hostsIntersect('*.example.com', 'a.example.com'));
  assert.ok(hostsIntersect('a.example.com', '*.example.com'));
  assert.ok(hostsIntersect('*.example.com', '*.a.example.com'));
  assert.ok(hostsIntersect('*', 'anything.at.all'));
  assert.ok(!hostsIntersect('*.example.com', 'example.com'));
  assert.ok(!hostsIntersect('*.a.com', '*.b.com'));
});

test('hostSubsetOf: every name of the first is a name of the second', () => {
  assert.ok(hostSubsetOf('a.example.com', '*.example.com'));
  assert.ok(hostSubsetOf('*.a.example.com', '*.example.com'));
  assert.ok(!hostSubsetOf('*.example.com', '*.a.example.com'));
  assert.ok(!hostSubsetOf('*.example.com', 'a.example.com'));
  assert.ok(hostSubsetOf('a.example.com', 'a.example.com'));
});

test('wildcardCandidates lists the wildcards that could cover a host, most specific first', () => {
  assert.deepEqual(wildcardCandidates('a.b.c'), ['*.b.c', '*.c', '*']);
  assert.deepEqual(wildcardCandidates('*.b.c'), ['*.b.c', '*.c', '*']);
  assert.deepEqual(wildcardCandidates('localhost'), ['*']);
  assert.deepEqual(wildcardCandidates('*'), ['*']);
});

test('Visibility follows exportTo: default all, "." own namespace, "~" none', () => {
  assert.ok(new Visibility(undefined, 'a').visibleFrom('z'));
  assert.ok(new Visibility([], 'a').visibleFrom('z'));
  const own = new Visibility(['.'], 'a');
  assert.ok(own.visibleFrom('a'));
  assert.ok(!own.visibleFrom('b'));
  const listed = new Visibility(['.', 'b'], 'a');
  assert.ok(listed.visibleFrom('b'));
  assert.ok(!listed.visibleFrom('c'));
  const none = new Visibility(['~'], 'a');
  assert.ok(!none.visibleFrom('a'));
  assert.ok(!none.overlaps(new Visibility(['*'], 'b')));
  assert.ok(own.overlaps(new Visibility(undefined, 'b')));
  assert.ok(!own.overlaps(new Visibility(['.'], 'b')));
  assert.ok(own.overlaps(new Visibility(['a'], 'b')));
});

test('resolveGatewayName: short, ns/name, ./name and the legacy dotted form', () => {
  assert.equal(resolveGatewayName('gw', 'shop'), 'shop/gw');
  assert.equal(resolveGatewayName('ingress/gw', 'shop'), 'ingress/gw');
  assert.equal(resolveGatewayName('./gw', 'shop'), 'shop/gw');
  assert.equal(resolveGatewayName('gw.ingress.svc.cluster.local', 'shop'), 'ingress/gw');
  assert.equal(resolveGatewayName('gw.ingress', 'shop'), 'ingress/gw');
});

test('splitNamespacedHost: a server host without namespace is for any namespace', () => {
  assert.deepEqual(splitNamespacedHost('Shop.Example.com'), { namespace: '*', host: 'shop.example.com' });
  assert.deepEqual(splitNamespacedHost('./a.com'), { namespace: '.', host: 'a.com' });
  assert.deepEqual(splitNamespacedHost('team/*.a.com'), { namespace: 'team', host: '*.a.com' });
});
