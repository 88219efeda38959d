/**
 * Istio's static Prometheus listener from the bootstrap: `--prometheus-port` (default 15090,
 * 0 = a free port, "none" = no listener), the Istio-shaped listener/cluster pair, and the real
 * thing served by the proxy's ordinary listener and cluster code: /stats/prometheus through the
 * listener reaches the admin server, other admin paths do not.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type BootstrapSources,
  PROMETHEUS_CLUSTER_NAME,
  PROMETHEUS_LISTENER_NAME,
  parseBootstrapArgs,
  prometheusStaticResources,
  resolveBootstrap,
} from '../../src/agent/bootstrap.ts';
import { AdminServer } from '../../src/proxy/admin/admin-server.ts';
import { compileListener } from '../../src/proxy/listener/listener.ts';
import { ProxyServer } from '../../src/proxy/proxy-server.ts';
import { compileCluster } from '../../src/proxy/upstream/cluster.ts';
import { assertNoOpenHandles, request } from '../proxy/support/harness.ts';
import { parsePrometheusText } from '../proxy/telemetry/prometheus-parser.ts';

function sources(argv: string[]): BootstrapSources {
  return {
    flags: parseBootstrapArgs(argv),
    env: {},
    hostname: () => 'host-1',
    interfaceAddresses: () => ['10.1.1.1'],
    readFile: (p) => {
      throw new Error(`ENOENT: ${p}`);
    },
  };
}

test('--prometheus-port: default 15090, a number, 0, none; anything else names the flag', () => {
  assert.equal(resolveBootstrap(sources([])).bootstrap?.prometheusPort, 15090);
  assert.equal(resolveBootstrap(sources(['--prometheus-port', '9102'])).bootstrap?.prometheusPort, 9102);
  const zero = resolveBootstrap(sources(['--prometheus-port', '0'])).bootstrap;
  assert.equal(zero?.prometheusPort, 0);
  assert.equal(zero?.metadata.ENVOY_PROMETHEUS_PORT, undefined, 'no port to announce');
  const none = resolveBootstrap(sources(['--prometheus-port', 'none'])).bootstrap;
  assert.equal(none?.prometheusPort, undefined);
  assert.equal(none?.metadata.ENVOY_PROMETHEUS_PORT, undefined);
  assert.equal(
    resolveBootstrap(sources(['--prometheus-port', '9102'])).bootstrap?.metadata.ENVOY_PROMETHEUS_PORT,
    9102,
  );
  const bad = resolveBootstrap(sources(['--prometheus-port', '70000']));
  assert.match(bad.errors.join('\n'), /--prometheus-port: "70000" is not a port/);
});

test('--prometheus-address: the wildcard by default, an IP, anything else names the flag', () => {
  assert.equal(resolveBootstrap(sources([])).bootstrap?.prometheusAddress, '0.0.0.0');
  assert.equal(
    resolveBootstrap(sources(['--prometheus-address', '127.0.0.12'])).bootstrap?.prometheusAddress,
    '127.0.0.12',
  );
  const bad = resolveBootstrap(sources(['--prometheus-address', 'localhost']));
  assert.match(bad.errors.join('\n'), /--prometheus-address: "localhost" is not an IP address/);
  const { listeners } = prometheusStaticResources({
    port: 15090,
    adminAddress: '127.0.0.1',
    adminPort: 15000,
    address: '127.0.0.12',
  });
  assert.deepEqual((listeners[0].address as { socket_address: unknown }).socket_address, {
    protocol: 'TCP',
    address: '127.0.0.12',
    port_value: 15090,
  });
});

test("the static resources have Istio's shape and compile with the proxy's own compile functions", () => {
  const { listeners, clusters } = prometheusStaticResources({
    port: 15090,
    adminAddress: '127.0.0.1',
    adminPort: 15000,
  });
  assert.equal(listeners.length, 1);
  assert.equal(clusters.length, 1);
  assert.equal(listeners[0].name, PROMETHEUS_LISTENER_NAME);
  assert.deepEqual(listeners[0].address, {
    socket_address: { protocol: 'TCP', address: '0.0.0.0', port_value: 15090 },
  });
  assert.equal(clusters[0].name, PROMETHEUS_CLUSTER_NAME);
  assert.equal(clusters[0].type, 'STATIC');
  const c = compileCluster(clusters[0]);
  if (!c.ok) assert.fail(JSON.stringify(c.errors));
  const proxy = new ProxyServer({
    bootstrap: { node: { id: 'n' }, discoveryAddress: '127.0.0.1:1', xdsMode: 'delta' },
    adminPort: null,
    statusPort: null,
  });
  proxy.clusterManager.addOrUpdate(c.value);
  const l = compileListener(listeners[0], { clusterManager: proxy.clusterManager, stats: proxy.stats });
  if (!l.ok) assert.fail(JSON.stringify(l.errors));
  proxy.clusterManager.destroy();
});

test('served for real: the listener routes /stats/prometheus to the admin server, and nothing else', async () => {
  const resolved = resolveBootstrap(
    sources([
      'sidecar',
      '--prometheus-port',
      '0',
      '--pod-name',
      'p-1',
      '--label',
      'app=p',
      '--discovery-address',
      '127.0.0.1:1',
    ]),
  ).bootstrap;
  assert.ok(resolved);
  // The xDS client is never started: only the admin server and the static listener run.
  const proxy = new ProxyServer({ bootstrap: resolved, adminPort: 0, statusPort: null });
  proxy.admin = new AdminServer(proxy);
  const adminPort = await proxy.admin.listen(0);
  const port = proxy.listenerManager.port(PROMETHEUS_LISTENER_NAME);
  assert.ok(port > 0, 'the Prometheus listener is bound');
  assert.notEqual(port, adminPort);
  assert.equal(proxy.stats.localNode?.NAME, 'p-1', 'the local node reached the stats store');
  const r = await request(port, { path: '/stats/prometheus' });
  assert.equal(r.status, 200);
  const fams = parsePrometheusText(r.body);
  assert.equal(fams.get('istio_requests_total')?.type, undefined, 'no istio filter compiled yet: no family');
  assert.ok(fams.size > 0);
  assert.equal((await request(port, { path: '/config_dump' })).status, 404, 'the admin API stays private');
  const dump = JSON.parse((await request(adminPort, { path: '/config_dump' })).body);
  assert.deepEqual(
    dump.configs[2].static_listeners.map((l: { listener: { name: string } }) => l.listener.name),
    [PROMETHEUS_LISTENER_NAME],
  );
  assert.deepEqual(
    dump.configs[1].static_clusters.map((c: { cluster: { name: string } }) => c.cluster.name),
    [PROMETHEUS_CLUSTER_NAME],
  );
  assert.equal((await request(port, { method: 'POST', path: '/quitquitquit' })).status, 404);
  await proxy.listenerManager.close();
  proxy.clusterManager.destroy();
  await proxy.admin.close();
  await assertNoOpenHandles();
});
