/**
 * NetnsTopology, the namespaces under the demo and the e2e mesh: pods reach each other and
 * resolve service names to VIPs; a VIP answers only through capture (an uncaptured connection
 * is refused); the root namespace gains nothing; destroy and the next run's start-up remove
 * everything, including a crashed run's leftovers, and leave other live runs alone.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import {
  NetnsTopology,
  netnsUnavailableReason,
  type Pod,
  runCommand,
  type ServiceVip,
} from '../../../src/cli/demo/netns-topology.ts';
import { assertNoOpenHandles } from '../../config/helpers.ts';

const reason = await netnsUnavailableReason();
const skip = reason ? `needs root, iproute2, iptables and setpriv: ${reason}` : false;

async function namespaces(): Promise<string[]> {
  return (await runCommand('ip', ['netns', 'list'])).stdout
    .split('\n')
    .map((l) => l.split(' ')[0])
    .filter(Boolean);
}

/** Links, addresses and routes of the root namespace (without counters and lifetimes). */
async function rootNetwork(): Promise<string> {
  const parts = await Promise.all([
    runCommand('ip', ['-o', 'link', 'show']),
    runCommand('ip', ['-o', 'addr', 'show']),
    runCommand('ip', ['route', 'show', 'table', 'all']),
  ]);
  return parts
    .map((p) =>
      p.stdout
        .split('\n')
        .map((l) => l.replace(/\s+(valid_lft|preferred_lft)\s+\S+/g, '').replace(/\\.*$/, ''))
        .join('\n'),
    )
    .join('\n---\n');
}

/** Connects from inside `netns` (optionally as `uid`); the data received, or the error code. */
async function connect(topo: NetnsTopology, netns: string, host: string, port: number, uid?: number) {
  const script = `
    const s = require('node:net').connect({ host: process.argv[1], port: Number(process.argv[2]) });
    let data = '';
    s.setTimeout(10000, () => { console.log('ETIMEDOUT'); process.exit(0); });
    s.on('data', (d) => (data += d));
    s.on('close', (err) => { if (!err) console.log(data); });
    s.on('error', (e) => console.log(e.code));`;
  const r = await topo.run(netns, process.execPath, ['-e', script, host, String(port)], { uid });
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}

describe('NetnsTopology', { skip }, () => {
  let topo: NetnsTopology;
  let a: Pod;
  let b: Pod;
  let svc: ServiceVip;
  let rootBefore: string;

  before(async () => {
    rootBefore = await rootNetwork();
    topo = await NetnsTopology.create({ base: 'mze', tag: 'topo-', podNet: '10.250.3', vipNet: '10.250.4' });
    a = await topo.addPod('a');
    b = await topo.addPod('b');
    svc = topo.addService('web', ['web', 'web.default.svc.cluster.local']);
    const server = topo.spawn(b.netns, process.execPath, [
      '-e',
      "require('net').createServer((c) => c.end('hello from b')).listen(8080, '0.0.0.0', () => console.log('ready'))",
    ]);
    await new Promise<void>((resolve, reject) => {
      server.stdout?.once('data', () => resolve());
      server.once('exit', (code) => reject(new Error(`server exited ${code}`)));
    });
  });
  after(async () => {
    await topo?.destroy();
  });

  test('pods get addresses in the given range and names with the run prefix', () => {
    assert.equal(topo.prefix, `mze${process.pid}-topo-`);
    assert.equal(a.netns, `${topo.prefix}a`);
    assert.equal(a.ip, '10.250.3.10');
    assert.equal(b.ip, '10.250.3.11');
    assert.equal(svc.vip, '10.250.4.10');
    assert.equal(topo.gateway, '10.250.3.1');
  });

  test('pods reach each other by address and by name', async () => {
    assert.equal(await connect(topo, a.netns, b.ip, 8080), 'hello from b');
    assert.equal(await connect(topo, a.netns, 'b', 8080), 'hello from b');
  });

  test('service names resolve to the VIP, which refuses connections that were not captured', async () => {
    const hosts = await topo.run(a.netns, 'getent', ['hosts', 'web.default.svc.cluster.local']);
    assert.match(hosts.stdout, /^10\.250\.4\.10\s/);
    assert.equal(await connect(topo, a.netns, 'web', 8080), 'ECONNREFUSED');
    assert.equal(await connect(topo, a.netns, svc.vip, 8080, 1337), 'ECONNREFUSED');
  });

  test('the node namespace has no default route; the root namespace has nothing of ours', async () => {
    const routes = await topo.run(topo.nodeNetns, 'ip', ['route', 'show']);
    assert.doesNotMatch(routes.stdout, /default/);
    assert.equal(await rootNetwork(), rootBefore);
  });

  test('commands cannot be pointed at namespaces outside this run', async () => {
    await assert.rejects(topo.run('elsewhere', 'true', []), /not one of this run's namespaces/);
  });

  test('destroy kills what runs inside and removes namespaces and /etc/netns files', async () => {
    const sleeper = topo.spawn(a.netns, process.execPath, ['-e', 'setInterval(() => {}, 1000)']);
    const exited = new Promise((resolve) => sleeper.once('exit', (_code, signal) => resolve(signal)));
    await topo.destroy();
    assert.equal(await exited, 'SIGKILL');
    assert.deepEqual(
      (await namespaces()).filter((n) => n.startsWith(topo.prefix)),
      [],
    );
    assert.ok(!existsSync(`/etc/netns/${a.netns}`));
    assert.ok(!existsSync(`/etc/netns/${topo.nodeNetns}`));
    assert.equal(await rootNetwork(), rootBefore);
    await topo.destroy();
  });
});

describe('leftovers of a crashed run', { skip }, () => {
  test('are removed by the next run; a live run is left alone', async () => {
    const dead = await new Promise<number>((resolve) => {
      const child = spawn('true');
      child.once('exit', () => resolve(child.pid as number));
    });
    const stale = `mze${dead}-crashed-node`;
    const live = 'mze1-other-node'; // pid 1 is alive
    await runCommand('ip', ['netns', 'add', stale]);
    await runCommand('ip', ['netns', 'add', live]);
    mkdirSync(`/etc/netns/${stale}`, { recursive: true });
    writeFileSync(`/etc/netns/${stale}/hosts`, '127.0.0.1 localhost\n');
    try {
      const topo = await NetnsTopology.create({ base: 'mze', tag: 'fresh-' });
      assert.deepEqual(topo.cleaned, [`mze${dead}-`]);
      await topo.destroy();
      const left = await namespaces();
      assert.ok(!left.includes(stale), `${stale} was not removed`);
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
