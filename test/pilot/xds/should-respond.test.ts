/**
 * shouldRespond / shouldRespondDelta in isolation: every branch of "request, ACK, NACK, stale
 * nonce, subscription change", with the watch state each leaves behind.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DeltaDiscoveryRequest, DiscoveryRequest } from '../../../src/lib/xds/discovery.ts';
import { CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL } from '../../../src/lib/xds/type-urls.ts';
import type { WatchedResource } from '../../../src/pilot/xds/connection.ts';
import { shouldRespond, shouldRespondDelta } from '../../../src/pilot/xds/should-respond.ts';

function req(over: Partial<DiscoveryRequest>): DiscoveryRequest {
  return {
    version_info: '',
    node: null,
    resource_names: [],
    type_url: CLUSTER_TYPE_URL,
    response_nonce: '',
    error_detail: null,
    ...over,
  };
}

function deltaReq(over: Partial<DeltaDiscoveryRequest>): DeltaDiscoveryRequest {
  return {
    node: null,
    type_url: CLUSTER_TYPE_URL,
    resource_names_subscribe: [],
    resource_names_unsubscribe: [],
    initial_resource_versions: {},
    response_nonce: '',
    error_detail: null,
    ...over,
  };
}

/** A watch as it is after the server sent `nonce` at `version`. */
function sent(w: WatchedResource | undefined, nonce: string, version: string): WatchedResource {
  assert.ok(w);
  w.nonceSent = nonce;
  w.versionSent = version;
  return w;
}

test('SotW: the first request is answered; an empty list is a wildcard only for wildcard types', () => {
  const cds = shouldRespond(undefined, req({}), true);
  assert.equal(cds.decision.action, 'respond');
  assert.equal(cds.decision.action === 'respond' && cds.decision.reason, 'initial');
  assert.equal(cds.watched?.wildcard, true);
  assert.equal(cds.watched?.legacyWildcard, true);

  const eds = shouldRespond(undefined, req({ type_url: ENDPOINT_TYPE_URL }), false);
  assert.equal(eds.decision.action, 'respond');
  assert.equal(eds.watched?.wildcard, false);
  assert.equal(eds.watched?.resourceNames.size, 0);
});

test('SotW: "*" subscribes to everything next to explicit names', () => {
  const r = shouldRespond(undefined, req({ resource_names: ['*', 'a'] }), true);
  assert.equal(r.watched?.wildcard, true);
  assert.equal(r.watched?.legacyWildcard, false);
  assert.deepEqual([...(r.watched?.resourceNames ?? [])], ['a']);
});

test('SotW: an ACK (nonce of the last response, same names) is not answered and is recorded', () => {
  const w = sent(shouldRespond(undefined, req({ resource_names: ['a'] }), false).watched, 'n1', 'v1');
  const r = shouldRespond(
    w,
    req({ resource_names: ['a'], response_nonce: 'n1', version_info: 'v1' }),
    false,
    42,
  );
  assert.deepEqual(r.decision, { action: 'ack' });
  assert.equal(w.nonceAcked, 'n1');
  assert.equal(w.versionAcked, 'v1');
  assert.equal(w.ackedAt, 42);
});

test('SotW: a NACK is recorded with its detail and not answered', () => {
  const w = sent(shouldRespond(undefined, req({}), true).watched, 'n2', 'v2');
  w.nonceAcked = 'n1';
  w.versionAcked = 'v1';
  const r = shouldRespond(
    w,
    req({ response_nonce: 'n2', version_info: 'v1', error_detail: { code: 3, message: 'bad listener' } }),
    true,
    7,
  );
  assert.deepEqual(r.decision, { action: 'nack', stale: false });
  assert.deepEqual(w.lastNack, {
    nonce: 'n2',
    versionInfo: 'v1',
    rejectedVersion: 'v2',
    code: 3,
    message: 'bad listener',
    at: 7,
  });
  assert.equal(w.nackCount, 1);
  assert.equal(w.nonceAcked, 'n1', 'a NACK is not an ACK');
});

