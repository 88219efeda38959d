/**
 * Load balancer distributions with seeded randomness (exact, not statistical, where the
 * algorithm is deterministic): round robin exact rotation, weighted round robin exact per cycle,
 * least request preferring idle hosts, random within tolerance, the previous-hosts predicate,
 * healthy panic and priority spill-over; plus round robin end to end through the proxy.
 */
import { type TestContext, test } from 'node:test';
import {
  Cluster,
  compileCluster,
  compileClusterLoadAssignment,
} from '../../../src/proxy/upstream/cluster.ts';
import { Host } from '../../../src/proxy/upstream/host.ts';
import { loadBalancerFactory, pickWithPredicate } from '../../../src/proxy/upstream/lb/load-balancer.ts';
import '../../../src/proxy/upstream/lb/index.ts';
import { StatsStore } from '../../../src/proxy/stats/store.ts';
import { startUpstream } from '../../support/fake-upstreams.ts';
import {
  assertNoOpenHandles,
  ProxyHarness,
  request,
  routeConfig,
  seeded,
  staticCluster,
} from '../support/harness.ts';

const cluster = { name: 'c' };
const hosts = (weights: number[]) =>
  weights.map((w, i) => new Host(cluster, `10.0.0.${i + 1}`, 80, { weight: w }));
const settings = { choiceCount: 2, activeRequestBias: 1 };

function counts(picks: (Host | null)[], hs: Host[]): number[] {
  return hs.map((h) => picks.filter((p) => p === h).length);
}

test('round robin: equal weights rotate exactly', (t: TestContext) => {
  t.plan(2);
  const hs = hosts([1, 1, 1]);
  const lb = loadBalancerFactory('ROUND_ROBIN')!(hs, settings, seeded(1));
  const picks = Array.from({ length: 300 }, () => lb.pick(undefined));
  t.assert.deepEqual(counts(picks, hs), [100, 100, 100]);
  // Consecutive picks never repeat a host.
  t.assert.ok(picks.every((p, i) => i === 0 || p !== picks[i - 1]));
});

test('round robin: weights are honoured exactly over each cycle (EDF)', (t: TestContext) => {
  t.plan(2);
  const hs = hosts([1, 2, 3]);
  const lb = loadBalancerFactory('ROUND_ROBIN')!(hs, settings, seeded(2));
  const picks = Array.from({ length: 600 }, () => lb.pick(undefined));
  t.assert.deepEqual(counts(picks, hs), [100, 200, 300]);
  // Smooth: within any window of 6 picks the heaviest host appears 2-4 times.
  const heavy = hs[2];
  let ok = true;
  for (let i = 0; i + 6 <= picks.length; i++) {
    const n = picks.slice(i, i + 6).filter((p) => p === heavy).length;
    if (n < 2 || n > 4) ok = false;
  }
  t.assert.ok(ok);
});

test('least request (P2C) prefers idle hosts', (t: TestContext) => {
  t.plan(3);
  const hs = hosts([1, 1]);
  hs[0].activeRequests = 10;
  const lb = loadBalancerFactory('LEAST_REQUEST')!(hs, settings, seeded(3));
  const picks = Array.from({ length: 1000 }, () => lb.pick(undefined));
  const [busy, idle] = counts(picks, hs);
  // Two samples with replacement: the busy host wins only when both samples are it (~25%).
  t.assert.equal(busy + idle, 1000);
  t.assert.ok(busy > 150 && busy < 350, `busy host picked ${busy} times`);
  const lb3 = loadBalancerFactory('LEAST_REQUEST')!(hs, { choiceCount: 4, activeRequestBias: 1 }, seeded(3));
  const picks3 = Array.from({ length: 1000 }, () => lb3.pick(undefined));
  t.assert.ok(counts(picks3, hs)[0] < 120, 'more choices, fewer picks of the busy host');
});

test('weighted least request divides weight by active requests', (t: TestContext) => {
  t.plan(1);
  const hs = hosts([2, 1]);
  hs[0].activeRequests = 3; // effective weight 2/4 = 0.5 < 1/1
  const lb = loadBalancerFactory('LEAST_REQUEST')!(hs, settings, seeded(4));
  const picks = Array.from({ length: 300 }, () => lb.pick(undefined));
  const [heavyButBusy, light] = counts(picks, hs);
  t.assert.ok(light > heavyButBusy, `${light} vs ${heavyButBusy}`);
});

