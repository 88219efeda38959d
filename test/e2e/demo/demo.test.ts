/**
 * `mizzenctl demo` end to end, as a user runs it: real mizzend, proxies and sample workloads
 * as child processes on a copy of examples/bookinfo moved to its own addresses. Executes every
 * command the demo prints and checks the answers, edits the copy live (reviews 50/50 v2/v3),
 * kills a workload and a sidecar and sees traffic recover, and checks that SIGTERM leaves no
 * process, port or temporary directory.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { assertNoOpenHandles } from '../../proxy/support/harness.ts';
import {
  type DemoConfig,
  type DemoRun,
  demoArgs,
  isAlive,
  prepareConfig,
  printedPids,
  ROOT,
  startDemo,
} from './harness.ts';

let config: DemoConfig;
let run: DemoRun;
let base: string;

/** Runs one printed command line in a shell, `npx node` being this Node (same binary, no npx start-up). */
function shell(line: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const command = line.replace(/^npx node /, `${JSON.stringify(process.execPath)} `);
  return new Promise((resolve) => {
    execFile('sh', ['-c', command], { cwd: ROOT, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

interface ReviewsAnswer {
  podname?: string;
}

async function reviews(headers: Record<string, string> = {}): Promise<{ status: number; pod?: string }> {
  const res = await fetch(`${base}/api/v1/products/0/reviews`, {
    headers,
    signal: AbortSignal.timeout(15_000),
  });
  const text = await res.text();
  if (res.status !== 200) return { status: res.status };
  return { status: 200, pod: (JSON.parse(text) as ReviewsAnswer).podname };
}

/** `n` requests, 8 at a time; counts of which reviews pod answered (or the status). */
async function distribution(n: number): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  let next = 0;
  const worker = async () => {
    while (next < n) {
      next++;
      const r = await reviews();
      const key = r.pod ?? `status ${r.status}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return counts;
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}

before(async () => {
  config = await prepareConfig();
  base = `http://${config.gatewayHost}:${config.gatewayHttpPort}`;
  // Istio's metrics port on each proxy's own address, so the demo prints the line that reads it.
  run = startDemo(demoArgs(config, 15090));
  await run.waitFor(/Press Ctrl-C to stop\./, 240_000);
});

after(async () => {
  if (run && run.child.exitCode === null && run.child.signalCode === null) {
    run.child.kill('SIGTERM');
    await run.code;
  }
  if (config) rmSync(config.dir, { recursive: true, force: true });
});

test('progress: one line per component, then every proxy SYNCED, then what to try', () => {
  for (const name of ['mizzend', 'productpage-v1 app', 'reviews-v2 sidecar', 'bookinfo-gateway']) {
    assert.match(run.stdout, new RegExp(`✓ ${name}\\b`), run.stdout);
  }
  assert.match(run.stdout, /✓ all 9 proxies SYNCED/);
  const seconds = Number(run.stdout.match(/The mesh is up \(([\d.]+) s\)/)?.[1]);
  assert.ok(seconds > 0, run.stdout);
  // The start time on this machine, for the record (the issue's bar is 30 s on an idle one).
  process.stderr.write(`demo start: ${seconds} s\n`);
});

test('every printed curl / npx node line runs and answers as its comment says', {
  timeout: 180_000,
}, async () => {
  const lines = run.stdout
    .split('\n')
    .filter((l) => /^\s+(curl|npx node) /.test(l))
    .map((l) => {
      const at = l.lastIndexOf(' # ');
      return (at >= 0 ? l.slice(0, at) : l).trim();
    });
  assert.ok(lines.length >= 12, run.stdout);
  const checks: [RegExp, (out: string) => void][] = [
    [/\/productpage /, (out) => assert.match(out, /^Reviews served by: reviews-v[123] \(version v[123]\)/)],
    [/end-user: jason/, (out) => assert.equal(JSON.parse(out).podname, 'reviews-v2')],
    [/\/products\/0\/reviews$/, (out) => assert.match(JSON.parse(out).podname, /^reviews-v[123]$/)],
    [/\/products\/0$/, (out) => assert.equal(JSON.parse(out).author, 'William Shakespeare')],
    [/\/products\/0\/ratings$/, (out) => assert.equal(JSON.parse(out).podname, 'ratings-v1')],
    [/ws-echo\/client\.ts ws:\/\/[^ ]+\/echo hello$/, (out) => assert.equal(out, 'hello\n')],
    [/tcp-echo\/client\.ts [^ ]+ hello$/, (out) => assert.equal(out, 'one hello\n')],
    [/\/debug\/syncz$/, (out) => assert.equal(JSON.parse(out).length, 9)],
    [/\/debug\/registryz$/, (out) => assert.match(out, /reviews\.bookinfo\.svc\.cluster\.local/)],
    [/\/debug\/configz$/, (out) => assert.match(out, /VirtualService/)],
    [/\/metrics$/, (out) => assert.match(out, /^pilot_/m)],
    [
      /:15090\/stats\/prometheus \| grep istio_requests_total$/,
      (out) =>
        assert.match(out, /^istio_requests_total\{reporter="(source|destination)",source_workload="[^"]+"/m),
    ],
  ];
  const gateway = `${config.gatewayHost}:${config.gatewayHttpPort}`;
  assert.ok(
    lines.some((l) => l.includes(`http://${gateway}/productpage`)),
    'the gateway lines use the address from the configuration',
  );
  for (const line of lines) {
    const r = await shell(line);
    assert.equal(r.code, 0, `${line}\n${r.stderr}`);
    const check = checks.find(([pattern]) => pattern.test(line));
    assert.ok(check, `a check for ${line}`);
    check[1](r.stdout);
  }
});

test('the gRPC hop: reviews v2 gets its ratings from ratings over gRPC through both sidecars', async () => {
  const r = await fetch(`${base}/api/v1/products/0/reviews`, { headers: { 'end-user': 'jason' } });
  const body = (await r.json()) as { podname: string; ratingsError?: string; ratingsPodname?: string };
  assert.equal(body.podname, 'reviews-v2');
  assert.equal(body.ratingsError, undefined, JSON.stringify(body));
  assert.equal(body.ratingsPodname, 'ratings-v1', JSON.stringify(body));
});

test('default split: reviews v1 50 / v2 25 / v3 25 over 200 requests, jason always v2', {
  timeout: 180_000,
}, async () => {
  const counts = await distribution(200);
  const v1 = counts.get('reviews-v1') ?? 0;
  const v2 = counts.get('reviews-v2') ?? 0;
  const v3 = counts.get('reviews-v3') ?? 0;
  assert.equal(v1 + v2 + v3, 200, JSON.stringify([...counts]));
  // Binomial, n=200: 6 standard deviations either side.
  assert.ok(v1 >= 58 && v1 <= 142, `v1 ${v1}`);
  assert.ok(v2 >= 19 && v2 <= 81, `v2 ${v2}`);
  assert.ok(v3 >= 19 && v3 <= 81, `v3 ${v3}`);
  for (let i = 0; i < 10; i++) assert.equal((await reviews({ 'end-user': 'jason' })).pod, 'reviews-v2');
});

test('a live edit of virtual-services.yaml (reviews 50/50 v2/v3) applies without a restart', {
  timeout: 180_000,
}, async () => {
  const file = join(config.dir, 'virtual-services.yaml');
  const before = readFileSync(file, 'utf8');
  const edited = before.replace(
    /(- name: default\n\s+route:\n)[\s\S]*?(\n\s+timeout: 5s)/,
    (_, head: string, tail: string) =>
      `${head}        - destination:\n            host: reviews\n            subset: v2\n          weight: 50\n        - destination:\n            host: reviews\n            subset: v3\n          weight: 50${tail}`,
  );
  assert.notEqual(edited, before, 'the default route was found and rewritten');
  writeFileSync(file, edited);
  // Wait until 30 answers in a row come from v2/v3 only: the push has reached the proxy.
  await until('the new route', async () => {
    const c = await distribution(30);
    return (c.get('reviews-v1') ?? 0) === 0 && (c.get('reviews-v2') ?? 0) + (c.get('reviews-v3') ?? 0) === 30
      ? true
      : undefined;
  });
  const counts = await distribution(200);
  const v2 = counts.get('reviews-v2') ?? 0;
  const v3 = counts.get('reviews-v3') ?? 0;
  assert.equal(counts.get('reviews-v1') ?? 0, 0, JSON.stringify([...counts]));
  assert.equal(v2 + v3, 200, JSON.stringify([...counts]));
  assert.ok(v2 >= 58 && v2 <= 142 && v3 >= 58 && v3 <= 142, `v2 ${v2}, v3 ${v3}`);
});

test('a killed workload and a killed sidecar are restarted and traffic recovers', {
  timeout: 180_000,
}, async () => {
  for (const component of ['reviews-v2 app', 'reviews-v2 sidecar']) {
    const pid = Number(run.stdout.match(new RegExp(`✓ ${component}\\s.*\\(pid (\\d+)`))?.[1]);
    assert.ok(pid > 0, run.stdout);
    const restartedBefore = run.stdout.split(`${component} restarted`).length;
    process.kill(pid, 'SIGKILL');
    await run.waitFor(new RegExp(`${component} \\(pid ${pid}\\) exited`), 60_000);
    await until(`${component} restarted`, async () =>
      run.stdout.split(`${component} restarted`).length > restartedBefore ? true : undefined,
    );
    await until('jason served by reviews-v2 again', async () => {
      const r = await reviews({ 'end-user': 'jason' });
      return r.pod === 'reviews-v2' ? true : undefined;
    });
    for (let i = 0; i < 5; i++) assert.equal((await reviews({ 'end-user': 'jason' })).pod, 'reviews-v2');
  }
});

test('SIGTERM stops everything: exit 0, no process, no port, no temporary directory', {
  timeout: 120_000,
}, async () => {
  const pids = printedPids(run.stdout);
  assert.ok(pids.length >= 18, `pids: ${pids.join(' ')}`);
  const workDir = run.stderr.match(/port file written file=(\S+)\/mizzend\.json/)?.[1];
  assert.ok(workDir && existsSync(workDir), 'the demo keeps its files in a temporary directory');
  run.child.kill('SIGTERM');
  assert.equal(await run.code, 0, run.stderr.slice(-2000));
  assert.match(run.stdout, /Stopped; nothing left running\.\n$/);
  const alive = pids.filter(isAlive);
  assert.deepEqual(alive, [], 'every component process has exited');
  assert.equal(existsSync(workDir), false, 'the temporary directory is removed');
  await assert.rejects(fetch(`${base}/productpage`), 'the gateway port is closed');
});

test('no open handles', async () => {
  await assertNoOpenHandles();
});
