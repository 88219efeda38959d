/**
 * istio.metadata_exchange + istio.stats over real sockets: a client-side sidecar (OUTBOUND,
 * reporter=source) in front of a server-side sidecar (INBOUND, reporter=destination) in front of
 * an app. Each side learns the other's workload labels from the exchange headers, the app and
 * the client never see those headers, and locally generated failures carry their response flags
 * (NR, UH, UF, URX, DC) in the response_flags label.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { toProtoStruct } from '../../../src/lib/xds/well-known.ts';
import { prometheusText } from '../../../src/proxy/admin/prometheus.ts';
import { HTTP_LABELS } from '../../../src/proxy/telemetry/istio-metrics.ts';
import { type FakeUpstream, startUpstream } from '../../support/fake-upstreams.ts';
import {
  assertNoOpenHandles,
  ProxyHarness,
  request,
  routeConfig,
  staticCluster,
} from '../support/harness.ts';
import { parsePrometheusText, sampleValue } from './prometheus-parser.ts';
import { istioHttpListener, nodeMetadata, settle, statsFilter } from './support.ts';

const REVIEWS = 'outbound|80||reviews.default.svc.cluster.local';
const EMPTY = 'outbound|80||empty.default.svc.cluster.local';
const DEAD = 'outbound|80||dead.default.svc.cluster.local';
/** HTTP/1.1 passes response trailers on only when asked (Envoy's enable_trailers): gRPC needs them. */
const TRAILERS = { http_protocol_options: { enable_trailers: true } };

let app: FakeUpstream;
let server: ProxyHarness;
let client: ProxyHarness;
let deadPort: number;

async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

before(async () => {
  app = await startUpstream('reviews-app');
  app.behave = (req) =>
    req.url.startsWith('/unavailable')
      ? { kind: 'status', status: 503, body: 'down' }
      : req.url.startsWith('/hang')
        ? { kind: 'hang' }
        : req.url.startsWith('/grpc')
          ? { kind: 'chunked', chunks: ['\u0000\u0000\u0000\u0000\u0000'], trailers: { 'grpc-status': '5' } }
          : { kind: 'echo' };
  deadPort = await closedPort();

  server = new ProxyHarness();
  server.stats.localNode = nodeMetadata('reviews-v1', 'reviews', 'v1');
  server.stats.localNodeId = 'sidecar~10.0.0.2~reviews-v1-abc12.default~default.svc.cluster.local';
  // Istio names an inbound cluster's service only in its metadata (inbound|PORT|| has no host).
  server.addCluster(
    staticCluster('inbound|80||', [app.port], {
      metadata: {
        filter_metadata: {
          istio: toProtoStruct({
            services: [{ host: 'reviews.default.svc.cluster.local', name: 'reviews', namespace: 'default' }],
          }),
        },
      },
    }),
  );
  await server.listen(
    istioHttpListener(
      'virtualInbound',
      'INBOUND',
      routeConfig([{ match: { prefix: '/' }, route: { cluster: 'inbound|80||' } }]),
      statsFilter(),
      TRAILERS,
    ),
  );

  client = new ProxyHarness();
  client.stats.localNode = nodeMetadata('productpage-v1', 'productpage', 'v1');
  client.stats.localNodeId = 'sidecar~10.0.0.1~productpage-v1-abc12.default~default.svc.cluster.local';
  client.addCluster(staticCluster(REVIEWS, [server.port]));
  client.addCluster(staticCluster(EMPTY, []));
  client.addCluster(staticCluster(DEAD, [deadPort]));
  await client.listen(
    istioHttpListener(
      '0.0.0.0_80',
      'OUTBOUND',
      {
        name: '80',
        virtual_hosts: [
          {
            name: 'reviews',
            domains: ['reviews.default.svc.cluster.local', 'reviews'],
            routes: [
              { match: { prefix: '/uh' }, route: { cluster: EMPTY } },
              { match: { prefix: '/uf' }, route: { cluster: DEAD } },
              {
                match: { prefix: '/unavailable' },
                route: {
                  cluster: REVIEWS,
                  retry_policy: {
                    retry_on: '5xx',
                    num_retries: 1,
                    retry_back_off: { base_interval: { nanos: 1_000_000 } },
                  },
                },
              },
              { match: { prefix: '/' }, route: { cluster: REVIEWS } },
            ],
          },
        ],
      },
      statsFilter(),
      TRAILERS,
    ),
  );
});

