/**
 * The ADS server writes responses assembled from resources encoded once (lib/xds/any.ts,
 * discovery.ts, splice.ts), and RDS encodes large route configurations from per-virtual-host
 * entries. Every one of those must be byte for byte what protobufjs writes for the whole
 * message, or proxies would see something other than what the goldens pin.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { anyEntryOf, packAny } from '../../../src/lib/xds/any.ts';
import { encodeDeltaDiscoveryResponse, encodeDiscoveryResponse } from '../../../src/lib/xds/discovery.ts';
import { encodeMessage, messageType } from '../../../src/lib/xds/protos.ts';
import { encodeFieldEntry, encodeSpliced, splicedField } from '../../../src/lib/xds/splice.ts';
import { CLUSTER_TYPE_URL, ROUTE_TYPE_URL } from '../../../src/lib/xds/type-urls.ts';
import { newPushRequest } from '../../../src/pilot/model/push-request.ts';
import { buildRouteConfigurationFor, rdsGenerator } from '../../../src/pilot/xds/generators/rds.ts';
import { assertNoOpenHandles, FakeMizzend, proxyFromSpec } from '../../support/fake-mizzend.ts';

const bytes = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength);

function protobufjs(name: string, message: object): Buffer {
  const type = messageType(name);
  return bytes(type.encode(type.fromObject(message as Record<string, unknown>)).finish());
}

// Sizes around the varint length boundaries (127/128, 16383/16384 bytes).
const messages = [0, 60, 61, 120, 8_150, 8_200, 20_000].map((n, i) => ({
  name: `c${i}${'x'.repeat(n)}`,
  type: 'EDS',
  connect_timeout: { seconds: i },
}));
const clusters = messages.map((m) => packAny(CLUSTER_TYPE_URL, m));

test('packAny: the Any entry and value are what protobufjs writes', () => {
  for (const [i, any] of clusters.entries()) {
    assert.deepEqual(bytes(any.value), protobufjs(CLUSTER_TYPE_URL, messages[i]));
    const entry = anyEntryOf(any);
    assert.ok(entry);
    const message = protobufjs('google.protobuf.Any', any);
    assert.deepEqual(bytes(entry), Buffer.concat([Buffer.from([0x12]), varint(message.length), message]));
  }
});

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Buffer.from(out);
}

test('DiscoveryResponse from shared entries equals protobufjs, with every optional field set or not', () => {
  const full = {
    version_info: '2026-01-01T00:00:00Z/7',
    resources: clusters,
    type_url: CLUSTER_TYPE_URL,
    nonce: 'abc-1',
    control_plane: { identifier: 'mizzend' },
  };
  const variants = [
    full,
    { ...full, version_info: '' },
    { ...full, version_info: undefined },
    { ...full, control_plane: undefined },
    { ...full, resources: clusters.slice(0, 1) },
    { ...full, resources: [] },
  ];
  for (const v of variants) {
    assert.deepEqual(
      encodeDiscoveryResponse(v),
      protobufjs('envoy.service.discovery.v3.DiscoveryResponse', v),
      JSON.stringify({ ...v, resources: v.resources.length }),
    );
  }
  // A foreign Any (not from packAny) is encoded on the fly.
  const foreign = { type_url: CLUSTER_TYPE_URL, value: encodeMessage(CLUSTER_TYPE_URL, { name: 'f' }) };
  const withForeign = { ...full, resources: [foreign, ...clusters] };
  assert.deepEqual(
    encodeDiscoveryResponse(withForeign),
    protobufjs('envoy.service.discovery.v3.DiscoveryResponse', withForeign),
  );
});

test('DeltaDiscoveryResponse from shared entries equals protobufjs', () => {
  const resources = clusters.map((resource, i) => ({ name: `c${i}`, version: `v${i}`, resource }));
  const full = {
    system_version_info: 'v/9',
    resources,
    type_url: CLUSTER_TYPE_URL,
    removed_resources: ['gone-1', 'gone-2'],
    nonce: 'n-9',
    control_plane: { identifier: 'mizzend' },
  };
  for (const v of [full, { ...full, removed_resources: [] }, { ...full, resources: resources.slice(2, 3) }]) {
    assert.deepEqual(
      encodeDeltaDiscoveryResponse(v),
      protobufjs('envoy.service.discovery.v3.DeltaDiscoveryResponse', v),
    );
  }
  // The entry cache is per resource name and version: another version is another entry.
  const again = { ...full, resources: resources.map((r) => ({ ...r, version: `${r.version}b` })) };
  assert.deepEqual(
    encodeDeltaDiscoveryResponse(again),
    protobufjs('envoy.service.discovery.v3.DeltaDiscoveryResponse', again),
  );
});

test('splicing a repeated field equals protobufjs, and refuses what is not a repeated message field', () => {
  const f = splicedField(ROUTE_TYPE_URL, 'virtual_hosts');
  const rc = {
    name: '9080',
    virtual_hosts: Array.from({ length: 3 }, (_, i) => ({ name: `h${i}`, domains: [`h${i}`], routes: [] })),
    validate_clusters: { value: false },
    ignore_port_in_host_matching: true,
  };
  assert.deepEqual(
    encodeSpliced(
      f,
      rc,
      rc.virtual_hosts.map((vh) => encodeFieldEntry(f, vh)),
    ),
    protobufjs(ROUTE_TYPE_URL, rc),
  );
  assert.throws(() => splicedField(ROUTE_TYPE_URL, 'name'), /not a repeated message field/);
});

test('RDS: a route configuration with many virtual hosts is the bytes protobufjs writes', async () => {
  const services = Array.from(
    { length: 24 },
    (_, i) => `---
apiVersion: v1
kind: Service
metadata: {name: svc-${i}, namespace: ns-${i % 3}}
spec: {clusterIP: 10.96.1.${i + 1}, ports: [{name: http, port: 8080}]}
`,
  ).join('');
  const cp = await FakeMizzend.start({
    configYaml: `${services}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: svc-1, namespace: ns-1}
spec:
  hosts: [svc-1]
  http: [{route: [{destination: {host: svc-1}}], retries: {attempts: 4, retryOn: 5xx}, timeout: 3s}]
`,
  });
  try {
    for (const ns of ['ns-0', 'ns-1']) {
      const proxy = proxyFromSpec({
        id: `sidecar~10.0.0.9~client.${ns}~${ns}.svc.cluster.local`,
        metadata: { NAMESPACE: ns, LABELS: { app: 'client' } },
      });
      const [r] = rdsGenerator.generate(
        proxy,
        { typeUrl: ROUTE_TYPE_URL, wildcard: false, resourceNames: new Set(['8080']) },
        { ...newPushRequest({ full: true }), push: cp.push },
      );
      const rc = buildRouteConfigurationFor(cp.push, proxy, '8080');
      assert.ok((rc.virtual_hosts as unknown[]).length >= 24, 'large enough to be spliced');
      assert.deepEqual(bytes(r.resource.value), bytes(encodeMessage(ROUTE_TYPE_URL, rc)), ns);
    }
  } finally {
    await cp.close();
  }
});

test('leaves no open handles', () => assertNoOpenHandles());
