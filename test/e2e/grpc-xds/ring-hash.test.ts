/**
 * grpc-js-xds against mizzend, consistent hashing: a DestinationRule's
 * `consistentHash.httpHeaderName` becomes a RING_HASH cluster and a header hash policy on the
 * route; every call carrying the same header value lands on the same backend, and different
 * values spread over the backends.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertNoOpenHandles } from '../../support/fake-mizzend.ts';
import { call, doc, Mesh, serviceEntry, workloadEntry } from './harness.ts';

let mesh: Mesh | undefined;

test('ring hash on x-user: sticky per user, spread across users', { timeout: 60_000 }, async () => {
  mesh = await Mesh.start();
  const host = 'sticky.example.com';
  const backends = [await mesh.backend('s-a'), await mesh.backend('s-b'), await mesh.backend('s-c')];
  await mesh.apply(
    'sticky.yaml',
    doc(
      serviceEntry('sticky', host, 50051),
      ...backends.map((b) => workloadEntry(b.name, 'sticky', b)),
      `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: sticky, namespace: default}
spec:
  host: ${host}
  trafficPolicy:
    loadBalancer:
      consistentHash:
        httpHeaderName: x-user
        ringHash: {minimumRingSize: 1024}
`,
    ),
  );
  const client = mesh.client(`${host}:50051`, 'sticky-client');
  const chosen = new Map<string, string>();
  for (let u = 0; u < 20; u++) {
    const user = `user-${u}`;
    const seen = new Set<string>();
    for (let i = 0; i < 5; i++) {
      const r = await call(client, { metadata: { 'x-user': user } });
      assert.ok(r.backend, `${user}: ${r.details}`);
      seen.add(r.backend);
    }
    assert.equal(seen.size, 1, `${user} stuck to one backend, got ${[...seen].join(', ')}`);
    chosen.set(user, [...seen][0]);
  }
  const used = new Set(chosen.values());
  assert.ok(used.size >= 2, `20 users hashed onto ${used.size} backend(s): ${[...used].join(', ')}`);
});

test('no open handles', async () => {
  await mesh?.close();
  await assertNoOpenHandles();
});
