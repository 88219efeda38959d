/**
 * mizzen-proxy assembled in-process against a real AdsServer with the real generators: Istio
 * YAML in (ServiceEntry + WorkloadEntries + VirtualService + a Sidecar with captureMode NONE
 * egress listeners on 127.0.0.1), real HTTP/1.1 and TCP traffic through the proxy out.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, test } from 'node:test';
import { LISTENER_TYPE_URL, ROUTE_TYPE_URL } from '../../../src/lib/xds/type-urls.ts';
import type { ProxyServer } from '../../../src/proxy/proxy-server.ts';
import { type FakeUpstream, startUpstream, TcpEchoServer } from '../../support/fake-upstreams.ts';
import { clientSidecar, SHOP, shopServiceEntry } from '../../support/mesh-yaml.ts';
import { assertNoOpenHandles } from '../support/harness.ts';
import {
  type ControlPlane,
  freePort,
  request,
  sidecar,
  startControlPlane,
  tcpExchange,
  waitFor,
} from './harness.ts';

let v1: FakeUpstream;
let v2: FakeUpstream;
let canary: FakeUpstream;
let echo: TcpEchoServer;
let httpPort: number;
let tcpPort: number;
let cp: ControlPlane;
let proxy: ProxyServer;

function config(routes: string): string {
  return `
${shopServiceEntry(httpPort)}---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: shop-v1, namespace: default}
spec: {address: 127.0.0.1, ports: {http: ${v1.port}}, labels: {app: shop, version: v1}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: shop-v2, namespace: default}
spec: {address: 127.0.0.1, ports: {http: ${v2.port}}, labels: {app: shop, version: v2}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: shop-canary, namespace: default}
spec: {address: 127.0.0.1, ports: {http: ${canary.port}}, labels: {app: shop, version: canary}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: shop, namespace: default}
spec:
  host: shop.example.internal
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
  - {name: canary, labels: {version: canary}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: shop, namespace: default}
spec:
  hosts: [shop.example.internal]
  http:
${routes}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: db, namespace: default}
spec:
  hosts: [db.example.internal]
  addresses: [240.0.0.10]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 5432, name: tcp, protocol: TCP}]
  endpoints: [{address: 127.0.0.1, ports: {tcp: ${echo.port}}}]
---
${clientSidecar([
  { port: httpPort, protocol: 'HTTP', name: 'http-shop', host: SHOP },
  { port: tcpPort, protocol: 'TCP', name: 'tcp-db', host: 'db.example.internal' },
])}`;
}

const SPLIT_ROUTES = `
  - match: [{headers: {x-canary: {exact: "yes"}}}]
    route: [{destination: {host: shop.example.internal, subset: canary}}]
  - route:
    - {destination: {host: shop.example.internal, subset: v1}, weight: 75}
    - {destination: {host: shop.example.internal, subset: v2}, weight: 25}`;

const V2_ONLY = `
  - route: [{destination: {host: shop.example.internal, subset: v2}}]`;

before(async () => {
  v1 = await startUpstream('v1');
  v2 = await startUpstream('v2');
  canary = await startUpstream('canary');
  echo = await new TcpEchoServer().start();
  httpPort = await freePort();
  tcpPort = await freePort();
  cp = await startControlPlane(config(SPLIT_ROUTES));
  proxy = sidecar(cp.port);
  await proxy.start();
  await proxy.ready();
});

after(async () => {
  await proxy.close();
  await cp.close();
  await Promise.all([v1.close(), v2.close(), canary.close(), echo.close()]);
});

test('the egress listeners from the Sidecar are bound on 127.0.0.1 and the proxy reports ready', async () => {
  const bound = proxy.listenerManager.listeners().map((l) => `${l.address}:${l.port}`);
  assert.ok(bound.includes(`127.0.0.1:${httpPort}`), `bound: ${bound.join(', ')}`);
  assert.ok(bound.includes(`127.0.0.1:${tcpPort}`), `bound: ${bound.join(', ')}`);
  const ready = await request(proxy.admin!.port, '/ready');
  assert.equal(ready.status, 200);
  assert.equal(ready.body.trim(), 'LIVE');
  const health = await request(proxy.status!.port, '/healthz/ready');
  assert.equal(health.status, 200);
});

test('a header match sends x-canary requests to the canary subset', async () => {
  const before = canary.count;
  for (let i = 0; i < 5; i++) {
    const r = await request(httpPort, '/item', {
      host: 'shop.example.internal',
      headers: { 'x-canary': 'yes' },
    });
    assert.equal(r.status, 200, r.body);
    assert.equal(JSON.parse(r.body).upstream, 'canary');
  }
  assert.equal(canary.count - before, 5);
});

test('the 75/25 weighted split reaches both subsets, v1 more often', async () => {
  const seen = { v1: 0, v2: 0 } as Record<string, number>;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  for (let i = 0; i < 200; i++) {
    const r = await request(httpPort, `/n/${i}`, { host: `shop.example.internal:${httpPort}`, agent });
    assert.equal(r.status, 200, r.body);
    seen[JSON.parse(r.body).upstream]++;
  }
  agent.destroy();
  assert.equal(seen.v1 + seen.v2, 200);
  // Binomial(200, 0.25): v2 outside [20, 80] has probability below 1e-6.
  assert.ok(seen.v2 >= 20 && seen.v2 <= 80, `v1=${seen.v1} v2=${seen.v2}`);
  assert.ok(seen.v1 > seen.v2);
});

test('a pushed route change applies without dropping an established keep-alive connection', async () => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const first = await request(httpPort, '/before', {
    host: 'shop.example.internal',
    agent,
    headers: { 'x-canary': 'yes' },
  });
  assert.equal(JSON.parse(first.body).upstream, 'canary');
  const routesApplied = new Promise<void>((resolve) => {
    const onUpdate = (u: { typeUrl: string }) => {
      if (u.typeUrl === ROUTE_TYPE_URL) {
        proxy.xds.off('update', onUpdate);
        resolve();
      }
    };
    proxy.xds.on('update', onUpdate);
  });
  let listenerChanged = false;
  const onListener = (u: { typeUrl: string }) => {
    if (u.typeUrl === LISTENER_TYPE_URL) listenerChanged = true;
  };
  proxy.xds.on('update', onListener);
  await cp.apply(config(V2_ONLY));
  await routesApplied;
  for (let i = 0; i < 5; i++) {
    const r = await request(httpPort, `/after/${i}`, {
      host: 'shop.example.internal',
      agent,
      headers: { 'x-canary': 'yes' },
    });
    assert.equal(r.status, 200, r.body);
    assert.equal(JSON.parse(r.body).upstream, 'v2');
    assert.equal(r.localPort, first.localPort, 'the keep-alive connection was kept');
  }
  proxy.xds.off('update', onListener);
  agent.destroy();
  // The route change travels over RDS only; the listener itself did not change.
  assert.equal(listenerChanged, false);
});

test('a TCP service is carried by tcp_proxy through its egress listener', async () => {
  const got = await tcpExchange(tcpPort, 'hello db');
  assert.equal(got, 'HELLO DB<bye>');
  assert.ok(echo.received.includes('hello db'));
});

test('admin: /config_dump, /stats/prometheus, /clusters and /listeners show the running config', async () => {
  const admin = proxy.admin!.port;
  const dump = JSON.parse((await request(admin, '/config_dump')).body);
  const types = dump.configs.map((c: { '@type': string }) => c['@type'].split('.').pop());
  assert.deepEqual(types, [
    'BootstrapConfigDump',
    'ClustersConfigDump',
    'ListenersConfigDump',
    'RoutesConfigDump',
    'EndpointsConfigDump',
    'SecretsConfigDump',
  ]);
  const clusters = dump.configs[1].dynamic_active_clusters.map(
    (c: { cluster: { name: string } }) => c.cluster.name,
  );
  assert.ok(clusters.includes(`outbound|${httpPort}|v2|shop.example.internal`), clusters.join(' '));
  const listeners = dump.configs[2].dynamic_listeners.map((l: { name: string }) => l.name);
  assert.ok(listeners.includes(`127.0.0.1_${httpPort}`), listeners.join(' '));
  const routes = dump.configs[3].dynamic_route_configs.map(
    (r: { route_config: { name: string } }) => r.route_config.name,
  );
  assert.ok(routes.includes(String(httpPort)), routes.join(' '));

  const prom = (await request(admin, '/stats/prometheus')).body;
  assert.match(
    prom,
    new RegExp(
      `envoy_cluster_upstream_rq_total\\{envoy_cluster_name="outbound\\|${httpPort}\\|v2\\|shop\\.example\\.internal"\\} [1-9]`,
    ),
  );
  assert.match(
    prom,
    new RegExp(
      `envoy_listener_downstream_cx_total\\{envoy_listener_address="127\\.0\\.0\\.1_${httpPort}"\\} [1-9]`,
    ),
  );

  assert.match(
    prom,
    new RegExp(
      `^envoy_http_downstream_rq_total\\{envoy_http_conn_manager_prefix="outbound_127\\.0\\.0\\.1_${httpPort}"\\} [1-9]`,
      'm',
    ),
    prom
      .split('\n')
      .filter((l) => l.includes('envoy_http_'))
      .join('\n'),
  );
  const stats = (await request(admin, '/stats')).body;
  assert.match(
    stats,
    new RegExp(
      `^cluster\\.outbound\\|${httpPort}\\|v2\\|shop\\.example\\.internal\\.upstream_rq_total: [1-9]`,
      'm',
    ),
  );

  const cl = (await request(admin, '/clusters')).body;
  assert.match(
    cl,
    new RegExp(
      `^outbound\\|${httpPort}\\|v2\\|shop\\.example\\.internal::127\\.0\\.0\\.1:${v2.port}::rq_total::[1-9]`,
      'm',
    ),
  );
  const ls = (await request(admin, '/listeners')).body;
  assert.match(ls, new RegExp(`^127\\.0\\.0\\.1_${tcpPort}::127\\.0\\.0\\.1:${tcpPort}$`, 'm'));

  const info = JSON.parse((await request(admin, '/server_info')).body);
  assert.equal(info.state, 'LIVE');
  assert.equal(info.node.id, 'sidecar~127.0.0.9~client-1.default~default.svc.cluster.local');

  assert.equal((await request(admin, '/quitquitquit')).status, 405, 'GET must not stop the proxy');
  assert.equal((await request(admin, '/logging?level=loud', { method: 'POST' })).status, 400);
  assert.equal((await request(admin, '/nope')).status, 404);
});

const MIRROR_ROUTES = `
  - route: [{destination: {host: shop.example.internal, subset: v1}}]
    mirror: {host: shop.example.internal, subset: canary}`;

test('a mirror route is NACKed naming request_mirror_policies; the last good routes and other resources keep serving', async () => {
  const nacked = new Promise<readonly string[]>((resolve) => {
    const onNack = (n: { typeUrl: string; errors: readonly string[] }) => {
      if (n.typeUrl === ROUTE_TYPE_URL) {
        proxy.xds.off('nack', onNack);
        resolve(n.errors);
      }
    };
    proxy.xds.on('nack', onNack);
  });
  await cp.apply(config(MIRROR_ROUTES));
  const errors = await nacked;
  assert.ok(
    errors.some(
      (e) => e.includes(`RouteConfiguration "${httpPort}"`) && e.includes('request_mirror_policies'),
    ),
    errors.join('\n'),
  );
  // The proxy's own status names the field.
  const rds = proxy.xds.status().types.find((t) => t.typeUrl === ROUTE_TYPE_URL)!;
  assert.match(rds.lastNack?.message ?? '', /request_mirror_policies/);
  const res = rds.resources.find((r) => r.name === String(httpPort))!;
  assert.match(res.error?.message ?? '', /request_mirror_policies/);
  // /config_dump shows the rejection as the route's error state.
  const dump = JSON.parse((await request(proxy.admin!.port, '/config_dump')).body);
  const failed = dump.configs[3].dynamic_route_configs.find(
    (r: { error_state?: { details: string } }) => r.error_state !== undefined,
  );
  assert.match(failed.error_state.details, /request_mirror_policies/);
  // The control plane's syncz view has the NACK with the field.
  await waitFor('the NACK to reach the control plane', () =>
    cp.ads.syncStatus().some((p) => p.types.some((t) => t.typeUrl === ROUTE_TYPE_URL && t.state === 'ERROR')),
  );
  const syncz = cp.ads.syncStatus()[0].types.find((t) => t.typeUrl === ROUTE_TYPE_URL)!;
  assert.match(syncz.lastNack?.message ?? '', /request_mirror_policies/);
  // The previous route table (all to v2) keeps serving; TCP is untouched.
  const r = await request(httpPort, '/still', { host: 'shop.example.internal' });
  assert.equal(JSON.parse(r.body).upstream, 'v2');
  assert.equal(await tcpExchange(tcpPort, 'ping'), 'PING<bye>');
});

test('/drain_listeners stops accepting new connections and the proxy reports not ready', async () => {
  assert.equal((await request(proxy.admin!.port, '/drain_listeners', { method: 'POST' })).status, 200);
  const health = await request(proxy.status!.port, '/healthz/ready');
  assert.equal(health.status, 503);
  assert.equal((await request(proxy.admin!.port, '/ready')).body.trim(), 'DRAINING');
  await assert.rejects(request(httpPort, '/y', { host: 'shop.example.internal' }), /ECONNREFUSED/);
});

test('no open handles', async () => {
  await proxy.close();
  await cp.close();
  await Promise.all([v1.close(), v2.close(), canary.close(), echo.close()]);
  await assertNoOpenHandles();
});
