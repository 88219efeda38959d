import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ConfigSink, ConfigSource } from '../../src/config/source.ts';
import { MemorySource } from '../../src/config/sources/memory/memory-source.ts';
import { type ConfigStoreController, createConfigStore } from '../../src/config/store.ts';
import { MizzenError } from '../../src/lib/errors.ts';
import { assertNoOpenHandles, authz, dr, Recorder, within } from './helpers.ts';

async function start(
  sources: ConfigSource[],
  options: { handlerQueueCapacity?: number } = {},
): Promise<{ store: ConfigStoreController; stop: () => Promise<void> }> {
  const store = createConfigStore({ sources, ...options });
  const ac = new AbortController();
  const running = store.run(ac.signal);
  await within(store.waitForSync(), 'store sync');
  return {
    store,
    stop: async () => {
      ac.abort();
      await running;
    },
  };
}

test('add, update and delete produce ordered events with monotonic resourceVersions', async () => {
  const mem = new MemorySource();
  const { store, stop } = await start([mem]);
  const rec = new Recorder(store);

  mem.create(dr('reviews'));
  mem.update(dr('reviews', { host: 'reviews.other.svc.cluster.local' }));
  mem.delete('DestinationRule', 'default', 'reviews');
  const [add, update, del] = await rec.next(3);

  assert.equal(add.type, 'add');
  assert.equal(add.id, 'DestinationRule/default/reviews');
  assert.equal(add.previous, undefined);
  assert.equal(add.current?.meta.resourceVersion, String(add.event.revision));
  assert.equal(add.current?.meta.generation, 1);

  assert.equal(update.type, 'update');
  assert.equal(update.previous, add.current);
  assert.equal((update.current!.spec as { host: string }).host, 'reviews.other.svc.cluster.local');
  assert.ok(Number(update.current?.meta.resourceVersion) > Number(add.current?.meta.resourceVersion));
  assert.equal(update.current?.meta.generation, 2, 'generation follows spec changes');

  assert.equal(del.type, 'delete');
  assert.equal(del.previous, update.current);
  assert.equal(del.current, undefined);
  assert.ok(del.event.revision > update.event.revision);
  assert.equal(store.revision, del.event.revision);
  assert.equal(store.get('DestinationRule', 'default', 'reviews'), undefined);
  await stop();
});

test('re-applying an unchanged object produces no event and keeps its resourceVersion', async () => {
  const mem = new MemorySource();
  const { store, stop } = await start([mem]);
  const rec = new Recorder(store);
  mem.apply(dr('a'));
  const [add] = await rec.next(1);
  mem.apply(dr('a')); // a new decoded object with identical content
  mem.apply(authz('sentinel'));
  const [next] = await rec.next(1);
  assert.equal(
    next.id,
    'AuthorizationPolicy/default/sentinel',
    'the re-apply produced no event before the sentinel',
  );
  assert.equal(store.get('DestinationRule', 'default', 'a'), add.current);
  assert.equal(
    store.get('DestinationRule', 'default', 'a')?.meta.resourceVersion,
    add.current?.meta.resourceVersion,
  );

  mem.apply(dr('a', { labels: { team: 'x' } }));
  const [labelled] = await rec.next(1);
  assert.equal(labelled.type, 'update', 'a metadata change is an update');
  assert.equal(labelled.current?.meta.generation, 1, 'generation does not move when only metadata changes');
  await stop();
});

