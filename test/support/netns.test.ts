/**
 * The network-namespace lab: pods reach each other by address and name over IPv4 and IPv6,
 * nothing of the lab appears in the root namespace, commands can run as another uid, and
 * teardown (including of a crashed run's leftovers) leaves nothing behind.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { assertNoOpenHandles } from '../config/helpers.ts';
import { NetnsLab, netnsSkipReason, type Pod, runCommand, waitForLine } from './netns.ts';

const reason = await netnsSkipReason({ setpriv: true });
const skip = reason ? `needs root and iproute2: ${reason}` : false;

async function namespaces(): Promise<string[]> {
  return (await runCommand('ip', ['netns', 'list'])).stdout
    .split('\n')
    .map((l) => l.split(' ')[0])
    .filter(Boolean);
}
/** What the root namespace has: links, addresses, routes (v4 and v6). */
async function rootNetwork(): Promise<string> {
  const parts = await Promise.all([
    runCommand('ip', ['-o', 'link', 'show']),
    runCommand('ip', ['-o', 'addr', 'show']),
    runCommand('ip', ['route', 'show', 'table', 'all']),
    runCommand('ip', ['-6', 'route', 'show', 'table', 'all']),
  ]);
  // Link counters and address lifetimes change on their own; names and prefixes do not.
  return parts
    .map((p) =>
      p.stdout
        .split('\n')
        .map((l) => l.replace(/\s+(valid_lft|preferred_lft)\s+\S+/g, '').replace(/\\.*$/, ''))
        .join('\n'),
    )
    .join('\n---\n');
}

describe('NetnsLab', { skip }, () => {
  let lab: NetnsLab;
  let a: Pod;
  let b: Pod;
  let rootBefore: string;

  before(async () => {
    rootBefore = await rootNetwork();
    lab = await NetnsLab.create('lab-');
    a = await lab.addPod('a');
    b = await lab.addPod('b');
    lab.addService('reviews', 'bookinfo');
    const server = lab.spawnNode(b.netns, [
      '-e',
      "require('net').createServer((c) => c.end('hello from b\\n')).listen(8080, '::', () => console.log('ready'))",
    ]);
    await waitForLine(server, /^ready$/);
  });
  after(async () => {
    await lab?.destroy();
  });

  test('pods get addresses from the test ranges and a per-run prefix', () => {
    assert.match(lab.prefix, new RegExp(`^mzt${process.pid}-lab-$`));
    assert.equal(a.netns, `${lab.prefix}a`);
    assert.match(a.ipv4, /^198\.18\.0\.\d+$/);
    assert.match(b.ipv6, /^fd00:6d7a::[0-9a-f]+$/);
    assert.notEqual(a.ipv4, b.ipv4);
  });

  test('pods reach each other over IPv4 and IPv6, by address and by name', async () => {
    for (const host of [b.ipv4, b.ipv6, 'b']) {
      assert.deepEqual(await lab.tcpRequest(a.netns, host, 8080), { data: 'hello from b\n' }, host);
    }
  });

  test('service names resolve to the VIPs; an uncaptured VIP is refused at once', async () => {
    const svc = lab.services.get('reviews')!;
    const hosts = await lab.run(a.netns, 'getent', ['ahosts', 'reviews.bookinfo.svc.cluster.local']);
    assert.match(hosts.stdout, new RegExp(svc.ipv4.replaceAll('.', '\\.')));
    assert.match(hosts.stdout, new RegExp(svc.ipv6));
    assert.deepEqual(await lab.tcpRequest(a.netns, svc.ipv4, 80), { error: 'ECONNREFUSED' });
    assert.deepEqual(await lab.tcpRequest(a.netns, svc.ipv6, 80), { error: 'ECONNREFUSED' });
  });

  test('the node namespace has no default route and the root namespace has nothing of the lab', async () => {
    const routes = await lab.run(lab.nodeNetns, 'ip', ['route', 'show']);
    assert.doesNotMatch(routes.stdout, /default/);
    const routes6 = await lab.run(lab.nodeNetns, 'ip', ['-6', 'route', 'show']);
    assert.doesNotMatch(routes6.stdout, /default/);
    assert.equal(await rootNetwork(), rootBefore);
  });

  test('commands run as another uid with groups cleared', async () => {
    const r = await lab.run(a.netns, 'id', [], { uid: 1337 });
    assert.equal(r.stdout.trim(), 'uid=1337 gid=1337 groups=1337');
  });

  test('commands cannot be pointed at namespaces outside the lab', async () => {
    await assert.rejects(lab.run('some-other-namespace', 'true', []), /not one of this lab's namespaces/);
  });

  test('destroy kills what runs inside and removes namespaces, links and /etc/netns entries', async () => {
    const sleeper = lab.spawnNode(a.netns, ['-e', "setInterval(() => {}, 1000); console.log('ready')"]);
    await waitForLine(sleeper, /^ready$/);
    const exited = new Promise((resolve) => sleeper.once('exit', (_code, signal) => resolve(signal)));
    const prefix = lab.prefix;
    await lab.destroy();
    assert.equal(await exited, 'SIGKILL');
    assert.deepEqual(
      (await namespaces()).filter((n) => n.startsWith(prefix)),
      [],
    );
    assert.ok(!existsSync(`/etc/netns/${prefix}a`));
    assert.equal(await rootNetwork(), rootBefore);
    await lab.destroy(); // twice is fine
  });
});

describe('leftovers of crashed runs', { skip }, () => {
  test('are removed at the next start; a live run is left alone', async () => {
    // A pid that surely is gone: a process that has exited.
    const dead = await new Promise<number>((resolve) => {
      const child = spawn('true');
      child.once('exit', () => resolve(child.pid!));
    });
    const stale = `mzt${dead}-crashed-pod`;
    const live = 'mzt1-someone-else'; // pid 1 is always alive
    await runCommand('ip', ['netns', 'add', stale]);
    await runCommand('ip', ['netns', 'add', live]);
    mkdirSync(`/etc/netns/${stale}`, { recursive: true });
    writeFileSync(`/etc/netns/${stale}/hosts`, '127.0.0.1 localhost\n');
    try {
      const lab = await NetnsLab.create('fresh-');
      await lab.destroy();
      const left = await namespaces();
      assert.ok(!left.includes(stale), `${stale} was not cleaned`);
      assert.ok(!existsSync(`/etc/netns/${stale}`));
      assert.ok(left.includes(live), 'a live run was touched');
    } finally {
      await runCommand('ip', ['netns', 'del', stale]);
      await runCommand('ip', ['netns', 'del', live]);
      rmSync(`/etc/netns/${stale}`, { recursive: true, force: true });
    }
  });
});

test('leaves no open handles', assertNoOpenHandles);
