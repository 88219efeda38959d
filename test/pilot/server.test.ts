/**
 * MizzenDiscoveryServer in process: a watched temp directory of YAML in, real ADS over gRPC on
 * 127.0.0.1:0 out (test ADS client). Covers the wiring the parts' own tests cannot: config
 * change -> full push, endpoint-only change -> EDS to only the proxies that can see the
 * service, a bad file rejected alone, the debounce of the one push trigger, mesh config
 * reloads, readiness and shutdown. Waits on events, never on wall-clock time.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, mock, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { MemorySource } from '../../src/config/sources/memory/memory-source.ts';
import { setLogSink } from '../../src/lib/log.ts';
import { MetricsRegistry } from '../../src/lib/metrics.ts';
import { CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL } from '../../src/lib/xds/type-urls.ts';
import {
  MizzenDiscoveryServer,
  type MizzenDiscoveryServerOptions,
  type PushInfo,
} from '../../src/pilot/server.ts';
import { FakeAdsClient, type FakeAdsStream, sidecarNode } from '../support/fake-ads-client.ts';
import { assertNoOpenHandles } from '../support/fake-mizzend.ts';

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const d = await mkdtemp(path.join(tmpdir(), 'mizzend-server-'));
  dirs.push(d);
  return d;
}

/** Writes through a rename, so the watcher never reads half a file. */
async function put(dir: string, name: string, text: string): Promise<void> {
  const tmp = path.join(dir, `.${name}.tmp`);
  await writeFile(tmp, text);
  await rename(tmp, path.join(dir, name));
}

function serviceEntry(name: string, ns: string, host: string, port: number, extra = ''): string {
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${name}, namespace: ${ns}}
spec:
  hosts: [${host}]
  ports: [{number: ${port}, name: http, protocol: HTTP}]
  resolution: STATIC
  location: MESH_INTERNAL
  workloadSelector: {labels: {app: ${name}}}
${extra}`;
}

function workloadEntry(name: string, ns: string, app: string, address: string): string {
  return `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: ${name}, namespace: ${ns}}
