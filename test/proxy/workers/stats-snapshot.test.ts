/**
 * Summing worker stats into the primary's store: counters, histograms and labeled families add
 * up; traffic gauges add up, config gauges do not; a retired worker's counters stay counted.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StatsStore } from '../../../src/proxy/stats/store.ts';
import {
  accumulate,
  applySnapshots,
  EMPTY_SNAPSHOT,
  takeSnapshot,
} from '../../../src/proxy/workers/stats-snapshot.ts';

function worker(requests: number, active: number, latencies: number[]): StatsStore {
  const s = new StatsStore();
  s.counter('cluster.c.upstream_rq_total').add(requests);
  s.gauge('cluster.c.upstream_cx_active').set(active);
  s.gauge('cluster.c.membership_total').set(3);
  const h = s.histogram('cluster.c.upstream_rq_time', [1, 10]);
  for (const l of latencies) h.record(l);
  const f = s.labeled('istio_requests_total', 'counter', ['response_code']);
  f.add(['200'], requests);
  f.add(['503'], 1);
  return s;
}

test('live workers: counters, histograms and labeled series sum; config gauges take the max', () => {
  const primary = new StatsStore();
  primary.counter('xds.own').add(7);
  const a = takeSnapshot(worker(10, 2, [0.5, 5]));
  const b = takeSnapshot(worker(5, 1, [50]));
  applySnapshots(primary, [a, b], EMPTY_SNAPSHOT);
  assert.equal(primary.value('cluster.c.upstream_rq_total'), 15);
  assert.equal(primary.value('cluster.c.upstream_cx_active'), 3);
  assert.equal(primary.value('cluster.c.membership_total'), 3);
  assert.equal(primary.value('xds.own'), 7, "the primary's own stats are kept");
  const h = [...primary.histograms()].find((x) => x.name === 'cluster.c.upstream_rq_time');
  assert.deepEqual([...(h?.counts ?? [])], [1, 1, 1]);
  assert.equal(h?.count, 3);
  assert.equal(h?.sum, 55.5);
  const f = primary.labeledFamily('istio_requests_total');
  assert.equal(f?.value({ response_code: '200' }), 15);
  assert.equal(f?.value({ response_code: '503' }), 2);
});

test('applying again replaces, it does not add twice', () => {
  const primary = new StatsStore();
  const a = takeSnapshot(worker(10, 2, [1]));
  applySnapshots(primary, [a], EMPTY_SNAPSHOT);
  applySnapshots(primary, [a], EMPTY_SNAPSHOT);
  assert.equal(primary.value('cluster.c.upstream_rq_total'), 10);
  assert.equal(primary.labeledFamily('istio_requests_total')?.value({ response_code: '200' }), 10);
});

test("a retired worker's counters stay in the totals, its gauges do not", () => {
  const primary = new StatsStore();
  const dead = takeSnapshot(worker(10, 4, [1]));
  const retired = accumulate(EMPTY_SNAPSHOT, dead);
  const replacement = takeSnapshot(worker(2, 1, [1]));
  applySnapshots(primary, [replacement], retired);
  assert.equal(primary.value('cluster.c.upstream_rq_total'), 12);
  assert.equal(primary.value('cluster.c.upstream_cx_active'), 1);
  assert.equal(primary.labeledFamily('istio_requests_total')?.value({ response_code: '503' }), 2);
});