test('random stays within tolerance of uniform', (t: TestContext) => {
  t.plan(3);
  const hs = hosts([1, 1, 1]);
  const lb = loadBalancerFactory('RANDOM')!(hs, settings, seeded(5));
  const c = counts(
    Array.from({ length: 3000 }, () => lb.pick(undefined)),
    hs,
  );
  for (const n of c) t.assert.ok(n > 900 && n < 1100, `${c}`);
});

test('previous-hosts predicate re-picks up to the configured attempts', (t: TestContext) => {
  t.plan(2);
  const hs = hosts([1, 1, 1]);
  const lb = loadBalancerFactory('ROUND_ROBIN')!(hs, settings, () => 0);
  const tried = [hs[0], hs[1]];
  const ctx = { shouldSelectAnotherHost: (h: Host) => tried.includes(h), hostSelectionRetryCount: 5 };
  t.assert.equal(pickWithPredicate(lb, ctx), hs[2]);
  const none = { shouldSelectAnotherHost: () => true, hostSelectionRetryCount: 2 };
  t.assert.ok(pickWithPredicate(lb, none) !== null, 'after the attempts the last pick is used');
});

function edsCluster(random: () => number): Cluster {
  const r = compileCluster({
    name: 'eds',
    type: 'EDS',
    eds_cluster_config: { service_name: 'svc' },
    lb_policy: 'ROUND_ROBIN',
  });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return new Cluster(r.value, new StatsStore(), { random });
}

function assignment(localities: { priority?: number; endpoints: [string, string?][] }[]) {
  const r = compileClusterLoadAssignment({
    cluster_name: 'svc',
    endpoints: localities.map((l) => ({
      priority: l.priority ?? 0,
      lb_endpoints: l.endpoints.map(([ip, health]) => ({
        endpoint: { address: { socket_address: { address: ip, port_value: 80 } } },
        health_status: health ?? 'HEALTHY',
      })),
    })),
  });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.value;
}

test('healthy panic: below 50% healthy, all hosts share the load', (t: TestContext) => {
  t.plan(2);
  const c = edsCluster(seeded(6));
  c.updateLoadAssignment(
    assignment([{ endpoints: [['10.1.0.1'], ['10.1.0.2', 'UNHEALTHY'], ['10.1.0.3', 'UNHEALTHY']] }]),
  );
  const picked = new Set(Array.from({ length: 30 }, () => c.chooseHost(undefined)?.address));
  t.assert.equal(picked.size, 3);
  t.assert.ok(c.stats.lbHealthyPanic.value > 0);
});

test('priorities: traffic spills to P1 in proportion to P0 unhealthiness', (t: TestContext) => {
  t.plan(3);
  const c = edsCluster(seeded(7));
  c.updateLoadAssignment(
    assignment([
      { priority: 0, endpoints: [['10.2.0.1'], ['10.2.0.2', 'UNHEALTHY']] },
      { priority: 1, endpoints: [['10.2.1.1']] },
    ]),
  );
  // P0 health = 1/2 * 1.4 = 70%: 70% of requests to P0, 30% to P1.
  const picks = Array.from({ length: 1000 }, () => c.chooseHost(undefined)?.address);
  const p1 = picks.filter((a) => a === '10.2.1.1').length;
  t.assert.ok(p1 > 240 && p1 < 360, `P1 got ${p1}`);
  t.assert.equal(picks.includes('10.2.0.2'), false, 'unhealthy hosts are not picked outside panic');
  c.updateLoadAssignment(assignment([{ priority: 0, endpoints: [['10.2.0.1']] }]));
  t.assert.equal(c.hosts().length, 1);
});

test('round robin end to end: three backends get exactly a third each', async (t: TestContext) => {
  t.plan(2);
  const ups = await Promise.all([startUpstream('u0'), startUpstream('u1'), startUpstream('u2')]);
  const proxy = await ProxyHarness.http(
    [
      staticCluster(
        'rr',
        ups.map((u) => u.port),
      ),
    ],
    routeConfig([{ match: { prefix: '/' }, route: { cluster: 'rr' } }]),
  );
  for (let i = 0; i < 30; i++) await request(proxy.port);
  await proxy.close();
  t.assert.deepEqual(
    ups.map((u) => u.count),
    [10, 10, 10],
  );
  t.assert.equal(proxy.stat('cluster.rr.upstream_rq_2xx'), 30);
  for (const u of ups) await u.close();
});

test('no open handles', async () => {
  await assertNoOpenHandles();
});
