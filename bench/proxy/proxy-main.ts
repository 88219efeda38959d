/**
 * Runs mizzen-proxy's data path for benchmarks from flags (no xDS): one HTTP listener with a
 * small route table (several virtual hosts and routes, like a sidecar's outbound port) in front
 * of one static cluster, or a tcp_proxy listener. Prints the bound port.
 * Usage: node bench/proxy/proxy-main.ts --upstream PORT [--port 0] [--mode http|tcp]
 */
import { parseArgs } from 'node:util';
import { TYPE } from '../../src/proxy/config/type-names.ts';
import { compileListener, Listener } from '../../src/proxy/listener/listener.ts';
import { StatsStore } from '../../src/proxy/stats/store.ts';
import { compileCluster } from '../../src/proxy/upstream/cluster.ts';
import { ClusterManager } from '../../src/proxy/upstream/cluster-manager.ts';

const { values } = parseArgs({
  options: {
    upstream: { type: 'string' },
    port: { type: 'string', default: '0' },
    mode: { type: 'string', default: 'http' },
  },
});
const any = (type: string, f: Record<string, unknown>) => ({ '@type': `type.googleapis.com/${type}`, ...f });
const stats = new StatsStore();
const cm = new ClusterManager(stats);
const cluster = compileCluster({
  name: 'outbound|80||backend.default.svc.cluster.local',
  type: 'STATIC',
  connect_timeout: { seconds: 1 },
  load_assignment: {
    cluster_name: 'backend',
    endpoints: [
      {
        lb_endpoints: [
          {
            endpoint: {
              address: { socket_address: { address: '127.0.0.1', port_value: Number(values.upstream) } },
            },
          },
        ],
      },
    ],
  },
});
if (!cluster.ok) throw new Error(JSON.stringify(cluster.errors));
cm.addOrUpdate(cluster.value);

const vhosts = [];
for (let i = 0; i < 8; i++) {
  vhosts.push({
    name: `svc${i}.default.svc.cluster.local:80`,
    domains: [
      `svc${i}.default.svc.cluster.local`,
      `svc${i}.default.svc.cluster.local:80`,
      `svc${i}`,
      `svc${i}:80`,
    ],
    routes: [
      {
        match: { prefix: '/' },
        route: { cluster: 'outbound|80||backend.default.svc.cluster.local', timeout: { seconds: 0 } },
      },
    ],
  });
}
vhosts.push({
  name: 'bench.local:80',
  domains: ['bench.local', 'bench.local:80'],
  routes: [
    { match: { prefix: '/api/v2' }, route: { cluster: 'outbound|80||backend.default.svc.cluster.local' } },
    { match: { path: '/healthz' }, direct_response: { status: 200 } },
    {
      match: { prefix: '/' },
      route: { cluster: 'outbound|80||backend.default.svc.cluster.local', timeout: { seconds: 0 } },
    },
  ],
});
const filter =
  values.mode === 'tcp'
    ? any(TYPE.TCP_PROXY, { stat_prefix: 'tcp', cluster: 'outbound|80||backend.default.svc.cluster.local' })
    : any(TYPE.HTTP_CONNECTION_MANAGER, {
        stat_prefix: 'outbound_0.0.0.0_80',
        route_config: { name: '80', virtual_hosts: vhosts },
        http_filters: [{ name: 'envoy.filters.http.router', typed_config: any(TYPE.ROUTER, {}) }],
      });
const l = compileListener(
  {
    name: '0.0.0.0_80',
    address: { socket_address: { address: '127.0.0.1', port_value: Number(values.port) } },
    filter_chains: [{ filters: [{ name: 'f', typed_config: filter }] }],
  },
  { clusterManager: cm, stats },
);
if (!l.ok) throw new Error(JSON.stringify(l.errors));
const listener = new Listener(l.value, stats);
const port = await listener.start();
console.log(port);
process.on('SIGTERM', () => {
  void listener.close().then(() => {
    cm.destroy();
    process.exit(0);
  });
});
