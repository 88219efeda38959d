import assert from 'node:assert/strict';
import { test } from 'node:test';
import { packAny } from '../../../src/lib/xds/any.ts';
import {
  ADS_DELTA_PATH,
  ADS_STREAM_PATH,
  adsServiceDefinition,
  encodeDiscoveryResponse,
} from '../../../src/lib/xds/discovery.ts';
import { CLUSTER_TYPE_URL } from '../../../src/lib/xds/type-urls.ts';
import { toProtoStruct } from '../../../src/lib/xds/well-known.ts';

test('the ADS service definition has both streams with Envoy paths', () => {
  const def = adsServiceDefinition();
  assert.equal(def.StreamAggregatedResources.path, ADS_STREAM_PATH);
  assert.equal(
    ADS_STREAM_PATH,
    '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources',
  );
  assert.equal(def.DeltaAggregatedResources.path, ADS_DELTA_PATH);
  assert.ok(def.StreamAggregatedResources.requestStream && def.StreamAggregatedResources.responseStream);
});

test('requests decode with defaults filled and the node metadata as a Struct', () => {
  const def = adsServiceDefinition().StreamAggregatedResources;
  const bytes = def.requestSerialize({
    type_url: CLUSTER_TYPE_URL,
    node: { id: 'sidecar~1.2.3.4~a.b~b.svc.cluster.local', metadata: toProtoStruct({ NAMESPACE: 'b' }) },
  });
  const req = def.requestDeserialize(bytes) as unknown as Record<string, unknown>;
  assert.equal(req.type_url, CLUSTER_TYPE_URL);
  assert.deepEqual(req.resource_names, []);
  assert.equal(req.response_nonce, '');
  assert.equal(req.error_detail, null);
  assert.equal((req.node as { id: string }).id, 'sidecar~1.2.3.4~a.b~b.svc.cluster.local');
});

test('a pre-encoded response passes through the serializer unchanged', () => {
  const def = adsServiceDefinition().StreamAggregatedResources;
  const encoded = encodeDiscoveryResponse({
    version_info: 'v1',
    type_url: CLUSTER_TYPE_URL,
    nonce: 'n',
    resources: [packAny(CLUSTER_TYPE_URL, { name: 'c' })],
  });
  assert.equal(def.responseSerialize(encoded), encoded);
  const res = def.responseDeserialize(encoded) as unknown as {
    resources: { type_url: string; value: Buffer }[];
    nonce: string;
  };
  assert.equal(res.nonce, 'n');
  assert.equal(res.resources[0].type_url, CLUSTER_TYPE_URL);
  assert.ok(Buffer.isBuffer(res.resources[0].value));
});