after(async () => {
  await client.close();
  await server.close();
  await app.close();
  await assertNoOpenHandles();
});

const HOST = { host: 'reviews.default.svc.cluster.local' };

test('labels are declared in Istio order', () => {
  const f = client.stats.labeledFamily('istio_requests_total');
  assert.deepEqual(f?.labelNames, HTTP_LABELS);
  assert.equal(HTTP_LABELS[0], 'reporter');
  assert.equal(HTTP_LABELS.at(-1), 'connection_security_policy');
});

test('a request through both sidecars: each reports the peer it learnt, headers never leak', async () => {
  const r = await request(client.port, { path: '/reviews/1', headers: HOST });
  assert.equal(r.status, 200);
  const seen = JSON.parse(r.body).headers as Record<string, string>;
  assert.equal(seen['x-envoy-peer-metadata'], undefined, 'the app does not see the exchange');
  assert.equal(seen['x-envoy-peer-metadata-id'], undefined);
  assert.equal(r.headers['x-envoy-peer-metadata'], undefined, 'the client does not see the exchange');
  assert.equal(r.headers['x-envoy-peer-metadata-id'], undefined);
  await settle(() => (server.stats.labeledFamily('istio_requests_total')?.size ?? 0) > 0);

  const src = client.stats.labeledFamily('istio_requests_total');
  const expectedSource = [
    'source',
    'productpage-v1',
    'productpage',
    'v1',
    'default',
    'unknown',
    'productpage',
    'v1',
    'Kubernetes',
    'reviews-v1',
    'default',
    'unknown',
    'reviews',
    'v1',
    'reviews.default.svc.cluster.local',
    'reviews',
    'v1',
    'reviews',
    'default',
    'Kubernetes',
    'http',
    '200',
    '',
    '-',
    'unknown',
  ];
  assert.deepEqual(
    [...(src?.all() ?? [])].map((s) => s.values),
    [expectedSource],
  );
  const dst = server.stats.labeledFamily('istio_requests_total');
  const expectedDest = [...expectedSource];
  expectedDest[0] = 'destination';
  expectedDest[24] = 'none';
  assert.deepEqual(
    [...(dst?.all() ?? [])].map((s) => s.values),
    [expectedDest],
  );
  const dur = client.stats.labeledFamily('istio_request_duration_milliseconds');
  assert.equal(dur?.value({ response_code: '200' }), 1);
  const resp = client.stats.labeledFamily('istio_response_bytes');
  const series = [...(resp?.all() ?? [])][0];
  assert.ok(series.sum > 0, 'response bytes recorded');
});

test('NR: no virtual host for the Host header → 404, flags NR, peer unknown, service from Host', async () => {
  const r = await request(client.port, { path: '/x', headers: { host: 'nowhere.example:8080' } });
  assert.equal(r.status, 404);
  const f = client.stats.labeledFamily('istio_requests_total');
  const nr = [...(f?.all() ?? [])].filter((s) => s.values[23] === 'NR');
  assert.equal(nr.length, 1);
  assert.deepEqual(nr[0].values.slice(9, 25), [
    'unknown',
    'unknown',
    'unknown',
    'unknown',
    'unknown',
    'nowhere.example',
    'unknown',
    'latest',
    'nowhere.example',
    'unknown',
    'unknown',
    'http',
    '404',
    '',
    'NR',
    'unknown',
  ]);
});