test('SotW: a NACK of an older response is marked stale', () => {
  const w = sent(shouldRespond(undefined, req({}), true).watched, 'n3', 'v3');
  const r = shouldRespond(w, req({ response_nonce: 'n2', error_detail: { code: 3, message: 'x' } }), true);
  assert.deepEqual(r.decision, { action: 'nack', stale: true });
  assert.equal(w.lastNack?.rejectedVersion, undefined);
});

test('SotW: a stale nonce is ignored, subscription changes in it too', () => {
  const w = sent(shouldRespond(undefined, req({ resource_names: ['a'] }), false).watched, 'n2', 'v2');
  const r = shouldRespond(w, req({ resource_names: ['a', 'b'], response_nonce: 'n1' }), false);
  assert.deepEqual(r.decision, { action: 'stale' });
  assert.deepEqual([...w.resourceNames], ['a']);
  assert.equal(w.nonceAcked, undefined);
});

test('SotW: a changed name list with the current nonce is answered with the delta', () => {
  const w = sent(shouldRespond(undefined, req({ resource_names: ['a', 'b'] }), false).watched, 'n1', 'v1');
  const r = shouldRespond(
    w,
    req({ resource_names: ['b', 'c'], response_nonce: 'n1', version_info: 'v1' }),
    false,
  );
  assert.equal(r.decision.action, 'respond');
  if (r.decision.action !== 'respond') return;
  assert.equal(r.decision.reason, 'subscription');
  assert.deepEqual([...r.decision.delta.subscribed], ['c']);
  assert.deepEqual([...r.decision.delta.unsubscribed], ['a']);
  assert.equal(w.nonceAcked, 'n1', 'it is an ACK as well');
});

test('SotW: a legacy wildcard holds while requests stay empty and ends with explicit names', () => {
  const w = sent(shouldRespond(undefined, req({}), true).watched, 'n1', 'v1');
  assert.deepEqual(shouldRespond(w, req({ response_nonce: 'n1' }), true).decision, { action: 'ack' });
  assert.equal(w.wildcard, true);
  const r = shouldRespond(w, req({ response_nonce: 'n1', resource_names: ['a'] }), true);
  assert.equal(r.decision.action, 'respond');
  assert.equal(w.wildcard, false);
  // Back to empty after explicit names: that is "nothing", not the wildcard.
  const r2 = shouldRespond(w, req({ response_nonce: 'n1', resource_names: [] }), true);
  assert.equal(r2.decision.action, 'respond');
  assert.equal(w.wildcard, false);
  assert.equal(w.resourceNames.size, 0);
});

test('SotW: an empty nonce on a known type starts over; a nonce from another server is a reconnect', () => {
  const w = sent(shouldRespond(undefined, req({}), true).watched, 'n1', 'v1');
  w.nackCount = 2;
  const again = shouldRespond(w, req({}), true);
  assert.equal(again.decision.action, 'respond');
  assert.notEqual(again.watched, w, 'a fresh watch');
  assert.equal(again.watched?.nackCount, 0);

  const reconnect = shouldRespond(
    undefined,
    req({ response_nonce: 'other-server-7', version_info: 'v9' }),
    true,
  );
  assert.equal(reconnect.decision.action === 'respond' && reconnect.decision.reason, 'reconnect');
  const firstWithVersion = shouldRespond(undefined, req({ version_info: 'v9' }), true);
  assert.equal(
    firstWithVersion.decision.action === 'respond' && firstWithVersion.decision.reason,
    'reconnect',
  );
});

test('SotW: a NACK for a type never sent on this stream has no watch to record into', () => {
  const r = shouldRespond(
    undefined,
    req({ response_nonce: 'x', error_detail: { code: 13, message: 'm' } }),
    true,
  );
  assert.deepEqual(r.decision, { action: 'nack', stale: true });
  assert.equal(r.watched, undefined);
});

