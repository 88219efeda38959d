/**
 * PushQueue: one entry per key, merging, re-queue of pushes that arrive mid-processing,
 * bounded concurrency, and yielding to the event loop between batches.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PushQueue } from '../../../src/pilot/xds/push-queue.ts';

const merge = (a: string[], b: string[]) => [...a, ...b];

test('pushes for a waiting key merge into one item, processed in arrival order of keys', async () => {
  const seen: [string, string[]][] = [];
  const q = new PushQueue<string, string[]>({
    concurrency: 10,
    merge,
    process: (k, v) => void seen.push([k, v]),
  });
  q.enqueue('a', ['1']);
  q.enqueue('b', ['2']);
  q.enqueue('a', ['3']);
  assert.equal(q.pending, 2);
  await q.idle();
  assert.deepEqual(seen, [
    ['a', ['1', '3']],
    ['b', ['2']],
  ]);
});

test('a push arriving while its key is processed runs again afterwards, merged', async () => {
  const seen: string[][] = [];
  let release!: () => void;
  const q = new PushQueue<string, string[]>({
    concurrency: 1,
    merge,
    process: (_k, v) => {
      seen.push(v);
      if (seen.length === 1) return new Promise<void>((r) => (release = r));
    },
  });
  q.enqueue('a', ['1']);
  await new Promise((r) => setImmediate(r));
  assert.equal(q.inProgress, 1);
  q.enqueue('a', ['2']);
  q.enqueue('a', ['3']);
  assert.equal(q.pending, 0, 'held aside, not queued twice');
  release();
  await q.idle();
  assert.deepEqual(seen, [['1'], ['2', '3']]);
});

test('at most `concurrency` items run at once, and at most that many start per event-loop turn', async () => {
  let running = 0;
  let maxRunning = 0;
  const releases: (() => void)[] = [];
  const q = new PushQueue<number, number>({
    concurrency: 3,
    merge: (_a, b) => b,
    process: () => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      return new Promise<void>((r) =>
        releases.push(() => {
          running--;
          r();
        }),
      );
    },
  });
  for (let i = 0; i < 10; i++) q.enqueue(i, i);
  await new Promise((r) => setImmediate(r));
  assert.equal(running, 3);
  while (releases.length > 0 || q.pending > 0) {
    releases.shift()?.();
    await new Promise((r) => setImmediate(r));
  }
  await q.idle();
  assert.equal(maxRunning, 3);

  // Synchronous work: one batch per turn.
  const turns: number[] = [];
  let turn = 0;
  const sync = new PushQueue<number, number>({
    concurrency: 4,
    merge: (_a, b) => b,
    process: () => void turns.push(turn),
  });
  for (let i = 0; i < 10; i++) sync.enqueue(i, i);
  const ticking = (async () => {
    while (turns.length < 10) {
      await new Promise((r) => setImmediate(r));
      turn++;
    }
  })();
  await sync.idle();
  await ticking;
  const perTurn = new Map<number, number>();
  for (const t of turns) perTurn.set(t, (perTurn.get(t) ?? 0) + 1);
  assert.ok(
    [...perTurn.values()].every((n) => n <= 4),
    `batches: ${[...perTurn.values()]}`,
  );
  assert.ok(perTurn.size >= 3);
});

test('a turn also ends after sliceMs of synchronous work (time-sliced, not counted)', async () => {
  let clock = 0;
  const turns: number[] = [];
  let turn = 0;
  const q = new PushQueue<number, number>({
    concurrency: 100,
    maxPerTurn: Number.POSITIVE_INFINITY,
    sliceMs: 10,
    now: () => clock,
    merge: (_a, b) => b,
    process: () => {
      turns.push(turn);
      clock += 4; // each item "costs" 4 ms: the third crosses the 10 ms slice
    },
  });
  for (let i = 0; i < 9; i++) q.enqueue(i, i);
  const ticking = (async () => {
    while (turns.length < 9) {
      await new Promise((r) => setImmediate(r));
      turn++;
    }
  })();
  await q.idle();
  await ticking;
  const perTurn = new Map<number, number>();
  for (const t of turns) perTurn.set(t, (perTurn.get(t) ?? 0) + 1);
  assert.deepEqual([...perTurn.values()], [3, 3, 3]);
});

test('the admit gate holds starts until wake()', async () => {
  let open = false;
  const seen: number[] = [];
  const q = new PushQueue<number, number>({
    concurrency: 10,
    admit: () => open,
    merge: (_a, b) => b,
    process: (k) => void seen.push(k),
  });
  q.enqueue(1, 1);
  q.enqueue(2, 2);
  for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
  assert.deepEqual(seen, []);
  assert.equal(q.pending, 2);
  open = true;
  q.wake();
  await q.idle();
  assert.deepEqual(seen, [1, 2]);
});

test('remove() drops a waiting key; close() drops everything and later pushes', async () => {
  const seen: string[] = [];
  const q = new PushQueue<string, string>({
    concurrency: 1,
    merge: (_a, b) => b,
    process: (k) => void seen.push(k),
  });
  q.enqueue('a', 'x');
  q.enqueue('b', 'x');
  q.remove('a');
  await q.idle();
  assert.deepEqual(seen, ['b']);
  q.enqueue('c', 'x');
  q.close();
  q.enqueue('d', 'x');
  await q.idle();
  assert.deepEqual(seen, ['b']);
});

test('a throwing or rejecting process does not stop the queue', async () => {
  const seen: string[] = [];
  const q = new PushQueue<string, string>({
    concurrency: 2,
    merge: (_a, b) => b,
    process: (k) => {
      seen.push(k);
      if (k === 'boom') throw new Error('boom');
      if (k === 'reject') return Promise.reject(new Error('reject'));
    },
  });
  q.enqueue('boom', '');
  q.enqueue('reject', '');
  q.enqueue('ok', '');
  await q.idle();
  assert.deepEqual(seen, ['boom', 'reject', 'ok']);
});

test('concurrency must be a positive integer', () => {
  assert.throws(
    () => new PushQueue({ concurrency: 0, merge: (a) => a, process: () => {} }),
    /positive integer/,
  );
});

test('mergeIfWaiting merges only into a waiting item; it never queues or touches one in progress', async () => {
  const seen: [string, string[]][] = [];
  let release!: () => void;
  const q = new PushQueue<string, string[]>({
    concurrency: 1,
    merge,
    process: (k, v) => {
      seen.push([k, v]);
      if (k === 'a') return new Promise<void>((r) => (release = r));
    },
  });
  q.enqueue('a', ['1']);
  q.enqueue('b', ['2']);
  await new Promise((r) => setImmediate(r));
  assert.equal(q.inProgress, 1);
  assert.equal(q.mergeIfWaiting('a', ['x']), false, 'in progress: left alone');
  assert.equal(q.mergeIfWaiting('b', ['3']), true);
  assert.equal(q.mergeIfWaiting('c', ['4']), false, 'not queued: stays so');
  assert.equal(q.pending, 1);
  release();
  await q.idle();
  assert.deepEqual(seen, [
    ['a', ['1']],
    ['b', ['2', '3']],
  ]);
});
