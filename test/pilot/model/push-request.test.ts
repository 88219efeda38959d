import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  configsOfKindsChanged,
  formatReasons,
  isGlobalPush,
  mergePushRequests,
  newPushRequest,
  TriggerReason,
  withPushContext,
} from '../../../src/pilot/model/push-request.ts';

const vs = (name: string) => ({ kind: 'VirtualService', namespace: 'default', name });
const se = (name: string) => ({ kind: 'ServiceEntry', namespace: 'default', name });

test('merge: full wins, configs unite, reasons add up, the earliest start and latest context stay', () => {
  const a = newPushRequest({
    full: false,
    configsUpdated: [se('a')],
    reason: TriggerReason.ENDPOINT_UPDATE,
    start: 10,
    push: 'ctx1',
  });
  const b = newPushRequest({
    full: true,
    configsUpdated: [vs('r'), se('a')],
    reason: TriggerReason.CONFIG_UPDATE,
    start: 20,
    push: 'ctx2',
  });
  const c = newPushRequest({
    full: false,
    configsUpdated: [],
    reason: TriggerReason.ENDPOINT_UPDATE,
    start: 5,
    push: 'ctx3',
  });
  const m = mergePushRequests(mergePushRequests(a, b), c);
  assert.equal(m.full, true);
  assert.deepEqual([...m.configsUpdated.keys()].sort(), [
    'ServiceEntry/default/a',
    'VirtualService/default/r',
  ]);
  assert.deepEqual(Object.fromEntries(m.reason), { endpoint: 2, config: 1 });
  assert.equal(m.start, 5);
  assert.equal(m.push, 'ctx3');
  assert.equal(formatReasons(m), 'endpoint:2 config:1');
});

test('a full push without configs means "everything" and absorbs specific ones', () => {
  const all = newPushRequest({ full: true, reason: TriggerReason.GLOBAL_UPDATE });
  const one = newPushRequest({ full: true, configsUpdated: [vs('r')], reason: TriggerReason.CONFIG_UPDATE });
  assert.equal(isGlobalPush(all), true);
  assert.equal(isGlobalPush(one), false);
  const m = mergePushRequests(one, all);
  assert.equal(m.configsUpdated.size, 0);
  assert.equal(isGlobalPush(m), true);
  assert.equal(configsOfKindsChanged(m, new Set(['Gateway'])), true);
  assert.equal(configsOfKindsChanged(one, new Set(['Gateway'])), false);
  assert.equal(configsOfKindsChanged(one, new Set(['VirtualService'])), true);
});

test('deltas merge; a request is bound to its push context', () => {
  const a = newPushRequest({ full: true, delta: { subscribed: new Set(['x']), unsubscribed: new Set() } });
  const b = newPushRequest({
    full: true,
    delta: { subscribed: new Set(['y']), unsubscribed: new Set(['z']) },
  });
  const m = mergePushRequests(a, b);
  assert.deepEqual([...(m.delta?.subscribed ?? [])].sort(), ['x', 'y']);
  assert.deepEqual([...(m.delta?.unsubscribed ?? [])], ['z']);
  const bound = withPushContext(a, { version: 7 });
  assert.deepEqual(bound.push, { version: 7 });
  assert.equal(a.push, undefined);
});
