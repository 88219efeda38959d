import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MetricsRegistry } from '../../src/lib/metrics.ts';

test('Prometheus text exposition of counters, gauges and histograms', () => {
  const r = new MetricsRegistry();
  const pushes = r.counter({ name: 'pilot_xds_pushes', help: 'Pushes.\nBy type.', labelNames: ['type'] });
  pushes.labels('cds').inc();
  pushes.labels('cds').inc(2);
  pushes.labels('e"d\\s\n').inc();
  r.gauge({ name: 'pilot_xds', help: 'Connected.', labelNames: ['version'] })
    .labels('1.24')
    .set(3);
  const h = r.histogram({ name: 'push_time', help: 'Time.', buckets: [0.1, 1] });
  h.observe(0.05);
  h.observe(0.5);
  h.observe(5);
  r.counter({ name: 'never_used', help: 'x' });
  assert.equal(
    r.expose(),
    [
      '# HELP pilot_xds_pushes Pushes.\\nBy type.',
      '# TYPE pilot_xds_pushes counter',
      'pilot_xds_pushes{type="cds"} 3',
      'pilot_xds_pushes{type="e\\"d\\\\s\\n"} 1',
      '# HELP pilot_xds Connected.',
      '# TYPE pilot_xds gauge',
      'pilot_xds{version="1.24"} 3',
      '# HELP push_time Time.',
      '# TYPE push_time histogram',
      'push_time_bucket{le="0.1"} 1',
      'push_time_bucket{le="1"} 2',
      'push_time_bucket{le="+Inf"} 3',
      'push_time_sum 5.55',
      'push_time_count 3',
      '',
    ].join('\n'),
  );
  assert.equal(pushes.get('cds'), 3);
  assert.equal(pushes.get('lds'), 0);
});

test('registration is get-or-create; conflicting kinds or labels are refused', () => {
  const r = new MetricsRegistry();
  const a = r.counter({ name: 'x_total', help: 'x', labelNames: ['type'] });
  assert.equal(r.counter({ name: 'x_total', help: 'x', labelNames: ['type'] }), a);
  assert.throws(
    () => r.gauge({ name: 'x_total', help: 'x', labelNames: ['type'] }),
    /already registered as a counter/,
  );
  assert.throws(() => r.counter({ name: 'x_total', help: 'x', labelNames: ['kind'] }), /already registered/);
});

test('bad names, labels, label counts, buckets and negative counter steps are refused', () => {
  const r = new MetricsRegistry();
  assert.throws(() => r.counter({ name: 'bad-name', help: '' }), /not a Prometheus name/);
  assert.throws(() => r.counter({ name: 'ok', help: '', labelNames: ['le'] }), /not allowed/);
  const c = r.counter({ name: 'c', help: '', labelNames: ['a', 'b'] });
  assert.throws(() => c.labels('only-one'), /takes 2 label value/);
  assert.throws(() => c.labels('1', '2').inc(-1), /only goes up/);
  assert.throws(() => r.histogram({ name: 'h', help: '', buckets: [1, 1] }), /strictly ascending/);
});

test('gauges go up and down; reset forgets series', () => {
  const r = new MetricsRegistry();
  const g = r.gauge({ name: 'g', help: 'g' });
  g.inc();
  g.inc(4);
  g.dec(2);
  assert.equal(g.get(), 3);
  g.reset();
  assert.equal(r.expose(), '');
});
