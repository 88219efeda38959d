/**
 * `mizzenctl demo`, the fast part: what it reads from the configuration, what it prints, and
 * the errors it gives before starting anything (a taken port, a workload without a Sidecar, a
 * missing directory). The mesh itself runs in test/e2e/demo/demo.test.ts.
 */
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { instructions } from '../../src/cli/demo/instructions.ts';
import { checkPorts } from '../../src/cli/demo/ports.ts';
import { egressEnv, loadTopology } from '../../src/cli/demo/topology.ts';
import { prepareConfig, ROOT, startDemo } from '../e2e/demo/harness.ts';
import { assertNoOpenHandles } from '../proxy/support/harness.ts';

const EXAMPLES = join(ROOT, 'examples', 'bookinfo');
const dirs: string[] = [];

after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function listen(host: string, port = 0): Promise<Server> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  return server;
}

describe('the topology read from examples/bookinfo', () => {
  const topology = loadTopology(EXAMPLES);

  it('has every sample workload on its own loopback address, with its Sidecar ports', () => {
    assert.deepEqual(
      topology.workloads.map((w) => `${w.name} ${w.ip} app=${w.appEndpoint.host}:${w.appEndpoint.port}`),
      [
        'details-v1 127.0.0.12 app=127.0.0.1:9082',
        'productpage-v1 127.0.0.11 app=127.0.0.1:9081',
        'ratings-v1 127.0.0.16 app=127.0.0.1:9086',
        'reviews-v1 127.0.0.13 app=127.0.0.1:9083',
        'reviews-v2 127.0.0.14 app=127.0.0.1:9084',
        'reviews-v3 127.0.0.15 app=127.0.0.1:9085',
        'tcp-echo-v1 127.0.0.17 app=127.0.0.1:9087',
        'ws-echo-v1 127.0.0.18 app=127.0.0.1:9088',
      ],
    );
    for (const w of topology.workloads) assert.deepEqual(w.inbound, { host: w.ip, port: 15006 });
    const reviews = topology.workloads.find((w) => w.name === 'reviews-v2');
    assert.deepEqual(reviews?.labels, { app: 'reviews', version: 'v2' });
    assert.equal(reviews?.serviceAccount, 'bookinfo-reviews');
  });

  it('tells each application where its sidecar egress listeners are', () => {
    const productpage = topology.workloads.find((w) => w.name === 'productpage-v1');
    assert.ok(productpage);
    const env = egressEnv(productpage);
    assert.equal(env.DETAILS_URL, 'http://127.0.0.11:9080');
    assert.equal(env.REVIEWS_URL, 'http://127.0.0.11:9080');
    assert.equal(env.REVIEWS_AUTHORITY, 'reviews:9080');
    const reviews = topology.workloads.find((w) => w.name === 'reviews-v3');
    assert.ok(reviews);
    assert.equal(egressEnv(reviews).RATINGS_TARGET, '127.0.0.15:9080');
  });

  it('has one gateway, on loopback port 8080 (HTTP) and 9000 (TCP)', () => {
    assert.deepEqual(
      topology.gateways.map((g) => ({ name: g.name, ip: g.ip, labels: g.labels, servers: g.servers })),
      [
        {
          name: 'bookinfo-gateway',
          ip: '127.0.0.1',
          labels: { istio: 'ingressgateway' },
          servers: [
            { host: '127.0.0.1', port: 8080, protocol: 'HTTP' },
            { host: '127.0.0.1', port: 9000, protocol: 'TCP' },
          ],
        },
      ],
    );
  });

  it('prints curl lines for the gateway, the echo clients, and every proxy admin address', () => {
    const lines = instructions({
      configDir: 'examples/bookinfo',
      monitoring: 'http://127.0.0.1:15014',
      grpcPort: 15010,
      topology,
      proxies: () => ({ admin: 15000, status: 15021 }),
      prometheusPort: 15090,
      startSeconds: 4.2,
    });
    const text = lines.join('\n');
    assert.match(
      text,
      /^ {2}curl -s http:\/\/127\.0\.0\.\d+:15090\/stats\/prometheus \| grep istio_requests_total /m,
    );
    assert.match(text, /^ {2}curl -s http:\/\/localhost:8080\/productpage \| grep/m);
    assert.match(
      text,
      /^ {2}curl -s -H 'end-user: jason' http:\/\/localhost:8080\/api\/v1\/products\/0\/reviews /m,
    );
    assert.match(text, /^ {2}npx node samples\/ws-echo\/client\.ts ws:\/\/localhost:8080\/echo hello /m);
    assert.match(text, /^ {2}npx node samples\/tcp-echo\/client\.ts 127\.0\.0\.1:9000 hello /m);
    assert.match(text, /^ {2}npx mizzenctl proxy-status /m);
    assert.match(text, /^ {2}npx mizzenctl proxy-config routes productpage-v1\.bookinfo /m);
    assert.match(text, /reviews-v2 +127\.0\.0\.1:9084 +127\.0\.0\.14:15006 +http:\/\/127\.0\.0\.14:15000 /);
    assert.match(text, /virtual-services\.yaml/);
    assert.match(text, /Press Ctrl-C to stop\.$/);
  });
});

