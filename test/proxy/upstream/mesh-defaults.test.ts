/**
 * Cluster features Istio's generators emit by default: the BlackHoleCluster (STATIC, no
 * endpoints), upstream_bind_config (InboundPassthroughCluster binds 127.0.0.6),
 * locality-weighted balancing, and auto-mTLS transport_socket_matches.
 */
import net from 'node:net';
import { type TestContext, test } from 'node:test';
import { TYPE } from '../../../src/proxy/config/type-names.ts';
import { StatsStore } from '../../../src/proxy/stats/store.ts';
import {
  Cluster,
  compileCluster,
  compileClusterLoadAssignment,
  matchTransportSocket,
} from '../../../src/proxy/upstream/cluster.ts';
import { startUpstream } from '../../support/fake-upstreams.ts';
import {
  any,
  assertNoOpenHandles,
  listenerProto,
  ProxyHarness,
  request,
  routeConfig,
  seeded,
  staticCluster,
} from '../support/harness.ts';

const BLACKHOLE = { name: 'BlackHoleCluster', type: 'STATIC', connect_timeout: { seconds: 10 } };

/** The ISTIO_MUTUAL socket the generator puts in the tlsMode-istio match (needs SDS). */
const istioMutual = {
  name: 'envoy.transport_sockets.tls',
  typed_config: any(TYPE.UPSTREAM_TLS_CONTEXT, {
    common_tls_context: {
      tls_certificate_sds_secret_configs: [{ name: 'default' }],
      combined_validation_context: {
        default_validation_context: {},
        validation_context_sds_secret_config: { name: 'ROOTCA' },
      },
      alpn_protocols: ['istio-peer-exchange', 'istio'],
    },
    sni: 'outbound_.80_._.svc.ns.svc.cluster.local',
  }),
};
const autoMtlsMatches = [
  {
    name: 'tlsMode-istio',
    match: { fields: { tlsMode: { stringValue: 'istio' } } },
    transport_socket: istioMutual,
  },
  {
    name: 'tlsMode-disabled',
    match: {},
    transport_socket: {
      name: 'envoy.transport_sockets.raw_buffer',
      typed_config: any('envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer', {}),
    },
  },
];
const istioLabel = {
  filter_metadata: { 'envoy.transport_socket_match': { fields: { tlsMode: { stringValue: 'istio' } } } },
};

test('BlackHoleCluster: a STATIC cluster without endpoints compiles; HTTP gets 503 UH', async (t: TestContext) => {
  t.plan(4);
  const r = compileCluster(BLACKHOLE);
  t.assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
  const proxy = await ProxyHarness.http(
    [BLACKHOLE],
    routeConfig([{ match: { prefix: '/' }, route: { cluster: 'BlackHoleCluster' } }]),
  );
  const res = await request(proxy.port);
  t.assert.equal(res.status, 503);
  t.assert.match(res.body, /no healthy upstream/);
  t.assert.equal(proxy.stat('cluster.BlackHoleCluster.upstream_cx_none_healthy'), 1);
  await proxy.close();
});

test('BlackHoleCluster: tcp_proxy closes the connection without sending anything', async (t: TestContext) => {
  t.plan(1);
  const h = new ProxyHarness();
  h.addCluster(BLACKHOLE);
  await h.listen(listenerProto(any(TYPE.TCP_PROXY, { stat_prefix: 'tcp', cluster: 'BlackHoleCluster' })));
  const got = await new Promise<string>((resolve, reject) => {
    const s = net.connect({ port: h.port, host: '127.0.0.1' });
    let text = '';
    s.on('data', (d: Buffer) => {
      text += d.toString('latin1');
    });
    s.on('close', () => resolve(text));
    s.on('error', reject);
    s.write('hello');
  });
  t.assert.equal(got, '');
  await h.close();
});