test('UH: a cluster without endpoints → 503 UH', async () => {
  const r = await request(client.port, { path: '/uh', headers: HOST });
  assert.equal(r.status, 503);
  const f = client.stats.labeledFamily('istio_requests_total');
  assert.equal(
    f?.value({
      response_flags: 'UH',
      response_code: '503',
      destination_service: 'empty.default.svc.cluster.local',
    }),
    1,
  );
});

test('UF: connection refused → 503 UF', async () => {
  const r = await request(client.port, { path: '/uf', headers: HOST });
  assert.equal(r.status, 503);
  const f = client.stats.labeledFamily('istio_requests_total');
  assert.equal(f?.value({ response_flags: 'UF', destination_service_name: 'dead' }), 1);
});

test('URX: retries exhausted on 503 → URX on the source; the destination saw two plain 503s', async () => {
  const r = await request(client.port, { path: '/unavailable', headers: HOST });
  assert.equal(r.status, 503);
  const src = client.stats.labeledFamily('istio_requests_total');
  assert.equal(
    src?.value({ response_flags: 'URX', response_code: '503', destination_workload: 'reviews-v1' }),
    1,
  );
  await settle(
    () => (server.stats.labeledFamily('istio_requests_total')?.value({ response_code: '503' }) ?? 0) >= 2,
  );
  const dst = server.stats.labeledFamily('istio_requests_total');
  assert.equal(
    dst?.value({ response_code: '503', response_flags: '-', source_workload: 'productpage-v1' }),
    2,
  );
});

test('DC: the client goes away mid-request → response_code 0, DC', async () => {
  // A body that never completes, then the client closes: the stream is reset as DC.
  const sock = net.connect({ host: '127.0.0.1', port: client.port });
  await new Promise<void>((r) => sock.once('connect', () => r()));
  sock.write('POST /upload HTTP/1.1\r\nhost: reviews\r\ncontent-length: 100\r\n\r\npartial');
  await settle(() => client.stat('http.0.0.0.0_80.downstream_rq_active') === 1, 100_000);
  assert.equal(client.stat('http.0.0.0.0_80.downstream_rq_active'), 1, 'the stream is open');
  sock.destroy();
  const f = client.stats.labeledFamily('istio_requests_total');
  await settle(() => (f?.value({ response_flags: 'DC' }) ?? 0) > 0, 100_000);
  assert.equal(f?.value({ response_flags: 'DC', response_code: '0', request_protocol: 'http' }), 1);
});

test('gateway (disable_host_header_fallback): no cluster → destination_service unknown; Passthrough gets no metadata', async () => {
  const gw = new ProxyHarness();
  gw.stats.localNode = nodeMetadata('ingressgateway', 'istio-ingressgateway', 'unknown', 'istio-system');
  gw.addCluster(staticCluster('PassthroughCluster', [app.port]));
  await gw.listen(
    istioHttpListener(
      '0.0.0.0_8080',
      'OUTBOUND',
      {
        name: 'http.8080',
        virtual_hosts: [
          {
            name: 'ext',
            domains: ['ext.example'],
            routes: [{ match: { prefix: '/' }, route: { cluster: 'PassthroughCluster' } }],
          },
        ],
      },
      statsFilter({ disable_host_header_fallback: true }),
    ),
  );
  const nr = await request(gw.port, { path: '/', headers: { host: 'nowhere.example' } });
  assert.equal(nr.status, 404);
  const f = gw.stats.labeledFamily('istio_requests_total');
  assert.equal(f?.value({ reporter: 'source', destination_service: 'unknown', response_flags: 'NR' }), 1);
  const out = await request(gw.port, {
    path: '/x',
    headers: {
      host: 'ext.example',
      'x-envoy-peer-metadata': 'c3Bvb2Y=',
      'x-envoy-peer-metadata-id': 'spoof',
    },
  });
  assert.equal(out.status, 200);
  const seen = JSON.parse(out.body).headers as Record<string, string>;
  assert.equal(seen['x-envoy-peer-metadata'], undefined, 'nothing leaves the mesh, not even a spoofed pair');
  assert.equal(seen['x-envoy-peer-metadata-id'], undefined);
  assert.equal(f?.value({ destination_service: 'unknown', response_code: '200' }), 1, 'no fallback to Host');
  await gw.close();
});

