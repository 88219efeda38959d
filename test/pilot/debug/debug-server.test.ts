/**
 * The monitoring port of an in-process mizzend: /ready (503 while config syncs, 200 after),
 * Prometheus /metrics, and the JSON debug views, read with plain HTTP while a test ADS client
 * plays a proxy (ACKs, then a NACK).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import type { ConfigSink, ConfigSource } from '../../../src/config/source.ts';
import { MetricsRegistry } from '../../../src/lib/metrics.ts';
import { CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL, LISTENER_TYPE_URL } from '../../../src/lib/xds/type-urls.ts';
import { MizzenDiscoveryServer } from '../../../src/pilot/server.ts';
import { FakeAdsClient, sidecarNode } from '../../support/fake-ads-client.ts';
import { assertNoOpenHandles } from '../../support/fake-mizzend.ts';

interface Reply {
  status: number;
  type: string;
  body: string;
}

/** GET without keep-alive, so no socket outlives the request. */
function get(port: number, pathname: string, method = 'GET'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: pathname, method, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => {
        body += c;
      });
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

async function getJson<T = unknown>(port: number, pathname: string): Promise<T> {
  const r = await get(port, pathname);
  assert.equal(r.status, 200, `${pathname}: ${r.body}`);
  assert.equal(r.type, 'application/json');
  return JSON.parse(r.body) as T;
}

/** A config source that holds back its initial sync until told. */
class GatedSource implements ConfigSource {
  readonly name = 'gated';
  readonly running: Promise<void>;
  #release!: () => void;
  #started!: () => void;
  constructor() {
    this.running = new Promise((resolve) => {
      this.#started = resolve;
    });
  }
  async run(sink: ConfigSink, signal: AbortSignal): Promise<void> {
    this.#started();
    await new Promise<void>((resolve) => {
      this.#release = resolve;
      signal.addEventListener('abort', () => resolve(), { once: true });
    });
    sink.synced();
    await new Promise<void>((resolve) => {
      if (signal.aborted) resolve();
      signal.addEventListener('abort', () => resolve(), { once: true });
    });
  }
  release(): void {
    this.#release();
  }
  statuses() {
    return [];
  }
}

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const CONFIG = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews.example.com]
  ports: [{number: 9080, name: http, protocol: HTTP}]
  resolution: STATIC
  workloadSelector: {labels: {app: reviews}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: reviews-1, namespace: default}
spec: {address: 10.0.0.11, labels: {app: reviews}, locality: us-east/zone-a}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: default}
spec:
  host: reviews.example.com
  trafficPolicy: {loadBalancer: {simple: LEAST_REQUEST}}
`;
const BAD = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: broken, namespace: default}
spec:
  hosts: [reviews.example.com]
  http:
  - route:
    - destination: {host: reviews.example.com}
      weight: -5
`;
const REVIEWS = 'outbound|9080||reviews.example.com';

test('/ready is 503 with the reason while config syncs, 200 once synced and ADS listens', {
  timeout: 20_000,
}, async () => {
  const gated = new GatedSource();
  const server = new MizzenDiscoveryServer({
    configSources: [gated],
    grpcPort: 0,
    monitoringPort: 0,
    metrics: new MetricsRegistry(),
  });
  const started = server.start();
  try {
    await gated.running;
    const port = server.debug.port as number;
    const before = await get(port, '/ready');
    assert.equal(before.status, 503);
    assert.match(before.body, /config not synced/);
    assert.match(before.body, /ADS server not listening/);
    gated.release();
    await started;
    const afterSync = await get(port, '/ready');
    assert.equal(afterSync.status, 200);
  } finally {
    await server.stop({ graceMs: 1000 });
  }
});