test('upstream_bind_config: upstream connections come from the configured source address', async (t: TestContext) => {
  t.plan(3);
  const up = await startUpstream('bound');
  const peers: string[] = [];
  up.server.on('connection', (s: net.Socket) => peers.push(s.remoteAddress ?? ''));
  const cluster = staticCluster('inbound', [up.port], {
    upstream_bind_config: { source_address: { address: '127.0.0.6', port_value: 0 } },
  });
  const proxy = await ProxyHarness.http(
    [cluster],
    routeConfig([{ match: { prefix: '/' }, route: { cluster: 'inbound' } }]),
  );
  t.assert.equal((await request(proxy.port)).status, 200);
  t.assert.deepEqual(peers, ['127.0.0.6']);
  const bad = compileCluster(
    staticCluster('x', [1], { upstream_bind_config: { source_address: { address: 'localhost' } } }),
  );
  t.assert.ok(!bad.ok && bad.errors.some((e) => e.path === 'upstream_bind_config.source_address.address'));
  await proxy.close();
  await up.close();
});

function localityCluster(random: () => number, extra: Record<string, unknown> = {}): Cluster {
  const r = compileCluster({
    name: 'eds',
    type: 'EDS',
    eds_cluster_config: { service_name: 'svc' },
    common_lb_config: { locality_weighted_lb_config: {} },
    ...extra,
  });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return new Cluster(r.value, new StatsStore(), { random });
}

function localities(ls: { zone: string; weight?: number; endpoints: [string, string?][] }[]) {
  const r = compileClusterLoadAssignment({
    cluster_name: 'svc',
    endpoints: ls.map((l) => ({
      locality: { region: 'r', zone: l.zone },
      ...(l.weight !== undefined ? { load_balancing_weight: { value: l.weight } } : {}),
      lb_endpoints: l.endpoints.map(([ip, health]) => ({
        endpoint: { address: { socket_address: { address: ip, port_value: 80 } } },
        health_status: health ?? 'HEALTHY',
      })),
    })),
  });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.value;
}

test('locality-weighted: localities share load by weight, hosts by the endpoint LB', (t: TestContext) => {
  t.plan(3);
  const c = localityCluster(seeded(11));
  // Zone a has 3 hosts but weight 1; zone b has 1 host and weight 3.
  c.updateLoadAssignment(
    localities([
      { zone: 'a', weight: 1, endpoints: [['10.0.0.1'], ['10.0.0.2'], ['10.0.0.3']] },
      { zone: 'b', weight: 3, endpoints: [['10.0.1.1']] },
    ]),
  );
  const picks = Array.from({ length: 400 }, () => c.chooseHost(undefined)?.address);
  // EDF over localities is exact per cycle: 100 to a, 300 to b.
  t.assert.equal(picks.filter((a) => a === '10.0.1.1').length, 300);
  // Inside zone a, round robin spreads its 100 picks evenly.
  const a = ['10.0.0.1', '10.0.0.2', '10.0.0.3'].map((ip) => picks.filter((p) => p === ip).length);
  t.assert.ok(
    a.every((n) => n >= 33 && n <= 34),
    `zone a: ${a}`,
  );
  // Without the layer the same assignment would give zone b a quarter of the load.
  const flat = localityCluster(seeded(11), { common_lb_config: {} });
  flat.updateLoadAssignment(
    localities([
      { zone: 'a', weight: 1, endpoints: [['10.0.0.1'], ['10.0.0.2'], ['10.0.0.3']] },
      { zone: 'b', weight: 3, endpoints: [['10.0.1.1']] },
    ]),
  );
  const flatPicks = Array.from({ length: 400 }, () => flat.chooseHost(undefined)?.address);
  t.assert.equal(flatPicks.filter((p) => p === '10.0.1.1').length, 100);
});