test('list is sorted by namespace and name and filters by namespace; get and list reject unknown kinds', async () => {
  const mem = new MemorySource();
  mem.apply([dr('b', { namespace: 'z' }), dr('a', { namespace: 'z' }), dr('c'), authz('p')].join('---\n'));
  const { store, stop } = await start([mem]);
  assert.deepEqual(
    store.list('DestinationRule').map((r) => `${r.meta.namespace}/${r.meta.name}`),
    ['default/c', 'z/a', 'z/b'],
  );
  assert.deepEqual(
    store.list('DestinationRule', 'z').map((r) => r.meta.name),
    ['a', 'b'],
  );
  assert.deepEqual(store.list('DestinationRule', 'nope'), []);
  assert.deepEqual(store.list('Gateway'), []);
  assert.throws(
    () => store.get('Destinationrule', 'default', 'c'),
    (e: unknown) => {
      assert.ok(e instanceof MizzenError);
      assert.match(
        e.message,
        /unknown config kind "Destinationrule"; known kinds: VirtualService, DestinationRule/,
      );
      return true;
    },
  );
  assert.throws(() => store.list('Nope'), /unknown config kind "Nope"/);
  assert.throws(() => store.on('Nope', () => {}), /unknown config kind "Nope"/);
  await stop();
});

test('snapshots are immutable and consistent across kinds', async () => {
  const mem = new MemorySource();
  mem.apply([dr('a'), authz('p')].join('---\n'));
  const { store, stop } = await start([mem]);
  const before = store.snapshot();
  assert.equal(store.snapshot(), before, 'unchanged store: the same snapshot');
  assert.equal(before.size, 2);
  assert.deepEqual(before.kinds(), ['AuthorizationPolicy', 'DestinationRule']);

  // One batch changing two kinds: a snapshot taken by the first handler call already has both.
  const rec = new Recorder(store);
  const seen: number[] = [];
  const off = store.on(
    '*',
    () => {
      const s = store.snapshot();
      seen.push(s.list('DestinationRule').length + s.list('AuthorizationPolicy').length);
    },
    { replay: false },
  );
  mem.apply([dr('b'), authz('q')].join('---\n'));
  await rec.next(2);
  await within(store.idle(), 'handlers idle');
  assert.deepEqual(seen, [4, 4], 'handlers never see half a batch');

  assert.equal(before.size, 2, 'the old snapshot did not change');
  assert.equal(before.get('DestinationRule', 'default', 'b'), undefined);
  const after = store.snapshot();
  assert.equal(after.size, 4);
  assert.ok(after.revision > before.revision);

  const r = after.get<{ host: string }>('DestinationRule', 'default', 'a')!;
  assert.throws(() => {
    (r.spec as { host: string }).host = 'x';
  }, TypeError);
  assert.throws(() => {
    (r.meta.labels as Record<string, string>).x = 'y';
  }, TypeError);
  assert.throws(() => {
    (after.list('DestinationRule') as unknown[]).push(r);
  }, TypeError);
  off();
  await stop();
});

test('events for one key are delivered in order and a slow handler never blocks the producer', async () => {
  const mem = new MemorySource();
  const { store, stop } = await start([mem]);
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const hosts: string[] = [];
  store.on('DestinationRule', async (_prev, cur) => {
    await gate;
    hosts.push(cur ? (cur.spec as { host: string }).host : 'deleted');
  });
  for (let i = 0; i < 20; i++) mem.apply(dr('a', { host: `h${i}.example.com` }));
  mem.delete('DestinationRule', 'default', 'a');
  // The producer returned at once; the store is ahead of the blocked handler.
  assert.equal(store.get('DestinationRule', 'default', 'a'), undefined);
  assert.equal(hosts.length, 0);
  assert.equal(store.hasSynced(), true, 'events after the initial sync do not unsync the store');
  release();
  await within(store.idle(), 'handler to drain');
  assert.deepEqual(hosts, [...Array.from({ length: 20 }, (_, i) => `h${i}.example.com`), 'deleted']);
  await stop();
});

