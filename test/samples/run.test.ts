import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { main, parseCommandLine } from '../../samples/main.ts';
import {
  formatReadyLine,
  MAIN_PATH,
  parseReadyLine,
  resolveIdentity,
  startWorkload,
} from '../../samples/run.ts';
import { fakeUpstream, getJson, request, testNoOpenHandles, within } from './helpers.ts';

test('command line: workload, --port, --host, --version; misuse named', () => {
  assert.deepEqual(parseCommandLine(['reviews', '--port', '0', '--host', '0.0.0.0', '--version', 'v2']), {
    name: 'reviews',
    port: 0,
    host: '0.0.0.0',
    version: 'v2',
    exitWithStdin: false,
    help: false,
  });
  assert.equal(parseCommandLine(['--help']).help, true);
  assert.throws(() => parseCommandLine([]), /missing the workload name/);
  assert.throws(() => parseCommandLine(['a', 'b']), /one workload per process/);
  assert.throws(() => parseCommandLine(['details', '--port', '70000']), /--port: 70000 is out of range/);
  assert.throws(() => parseCommandLine(['details', '--port', 'x']), /--port: expected an integer/);
  assert.throws(() => parseCommandLine(['details', '--bogus']), /bogus/);
});

test('identity: options win over env (VERSION, HOST, PORT), env over defaults', () => {
  assert.deepEqual(resolveIdentity('tcp-echo', {}, {}), {
    name: 'tcp-echo',
    version: 'v1',
    host: '127.0.0.1',
    port: 9000,
  });
  assert.deepEqual(resolveIdentity('ws-echo', {}, { VERSION: 'v2', HOST: '::1', PORT: '1234' }), {
    name: 'ws-echo',
    version: 'v2',
    host: '::1',
    port: 1234,
  });
  assert.deepEqual(
    resolveIdentity('details', { version: 'v3', host: '0.0.0.0', port: 0 }, { VERSION: 'v2', PORT: '1' }),
    {
      name: 'details',
      version: 'v3',
      host: '0.0.0.0',
      port: 0,
    },
  );
  assert.throws(
    () => resolveIdentity('nginx', {}, {}),
    /unknown workload "nginx"; one of: productpage, details/,
  );
  assert.throws(() => resolveIdentity('details', {}, { PORT: '99999' }), /PORT: 99999 is out of range/);
});

test('ready line round trip', () => {
  const line = formatReadyLine({ name: 'reviews', version: 'v2', host: '127.0.0.1', port: 9081 });
  assert.equal(line, 'ready name=reviews version=v2 host=127.0.0.1 port=9081');
  assert.deepEqual(parseReadyLine(line), { name: 'reviews', version: 'v2', host: '127.0.0.1', port: 9081 });
  assert.equal(parseReadyLine('ready name=nope version=v1 host=h port=1'), undefined);
});

test('main: --help prints usage; bad arguments exit 2; a taken port exits 1 naming the cause', async () => {
  const out: string[] = [];
  const err: string[] = [];
  const io = { stdout: (t: string) => out.push(t), stderr: (l: string) => err.push(l) };
  assert.equal(await main(['--help'], {}, io), 0);
  assert.match(out.join(''), /usage: node samples\/main\.ts <workload>/);
  assert.match(out.join(''), /ws-echo\s+port 8090/);
  assert.equal(await main(['nginx'], {}, io), 2);
  assert.match(err.join('\n'), /error: unknown workload "nginx"/);
  const blocker = net.createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  const { port } = blocker.address() as net.AddressInfo;
  assert.equal(await main(['details', '--port', String(port)], {}, io), 1);
  assert.match(err.join('\n'), /EADDRINUSE.*the port is taken/);
  await new Promise<void>((r) => blocker.close(() => r()));
});

test('child process: prints its ready line with the real port, serves, and exits 0 on SIGTERM', async () => {
  const lines: string[] = [];
  const w = await startWorkload({
    name: 'details',
    version: 'v7',
    port: 0,
    mode: 'child',
    onOutput: (line, stream) => lines.push(`${stream}: ${line}`),
  });
  assert.ok(w.pid !== undefined && w.pid !== process.pid);
  assert.ok(w.port > 0);
  assert.equal(w.version, 'v7');
  assert.deepEqual(lines, [`stdout: ready name=details version=v7 host=127.0.0.1 port=${w.port}`]);
  const { json } = await getJson(`http://127.0.0.1:${w.port}/details/1`);
  assert.equal(json.version, 'v7');
  await within(w.close(), 'the child to stop');
  assert.deepEqual(await w.exited, { code: 0, signal: null });
});

test('child process: SIGTERM during a request lets it finish, then exits 0', async () => {
  let release!: () => void;
  const held = new Promise<void>((r) => {
    release = r;
  });
  let arrived!: () => void;
  const requestArrived = new Promise<void>((r) => {
    arrived = r;
  });
  const upstream = await fakeUpstream(async (req) => {
    if (req.url?.startsWith('/reviews')) {
      arrived();
      await held;
      return {
        status: 200,
        body: { id: 0, podname: 'r', version: 'v1', ratingsEnabled: false, reviews: [] },
      };
    }
    return { status: 200, body: { id: 0, author: 'A' } };
  });
  let onShutdown!: () => void;
  const shuttingDown = new Promise<void>((r) => {
    onShutdown = r;
  });
  const w = await startWorkload({
    name: 'productpage',
    port: 0,
    mode: 'child',
    env: { DETAILS_URL: upstream.url, REVIEWS_URL: upstream.url },
    onOutput: (line) => {
      if (/shutting down reason=SIGTERM/.test(line)) onShutdown();
    },
  });
  const page = request(`http://127.0.0.1:${w.port}/productpage`);
  await within(requestArrived, 'the request to reach the upstream');
  const closing = w.close();
  await within(shuttingDown, 'the child to start shutting down');
  release();
  const res = await within(page, 'the in-flight page');
  assert.equal(res.status, 200);
  assert.match(res.body, /Reviews served by: r \(version v1\)/);
  await within(closing, 'the child to exit');
  assert.deepEqual(await w.exited, { code: 0, signal: null });
  await upstream.close();
});

test('child process: a bad setting fails the start with the child’s own message', async () => {
  await assert.rejects(
    startWorkload({ name: 'reviews', version: 'v9', port: 0, mode: 'child' }),
    /reviews exited before it was ready \(exit code 2\):[\s\S]*version v9 has no built-in behaviour/,
  );
});

test('--exit-with-stdin: the workload stops cleanly when its parent goes (stdin closes)', async () => {
  const child = spawn(process.execPath, [MAIN_PATH, 'tcp-echo', '--port', '0', '--exit-with-stdin'], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  child.stderr.resume();
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const ready = await within(
    new Promise<string>((resolve) => createInterface({ input: child.stdout }).once('line', resolve)),
    'the ready line',
  );
  assert.match(ready, /^ready name=tcp-echo version=v1 host=127\.0\.0\.1 port=\d+$/);
  child.stdin.end();
  assert.equal(await within(exited, 'the exit'), 0);
});

testNoOpenHandles();
