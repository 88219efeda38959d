/**
 * Filter-chain selection with Envoy's order and no backtracking: server names (exact beats the
 * longest wildcard, which beats none), transport protocol, application protocols, destination
 * port and prefix; the original destination is what destination criteria read.
 */
import { type TestContext, test } from 'node:test';
import {
  compileListener,
  type FilterChainConfig,
  selectFilterChain,
} from '../../../src/proxy/listener/listener.ts';
import { StatsStore } from '../../../src/proxy/stats/store.ts';
import { ClusterManager } from '../../../src/proxy/upstream/cluster-manager.ts';
import { hcm, routeConfig } from '../support/harness.ts';

const direct = (status: number) =>
  hcm(routeConfig([{ match: { prefix: '/' }, direct_response: { status } }]));

function chains(defs: [string, Record<string, unknown>][]): FilterChainConfig[] {
  const r = compileListener(
    {
      name: 'l',
      address: { socket_address: { address: '0.0.0.0', port_value: 15006 } },
      filter_chains: defs.map(([name, match], i) => ({
        name,
        filter_chain_match: match,
        filters: [{ name: 'h', typed_config: direct(200 + i) }],
      })),
    },
    { clusterManager: new ClusterManager(new StatsStore()), stats: new StatsStore() },
  );
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return [...r.value.filterChains];
}

const conn = (extra: Record<string, unknown> = {}) => ({
  remoteAddress: '10.1.2.3',
  remotePort: 40000,
  localAddress: '10.0.0.5',
  localPort: 15006,
  secure: false,
  ...extra,
});

test('server names: exact, then the longest wildcard suffix, then chains without names', (t: TestContext) => {
  t.plan(6);
  const c = chains([
    ['exact', { server_names: ['api.example.com'] }],
    ['wild', { server_names: ['*.example.com'] }],
    ['wild-deep', { server_names: ['*.svc.example.com'] }],
    ['none', {}],
  ]);
  const pick = (sni?: string) => selectFilterChain(c, conn({ sni, transportProtocol: 'tls' }))?.name;
  t.assert.equal(pick('api.example.com'), 'exact');
  t.assert.equal(pick('web.example.com'), 'wild');
  t.assert.equal(pick('a.b.example.com'), 'wild');
  t.assert.equal(pick('x.svc.example.com'), 'wild-deep');
  t.assert.equal(pick('example.com'), 'none');
  t.assert.equal(pick(undefined), 'none');
});

test('transport protocol and application protocols (Istio inbound shapes)', (t: TestContext) => {
  t.plan(5);
  const c = chains([
    ['mtls', { transport_protocol: 'tls', application_protocols: ['istio-peer-exchange', 'istio'] }],
    ['tls', { transport_protocol: 'tls' }],
    ['plain-http', { transport_protocol: 'raw_buffer', application_protocols: ['http/1.1', 'h2c'] }],
    ['plain-tcp', { transport_protocol: 'raw_buffer' }],
  ]);
  const pick = (extra: Record<string, unknown>) => selectFilterChain(c, conn(extra))?.name;
  t.assert.equal(pick({ transportProtocol: 'tls', applicationProtocols: ['istio', 'h2'] }), 'mtls');
  t.assert.equal(pick({ transportProtocol: 'tls', applicationProtocols: ['h2'] }), 'tls');
  t.assert.equal(pick({ transportProtocol: 'raw_buffer', applicationProtocols: ['http/1.1'] }), 'plain-http');
  t.assert.equal(pick({ applicationProtocols: ['h2c'] }), 'plain-http');
  // Nothing detected: raw_buffer is the default transport.
  t.assert.equal(pick({}), 'plain-tcp');
});

test('no backtracking: the most specific destination port wins even if it then fails', (t: TestContext) => {
  t.plan(3);
  const c = chains([
    ['port-tls', { destination_port: { value: 9080 }, transport_protocol: 'tls' }],
    ['any', {}],
  ]);
  t.assert.equal(selectFilterChain(c, conn({ localPort: 9080 })), undefined);
  t.assert.equal(selectFilterChain(c, conn({ localPort: 9080, transportProtocol: 'tls' }))?.name, 'port-tls');
  t.assert.equal(selectFilterChain(c, conn({ localPort: 8080 }))?.name, 'any');
});

test('destination criteria read the original destination', (t: TestContext) => {
  t.plan(3);
  const c = chains([
    [
      'svc',
      {
        destination_port: { value: 9080 },
        prefix_ranges: [{ address_prefix: '10.96.0.0', prefix_len: { value: 16 } }],
      },
    ],
    ['port', { destination_port: { value: 9080 } }],
    ['other', {}],
  ]);
  const pick = (address: string, port: number) =>
    selectFilterChain(c, conn({ originalDst: { address, port } }))?.name;
  t.assert.equal(pick('10.96.0.10', 9080), 'svc');
  t.assert.equal(pick('10.97.0.10', 9080), 'port');
  t.assert.equal(pick('10.96.0.10', 80), 'other');
});