test('a handler that falls behind its bound gets events coalesced per object, still in order per object', async () => {
  const mem = new MemorySource();
  const { store, stop } = await start([mem], { handlerQueueCapacity: 4 });
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let inFlight!: () => void;
  const started = new Promise<void>((r) => (inFlight = r));
  const got: { type: string; name: string; host?: string; coalesced?: boolean }[] = [];
  const backwards: string[] = [];
  const lastSeen = new Map<string, number>();
  store.on('*', async (prev, cur, event) => {
    inFlight();
    await gate;
    const rv = Number((cur ?? prev)!.meta.resourceVersion);
    if (rv < (lastSeen.get(event.key.name) ?? 0)) backwards.push(`${event.key.name}@${rv}`);
    lastSeen.set(event.key.name, rv);
    got.push({
      type: event.type,
      name: event.key.name,
      host: cur ? (cur.spec as { host: string }).host : undefined,
      coalesced: event.coalesced,
    });
  });
  mem.apply(dr('a', { host: 'a0.example.com' }));
  await within(started, 'the first event to reach the handler');
  for (let i = 1; i <= 50; i++) mem.apply(dr('a', { host: `a${i}.example.com` }));
  mem.apply(dr('b')); // added...
  mem.delete('DestinationRule', 'default', 'b'); // ...and deleted while the handler was behind
  mem.apply(authz('c'));
  release();
  await within(store.idle(), 'handler to drain');
  assert.deepEqual(backwards, [], 'never an older state than one already delivered');
  assert.deepEqual(
    got.map((g) => [g.type, g.name, g.host, g.coalesced]),
    [
      ['add', 'a', 'a0.example.com', undefined], // in flight when the handler blocked
      ['update', 'a', 'a50.example.com', true], // 50 updates merged into the net change
      ['add', 'c', undefined, undefined], // b was added and deleted while behind: nothing to deliver
    ],
  );

  // Back to plain FIFO once drained.
  mem.apply(dr('a', { host: 'a51.example.com' }));
  mem.apply(dr('a', { host: 'a52.example.com' }));
  await within(store.idle(), 'handler to drain');
  assert.deepEqual(
    got.slice(3).map((g) => [g.host, g.coalesced]),
    [
      ['a51.example.com', undefined],
      ['a52.example.com', undefined],
    ],
  );
  await stop();
});

test('a handler that throws is logged and does not stop delivery', async () => {
  const mem = new MemorySource();
  const { store, stop } = await start([mem]);
  const names: string[] = [];
  store.on('DestinationRule', (_p, cur) => {
    names.push(cur!.meta.name);
    if (cur!.meta.name === 'boom') throw new Error('handler bug');
  });
  mem.apply(dr('boom'));
  mem.apply(dr('after'));
  await within(store.idle(), 'handler to drain');
  assert.deepEqual(names, ['boom', 'after']);
  await stop();
});

test('a handler registered late first receives the existing objects as replayed adds', async () => {
  const mem = new MemorySource();
  mem.apply([dr('b'), dr('a'), authz('p')].join('---\n'));
  const { store, stop } = await start([mem]);
  const rec = new Recorder(store, 'DestinationRule');
  assert.equal(store.hasSynced(), true, 'once synced, a late handler does not make readiness flap');
  const replayed = await rec.next(2);
  assert.deepEqual(
    replayed.map((r) => [r.type, r.id, r.event.replay]),
    [
      ['add', 'DestinationRule/default/a', true],
      ['add', 'DestinationRule/default/b', true],
    ],
  );
  await within(store.waitForSync(), 'sync');
  mem.delete('DestinationRule', 'default', 'a');
  const [del] = await rec.next(1);
  assert.equal(del.type, 'delete');
  assert.equal(del.event.replay, undefined);

  const quiet = new Recorder(store, '*', { replay: false });
  mem.apply(authz('q'));
  const [only] = await quiet.next(1);
  assert.equal(only.id, 'AuthorizationPolicy/default/q');
  quiet.stop();
  rec.stop();
  await stop();
});

