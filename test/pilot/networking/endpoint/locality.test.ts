import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  groupEndpoints,
  workloadMetadata,
} from '../../../../src/pilot/networking/endpoint/endpoint-builder.ts';
import {
  applyLocalityLoadBalancing,
  type LocalityGroup,
  localityMatch,
  localityPriority,
} from '../../../../src/pilot/networking/endpoint/locality.ts';
import { type Endpoint, HealthStatus, parseLocality } from '../../../../src/registry/model.ts';
import { assertNoOpenHandles } from '../../../support/fake-mizzend.ts';

function ep(address: string, locality: string, extra: Partial<Endpoint> = {}): Endpoint {
  return {
    address,
    port: 9080,
    servicePortName: 'http',
    labels: {},
    locality,
    clusterId: 'Kubernetes',
    weight: 1,
    healthStatus: HealthStatus.HEALTHY,
    tlsMode: 'disabled',
    workloadName: address,
    namespace: 'default',
    ...extra,
  };
}

const PORT = { name: 'http', port: 9080, protocol: 'HTTP' as const };
const PROXY = { locality: parseLocality('us-east1/us-east1-b/rack1'), labels: {} };

function summary(groups: LocalityGroup[]): [string, number, number][] {
  return groups.map((g) => [
    [g.locality.region, g.locality.zone, g.locality.subZone].filter(Boolean).join('/'),
    g.weight,
    g.priority,
  ]);
}

test('locality rules match with wildcards and missing parts', () => {
  const l = parseLocality('us-east1/us-east1-b/rack1');
  assert.ok(localityMatch(l, 'us-east1'));
  assert.ok(localityMatch(l, 'us-east1/*'));
  assert.ok(localityMatch(l, '*'));
  assert.ok(localityMatch(l, 'us-east1/us-east1-b/rack1'));
  assert.ok(!localityMatch(l, 'us-east1/us-east1-c'));
  assert.ok(!localityMatch(l, 'eu-west1/*'));
  assert.equal(localityPriority(l, parseLocality('us-east1/us-east1-b/rack1')), 0);
  assert.equal(localityPriority(l, parseLocality('us-east1/us-east1-b/rack2')), 1);
  assert.equal(localityPriority(l, parseLocality('us-east1/us-east1-c')), 2);
  assert.equal(localityPriority(l, parseLocality('eu-west1')), 3);
});

test('grouping: by locality (sorted), weights summed, unhealthy and duplicate endpoints out, subsets applied', () => {
  const groups = groupEndpoints(
    [
      ep('10.0.0.1', 'us-east1/us-east1-b', { weight: 3, labels: { version: 'v1' } }),
      ep('10.0.0.2', 'us-east1/us-east1-b', { labels: { version: 'v1' } }),
      ep('10.0.0.2', 'us-east1/us-east1-b', { labels: { version: 'v1' } }),
      ep('10.0.0.3', 'eu-west1', { healthStatus: HealthStatus.UNHEALTHY, labels: { version: 'v1' } }),
      ep('10.0.0.4', 'eu-west1', { healthStatus: HealthStatus.DRAINING, labels: { version: 'v1' } }),
      ep('10.0.0.5', 'eu-west1', { labels: { version: 'v2' } }),
      ep('10.0.0.6', 'eu-west1', { servicePortName: 'grpc', labels: { version: 'v1' } }),
    ],
    PORT,
    { version: 'v1' },
  );
  assert.deepEqual(summary(groups), [
    ['eu-west1', 1, 0],
    ['us-east1/us-east1-b', 4, 0],
  ]);
  assert.deepEqual(
    groups.flatMap((g) => g.endpoints.map((e) => e.endpoint.address)),
    ['10.0.0.4', '10.0.0.1', '10.0.0.2'],
  );
});

test('failover priorities: distance from the proxy, failover target before other regions, no gaps', () => {
  const groups = () =>
    groupEndpoints(
      [
        ep('1', 'us-east1/us-east1-b/rack1'),
        ep('2', 'us-east1/us-east1-c'),
        ep('3', 'eu-west1/a'),
        ep('4', 'ap-south1/a'),
      ],
      PORT,
      undefined,
    );
  const setting = { failover: [{ from: 'us-east1', to: 'eu-west1' }] };
  assert.deepEqual(summary(applyLocalityLoadBalancing(groups(), PROXY, setting, true)), [
    ['ap-south1/a', 1, 3],
    ['eu-west1/a', 1, 2],
    ['us-east1/us-east1-b/rack1', 1, 0],
    ['us-east1/us-east1-c', 1, 1],
  ]);
  assert.deepEqual(
    summary(applyLocalityLoadBalancing(groups(), PROXY, setting, false)).map((g) => g[2]),
    [0, 0, 0, 0],
    'without outlier detection nothing fails over',
  );
});

test('distribute: weights from the matching rule, wildcard shares by weight, unnamed localities out', () => {
  const groups = groupEndpoints(
    [
      ep('1', 'us-east1/us-east1-b/rack1', { weight: 2 }),
      ep('2', 'us-east1/us-east1-b/rack2'),
      ep('3', 'eu-west1/a'),
      ep('4', 'ap-south1/a'),
    ],
    PORT,
    undefined,
  );
  const out = applyLocalityLoadBalancing(
    groups,
    PROXY,
    {
      distribute: [{ from: 'us-east1/us-east1-b/*', to: { 'us-east1/us-east1-b/*': 90, 'eu-west1/*': 10 } }],
    },
    false,
  );
  assert.deepEqual(summary(out), [
    ['eu-west1/a', 10, 0],
    ['us-east1/us-east1-b/rack1', 60, 0],
    ['us-east1/us-east1-b/rack2', 30, 0],
  ]);
});

test('failoverPriority: matching labels first, key=value entries, localities split by rank', () => {
  const groups = groupEndpoints(
    [
      ep('1', 'us-east1/a', { labels: { team: 'blue', tier: 'gold' } }),
      ep('2', 'us-east1/a', { labels: { team: 'red', tier: 'gold' } }),
      ep('3', 'eu-west1/a', { labels: { team: 'blue', tier: 'bronze' } }),
    ],
    PORT,
    undefined,
  );
  const out = applyLocalityLoadBalancing(
    groups,
    { locality: parseLocality('us-east1/a'), labels: { team: 'blue' } },
    { failoverPriority: ['team', 'tier=gold'] },
    true,
  );
  assert.deepEqual(summary(out), [
    ['eu-west1/a', 1, 1],
    ['us-east1/a', 1, 0],
    ['us-east1/a', 1, 2],
  ]);
});

test('Istio workload metadata names the canonical service and revision', () => {
  assert.equal(
    workloadMetadata(
      ep('1', '', { workloadName: 'reviews-v2-6c5d', labels: { app: 'reviews', version: 'v2' } }),
    ),
    'reviews-v2-6c5d;default;reviews;v2;Kubernetes',
  );
  assert.equal(
    workloadMetadata(
      ep('1', '', {
        workloadName: 'x',
        labels: {
          app: 'a',
          'service.istio.io/canonical-name': 'canon',
          'service.istio.io/canonical-revision': 'r7',
        },
      }),
    ),
    'x;default;canon;r7;Kubernetes',
  );
  assert.equal(
    workloadMetadata(ep('1', '', { workloadName: 'vm-1' })),
    'vm-1;default;vm-1;latest;Kubernetes',
  );
});

test('leaves no open handles', () => assertNoOpenHandles());
