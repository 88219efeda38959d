/**
 * `mizzen-proxy iptables` apply and clean flows against a recording stand-in for
 * iptables-save/-restore and ip: which commands run, with which input, and how failures are
 * reported. The real thing runs in iptables-netns.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  buildCaptureRules,
  type Exec,
  type ExecResult,
  resolveCaptureOptions,
} from '../../src/agent/iptables.ts';
import { runIptablesCommand } from '../../src/agent/iptables-cli.ts';

interface Call {
  command: string;
  args: string[];
  input: string;
}

/** Answers iptables-save with `saved[command]`, everything else with `results[command]` or success. */
function fakeExec(
  saved: Record<string, string> = {},
  results: Record<string, Partial<ExecResult> | Error> = {},
) {
  const calls: Call[] = [];
  const exec: Exec = async (command, args, input) => {
    calls.push({ command, args: [...args], input: input ?? '' });
    const r = results[command];
    if (r instanceof Error) throw r;
    return { code: 0, stdout: saved[command] ?? '', stderr: '', ...r };
  };
  return { calls, exec };
}

async function run(argv: string[], exec: Exec) {
  let out = '';
  let err = '';
  const code = await runIptablesCommand(argv, {
    stdout: (t) => (out += t),
    stderr: (t) => (err += t),
    env: {},
    exec,
  });
  return { code, out, err };
}

const defaults = buildCaptureRules(resolveCaptureOptions({}).options);
const INSTALLED_V4 = `*nat
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:ISTIO_INBOUND - [0:0]
:ISTIO_OUTPUT - [0:0]
:ISTIO_REDIRECT - [0:0]
:ISTIO_IN_REDIRECT - [0:0]
-A PREROUTING -p tcp -j ISTIO_INBOUND
-A OUTPUT -p tcp -j ISTIO_OUTPUT
COMMIT
`;

describe('apply', () => {
  test('one iptables-restore --noflush per family, then the ::6 passthrough address', async () => {
    const { calls, exec } = fakeExec();
    const r = await run(['--ipv6', 'true'], exec);
    assert.equal(r.err, '');
    assert.equal(r.code, 0);
    assert.equal(
      r.out,
      'mizzen-proxy iptables: capture installed (IPv4 and IPv6): outbound -> 15001, inbound -> 15006, proxy uid 1337 gid 1337\n',
    );
    assert.deepEqual(calls, [
      { command: 'iptables-save', args: ['-t', 'nat'], input: '' },
      { command: 'iptables-restore', args: ['--noflush', '--wait=10'], input: defaults.ipv4 },
      { command: 'ip6tables-save', args: ['-t', 'nat'], input: '' },
      { command: 'ip6tables-restore', args: ['--noflush', '--wait=10'], input: defaults.ipv6 },
      { command: 'ip', args: ['-6', 'addr', 'add', '::6/128', 'dev', 'lo', 'nodad'], input: '' },
    ]);
  });

  test('--ipv6 false installs IPv4 only', async () => {
    const { calls, exec } = fakeExec();
    const r = await run(['--ipv6', 'false'], exec);
    assert.equal(r.code, 0);
    assert.match(r.out, /capture installed \(IPv4\)/);
    assert.deepEqual(
      calls.map((c) => c.command),
      ['iptables-save', 'iptables-restore'],
    );
  });

  test('over an existing capture, the old jumps and chains are replaced in the same transaction', async () => {
    const { calls, exec } = fakeExec({ 'iptables-save': INSTALLED_V4 });
    assert.equal((await run(['--ipv6', 'false'], exec)).code, 0);
    const input = calls[1].input;
    assert.match(
      input,
      /^\*nat\n(:ISTIO_\w+ - \[0:0\]\n){4}-D PREROUTING -p tcp -j ISTIO_INBOUND\n-D OUTPUT -p tcp -j ISTIO_OUTPUT\n-F ISTIO_INBOUND\n/,
    );
    assert.equal(input.match(/^-A PREROUTING/gm)?.length, 1);
  });

  test('an existing ::6 address is fine', async () => {
    const { exec } = fakeExec({}, { ip: { code: 2, stderr: 'Error: ipv6: address already assigned.' } });
    assert.equal((await run(['--ipv6', 'true'], exec)).code, 0);
  });

  test('a failing iptables-restore is reported with its message, exit code 1', async () => {
    const { calls, exec } = fakeExec(
      {},
      {
        'iptables-restore': {
          code: 2,
          stderr: "iptables-restore: line 7 failed: Couldn't load match `owner'",
        },
      },
    );
    const r = await run([], exec);
    assert.equal(r.code, 1);
    assert.equal(
      r.err,
      "mizzen-proxy iptables: iptables-restore --noflush --wait=10 failed: iptables-restore: line 7 failed: Couldn't load match `owner'\n",
    );
    assert.ok(!calls.some((c) => c.command === 'ip6tables-restore'), 'stops at the first failure');
  });

  test('when IPv6 fails, the IPv4 capture just installed is removed again', async () => {
    const calls: string[] = [];
    let v4Installed = false;
    const exec: Exec = async (command, _args, input) => {
      calls.push(command);
      if (command === 'iptables-restore') v4Installed = !input?.includes('-X ISTIO_OUTPUT');
      if (command === 'iptables-save')
        return { code: 0, stdout: v4Installed ? INSTALLED_V4 : '', stderr: '' };
      if (command === 'ip6tables-restore')
        return { code: 1, stdout: '', stderr: "can't initialize ip6tables table `nat'" };
      return { code: 0, stdout: '', stderr: '' };
    };
    const r = await run(['--ipv6', 'true'], exec);
    assert.equal(r.code, 1);
    assert.match(
      r.err,
      /ip6tables-restore --noflush --wait=10 failed: can't initialize ip6tables table `nat'/,
    );
    assert.deepEqual(calls, [
      'iptables-save',
      'iptables-restore',
      'ip6tables-save',
      'ip6tables-restore',
      'iptables-save',
      'iptables-restore',
    ]);
    assert.equal(v4Installed, false);
  });

  test('missing iptables is named with how to install it', async () => {
    const enoent = Object.assign(new Error('spawn iptables-save ENOENT'), { code: 'ENOENT' });
    const { exec } = fakeExec({}, { 'iptables-save': enoent });
    const r = await run([], exec);
    assert.equal(r.code, 1);
    assert.equal(
      r.err,
      'mizzen-proxy iptables: iptables-save not found: install iptables (Debian: apt-get install iptables)\n',
    );
  });
});