test('Delta: an empty first subscription is a wildcard for wildcard types only', () => {
  const cds = shouldRespondDelta(undefined, deltaReq({}), true);
  assert.equal(cds.decision.action, 'respond');
  assert.equal(cds.watched?.wildcard, true);
  const eds = shouldRespondDelta(undefined, deltaReq({ type_url: ENDPOINT_TYPE_URL }), false);
  assert.equal(eds.decision.action, 'respond', 'still answered, so the proxy finishes initialising');
  assert.equal(eds.watched?.wildcard, false);
});

test('Delta: initial_resource_versions are remembered as held; the request counts as a reconnect', () => {
  const r = shouldRespondDelta(
    undefined,
    deltaReq({ resource_names_subscribe: ['a'], initial_resource_versions: { a: '1', b: '2' } }),
    false,
  );
  assert.equal(r.decision.action === 'respond' && r.decision.reason, 'reconnect');
  assert.deepEqual(Object.fromEntries(r.watched?.known ?? []), { a: '1', b: '2' });
  assert.deepEqual([...(r.watched?.pendingMissing ?? [])], ['a']);
});

test('Delta: ACK, stale nonce and NACK', () => {
  const w = sent(shouldRespondDelta(undefined, deltaReq({}), true).watched, 'n1', 'v1');
  assert.deepEqual(shouldRespondDelta(w, deltaReq({ response_nonce: 'n0' }), true).decision, {
    action: 'stale',
  });
  assert.equal(w.nonceAcked, undefined);
  assert.deepEqual(shouldRespondDelta(w, deltaReq({ response_nonce: 'n1' }), true).decision, {
    action: 'ack',
  });
  assert.equal(w.versionAcked, 'v1');
  sent(w, 'n2', 'v2');
  const nack = shouldRespondDelta(
    w,
    deltaReq({ response_nonce: 'n2', error_detail: { code: 3, message: 'no' } }),
    true,
  );
  assert.deepEqual(nack.decision, { action: 'nack', stale: false });
  assert.equal(w.lastNack?.versionInfo, 'v1', 'the proxy still holds what it last ACKed');
  assert.equal(w.lastNack?.rejectedVersion, 'v2');
});

test('Delta: subscribe answers only new names; unsubscribe is not answered and forgets held versions', () => {
  const w = sent(
    shouldRespondDelta(undefined, deltaReq({ resource_names_subscribe: ['a'] }), false).watched,
    'n1',
    'v1',
  );
  w.known?.set('a', 'x');
  const sub = shouldRespondDelta(w, deltaReq({ resource_names_subscribe: ['a', 'b'] }), false);
  assert.equal(sub.decision.action, 'respond');
  if (sub.decision.action === 'respond') assert.deepEqual([...sub.decision.delta.subscribed], ['b']);
  const unsub = shouldRespondDelta(w, deltaReq({ resource_names_unsubscribe: ['a'] }), false);
  assert.deepEqual(unsub.decision, { action: 'none' });
  assert.deepEqual([...w.resourceNames], ['b']);
  assert.equal(w.known?.has('a'), false);
});

test('Delta: "*" turns the wildcard on and off; off forgets what only the wildcard brought', () => {
  const w = sent(
    shouldRespondDelta(undefined, deltaReq({ resource_names_subscribe: ['a'] }), true).watched,
    'n1',
    'v1',
  );
  assert.equal(w.wildcard, false);
  const on = shouldRespondDelta(w, deltaReq({ resource_names_subscribe: ['*'] }), true);
  assert.equal(on.decision.action, 'respond');
  assert.equal(w.wildcard, true);
  w.known?.set('a', '1');
  w.known?.set('b', '1');
  const off = shouldRespondDelta(w, deltaReq({ resource_names_unsubscribe: ['*'] }), true);
  assert.deepEqual(off.decision, { action: 'none' });
  assert.equal(w.wildcard, false);
  assert.deepEqual([...(w.known?.keys() ?? [])], ['a']);
});
