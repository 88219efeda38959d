/**
 * Istio's telemetry filters in generated listeners: metadata exchange first and stats before the
 * router in every sidecar/gateway HCM, network stats right before every tcp_proxy, none in the
 * proxyless gRPC flavour; checked on the wire form (encoded, then decoded: Struct inside
 * TypedStruct must survive protobuf encoding).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import {
  PEER_METADATA_CONFIG_TYPE_URL,
  STATS_PLUGIN_CONFIG_TYPE_URL,
  TYPED_STRUCT_TYPE_URL,
} from '../../../../src/lib/xds/type-urls.ts';
import { fromProtoStruct } from '../../../../src/lib/xds/well-known.ts';
import {
  HTTP_CONNECTION_MANAGER,
  HTTP_ROUTER,
  ISTIO_METADATA_EXCHANGE,
  ISTIO_STATS,
  TCP_PROXY,
} from '../../../../src/pilot/networking/filters/names.ts';
import { addTelemetryFilters } from '../../../../src/pilot/networking/listener/telemetry.ts';
import { assertNoOpenHandles, FakeMizzend, type ProxySpec } from '../../../support/fake-mizzend.ts';

type Obj = Record<string, unknown>;
const TESTDATA = join(import.meta.dirname, '..', 'testdata');

async function listenersOf(caseName: string): Promise<Obj[]> {
  const dir = join(TESTDATA, caseName);
  const cp = await FakeMizzend.start({
    configYaml: readFileSync(join(dir, 'input.yaml'), 'utf8'),
    file: `${caseName}/input.yaml`,
  });
  try {
    const proxy = cp.proxy(parse(readFileSync(join(dir, 'proxy.yaml'), 'utf8')) as ProxySpec);
    return cp.listeners(proxy).map((r) => FakeMizzend.decode<Obj>(r));
  } finally {
    await cp.close();
  }
}

function chainsOf(listener: Obj): Obj[] {
  const chains = [...((listener.filter_chains as Obj[] | undefined) ?? [])];
  if (listener.default_filter_chain) chains.push(listener.default_filter_chain as Obj);
  return chains;
}

/** The TypedStruct's inner type URL and its value as plain JSON. */
function typedStructOf(filter: Obj): { typeUrl: string; value: Obj } {
  const tc = filter.typed_config as Obj;
  assert.equal(tc['@type'], TYPED_STRUCT_TYPE_URL, `${filter.name}: typed_config is not a TypedStruct`);
  return { typeUrl: tc.type_url as string, value: fromProtoStruct(tc.value as { fields?: unknown }) };
}

interface Counts {
  hcms: number;
  tcpProxies: number;
}

/** Asserts the telemetry filters around every HCM and tcp_proxy; returns how many it checked. */
function checkTelemetry(listeners: readonly Obj[], statsValue: Obj): Counts {
  const counts: Counts = { hcms: 0, tcpProxies: 0 };
  for (const l of listeners) {
    for (const chain of chainsOf(l)) {
      const filters = chain.filters as Obj[];
      const where = `${l.name} chain ${chain.name ?? '(unnamed)'}`;
      filters.forEach((f, i) => {
        if (f.name === TCP_PROXY) {
          counts.tcpProxies++;
          assert.equal(i, filters.length - 1, `${where}: tcp_proxy is terminal`);
          assert.equal(filters[i - 1]?.name, ISTIO_STATS, `${where}: istio.stats right before tcp_proxy`);
          assert.deepEqual(typedStructOf(filters[i - 1]), {
            typeUrl: STATS_PLUGIN_CONFIG_TYPE_URL,
            value: statsValue,
          });
        }
        if (f.name === HTTP_CONNECTION_MANAGER) {
          counts.hcms++;
          const http = (f.typed_config as Obj).http_filters as Obj[];
          const names = http.map((h) => h.name);
          assert.equal(names[0], ISTIO_METADATA_EXCHANGE, `${where}: metadata exchange first (${names})`);
          assert.deepEqual(
            names.slice(-2),
            [ISTIO_STATS, HTTP_ROUTER],
            `${where}: stats before router (${names})`,
          );
          assert.equal(names.filter((n) => n === ISTIO_STATS).length, 1);
          assert.deepEqual(typedStructOf(http[0]), { typeUrl: PEER_METADATA_CONFIG_TYPE_URL, value: {} });
          assert.deepEqual(typedStructOf(http[http.length - 2]), {
            typeUrl: STATS_PLUGIN_CONFIG_TYPE_URL,
            value: statsValue,
          });
        }
      });
      if (filters.some((f) => f.name === ISTIO_STATS)) {
        const terminal = filters[filters.length - 1].name;
        assert.ok(
          terminal === TCP_PROXY || terminal === HTTP_CONNECTION_MANAGER,
          `${where}: stats without a user`,
        );
      }
    }
  }
  return counts;
}

test('sidecar HTTP listeners (outbound and inbound): exchange first, stats before the router', async () => {
  const counts = checkTelemetry(await listenersOf('lds-sidecar-inbound'), {});
  assert.ok(counts.hcms > 0, 'the case has HTTP chains');
  assert.ok(counts.tcpProxies > 0, 'the case has tcp_proxy chains (passthrough, blackhole)');
});

test('sidecar TCP and TLS listeners: stats right before every tcp_proxy', async () => {
  const counts = checkTelemetry(await listenersOf('lds-sidecar-tcp-tls'), {});
  assert.ok(counts.tcpProxies > 2);
});

test('gateway listeners: stats without the Host header fallback', async () => {
  const counts = checkTelemetry(await listenersOf('gw-http'), { disable_host_header_fallback: true });
  assert.ok(counts.hcms > 0);
  const tcp = checkTelemetry(await listenersOf('gw-passthrough'), { disable_host_header_fallback: true });
  assert.ok(tcp.tcpProxies > 0);
});

test('proxyless gRPC listeners get no telemetry filters', async () => {
  const listeners = await listenersOf('proxyless-grpc');
  assert.ok(listeners.length > 0);
  const text = JSON.stringify(listeners);
  assert.ok(!text.includes(ISTIO_STATS) && !text.includes(ISTIO_METADATA_EXCHANGE), text.slice(0, 400));
});

test('addTelemetryFilters is idempotent and leaves its input untouched', () => {
  const input = [
    {
      name: 'l',
      filter_chains: [
        { filters: [{ name: TCP_PROXY, typed_config: {} }] },
        {
          filters: [
            {
              name: HTTP_CONNECTION_MANAGER,
              typed_config: { http_filters: [{ name: HTTP_ROUTER, typed_config: {} }] },
            },
          ],
        },
      ],
    },
  ];
  const before = JSON.stringify(input);
  const once = addTelemetryFilters(input, 'sidecar');
  assert.equal(JSON.stringify(input), before);
  const twice = addTelemetryFilters(once, 'sidecar');
  assert.deepEqual(twice, once);
  const chains = once[0].filter_chains as Obj[];
  assert.deepEqual(
    (chains[0].filters as Obj[]).map((f) => f.name),
    [ISTIO_STATS, TCP_PROXY],
  );
  const hcm = (chains[1].filters as Obj[])[0].typed_config as Obj;
  assert.deepEqual(
    (hcm.http_filters as Obj[]).map((f) => f.name),
    [ISTIO_METADATA_EXCHANGE, ISTIO_STATS, HTTP_ROUTER],
  );
});

test('leaves no open handles', async () => {
  await assertNoOpenHandles();
});
