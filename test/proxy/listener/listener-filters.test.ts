/**
 * Listener filters and original-destination hand-off on real loopback sockets, with the
 * original-destination lookup injected (keyed by the client's loopback source address): a
 * use_original_dst listener hands connections to the `bind_to_port: false` listener of their
 * original destination (exact ip:port before 0.0.0.0:port), keeps unclaimed ones on its own
 * chains (tcp_proxy to an ORIGINAL_DST cluster reaching the original destination), refuses
 * non-redirected ones; http_inspector routes HTTP and non-HTTP to different chains; the
 * listener-filter timeout closes or continues as configured (fake timers).
 */
import net from 'node:net';
import { mock, type TestContext, test } from 'node:test';
import tls from 'node:tls';
import { compileListener, type ListenerConfig } from '../../../src/proxy/listener/listener.ts';
import { ListenerManager } from '../../../src/proxy/listener/listener-manager.ts';
import {
  type OriginalDst,
  OriginalDstError,
  OriginalDstErrorCode,
} from '../../../src/proxy/listener/original-dst.ts';
import { StatsStore } from '../../../src/proxy/stats/store.ts';
import { compileCluster } from '../../../src/proxy/upstream/cluster.ts';
import { ClusterManager } from '../../../src/proxy/upstream/cluster-manager.ts';
import type { XdsUpdate } from '../../../src/proxy/xds/client.ts';
import { TcpEchoServer } from '../../support/fake-upstreams.ts';
import { any, assertNoOpenHandles, hcm, routeConfig, staticCluster, statuses } from '../support/harness.ts';
import { pem, tlsExchange } from '../tls/tls-support.ts';

const direct = (status: number) =>
  hcm(routeConfig([{ match: { prefix: '/' }, direct_response: { status } }]));
const TCP = (cluster: string) =>
  any('envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy', { stat_prefix: cluster, cluster });
const HTTP_INSPECTOR = {
  name: 'envoy.filters.listener.http_inspector',
  typed_config: any('envoy.extensions.filters.listener.http_inspector.v3.HttpInspector', {}),
};

class Mesh {
  readonly stats = new StatsStore();
  readonly cm = new ClusterManager(this.stats);
  readonly manager: ListenerManager;
  /** Original destination by client source address. */
  readonly routes = new Map<string, OriginalDst | 'not-redirected'>();
  lookups = 0;

  constructor() {
    this.manager = new ListenerManager(this.stats, {
      drainTimeMs: 10_000,
      originalDst: async (socket) => {
        this.lookups++;
        const r = this.routes.get(socket.remoteAddress ?? '');
        if (r === undefined || r === 'not-redirected')
          throw new OriginalDstError(OriginalDstErrorCode.NOT_REDIRECTED, 'not redirected');
        return r;
      },
    });
  }

  cluster(proto: unknown): void {
    const r = compileCluster(proto);
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    this.cm.addOrUpdate(r.value);
  }

  compile(proto: Record<string, unknown>): ListenerConfig {
    const r = compileListener(proto, {
      clusterManager: this.cm,
      stats: this.stats,
      rds: this.manager.rdsProvider,
    });
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    return r.value;
  }

  async apply(protos: Record<string, unknown>[], removed: string[] = []): Promise<void> {
    const update: XdsUpdate = {
      typeUrl: 'type.googleapis.com/envoy.config.listener.v3.Listener',
      added: protos.map((p) => ({
        name: p.name as string,
        version: '1',
        resource: {
          typeUrl: 'type.googleapis.com/envoy.config.listener.v3.Listener',
          name: p.name as string,
          message: p,
          compiled: this.compile(p),
          hash: '',
          dependencies: [],
        },
      })),
      updated: [],
      removed,
    };
    await this.manager.applyListeners(update);
  }

  stat(name: string): number {
    return this.stats.value(name);
  }

  async close(): Promise<void> {
    await this.manager.close();
    this.cm.destroy();
  }
}

const od = (address: string, port: number): OriginalDst => ({ address, port, family: 4, method: 'addon' });

/** Sends `data` from a given loopback source; resolves with what came back before close. */
function exchange(port: number, from: string, data: string, until?: (s: string) => boolean): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    const s = net.connect({ port, host: '127.0.0.1', localAddress: from }, () => {
      if (data) s.write(data);
    });
    s.on('data', (d) => {
      text += d.toString('latin1');
      if (until?.(text)) s.destroy();
    });
    s.on('error', () => {});
    s.on('close', () => resolve(text));
  });
}

const GET = 'GET / HTTP/1.1\r\nHost: svc\r\nConnection: close\r\n\r\n';

