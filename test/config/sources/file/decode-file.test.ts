import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeConfigFile, identify } from '../../../../src/config/sources/file/decode-file.ts';
import { assertNoOpenHandles, authz, docs, dr } from '../../helpers.ts';

const opts = { source: 'file:test', defaultNamespace: 'default' };
const ids = (m: ReadonlyMap<string, unknown>) => [...m.keys()];

test('every good document loads; a bad one is rejected alone with a located status', () => {
  const text = docs(dr('a'), dr('Bad_Name'), authz('p'));
  const out = decodeConfigFile(text, 'dir/x.yaml', opts);
  assert.deepEqual(ids(out.objects), ['DestinationRule/default/a', 'AuthorizationPolicy/default/p']);
  assert.equal(out.statuses.length, 1);
  const [s] = out.statuses;
  assert.equal(s.level, 'error');
  assert.equal(s.reason, 'invalid');
  assert.equal(s.file, 'dir/x.yaml');
  assert.equal(s.document, 1);
  assert.deepEqual(s.key, { kind: 'DestinationRule', namespace: 'default', name: 'Bad_Name' });
  assert.equal(s.lastGood, undefined, 'nothing to keep: that object never loaded');
  assert.match(s.messages[0], /^dir\/x\.yaml:11:3 metadata\.name: "Bad_Name" is not a valid name/);
});

test('a broken document that still names its object keeps that object at its last good version', () => {
  const v1 = decodeConfigFile(docs(dr('a'), dr('b')), 'x.yaml', opts);
  const goodB = v1.objects.get('DestinationRule/default/b')!;
  const broken = dr('b').replace('spec:\n', 'spec:\n  bogusField: 1\n');
  const v2 = decodeConfigFile(docs(dr('a', { host: 'changed.example.com' }), broken), 'x.yaml', {
    ...opts,
    previous: v1.objects,
  });
  const a = v2.objects.get('DestinationRule/default/a')!;
  assert.equal(
    (a.resource.spec as { host: string }).host,
    'changed.example.com',
    'the sibling loads its new version',
  );
  assert.equal(a.retained, false);
  const b = v2.objects.get('DestinationRule/default/b')!;
  assert.equal(b.resource, goodB.resource, 'the very same last good object');
  assert.equal(b.retained, true);
  const [s] = v2.statuses;
  assert.deepEqual(s.lastGood, [{ kind: 'DestinationRule', namespace: 'default', name: 'b' }]);
  assert.match(s.messages[0], /^x\.yaml:\d+:\d+ spec\.bogusField: /);

  // Broken again: still the same last good version. Fixed: the new version.
  const v3 = decodeConfigFile(docs(dr('a'), broken), 'x.yaml', { ...opts, previous: v2.objects });
  assert.equal(v3.objects.get('DestinationRule/default/b')!.resource, goodB.resource);
  const v4 = decodeConfigFile(docs(dr('a'), dr('b', { host: 'fixed.example.com' })), 'x.yaml', {
    ...opts,
    previous: v3.objects,
  });
  assert.equal(
    (v4.objects.get('DestinationRule/default/b')!.resource.spec as { host: string }).host,
    'fixed.example.com',
  );
  assert.deepEqual(v4.statuses, []);
});

test('objects whose documents were removed are not kept when every document identifies itself', () => {
  const v1 = decodeConfigFile(docs(dr('a'), dr('b'), dr('c')), 'x.yaml', opts);
  const v2 = decodeConfigFile(docs(dr('a'), dr('Bad_Name')), 'x.yaml', { ...opts, previous: v1.objects });
  assert.deepEqual(ids(v2.objects), ['DestinationRule/default/a'], 'b and c were removed from the file');
});

