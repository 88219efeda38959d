/**
 * Transparent capture end to end, in network namespaces with Istio's iptables rules: the real
 * ListenerManager (testdata/sidecar.ts, uid 1337, native addon) receives REDIRECTed
 * connections on 15001/15006, restores their original destination and hands them to the
 * `bind_to_port: false` listener that matches it best (exact VIP:port before 0.0.0.0:port),
 * passes unclaimed ones through an ORIGINAL_DST cluster to where they were going, picks inbound
 * chains by original destination port, and refuses a connection made to 15001 directly.
 * Needs root, iproute2, iptables and the addon; skipped with the reason otherwise.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadOriginalDstAddon } from '../../../src/proxy/listener/original-dst.ts';
import { NetnsLab, netnsSkipReason, type Pod, type Service, waitForLine } from '../../support/netns.ts';

const TESTDATA = join(import.meta.dirname, 'testdata');
const PROXY_UID = 1337;
const envReason = await netnsSkipReason({ iptables: true, setpriv: true });
const addon = loadOriginalDstAddon();
const skip = envReason
  ? `needs root, iproute2 and iptables: ${envReason}`
  : 'error' in addon
    ? `needs the native addon: ${addon.error}`
    : false;

const ECHO = `
  const net = require('node:net');
  net.createServer((s) => { s.on('data', (d) => s.end(String(d).toUpperCase())); s.on('error', () => {}); })
    .listen(7070, () => process.stdout.write('ready\\n'));
`;
const get = (host: string) => `GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`;
const body = (r: { data: string } | { error: string }) =>
  'data' in r ? r.data.slice(r.data.indexOf('\r\n\r\n') + 4) : `error ${r.error}`;

describe('capture listeners with iptables REDIRECT', { skip }, () => {
  let lab: NetnsLab;
  let app: Pod;
  let other: Pod;
  let reviews: Service;
  let ratings: Service;

  before(async () => {
    lab = await NetnsLab.create('lcap-');
    app = await lab.addPod('app');
    other = await lab.addPod('other');
    reviews = lab.addService('reviews');
    ratings = lab.addService('ratings');
    const rules = await lab.run(app.netns, process.execPath, [join(TESTDATA, 'iptables.ts')]);
    assert.equal(rules.code, 0, `iptables: ${rules.stderr}`);
    const sidecar = lab.spawnNode(app.netns, [join(TESTDATA, 'sidecar.ts'), reviews.ipv4], {
      uid: PROXY_UID,
    });
    await waitForLine(sidecar, /^ready$/);
    await waitForLine(lab.spawnNode(other.netns, ['-e', ECHO]), /^ready$/);
  });

  after(async () => {
    await lab?.destroy();
  });

  test('outbound: the exact VIP listener wins over 0.0.0.0:port', async () => {
    assert.equal(
      body(await lab.tcpRequest(app.netns, reviews.ipv4, 9080, { send: get('reviews') })),
      'vip-9080',
    );
    assert.equal(
      body(await lab.tcpRequest(app.netns, ratings.ipv4, 9080, { send: get('ratings') })),
      'wildcard-9080',
    );
  });

  test('outbound: an unclaimed destination passes through to where it was going', async () => {
    const r = await lab.tcpRequest(app.netns, other.ipv4, 7070, { send: 'ping' });
    assert.deepEqual(r, { data: 'PING' });
  });

  test('inbound: virtualInbound picks the chain by original destination port', async () => {
    assert.equal(
      body(await lab.tcpRequest(other.netns, app.ipv4, 8080, { send: get('app') })),
      'inbound-8080',
    );
  });

  test('a connection made to 15001 itself is refused, not looped', async () => {
    const r = await lab.tcpRequest(app.netns, '127.0.0.1', 15001, { send: 'x', timeoutMs: 5000 });
    assert.ok(!('data' in r) || r.data === '', JSON.stringify(r));
  });
});
