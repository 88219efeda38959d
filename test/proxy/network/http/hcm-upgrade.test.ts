/**
 * WebSocket-style upgrades over HTTP/1.1: the 101 is relayed and the connection becomes a raw
 * bidirectional pipe; upgrades not enabled in the connection manager (or disabled on the route)
 * get 403.
 */
import net from 'node:net';
import { before, type TestContext, test } from 'node:test';
import { type FakeUpstream, startUpstream } from '../../../support/fake-upstreams.ts';
import {
  assertNoOpenHandles,
  ProxyHarness,
  raw,
  routeConfig,
  staticCluster,
  statuses,
} from '../../support/harness.ts';

let up: FakeUpstream;
before(async () => {
  up = await startUpstream('ws');
});

const UPGRADE =
  'GET /chat HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: x\r\nSec-WebSocket-Version: 13\r\n\r\n';

test('101 then bytes flow both ways until the client half-closes', async (t: TestContext) => {
  t.plan(6);
  const proxy = await ProxyHarness.http(
    [staticCluster('ws', [up.port])],
    routeConfig([{ match: { prefix: '/' }, route: { cluster: 'ws' } }]),
    { upgrade_configs: [{ upgrade_type: 'websocket' }] },
  );
  const s = net.connect({ port: proxy.port, host: '127.0.0.1', allowHalfOpen: true });
  let text = '';
  const got = (pred: (t: string) => boolean) =>
    new Promise<void>((resolve) => {
      const check = () => (pred(text) ? resolve() : s.once('data', check));
      check();
    });
  s.on('data', (d: Buffer) => {
    text += d.toString('latin1');
  });
  s.write(UPGRADE);
  await got((x) => x.includes('\r\n\r\n'));
  t.assert.match(text, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
  t.assert.match(text, /\r\nupgrade: websocket\r\n/i);
  t.assert.match(text, /\r\nconnection: upgrade\r\n/i);
  s.write('hello frames');
  await got((x) => x.endsWith('HELLO FRAMES'));
  s.write(' and more');
  await got((x) => x.endsWith(' AND MORE'));
  const closed = new Promise<void>((resolve) => s.on('close', () => resolve()));
  s.end();
  await closed;
  t.assert.equal(up.requests[up.requests.length - 1].headers.upgrade, 'websocket');
  t.assert.equal(proxy.stat('http.ingress.downstream_cx_upgrades_total'), 1);
  t.assert.equal(proxy.stat('http.ingress.downstream_cx_upgrades_active'), 0);
  await proxy.close();
});

test('upgrade not enabled: 403 and close; a route can disable it', async (t: TestContext) => {
  t.plan(4);
  const off = await ProxyHarness.http(
    [staticCluster('ws', [up.port])],
    routeConfig([{ match: { prefix: '/' }, route: { cluster: 'ws' } }]),
  );
  const r1 = await raw(off.port, UPGRADE);
  await off.close();
  t.assert.deepEqual(statuses(r1.text), [403]);
  t.assert.equal(r1.closedByServer, true);
  const routeOff = await ProxyHarness.http(
    [staticCluster('ws', [up.port])],
    routeConfig([
      {
        match: { prefix: '/' },
        route: { cluster: 'ws', upgrade_configs: [{ upgrade_type: 'websocket', enabled: { value: false } }] },
      },
    ]),
    { upgrade_configs: [{ upgrade_type: 'websocket' }] },
  );
  const r2 = await raw(routeOff.port, UPGRADE);
  await routeOff.close();
  t.assert.deepEqual(statuses(r2.text), [403]);
  t.assert.equal(routeOff.stat('http.ingress.downstream_rq_ws_on_non_ws_route'), 1);
});

test('no open handles', async () => {
  await up.close();
  await assertNoOpenHandles();
});