test('use_original_dst hands connections to the best-matching virtual listener', async (t: TestContext) => {
  t.plan(12);
  const m = new Mesh();
  const echo = await new TcpEchoServer().start();
  m.cluster({
    name: 'PassthroughCluster',
    type: 'ORIGINAL_DST',
    lb_policy: 'CLUSTER_PROVIDED',
    connect_timeout: { seconds: 1 },
  });
  await m.apply([
    {
      name: 'virtualOutbound',
      address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
      use_original_dst: { value: true },
      filter_chains: [
        { name: 'passthrough', filters: [{ name: 'tcp', typed_config: TCP('PassthroughCluster') }] },
      ],
    },
    {
      name: '0.0.0.0_9080',
      address: { socket_address: { address: '0.0.0.0', port_value: 9080 } },
      bind_to_port: { value: false },
      filter_chains: [{ filters: [{ name: 'h', typed_config: direct(200) }] }],
    },
    {
      name: '10.0.0.1_9080',
      address: { socket_address: { address: '10.0.0.1', port_value: 9080 } },
      bind_to_port: { value: false },
      filter_chains: [{ filters: [{ name: 'h', typed_config: direct(201) }] }],
    },
  ]);
  const port = m.manager.port('virtualOutbound');
  t.assert.equal(m.manager.port('0.0.0.0_9080'), 9080);
  m.routes.set('127.0.0.2', od('10.0.0.1', 9080));
  m.routes.set('127.0.0.3', od('10.0.0.2', 9080));
  m.routes.set('127.0.0.4', od('127.0.0.1', echo.port));
  m.routes.set('127.0.0.5', 'not-redirected');

  t.assert.deepEqual(statuses(await exchange(port, '127.0.0.2', GET)), [201]);
  t.assert.deepEqual(statuses(await exchange(port, '127.0.0.3', GET)), [200]);
  // Unclaimed: stays on virtualOutbound, whose tcp_proxy reaches the original destination.
  t.assert.equal(await exchange(port, '127.0.0.4', 'ping', (s) => s === 'PING'), 'PING');
  t.assert.equal(await exchange(port, '127.0.0.5', GET), '');
  t.assert.equal(m.stat('listener.10.0.0.1_9080.downstream_cx_total'), 1);
  t.assert.equal(m.stat('listener.0.0.0.0_9080.downstream_cx_total'), 1);
  t.assert.equal(m.stat(`listener.127.0.0.1_${port}.original_dst_handed_off`), 2);
  t.assert.equal(m.stat(`listener.127.0.0.1_${port}.downstream_cx_total`), 1);
  t.assert.equal(m.stat(`listener.127.0.0.1_${port}.downstream_listener_filter_error`), 1);
  t.assert.equal(echo.connections, 1);

  // A removed virtual listener no longer claims its port: 0.0.0.0_9080 takes over.
  await m.apply([], ['10.0.0.1_9080']);
  t.assert.deepEqual(statuses(await exchange(port, '127.0.0.2', GET)), [200]);
  await m.close();
  await echo.close();
});

test('hand-off lookup: exact address, then the wildcard of the same family; v6 spellings compare equal', async (t: TestContext) => {
  t.plan(6);
  const m = new Mesh();
  const virtual = (name: string, address: string) => ({
    name,
    address: { socket_address: { address, port_value: 9080 } },
    bind_to_port: { value: false },
    filter_chains: [{ filters: [{ name: 'h', typed_config: direct(200) }] }],
  });
  await m.apply([
    virtual('v4-any', '0.0.0.0'),
    virtual('v6-any', '::'),
    virtual('v4', '10.0.0.1'),
    virtual('v6', 'fd00:0:0:0::1'),
  ]);
  const name = (a: string) => m.manager.find(a, 9080)?.config.name;
  t.assert.equal(name('10.0.0.1'), 'v4');
  t.assert.equal(name('::ffff:10.0.0.1'), 'v4');
  t.assert.equal(name('10.0.0.2'), 'v4-any');
  t.assert.equal(name('fd00::1'), 'v6');
  t.assert.equal(name('fd00::2'), 'v6-any');
  t.assert.equal(m.manager.find('10.0.0.1', 9081), undefined);
  await m.close();
});

