import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigValidationError } from '../../../../src/config/errors.ts';
import { MemorySource } from '../../../../src/config/sources/memory/memory-source.ts';
import { createConfigStore } from '../../../../src/config/store.ts';
import { MizzenError } from '../../../../src/lib/errors.ts';
import { assertNoOpenHandles, authz, dr, Recorder, within } from '../../helpers.ts';

function drObject(name: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apiVersion: 'networking.istio.io/v1',
    kind: 'DestinationRule',
    metadata: { name, ...extra },
    spec: { host: `${name}.example.com` },
  };
}

test('accepts objects and multi-document YAML, defaulting the namespace', () => {
  const mem = new MemorySource();
  const fromObject = mem.create(drObject('a'));
  assert.equal(fromObject.length, 1);
  assert.equal(fromObject[0].meta.namespace, 'default');
  assert.equal(fromObject[0].meta.source?.file, '<memory>');

  const fromYaml = mem.create([dr('b', { namespace: 'prod' }), authz('p')].join('---\n'));
  assert.deepEqual(
    fromYaml.map((r) => `${r.kind}/${r.meta.namespace}/${r.meta.name}`),
    ['DestinationRule/prod/b', 'AuthorizationPolicy/default/p'],
  );
  assert.equal(fromYaml[1].meta.source?.line, 9, 'YAML input keeps its positions');

  const list = mem.create([drObject('c'), drObject('d')]);
  assert.equal(list.length, 2);
  assert.equal(mem.list().length, 5);

  const other = new MemorySource({ defaultNamespace: 'istio-system', file: 'fixture.yaml' });
  const [r] = other.apply(dr('e'));
  assert.equal(r.meta.namespace, 'istio-system');
  assert.equal(r.meta.source?.file, 'fixture.yaml');
});

test('the input object is copied, so later changes by the caller do not leak in', () => {
  const mem = new MemorySource();
  const input = drObject('a');
  mem.create(input);
  (input.spec as { host: string }).host = 'changed.example.com';
  assert.equal((mem.get('DestinationRule', 'default', 'a')!.spec as { host: string }).host, 'a.example.com');
});

test('invalid input is rejected as a whole, with located issues', () => {
  const mem = new MemorySource({ file: 'input.yaml' });
  const text = [dr('good'), dr('Bad_Name'), authz('also-good')].join('---\n');
  assert.throws(
    () => mem.apply(text),
    (e: unknown) => {
      assert.ok(e instanceof ConfigValidationError);
      assert.equal(e.code, 'MZ_ERR_CONFIG_INVALID');
      assert.equal(e.issues.length, 1);
      assert.equal(e.issues[0].line, 11);
      assert.deepEqual(e.issues[0].path, ['metadata', 'name']);
      assert.match(
        e.message,
        /^invalid config \(1 error\):\n {2}input\.yaml:11:3 metadata\.name: "Bad_Name" is not a valid name/,
      );
      return true;
    },
  );
  assert.equal(mem.list().length, 0, 'nothing from a rejected input is applied');

  assert.throws(
    () => mem.apply({ ...drObject('x'), spec: { host: 'x', bogusField: 1 } }),
    (e: unknown) => e instanceof ConfigValidationError && /spec\.bogusField/.test(e.message),
  );
  assert.throws(
    () => mem.apply('kind: [unclosed'),
    (e: unknown) => {
      assert.ok(e instanceof ConfigValidationError);
      assert.match(e.message, /input\.yaml:\d+:\d+ YAML: /);
      return true;
    },
  );
  assert.throws(
    () => mem.apply({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' } }),
    /apps\/v1 Deployment is not an Istio configuration kind; the memory source holds Istio objects only/,
  );
  assert.throws(
    () => mem.apply([dr('twice'), dr('twice')].join('---\n')),
    /DestinationRule\/default\/twice is given twice/,
  );
});

test('create, update and delete check existence', () => {
  const mem = new MemorySource();
  mem.create(dr('a'));
  assert.throws(
    () => mem.create(dr('a')),
    (e: unknown) => e instanceof MizzenError && /already exists: DestinationRule\/default\/a/.test(e.message),
  );
  assert.throws(() => mem.update(dr('b')), /not found: DestinationRule\/default\/b/);
  assert.equal(mem.delete('DestinationRule', 'default', 'b'), false);
  assert.equal(mem.delete('DestinationRule', 'default', 'a'), true);
  assert.equal(mem.get('DestinationRule', 'default', 'a'), undefined);
  assert.deepEqual(mem.statuses(), []);
  assert.throws(
    () => new MemorySource({ defaultNamespace: 'Not_A_Namespace' }),
    /not a valid namespace name/,
  );
});

test('objects created before run are handed over at start; later changes flow at once', async () => {
  const mem = new MemorySource();
  mem.create(dr('early'));
  const store = createConfigStore({ sources: [mem] });
  const rec = new Recorder(store);
  const ac = new AbortController();
  const running = store.run(ac.signal);
  const [early] = await rec.next(1);
  assert.equal(early.id, 'DestinationRule/default/early');
  await within(store.waitForSync(), 'sync');

  mem.create(dr('late'));
  assert.ok(store.get('DestinationRule', 'default', 'late'), 'applied to the store synchronously');
  const [late] = await rec.next(1);
  assert.equal(late.type, 'add');
  await assert.rejects(mem.run({ apply() {}, replace() {}, synced() {} }, ac.signal), /already running/);
  ac.abort();
  await running;
  mem.delete('DestinationRule', 'default', 'late');
  assert.ok(store.get('DestinationRule', 'default', 'late'), 'a stopped source no longer feeds the store');
});

test('leaves no open handles', assertNoOpenHandles);