test('a document that cannot say what it is keeps every previous object the file no longer produces', () => {
  const v1 = decodeConfigFile(docs(dr('a'), dr('b'), authz('p')), 'x.yaml', opts);
  const syntax = docs(
    dr('a'),
    'apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: b\n',
  );
  const v2 = decodeConfigFile(syntax, 'x.yaml', { ...opts, previous: v1.objects });
  assert.deepEqual(ids(v2.objects), [
    'DestinationRule/default/a',
    'DestinationRule/default/b',
    'AuthorizationPolicy/default/p',
  ]);
  assert.equal(v2.objects.get('DestinationRule/default/a')!.retained, false);
  assert.equal(v2.objects.get('DestinationRule/default/b')!.retained, true);
  const s = v2.statuses.find((x) => x.reason === 'syntax')!;
  assert.equal(s.level, 'error');
  assert.equal(s.document, undefined);
  assert.match(s.messages[0], /^x\.yaml:\d+:\d+ YAML: /);
  assert.deepEqual(
    s.lastGood?.map((k) => k.name),
    ['b', 'p'],
  );

  // A document without a name says nothing about its identity either.
  const noName = docs(
    dr('a'),
    'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {}\nspec: {}\n',
  );
  const v3 = decodeConfigFile(noName, 'x.yaml', { ...opts, previous: v1.objects });
  assert.equal(v3.objects.size, 3);
  assert.equal(v3.statuses[0].reason, 'invalid');
  assert.equal(v3.statuses[0].key, undefined);

  // Fixed: what the file no longer defines goes away.
  const v4 = decodeConfigFile(dr('a'), 'x.yaml', { ...opts, previous: v3.objects });
  assert.deepEqual(ids(v4.objects), ['DestinationRule/default/a']);
});

test('the same object twice in one file: the first wins and the second is a conflict', () => {
  const out = decodeConfigFile(docs(dr('a'), dr('a', { host: 'second.example.com' })), 'x.yaml', opts);
  assert.equal(
    (out.objects.get('DestinationRule/default/a')!.resource.spec as { host: string }).host,
    'a.example.com',
  );
  const [s] = out.statuses;
  assert.equal(s.reason, 'conflict');
  assert.equal(s.document, 1);
  assert.equal(
    s.messages[0],
    'x.yaml:11:3 metadata.name: DestinationRule/default/a is already defined at x.yaml:4:3; this definition is ignored',
  );
});

test('non-Istio kinds are skipped and reported as info', () => {
  const deployment = 'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n';
  const out = decodeConfigFile(docs(deployment, dr('a')), 'x.yaml', opts);
  assert.deepEqual(ids(out.objects), ['DestinationRule/default/a']);
  const [s] = out.statuses;
  assert.equal(s.level, 'info');
  assert.equal(s.reason, 'skipped');
  assert.equal(s.document, 0);
  assert.match(
    s.messages[0],
    /^x\.yaml:2:1 kind: apps\/v1 Deployment is not an Istio configuration kind; skipped$/,
  );
});

test('empty documents and comment-only files produce nothing and no status', () => {
  const out = decodeConfigFile('# nothing here\n---\n---\n', 'x.yaml', opts);
  assert.equal(out.objects.size, 0);
  assert.deepEqual(out.statuses, []);
});

test('identify reads the identity of invalid documents', () => {
  const doc = (o: Record<string, unknown>) => ({
    apiVersion: 'networking.istio.io/v1',
    kind: 'Gateway',
    ...o,
  });
  assert.deepEqual(identify(doc({ metadata: { name: 'gw' } }), 'default'), {
    kind: 'Gateway',
    namespace: 'default',
    name: 'gw',
  });
  assert.deepEqual(
    identify(doc({ metadata: { name: 'gw', namespace: 'prod' } }), 'default')?.namespace,
    'prod',
  );
  assert.equal(identify(doc({ metadata: {} }), 'default'), undefined);
  assert.equal(identify(doc({ metadata: { name: 'gw', namespace: 7 } }), 'default'), undefined);
  assert.equal(identify(doc({ kind: 'Gatewy', metadata: { name: 'gw' } }), 'default'), undefined);
  assert.equal(
    identify({ ...doc({ metadata: { name: 'gw' } }), apiVersion: 'security.istio.io/v1' }, 'default'),
    undefined,
  );
  assert.equal(identify('text', 'default'), undefined);
  assert.equal(identify(null, 'default'), undefined);
});

test('leaves no open handles', assertNoOpenHandles);
