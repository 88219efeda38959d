/**
 * Listeners: filter-chain selection (most specific match wins, default chain, no match closes),
 * in-place config update (new connections get the new chains, established ones keep theirs),
 * drain, listener stats names, and NACKed fields.
 */
import net from 'node:net';
import { type TestContext, test } from 'node:test';
import { compileListener, selectFilterChain } from '../../../src/proxy/listener/listener.ts';
import { StatsStore } from '../../../src/proxy/stats/store.ts';
import { ClusterManager } from '../../../src/proxy/upstream/cluster-manager.ts';
import { startUpstream } from '../../support/fake-upstreams.ts';
import {
  any,
  assertNoOpenHandles,
  hcm,
  ProxyHarness,
  raw,
  routeConfig,
  staticCluster,
  statuses,
} from '../support/harness.ts';

const env = () => ({ clusterManager: new ClusterManager(new StatsStore()), stats: new StatsStore() });
const direct = (status: number) =>
  hcm(routeConfig([{ match: { prefix: '/' }, direct_response: { status } }]));

function listener(chains: unknown[], extra: Record<string, unknown> = {}) {
  return {
    name: 'l',
    address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
    filter_chains: chains,
    ...extra,
  };
}

test('filter chain selection: destination port, source prefix, source type, most specific wins', (t: TestContext) => {
  const r = compileListener(
    listener([
      { name: 'any', filters: [{ name: 'h', typed_config: direct(200) }] },
      {
        name: 'port',
        filter_chain_match: { destination_port: { value: 8080 } },
        filters: [{ name: 'h', typed_config: direct(201) }],
      },
      {
        name: 'port+src',
        filter_chain_match: {
          destination_port: { value: 8080 },
          source_prefix_ranges: [{ address_prefix: '10.0.0.0', prefix_len: { value: 8 } }],
        },
        filters: [{ name: 'h', typed_config: direct(202) }],
      },
      {
        name: 'local',
        filter_chain_match: { source_type: 'SAME_IP_OR_LOOPBACK' },
        filters: [{ name: 'h', typed_config: direct(203) }],
      },
    ]),
    env(),
  );
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  const pick = (remote: string, port: number) =>
    selectFilterChain(r.value.filterChains, {
      remoteAddress: remote,
      remotePort: 5000,
      localAddress: '10.9.9.9',
      localPort: port,
      secure: false,
    })?.name;
  t.plan(4);
  t.assert.equal(pick('192.0.2.1', 80), 'any');
  t.assert.equal(pick('192.0.2.1', 8080), 'port');
  t.assert.equal(pick('10.1.1.1', 8080), 'port+src');
  t.assert.equal(pick('127.0.0.1', 80), 'local');
});

test('no matching chain and no default: the connection is closed and counted', async (t: TestContext) => {
  t.plan(3);
  const h = new ProxyHarness();
  await h.listen(
    listener([
      {
        filter_chain_match: { destination_port: { value: 1 } },
        filters: [{ name: 'h', typed_config: direct(200) }],
      },
    ]),
  );
  const res = await raw(h.port, 'GET / HTTP/1.1\r\nHost: a\r\n\r\n');
  t.assert.equal(res.text, '');
  t.assert.equal(res.closedByServer, true);
  t.assert.equal(h.stat(`listener.127.0.0.1_${h.port}.no_filter_chain_match`), 1);
  await h.close();
});

