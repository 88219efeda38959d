/**
 * PushDebouncer with fake timers: quiet period, maximum delay, one push at a time, bypass.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, mock, test } from 'node:test';
import { PushDebouncer } from '../../../src/pilot/xds/debounce.ts';

beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 0 }));
afterEach(() => mock.timers.reset());

const flush = () => new Promise<void>((r) => queueMicrotask(r));

function recorder() {
  const pushes: { value: string[]; events: number; waitedMs: number; at: number }[] = [];
  const d = new PushDebouncer<string[]>({
    afterMs: 100,
    maxMs: 1000,
    merge: (a, b) => [...a, ...b],
    push: (value, info) => void pushes.push({ value, ...info, at: Date.now() }),
  });
  return { d, pushes };
}

test('events are merged until 100 ms pass without a new one', () => {
  const { d, pushes } = recorder();
  d.enqueue(['a']);
  mock.timers.tick(60);
  d.enqueue(['b']);
  mock.timers.tick(60);
  assert.equal(pushes.length, 0, '120 ms after the first event, but only 60 ms quiet');
  mock.timers.tick(40);
  assert.deepEqual(pushes, [{ value: ['a', 'b'], events: 2, waitedMs: 160, at: 160 }]);
  assert.equal(d.pendingEvents, 0);
  d.close();
});

test('a steady stream of events is still pushed after the maximum delay', () => {
  const { d, pushes } = recorder();
  for (let t = 0; t < 1500; t += 50) {
    d.enqueue([String(t)]);
    mock.timers.tick(50);
  }
  assert.ok(pushes.length >= 1);
  assert.equal(pushes[0].at, 1000);
  assert.equal(pushes[0].events, 20);
  d.close();
});

test('only one push runs at a time; events during it go into the next round', async () => {
  let release!: () => void;
  const pushes: string[][] = [];
  const d = new PushDebouncer<string[]>({
    afterMs: 100,
    maxMs: 1000,
    merge: (a, b) => [...a, ...b],
    push: (v) => {
      pushes.push(v);
      if (pushes.length === 1) return new Promise<void>((r) => (release = r));
    },
  });
  d.enqueue(['a']);
  mock.timers.tick(100);
  assert.deepEqual(pushes, [['a']]);
  d.enqueue(['b']);
  mock.timers.tick(500);
  assert.equal(pushes.length, 1, 'the first push is still running');
  release();
  await flush();
  await flush();
  assert.deepEqual(pushes, [['a'], ['b']]);
  d.close();
});

test('bypass pushes at once, outside the debounce', () => {
  const pushes: string[] = [];
  const d = new PushDebouncer<string>({
    afterMs: 100,
    maxMs: 1000,
    merge: (_a, b) => b,
    push: (v) => void pushes.push(v),
    bypass: (v) => v.startsWith('eds'),
  });
  d.enqueue('config');
  d.enqueue('eds-1');
  assert.deepEqual(pushes, ['eds-1']);
  mock.timers.tick(100);
  assert.deepEqual(pushes, ['eds-1', 'config']);
  d.close();
});

test('close() drops pending events; bad options are refused', () => {
  const { d, pushes } = recorder();
  d.enqueue(['a']);
  d.close();
  mock.timers.tick(5000);
  assert.equal(pushes.length, 0);
  assert.throws(
    () => new PushDebouncer({ afterMs: 100, maxMs: 10, merge: (a) => a, push: () => {} }),
    /afterMs <= maxMs/,
  );
});
