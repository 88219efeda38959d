/**
 * Ctrl-C as a terminal delivers it: SIGINT to the demo's whole process group (the demo and
 * every child at once), pressed twice. The demo still stops everything in order, exits 0, and
 * leaves no process and no temporary directory.
 */
import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import { after, test } from 'node:test';
import { assertNoOpenHandles } from '../../proxy/support/harness.ts';
import {
  type DemoConfig,
  type DemoRun,
  demoArgs,
  isAlive,
  prepareConfig,
  printedPids,
  startDemo,
} from './harness.ts';

let config: DemoConfig | undefined;
let run: DemoRun | undefined;

after(async () => {
  if (run && run.child.exitCode === null && run.child.signalCode === null) {
    run.child.kill('SIGTERM');
    await run.code;
  }
  if (config) rmSync(config.dir, { recursive: true, force: true });
});

test('Ctrl-C twice to the process group: exit 0, nothing left running, no temporary directory', {
  timeout: 300_000,
}, async () => {
  config = await prepareConfig();
  run = startDemo(demoArgs(config), { detached: true });
  await run.waitFor(/Press Ctrl-C to stop\./, 240_000);
  const pids = printedPids(run.stdout);
  assert.equal(pids.length, 18, run.stdout);
  const workDir = run.stderr.match(/port file written file=(\S+)\/mizzend\.json/)?.[1];
  assert.ok(workDir && existsSync(workDir), run.stderr.slice(-2000));
  const group = -(run.child.pid as number);
  process.kill(group, 'SIGINT');
  await new Promise((r) => setTimeout(r, 50));
  if (run.child.exitCode === null) process.kill(group, 'SIGINT');
  assert.equal(await run.code, 0, run.stderr.slice(-2000));
  assert.match(run.stdout, /Stopped; nothing left running\.\n$/);
  assert.doesNotMatch(run.stdout, /restarting/, 'nothing is restarted while stopping');
  assert.deepEqual(pids.filter(isAlive), []);
  assert.equal(existsSync(workDir), false);
});

test('no open handles', async () => {
  await assertNoOpenHandles();
});