test('update: new connections use the new chains, an established one keeps its chain', async (t: TestContext) => {
  t.plan(4);
  const h = new ProxyHarness();
  await h.listen(listener([{ filters: [{ name: 'h', typed_config: direct(200) }] }]));
  const old = net.connect(h.port, '127.0.0.1');
  await new Promise<void>((r) => old.once('connect', () => r()));
  // Wait until the proxy accepted it (listener stats), so it is bound to the old chain.
  await new Promise<void>((resolve) => {
    const check = () =>
      h.stat(`listener.127.0.0.1_${h.port}.downstream_cx_active`) === 1 ? resolve() : setImmediate(check);
    check();
  });
  const next = compileListener(listener([{ filters: [{ name: 'h', typed_config: direct(204) }] }]), {
    clusterManager: h.cm,
    stats: h.stats,
  });
  if (!next.ok) throw new Error(JSON.stringify(next.errors));
  h.listener.update(next.value);
  const fresh = await raw(h.port, 'GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
  t.assert.deepEqual(statuses(fresh.text), [204]);
  let text = '';
  old.on('data', (d) => {
    text += d.toString();
  });
  const closed = new Promise<void>((r) => old.on('close', () => r()));
  old.write('GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
  await closed;
  t.assert.deepEqual(statuses(text), [200]);
  t.assert.equal(h.stat(`listener.127.0.0.1_${h.port}.downstream_cx_total`), 2);
  // The proxy's side of each closed connection goes away on a later turn.
  await new Promise<void>((resolve) => {
    const check = () => (h.listener.connectionCount === 0 ? resolve() : setImmediate(check));
    check();
  });
  t.assert.equal(h.listener.connectionCount, 0);
  await h.close();
});

test('drain closes idle keep-alive connections and stops accepting', async (t: TestContext) => {
  t.plan(2);
  const up = await startUpstream('d');
  const h = new ProxyHarness();
  h.addCluster(staticCluster('d', [up.port]));
  await h.listen(
    listener([
      {
        filters: [
          {
            name: 'h',
            typed_config: hcm(routeConfig([{ match: { prefix: '/' }, route: { cluster: 'd' } }])),
          },
        ],
      },
    ]),
  );
  const s = net.connect(h.port, '127.0.0.1');
  let text = '';
  s.on('data', (d) => {
    text += d.toString();
  });
  s.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
  await new Promise<void>((resolve) => {
    const check = () => (text.endsWith('}') ? resolve() : s.once('data', check));
    check();
  });
  const closed = new Promise<void>((r) => s.on('close', () => r()));
  await h.listener.drain();
  await closed;
  t.assert.deepEqual(statuses(text), [200]);
  t.assert.equal(h.stat('http.ingress.downstream_cx_drain_close'), 1);
  await h.close();
  await up.close();
});

test('listener fields that need missing features are NACKed by path', (t: TestContext) => {
  const base = listener([{ filters: [{ name: 'h', typed_config: direct(200) }] }]);
  const chain = (extra: Record<string, unknown>) => ({
    filter_chains: [{ ...extra, filters: [{ name: 'h', typed_config: direct(200) }] }],
  });
  const cases: [Record<string, unknown>, string][] = [
    [
      {
        listener_filters: [
          {
            name: 'envoy.filters.listener.proxy_protocol',
            typed_config: any('envoy.extensions.filters.listener.proxy_protocol.v3.ProxyProtocol', {}),
          },
        ],
      },
      'listener_filters[0].typed_config',
    ],
    [{ listener_filters: [{ name: 'envoy.filters.listener.made_up' }] }, 'listener_filters[0].typed_config'],
    [
      {
        listener_filters: [
          {
            name: 'envoy.filters.listener.tls_inspector',
            typed_config: any('envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector', {
              enable_ja3_fingerprinting: { value: true },
            }),
          },
        ],
      },
      'listener_filters[0].typed_config.enable_ja3_fingerprinting',
    ],
    [{ transparent: { value: true } }, 'transparent'],
    [
      chain({ filter_chain_match: { server_names: ['a.*.example'] } }),
      'filter_chains[0].filter_chain_match.server_names[0]',
    ],
    [
      chain({
        transport_socket: {
          name: 'tls',
          typed_config: any('envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext', {}),
        },
      }),
      'filter_chains[0].transport_socket.typed_config',
    ],
    [
      {
        filter_chains: [
          {
            filter_chain_match: { destination_port: { value: 80 } },
            filters: [{ name: 'h', typed_config: direct(200) }],
          },
          {
            filter_chain_match: { destination_port: { value: 80 } },
            filters: [{ name: 'h', typed_config: direct(201) }],
          },
        ],
      },
      'filter_chains[1].filter_chain_match',
    ],
    [{ bind_to_port: { value: false } }, 'address'],
    [
      {
        filter_chains: [
          {
            filters: [
              { name: 'r', typed_config: any('envoy.extensions.filters.network.rbac.v3.RBAC', {}) },
              { name: 'h', typed_config: direct(200) },
            ],
          },
        ],
      },
      'filter_chains[0].filters[0].typed_config',
    ],
  ];
  t.plan(cases.length);
  for (const [extra, path] of cases) {
    const r = compileListener({ ...base, ...extra }, env());
    t.assert.ok(
      !r.ok && r.errors.some((e) => e.path === path),
      `${path}: ${JSON.stringify(!r.ok && r.errors)}`,
    );
  }
});

test('listener filters, timeouts and capture flags compile with Envoy defaults', (t: TestContext) => {
  t.plan(7);
  const chains = [
    {
      filter_chain_match: { server_names: ['a.example.com'] },
      filters: [{ name: 'h', typed_config: direct(200) }],
    },
    { filters: [{ name: 'h', typed_config: direct(201) }] },
  ];
  const plain = compileListener(listener(chains), env());
  if (!plain.ok) throw new Error(JSON.stringify(plain.errors));
  // server_names without listener filters: Envoy injects a TLS inspector.
  t.assert.deepEqual(
    plain.value.listenerFilters.map((f) => f.kind),
    ['tls_inspector'],
  );
  t.assert.equal(plain.value.listenerFiltersTimeoutMs, 15_000);
  const capture = compileListener(
    listener([{ filters: [{ name: 'h', typed_config: direct(200) }] }], {
      address: { socket_address: { address: '0.0.0.0', port_value: 15001 } },
      use_original_dst: { value: true },
      listener_filters_timeout: { seconds: 0 },
      continue_on_listener_filters_timeout: true,
      listener_filters: [
        {
          name: 'envoy.filters.listener.http_inspector',
          typed_config: any('envoy.extensions.filters.listener.http_inspector.v3.HttpInspector', {}),
          filter_disabled: {
            or_match: {
              rules: [
                { destination_port_range: { start: 22, end: 23 } },
                { destination_port_range: { start: 3306, end: 3307 } },
              ],
            },
          },
        },
      ],
    }),
    env(),
  );
  if (!capture.ok) throw new Error(JSON.stringify(capture.errors));
  const c = capture.value;
  t.assert.deepEqual(
    c.listenerFilters.map((f) => f.kind),
    ['original_dst', 'http_inspector'],
  );
  const disabled = c.listenerFilters[1].disabled!;
  t.assert.deepEqual([22, 80, 3306, 3307].map(disabled), [true, false, true, false]);
  t.assert.equal(c.listenerFiltersTimeoutMs, 0);
  t.assert.equal(c.continueOnListenerFiltersTimeout, true);
  const virtual = compileListener(
    listener([{ filters: [{ name: 'h', typed_config: direct(200) }] }], {
      address: { socket_address: { address: '0.0.0.0', port_value: 9080 } },
      bind_to_port: { value: false },
    }),
    env(),
  );
  t.assert.ok(virtual.ok && !virtual.value.bindToPort);
});

test('no open handles', async () => {
  await assertNoOpenHandles();
});
