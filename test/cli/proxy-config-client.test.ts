/** Addresses, proxy names and admin addresses as proxy-status and proxy-config resolve them. */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import {
  adminAnnounced,
  adminCandidates,
  CommandFailure,
  fetchSyncz,
  formatHostPort,
  getJson,
  isLoopback,
  mizzendAddress,
  parseHostPort,
  resolveProxy,
  type SyncEntry,
} from '../../src/cli/commands/proxy-config-client.ts';

const entry = (proxy: string, extra: Partial<SyncEntry> = {}): SyncEntry => ({
  proxy,
  node_id: `sidecar~10.0.0.1~${proxy}~default.svc.cluster.local`,
  cluster_id: 'Kubernetes',
  istio_version: '1.24.0',
  peer: '127.0.0.1:40000',
  types: [],
  ...extra,
});
const MIZZEND = { host: '127.0.0.1', port: 15014 };

test('host:port and [ipv6]:port parse; anything else, or port 0 or over 65535, does not', () => {
  assert.deepEqual(parseHostPort('localhost:15014'), { host: 'localhost', port: 15014 });
  assert.deepEqual(parseHostPort('[::1]:15000'), { host: '::1', port: 15000 });
  for (const bad of ['localhost', ':80', 'a:0', 'a:65536', '::1:80', 'a b:1', 'a:http']) {
    assert.equal(parseHostPort(bad), undefined, bad);
  }
  assert.equal(formatHostPort({ host: '::1', port: 1 }), '[::1]:1');
  assert.equal(formatHostPort({ host: '127.0.0.1', port: 1 }), '127.0.0.1:1');
});

test("mizzend's address: the flag, else MIZZEND_ADDRESS, else localhost:15014; a bad env value is a usage error", () => {
  assert.deepEqual(mizzendAddress({ host: 'a', port: 1 }, { MIZZEND_ADDRESS: 'b:2' }), {
    host: 'a',
    port: 1,
  });
  assert.deepEqual(mizzendAddress(undefined, { MIZZEND_ADDRESS: 'b:2' }), { host: 'b', port: 2 });
  assert.deepEqual(mizzendAddress(undefined, {}), { host: 'localhost', port: 15014 });
  assert.deepEqual(mizzendAddress(undefined, { MIZZEND_ADDRESS: '' }), { host: 'localhost', port: 15014 });
  assert.throws(
    () => mizzendAddress(undefined, { MIZZEND_ADDRESS: 'b' }),
    (e: unknown) => e instanceof CommandFailure && e.code === 64 && /MIZZEND_ADDRESS="b"/.test(e.message),
  );
});

test('a proxy is found by pod.namespace, node id, pod with -n, or a unique pod name; the newest connection wins', () => {
  const older = entry('reviews-v1.default', { connected_at: '2026-01-01T00:00:00Z', connection_id: 'c1' });
  const newer = entry('reviews-v1.default', { connected_at: '2026-01-02T00:00:00Z', connection_id: 'c2' });
  const all = [older, newer, entry('reviews-v1.staging'), entry('details.default')];
  assert.equal(resolveProxy(all, 'reviews-v1.default', undefined, MIZZEND).connection_id, 'c2');
  assert.equal(resolveProxy(all, newer.node_id, undefined, MIZZEND).connection_id, 'c2');
  assert.equal(resolveProxy(all, 'reviews-v1', 'staging', MIZZEND).proxy, 'reviews-v1.staging');
  assert.equal(resolveProxy(all, 'details', undefined, MIZZEND).proxy, 'details.default');
  assert.throws(
    () => resolveProxy(all, 'reviews-v1', undefined, MIZZEND),
    /"reviews-v1" is ambiguous; it could be reviews-v1\.default, reviews-v1\.staging/,
  );
  assert.throws(
    () => resolveProxy(all, 'ratings.default', undefined, MIZZEND),
    (e: unknown) =>
      e instanceof CommandFailure &&
      e.code === 1 &&
      e.message ===
        'proxy "ratings.default" is not connected to mizzend at 127.0.0.1:15014; connected proxies: details.default, reviews-v1.default, reviews-v1.staging',
  );
  assert.throws(() => resolveProxy([], 'x.y', undefined, MIZZEND), /no proxy is connected/);
});

