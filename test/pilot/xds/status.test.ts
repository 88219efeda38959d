import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CLUSTER_TYPE_URL } from '../../../src/lib/xds/type-urls.ts';
import { newWatchedResource } from '../../../src/pilot/xds/connection.ts';
import { syncState, typeSyncStatus } from '../../../src/pilot/xds/status.ts';

test('sync states follow CSDS: NOT_SENT, STALE, SYNCED, ERROR', () => {
  const w = newWatchedResource(CLUSTER_TYPE_URL, false);
  assert.equal(syncState(w), 'NOT_SENT');
  w.nonceSent = 'n1';
  w.versionSent = 'v1';
  assert.equal(syncState(w), 'STALE');
  w.nonceAcked = 'n1';
  assert.equal(syncState(w), 'SYNCED');
  w.nonceSent = 'n2';
  w.lastNack = { nonce: 'n2', versionInfo: 'v1', rejectedVersion: 'v2', code: 3, message: 'bad', at: 0 };
  assert.equal(syncState(w), 'ERROR');
  w.nonceSent = 'n3';
  assert.equal(syncState(w), 'STALE', 'an older NACK does not make the newest response an error');
});

test('typeSyncStatus is plain data with ISO times and sorted names', () => {
  const w = newWatchedResource(CLUSTER_TYPE_URL, false);
  w.resourceNames = new Set(['b', 'a']);
  w.nonceSent = 'n1';
  w.sentAt = Date.UTC(2026, 0, 2);
  const s = typeSyncStatus(w);
  assert.equal(s.shortType, 'CDS');
  assert.deepEqual(s.resourceNames, ['a', 'b']);
  assert.equal(s.sentAt, '2026-01-02T00:00:00.000Z');
  assert.equal(JSON.parse(JSON.stringify(s)).state, 'STALE');
});