test('inbound without an exchange from the caller: peer unknown, no metadata added to the response; the service from the inbound cluster metadata, not the Host header', async () => {
  const r = await request(server.port, { path: '/direct', headers: { host: 'localhost:9080' } });
  assert.equal(r.status, 200);
  assert.equal(r.headers['x-envoy-peer-metadata'], undefined);
  const f = server.stats.labeledFamily('istio_requests_total');
  assert.equal(
    f?.value({
      reporter: 'destination',
      source_workload: 'unknown',
      destination_workload: 'reviews-v1',
      destination_service: 'reviews.default.svc.cluster.local',
      destination_service_name: 'reviews',
      destination_service_namespace: 'default',
    }),
    1,
  );
  assert.equal(f?.value({ destination_service: 'localhost' }), 0);
});

test('gRPC: request_protocol grpc; grpc-status from trailers, and from a trailers-only local reply', async () => {
  const grpcHeaders = { 'content-type': 'application/grpc', te: 'trailers' };
  const r = await request(client.port, {
    method: 'POST',
    path: '/grpc.Reviews/Get',
    headers: { ...HOST, ...grpcHeaders },
    body: '\u0000\u0000\u0000\u0000\u0000',
  });
  assert.equal(r.status, 200);
  const f = client.stats.labeledFamily('istio_requests_total');
  await settle(() => (f?.value({ request_protocol: 'grpc' }) ?? 0) > 0);
  assert.equal(
    f?.value({
      request_protocol: 'grpc',
      response_code: '200',
      grpc_response_status: '5',
      response_flags: '-',
    }),
    1,
    JSON.stringify([...(f?.all() ?? [])].map((x) => x.values.slice(20))),
  );
  await settle(
    () => (server.stats.labeledFamily('istio_requests_total')?.value({ grpc_response_status: '5' }) ?? 0) > 0,
  );
  assert.equal(
    server.stats
      .labeledFamily('istio_requests_total')
      ?.value({ request_protocol: 'grpc', grpc_response_status: '5' }),
    1,
  );
  const nr = await request(client.port, {
    method: 'POST',
    path: '/grpc.Reviews/Get',
    headers: { host: 'nowhere.example', ...grpcHeaders },
    body: '',
  });
  assert.equal(nr.status, 200);
  assert.equal(nr.headers['grpc-status'], '12');
  assert.equal(f?.value({ request_protocol: 'grpc', grpc_response_status: '12', response_flags: 'NR' }), 1);
});

test('/stats/prometheus text of both sidecars passes the strict parser and carries the istio series', () => {
  for (const [h, reporter] of [
    [client, 'source'],
    [server, 'destination'],
  ] as const) {
    const text = prometheusText(h.stats, { clusters: h.cm.names(), listeners: [] });
    const fams = parsePrometheusText(text);
    assert.equal(fams.get('istio_requests_total')?.type, 'counter');
    assert.equal(fams.get('istio_request_duration_milliseconds')?.type, 'histogram');
    assert.ok(sampleValue(fams, 'istio_requests_total', { reporter, response_code: '200' }) >= 1);
    assert.ok(
      sampleValue(fams, 'istio_request_duration_milliseconds_bucket', { reporter, le: '+Inf' }) >= 1,
      text,
    );
    const buckets = fams
      .get('istio_request_duration_milliseconds')
      ?.samples.filter((s) => s.name.endsWith('_bucket'))
      .map((s) => s.labels.le);
    assert.deepEqual(buckets?.slice(0, 20), [
      '0.5',
      '1',
      '5',
      '10',
      '25',
      '50',
      '100',
      '250',
      '500',
      '1000',
      '2500',
      '5000',
      '10000',
      '30000',
      '60000',
      '300000',
      '600000',
      '1800000',
      '3600000',
      '+Inf',
    ]);
  }
});
