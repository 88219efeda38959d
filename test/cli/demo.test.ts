import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'mizzenctl.js');

interface Run {
  stdout: string;
  stderr: string;
  code: Promise<number | null>;
  waitFor(text: RegExp): Promise<RegExpMatchArray>;
  kill(signal: NodeJS.Signals): void;
}

function start(args: string[]): Run {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const run: Run = {
    stdout: '',
    stderr: '',
    code: new Promise((resolve) => child.once('exit', (code) => resolve(code))),
    waitFor: (text) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const m = run.stdout.match(text);
          if (m) resolve(m);
        };
        child.stdout.on('data', check);
        void run.code.then(() => reject(new Error(`exited before ${text}: ${run.stdout}${run.stderr}`)));
        check();
      }),
    kill: (signal) => child.kill(signal),
  };
  child.stdout.on('data', (d) => {
    run.stdout += d;
  });
  child.stderr.on('data', (d) => {
    run.stderr += d;
  });
  return run;
}

describe('mizzenctl demo', () => {
  it('serves the examples, prints what to try, and stops cleanly on SIGTERM leaving nothing behind', async () => {
    const run = start(['demo', '--grpc-port', '0', '--monitoring-port', '0']);
    const [, url] = await run.waitFor(/curl (http:\/\/127\.0\.0\.1:\d+)\/ready/);
    await run.waitFor(/Press Ctrl-C to stop\./);
    const ready = await fetch(`${url}/ready`);
    assert.equal(ready.status, 200);
    const registry = (await (await fetch(`${url}/debug/registryz`)).json()) as {
      services: { hostname: string }[];
    };
    assert.ok(registry.services.some((s) => s.hostname === 'reviews.bookinfo.svc.cluster.local'));
    run.kill('SIGTERM');
    assert.equal(await run.code, 0);
    assert.match(run.stdout, /Stopped; nothing left running\./);
    const portFile = run.stderr.match(/port file written file=(\S+)/)?.[1];
    assert.ok(portFile, run.stderr);
    assert.equal(existsSync(portFile), false, 'the demo removes its temporary files');
    await assert.rejects(fetch(`${url}/ready`), 'mizzend is gone');
  });

  it('says clearly when a port is taken, and exits non-zero', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      const run = start(['demo', '--grpc-port', '0', '--monitoring-port', String(port)]);
      assert.notEqual(await run.code, 0);
      assert.match(run.stderr, new RegExp(`${port}`));
      assert.match(run.stderr, /mizzend did not start/);
    } finally {
      blocker.close();
    }
  });
});
