/** proxy-status's words per type and its table rows, from literal /debug/syncz entries. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SyncEntry } from '../../src/cli/commands/proxy-config-client.ts';
import { PROXY_STATUS_HEADER, proxyStatusRows, xdsStatus } from '../../src/cli/commands/proxy-status.ts';

const T = 'type.googleapis.com/envoy.config.';

test('istioctl words: NOT SENT, SYNCED, STALE (Never Acknowledged), STALE — a NACK is STALE', () => {
  const base = { type_url: `${T}cluster.v3.Cluster`, type: 'CDS', state: '' };
  assert.equal(xdsStatus(undefined), 'NOT SENT');
  assert.equal(xdsStatus({ ...base }), 'NOT SENT');
  assert.equal(xdsStatus({ ...base, sent_nonce: 'n1', acked_nonce: 'n1' }), 'SYNCED');
  assert.equal(xdsStatus({ ...base, sent_nonce: 'n1' }), 'STALE (Never Acknowledged)');
  assert.equal(xdsStatus({ ...base, sent_nonce: 'n2', acked_nonce: 'n1' }), 'STALE');
  assert.equal(
    xdsStatus({ ...base, sent_nonce: 'n2', acked_nonce: 'n1', last_nack: { nonce: 'n2', message: 'bad' } }),
    'STALE',
  );
});

test('rows: sorted by name, one column per type in istioctl order, mizzend and the version', () => {
  const entry = (proxy: string, types: SyncEntry['types']): SyncEntry => ({
    proxy,
    node_id: proxy,
    cluster_id: 'Kubernetes',
    istio_version: '1.24.0',
    peer: '127.0.0.1:1',
    types,
  });
  const rows = proxyStatusRows(
    [
      entry('z.default', []),
      entry('a.default', [
        {
          type_url: `${T}route.v3.RouteConfiguration`,
          type: 'RDS',
          state: 'STALE',
          sent_nonce: '2',
          acked_nonce: '1',
        },
        {
          type_url: `${T}cluster.v3.Cluster`,
          type: 'CDS',
          state: 'SYNCED',
          sent_nonce: '1',
          acked_nonce: '1',
        },
      ]),
    ],
    '127.0.0.1:15014',
  );
  assert.deepEqual(PROXY_STATUS_HEADER, [
    'NAME',
    'CLUSTER',
    'CDS',
    'LDS',
    'EDS',
    'RDS',
    'ECDS',
    'ISTIOD',
    'VERSION',
  ]);
  assert.deepEqual(rows, [
    [
      'a.default',
      'Kubernetes',
      'SYNCED',
      'NOT SENT',
      'NOT SENT',
      'STALE',
      'NOT SENT',
      '127.0.0.1:15014',
      '1.24.0',
    ],
    [
      'z.default',
      'Kubernetes',
      'NOT SENT',
      'NOT SENT',
      'NOT SENT',
      'NOT SENT',
      'NOT SENT',
      '127.0.0.1:15014',
      '1.24.0',
    ],
  ]);
});
