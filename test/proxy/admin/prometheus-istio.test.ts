/**
 * /stats/prometheus with labeled families: valid Prometheus text (strict parser) beside Envoy's
 * own stats, label values from untrusted peers escaped, and the series cap: past it new label
 * sets are refused and counted in mizzen_stats_series_overflow_total{metric=...}.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { prometheusText } from '../../../src/proxy/admin/prometheus.ts';
import { StatsStore } from '../../../src/proxy/stats/store.ts';
import { HTTP_LABELS, istioMetrics } from '../../../src/proxy/telemetry/istio-metrics.ts';
import { parsePrometheusText, sampleValue } from '../telemetry/prometheus-parser.ts';

function values(workload: string, code = '200'): string[] {
  return HTTP_LABELS.map((l) =>
    l === 'source_workload'
      ? workload
      : l === 'response_code'
        ? code
        : l === 'reporter'
          ? 'source'
          : 'unknown',
  );
}

test('envoy stats and istio families together parse strictly; odd label values are escaped', () => {
  const store = new StatsStore();
  store.counter('cluster.outbound|80||a.default.svc.cluster.local.upstream_rq_total').add(3);
  store.gauge('server.live').set(1);
  store.histogram('cluster.outbound|80||a.default.svc.cluster.local.upstream_rq_time').record(7);
  const m = istioMetrics(store);
  const odd = 'evil"\\\nworkload';
  m.requestsTotal.add(values(odd), 2);
  m.requestDuration.record(values(odd), 12);
  m.requestDuration.record(values(odd), 0.2);
  const text = prometheusText(store, {
    clusters: ['outbound|80||a.default.svc.cluster.local'],
    listeners: [],
  });
  const fams = parsePrometheusText(text);
  assert.equal(sampleValue(fams, 'istio_requests_total', { source_workload: odd }), 2);
  assert.equal(sampleValue(fams, 'istio_request_duration_milliseconds_bucket', { le: '0.5' }), 1);
  assert.equal(sampleValue(fams, 'istio_request_duration_milliseconds_bucket', { le: '25' }), 2);
  assert.equal(sampleValue(fams, 'istio_request_duration_milliseconds_sum', {}), 12.2);
  assert.equal(sampleValue(fams, 'envoy_cluster_upstream_rq_total', {}), 3);
  // Families that never saw a sample still announce their type.
  assert.equal(fams.get('istio_tcp_connections_opened_total')?.type, 'counter');
  assert.equal(fams.get('istio_response_bytes')?.type, 'histogram');
  const sample = fams.get('istio_requests_total')?.samples[0];
  assert.deepEqual(Object.keys(sample?.labels ?? {}), HTTP_LABELS, 'labels in Istio order');
});

test('the series cap refuses new label sets, keeps counting known ones, and reports overflow', () => {
  const store = new StatsStore();
  store.maxSeriesPerFamily = 5;
  const m = istioMetrics(store);
  for (let i = 0; i < 20; i++) m.requestsTotal.add(values(`w${i}`), 1);
  m.requestsTotal.add(values('w0'), 1);
  assert.equal(m.requestsTotal.size, 5);
  assert.equal(m.requestsTotal.overflow, 15);
  assert.equal(m.requestsTotal.value({ source_workload: 'w0' }), 2);
  const fams = parsePrometheusText(prometheusText(store, { clusters: [], listeners: [] }));
  assert.equal(
    sampleValue(fams, 'mizzen_stats_series_overflow_total', { metric: 'istio_requests_total' }),
    15,
  );
  assert.equal(sampleValue(fams, 'mizzen_stats_series_overflow_total', { metric: 'istio_request_bytes' }), 0);
  assert.equal(fams.get('istio_requests_total')?.samples.length, 5);
});

test('the strict parser itself rejects what Prometheus rejects', () => {
  assert.throws(() => parsePrometheusText('a{b="c} 1\n'), /unterminated/);
  assert.throws(() => parsePrometheusText('a 1\na 2\n'), /duplicate/);
  assert.throws(() => parsePrometheusText('# TYPE a counter\n# TYPE a counter\n'), /second TYPE/);
  assert.throws(() => parsePrometheusText('a 1\nb 1\na{x="y"} 1\n'), /contiguous/);
  assert.throws(() => parsePrometheusText('a{b="\\t"} 1\n'), /bad escape/);
  assert.throws(() => parsePrometheusText('a 1'), /newline/);
  assert.throws(
    () => parsePrometheusText('# TYPE h histogram\nh_bucket{le="1"} 2\nh_sum 1\nh_count 2\n'),
    /\+Inf/,
  );
  assert.throws(
    () =>
      parsePrometheusText(
        '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n',
      ),
    /cumulative/,
  );
});
