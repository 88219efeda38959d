/**
 * Original-destination lookups without root: the addon on loopback (a connection that was not
 * redirected is refused), the conntrack fallback against a table written by the test for a
 * real loopback connection, and the errors when neither method can be used. The redirected
 * cases run in network namespaces in test/agent/iptables-netns.test.ts.
 */
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  findInConntrack,
  getOriginalDst,
  loadOriginalDstAddon,
  OriginalDstError,
  OriginalDstErrorCode,
  originalDstAvailability,
} from '../../../src/proxy/listener/original-dst.ts';
import { assertNoOpenHandles } from '../../config/helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'mz-original-dst-'));
const MISSING_ADDON = join(dir, 'missing', 'original_dst.node');
const MISSING_TABLE = join(dir, 'no-such-conntrack');
const addon = loadOriginalDstAddon();
const addonSkip = 'error' in addon ? `needs the native addon: ${addon.error}` : false;

/** One accepted loopback connection: the server's socket, and the client's to close. */
interface Accepted {
  server: Server;
  accepted: Socket;
  client: Socket;
}
async function acceptOne(host: string): Promise<Accepted> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as { port: number };
  const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
  const client = connect({ host, port });
  await new Promise<void>((resolve, reject) => client.once('connect', resolve).once('error', reject));
  return { server, accepted: await accepted, client };
}
async function close(c: Accepted): Promise<void> {
  c.client.destroy();
  c.accepted.destroy();
  await new Promise((resolve) => c.server.close(resolve));
}

function rejectsWith(code: string, pattern?: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof OriginalDstError, `not an OriginalDstError: ${err}`);
    assert.equal(err.code, code);
    if (pattern) assert.match(err.message, pattern);
    return true;
  };
}

after(() => rmSync(dir, { recursive: true, force: true }));

