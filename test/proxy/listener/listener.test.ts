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
  const cases: [Record<string, unknown>, string][] = [
    [{ listener_filters: [{ name: 'envoy.filters.listener.tls_inspector' }] }, 'listener_filters'],
    [{ use_original_dst: { value: true } }, 'use_original_dst'],
    [
      {
        filter_chains: [
          {
            filter_chain_match: { server_names: ['a.example'] },
            filters: [{ name: 'h', typed_config: direct(200) }],
          },
        ],
      },
      'filter_chains[0].filter_chain_match.server_names',
    ],
    [
      {
        filter_chains: [
          { transport_socket: { name: 'tls' }, filters: [{ name: 'h', typed_config: direct(200) }] },
        ],
      },
      'filter_chains[0].transport_socket',
    ],
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

test('no open handles', async () => {
  await assertNoOpenHandles();
});
