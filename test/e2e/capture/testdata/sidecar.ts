/**
 * A stand-in sidecar for the capture e2e test: the real ListenerManager with Istio-shaped
 * capture listeners (virtualOutbound 15001 with use_original_dst and a passthrough chain,
 * `bind_to_port: false` per-port outbound listeners, virtualInbound 15006 with original_dst),
 * reading original destinations with the native addon. Prints `ready` once bound.
 * Usage: node sidecar.ts <vip>
 */
import { compileListener } from '../../../../src/proxy/listener/listener.ts';
import { ListenerManager } from '../../../../src/proxy/listener/listener-manager.ts';
import { StatsStore } from '../../../../src/proxy/stats/store.ts';
import { compileCluster } from '../../../../src/proxy/upstream/cluster.ts';
import { ClusterManager } from '../../../../src/proxy/upstream/cluster-manager.ts';

const vip = process.argv[2];
const any = (type: string, fields: Record<string, unknown>) => ({ '@type': `type.googleapis.com/${type}`, ...fields });
const addr = (address: string, port: number) => ({ socket_address: { address, port_value: port } });
const text = (body: string) =>
  any('envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager', {
    stat_prefix: body,
    route_config: {
      name: body,
      virtual_hosts: [
        {
          name: 'all',
          domains: ['*'],
          routes: [{ match: { prefix: '/' }, direct_response: { status: 200, body: { inline_string: body } } }],
        },
      ],
    },
    http_filters: [{ name: 'envoy.filters.http.router', typed_config: any('envoy.extensions.filters.http.router.v3.Router', {}) }],
  });
const tcp = (cluster: string) =>
  any('envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy', { stat_prefix: cluster, cluster });

const stats = new StatsStore();
const cm = new ClusterManager(stats);
for (const c of [
  { name: 'PassthroughCluster', type: 'ORIGINAL_DST', lb_policy: 'CLUSTER_PROVIDED', connect_timeout: { seconds: 2 } },
  { name: 'BlackHoleCluster', type: 'STATIC', connect_timeout: { seconds: 2 } },
]) {
  const r = compileCluster(c);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  cm.addOrUpdate(r.value);
}
const manager = new ListenerManager(stats, { drainTimeMs: 1000 });
const listeners: Record<string, unknown>[] = [
  {
    name: 'virtualOutbound',
    address: addr('0.0.0.0', 15001),
    use_original_dst: { value: true },
    traffic_direction: 'OUTBOUND',
    filter_chains: [
      {
        name: 'virtualOutbound-blackhole',
        filter_chain_match: { destination_port: { value: 15001 } },
        filters: [{ name: 'tcp', typed_config: tcp('BlackHoleCluster') }],
      },
      { name: 'virtualOutbound-catchall-tcp', filters: [{ name: 'tcp', typed_config: tcp('PassthroughCluster') }] },
    ],
  },
  {
    name: '0.0.0.0_9080',
    address: addr('0.0.0.0', 9080),
    bind_to_port: { value: false },
    traffic_direction: 'OUTBOUND',
    filter_chains: [{ filters: [{ name: 'h', typed_config: text('wildcard-9080') }] }],
  },
  {
    name: `${vip}_9080`,
    address: addr(vip, 9080),
    bind_to_port: { value: false },
    traffic_direction: 'OUTBOUND',
    filter_chains: [{ filters: [{ name: 'h', typed_config: text('vip-9080') }] }],
  },
  {
    name: 'virtualInbound',
    address: addr('0.0.0.0', 15006),
    traffic_direction: 'INBOUND',
    listener_filters: [
      {
        name: 'envoy.filters.listener.original_dst',
        typed_config: any('envoy.extensions.filters.listener.original_dst.v3.OriginalDst', {}),
      },
    ],
    filter_chains: [
      {
        name: 'inbound|8080',
        filter_chain_match: { destination_port: { value: 8080 } },
        filters: [{ name: 'h', typed_config: text('inbound-8080') }],
      },
    ],
  },
];
const added = listeners.map((p) => {
  const r = compileListener(p, { clusterManager: cm, stats, rds: manager.rdsProvider });
  if (!r.ok) throw new Error(`${p.name}: ${JSON.stringify(r.errors)}`);
  const name = p.name as string;
  return { name, version: '1', resource: { typeUrl: '', name, message: p, compiled: r.value, hash: '', dependencies: [] } };
});
await manager.applyListeners({ typeUrl: '', added, updated: [], removed: [] });
const failed = [...manager.failures()];
if (failed.length > 0) throw new Error(`listeners failed: ${JSON.stringify(failed)}`);
process.stdout.write('ready\n');
process.on('SIGTERM', () => {
  void manager.close().then(() => process.exit(0));
});
