/**
 * mizzen-proxy's command line (own flags split from bootstrap flags, usage errors, help) and
 * the Prometheus exposition (Envoy's tag extraction with dotted names, TYPE lines, histograms).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { extractTags, prometheusText } from '../../../src/proxy/admin/prometheus.ts';
import { ProxyExit, parseProxyArgs, run } from '../../../src/proxy/cmd/mizzen-proxy.ts';
import { StatsStore } from '../../../src/proxy/stats/store.ts';

function io() {
  const out = { stdout: '', stderr: '' };
  return {
    out,
    io: {
      env: {},
      stdout: (t: string) => {
        out.stdout += t;
      },
      stderr: (t: string) => {
        out.stderr += t;
      },
    },
  };
}

test('own flags are taken out; bootstrap flags pass through in order', () => {
  const { flags, rest } = parseProxyArgs([
    'sidecar',
    '--admin-port',
    '0',
    '--discovery-address=127.0.0.1:15010',
    '--drain-duration=2.5s',
    '--status-port',
    '15099',
    '--label',
    'app=a',
  ]);
  assert.equal(flags.adminPort, 0);
  assert.equal(flags.statusPort, 15099);
  assert.equal(flags.drainMs, 2500);
  assert.equal(flags.adminAddress, '127.0.0.1');
  assert.deepEqual(rest, ['sidecar', '--discovery-address=127.0.0.1:15010', '--label', 'app=a']);
});

test('bad flag values are usage errors naming the flag (exit 2)', async () => {
  for (const [args, re] of [
    [['--admin-port', '70000'], /--admin-port: expected a port number/],
    [['--drain-duration', 'soon'], /--drain-duration: expected a duration/],
    [['--log-level', 'loud'], /--log-level/],
    [['--status-port'], /--status-port: a value is required/],
    [['sidecar', '--no-such-flag'], /no-such-flag/],
  ] as const) {
    const t = io();
    assert.equal(await run(['proxy', ...args], t.io), ProxyExit.USAGE, args.join(' '));
    assert.match(t.out.stderr, re);
  }
});

test('help and unknown commands', async () => {
  const h = io();
  assert.equal(await run(['--help'], h.io), ProxyExit.OK);
  assert.match(h.out.stdout, /mizzen-proxy proxy \[sidecar\|router\]/);
  assert.match(h.out.stdout, /--discovery-address/);
  const u = io();
  assert.equal(await run(['serve'], u.io), ProxyExit.USAGE);
  assert.match(u.out.stderr, /unknown command "serve"/);
});

test('Envoy tag extraction keeps dotted cluster names and listener addresses whole', () => {
  const families = {
    clusters: ['outbound|80|v1|shop.example.internal', 'outbound|80||shop.example.internal'],
    listeners: ['127.0.0.1_8080'],
    httpPrefixes: ['outbound_0.0.0.0_80'],
  };
  assert.deepEqual(extractTags('cluster.outbound|80|v1|shop.example.internal.upstream_rq_total', families), {
    name: 'cluster.upstream_rq_total',
    labels: [['envoy_cluster_name', 'outbound|80|v1|shop.example.internal']],
  });
  assert.deepEqual(extractTags('listener.127.0.0.1_8080.downstream_cx_total', families), {
    name: 'listener.downstream_cx_total',
    labels: [['envoy_listener_address', '127.0.0.1_8080']],
  });
  assert.deepEqual(extractTags('http.outbound_0.0.0.0_80.downstream_rq_total', families), {
    name: 'http.downstream_rq_total',
    labels: [['envoy_http_conn_manager_prefix', 'outbound_0.0.0.0_80']],
  });
  assert.deepEqual(
    extractTags('http.outbound_0.0.0.0_80;.downstream_rq_total', {
      ...families,
      httpPrefixes: ['outbound_0.0.0.0_80;'],
    }).labels,
    [['envoy_http_conn_manager_prefix', 'outbound_0.0.0.0_80']],
    "Istio's ';' delimiter is not part of the label",
  );
  // A name no longer known (a removed cluster): the first segment is taken.
  assert.deepEqual(extractTags('cluster.gone.upstream_rq_total', families).labels, [
    ['envoy_cluster_name', 'gone'],
  ]);
  assert.deepEqual(extractTags('server.uptime', families), { name: 'server.uptime', labels: [] });
});

test('Prometheus text: one TYPE per name, escaped labels, cumulative histogram buckets', () => {
  const s = new StatsStore();
  s.counter('cluster.a"b.upstream_rq_total').add(3);
  s.counter('cluster.c.upstream_rq_total').add(1);
  s.gauge('cluster.c.upstream_cx_active').set(2);
  const h = s.histogram('cluster.c.upstream_rq_time', [1, 10]);
  h.record(0.5);
  h.record(5);
  h.record(50);
  const text = prometheusText(s, { clusters: ['a"b', 'c'], listeners: [] });
  assert.equal(text.match(/# TYPE envoy_cluster_upstream_rq_total counter/g)?.length, 1);
  assert.match(text, /^envoy_cluster_upstream_rq_total\{envoy_cluster_name="a\\"b"\} 3$/m);
  assert.match(text, /^envoy_cluster_upstream_cx_active\{envoy_cluster_name="c"\} 2$/m);
  assert.match(text, /^envoy_cluster_upstream_rq_time_bucket\{envoy_cluster_name="c",le="1"\} 1$/m);
  assert.match(text, /^envoy_cluster_upstream_rq_time_bucket\{envoy_cluster_name="c",le="10"\} 2$/m);
  assert.match(text, /^envoy_cluster_upstream_rq_time_bucket\{envoy_cluster_name="c",le="\+Inf"\} 3$/m);
  assert.match(text, /^envoy_cluster_upstream_rq_time_count\{envoy_cluster_name="c"\} 3$/m);
});