test("admin candidates: the announced address, else the proxy's IP and the xDS peer host, loopback only", () => {
  const at = (ip: string, extra: Partial<SyncEntry> = {}) =>
    entry('a.b', { node_id: `sidecar~${ip}~a.b~b.svc.cluster.local`, ...extra });
  assert.deepEqual(adminCandidates(at('10.0.0.1', { admin_address: '10.0.0.1:1500' }), 15000), [
    { host: '10.0.0.1', port: 1500 },
  ]);
  assert.deepEqual(adminCandidates(at('127.0.0.9'), 15000), [
    { host: '127.0.0.9', port: 15000 },
    { host: '127.0.0.1', port: 15000 },
  ]);
  assert.deepEqual(adminCandidates(at('127.0.0.1', { admin_port: 1501 }), 15000), [
    { host: '127.0.0.1', port: 1501 },
  ]);
  assert.deepEqual(adminCandidates(at('127.0.0.3', { peer: '[::ffff:127.0.0.3]:999' }), 1), [
    { host: '127.0.0.3', port: 1 },
  ]);
  assert.deepEqual(adminCandidates(at('10.1.2.3', { peer: 'ipv4:127.0.0.4:999' }), 1), [
    { host: '127.0.0.4', port: 1 },
  ]);
  assert.throws(
    () => adminCandidates(at('10.1.2.3', { peer: '10.1.2.3:999' }), 15000),
    /proxy a\.b is at 10\.1\.2\.3, not on this machine's loopback, .*--admin host:port/,
  );
  assert.equal(adminAnnounced(at('10.0.0.1')), false);
  assert.equal(adminAnnounced(at('10.0.0.1', { admin_address: '10.0.0.1:1' })), true);
  assert.equal(isLoopback('127.255.0.1'), true);
  assert.equal(isLoopback('::1'), true);
  assert.equal(isLoopback('10.0.0.1'), false);
});

test('HTTP answers: an error status names the server and its message; a body that is not JSON or not syncz is refused', async () => {
  const server = http.createServer((req, res) => {
    if (req.url === '/json-error')
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"proxy x is not connected"}');
    else if (req.url === '/text-error') res.writeHead(503).end('not ready: no push context\n');
    else if (req.url === '/debug/syncz') res.end('[{"proxy":"a.b"}]');
    else res.end('<html>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const at = { host: '127.0.0.1', port: (server.address() as AddressInfo).port };
  const where = `127.0.0.1:${at.port}`;
  try {
    await assert.rejects(getJson(at, '/json-error', 'mizzend'), {
      message: `mizzend at ${where} answered /json-error with HTTP 404: proxy x is not connected`,
    });
    await assert.rejects(getJson(at, '/text-error', 'mizzend'), {
      message: `mizzend at ${where} answered /text-error with HTTP 503: not ready: no push context`,
    });
    await assert.rejects(getJson(at, '/', 'mizzend'), {
      message: `mizzend at ${where} answered / with something that is not JSON`,
    });
    await assert.rejects(fetchSyncz(at), {
      message: `mizzend at ${where}: /debug/syncz is not a list of proxies with proxy, node_id and types`,
    });
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

test('no open handles', async () => {
  const open = () =>
    process.getActiveResourcesInfo().filter((r) => ['TCPSocketWrap', 'TCPServerWrap', 'Timeout'].includes(r));
  for (let i = 0; i < 50 && open().length > 0; i++) await new Promise((r) => setImmediate(r));
  assert.deepEqual(open(), []);
});
