import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CLUSTER_TYPE_URL } from '../../../src/lib/xds/type-urls.ts';
import type { Connection } from '../../../src/pilot/xds/connection.ts';
import { XdsClient } from '../../../src/proxy/xds/client.ts';
import { ResourceTypeRegistry } from '../../../src/proxy/xds/resource-types/registry.ts';
import {
  newClient,
  nextEvent,
  sidecarNode,
  staticCluster,
  TestControlPlane,
  testNoOpenHandles,
  type World,
  world,
} from './harness.ts';

test('options are validated with messages that name the field', () => {
  const node = sidecarNode();
  assert.throws(
    () => new XdsClient({ server: 'nohost', node }),
    /options\.server must be the control plane's "host:port"/,
  );
  assert.throws(() => new XdsClient({ server: 'a:1', node: { id: '' } }), /options\.node\.id is required/);
  assert.throws(
    () => new XdsClient({ server: 'a:1', node, mode: 'rest' as 'delta' }),
    /options\.mode must be "delta" or "sotw", got "rest"/,
  );
  assert.throws(
    () => new XdsClient({ server: 'a:1', node, initialFetchTimeoutMs: -1 }),
    /options\.initialFetchTimeoutMs must be a non-negative/,
  );
  assert.throws(
    () => new XdsClient({ server: 'a:1', node, resourceTypes: new ResourceTypeRegistry() }),
    /options\.resourceTypes has no type for type\.googleapis\.com\/envoy\.config\.cluster\.v3\.Cluster/,
  );
  assert.throws(() => new XdsClient({ server: 'a:1', node, backoff: { baseMs: -5 } }), /backoff\.baseMs/);
  assert.throws(
    () => new XdsClient({ server: 'a:1', node, keepalive: { timeMs: 0 } }),
    /options\.keepalive\.timeMs must be a positive number up to \d+, got 0/,
  );
  assert.throws(
    () => new XdsClient({ server: 'a:1', node, maxReceiveMessageBytes: Number.NaN }),
    /options\.maxReceiveMessageBytes must be a positive number/,
  );
  assert.throws(
    () => new XdsClient({ server: 'a:1', node, maxReceiveMessageBytes: 1e12 }),
    /options\.maxReceiveMessageBytes must be a positive number up to 2147483647, got 1000000000000/,
  );
});

test('a client that never started has nothing open and reports its idle status', () => {
  const c = new XdsClient({ server: '127.0.0.1:1', node: sidecarNode(), mode: 'sotw' });
  const s = c.status();
  assert.equal(s.connected, false);
  assert.equal(s.initialized, false);
  assert.equal(s.mode, 'sotw');
  assert.deepEqual(
    s.types.map((t) => `${t.shortType}:${t.subscribed}:${t.wildcard}`),
    ['CDS:false:true', 'EDS:false:false', 'LDS:false:true', 'RDS:false:false', 'SDS:false:false'],
  );
  c.close();
  assert.throws(() => c.start(), /start\(\) after close\(\)/);
});

test('callMetadata: asked for when a stream opens and sent as request headers (call credentials)', async () => {
  const cp = await TestControlPlane.start(world({ [CLUSTER_TYPE_URL]: { a: staticCluster('a') } }));
  let n = 0;
  const { client } = newClient(cp, { callMetadata: () => ({ authorization: `Bearer token-${++n}` }) });
  try {
    const seen = nextEvent<Connection<World>>(cp.server, 'connect');
    client.start();
    const conn = await seen;
    assert.deepEqual(conn.call.metadata.get('authorization'), ['Bearer token-1']);
    assert.deepEqual(conn.call.metadata.get('user-agent'), ['mizzen-proxy']);
  } finally {
    client.close();
    await cp.close();
  }
});

testNoOpenHandles();
