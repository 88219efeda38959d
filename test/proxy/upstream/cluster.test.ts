/**
 * Clusters and the HTTP/1.1 pool: compile errors naming unsupported fields, EDS updates that
 * keep hosts, STRICT_DNS / LOGICAL_DNS resolution, keep-alive reuse and max requests per
 * connection, circuit breakers (503 UO with x-envoy-overloaded), ORIGINAL_DST via header, and
 * upstream TLS origination with SNI and SAN checks.
 */
import { readFileSync } from 'node:fs';
import { type TestContext, test } from 'node:test';
import tls from 'node:tls';
import { TYPE } from '../../../src/proxy/config/type-names.ts';
import { StatsStore } from '../../../src/proxy/stats/store.ts';
import { compileCluster, compileClusterLoadAssignment } from '../../../src/proxy/upstream/cluster.ts';
import { ClusterManager } from '../../../src/proxy/upstream/cluster-manager.ts';
import { startUpstream } from '../../support/fake-upstreams.ts';
import {
  any,
  assertNoOpenHandles,
  ProxyHarness,
  request,
  routeConfig,
  staticCluster,
} from '../support/harness.ts';

const tlsDir = new URL('../testdata/tls/', import.meta.url).pathname;

test('unsupported cluster fields are errors naming the field', (t: TestContext) => {
  const cases: [Record<string, unknown>, string][] = [
    [{ health_checks: [{ timeout: { seconds: 1 } }] }, 'health_checks'],
    [{ outlier_detection: { consecutive_5xx: { value: 5 } } }, 'outlier_detection'],
    [{ lb_policy: 'RING_HASH' }, 'lb_policy'],
    // Known endpoints selecting a socket that needs SDS secrets refuse the cluster.
    [
      {
        transport_socket_matches: [
          {
            name: 'all',
            match: {},
            transport_socket: {
              name: 'envoy.transport_sockets.tls',
              typed_config: any(TYPE.UPSTREAM_TLS_CONTEXT, {
                common_tls_context: { tls_certificate_sds_secret_configs: [{ name: 'default' }] },
              }),
            },
          },
        ],
      },
      'transport_socket_matches',
    ],
    [
      {
        transport_socket_matches: [
          { name: 'bad', match: {}, transport_socket: { name: 'envoy.transport_sockets.alts' } },
        ],
      },
      'transport_socket_matches[0].transport_socket.typed_config',
    ],
    [
      { upstream_bind_config: { source_address: { address: '127.0.0.6' }, freebind: { value: true } } },
      'upstream_bind_config.freebind',
    ],
    [
      {
        typed_extension_protocol_options: {
          'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': any(TYPE.HTTP_PROTOCOL_OPTIONS, {
            explicit_http_config: { http2_protocol_options: { allow_metadata: true } },
          }),
        },
      },
      'typed_extension_protocol_options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"].explicit_http_config.http2_protocol_options.allow_metadata',
    ],
    [
      { circuit_breakers: { thresholds: [{ retry_budget: { budget_percent: { value: 20 } } }] } },
      'circuit_breakers.thresholds[0].retry_budget',
    ],
    [{ type: 'ORIGINAL_DST' }, 'lb_policy'],
  ];
  t.plan(cases.length);
  for (const [extra, path] of cases) {
    const r = compileCluster({
      ...staticCluster('c', [1]),
      ...extra,
      ...(extra.type === 'ORIGINAL_DST' ? { load_assignment: undefined } : {}),
    });
    t.assert.ok(
      !r.ok && r.errors.some((e) => e.path === path),
      `${path}: ${JSON.stringify(!r.ok && r.errors)}`,
    );
  }
});

