/**
 * istio.stats as a network filter before tcp_proxy: opened/closed counts and sent/received bytes
 * with Istio's TCP labels (request_protocol="tcp"), the reporter from the listener direction,
 * and UF on the close sample when the upstream refuses the connection.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { TCP_LABELS } from '../../../src/proxy/telemetry/istio-metrics.ts';
import { TcpEchoServer } from '../../support/fake-upstreams.ts';
import { assertNoOpenHandles, ProxyHarness, staticCluster } from '../support/harness.ts';
import { istioTcpListener, nodeMetadata, settle } from './support.ts';

/** Sends, half-closes, reads until the proxy closes. */
function exchange(port: number, send: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    let text = '';
    s.on('connect', () => {
      s.write(send);
      s.end();
    });
    s.on('data', (d: Buffer) => {
      text += d.toString('latin1');
    });
    s.on('close', () => resolve(text));
    s.on('error', reject);
  });
}

test('outbound TCP: reporter=source, destination service from the cluster, bytes both ways', async () => {
  const echo = await new TcpEchoServer().start();
  const h = new ProxyHarness();
  h.stats.localNode = nodeMetadata('productpage-v1', 'productpage', 'v1');
  h.addCluster(staticCluster('outbound|3306||mysql.db.svc.cluster.local', [echo.port]));
  await h.listen(istioTcpListener('0.0.0.0_3306', 'OUTBOUND', 'outbound|3306||mysql.db.svc.cluster.local'));
  const text = await exchange(h.port, 'select');
  assert.equal(text, 'SELECT<bye>');
  const closed = h.stats.labeledFamily('istio_tcp_connections_closed_total');
  await settle(() => (closed?.size ?? 0) > 0);
  const opened = h.stats.labeledFamily('istio_tcp_connections_opened_total');
  assert.deepEqual(opened?.labelNames, TCP_LABELS);
  const series = [...(opened?.all() ?? [])];
  assert.equal(series.length, 1);
  assert.deepEqual(series[0].values, [
    'source',
    'productpage-v1',
    'productpage',
    'v1',
    'default',
    'unknown',
    'productpage',
    'v1',
    'Kubernetes',
    'unknown',
    'unknown',
    'unknown',
    'unknown',
    'unknown',
    'mysql.db.svc.cluster.local',
    'unknown',
    'latest',
    'mysql',
    'db',
    'unknown',
    'tcp',
    '-',
    'unknown',
  ]);
  assert.equal(series[0].value, 1);
  assert.equal(closed?.value({ reporter: 'source' }), 1);
  assert.equal(h.stats.labeledFamily('istio_tcp_received_bytes_total')?.value({}), 6);
  assert.equal(h.stats.labeledFamily('istio_tcp_sent_bytes_total')?.value({}), 11);
  await h.close();
  await echo.close();
});

test('inbound TCP: reporter=destination, this workload as destination, source unknown', async () => {
  const echo = await new TcpEchoServer().start();
  const h = new ProxyHarness();
  h.stats.localNode = nodeMetadata('mysql-v8', 'mysql', 'v8', 'db');
  h.addCluster(staticCluster('inbound|3306||', [echo.port]));
  await h.listen(istioTcpListener('virtualInbound', 'INBOUND', 'inbound|3306||'));
  await exchange(h.port, 'x');
  const closed = h.stats.labeledFamily('istio_tcp_connections_closed_total');
  await settle(() => (closed?.size ?? 0) > 0);
  assert.equal(
    closed?.value({
      reporter: 'destination',
      source_workload: 'unknown',
      destination_workload: 'mysql-v8',
      destination_workload_namespace: 'db',
      destination_app: 'mysql',
      destination_version: 'v8',
      connection_security_policy: 'none',
      response_flags: '-',
    }),
    1,
  );
  await h.close();
  await echo.close();
});

test('UF: the upstream refuses → opened and closed once, labelled UF; nothing sent', async () => {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const dead = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  const h = new ProxyHarness();
  h.addCluster(staticCluster('outbound|1||dead.default.svc.cluster.local', [dead]));
  await h.listen(istioTcpListener('0.0.0.0_1', 'OUTBOUND', 'outbound|1||dead.default.svc.cluster.local'));
  const text = await exchange(h.port, 'hello');
  assert.equal(text, '');
  const closed = h.stats.labeledFamily('istio_tcp_connections_closed_total');
  await settle(() => (closed?.size ?? 0) > 0);
  assert.equal(closed?.value({ response_flags: 'UF', destination_service_name: 'dead' }), 1);
  assert.equal(
    h.stats.labeledFamily('istio_tcp_connections_opened_total')?.value({ response_flags: 'UF' }),
    1,
  );
  assert.equal(h.stats.labeledFamily('istio_tcp_sent_bytes_total')?.value({}), 0);
  await h.close();
});

test('no open handles', async () => {
  await assertNoOpenHandles();
});