spec: {address: ${address}, labels: {app: ${app}}}
`;
}

async function startServer(
  files: Record<string, string>,
  options: Partial<MizzenDiscoveryServerOptions> = {},
): Promise<{ server: MizzenDiscoveryServer; dir: string; address: string }> {
  const dir = await tempDir();
  for (const [name, text] of Object.entries(files)) await writeFile(path.join(dir, name), text);
  const server = new MizzenDiscoveryServer({
    configDir: dir,
    grpcPort: 0,
    monitoringPort: 0,
    metrics: new MetricsRegistry(),
    debounceAfterMs: 10,
    debounceMaxMs: 100,
    configDebounceMs: 10,
    ...options,
  });
  const ports = await server.start();
  return { server, dir, address: `127.0.0.1:${ports.grpc}` };
}

function nextPush(
  server: MizzenDiscoveryServer,
  predicate: (p: PushInfo) => boolean = () => true,
): Promise<PushInfo> {
  return new Promise((resolve) => {
    const on = (p: PushInfo) => {
      if (!predicate(p)) return;
      server.off('push', on);
      resolve(p);
    };
    server.on('push', on);
  });
}

/** Subscribes to CDS (wildcard) and EDS for `clusters`, ACKing both. */
async function subscribe(stream: FakeAdsStream, clusters: string[]) {
  stream.request(CLUSTER_TYPE_URL);
  const cds = await stream.nextOf(CLUSTER_TYPE_URL);
  stream.ack(cds);
  stream.request(ENDPOINT_TYPE_URL, clusters);
  const eds = await stream.nextOf(ENDPOINT_TYPE_URL);
  stream.ack(eds, clusters);
  return { cds, eds };
}

function endpointAddresses(cla: Record<string, unknown>): string[] {
  const groups = (cla.endpoints ?? []) as {
    lb_endpoints?: { endpoint: { address: { socket_address: { address: string; port_value: number } } } }[];
  }[];
  return groups
    .flatMap((g) => g.lb_endpoints ?? [])
    .map(
      (e) => `${e.endpoint.address.socket_address.address}:${e.endpoint.address.socket_address.port_value}`,
    )
    .sort();
}

const REVIEWS = 'outbound|9080||reviews.example.com';
const RATINGS = 'outbound|9090||ratings.example.com';

test('serves clusters and endpoints from the config directory, and pushes a config change fully', {
  timeout: 20_000,
}, async () => {
  const { server, dir, address } = await startServer({
    'reviews.yaml': `${serviceEntry('reviews', 'default', 'reviews.example.com', 9080)}---\n${workloadEntry('reviews-1', 'default', 'reviews', '10.0.0.11')}`,
  });
  const client = new FakeAdsClient(address);
  try {
    assert.equal(server.readiness().ready, true);
    const stream = client.stream(sidecarNode('app-1', 'default'));
    const { cds, eds } = await subscribe(stream, [REVIEWS]);
    assert.ok(cds.names.includes(REVIEWS), `CDS has ${REVIEWS}: ${cds.names.join(', ')}`);
    assert.deepEqual(endpointAddresses(eds.decoded[0]), ['10.0.0.11:9080']);

    const pushed = nextPush(server);
    await put(dir, 'ratings.yaml', serviceEntry('ratings', 'default', 'ratings.example.com', 9090));
    const info = await pushed;
    assert.equal(info.full, true);
    assert.match(info.reasons, /service/);
    const next = await stream.nextOf(CLUSTER_TYPE_URL);
    assert.ok(next.names.includes(RATINGS), 'the new service reached the proxy without a reconnect');
    assert.ok(next.names.includes(REVIEWS));
    assert.notEqual(next.version_info, cds.version_info);
  } finally {
    client.close();
    await server.stop({ graceMs: 1000 });
  }
});

test('an endpoint-only change pushes EDS alone, and only to proxies that can see the service', {
  timeout: 20_000,
}, async () => {
  const shared = serviceEntry('reviews', 'default', 'reviews.example.com', 9080);
  // `private` is exported to its own namespace only: a proxy in `other` cannot see it.
  const priv = serviceEntry('private', 'team-a', 'private.example.com', 7070, '  exportTo: ["."]\n');
  const { server, dir, address } = await startServer({
    'services.yaml': `${shared}---\n${priv}---\n${workloadEntry('private-1', 'team-a', 'private', '10.0.1.1')}`,
  });
  const client = new FakeAdsClient(address);
  try {
    const PRIVATE = 'outbound|7070||private.example.com';
    const inside = client.stream(sidecarNode('a-1', 'team-a', '10.1.0.1'));
    const outside = client.stream(sidecarNode('b-1', 'other', '10.2.0.1'));
    const a = await subscribe(inside, [PRIVATE, REVIEWS]);
    assert.ok(a.cds.names.includes(PRIVATE));
    const b = await subscribe(outside, [REVIEWS]);
    assert.ok(!b.cds.names.includes(PRIVATE), 'exportTo hides the private service from namespace other');

    const pushed = nextPush(server);
    await put(dir, 'private-2.yaml', workloadEntry('private-2', 'team-a', 'private', '10.0.1.2'));
    const info = await pushed;
    assert.equal(info.full, false, 'a new endpoint of a known service is an incremental push');
    assert.equal(info.reasons, 'endpoint:1');

    // The first response after the change is EDS: CDS was not resent.
    const eds = await inside.next();
    assert.equal(eds.type_url, ENDPOINT_TYPE_URL);
    const cla = eds.decoded.find((d) => d.cluster_name === PRIVATE);
    assert.ok(cla, 'the changed cluster is in the response');
    assert.deepEqual(endpointAddresses(cla), ['10.0.1.1:7070', '10.0.1.2:7070']);
    inside.ack(eds, [PRIVATE, REVIEWS]);

    // The other proxy got nothing: after the push queue drained, its next response is the
    // answer to a fresh request (a gRPC stream keeps order, so a push would come first).
    await server.ads.pushQueueIdle();
    outside.request(CLUSTER_TYPE_URL);
    const probe = await outside.next();
    assert.equal(probe.type_url, CLUSTER_TYPE_URL);
    assert.equal(outside.received.filter((r) => r.type_url === ENDPOINT_TYPE_URL).length, 1);
  } finally {
    client.close();
    await server.stop({ graceMs: 1000 });
  }
});

test('a bad file is rejected alone: the last good config keeps serving and the status names file, line and field', {
  timeout: 20_000,
}, async () => {
  const { server, dir, address } = await startServer({
    'reviews.yaml': `${serviceEntry('reviews', 'default', 'reviews.example.com', 9080)}---\n${workloadEntry('reviews-1', 'default', 'reviews', '10.0.0.11')}`,
  });
  const client = new FakeAdsClient(address);
  try {
    const stream = client.stream();
    await subscribe(stream, [REVIEWS]);
    // Break the ServiceEntry (port out of range) and add a good sibling file in the same scan.
    const broken = serviceEntry('reviews', 'default', 'reviews.example.com', 9080).replace(
      'number: 9080',
      'number: 99999',
    );
    const pushed = nextPush(server);
    await put(
      dir,
      'reviews.yaml',
      `${broken}---\n${workloadEntry('reviews-1', 'default', 'reviews', '10.0.0.11')}`,
    );
    await put(dir, 'ratings.yaml', serviceEntry('ratings', 'default', 'ratings.example.com', 9090));
    await pushed;
    const cds = await stream.nextOf(CLUSTER_TYPE_URL);
    assert.ok(cds.names.includes(RATINGS), 'the good file was applied');
    assert.ok(cds.names.includes(REVIEWS), 'the broken object keeps its last good version');
    const rejected = server.store.statuses().find((s) => s.level === 'error');
    assert.ok(rejected, 'the rejection is a status');
    assert.equal(path.basename(rejected.file ?? ''), 'reviews.yaml');
    assert.match(rejected.messages.join('\n'), /reviews\.yaml:\d+:\d+ spec\.ports\[0\]\.number/);
    assert.deepEqual(
      rejected.lastGood?.map((k) => `${k.kind}/${k.namespace}/${k.name}`),
      ['ServiceEntry/default/reviews'],
    );
  } finally {
    client.close();
    await server.stop({ graceMs: 1000 });
  }
});

test('config events are debounced into one push (PILOT_DEBOUNCE_AFTER), and a steady stream is cut at PILOT_DEBOUNCE_MAX', {
  timeout: 20_000,
}, async () => {
  const memory = new MemorySource();
  const server = new MizzenDiscoveryServer({
    configSources: [memory],
    grpcPort: 0,
    monitoringPort: 0,
    metrics: new MetricsRegistry(),
    debounceAfterMs: 100,
    debounceMaxMs: 1000,
  });
  await server.start();
  const pushes: PushInfo[] = [];
  server.on('push', (p) => pushes.push(p));
  const rule = (i: number) =>
    `apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: dr-${i}, namespace: default}\nspec: {host: svc-${i}.example.com}\n`;
  mock.timers.enable({ apis: ['setTimeout'] });
  try {
    for (let i = 0; i < 3; i++) memory.apply(rule(i));
    await server.store.idle();
    assert.equal(server.pendingPushEvents, 3);
    mock.timers.tick(99);
    assert.equal(pushes.length, 0, 'still inside the quiet period');
    mock.timers.tick(1);
    assert.equal(pushes.length, 1);
    assert.equal(pushes[0].events, 3);
    assert.equal(pushes[0].full, true);
    assert.deepEqual(
      pushes[0].configs.map((k) => k.name),
      ['dr-0', 'dr-1', 'dr-2'],
    );

    // A change every 90 ms never leaves a 100 ms quiet period: the 1 s ceiling pushes.
    let sent = 0;
    while (pushes.length === 1) {
      memory.apply(rule(10 + sent++));
      await server.store.idle();
      mock.timers.tick(90);
    }
    assert.equal(pushes.length, 2);
    assert.equal(pushes[1].events, 12, 'changes at 0, 90, ... 990 ms merged; the ceiling fired at 1000 ms');
  } finally {
    mock.timers.reset();
    await server.stop({ graceMs: 1000 });
  }
});

test('with PILOT_ENABLE_EDS_DEBOUNCE off, endpoint changes push at once while config changes wait', {
  timeout: 20_000,
}, async () => {
  const memory = new MemorySource();
  memory.create(serviceEntry('reviews', 'default', 'reviews.example.com', 9080));
  memory.create(workloadEntry('reviews-1', 'default', 'reviews', '10.0.0.11'));
  const server = new MizzenDiscoveryServer({
    configSources: [memory],
    grpcPort: 0,
    monitoringPort: 0,
    metrics: new MetricsRegistry(),
    debounceAfterMs: 100,
    debounceMaxMs: 1000,
    enableEdsDebounce: false,
  });
  await server.start();
  const pushes: PushInfo[] = [];
  server.on('push', (p) => pushes.push(p));
  mock.timers.enable({ apis: ['setTimeout'] });
  try {
    memory.apply(workloadEntry('reviews-2', 'default', 'reviews', '10.0.0.12'));
    await server.store.idle();
    assert.equal(pushes.length, 1, 'no timer was needed');
    assert.equal(pushes[0].full, false);
    memory.apply(
      'apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: reviews}\nspec: {host: reviews.example.com}\n',
    );
    await server.store.idle();
    assert.equal(pushes.length, 1);
    mock.timers.tick(100);
    assert.equal(pushes.length, 2);
    assert.equal(pushes[1].full, true);
  } finally {
    mock.timers.reset();
    await server.stop({ graceMs: 1000 });
  }
});

test('a mesh config edit is a full push; an invalid edit keeps the last good mesh config', {
  timeout: 20_000,
}, async () => {
  const meshDir = await tempDir();
  const meshFile = path.join(meshDir, 'mesh.yaml');
  await writeFile(meshFile, 'outboundTrafficPolicy: {mode: ALLOW_ANY}\n');
  const { server } = await startServer(
    { 'reviews.yaml': serviceEntry('reviews', 'default', 'reviews.example.com', 9080) },
    { meshConfigFile: meshFile },
  );
  try {
    assert.equal(server.mesh.outboundTrafficPolicy?.mode, 'ALLOW_ANY');
    const pushed = nextPush(server);
    await put(meshDir, 'mesh.yaml', 'outboundTrafficPolicy: {mode: REGISTRY_ONLY}\n');
    const info = await pushed;
    assert.equal(info.reasons, 'global:1');
    assert.equal(info.configs.length, 0, 'a mesh change may affect everything');
    assert.equal(server.mesh.outboundTrafficPolicy?.mode, 'REGISTRY_ONLY');
    assert.equal(server.pushContext.mesh, server.mesh, 'the push context was rebuilt with it');

    // An invalid edit is logged with its location and changes nothing; a valid one pushes again.
    const rejected = new Promise<string>((resolve) => {
      const previous = setLogSink((line) => {
        if (!line.includes('mesh config rejected')) return;
        setLogSink(previous);
        resolve(line);
      });
    });
    await put(meshDir, 'mesh.yaml', 'outboundTrafficPolicy: {mode: SOMETIMES}\n');
    assert.match(await rejected, /mesh\.yaml:1:\d+ outboundTrafficPolicy\.mode/);
    assert.equal(server.mesh.outboundTrafficPolicy?.mode, 'REGISTRY_ONLY');
    const again = nextPush(server);
    await put(meshDir, 'mesh.yaml', 'outboundTrafficPolicy: {mode: ALLOW_ANY}\n');
    await again;
    assert.equal(server.mesh.outboundTrafficPolicy?.mode, 'ALLOW_ANY');
  } finally {
    await server.stop({ graceMs: 1000 });
  }
});

test('start() fails clearly on a missing config directory and an invalid mesh config, releasing everything', async () => {
  const missing = new MizzenDiscoveryServer({
    configDir: '/nonexistent/mizzen-config',
    grpcPort: 0,
    monitoringPort: 0,
    metrics: new MetricsRegistry(),
  });
  await assert.rejects(missing.start(), {
    code: 'MZ_ERR_CONFIG_UNREADABLE',
    message: 'config directory /nonexistent/mizzen-config does not exist',
  });
  await assert.rejects(missing.ready);

  const dir = await tempDir();
  const meshFile = path.join(dir, 'mesh.yaml');
  await writeFile(meshFile, 'outboundTrafficPolicy: {mode: SOMETIMES}\n');
  const badMesh = new MizzenDiscoveryServer({
    configDir: dir,
    meshConfigFile: meshFile,
    grpcPort: 0,
    monitoringPort: 0,
    metrics: new MetricsRegistry(),
  });
  await assert.rejects(badMesh.start(), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'MZ_ERR_CONFIG_INVALID');
    assert.match(err.message, /mesh\.yaml:1:\d+ outboundTrafficPolicy\.mode/);
    return true;
  });
  assert.throws(
    () => new MizzenDiscoveryServer({ configDir: dir, debounceAfterMs: 500, debounceMaxMs: 100 }),
    /PILOT_DEBOUNCE_MAX \(100ms\) must be at least PILOT_DEBOUNCE_AFTER \(500ms\)/,
  );
});

test('stop() ends ADS streams with UNAVAILABLE, turns /ready off and is idempotent', {
  timeout: 20_000,
}, async () => {
  const { server, address } = await startServer({
    'reviews.yaml': serviceEntry('reviews', 'default', 'reviews.example.com', 9080),
  });
  const client = new FakeAdsClient(address);
  try {
    const stream = client.stream();
    stream.request(CLUSTER_TYPE_URL);
    await stream.nextOf(CLUSTER_TYPE_URL);
    const stopping = server.stop({ graceMs: 1000 });
    assert.equal(server.readiness().ready, false);
    assert.deepEqual(server.readiness().reasons, ['shutting down']);
    const status = await stream.status;
    assert.equal(status.code, grpc.status.UNAVAILABLE);
    await stopping;
    assert.equal(server.stop(), stopping, 'a second stop() returns the same promise');
  } finally {
    client.close();
  }
});

test('no open handles', async () => {
  await assertNoOpenHandles();
});