test('metrics and debug views while a proxy ACKs and then NACKs', { timeout: 30_000 }, async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'mizzend-debug-'));
  dirs.push(dir);
  await writeFile(path.join(dir, 'reviews.yaml'), CONFIG);
  await writeFile(path.join(dir, 'broken.yaml'), BAD);
  const server = new MizzenDiscoveryServer({
    configDir: dir,
    grpcPort: 0,
    monitoringPort: 0,
    metrics: new MetricsRegistry(),
  });
  const ports = await server.start();
  const port = ports.monitoring;
  const client = new FakeAdsClient(`127.0.0.1:${ports.grpc}`);
  try {
    const stream = client.stream(sidecarNode('app-1', 'default', '10.0.0.1', { CLUSTER_ID: 'east' }));
    stream.request(CLUSTER_TYPE_URL);
    const cds = await stream.nextOf(CLUSTER_TYPE_URL);
    stream.ack(cds);
    stream.request(ENDPOINT_TYPE_URL, [REVIEWS]);
    const eds = await stream.nextOf(ENDPOINT_TYPE_URL);
    const acked = new Promise<void>((resolve) => server.ads.once('ack', () => resolve()));
    stream.ack(eds, [REVIEWS]);
    await acked;

    // ---- syncz: Istio's fields, per type state ----
    type Syncz = Record<string, unknown> & { types: Record<string, unknown>[] };
    let syncz = await getJson<Syncz[]>(port, '/debug/syncz');
    assert.equal(syncz.length, 1);
    const entry = syncz[0];
    assert.equal(entry.proxy, 'app-1.default');
    assert.equal(entry.cluster_id, 'east');
    assert.equal(entry.proxy_type, 'sidecar');
    assert.equal(entry.istio_version, '1.24.0');
    assert.equal(entry.cluster_sent, cds.nonce);
    assert.equal(entry.cluster_acked, cds.nonce);
    assert.equal(entry.endpoint_sent, eds.nonce);
    assert.equal(entry.endpoint_acked, eds.nonce);
    const edsType = entry.types.find((t) => t.type_url === ENDPOINT_TYPE_URL);
    assert.equal(edsType?.state, 'SYNCED');
    assert.equal(edsType?.sent_version, eds.version_info);
    assert.deepEqual(edsType?.resource_names, [REVIEWS]);

    // ---- config_dump: Envoy's admin shape for this proxy ----
    const dump = await getJson<{ configs: Record<string, unknown>[] }>(
      port,
      '/debug/config_dump?proxyID=app-1.default',
    );
    const types = dump.configs.map((c) => c['@type']);
    // Listeners are dumped whenever an LDS generator is registered (wildcard type); routes
    // only for names the proxy watches, and it watches none.
    const expected = ['Clusters', 'Endpoints'];
    if (server.generators.get(LISTENER_TYPE_URL)) expected.push('Listeners');
    assert.deepEqual(
      types,
      expected.map((t) => `type.googleapis.com/envoy.admin.v3.${t}ConfigDump`),
    );
    const clusters = dump.configs[0].dynamic_active_clusters as { cluster: Record<string, unknown> }[];
    const reviews = clusters.find((c) => c.cluster.name === REVIEWS);
    assert.ok(reviews, 'the dump has the outbound cluster');
    assert.equal(reviews.cluster['@type'], CLUSTER_TYPE_URL);
    assert.equal(reviews.cluster.lb_policy, 'LEAST_REQUEST', 'the DestinationRule is applied');
    const cla = (
      dump.configs[1].dynamic_endpoint_configs as { endpoint_config: Record<string, unknown> }[]
    )[0].endpoint_config;
    assert.equal(cla.cluster_name, REVIEWS);
    assert.match(JSON.stringify(cla), /"address":"10\.0\.0\.11"/);
    assert.equal((await get(port, '/debug/config_dump')).status, 400);
    const unknown = await get(port, '/debug/config_dump?proxyID=nobody.default');
    assert.equal(unknown.status, 404);
    assert.match(unknown.body, /nobody\.default is not connected/);

    // ---- registryz: services with their endpoints ----
    const registry = await getJson<{ services: Record<string, unknown>[] }>(port, '/debug/registryz');
    assert.equal(registry.services.length, 1);
    const svc = registry.services[0];
    assert.equal(svc.hostname, 'reviews.example.com');
    assert.deepEqual(
      (svc.endpoints as Record<string, unknown>[]).map((e) => [e.address, e.port, e.locality]),
      [['10.0.0.11', 9080, 'us-east/zone-a']],
    );

    // ---- configz: objects and the rejected document ----
    const configz = await getJson<{
      resources: Record<string, unknown>[];
      statuses: Record<string, unknown>[];
    }>(port, '/debug/configz');
    assert.deepEqual(
      configz.resources.map((r) => `${r.kind}/${(r.metadata as { name: string }).name}`),
      ['DestinationRule/reviews', 'ServiceEntry/reviews', 'WorkloadEntry/reviews-1'],
    );
    assert.equal(configz.resources[0].apiVersion, 'networking.istio.io/v1');
    const rejected = configz.statuses.find((s) => s.level === 'error');
    assert.ok(rejected, 'the broken VirtualService is listed');
    assert.equal(path.basename(String(rejected.file)), 'broken.yaml');
    assert.equal(rejected.key, 'VirtualService/default/broken');
    assert.match(
      String((rejected.messages as string[])[0]),
      /broken\.yaml:9:\d+ spec\.http\[0\]\.route\[0\]\.weight/,
    );

    // ---- a NACK shows up in syncz and in the rejects metric ----
    const nacked = new Promise<void>((resolve) => server.ads.once('nack', () => resolve()));
    server.pushNow({ full: true });
    const pushed = await stream.nextOf(CLUSTER_TYPE_URL);
    stream.nack(pushed, 'cluster outbound|9080||reviews.example.com: unsupported field', cds.version_info);
    await nacked;
    syncz = await getJson<Syncz[]>(port, '/debug/syncz');
    const cdsType = syncz[0].types.find((t) => t.type_url === CLUSTER_TYPE_URL) as Record<string, unknown>;
    assert.equal(cdsType.state, 'ERROR');
    assert.equal(cdsType.nack_count, 1);
    const lastNack = cdsType.last_nack as Record<string, unknown>;
    assert.equal(lastNack.message, 'cluster outbound|9080||reviews.example.com: unsupported field');
    assert.equal(lastNack.nonce, pushed.nonce);
    assert.equal(lastNack.version_info, cds.version_info, 'the proxy still runs the last good version');

    // ---- /metrics: Istio's names, Prometheus text ----
    const metrics = await get(port, '/metrics');
    assert.equal(metrics.status, 200);
    assert.match(metrics.type, /^text\/plain; version=0\.0\.4/);
    for (const name of [
      'pilot_xds{version="1.24.0"} 1',
      'pilot_xds_pushes{type="cds"}',
      'pilot_xds_push_time_bucket{type="cds",le=',
      'pilot_proxy_convergence_time_count',
      'pilot_total_xds_rejects{type="cds"} 1',
      'pilot_push_triggers{type="debug"} 1',
      'pilot_k8s_cfg_events{type="ServiceEntry",event="add"} 1',
      'pilot_services 1',
      'pilot_virt_services 0',
      'pilot_destrules 1',
      'process_resident_memory_bytes ',
      'process_cpu_seconds_total ',
      'process_start_time_seconds ',
    ]) {
      assert.ok(metrics.body.includes(name), `/metrics has ${name}`);
    }
    assert.match(metrics.body, /# TYPE pilot_xds_pushes counter/);

    // ---- the rest of the surface ----
    assert.equal((await get(port, '/debug/nothing')).status, 404);
    assert.equal((await get(port, '/metrics', 'POST')).status, 405);
    const head = await get(port, '/ready', 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
  } finally {
    client.close();
    await server.stop({ graceMs: 1000 });
  }
});

test('no open handles', async () => {
  await assertNoOpenHandles();
});
