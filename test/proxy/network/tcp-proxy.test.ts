/**
 * tcp_proxy: bytes both ways with counters, half-close in both directions, weighted clusters,
 * connect failure closing the downstream, idle timeout, and config errors.
 */
import net from 'node:net';
import { type TestContext, test } from 'node:test';
import { TYPE } from '../../../src/proxy/config/type-names.ts';
import { compileTcpProxy } from '../../../src/proxy/network/tcp-proxy.ts';
import { StatsStore } from '../../../src/proxy/stats/store.ts';
import { ClusterManager } from '../../../src/proxy/upstream/cluster-manager.ts';
import { TcpEchoServer } from '../../support/fake-upstreams.ts';
import { any, assertNoOpenHandles, listenerProto, ProxyHarness, staticCluster } from '../support/harness.ts';

async function tcpProxy(clusters: unknown[], cfg: Record<string, unknown>): Promise<ProxyHarness> {
  const h = new ProxyHarness();
  for (const c of clusters) h.addCluster(c);
  return h.listen(listenerProto(any(TYPE.TCP_PROXY, { stat_prefix: 'tcp', ...cfg })));
}

/** Connects, sends, half-closes, and reads until the proxy closes. */
function exchange(port: number, send: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    let text = '';
    s.on('connect', () => {
      for (const m of send) s.write(m);
      s.end();
    });
    s.on('data', (d: Buffer) => {
      text += d.toString('latin1');
    });
    s.on('end', () => {
      s.end();
      resolve(text);
    });
    s.on('error', reject);
  });
}

test('bytes flow both ways; the client FIN reaches the server, whose reply still comes back', async (t: TestContext) => {
  t.plan(6);
  const echo = await new TcpEchoServer().start();
  const proxy = await tcpProxy([staticCluster('echo', [echo.port])], { cluster: 'echo' });
  const text = await exchange(proxy.port, ['abc', 'def']);
  t.assert.equal(text, 'ABCDEF<bye>', 'the server answered after seeing our half-close');
  t.assert.equal(echo.received, 'abcdef');
  await new Promise<void>((resolve) => {
    const check = () =>
      proxy.stat('tcp.tcp.downstream_cx_tx_bytes_total') === 11 ? resolve() : setImmediate(check);
    check();
  });
  t.assert.equal(proxy.stat('tcp.tcp.downstream_cx_rx_bytes_total'), 6);
  t.assert.equal(proxy.stat('tcp.tcp.downstream_cx_tx_bytes_total'), 11);
  t.assert.equal(proxy.stat('cluster.echo.upstream_cx_tx_bytes_total'), 6);
  t.assert.equal(proxy.stat('tcp.tcp.downstream_cx_total'), 1);
  await proxy.close();
  await echo.close();
});

test('server half-closes first: the client still gets to send', async (t: TestContext) => {
  t.plan(2);
  const echo = await new TcpEchoServer().start();
  echo.greeting = 'hi-then-fin';
  const proxy = await tcpProxy([staticCluster('echo', [echo.port])], { cluster: 'echo' });
  const s = net.connect({ port: proxy.port, host: '127.0.0.1', allowHalfOpen: true });
  let text = '';
  await new Promise<void>((resolve) => {
    s.on('data', (d: Buffer) => {
      text += d.toString();
    });
    s.on('end', () => {
      // Our side is still open: write after the server's FIN, then close.
      s.end('late data');
    });
    s.on('close', () => resolve());
  });
  await new Promise<void>((resolve) => {
    const check = () => (echo.received === 'late data' ? resolve() : setImmediate(check));
    check();
  });
  t.assert.equal(text, 'hi-then-fin');
  t.assert.equal(echo.received, 'late data');
  await proxy.close();
  await echo.close();
});

test('weighted clusters spread connections', async (t: TestContext) => {
  t.plan(2);
  const a = await new TcpEchoServer().start();
  const b = await new TcpEchoServer().start();
  const proxy = await tcpProxy([staticCluster('a', [a.port]), staticCluster('b', [b.port])], {
    weighted_clusters: {
      clusters: [
        { name: 'a', weight: 1 },
        { name: 'b', weight: 1 },
      ],
    },
  });
  for (let i = 0; i < 40; i++) await exchange(proxy.port, ['x']);
  t.assert.equal(a.connections + b.connections, 40);
  t.assert.ok(a.connections > 5 && b.connections > 5, `${a.connections}/${b.connections}`);
  await proxy.close();
  await a.close();
  await b.close();
});

test('an unreachable upstream closes the downstream after max_connect_attempts', async (t: TestContext) => {
  t.plan(2);
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const dead = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  const proxy = await tcpProxy([staticCluster('dead', [dead])], {
    cluster: 'dead',
    max_connect_attempts: { value: 3 },
  });
  const text = await exchange(proxy.port, ['lost']);
  t.assert.equal(text, '');
  t.assert.equal(proxy.stat('cluster.dead.upstream_cx_connect_fail'), 3);
  await proxy.close();
});

test('idle timeout closes a quiet connection', async (t: TestContext) => {
  t.plan(2);
  const echo = await new TcpEchoServer().start();
  const proxy = await tcpProxy([staticCluster('echo', [echo.port])], {
    cluster: 'echo',
    idle_timeout: { nanos: 30_000_000 },
  });
  const s = net.connect({ port: proxy.port, host: '127.0.0.1' });
  await new Promise<void>((resolve) => s.on('close', () => resolve()));
  t.assert.equal(proxy.stat('tcp.tcp.idle_timeout'), 1);
  t.assert.equal(proxy.stat('tcp.tcp.downstream_cx_total'), 1);
  await proxy.close();
  await echo.close();
});

test('config errors name the field', (t: TestContext) => {
  t.plan(2);
  const env = { clusterManager: new ClusterManager(new StatsStore()), stats: new StatsStore() };
  const r1 = compileTcpProxy({ stat_prefix: 'x', cluster: 'c', tunneling_config: { hostname: 'h' } }, env);
  t.assert.ok(!r1.ok && r1.errors[0].path === 'tunneling_config');
  const r2 = compileTcpProxy({ cluster: 'c' }, env);
  t.assert.ok(!r2.ok && r2.errors[0].path === 'stat_prefix');
});

test('no open handles', async () => {
  await assertNoOpenHandles();
});
