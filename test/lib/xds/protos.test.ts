import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  decodeMessage,
  ENVOY_PROTO_FILES,
  encodeMessage,
  envoyProtos,
  hasMessageType,
  messageType,
} from '../../../src/lib/xds/protos.ts';
import * as urls from '../../../src/lib/xds/type-urls.ts';

test('every type URL constant names a message in the loaded root (TypedStruct-only ones excepted)', () => {
  const constants = Object.entries(urls).filter(
    ([k, v]) => k.endsWith('_TYPE_URL') && typeof v === 'string' && !urls.STRUCT_ONLY_TYPE_URLS.has(v),
  );
  for (const url of urls.STRUCT_ONLY_TYPE_URLS)
    assert.equal(hasMessageType(url), false, `${url} is not loaded`);
  assert.ok(constants.length > 30);
  for (const [name, url] of constants) assert.ok(hasMessageType(url as string), `${name} = ${url} is loaded`);
});

test('the root loads once and resolves messages by full name or type URL', () => {
  assert.equal(envoyProtos(), envoyProtos());
  assert.equal(messageType('envoy.config.cluster.v3.Cluster'), messageType(urls.CLUSTER_TYPE_URL));
  assert.ok(ENVOY_PROTO_FILES.every((f) => f.endsWith('.proto')));
});

test('unknown or non-message names are refused with a hint', () => {
  assert.equal(hasMessageType('envoy.nope.v3.Thing'), false);
  assert.equal(
    hasMessageType('envoy.config.cluster.v3.Cluster.DiscoveryType'),
    false,
    'an enum is not a message',
  );
  assert.throws(() => messageType('type.googleapis.com/envoy.nope.v3.Thing'), /ENVOY_PROTO_FILES/);
});

test('snake_case objects encode and decode with Envoy field names (keepCase)', () => {
  const bytes = encodeMessage(urls.CLUSTER_TYPE_URL, {
    name: 'c',
    connect_timeout: { seconds: 3, nanos: 5 },
    lb_policy: 'RING_HASH',
  });
  const back = decodeMessage<Record<string, unknown>>(urls.CLUSTER_TYPE_URL, bytes);
  assert.equal(back.name, 'c');
  assert.deepEqual(back.connect_timeout, { seconds: '3', nanos: 5 });
  assert.equal(back.lb_policy, 'RING_HASH');
  assert.deepEqual(back.health_checks, [], 'defaults and empty arrays are present');
});

test('malformed bytes raise MZ_ERR_INVALID_ARGUMENT naming the type', () => {
  assert.throws(
    () => decodeMessage(urls.LISTENER_TYPE_URL, Uint8Array.from([0x0a, 0xff])),
    (err: Error & { code?: string }) =>
      err.code === 'MZ_ERR_INVALID_ARGUMENT' && /Listener/.test(err.message),
  );
});
