/**
 * tcp_proxy: bytes both ways with counters, half-close in both directions, weighted clusters,
 * connect failure closing the downstream, idle timeout, and config errors. Flow control with
 * real slow peers both ways: the proxy stops reading the fast side, resumes when the slow side
 * catches up, and every byte arrives intact — also when both FINs are exchanged while the last
 * bytes are still queued for a slow reader.
 */
import { createHash } from 'node:crypto';
import net from 'node:net';
import { type TestContext, test } from 'node:test';
import { TYPE } from '../../../src/proxy/config/type-names.ts';
import { compileTcpProxy, type TcpProxySession } from '../../../src/proxy/network/tcp-proxy.ts';
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

/** 256 KiB chunk number i of a test stream (content depends on i, so reordering shows). */
function chunk(i: number): Buffer {
  const b = Buffer.allocUnsafe(256 * 1024);
  for (let j = 0; j < b.length; j += 4) b.writeUInt32LE((i * 65_537 + j) >>> 0, j);
  return b;
}

const STREAM_CHUNKS = 128; // 32 MiB: more than loopback's buffers hold for a reader that sleeps

function expectedDigest(chunks = STREAM_CHUNKS): string {
  const h = createHash('sha256');
  for (let i = 0; i < chunks; i++) h.update(chunk(i));
  return h.digest('hex');
}

/** Writes the test stream with backpressure, then FIN. */
function writeStream(s: net.Socket, chunks = STREAM_CHUNKS): void {
  let i = 0;
  const more = (): void => {
    while (i < chunks) {
      if (!s.write(chunk(i++))) {
        s.once('drain', more);
        return;
      }
    }
    s.end();
  };
  more();
}

/** Hashes what the socket reads until FIN. */
function digestOf(s: net.Socket): Promise<{ hex: string; bytes: number }> {
  const h = createHash('sha256');
  let bytes = 0;
  s.on('data', (d: Buffer) => {
    h.update(d);
    bytes += d.length;
  });
  return new Promise((resolve) => s.once('end', () => resolve({ hex: h.digest('hex'), bytes })));
}

function until(cond: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const check = () => (cond() ? resolve() : setImmediate(check));
    check();
  });
}

function sessions(proxy: ProxyHarness): TcpProxySession[] {
  return [...(proxy.listener as unknown as { tcp: Set<TcpProxySession> }).tcp];
}

test('a slow upstream reader pauses the client side; every byte arrives once it reads', async (t: TestContext) => {
  t.plan(5);
  let upstreamSide: net.Socket | undefined;
  let received: Promise<{ hex: string; bytes: number }> | undefined;
  const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (s) => {
    upstreamSide = s;
    received = digestOf(s);
    s.pause(); // digestOf's 'data' listener would start the flow
    s.on('end', () => s.end());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  const proxy = await tcpProxy(
    [staticCluster('slow', [port], { per_connection_buffer_limit_bytes: { value: 64 * 1024 } })],
    { cluster: 'slow' },
  );
  const client = net.connect({ port: proxy.port, host: '127.0.0.1', allowHalfOpen: true });
  const closed = new Promise((r) => client.once('close', r));
  client.resume();
  client.on('end', () => client.end());
  writeStream(client);
  await until(() => proxy.stat('tcp.tcp.downstream_flow_control_paused_reading_total') >= 1);
  const total = STREAM_CHUNKS * 256 * 1024;
  t.assert.ok(
    proxy.stat('tcp.tcp.downstream_cx_rx_bytes_total') < total,
    'the proxy stopped reading the client before the whole stream was in',
  );
  upstreamSide!.resume();
  const got = await received!;
  await closed;
  t.assert.equal(got.bytes, total);
  t.assert.equal(got.hex, expectedDigest(), 'intact and in order');
  t.assert.ok(proxy.stat('tcp.tcp.downstream_flow_control_resumed_reading_total') >= 1);
  t.assert.equal(proxy.stat('cluster.slow.upstream_cx_tx_bytes_total'), total);
  await proxy.close();
  await new Promise<void>((r) => server.close(() => r()));
});

test('a slow client pauses the upstream; every byte arrives once it reads', async (t: TestContext) => {
  t.plan(5);
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    s.resume();
    writeStream(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  const proxy = await tcpProxy([staticCluster('fast', [port])], { cluster: 'fast' });
  const client = net.connect({ port: proxy.port, host: '127.0.0.1', allowHalfOpen: true });
  client.pause();
  client.end();
  const closed = new Promise((r) => client.once('close', r));
  await until(() => sessions(proxy)[0]?.downstreamWriter.blocked === true);
  const session = sessions(proxy)[0];
  t.assert.equal(session.upstream?.isPaused(), true, 'the proxy stopped reading the server');
  t.assert.ok(
    session.downstreamWriter.queuedBytes < 4 * 1024 * 1024,
    `bounded: ${session.downstreamWriter.queuedBytes} bytes queued in the proxy`,
  );
  const got = digestOf(client);
  client.resume();
  const r = await got;
  await closed;
  t.assert.equal(r.bytes, STREAM_CHUNKS * 256 * 1024);
  t.assert.equal(r.hex, expectedDigest(), 'intact and in order');
  t.assert.equal(proxy.stat('tcp.tcp.downstream_cx_tx_bytes_total'), r.bytes);
  await proxy.close();
  await new Promise<void>((r) => server.close(() => r()));
});

test('both FINs while bytes are still queued for a slow client: they are delivered before the close', async (t: TestContext) => {
  t.plan(4);
  // The client half-closes first and reads nothing; the proxy (its buffer limit raised above
  // the stream) reads the whole stream and the server's FIN, so megabytes wait in the proxy
  // when both FINs are in.
  const chunks = 64;
  const total = chunks * 256 * 1024;
  let start: (() => void) | undefined;
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    s.resume();
    start = () => writeStream(s, chunks);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  const proxy = await tcpProxy([staticCluster('fin', [port])], { cluster: 'fin' });
  const client = net.connect({ port: proxy.port, host: '127.0.0.1', allowHalfOpen: true });
  client.pause();
  client.end();
  const closed = new Promise((r) => client.once('close', r));
  await until(() => start !== undefined && sessions(proxy).length === 1);
  sessions(proxy)[0].downstreamWriter.limit = 2 * total;
  start!();
  await until(
    () =>
      proxy.stat('tcp.tcp.downstream_cx_tx_bytes_total') === total &&
      sessions(proxy)[0]?.upstream?.readableEnded === true,
  );
  const queued = sessions(proxy)[0].downstreamWriter.queuedBytes;
  t.assert.ok(queued > 0, 'bytes are still queued in the proxy when both FINs are in');
  const got = digestOf(client);
  client.resume();
  const r = await got;
  await closed;
  t.assert.equal(r.bytes, total);
  t.assert.equal(r.hex, expectedDigest(chunks), 'intact and in order');
  t.assert.equal(sessions(proxy).length, 0, 'the pair closed after delivering them');
  await proxy.close();
  await new Promise<void>((r) => server.close(() => r()));
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