describe('native addon', { skip: addonSkip }, () => {
  test('a loopback connection that was never redirected is refused', async () => {
    const c = await acceptOne('127.0.0.1');
    try {
      await assert.rejects(
        getOriginalDst(c.accepted, { method: 'addon' }),
        rejectsWith(OriginalDstErrorCode.NOT_REDIRECTED, /127\.0\.0\.1:\d+ was not redirected/),
      );
    } finally {
      await close(c);
    }
  });

  test('validates its argument and reports errno names', () => {
    assert.ok('addon' in addon);
    assert.throws(() => addon.addon.getOriginalDst(-1), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
    const fd = openSync(join(dir, 'plain-file'), 'w');
    try {
      assert.throws(() => addon.addon.getOriginalDst(fd), { code: 'ENOTSOCK', message: /getsockname/ });
    } finally {
      closeSync(fd);
    }
  });

  test('availability prefers the addon', async () => {
    assert.deepEqual(await originalDstAvailability(), { method: 'addon' });
  });
});

describe('without the addon', () => {
  test('loading a missing addon says how to build it, and is cached', () => {
    const load = loadOriginalDstAddon(MISSING_ADDON);
    assert.ok('error' in load);
    assert.match(load.error, /native addon not built .*node-gyp rebuild --directory native --nodedir=\/usr/);
    assert.equal(loadOriginalDstAddon(MISSING_ADDON), load);
  });

  test('neither method available: one clear error naming both reasons', async () => {
    const c = await acceptOne('127.0.0.1');
    try {
      await assert.rejects(
        getOriginalDst(c.accepted, { addonPath: MISSING_ADDON, conntrackPath: MISSING_TABLE }),
        rejectsWith(
          OriginalDstErrorCode.UNAVAILABLE,
          /native addon not built.*; .*no-such-conntrack does not exist/,
        ),
      );
      await assert.rejects(
        getOriginalDst(c.accepted, { method: 'addon', addonPath: MISSING_ADDON }),
        rejectsWith(OriginalDstErrorCode.UNAVAILABLE, /native addon not built/),
      );
      assert.match(
        String(
          (
            (await originalDstAvailability({ addonPath: MISSING_ADDON, conntrackPath: MISSING_TABLE })) as {
              error: string;
            }
          ).error,
        ),
        /^no way to read original destinations: native addon not built.*; .*does not exist/,
      );
    } finally {
      await close(c);
    }
  });

  test('a closed connection cannot be looked up', async () => {
    const c = await acceptOne('127.0.0.1');
    await close(c);
    await new Promise((resolve) => setImmediate(resolve));
    await assert.rejects(
      getOriginalDst(c.accepted, { addonPath: MISSING_ADDON, conntrackPath: MISSING_TABLE }),
      rejectsWith(OriginalDstErrorCode.LOOKUP_FAILED, /closed/),
    );
  });
});

describe('conntrack fallback', () => {
  let c: Accepted;
  let table: string;
  let tablePath: string;
  before(async () => {
    c = await acceptOne('127.0.0.1');
    const lp = c.accepted.localPort;
    const rp = c.accepted.remotePort;
    // What the kernel lists after `-j REDIRECT --to-ports <listener>` of a connection to
    // 198.19.0.10:80, among unrelated entries (one with the same ports but other addresses).
    table = [
      `ipv4     2 udp      17 29 src=10.0.0.1 dst=10.0.0.2 sport=${rp} dport=53 src=10.0.0.2 dst=10.0.0.1 sport=53 dport=${rp} mark=0 zone=0 use=2`,
      `ipv4     2 tcp      6 300 ESTABLISHED src=10.9.9.9 dst=198.19.0.99 sport=${rp} dport=81 src=127.0.0.1 dst=10.9.9.9 sport=${lp} dport=${rp} [ASSURED] mark=0 zone=0 use=2`,
      `ipv4     2 tcp      6 431999 ESTABLISHED src=127.0.0.1 dst=198.19.0.10 sport=${rp} dport=80 src=127.0.0.1 dst=127.0.0.1 sport=${lp} dport=${rp} [ASSURED] mark=0 zone=0 use=2`,
      '',
    ].join('\n');
    tablePath = join(dir, 'nf_conntrack');
    writeFileSync(tablePath, table);
  });
  after(() => close(c));

  test('maps the accepted socket to its original destination', async () => {
    assert.deepEqual(await getOriginalDst(c.accepted, { method: 'conntrack', conntrackPath: tablePath }), {
      address: '198.19.0.10',
      port: 80,
      family: 4,
      method: 'conntrack',
    });
  });

  test('is used automatically when the addon is missing', async () => {
    const found = await getOriginalDst(c.accepted, { addonPath: MISSING_ADDON, conntrackPath: tablePath });
    assert.equal(found.method, 'conntrack');
    assert.equal(found.address, '198.19.0.10');
    assert.deepEqual(await originalDstAvailability({ addonPath: MISSING_ADDON, conntrackPath: tablePath }), {
      method: 'conntrack',
    });
  });

  test('an entry that was not NATed means the connection was not redirected', async () => {
    const lp = c.accepted.localPort;
    const rp = c.accepted.remotePort;
    const path = join(dir, 'not-nated');
    writeFileSync(
      path,
      `ipv4     2 tcp      6 431999 ESTABLISHED src=127.0.0.1 dst=127.0.0.1 sport=${rp} dport=${lp} src=127.0.0.1 dst=127.0.0.1 sport=${lp} dport=${rp} [ASSURED] mark=0 zone=0 use=2\n`,
    );
    await assert.rejects(
      getOriginalDst(c.accepted, { method: 'conntrack', conntrackPath: path }),
      rejectsWith(OriginalDstErrorCode.NOT_REDIRECTED),
    );
  });

  test('no matching entry is a lookup failure naming the connection', async () => {
    const path = join(dir, 'empty');
    writeFileSync(path, table.split('\n')[0]);
    await assert.rejects(
      getOriginalDst(c.accepted, { method: 'conntrack', conntrackPath: path }),
      rejectsWith(
        OriginalDstErrorCode.LOOKUP_FAILED,
        /no conntrack entry in .*empty for 127\.0\.0\.1:\d+ -> 127\.0\.0\.1:\d+/,
      ),
    );
  });

  test('IPv6 entries (printed uncompressed) match a dual-stack socket; live entries beat closing ones', () => {
    // The kernel prints IPv6 addresses uncompressed.
    const lines = [
      `ipv6     10 tcp      6 119 TIME_WAIT src=fd00:6d7a:0000:0000:0000:0000:0000:000a dst=fd00:6d7a:0005:0000:0000:0000:0000:00ff sport=41444 dport=80 src=0000:0000:0000:0000:0000:0000:0000:0001 dst=fd00:6d7a:0000:0000:0000:0000:0000:000a sport=15001 dport=41444 [ASSURED] mark=0 zone=0 use=2`,
      `ipv6     10 tcp      6 431999 ESTABLISHED src=fd00:6d7a:0000:0000:0000:0000:0000:000a dst=fd00:6d7a:0005:0000:0000:0000:0000:000a sport=41444 dport=80 src=0000:0000:0000:0000:0000:0000:0000:0001 dst=fd00:6d7a:0000:0000:0000:0000:0000:000a sport=15001 dport=41444 [ASSURED] mark=0 zone=0 use=2`,
    ].join('\n');
    assert.deepEqual(findInConntrack(lines, '::1', 15001, 'fd00:6d7a::a', 41444), {
      address: 'fd00:6d7a:5::a',
      port: 80,
      family: 6,
      method: 'conntrack',
    });
    // Only the closing entry left: it is still the best answer.
    assert.equal(
      findInConntrack(lines.split('\n')[0], '::1', 15001, 'fd00:6d7a::a', 41444)?.address,
      'fd00:6d7a:5::ff',
    );
    // IPv4 seen through a dual-stack listener: "::ffff:" addresses.
    const v4 = `ipv4     2 tcp      6 431999 ESTABLISHED src=198.18.0.10 dst=198.19.0.10 sport=53468 dport=80 src=127.0.0.1 dst=198.18.0.10 sport=15001 dport=53468 [ASSURED] mark=0 zone=0 use=2`;
    assert.equal(
      findInConntrack(v4, '::ffff:127.0.0.1', 15001, '::ffff:198.18.0.10', 53468)?.address,
      '198.19.0.10',
    );
    assert.equal(findInConntrack(v4, '::ffff:127.0.0.1', 15001, '::ffff:198.18.0.11', 53468), undefined);
  });
});

test('leaves no open handles', assertNoOpenHandles);