test('hasSynced waits for every source and for handlers to process the initial state', async () => {
  let sinkOf!: ConfigSink;
  const slow: ConfigSource = {
    name: 'slow',
    statuses: () => [],
    run: async (sink, signal) => {
      sinkOf = sink;
      await new Promise((r) => signal.addEventListener('abort', r, { once: true }));
    },
  };
  const mem = new MemorySource();
  mem.apply(dr('a'));
  const store = createConfigStore({ sources: [mem, slow] });
  const rec = new Recorder(store);
  const ac = new AbortController();
  const running = store.run(ac.signal);
  await rec.next(1, 'the memory source object');
  assert.equal(store.hasSynced(), false);
  const synced = store.waitForSync();
  const mem2 = new MemorySource({ name: 'extra' });
  sinkOf.replace(mem2.apply(authz('p')));
  sinkOf.synced();
  await within(synced, 'sync');
  assert.equal(store.hasSynced(), true);
  assert.equal(rec.events.length, 2, 'the handler saw both sources before sync was reported');

  const aborted = new AbortController();
  const never = createConfigStore({ sources: [new MemorySource()] }).waitForSync(aborted.signal);
  aborted.abort(new Error('gave up'));
  await assert.rejects(never, /gave up/);
  ac.abort();
  await running;
});

test('several sources: the first listed wins, the others are reported, and the next takes over on delete', async () => {
  const primary = new MemorySource({ name: 'primary' });
  const secondary = new MemorySource({ name: 'secondary' });
  primary.apply(dr('shared', { host: 'from-primary.example.com' }));
  secondary.apply([dr('shared', { host: 'from-secondary.example.com' }), dr('only-secondary')].join('---\n'));
  const { store, stop } = await start([primary, secondary]);
  const rec = new Recorder(store, 'DestinationRule', { replay: false });

  const hostOf = (name: string) =>
    (store.get('DestinationRule', 'default', name)!.spec as { host: string }).host;
  assert.equal(hostOf('shared'), 'from-primary.example.com');
  assert.equal(hostOf('only-secondary'), 'only-secondary.example.com');
  const conflicts = store.statuses().filter((s) => s.reason === 'conflict');
  assert.equal(conflicts.length, 1);
  assert.equal(conflicts[0].source, 'secondary');
  assert.equal(conflicts[0].level, 'error');
  assert.match(
    conflicts[0].messages[0],
    /^<memory>:1:1 metadata\.name: DestinationRule\/default\/shared is also defined by primary \(<memory>:1:1\), which takes precedence; this definition is ignored$/,
  );

  secondary.apply(dr('shared', { host: 'changed-secondary.example.com' }));
  primary.delete('DestinationRule', 'default', 'shared');
  const [takeover] = await rec.next(1);
  assert.equal(takeover.type, 'update', 'the secondary definition takes over without a delete and re-add');
  assert.equal((takeover.current!.spec as { host: string }).host, 'changed-secondary.example.com');
  assert.equal(
    store.statuses().filter((s) => s.reason === 'conflict').length,
    0,
    'no conflict once one source holds the key',
  );
  await stop();
});

test('options and misuse are rejected with clear errors', async () => {
  assert.throws(
    () => createConfigStore({ sources: [new MemorySource(), new MemorySource()] }),
    /two sources are named "memory"/,
  );
  assert.throws(
    () => createConfigStore({ sources: [], handlerQueueCapacity: 0 }),
    /handlerQueueCapacity must be an integer >= 1, got 0/,
  );
  const store = createConfigStore({ sources: [] });
  assert.equal(store.hasSynced(), true, 'no sources: nothing to wait for');
  const ac = new AbortController();
  ac.abort();
  await store.run(ac.signal);
  await assert.rejects(store.run(ac.signal), /run\(\) was already called/);

  const bad: ConfigSource = {
    name: 'bad',
    statuses: () => [],
    run: async (sink) => {
      sink.replace([{ kind: 'Nope', group: 'x', version: 'v1', spec: {}, meta: {} as never }]);
    },
  };
  await assert.rejects(
    createConfigStore({ sources: [bad] }).run(new AbortController().signal),
    /unknown kind "Nope"/,
  );
});

test('leaves no open handles', assertNoOpenHandles);