test('EDS: endpoints arriving before and after the cluster, hosts kept across updates', (t: TestContext) => {
  t.plan(6);
  const cm = new ClusterManager(new StatsStore());
  const la = (ips: string[]) => {
    const r = compileClusterLoadAssignment({
      cluster_name: 'svc',
      endpoints: [
        {
          lb_endpoints: ips.map((ip) => ({
            endpoint: { address: { socket_address: { address: ip, port_value: 8080 } } },
          })),
        },
      ],
    });
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    return r.value;
  };
  t.assert.equal(cm.updateEndpoints('svc', la(['10.0.0.1'])), 0, 'no cluster yet: kept for later');
  const cfg = compileCluster({
    name: 'outbound|8080||svc',
    type: 'EDS',
    eds_cluster_config: { service_name: 'svc', eds_config: { ads: {} } },
  });
  if (!cfg.ok) throw new Error(JSON.stringify(cfg.errors));
  const c = cm.addOrUpdate(cfg.value);
  t.assert.equal(c.initialized, true);
  const first = c.hosts()[0];
  t.assert.equal(first.address, '10.0.0.1');
  cm.updateEndpoints('svc', la(['10.0.0.1', '10.0.0.2']));
  t.assert.equal(c.hosts().length, 2);
  t.assert.equal(c.hosts()[0], first, 'the same Host object survives the update');
  t.assert.equal(cm.stats.value('cluster.outbound|8080||svc.membership_healthy'), 2);
  cm.destroy();
});

test('STRICT_DNS and LOGICAL_DNS resolve names (localhost) and serve requests', async (t: TestContext) => {
  t.plan(4);
  const up = await startUpstream('dns');
  const dnsCluster = (name: string, type: string) => ({
    name,
    type,
    dns_lookup_family: 'V4_ONLY',
    connect_timeout: { seconds: 1 },
    load_assignment: {
      cluster_name: name,
      endpoints: [
        {
          lb_endpoints: [
            { endpoint: { address: { socket_address: { address: 'localhost', port_value: up.port } } } },
          ],
        },
      ],
    },
  });
  const proxy = await ProxyHarness.http(
    [dnsCluster('strict', 'STRICT_DNS'), dnsCluster('logical', 'LOGICAL_DNS')],
    routeConfig([
      { match: { prefix: '/strict' }, route: { cluster: 'strict', auto_host_rewrite: { value: true } } },
      { match: { prefix: '/logical' }, route: { cluster: 'logical' } },
    ]),
  );
  await new Promise<void>((resolve) => proxy.cm.get('strict')!.onInitialized(resolve));
  await new Promise<void>((resolve) => proxy.cm.get('logical')!.onInitialized(resolve));
  const a = await request(proxy.port, { path: '/strict' });
  t.assert.equal(a.status, 200);
  t.assert.equal(
    up.requests[up.requests.length - 1].headers.host,
    'localhost',
    'auto_host_rewrite uses the DNS name',
  );
  const b = await request(proxy.port, { path: '/logical' });
  t.assert.equal(b.status, 200);
  t.assert.equal(proxy.cm.get('logical')!.hosts()[0].address, '127.0.0.1');
  await proxy.close();
  await up.close();
});

test('keep-alive reuse, and max_requests_per_connection', async (t: TestContext) => {
  t.plan(3);
  const up = await startUpstream('pool');
  const proxy = await ProxyHarness.http(
    [
      staticCluster('reuse', [up.port]),
      staticCluster('limited', [up.port], {
        typed_extension_protocol_options: {
          'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': any(TYPE.HTTP_PROTOCOL_OPTIONS, {
            common_http_protocol_options: { max_requests_per_connection: { value: 2 } },
            explicit_http_config: { http_protocol_options: {} },
          }),
        },
      }),
    ],
    routeConfig([
      { match: { prefix: '/reuse' }, route: { cluster: 'reuse' } },
      { match: { prefix: '/limited' }, route: { cluster: 'limited' } },
    ]),
  );
  for (let i = 0; i < 5; i++) await request(proxy.port, { path: '/reuse' });
  t.assert.equal(up.connections, 1, 'five sequential requests share one upstream connection');
  for (let i = 0; i < 5; i++) await request(proxy.port, { path: '/limited' });
  t.assert.equal(up.connections, 4, 'two requests per connection: three more connections');
  t.assert.equal(proxy.stat('cluster.limited.upstream_cx_max_requests'), 2);
  await proxy.close();
  await up.close();
});