describe('errors before anything starts', () => {
  it('checkPorts names the address, its purpose and the process holding it', async () => {
    const server = await listen('127.0.0.1');
    const port = (server.address() as { port: number }).port;
    try {
      const problems = await checkPorts([
        { host: '127.0.0.1', port, purpose: 'the thing' },
        { host: '127.0.0.1', port: 0, purpose: 'any port' },
      ]);
      assert.equal(problems.length, 1);
      assert.match(
        problems[0],
        new RegExp(`^127\\.0\\.0\\.1:${port} \\(the thing\\) is already in use by pid ${process.pid} `),
      );
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('a taken gateway port: exit 3, the address and what holds it, nothing started', {
    timeout: 60_000,
  }, async () => {
    const config = await prepareConfig();
    dirs.push(config.dir);
    const blocker = await listen(config.gatewayHost, config.gatewayHttpPort);
    try {
      const run = startDemo([
        '--config-dir',
        config.dir,
        '--grpc-port',
        '0',
        '--monitoring-port',
        '0',
        '--proxy-admin-port',
        '0',
        '--proxy-status-port',
        '0',
        '--proxy-prometheus-port',
        '0',
      ]);
      assert.equal(await run.code, 3, run.stderr);
      assert.match(
        run.stderr,
        new RegExp(
          `port taken: ${config.gatewayHost.replaceAll('.', '\\.')}:${config.gatewayHttpPort} \\(gateway bookinfo-gateway listener \\(.*gateway\\.yaml\\)\\) is already in use by pid ${process.pid}`,
        ),
      );
      assert.match(run.stderr, /nothing was started/);
      assert.doesNotMatch(run.stdout, /✓/);
    } finally {
      await new Promise((r) => blocker.close(r));
    }
  });

  it('a taken mizzend port is named with its flag', { timeout: 60_000 }, async () => {
    const config = await prepareConfig();
    dirs.push(config.dir);
    const blocker = await listen('127.0.0.1');
    const port = (blocker.address() as { port: number }).port;
    try {
      const run = startDemo([
        '--config-dir',
        config.dir,
        '--grpc-port',
        '0',
        '--monitoring-port',
        String(port),
        '--proxy-admin-port',
        '0',
        '--proxy-status-port',
        '0',
        '--proxy-prometheus-port',
        '0',
      ]);
      assert.equal(await run.code, 3, run.stderr);
      assert.match(
        run.stderr,
        new RegExp(`127\\.0\\.0\\.1:${port} \\(mizzend debug, --monitoring-port\\) is already in use`),
      );
    } finally {
      await new Promise((r) => blocker.close(r));
    }
  });

  it('a workload without a Sidecar: exit 2 naming the WorkloadEntry', { timeout: 60_000 }, async () => {
    const config = await prepareConfig();
    dirs.push(config.dir);
    writeFileSync(join(config.dir, 'sidecars.yaml'), '');
    const run = startDemo(['--config-dir', config.dir, '--grpc-port', '0', '--monitoring-port', '0']);
    assert.equal(await run.code, 2, run.stderr);
    assert.match(
      run.stderr,
      /WorkloadEntry bookinfo\/details-v1: no Sidecar in namespace bookinfo selects it/,
    );
  });

  it('a missing configuration directory is named', { timeout: 60_000 }, async () => {
    const run = startDemo([
      '--config-dir',
      join(ROOT, 'no-such-dir'),
      '--grpc-port',
      '0',
      '--monitoring-port',
      '0',
    ]);
    assert.equal(await run.code, 2, run.stderr);
    assert.match(run.stderr, /the configuration directory .*no-such-dir does not exist \(--config-dir\)/);
  });
});

it('no open handles', async () => {
  await assertNoOpenHandles();
});