test('locality-weighted: weight scales with healthy share; unset weight gets no load', (t: TestContext) => {
  t.plan(3);
  const c = localityCluster(seeded(12));
  c.updateLoadAssignment(
    localities([
      {
        zone: 'a',
        weight: 2,
        endpoints: [['10.0.0.1'], ['10.0.0.2'], ['10.0.0.3', 'UNHEALTHY'], ['10.0.0.4', 'UNHEALTHY']],
      },
      { zone: 'b', weight: 1, endpoints: [['10.0.1.1'], ['10.0.1.2']] },
      { zone: 'c', endpoints: [['10.0.2.1']] },
    ]),
  );
  // Zone a: 2 of 4 healthy → min(1, 0.5 × 1.4) = 0.7 → 1.4; zone b: 1; zone c: unset → 0.
  const picks = Array.from({ length: 2400 }, () => c.chooseHost(undefined)?.address ?? '');
  const inA = picks.filter((p) => p.startsWith('10.0.0.')).length;
  t.assert.equal(inA, 1400);
  t.assert.equal(
    picks.some((p) => p === '10.0.0.3' || p === '10.0.0.4' || p === '10.0.2.1'),
    false,
  );
  t.assert.equal(picks.length - inA, 1000);
});

test('transport_socket_matches: endpoint metadata, then locality metadata, first match wins', (t: TestContext) => {
  t.plan(6);
  const r = compileCluster({
    name: 'auto',
    type: 'EDS',
    eds_cluster_config: { service_name: 'svc' },
    transport_socket_matches: autoMtlsMatches,
  });
  t.assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
  if (!r.ok) return;
  const m = r.value.transportMatches;
  t.assert.equal(matchTransportSocket(m, istioLabel, undefined)?.name, 'tlsMode-istio');
  t.assert.equal(matchTransportSocket(m, undefined, undefined)?.name, 'tlsMode-disabled');
  t.assert.equal(matchTransportSocket(m, undefined, istioLabel)?.name, 'tlsMode-disabled');
  t.assert.match(
    matchTransportSocket(m, istioLabel, undefined)?.unavailable ?? '',
    /transport_socket_matches\[0\]\.transport_socket\.typed_config.*tls_certificate_sds_secret_configs/,
  );
  // Without a catch-all, unmatched endpoints fall back to the cluster's transport_socket.
  t.assert.equal(matchTransportSocket(m.slice(0, 1), undefined, undefined), undefined);
});

test('auto mTLS default: plain endpoints are served, an istio-labelled one fails naming the field', async (t: TestContext) => {
  t.plan(5);
  const up = await startUpstream('plain');
  const proxy = new ProxyHarness();
  proxy.addCluster({
    name: 'auto',
    type: 'EDS',
    connect_timeout: { seconds: 1 },
    eds_cluster_config: { service_name: 'svc' },
    transport_socket_matches: autoMtlsMatches,
  });
  const la = (metadata: unknown) => {
    const r = compileClusterLoadAssignment({
      cluster_name: 'svc',
      endpoints: [
        {
          lb_endpoints: [
            {
              endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: up.port } } },
              metadata,
            },
          ],
        },
      ],
    });
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    return r.value;
  };
  proxy.cm.updateEndpoints('svc', la(undefined));
  await proxy.listen(
    listenerProto(
      any(TYPE.HTTP_CONNECTION_MANAGER, {
        stat_prefix: 'ingress',
        route_config: routeConfig([{ match: { prefix: '/' }, route: { cluster: 'auto' } }]),
        http_filters: [{ name: 'envoy.filters.http.router', typed_config: any(TYPE.ROUTER, {}) }],
      }),
    ),
  );
  t.assert.equal((await request(proxy.port)).status, 200);
  t.assert.equal(up.requests.length, 1);
  proxy.cm.updateEndpoints('svc', la(istioLabel));
  const res = await request(proxy.port);
  t.assert.equal(res.status, 503);
  t.assert.equal(up.requests.length, 1, 'nothing reached the upstream in plain text');
  t.assert.ok(proxy.stat('cluster.auto.upstream_cx_connect_fail') >= 1);
  await proxy.close();
  await up.close();
});

test('no open handles', async () => {
  await assertNoOpenHandles();
});
