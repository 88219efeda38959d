/**
 * grpc-js-xds against mizzend, resilience: fault abort and fault delay, retries on UNAVAILABLE
 * (attempts counted at the backend) and a route timeout — each switched on by Istio YAML in
 * mizzend's config directory and observed on real calls. Time is only ever a lower bound
 * (a delay cannot be shorter than configured), never a race.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { assertNoOpenHandles } from '../../support/fake-mizzend.ts';
import { type Backend, call, doc, Mesh, serviceEntry, workloadEntry } from './harness.ts';

let mesh: Mesh;
let ok: Backend;
const PORT = 50051;

before(async () => {
  mesh = await Mesh.start();
  ok = await mesh.backend('ok');
});

function virtualService(name: string, host: string, http: string): string {
  return `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ${name}, namespace: default}
spec:
  hosts: [${host}]
  http:
${http}`;
}

test('fault abort answers UNAVAILABLE without reaching the backend; other calls pass', {
  timeout: 60_000,
}, async () => {
  const host = 'faults.example.com';
  await mesh.apply(
    'faults.yaml',
    doc(
      serviceEntry('faults', host, PORT),
      workloadEntry('faults-1', 'faults', ok),
      virtualService(
        'faults',
        host,
        `  - match:
    - headers: {x-fault: {exact: abort}}
    fault:
      abort:
        grpcStatus: UNAVAILABLE
        percentage: {value: 100}
    route:
    - destination: {host: ${host}}
  - match:
    - headers: {x-fault: {exact: delay}}
    fault:
      delay:
        fixedDelay: 300ms
        percentage: {value: 100}
    route:
    - destination: {host: ${host}}
  - route:
    - destination: {host: ${host}}
`,
      ),
    ),
  );
  const client = mesh.client(`${host}:${PORT}`, 'fault-client');
  const plain = await call(client);
  assert.equal(plain.backend, 'ok');

  const before = ok.calls;
  for (let i = 0; i < 10; i++) {
    const r = await call(client, { metadata: { 'x-fault': 'abort' } });
    assert.equal(r.code, grpc.status.UNAVAILABLE, `abort: ${r.details}`);
  }
  assert.equal(ok.calls, before, 'aborted calls never reached the backend');

  const delayed = await call(client, { metadata: { 'x-fault': 'delay' } });
  assert.equal(delayed.backend, 'ok', `delay: ${delayed.details}`);
  assert.ok(delayed.elapsedMs >= 300, `the delayed call took ${delayed.elapsedMs.toFixed(1)} ms (>= 300)`);
});

test('retries on UNAVAILABLE: attempts: 3 succeeds on the second attempt; attempts: 0 fails after one', {
  timeout: 60_000,
}, async () => {
  const host = 'retries.example.com';
  const flaky = await mesh.backend('flaky', 'fail-first');
  await mesh.apply(
    'retries.yaml',
    doc(
      serviceEntry('retries', host, PORT),
      workloadEntry('retries-1', 'retries', flaky),
      virtualService(
        'retries',
        host,
        `  - match:
    - headers: {x-retry: {exact: none}}
    retries: {attempts: 0}
    route:
    - destination: {host: ${host}}
  - retries:
      attempts: 3
      retryOn: unavailable
    route:
    - destination: {host: ${host}}
`,
      ),
    ),
  );
  const client = mesh.client(`${host}:${PORT}`, 'retry-client');
  for (let i = 0; i < 5; i++) {
    const r = await call(client, { id: `retried-${i}` });
    assert.equal(r.backend, 'flaky', `call ${i}: ${grpc.status[r.code]} ${r.details}`);
    assert.equal(flaky.attempts.get(`retried-${i}`), 2, 'one failed attempt, one retry');
  }
  for (let i = 0; i < 3; i++) {
    const r = await call(client, { id: `not-retried-${i}`, metadata: { 'x-retry': 'none' } });
    assert.equal(r.code, grpc.status.UNAVAILABLE);
    assert.equal(flaky.attempts.get(`not-retried-${i}`), 1, 'no retry without a retry policy');
  }
});

test('a route timeout ends a call to a backend that never answers with DEADLINE_EXCEEDED', {
  timeout: 60_000,
}, async () => {
  const host = 'timeouts.example.com';
  const hang = await mesh.backend('hang', 'hang');
  await mesh.apply(
    'timeouts.yaml',
    doc(
      serviceEntry('timeouts', host, PORT),
      workloadEntry('timeouts-1', 'timeouts', hang),
      virtualService(
        'timeouts',
        host,
        `  - timeout: 250ms
    route:
    - destination: {host: ${host}}
`,
      ),
    ),
  );
  const client = mesh.client(`${host}:${PORT}`, 'timeout-client');
  const r = await call(client, { id: 'slow' });
  assert.equal(r.code, grpc.status.DEADLINE_EXCEEDED, `${grpc.status[r.code]}: ${r.details}`);
  assert.ok(r.elapsedMs >= 250, `ended after ${r.elapsedMs.toFixed(1)} ms (>= 250)`);
  assert.equal(hang.attempts.get('slow'), 1, 'the call reached the backend before the timeout');
});

test('no open handles', async () => {
  await mesh.close();
  await assertNoOpenHandles();
});
