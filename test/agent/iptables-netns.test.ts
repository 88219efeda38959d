/**
 * Transparent capture for real: `mizzen-proxy iptables` rules in pod namespaces, a stand-in
 * proxy running as uid 1337 that reads original destinations with the native addon, and
 * clients that run inside the namespaces (never from the root namespace).
 *
 * Pods: client (capture; excludes plain's addresses and outbound port 8443), server (capture;
 * excludes inbound port 9000), plain (no capture), ct (capture; a root proxy reading conntrack).
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadOriginalDstAddon } from '../../src/proxy/listener/original-dst.ts';
import { assertNoOpenHandles } from '../config/helpers.ts';
import {
  NetnsLab,
  netnsSkipReason,
  type Pod,
  runCommand,
  type Service,
  waitForLine,
} from '../support/netns.ts';

const FIXTURES = join(import.meta.dirname, 'testdata', 'iptables');
const PROXY_UID = 1337;

const envReason = await netnsSkipReason({ iptables: true, setpriv: true });
const addon = loadOriginalDstAddon();
const skip = envReason
  ? `needs root, iproute2 and iptables: ${envReason}`
  : 'error' in addon
    ? `needs the native addon: ${addon.error}`
    : false;

const hp = (address: string, port: number) =>
  address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;

describe('transparent capture in network namespaces', { skip }, () => {
  let lab: NetnsLab;
  let client: Pod;
  let server: Pod;
  let plain: Pod;
  let ct: Pod;
  let reviews: Service;
  let self: Service;

  async function iptables(pod: Pod, args: string[]): Promise<string> {
    const r = await lab.run(pod.netns, process.execPath, [join(FIXTURES, 'run-iptables.ts'), ...args]);
    assert.equal(r.code, 0, `mizzen-proxy iptables ${args.join(' ')} in ${pod.name}: ${r.stderr}`);
    return r.stdout;
  }
  async function start(pod: Pod, script: string, config: unknown, uid?: number): Promise<void> {
    const child = lab.spawnNode(
      pod.netns,
      [join(FIXTURES, script), JSON.stringify(config)],
      uid ? { uid } : {},
    );
    await waitForLine(child, /^ready$/);
  }
  async function request(pod: Pod, address: string, port: number): Promise<string> {
    const r = await lab.tcpRequest(pod.netns, address, port);
    return 'data' in r ? r.data : `error ${r.error}`;
  }
  async function natRules(pod: Pod): Promise<string> {
    const v4 = await lab.run(pod.netns, 'iptables-save', ['-t', 'nat']);
    const v6 = await lab.run(pod.netns, 'ip6tables-save', ['-t', 'nat']);
    return v4.stdout + v6.stdout;
  }

  before(async () => {
    lab = await NetnsLab.create('cap-');
    client = await lab.addPod('client');
    server = await lab.addPod('server');
    plain = await lab.addPod('plain');
    ct = await lab.addPod('ct');
    reviews = lab.addService('reviews', 'default');
    self = lab.addService('self', 'default');

    await iptables(client, ['-x', `${plain.ipv4}/32,${plain.ipv6}/128`, '-o', '8443']);
    await iptables(server, ['-d', '9000']);
    await iptables(ct, []);

    await start(client, 'app-server.ts', { name: 'client', ports: [8080] });
    await start(server, 'app-server.ts', { name: 'server', ports: [8080, 8443, 9000, 15021] });
    await start(plain, 'app-server.ts', { name: 'plain', ports: [8080] });
    const sidecar = (forward: Record<string, string>) => ({
      listeners: [
        { port: 15001, label: 'out' },
        { port: 15006, label: 'in', passthrough: true },
      ],
      forward,
      method: 'addon',
    });
    await start(
      client,
      'capture-proxy.ts',
      sidecar({
        [hp(reviews.ipv4, 80)]: hp(server.ipv4, 8080),
        [hp(reviews.ipv6, 80)]: hp(server.ipv6, 8080),
        [hp(self.ipv4, 80)]: hp(client.ipv4, 8080),
        [hp(self.ipv6, 80)]: hp(client.ipv6, 8080),
      }),
      PROXY_UID,
    );
    await start(server, 'capture-proxy.ts', sidecar({}), PROXY_UID);
    // As root: its own outbound would be captured, but it makes none; root can read conntrack.
    await start(ct, 'capture-proxy.ts', { listeners: [{ port: 15001, label: 'ct' }], method: 'conntrack' });
  });

  after(async () => {
    await lab?.destroy();
  });

  test('outbound to a service VIP reaches the proxy with the VIP as original destination (IPv4, IPv6)', async () => {
    for (const [vip, target] of [
      [reviews.ipv4, server.ipv4],
      [reviews.ipv6, server.ipv6],
    ]) {
      // out: client's sidecar saw the VIP; its own connection to the server pod was not
      // captured (uid 1337), so the next hop is the server's inbound capture, then the app.
      assert.equal(
        await request(client, vip, 80),
        `out orig=${hp(vip, 80)} via=addon\nin orig=${hp(target, 8080)} via=addon\napp:8080@server\n`,
      );
    }
  });

  test('service names resolve to VIPs inside pods and are captured', async () => {
    assert.match(
      await request(client, 'reviews.default.svc.cluster.local', 80),
      /^out orig=\S+:80 via=addon\n/,
    );
  });

  test("the proxy's call to its own pod IP goes over lo to inbound capture (Istio's special case)", async () => {
    assert.equal(
      await request(client, self.ipv4, 80),
      `out orig=${hp(self.ipv4, 80)} via=addon\nin orig=${hp(client.ipv4, 8080)} via=addon\napp:8080@client\n`,
    );
    assert.equal(
      await request(client, self.ipv6, 80),
      `out orig=${hp(self.ipv6, 80)} via=addon\nin orig=${hp(client.ipv6, 8080)} via=addon\napp:8080@client\n`,
    );
  });

  test('outbound to a pod address is captured', async () => {
    assert.equal(await request(client, server.ipv4, 8080), `out orig=${hp(server.ipv4, 8080)} via=addon\n`);
    assert.equal(await request(client, server.ipv6, 8080), `out orig=${hp(server.ipv6, 8080)} via=addon\n`);
  });

  test('loopback and the pod calling its own IP are not captured', async () => {
    assert.equal(await request(client, '127.0.0.1', 8080), 'app:8080@client\n');
    assert.equal(await request(client, '::1', 8080), 'app:8080@client\n');
    assert.equal(await request(client, client.ipv4, 8080), 'app:8080@client\n');
    assert.equal(await request(client, client.ipv6, 8080), 'app:8080@client\n');
  });

  test('excluded outbound CIDRs (-x) and ports (-o) bypass the outbound proxy', async () => {
    assert.equal(await request(client, plain.ipv4, 8080), 'app:8080@plain\n');
    assert.equal(await request(client, plain.ipv6, 8080), 'app:8080@plain\n');
    // Not through client's sidecar; the server's inbound capture still applies.
    assert.equal(
      await request(client, server.ipv4, 8443),
      `in orig=${hp(server.ipv4, 8443)} via=addon\napp:8443@server\n`,
    );
  });

  test('inbound from another pod is redirected to 15006 (IPv4, IPv6)', async () => {
    for (const address of [server.ipv4, server.ipv6]) {
      assert.equal(
        await request(plain, address, 8080),
        `in orig=${hp(address, 8080)} via=addon\napp:8080@server\n`,
      );
    }
  });

  test("inbound to the proxy's ports and to -d ports is not captured", async () => {
    assert.equal(await request(plain, server.ipv4, 15021), 'app:15021@server\n');
    assert.equal(await request(plain, server.ipv6, 15021), 'app:15021@server\n');
    assert.equal(await request(plain, server.ipv4, 9000), 'app:9000@server\n');
  });

  test('a connection made straight to the capture port is refused, not looped', async () => {
    assert.equal(await request(client, '127.0.0.1', 15001), 'refused MZ_ERR_ORIGINAL_DST_NOT_REDIRECTED\n');
    assert.equal(await request(client, '::1', 15001), 'refused MZ_ERR_ORIGINAL_DST_NOT_REDIRECTED\n');
  });

  test('the conntrack fallback finds the original destination (IPv4, IPv6)', async () => {
    assert.equal(await request(ct, reviews.ipv4, 80), `ct orig=${hp(reviews.ipv4, 80)} via=conntrack\n`);
    assert.equal(await request(ct, reviews.ipv6, 80), `ct orig=${hp(reviews.ipv6, 80)} via=conntrack\n`);
  });

  test('applying again replaces the rules instead of duplicating them', async () => {
    const before = await natRules(ct);
    await iptables(ct, []);
    assert.equal(strip(await natRules(ct)), strip(before));
  });

  test('clean removes every rule and chain it installed, and the ::6 address', async () => {
    for (const pod of [client, server, ct]) {
      assert.match(await natRules(pod), /ISTIO_OUTPUT/);
      assert.match(await iptables(pod, ['clean']), /capture rules removed/);
      const rules = await natRules(pod);
      assert.doesNotMatch(rules, /ISTIO|REDIRECT/, `${pod.name} still has capture rules:\n${rules}`);
      assert.doesNotMatch(
        (await lab.run(pod.netns, 'ip', ['-6', 'addr', 'show', 'dev', 'lo'])).stdout,
        /::6\//,
      );
    }
    assert.match(await iptables(ct, ['clean']), /no capture rules to clean/);
    // Uncaptured now: straight to the app, and a VIP leads nowhere.
    assert.equal(await request(client, server.ipv4, 8080), 'app:8080@server\n');
    assert.equal(await request(client, reviews.ipv4, 80), 'error ECONNREFUSED');
    assert.equal(await request(client, reviews.ipv6, 80), 'error ECONNREFUSED');
  });

  test('teardown leaves no namespace, /etc/netns entry or process behind', async () => {
    const prefix = lab.prefix;
    await lab.destroy();
    const list = await runCommand('ip', ['netns', 'list']);
    assert.doesNotMatch(list.stdout, new RegExp(`^${prefix}`, 'm'));
    assert.ok(!existsSync('/etc/netns') || readdirSync('/etc/netns').every((e) => !e.startsWith(prefix)));
  });
});

/** iptables-save output without its timestamp comments. */
function strip(save: string): string {
  return save
    .split('\n')
    .filter((l) => !l.startsWith('#'))
    .join('\n');
}

test('leaves no open handles', assertNoOpenHandles);
