/**
 * A sidecar against mizzend's DEFAULT mesh config (locality-weighted balancing on, auto mTLS
 * on): CDS (BlackHoleCluster, InboundPassthroughCluster with upstream_bind_config, outbound
 * clusters with locality_weighted_lb_config and auto-mTLS transport_socket_matches), LDS and
 * RDS (fault and cors filters in every HTTP chain) are all accepted, and a VirtualService's
 * fault abort and delay work through the proxy.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { ProxyServer } from '../../../src/proxy/proxy-server.ts';
import { type FakeUpstream, startUpstream } from '../../support/fake-upstreams.ts';
import { clientSidecarForShop, shopServiceEntry } from '../../support/mesh-yaml.ts';
import { assertNoOpenHandles } from '../support/harness.ts';
import { type ControlPlane, freePort, request, sidecar, startControlPlane } from './harness.ts';

let shop: FakeUpstream;
let httpPort: number;
let cp: ControlPlane;
let proxy: ProxyServer;
const nacks: string[] = [];

function config(): string {
  return `
${shopServiceEntry(httpPort)}---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: shop-1, namespace: default}
spec: {address: 127.0.0.1, ports: {http: ${shop.port}}, labels: {app: shop}, locality: r1/z1}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: shop, namespace: default}
spec:
  hosts: [shop.example.internal]
  http:
  - match: [{uri: {prefix: /abort}}]
    fault: {abort: {httpStatus: 503, percentage: {value: 100}}}
    route: [{destination: {host: shop.example.internal}}]
  - match: [{uri: {prefix: /delay}}]
    fault: {delay: {fixedDelay: 0.2s, percentage: {value: 100}}}
    route: [{destination: {host: shop.example.internal}}]
  - route: [{destination: {host: shop.example.internal}}]
---
${clientSidecarForShop(httpPort)}`;
}

before(async () => {
  shop = await startUpstream('shop');
  httpPort = await freePort();
  // The empty mesh config: every default of mizzend applies.
  cp = await startControlPlane(config(), '');
  proxy = sidecar(cp.port);
  proxy.xds.on('nack', (n) => {
    nacks.push(`${n.typeUrl}: ${n.errors.join(' | ')}`);
  });
  await proxy.start();
  await proxy.ready();
});

after(async () => {
  await proxy.close();
  await cp.close();
  await shop.close();
});

test('CDS, LDS and RDS of the default mesh are accepted (no NACK)', () => {
  assert.deepEqual(nacks, []);
  const names = proxy.clusterManager.names();
  assert.ok(names.includes('BlackHoleCluster'), names.join(', '));
  const outbound = names.find((n) => n.startsWith('outbound|') && n.endsWith('|shop.example.internal'));
  assert.ok(outbound, names.join(', '));
  const c = proxy.clusterManager.get(outbound)!.config;
  // The defaults this test is about really arrived.
  assert.equal(c.localityWeighted, true);
  assert.ok(c.transportMatches.length > 0, 'auto mTLS transport_socket_matches');
  const bound = proxy.listenerManager.listeners().map((l) => `${l.address}:${l.port}`);
  assert.ok(bound.includes(`127.0.0.1:${httpPort}`), bound.join(', '));
});

test('plain traffic reaches the (non-mTLS) endpoint through auto mTLS matches', async () => {
  const r = await request(httpPort, '/ok', { host: 'shop.example.internal' });
  assert.equal(r.status, 200, r.body);
  assert.equal(JSON.parse(r.body).upstream, 'shop');
});

test('a VirtualService fault abort (100%) answers 503 locally, never reaching the upstream', async () => {
  const before = shop.count;
  for (let i = 0; i < 10; i++) {
    const r = await request(httpPort, `/abort/${i}`, { host: 'shop.example.internal' });
    assert.equal(r.status, 503);
    assert.equal(r.body, 'fault filter abort');
  }
  assert.equal(shop.count, before);
});

test('a VirtualService fault delay holds the request: it completes after a later abort', async () => {
  const order: string[] = [];
  const delayed = request(httpPort, '/delay/1', { host: 'shop.example.internal' }).then((r) => {
    order.push('delay');
    return r;
  });
  // Sent after the delayed one; answered at once by the abort route.
  const aborted = await request(httpPort, '/abort/x', { host: 'shop.example.internal' });
  order.push('abort');
  assert.equal(aborted.status, 503);
  const r = await delayed;
  assert.equal(r.status, 200, r.body);
  assert.deepEqual(order, ['abort', 'delay']);
  assert.deepEqual(nacks, []);
});

test('no open handles', async () => {
  await proxy.close();
  await cp.close();
  await shop.close();
  await assertNoOpenHandles();
});
