import assert from 'node:assert/strict';
import { afterEach, beforeEach, mock, test } from 'node:test';
import { Debouncer } from '../../src/lib/debounce.ts';
import { MizzenError } from '../../src/lib/errors.ts';

beforeEach(() => mock.timers.enable({ apis: ['setTimeout'] }));
afterEach(() => mock.timers.reset());

test('runs once after the quiet period following the last trigger', () => {
  let runs = 0;
  const d = new Debouncer(() => runs++, { delayMs: 100, maxDelayMs: 10_000 });
  d.trigger();
  mock.timers.tick(60);
  d.trigger();
  mock.timers.tick(60);
  d.trigger();
  mock.timers.tick(99);
  assert.equal(runs, 0);
  assert.equal(d.pending, true);
  mock.timers.tick(1);
  assert.equal(runs, 1);
  assert.equal(d.pending, false);
  mock.timers.tick(10_000);
  assert.equal(runs, 1, 'the ceiling timer is cleared when the quiet timer fires');
});

test('a steady stream of triggers still runs at the ceiling', () => {
  let runs = 0;
  const d = new Debouncer(() => runs++, { delayMs: 100, maxDelayMs: 250 });
  for (let i = 0; i < 5; i++) {
    d.trigger();
    mock.timers.tick(50);
  }
  assert.equal(runs, 1, 'fired at 250 ms although triggers kept coming every 50 ms');
  assert.equal(d.pending, false, 'the run covered every trigger before it');
  mock.timers.tick(1_000);
  assert.equal(runs, 1);
  d.trigger();
  mock.timers.tick(100);
  assert.equal(runs, 2, 'a later trigger starts a new burst');
});

test('cancel drops a scheduled run and flush runs it now', () => {
  let runs = 0;
  const d = new Debouncer(() => runs++, { delayMs: 100 });
  d.trigger();
  d.cancel();
  mock.timers.tick(5_000);
  assert.equal(runs, 0);
  d.trigger();
  d.flush();
  assert.equal(runs, 1);
  d.flush();
  assert.equal(runs, 1, 'flush without a scheduled run does nothing');
});

test('a zero delay runs on the next timer turn', () => {
  let runs = 0;
  const d = new Debouncer(() => runs++, { delayMs: 0 });
  d.trigger();
  d.trigger();
  assert.equal(runs, 0);
  mock.timers.tick(0);
  assert.equal(runs, 1);
});

test('options are validated with messages naming the field', () => {
  assert.throws(
    () => new Debouncer(() => {}, { delayMs: -1 }),
    (e: unknown) => {
      assert.ok(e instanceof MizzenError);
      assert.match(e.message, /delayMs must be a finite number >= 0, got -1/);
      return true;
    },
  );
  assert.throws(() => new Debouncer(() => {}, { delayMs: 100, maxDelayMs: 50 }), /maxDelayMs must be/);
  assert.throws(() => new Debouncer(() => {}, { delayMs: Number.NaN }), /delayMs/);
});
