/**
 * grpc-js-xds against mizzend, routing: a weighted 80/20 split, header-match routing, a
 * VirtualService change and an endpoint removal taking effect in a running client — all of it
 * configured only by Istio YAML in mizzend's config directory.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import {
  CLUSTER_TYPE_URL,
  ENDPOINT_TYPE_URL,
  LISTENER_TYPE_URL,
  ROUTE_TYPE_URL,
} from '../../../src/lib/xds/type-urls.ts';
import type { TypeSyncStatus } from '../../../src/pilot/xds/status.ts';
import { assertNoOpenHandles } from '../../support/fake-mizzend.ts';
import { type Backend, call, doc, Mesh, serviceEntry, tally, workloadEntry } from './harness.ts';

let mesh: Mesh;
let v1: Backend;
let v2: Backend;

const HOST = 'echo.example.com';
const PORT = 50051;
const TARGET = `${HOST}:${PORT}`;

const SUBSETS = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: echo, namespace: default}
spec:
  host: ${HOST}
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
`;

function split(w1: number, w2: number): string {
  return `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: echo, namespace: default}
spec:
  hosts: [${HOST}]
  http:
  - route:
    - destination: {host: ${HOST}, subset: v1}
      weight: ${w1}
    - destination: {host: ${HOST}, subset: v2}
      weight: ${w2}
`;
}

before(async () => {
  mesh = await Mesh.start();
  v1 = await mesh.backend('echo-v1');
  v2 = await mesh.backend('echo-v2');
  await mesh.apply(
    'echo.yaml',
    doc(
      serviceEntry('echo', HOST, PORT),
      workloadEntry('echo-v1', 'echo', v1, { version: 'v1' }),
      workloadEntry('echo-v2', 'echo', v2, { version: 'v2' }),
      SUBSETS,
    ),
  );
});

test('a weighted 80/20 split holds within 5 points over 1,000 calls, and the client ACKs every type', {
  timeout: 60_000,
}, async () => {
  await mesh.apply('echo-vs.yaml', split(80, 20));
  const client = mesh.client(TARGET, 'split-client');
  const counts = await tally(client, 1000);
  const share = ((counts.get('echo-v1') ?? 0) / 1000) * 100;
  assert.equal(
    (counts.get('echo-v1') ?? 0) + (counts.get('echo-v2') ?? 0),
    1000,
    JSON.stringify([...counts]),
  );
  assert.ok(Math.abs(share - 80) <= 5, `v1 got ${share}% (want 80 ± 5)`);

  // CSDS's view from the control plane: every type ACKed, nothing NACKed.
  const status = mesh.server.ads.syncStatus().find((p) => p.nodeId?.includes('split-client'));
  assert.ok(status, 'the client is a connected proxy');
  for (const t of [LISTENER_TYPE_URL, ROUTE_TYPE_URL, CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL]) {
    const sync: TypeSyncStatus | undefined = status.types.find((x) => x.typeUrl === t);
    assert.equal(sync?.state, 'SYNCED', `${t}: ${JSON.stringify(sync)}`);
    assert.equal(sync?.nackCount, 0);
  }
});

test('header-match routing: x-version: v2 goes to v2, everything else to v1', {
  timeout: 60_000,
}, async () => {
  const HDR_HOST = 'echo-hdr.example.com';
  await mesh.apply(
    'echo-hdr.yaml',
    doc(
      serviceEntry('echo-hdr', HDR_HOST, PORT),
      workloadEntry('echo-hdr-v1', 'echo-hdr', v1, { version: 'v1' }),
      workloadEntry('echo-hdr-v2', 'echo-hdr', v2, { version: 'v2' }),
      SUBSETS.replace('name: echo,', 'name: echo-hdr,').replace(`host: ${HOST}`, `host: ${HDR_HOST}`),
      `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: echo-hdr, namespace: default}
spec:
  hosts: [${HDR_HOST}]
  http:
  - match:
    - headers:
        x-version: {exact: v2}
    route:
    - destination: {host: ${HDR_HOST}, subset: v2}
  - route:
    - destination: {host: ${HDR_HOST}, subset: v1}
`,
    ),
  );
  const client = mesh.client(`${HDR_HOST}:${PORT}`, 'header-client');
  const matched = await tally(client, 50, { metadata: { 'x-version': 'v2' } });
  assert.deepEqual([...matched], [['echo-v2', 50]]);
  const other = await tally(client, 50, { metadata: { 'x-version': 'v3' } });
  assert.deepEqual([...other], [['echo-v1', 50]]);
  const none = await tally(client, 50);
  assert.deepEqual([...none], [['echo-v1', 50]]);
});

test('a VirtualService change and an endpoint removal reach a running client without a restart', {
  timeout: 60_000,
}, async () => {
  const CHG_HOST = 'echo-chg.example.com';
  const vs = (w1: number, w2: number) =>
    split(w1, w2).replace('name: echo,', 'name: echo-chg,').replaceAll(HOST, CHG_HOST);
  const v3 = await mesh.backend('echo-v3');
  await mesh.apply(
    'echo-chg.yaml',
    doc(
      serviceEntry('echo-chg', CHG_HOST, PORT),
      workloadEntry('echo-chg-v1', 'echo-chg', v1, { version: 'v1' }),
      workloadEntry('echo-chg-v2', 'echo-chg', v2, { version: 'v2' }),
      SUBSETS.replace('name: echo,', 'name: echo-chg,').replace(`host: ${HOST}`, `host: ${CHG_HOST}`),
    ),
  );
  await mesh.apply('echo-chg-vs.yaml', vs(100, 0));
  await mesh.apply('echo-chg-v3.yaml', workloadEntry('echo-chg-v3', 'echo-chg', v3, { version: 'v1' }));
  const pod = 'change-client';
  const client = mesh.client(`${CHG_HOST}:${PORT}`, pod);
  const first = await tally(client, 60);
  assert.deepEqual([...first.keys()].sort(), ['echo-v1', 'echo-v3'], 'round robin over both v1 endpoints');

  // Route everything to v2: RDS is pushed and ACKed; from then on no call reaches v1.
  const toV2 = await mesh.apply('echo-chg-vs.yaml', vs(0, 100));
  assert.ok(toV2, 'the VirtualService change was pushed');
  await mesh.ackedAfter(pod, ROUTE_TYPE_URL, toV2.version);
  await mesh.ackedAfter(pod, ENDPOINT_TYPE_URL, toV2.version, `outbound|${PORT}|v2|${CHG_HOST}`);
  const routed = await tally(client, 50);
  assert.deepEqual([...routed], [['echo-v2', 50]]);

  // Back to v1, then remove the v1 endpoint at the v3 backend: an EDS-only push.
  const back = await mesh.apply('echo-chg-vs.yaml', vs(100, 0));
  assert.ok(back);
  await mesh.ackedAfter(pod, ROUTE_TYPE_URL, back.version);
  await mesh.ackedAfter(pod, ENDPOINT_TYPE_URL, back.version, `outbound|${PORT}|v1|${CHG_HOST}`);
  const before = await tally(client, 60);
  assert.deepEqual([...before.keys()].sort(), ['echo-v1', 'echo-v3']);
  const gone = await mesh.apply('echo-chg-v3.yaml', null);
  assert.ok(gone);
  assert.equal(gone.full, false, 'removing a workload is an incremental (EDS) push');
  await mesh.ackedAfter(pod, ENDPOINT_TYPE_URL, gone.version);
  const v3Before = v3.calls;
  const afterRemoval = await tally(client, 60);
  assert.deepEqual([...afterRemoval], [['echo-v1', 60]]);
  assert.equal(v3.calls, v3Before, 'the removed endpoint got no call');
  const one = await call(client);
  assert.equal(one.backend, 'echo-v1');
});

test('no open handles', async () => {
  await mesh.close();
  await assertNoOpenHandles();
});