test('circuit breakers: pending overflow is a 503 UO with x-envoy-overloaded', async (t: TestContext) => {
  t.plan(4);
  const hang = await startUpstream('hang');
  hang.behave = () => ({ kind: 'hang' });
  const proxy = await ProxyHarness.http(
    [
      staticCluster('cb', [hang.port], {
        circuit_breakers: {
          thresholds: [
            {
              max_connections: { value: 1 },
              max_pending_requests: { value: 1 },
              max_requests: { value: 10 },
            },
          ],
        },
      }),
    ],
    routeConfig([{ match: { prefix: '/' }, route: { cluster: 'cb', timeout: { seconds: 0 } } }]),
  );
  // First request takes the only connection, the second waits in the queue, the third overflows.
  const first = request(proxy.port);
  await new Promise<void>((resolve) => {
    const check = () => (hang.count === 1 ? resolve() : setImmediate(check));
    check();
  });
  const second = request(proxy.port);
  await new Promise<void>((resolve) => {
    const check = () =>
      proxy.stat('cluster.cb.upstream_rq_pending_active') === 1 ? resolve() : setImmediate(check);
    check();
  });
  const third = await request(proxy.port);
  t.assert.equal(third.status, 503);
  t.assert.equal(third.headers['x-envoy-overloaded'], 'true');
  t.assert.equal(proxy.stat('cluster.cb.upstream_rq_pending_overflow'), 1);
  t.assert.equal(proxy.stat('cluster.cb.upstream_cx_total'), 1);
  await hang.close();
  await Promise.allSettled([first, second]);
  await proxy.close();
});

test('ORIGINAL_DST with use_http_header routes to the address in the header', async (t: TestContext) => {
  t.plan(2);
  const up = await startUpstream('odst');
  const proxy = await ProxyHarness.http(
    [
      {
        name: 'passthrough',
        type: 'ORIGINAL_DST',
        lb_policy: 'CLUSTER_PROVIDED',
        connect_timeout: { seconds: 1 },
        original_dst_lb_config: { use_http_header: true },
      },
    ],
    routeConfig([{ match: { prefix: '/' }, route: { cluster: 'passthrough' } }]),
  );
  const res = await request(proxy.port, { headers: { 'x-envoy-original-dst-host': `127.0.0.1:${up.port}` } });
  t.assert.equal(res.status, 200);
  t.assert.equal(up.count, 1);
  await proxy.close();
  await up.close();
});

test('upstream TLS origination: SNI, trusted CA and SAN matching', async (t: TestContext) => {
  t.plan(5);
  let sni: string | false = false;
  const server = tls.createServer(
    { key: readFileSync(`${tlsDir}server.key`), cert: readFileSync(`${tlsDir}server.crt`) },
    (s) => {
      sni = (s as tls.TLSSocket & { servername?: string }).servername ?? false;
      s.on('data', () => s.write('HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nsecure'));
      s.on('error', () => {});
    },
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  const tlsCluster = (name: string, san: string) =>
    staticCluster(name, [port], {
      transport_socket: {
        name: 'envoy.transport_sockets.tls',
        typed_config: any(TYPE.UPSTREAM_TLS_CONTEXT, {
          sni: 'backend.test',
          common_tls_context: {
            validation_context: {
              trusted_ca: { filename: `${tlsDir}ca.crt` },
              match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { exact: san } }],
            },
          },
        }),
      },
    });
  const proxy = await ProxyHarness.http(
    [
      tlsCluster('good', 'spiffe://cluster.local/ns/default/sa/backend'),
      tlsCluster('wrong-san', 'spiffe://cluster.local/ns/default/sa/other'),
    ],
    routeConfig([
      { match: { prefix: '/good' }, route: { cluster: 'good' } },
      { match: { prefix: '/wrong' }, route: { cluster: 'wrong-san' } },
    ]),
  );
  const ok = await request(proxy.port, { path: '/good' });
  t.assert.equal(ok.status, 200);
  t.assert.equal(ok.body, 'secure');
  t.assert.equal(sni, 'backend.test');
  const bad = await request(proxy.port, { path: '/wrong' });
  t.assert.equal(bad.status, 503);
  t.assert.match(bad.body, /reset reason: connection failure/);
  await proxy.close();
  await new Promise<void>((r) => server.close(() => r()));
});

test('no open handles', async () => {
  await assertNoOpenHandles();
});