describe('clean', () => {
  test('removes what is installed, per family, and the ::6 address', async () => {
    const { calls, exec } = fakeExec({ 'iptables-save': INSTALLED_V4, 'ip6tables-save': '*nat\nCOMMIT\n' });
    const r = await run(['clean'], exec);
    assert.equal(r.code, 0);
    assert.equal(r.out, 'mizzen-proxy iptables: capture rules removed\n');
    const restore = calls.find((c) => c.command === 'iptables-restore');
    assert.equal(
      restore?.input,
      '*nat\n-D PREROUTING -p tcp -j ISTIO_INBOUND\n-D OUTPUT -p tcp -j ISTIO_OUTPUT\n' +
        '-F ISTIO_INBOUND\n-F ISTIO_REDIRECT\n-F ISTIO_IN_REDIRECT\n-F ISTIO_OUTPUT\n' +
        '-X ISTIO_INBOUND\n-X ISTIO_REDIRECT\n-X ISTIO_IN_REDIRECT\n-X ISTIO_OUTPUT\nCOMMIT\n',
    );
    assert.ok(!calls.some((c) => c.command === 'ip6tables-restore'), 'nothing to remove for IPv6');
  });

  test('nothing installed: says so and changes nothing', async () => {
    const { calls, exec } = fakeExec();
    const r = await run(['clean'], exec);
    assert.equal(r.code, 0);
    assert.equal(r.out, 'mizzen-proxy iptables: no capture rules to clean\n');
    assert.ok(!calls.some((c) => c.command.endsWith('-restore')));
  });

  test('--dry-run prints what it would remove and removes nothing', async () => {
    const { calls, exec } = fakeExec({ 'iptables-save': INSTALLED_V4 });
    const r = await run(['clean', '--dry-run'], exec);
    assert.equal(r.code, 0);
    assert.match(r.out, /^# iptables-restore --noflush\n\*nat\n-D PREROUTING -p tcp -j ISTIO_INBOUND\n/);
    assert.ok(!calls.some((c) => c.command.endsWith('-restore') || c.command === 'ip'));
  });
});