test('virtualInbound shape: original_dst, then http_inspector picks HTTP or TCP chains per port', async (t: TestContext) => {
  t.plan(4);
  const m = new Mesh();
  const echo = await new TcpEchoServer().start();
  m.cluster(staticCluster('inbound|9000', [echo.port]));
  await m.apply([
    {
      name: 'virtualInbound',
      address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
      listener_filters: [
        {
          name: 'envoy.filters.listener.original_dst',
          typed_config: any('envoy.extensions.filters.listener.original_dst.v3.OriginalDst', {}),
        },
        { ...HTTP_INSPECTOR, filter_disabled: { destination_port_range: { start: 9000, end: 9001 } } },
      ],
      listener_filters_timeout: { seconds: 0 },
      continue_on_listener_filters_timeout: true,
      filter_chains: [
        {
          name: 'http',
          filter_chain_match: {
            destination_port: { value: 8080 },
            application_protocols: ['http/1.1', 'h2c'],
          },
          filters: [{ name: 'h', typed_config: direct(202) }],
        },
        {
          name: 'tcp-8080',
          filter_chain_match: { destination_port: { value: 8080 } },
          filters: [{ name: 'h', typed_config: direct(299) }],
        },
        {
          name: 'tcp-9000',
          filter_chain_match: { destination_port: { value: 9000 } },
          filters: [{ name: 't', typed_config: TCP('inbound|9000') }],
        },
      ],
    },
  ]);
  const port = m.manager.port('virtualInbound');
  m.routes.set('127.0.0.2', od('10.1.0.7', 8080));
  m.routes.set('127.0.0.3', od('10.1.0.7', 9000));
  t.assert.deepEqual(statuses(await exchange(port, '127.0.0.2', GET)), [202]);
  // On 9000 the inspector is disabled: even HTTP-looking bytes go to the TCP chain untouched.
  t.assert.equal(await exchange(port, '127.0.0.3', 'get / x', (s) => s === 'GET / X'), 'GET / X');
  const stat = (n: string) => m.stat(`listener.127.0.0.1_${port}.http_inspector.${n}`);
  t.assert.equal(stat('http11_found'), 1);
  t.assert.equal(stat('http_not_found'), 0);
  await m.close();
  await echo.close();
});

test('tls_inspector routes TLS by SNI without terminating it (passthrough keeps every byte)', async (t: TestContext) => {
  t.plan(6);
  const m = new Mesh();
  const backends: tls.Server[] = [];
  for (const [name, cn] of [
    ['b', 'server-b'],
    ['a', 'server-a'],
  ]) {
    const server = tls.createServer({ cert: pem(`${cn}.crt`), key: pem(`${cn}.key`) }, (s) => {
      s.on('data', (d) => s.end(`${name}:${d}`));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    backends.push(server);
    m.cluster(staticCluster(`sni-${name}`, [(server.address() as net.AddressInfo).port]));
  }
  await m.apply([
    {
      name: 'l',
      address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
      listener_filters: [
        {
          name: 'envoy.filters.listener.tls_inspector',
          typed_config: any('envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector', {}),
        },
      ],
      filter_chains: [
        {
          filter_chain_match: { server_names: ['b.test'] },
          filters: [{ name: 't', typed_config: TCP('sni-b') }],
        },
        {
          filter_chain_match: { server_names: ['*.example.com'] },
          filters: [{ name: 't', typed_config: TCP('sni-a') }],
        },
      ],
    },
  ]);
  const port = m.manager.port('l');
  const b = await tlsExchange(port, { servername: 'b.test' }, 'hi');
  t.assert.equal(b.serverCn, 'b.test');
  t.assert.equal(b.text, 'b:hi');
  const a = await tlsExchange(
    port,
    { servername: 'x.example.com', checkServerIdentity: () => undefined },
    'yo',
  );
  t.assert.equal(a.text, 'a:yo');
  // No SNI: no chain matches.
  const none = await tlsExchange(port, { rejectUnauthorized: false }, 'x');
  t.assert.equal(none.established, false);
  t.assert.equal(m.stat(`listener.127.0.0.1_${port}.no_filter_chain_match`), 1);
  t.assert.equal(m.stat(`listener.127.0.0.1_${port}.tls_inspector.sni_found`), 2);
  await m.close();
  for (const server of backends) await new Promise<void>((r) => server.close(() => r()));
});

test('listener_filters_timeout: closes, or continues with continue_on_listener_filters_timeout', async (t: TestContext) => {
  t.plan(6);
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const echo = await new TcpEchoServer().start();
  echo.greeting = 'server-first';
  for (const cont of [false, true]) {
    const m = new Mesh();
    m.cluster(staticCluster('mysql', [echo.port]));
    await m.apply([
      {
        name: 'l',
        address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
        listener_filters: [HTTP_INSPECTOR],
        listener_filters_timeout: { seconds: 5 },
        continue_on_listener_filters_timeout: cont,
        filter_chains: [
          {
            filter_chain_match: { application_protocols: ['http/1.1'] },
            filters: [{ name: 'h', typed_config: direct(200) }],
          },
        ],
        default_filter_chain: { filters: [{ name: 't', typed_config: TCP('mysql') }] },
      },
    ]);
    const port = m.manager.port('l');
    const reply = exchange(port, '127.0.0.1', '', (s) => s === 'server-first');
    const pre = `listener.127.0.0.1_${port}.downstream_pre_cx_active`;
    await new Promise<void>((resolve) => {
      const check = () => (m.stat(pre) === 1 ? resolve() : setImmediate(check));
      check();
    });
    t.mock.timers.tick(4999);
    t.assert.equal(m.stat(pre), 1);
    t.mock.timers.tick(1);
    t.assert.equal(await reply, cont ? 'server-first' : '');
    t.assert.equal(m.stat(`listener.127.0.0.1_${port}.downstream_pre_cx_timeout`), 1);
    await m.close();
  }
  await echo.close();
  mock.timers.reset();
});

test('no open handles', async () => {
  await assertNoOpenHandles();
});
