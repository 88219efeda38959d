import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  compareHostSpecificity,
  hostSubsetOf,
  hostsMatch,
  mostSpecificHostMatch,
  resolveShortnameToFqdn,
} from '../../src/registry/host.ts';
import { assertNoOpenHandles } from '../support/fake-mizzend.ts';

test('hostsMatch: exact, wildcard either side, lone *', () => {
  assert.ok(hostsMatch('reviews.default.svc.cluster.local', 'reviews.default.svc.cluster.local'));
  assert.ok(!hostsMatch('reviews.default.svc.cluster.local', 'ratings.default.svc.cluster.local'));
  assert.ok(hostsMatch('*.default.svc.cluster.local', 'reviews.default.svc.cluster.local'));
  assert.ok(hostsMatch('reviews.default.svc.cluster.local', '*.svc.cluster.local'));
  assert.ok(hostsMatch('*', 'anything.example.com'));
  assert.ok(hostsMatch('*.example.com', '*.api.example.com'));
  assert.ok(!hostsMatch('*.example.com', 'example.org'));
});

test('hostSubsetOf: a wildcard is never a subset of an exact name', () => {
  assert.ok(hostSubsetOf('api.example.com', '*.example.com'));
  assert.ok(hostSubsetOf('*.api.example.com', '*.example.com'));
  assert.ok(!hostSubsetOf('*.example.com', '*.api.example.com'));
  assert.ok(!hostSubsetOf('*.example.com', 'api.example.com'));
  assert.ok(hostSubsetOf('a.b', '*'));
});

test('mostSpecificHostMatch prefers exact, then the longest wildcard', () => {
  const hosts = [
    '*',
    '*.svc.cluster.local',
    '*.default.svc.cluster.local',
    'reviews.default.svc.cluster.local',
  ];
  assert.equal(
    mostSpecificHostMatch('reviews.default.svc.cluster.local', hosts),
    'reviews.default.svc.cluster.local',
  );
  assert.equal(
    mostSpecificHostMatch('ratings.default.svc.cluster.local', hosts),
    '*.default.svc.cluster.local',
  );
  assert.equal(mostSpecificHostMatch('ratings.backend.svc.cluster.local', hosts), '*.svc.cluster.local');
  assert.equal(mostSpecificHostMatch('example.com', hosts), '*');
  assert.equal(mostSpecificHostMatch('example.com', ['*.org']), undefined);
});

test('short names resolve relative to the namespace; FQDNs, wildcards and IPs stay', () => {
  assert.equal(resolveShortnameToFqdn('reviews', 'default'), 'reviews.default.svc.cluster.local');
  assert.equal(resolveShortnameToFqdn('reviews', 'prod', 'corp.local'), 'reviews.prod.svc.corp.local');
  assert.equal(resolveShortnameToFqdn('reviews.prod', 'default'), 'reviews.prod');
  assert.equal(resolveShortnameToFqdn('*', 'default'), '*');
  assert.equal(resolveShortnameToFqdn('10.0.0.1', 'default'), '10.0.0.1');
  assert.equal(resolveShortnameToFqdn('::1', 'default'), '::1');
});

test('compareHostSpecificity sorts exact names before wildcards, longer first', () => {
  const sorted = ['*', 'a.example.com', '*.example.com', 'bb.example.com'].sort(compareHostSpecificity);
  assert.deepEqual(sorted, ['bb.example.com', 'a.example.com', '*.example.com', '*']);
});

test('leaves no open handles', () => assertNoOpenHandles());
