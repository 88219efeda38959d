/**
 * `mizzenctl demo --netns` (runNetnsDemo, in process, stopped through its AbortSignal): the
 * curl lines it prints run as printed (each inside a namespace) and answer what they promise;
 * stopping removes every namespace, /etc/netns file and temporary directory it made.
 *
 * Skipped like mesh.test.ts when the machine cannot build namespaces.
 */
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseAllDocuments, stringify } from 'yaml';
import { CLIENT_POD, DEMO_NETNS_BASE, runNetnsDemo } from '../../../src/cli/demo/netns-demo.ts';
import { netnsUnavailableReason, runCommand } from '../../../src/cli/demo/netns-topology.ts';
import type { CliIo } from '../../../src/cli/io.ts';
import { loadOriginalDstAddon } from '../../../src/proxy/listener/original-dst.ts';
import { assertNoOpenHandles } from '../../config/helpers.ts';

const EXAMPLES = join(import.meta.dirname, '..', '..', '..', 'examples');
const envReason = await netnsUnavailableReason();
const addon = loadOriginalDstAddon();
const skip = envReason
  ? `needs root, iproute2, iptables and setpriv: ${envReason}`
  : 'error' in addon
    ? `needs the original-destination addon: ${addon.error}`
    : false;

/** What each printed line must answer, by a fragment of the line. */
const EXPECT: readonly [string, RegExp][] = [
  ['productpage:9080/productpage', /Reviews served by: reviews-v[123]/],
  ["end-user: jason' http://reviews", /"podname":"reviews-v2"/],
  ['reviews:9080/reviews/0', /"podname":"reviews-v[123]"/],
  ['details:9080/details/0', /"author":"William Shakespeare"/],
  ['ratings:9080/ratings/0', /"ratings":\{/],
  ['ws-echo:8090/health', /"status":"ok"/],
  ['/dev/tcp/tcp-echo/9000', /^one hello$/m],
  [':15000/clusters', /::/],
  ['/debug/syncz', /"proxy": ?"sleep\.bookinfo"/],
];

async function namespacesWith(prefix: string): Promise<string[]> {
  const r = await runCommand('ip', ['netns', 'list']);
  return r.stdout
    .split('\n')
    .map((l) => l.split(' ')[0])
    .filter((n) => n.startsWith(prefix));
}

/** Sends every reviews request of the copied config to v3 (the demo must apply it live). */
function routeReviewsToV3(dir: string): void {
  const file = join(dir, 'virtual-services.yaml');
  const docs = parseAllDocuments(readFileSync(file, 'utf8')).map((d) => d.toJS());
  const reviews = docs.find((d) => d?.kind === 'VirtualService' && d.metadata?.name === 'reviews');
  assert.ok(reviews, `no VirtualService reviews in ${file}`);
  reviews.spec.http = [{ route: [{ destination: { host: 'reviews', subset: 'v3' } }] }];
  writeFileSync(file, docs.map((d) => stringify(d)).join('---\n'));
}

test('the demo prints curl lines that work, applies edits live, and leaves nothing behind', {
  skip,
  timeout: 600_000,
}, async (t) => {
  let stdout = '';
  let stderr = '';
  let onOutput = () => {};
  const io: CliIo = {
    stdout: (text) => {
      stdout += text;
      onOutput();
    },
    stderr: (text) => {
      stderr += text;
    },
    stdoutIsTTY: false,
    env: {},
    readStdin: () => Buffer.alloc(0),
  };
  // A copy: the test edits it.
  const configDir = mkdtempSync(join(tmpdir(), 'mizzen-netns-demo-config-'));
  t.after(() => rmSync(configDir, { recursive: true, force: true }));
  cpSync(join(EXAMPLES, 'bookinfo'), configDir, { recursive: true });
  const controller = new AbortController();
  const prefix = `${DEMO_NETNS_BASE}${process.pid}-e2e-`;
  const running = runNetnsDemo({ configDir, io, signal: controller.signal, tag: 'e2e-' });
  const ready = new Promise<void>((resolve) => {
    onOutput = () => {
      if (stdout.includes('Press Ctrl-C')) resolve();
    };
  });
  try {
    const first = await Promise.race([ready.then(() => 'ready' as const), running]);
    assert.equal(first, 'ready', `demo exited ${first}:\n${stdout}\n${stderr}`);
    {
      const block = stdout.slice(stdout.indexOf('Try (as root):'));
      const lines = block
        .split('\n')
        .slice(1)
        .map((l) => l.trim())
        .filter((l) => l.includes('ip netns exec '));
      assert.equal(lines.length, EXPECT.length, `printed lines:\n${lines.join('\n')}`);
      for (const line of lines) {
        const expected = EXPECT.find(([fragment]) => line.includes(fragment));
        assert.ok(expected, `no expectation for: ${line}`);
        assert.ok(line.includes(prefix), `${line} does not run in the demo's namespaces`);
        const r = await runCommand('sh', ['-c', line]);
        assert.equal(r.code, 0, `${line}\n${r.stderr}`);
        assert.match(r.stdout, expected[1], line);
      }
      // Live edit: all reviews traffic to v3.
      routeReviewsToV3(configDir);
      const client = prefix + CLIENT_POD;
      const deadline = Date.now() + 60_000;
      let streak = 0;
      while (streak < 10) {
        assert.ok(Date.now() < deadline, `reviews did not move to v3:\n${stdout}`);
        const r = await runCommand('ip', [
          'netns',
          'exec',
          client,
          'curl',
          '-s',
          'http://reviews:9080/reviews/0',
        ]);
        streak = /"podname":"reviews-v3"/.test(r.stdout) ? streak + 1 : 0;
      }
      assert.match(stdout, /Routing updated from the config directory\./);
      controller.abort();
      assert.equal(await running, 0, stderr);
      assert.match(stdout, /Stopped; namespaces, rules, processes and temporary files removed\./);
    }
  } finally {
    controller.abort();
    await running;
  }
  assert.deepEqual(await namespacesWith(prefix), []);
  const etc = existsSync('/etc/netns') ? readdirSync('/etc/netns') : [];
  assert.deepEqual(
    etc.filter((f) => f.startsWith(prefix)),
    [],
  );
  assert.ok(!existsSync(`/etc/netns/${prefix}sleep`));
  assert.deepEqual(
    readdirSync(tmpdir()).filter((f) => f.startsWith(`mizzen-netns-${prefix}`)),
    [],
  );
});

test('Ctrl-C while starting stops at once and leaves nothing behind', {
  skip,
  timeout: 300_000,
}, async () => {
  let stdout = '';
  let stderr = '';
  const controller = new AbortController();
  const io: CliIo = {
    stdout: (text) => {
      stdout += text;
      // Abort once the first workload is up: namespaces, mizzend and processes all exist.
      if (text.includes('application and sidecar up')) controller.abort();
    },
    stderr: (text) => {
      stderr += text;
    },
    stdoutIsTTY: false,
    env: {},
    readStdin: () => Buffer.alloc(0),
  };
  const prefix = `${DEMO_NETNS_BASE}${process.pid}-abort-`;
  const code = await runNetnsDemo({
    configDir: join(EXAMPLES, 'bookinfo'),
    io,
    signal: controller.signal,
    tag: 'abort-',
  });
  assert.equal(code, 0, `${stdout}\n${stderr}`);
  assert.ok(controller.signal.aborted, 'the demo ended before it was aborted');
  assert.doesNotMatch(stdout, /Press Ctrl-C/);
  assert.match(
    stdout,
    /Stopping \.\.\.\nStopped; namespaces, rules, processes and temporary files removed\.\n$/,
  );
  assert.deepEqual(await namespacesWith(prefix), []);
  const etc = existsSync('/etc/netns') ? readdirSync('/etc/netns') : [];
  assert.deepEqual(
    etc.filter((f) => f.startsWith(prefix)),
    [],
  );
  assert.deepEqual(
    readdirSync(tmpdir()).filter((f) => f.startsWith(`mizzen-netns-${prefix}`)),
    [],
  );
});

const noRootSkip =
  process.platform !== 'linux'
    ? 'Linux only'
    : process.getuid?.() === 0 && envReason?.startsWith('setpriv')
      ? 'needs setpriv to drop root'
      : false;

test('without root it says so and exits 1, creating nothing', {
  skip: noRootSkip,
  timeout: 60_000,
}, async () => {
  const script = `
    const { runNetnsDemo } = await import(${JSON.stringify(join(import.meta.dirname, '../../../src/cli/demo/netns-demo.ts'))});
    let err = '';
    const io = { stdout: () => {}, stderr: (t) => (err += t), stdoutIsTTY: false, env: {}, readStdin: () => Buffer.alloc(0) };
    const code = await runNetnsDemo({ configDir: ${JSON.stringify(EXAMPLES)}, io, signal: new AbortController().signal });
    process.stdout.write(JSON.stringify({ code, err }));`;
  const args = ['--input-type=module', '-e', script];
  // As root, drop to an unprivileged uid to see what a normal user sees.
  const r =
    process.getuid?.() === 0
      ? await runCommand('setpriv', [
          '--reuid=65534',
          '--regid=65534',
          '--clear-groups',
          process.execPath,
          ...args,
        ])
      : await runCommand(process.execPath, args);
  assert.equal(r.code, 0, r.stderr);
  const { code, err } = JSON.parse(r.stdout) as { code: number; err: string };
  assert.equal(code, 1);
  assert.match(err, /^mizzenctl demo --netns: network namespaces and iptables need root \(run with sudo\)/);
  assert.match(err, /plain `mizzenctl demo` needs neither/);
});

test('leaves no open handles', assertNoOpenHandles);
