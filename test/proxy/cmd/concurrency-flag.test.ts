/** `--concurrency`: parsed as this command's flag, 0 allowed (one worker per core), bad values named. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProxyExit, parseProxyArgs, run, usage } from '../../../src/proxy/cmd/mizzen-proxy.ts';

test('--concurrency N is taken out of the bootstrap flags; default 1', () => {
  assert.equal(parseProxyArgs(['sidecar']).flags.concurrency, 1);
  const { flags, rest } = parseProxyArgs(['sidecar', '--concurrency', '4', '--label', 'app=a']);
  assert.equal(flags.concurrency, 4);
  assert.deepEqual(rest, ['sidecar', '--label', 'app=a']);
  assert.equal(parseProxyArgs(['--concurrency=0']).flags.concurrency, 0);
  assert.match(usage(), /--concurrency/);
});

test('a bad --concurrency is a usage error naming the flag', async () => {
  for (const v of ['-1', 'two', '1.5', '5000']) {
    let stderr = '';
    const code = await run(['proxy', `--concurrency=${v}`], {
      env: {},
      stdout: () => {},
      stderr: (t) => {
        stderr += t;
      },
    });
    assert.equal(code, ProxyExit.USAGE, v);
    assert.match(stderr, /--concurrency: expected a number of workers/);
  }
});
