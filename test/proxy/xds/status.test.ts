import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CLUSTER_TYPE_URL } from '../../../src/lib/xds/type-urls.ts';
import {
  genericXdsConfigs,
  ResourceStatusTable,
  summarize,
  type XdsClientStatus,
} from '../../../src/proxy/xds/status.ts';

const C = CLUSTER_TYPE_URL;

test('states move REQUESTED -> ACKED -> NACKED (version kept) -> ACKED (error cleared) -> DOES_NOT_EXIST', () => {
  const t = new ResourceStatusTable();
  t.requested(C, 'a');
  assert.equal(t.get(C, 'a'), 'REQUESTED');
  t.acked(C, 'a', 'v1', 1000, true);
  t.requested(C, 'a'); // re-subscribing does not lose what is known
  assert.equal(t.get(C, 'a'), 'ACKED');
  t.nacked(C, 'a', 'Cluster "a": x: bad', 'v2', 2000);
  const [n] = t.snapshot(C, () => false);
  assert.deepEqual(n, {
    typeUrl: C,
    name: 'a',
    state: 'NACKED',
    version: 'v1',
    lastUpdated: new Date(1000).toISOString(),
    warming: false,
    error: { message: 'Cluster "a": x: bad', version: 'v2', at: new Date(2000).toISOString() },
  });
  t.acked(C, 'a', 'v3', 3000, false); // an identical resource under a new version
  const [a] = t.snapshot(C, () => true);
  assert.equal(a.state, 'ACKED');
  assert.equal(a.version, 'v3');
  assert.equal(a.lastUpdated, new Date(1000).toISOString(), 'unchanged content keeps its update time');
  assert.equal(a.error, undefined);
  assert.equal(a.warming, true);
  t.doesNotExist(C, 'a');
  assert.deepEqual(
    t.snapshot(C, () => true),
    [{ typeUrl: C, name: 'a', state: 'DOES_NOT_EXIST', warming: false }],
  );
  t.forget(C, 'a');
  assert.deepEqual(
    t.snapshot(C, () => false),
    [],
  );
});

test('CSDS generic_xds_configs and the one-line summary', () => {
  const t = new ResourceStatusTable();
  t.acked(C, 'b', 'v1', 0, true);
  t.nacked(C, 'c', 'Cluster "c": y: bad', 'v2', 0);
  const status: XdsClientStatus = {
    server: 'x:1',
    mode: 'delta',
    nodeId: 'n',
    connected: true,
    reconnectAttempts: 0,
    initialized: true,
    types: [
      {
        typeUrl: C,
        shortType: 'CDS',
        subscribed: true,
        wildcard: true,
        resourceNames: [],
        versionInfo: 'v1',
        nonce: 'n1',
        resources: t.snapshot(C, () => false),
      },
    ],
  };
  assert.deepEqual(genericXdsConfigs(status), [
    {
      type_url: C,
      name: 'b',
      version_info: 'v1',
      client_status: 'ACKED',
      last_updated: new Date(0).toISOString(),
    },
    {
      type_url: C,
      name: 'c',
      version_info: '',
      client_status: 'NACKED',
      error_state: {
        last_update_attempt: new Date(0).toISOString(),
        details: 'Cluster "c": y: bad',
        version_info: 'v2',
      },
    },
  ]);
  assert.equal(summarize(status.types[0]), 'CDS ACKED 1 NACKED 1');
});
