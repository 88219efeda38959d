/** mizzenctl's command layer in process, with a fake terminal: what the child-process tests cannot set. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { CliIo } from '../../src/cli/io.ts';
import { run } from '../../src/cli/main.ts';

const work = mkdtempSync(join(tmpdir(), 'mizzenctl-main-'));
after(() => rmSync(work, { recursive: true, force: true }));
const file = join(work, 'dr.yaml');
writeFileSync(
  file,
  'apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n  name: x\nspec:\n  host: nowhere.example.com\n',
);

function fakeIo(tty: boolean, env: Record<string, string> = {}): CliIo & { out: string; err: string } {
  const io = {
    out: '',
    err: '',
    stdout: (t: string) => {
      io.out += t;
    },
    stderr: (t: string) => {
      io.err += t;
    },
    stdoutIsTTY: tty,
    env,
    readStdin: () => Buffer.from(''),
  };
  return io;
}

test('on a terminal the level is colored, unless TERM=dumb, NO_COLOR or --no-color', async () => {
  const yellow = '\u001b[33mWarning\u001b[0m [IST0174]';
  const tty = fakeIo(true, { TERM: 'xterm' });
  assert.equal(await run(['analyze', file], tty), 0);
  assert.ok(tty.out.startsWith(yellow), tty.out);
  for (const [io, args] of [
    [fakeIo(true, { TERM: 'dumb' }), []],
    [fakeIo(true, { NO_COLOR: '1' }), []],
    [fakeIo(true), ['--no-color']],
    [fakeIo(false), []],
  ] as const) {
    assert.equal(await run(['analyze', ...args, file], io), 0);
    assert.ok(io.out.startsWith('Warning [IST0174]'), io.out);
  }
  const forced = fakeIo(false);
  await run(['analyze', '--color', file], forced);
  assert.ok(forced.out.startsWith(yellow));
});

test('--verbose reports what was read and which analyzers ran', async () => {
  const io = fakeIo(false);
  assert.equal(await run(['analyze', '-v', file], io), 0);
  assert.match(
    io.err,
    /^Analyzed 1 Istio objects and 0 Kubernetes objects from 1 files in [\d.]+ ms\nExecuted analyzers:\n/,
  );
  assert.match(io.err, /\tdestinationrule\.TargetAnalyzer\n/);
});

test('-n sets the namespace of objects that name none; a bad namespace is a usage error', async () => {
  const io = fakeIo(false);
  await run(['analyze', '-n', 'shop', file], io);
  assert.match(io.out, /\(DestinationRule shop\/x /);
  const bad = fakeIo(false);
  assert.equal(await run(['analyze', '-n', 'Not_A_Namespace', file], bad), 64);
  assert.match(bad.err, /not a valid namespace name/);
});

test('no command prints the help on stderr and is a usage error; --help alone succeeds', async () => {
  const none = fakeIo(false);
  assert.equal(await run([], none), 64);
  assert.match(none.err, /Usage: mizzenctl/);
  const help = fakeIo(false);
  assert.equal(await run(['--help'], help), 0);
  assert.match(help.out, /analyze \[options\] \[paths\.\.\.\]/);
});
