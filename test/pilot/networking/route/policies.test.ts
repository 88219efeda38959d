/**
 * Per-route policies: retries, fault, CORS, mirrors and header mutations, each translation
 * checked against the protos it ends up in.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { validateMessageShape } from '../../../../src/lib/xds/message-shape.ts';
import {
  CORS_POLICY_TYPE_URL,
  HTTP_FAULT_TYPE_URL,
  ROUTE_TYPE_URL,
} from '../../../../src/lib/xds/type-urls.ts';
import { buildCorsPolicy } from '../../../../src/pilot/networking/route/cors.ts';
import { buildHttpFault } from '../../../../src/pilot/networking/route/fault.ts';
import { translateHeaderOperations } from '../../../../src/pilot/networking/route/headers.ts';
import { mirrorPercent, mirrorPolicyPercent } from '../../../../src/pilot/networking/route/mirror.ts';
import {
  buildRetryPolicy,
  DEFAULT_RETRY_ON,
  HOST_SELECTION_RETRY_MAX_ATTEMPTS,
} from '../../../../src/pilot/networking/route/retry.ts';

type Proto = Record<string, unknown>;

function assertRetryShape(policy: Proto | undefined): void {
  const rc = {
    name: 'x',
    virtual_hosts: [
      {
        name: 'v',
        domains: ['*'],
        routes: [{ match: { prefix: '/' }, route: { cluster: 'c', retry_policy: policy } }],
      },
    ],
  };
  assert.deepEqual(validateMessageShape(ROUTE_TYPE_URL, rc), []);
}

test("no retries set: Istio's default policy", () => {
  const p = buildRetryPolicy(undefined, false) as Proto;
  assertRetryShape(p);
  assert.equal(p.retry_on, DEFAULT_RETRY_ON);
  assert.deepEqual(p.num_retries, { value: 2 });
  assert.equal(p.host_selection_retry_max_attempts, HOST_SELECTION_RETRY_MAX_ATTEMPTS);
  assert.deepEqual(p.retriable_status_codes, [503]);
  assert.equal((p.retry_host_predicate as Proto[])[0].name, 'envoy.retry_host_predicates.previous_hosts');
});

test('attempts 0 turns retries off', () => {
  assert.equal(buildRetryPolicy({ attempts: 0, retryOn: '5xx' }, false), undefined);
});

test('status codes in retryOn become retriable codes; other numbers stay names', () => {
  const p = buildRetryPolicy({ attempts: 1, retryOn: '503, 999 ,reset' }, false) as Proto;
  assertRetryShape(p);
  assert.equal(p.retry_on, '999,reset,retriable-status-codes');
  assert.deepEqual(p.retriable_status_codes, [503]);
  const onlyCodes = buildRetryPolicy({ attempts: 1, retryOn: '502,504' }, false) as Proto;
  assert.equal(onlyCodes.retry_on, 'retriable-status-codes');
  assert.deepEqual(onlyCodes.retriable_status_codes, [502, 504]);
});

test('per-try timeout, backoff, remote localities and the previous-hosts switch', () => {
  const p = buildRetryPolicy(
    {
      attempts: 4,
      perTryTimeout: '2s',
      backoff: '25ms',
      retryRemoteLocalities: true,
      retryIgnorePreviousHosts: true,
    },
    true,
  ) as Proto;
  assertRetryShape(p);
  assert.deepEqual(p.per_try_timeout, { seconds: 2, nanos: 0 });
  assert.deepEqual(p.retry_back_off, { base_interval: { seconds: 0, nanos: 25_000_000 } });
  assert.equal((p.retry_priority as Proto).name, 'envoy.retry_priorities.previous_priorities');
  // Consistent hashing drops the predicate by default, an explicit true brings it back.
  assert.equal((p.retry_host_predicate as Proto[]).length, 1);
  const off = buildRetryPolicy({ attempts: 1, retryIgnorePreviousHosts: false }, false) as Proto;
  assert.equal(off.retry_host_predicate, undefined);
});

test('fault delay and abort percentages: per million, or the legacy integer per hundred', () => {
  const f = buildHttpFault({
    delay: { fixedDelay: '3s', percentage: { value: 33.3333 } },
    abort: { httpStatus: 418, percentage: { value: 50 } },
  }) as Proto;
  assert.deepEqual(validateMessageShape(HTTP_FAULT_TYPE_URL, f), []);
  assert.deepEqual(f.delay, {
    fixed_delay: { seconds: 3, nanos: 0 },
    percentage: { numerator: 333333, denominator: 'MILLION' },
  });
  assert.deepEqual(f.abort, { http_status: 418, percentage: { numerator: 500000, denominator: 'MILLION' } });
  const legacy = buildHttpFault({
    delay: { fixedDelay: '1ms', percent: 7 },
    abort: { grpcStatus: 'NOT_FOUND' },
  }) as Proto;
  assert.deepEqual((legacy.delay as Proto).percentage, { numerator: 7, denominator: 'HUNDRED' });
  assert.deepEqual(legacy.abort, { grpc_status: 5 });
  assert.equal(buildHttpFault({ abort: {} }), undefined);
  assert.equal(buildHttpFault(undefined), undefined);
});

test('CORS: origins, joined lists, whole-second max age, preflight forwarding', () => {
  const c = buildCorsPolicy({
    allowOrigins: [{ exact: 'https://a' }, { regex: 'https://.*' }],
    allowMethods: ['GET'],
    maxAge: '90s',
    unmatchedPreflights: 'IGNORE',
  });
  assert.deepEqual(validateMessageShape(CORS_POLICY_TYPE_URL, c), []);
  assert.deepEqual(c, {
    forward_not_matching_preflights: { value: false },
    allow_origin_string_match: [{ exact: 'https://a' }, { safe_regex: { regex: 'https://.*' } }],
    filter_enabled: { default_value: { numerator: 100, denominator: 'HUNDRED' } },
    allow_methods: 'GET',
    max_age: '90',
  });
  const legacy = buildCorsPolicy({ allowOrigin: ['https://old'], allowCredentials: false });
  assert.deepEqual(legacy.allow_origin_string_match, [{ exact: 'https://old' }]);
  assert.deepEqual(legacy.allow_credentials, { value: false });
  assert.deepEqual(legacy.forward_not_matching_preflights, { value: true });
});

test('mirror percentages: default 100%, explicit 0 disables, legacy integer percent', () => {
  const d = { host: 'm' };
  assert.deepEqual(mirrorPercent({ mirror: d }), {
    default_value: { numerator: 100, denominator: 'HUNDRED' },
  });
  assert.equal(mirrorPercent({ mirror: d, mirrorPercentage: { value: 0 } }), undefined);
  assert.deepEqual(mirrorPercent({ mirror: d, mirrorPercent: 30 }), {
    default_value: { numerator: 30, denominator: 'HUNDRED' },
  });
  assert.equal(mirrorPercent({ mirror: d, mirror_percent: 0 }), undefined);
  assert.deepEqual(mirrorPolicyPercent({ destination: d, percentage: { value: 0.5 } }), {
    default_value: { numerator: 5000, denominator: 'MILLION' },
  });
  assert.equal(mirrorPolicyPercent({ destination: d, percentage: { value: 0 } }), undefined);
});

test('header operations: sorted, set overwrites, add appends, pseudo-headers and host never mutated', () => {
  const ops = translateHeaderOperations({
    request: {
      set: { b: '2', a: '1', host: 'h' },
      add: { ':authority': 'x', c: '3' },
      remove: ['z', ':path', 'Host'],
    },
    response: { add: { r: 'v' }, remove: ['s'] },
  });
  assert.deepEqual(ops.requestHeadersToAdd, [
    { header: { key: 'a', value: '1' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
    { header: { key: 'b', value: '2' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
    { header: { key: 'c', value: '3' }, append_action: 'APPEND_IF_EXISTS_OR_ADD' },
  ]);
  assert.deepEqual(ops.requestHeadersToRemove, ['z']);
  assert.deepEqual(ops.responseHeadersToAdd, [
    { header: { key: 'r', value: 'v' }, append_action: 'APPEND_IF_EXISTS_OR_ADD' },
  ]);
  assert.deepEqual(ops.responseHeadersToRemove, ['s']);
  // `set` wins over `add` for the authority.
  assert.equal(ops.authority, 'h');
});
