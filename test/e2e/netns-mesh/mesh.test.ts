/**
 * The mesh with real transparent capture: every workload and the test client in its own network
 * namespace, `mizzen-proxy iptables` rules, sidecars as uid 1337 in REDIRECT mode, mizzend in
 * the node namespace. Clients call plain `http://web:8080`; nothing is sent from the root
 * namespace. Covers weighted and header routing, retries masking a failing endpoint (attempts
 * counted by the backend), TCP and WebSocket through capture, a live config change, and a
 * workload killed and restarted.
 *
 * Skipped with the reason when the machine cannot build namespaces (not root, no iproute2 or
 * iptables: `.ci/run` installs them) or when the original-destination addon is missing.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { NetnsMesh, SAMPLES_MAIN } from '../../../src/cli/demo/netns-mesh.ts';
import { netnsUnavailableReason } from '../../../src/cli/demo/netns-topology.ts';
import { loadOriginalDstAddon } from '../../../src/proxy/listener/original-dst.ts';
import { assertNoOpenHandles } from '../../config/helpers.ts';
import { webRouting } from './support.ts';

const BACKEND = join(import.meta.dirname, 'backend.ts');
const CLIENT = join(import.meta.dirname, 'client.ts');
const NS = 'mesh-e2e';

const envReason = await netnsUnavailableReason();
const addon = loadOriginalDstAddon();
const skip = envReason
  ? `needs root, iproute2, iptables and setpriv: ${envReason}`
  : 'error' in addon
    ? `needs the original-destination addon: ${addon.error}`
    : false;

const backend = (name: string, app: string, version: string, env: Record<string, string> = {}) => ({
  name,
  app,
  version,
  command: [process.execPath, BACKEND],
  env: { NAME: name, VERSION: version, PORT: '8080', ...env },
});
const sample = (app: string, port: number) => ({
  name: `${app}-v1`,
  app,
  version: 'v1',
  command: [
    process.execPath,
    SAMPLES_MAIN,
    app,
    '--port',
    String(port),
    '--host',
    '0.0.0.0',
    '--exit-with-stdin',
  ],
  ready: /^ready name=/,
});

const FLAKY = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: flaky, namespace: ${NS}}
spec:
  host: flaky
  trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: flaky, namespace: ${NS}}
spec:
  hosts: [flaky]
  http:
    - route: [{destination: {host: flaky}}]
      retries: {attempts: 3, retryOn: 5xx}
`;

interface HttpTally {
  statuses: Record<string, number>;
  versions: Record<string, number>;
  errors: Record<string, number>;
}

describe('namespace mesh with transparent capture', { skip, timeout: 600_000 }, () => {
  let mesh: NetnsMesh | undefined;
  const hits = new Map<string, number>();
  const output: string[] = [];

  async function client<T>(...args: string[]): Promise<T> {
    assert.ok(mesh);
    const r = await mesh.topology.run(mesh.pod('client').netns, process.execPath, [CLIENT, ...args]);
    assert.equal(r.code, 0, `client ${args.join(' ')}: ${r.stderr}`);
    return JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '') as T;
  }
  const get = (path: string, count: number, ...headers: string[]) =>
    client<HttpTally>('http', `http://web:8080${path}`, String(count), ...headers);

  /** Repeats `probe` until it returns true (config propagation has no event to wait on here). */
  async function eventually(what: string, probe: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await probe())) {
      if (Date.now() > deadline) assert.fail(`${what}: not within ${timeoutMs} ms`);
    }
  }

  before(async () => {
    try {
      mesh = await NetnsMesh.start({
        base: 'mze',
        tag: 'mesh-',
        namespace: NS,
        services: [
          { name: 'web', port: 8080, protocol: 'HTTP' },
          { name: 'flaky', port: 8080, protocol: 'HTTP' },
          { name: 'tcp-echo', port: 9000, protocol: 'TCP' },
          { name: 'ws-echo', port: 8090, protocol: 'HTTP' },
        ],
        workloads: [
          backend('web-v1', 'web', 'v1'),
          backend('web-v2', 'web', 'v2'),
          backend('flaky-good', 'flaky', 'good'),
          backend('flaky-bad', 'flaky', 'bad', { FAIL: '1' }),
          sample('tcp-echo', 9000),
          sample('ws-echo', 8090),
          { name: 'client', app: 'client' },
        ],
        config: { 'web.yaml': webRouting(NS, 90, 10), 'flaky.yaml': FLAKY },
        onOutput: (source, line) => {
          if (line.startsWith('hit ')) hits.set(source, (hits.get(source) ?? 0) + 1);
          else output.push(`[${source}] ${line}`);
        },
      });
      await mesh.waitSynced(120_000);
    } catch (err) {
      await mesh?.close();
      throw err;
    }
  });
  after(async () => {
    await mesh?.close();
  });

  test('weighted routing: 90/10 over 600 requests', async () => {
    const r = await get('/weighted', 600);
    assert.deepEqual(r.statuses, { 200: 600 }, JSON.stringify(r));
    // Binomial(600, 0.1): mean 60, sd 7.3; 30..90 is beyond 4 sd either way.
    const v2 = r.versions.v2 ?? 0;
    assert.ok(v2 >= 30 && v2 <= 90, `v2 got ${v2} of 600 (expected about 60)`);
    assert.equal((r.versions.v1 ?? 0) + v2, 600);
  });

  test('header routing: x-user: tester always reaches v2', async () => {
    const r = await get('/header', 40, 'x-user=tester');
    assert.deepEqual(r.versions, { v2: 40 }, JSON.stringify(r));
  });

  test('retries mask a failing endpoint; the failing backend saw the attempts', async () => {
    const badBefore = hits.get('flaky-bad') ?? 0;
    const goodBefore = hits.get('flaky-good') ?? 0;
    const r = await client<HttpTally>('http', 'http://flaky:8080/retry', '40');
    assert.deepEqual(r.statuses, { 200: 40 }, JSON.stringify(r));
    assert.deepEqual(r.versions, { good: 40 });
    // Round robin over two endpoints: about half the first attempts reach the failing one.
    assert.ok(
      (hits.get('flaky-bad') ?? 0) - badBefore >= 5,
      `failing backend hits: ${hits.get('flaky-bad')}`,
    );
    assert.equal((hits.get('flaky-good') ?? 0) - goodBefore, 40);
  });

  test('TCP through capture (tcp-echo)', async () => {
    assert.deepEqual(await client('tcp', 'tcp-echo', '9000', 'hello\nworld\n'), {
      data: 'one hello\none world\n',
    });
  });

  test('WebSocket through capture (ws-echo)', async () => {
    assert.deepEqual(await client('ws', 'ws://ws-echo:8090/echo', 'ping through the mesh'), {
      echo: 'ping through the mesh',
    });
  });

  test('a config change is applied live', async () => {
    assert.ok(mesh);
    mesh.writeConfig('web.yaml', webRouting(NS, 0, 100));
    await eventually('all traffic on v2', async () => (await get('/live', 30)).versions.v2 === 30);
    mesh.writeConfig('web.yaml', webRouting(NS, 100, 0));
    await eventually('all traffic back on v1', async () => (await get('/live', 30)).versions.v1 === 30);
  });

  test('a workload killed and restarted gets traffic again', async () => {
    assert.ok(mesh);
    // All traffic goes to v1 (previous test); kill v1's application and sidecar.
    await mesh.killWorkload('web-v1');
    const down = await get('/down', 10);
    assert.equal(down.statuses[200] ?? 0, 0, `v1 is down, yet: ${JSON.stringify(down)}`);
    await mesh.startWorkload('web-v1');
    await mesh.waitSynced(120_000);
    await eventually('v1 serving again', async () => (await get('/up', 20)).statuses[200] === 20);
  });
});

test('leaves no open handles', assertNoOpenHandles);
