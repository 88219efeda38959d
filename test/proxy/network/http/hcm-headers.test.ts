/**
 * Header handling of the connection manager, as Envoy does it: hop-by-hop removal,
 * x-request-id generation and preservation, x-forwarded-for/proto with use_remote_address and
 * xff_num_trusted_hops, internal vs external origin (x-envoy-internal, stripping x-envoy-*),
 * server and date headers, via, XFCC sanitising, port stripping and path normalisation.
 */
import { before, type TestContext, test } from 'node:test';
import { newRequestId } from '../../../../src/proxy/network/http/connection-manager.ts';
import { type FakeUpstream, startUpstream } from '../../../support/fake-upstreams.ts';
import {
  assertNoOpenHandles,
  ProxyHarness,
  raw,
  request,
  routeConfig,
  staticCluster,
  statuses,
} from '../../support/harness.ts';

let up: FakeUpstream;
before(async () => {
  up = await startUpstream('h');
});
const routes = routeConfig([{ match: { prefix: '/' }, route: { cluster: 'h' } }]);
const last = () => up.requests[up.requests.length - 1];
async function via(hcm: Record<string, unknown>, req: Parameters<typeof request>[1] = {}) {
  const proxy = await ProxyHarness.http([staticCluster('h', [up.port])], routes, hcm);
  const res = await request(proxy.port, req);
  await proxy.close();
  return { res, seen: last() };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test('hop-by-hop headers are not forwarded; header names keep their case', async (t: TestContext) => {
  t.plan(4);
  const proxy = await ProxyHarness.http([staticCluster('h', [up.port])], routes);
  await raw(
    proxy.port,
    'GET / HTTP/1.1\r\nHost: a\r\nKeep-Alive: 5\r\nProxy-Connection: x\r\nTE: trailers, deflate\r\nX-Mixed-Case: v\r\nConnection: close\r\n\r\n',
  );
  await proxy.close();
  const seen = last();
  t.assert.equal(seen.headers['keep-alive'], undefined);
  t.assert.equal(seen.headers['proxy-connection'], undefined);
  t.assert.equal(seen.headers.te, 'trailers');
  t.assert.ok(seen.rawHeaders.includes('X-Mixed-Case'));
});

test('x-request-id: generated for external requests, replaced unless preserved', async (t: TestContext) => {
  t.plan(4);
  const a = await via({}, {});
  t.assert.match(String(a.seen.headers['x-request-id']), UUID);
  const b = await via({}, { headers: { 'x-request-id': 'client-chosen' } });
  t.assert.match(String(b.seen.headers['x-request-id']), UUID, 'external ids are not trusted');
  const c = await via(
    { preserve_external_request_id: true },
    { headers: { 'x-request-id': 'client-chosen' } },
  );
  t.assert.equal(c.seen.headers['x-request-id'], 'client-chosen');
  const d = await via(
    { always_set_request_id_in_response: true, preserve_external_request_id: true },
    { headers: { 'x-request-id': 'echo-me' } },
  );
  t.assert.equal(d.res.headers['x-request-id'], 'echo-me');
});

test('x-request-id: pooled random ids stay UUIDv4 and distinct across pool refills', (t: TestContext) => {
  // 3,000 ids span more than two refills of the 1,024-id random pool.
  const ids = new Set<string>();
  for (let i = 0; i < 3000; i++) {
    const id = newRequestId();
    if (!UUID.test(id)) t.assert.fail(`not a UUIDv4: ${id}`);
    ids.add(id);
  }
  t.assert.equal(ids.size, 3000);
});

test('use_remote_address: XFF appended, internal client marked, x-envoy headers kept', async (t: TestContext) => {
  t.plan(4);
  const { seen } = await via(
    { use_remote_address: { value: true } },
    { headers: { 'x-envoy-max-retries': '3' } },
  );
  t.assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1');
  t.assert.equal(seen.headers['x-envoy-internal'], 'true');
  t.assert.equal(seen.headers['x-forwarded-proto'], 'http');
  t.assert.equal(seen.headers['x-request-id'] !== undefined, true);
});

test('use_remote_address with an XFF from outside: external, headers stripped, external address set', async (t: TestContext) => {
  t.plan(5);
  const { seen } = await via(
    { use_remote_address: { value: true }, xff_num_trusted_hops: 1 },
    {
      headers: {
        'x-forwarded-for': '203.0.113.7',
        'x-envoy-retry-on': '5xx',
        'x-envoy-internal': 'true',
        'x-envoy-peer-metadata': 'keep',
      },
    },
  );
  t.assert.equal(seen.headers['x-forwarded-for'], '203.0.113.7,127.0.0.1');
  t.assert.equal(seen.headers['x-envoy-internal'], undefined);
  t.assert.equal(seen.headers['x-envoy-retry-on'], undefined);
  t.assert.equal(seen.headers['x-envoy-external-address'], '203.0.113.7');
  t.assert.equal(
    seen.headers['x-envoy-peer-metadata'],
    'keep',
    'only Envoy’s own control headers are stripped',
  );
});

test('sidecar mode (use_remote_address false): XFF untouched; a single internal XFF means internal', async (t: TestContext) => {
  t.plan(3);
  const a = await via({}, { headers: { 'x-forwarded-for': '10.1.2.3', 'x-envoy-max-retries': '2' } });
  t.assert.equal(a.seen.headers['x-forwarded-for'], '10.1.2.3');
  t.assert.equal(a.seen.headers['x-envoy-internal'], 'true');
  const b = await via(
    {},
    { headers: { 'x-forwarded-for': '203.0.113.1, 10.1.2.3', 'x-envoy-max-retries': '2' } },
  );
  t.assert.equal(b.seen.headers['x-envoy-max-retries'], undefined, 'two XFF entries: external');
});

test('x-forwarded-proto from the client is replaced unless hops are trusted', async (t: TestContext) => {
  t.plan(2);
  const a = await via({}, { headers: { 'x-forwarded-proto': 'https' } });
  t.assert.equal(a.seen.headers['x-forwarded-proto'], 'http');
  const b = await via({ xff_num_trusted_hops: 1 }, { headers: { 'x-forwarded-proto': 'https' } });
  t.assert.equal(b.seen.headers['x-forwarded-proto'], 'https');
});

test('server header: overwrite (default), append-if-absent, pass-through; date is set', async (t: TestContext) => {
  t.plan(4);
  up.behave = () => ({ kind: 'echo', headers: { server: 'backend/1.0' } });
  const a = await via({ server_name: 'istio-envoy' });
  const b = await via({ server_header_transformation: 'APPEND_IF_ABSENT' });
  const c = await via({ server_header_transformation: 'PASS_THROUGH' });
  up.behave = () => ({ kind: 'echo' });
  t.assert.equal(a.res.headers.server, 'istio-envoy');
  t.assert.equal(b.res.headers.server, 'backend/1.0');
  t.assert.equal(c.res.headers.server, 'backend/1.0');
  t.assert.match(String(a.res.headers.date), /GMT$/);
});

test('via, XFCC sanitising, x-forwarded-port', async (t: TestContext) => {
  t.plan(3);
  const { seen } = await via(
    { via: 'mizzen', append_x_forwarded_port: true },
    { headers: { 'x-forwarded-client-cert': 'By=spoofed' } },
  );
  t.assert.equal(seen.headers.via, '1.1 mizzen');
  t.assert.equal(seen.headers['x-forwarded-client-cert'], undefined);
  t.assert.match(String(seen.headers['x-forwarded-port']), /^\d+$/);
});

test('strip_any_host_port and path normalisation (normalize_path, merge_slashes, escaped slashes)', async (t: TestContext) => {
  t.plan(5);
  const a = await via({ strip_any_host_port: true }, { headers: { host: 'svc.local:8080' } });
  t.assert.equal(a.seen.headers.host, 'svc.local');
  const b = await via(
    { normalize_path: { value: true }, merge_slashes: true },
    { path: '/a//b/./c/../d%7e?q=..' },
  );
  t.assert.equal(b.seen.url, '/a/b/d~?q=..');
  const proxy = await ProxyHarness.http([staticCluster('h', [up.port])], routes, {
    path_with_escaped_slashes_action: 'REJECT_REQUEST',
  });
  const c = await raw(proxy.port, 'GET /a%2Fb HTTP/1.1\r\nHost: a\r\n\r\n');
  await proxy.close();
  t.assert.deepEqual(statuses(c.text), [400]);
  const d = await via({ path_with_escaped_slashes_action: 'UNESCAPE_AND_FORWARD' }, { path: '/a%2Fb' });
  t.assert.equal(d.seen.url, '/a/b');
  const e = await via({ path_with_escaped_slashes_action: 'UNESCAPE_AND_REDIRECT' }, { path: '/x%2fy' });
  t.assert.deepEqual([e.res.status, e.res.headers.location], [307, '/x/y']);
});

test('absolute-form request targets set the authority', async (t: TestContext) => {
  t.plan(2);
  const proxy = await ProxyHarness.http([staticCluster('h', [up.port])], routes);
  const res = await raw(
    proxy.port,
    'GET http://abs.example:81/p?q=1 HTTP/1.1\r\nHost: ignored\r\nConnection: close\r\n\r\n',
  );
  await proxy.close();
  t.assert.deepEqual(statuses(res.text), [200]);
  t.assert.deepEqual([last().url, last().headers.host], ['/p?q=1', 'abs.example:81']);
});

test('no open handles', async () => {
  await up.close();
  await assertNoOpenHandles();
});
