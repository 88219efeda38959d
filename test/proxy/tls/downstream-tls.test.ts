/**
 * Downstream TLS through real listeners and node:tls clients: SNI picks the chain (and so the
 * certificate, wildcard included), ALPN is negotiated from the chain's list, mTLS requires and
 * verifies client certificates (missing, untrusted, SAN mismatch are refused and counted), the
 * peer's SPIFFE identity reaches the chain's ConnectionInfo, SDS certificates are read from the
 * secret store (missing → refused, rotated → new connections get the new one), Istio's
 * agent file secrets work, and unsupported settings are NACKed by path.
 */
import { X509Certificate } from 'node:crypto';
import net from 'node:net';
import { type TestContext, test } from 'node:test';
import { compileListener, Listener, type ListenerEnv } from '../../../src/proxy/listener/listener.ts';
import { StatsStore } from '../../../src/proxy/stats/store.ts';
import { compileSecret, SecretStore } from '../../../src/proxy/tls/secret-store.ts';
import { compileCluster } from '../../../src/proxy/upstream/cluster.ts';
import { ClusterManager } from '../../../src/proxy/upstream/cluster-manager.ts';
import { TcpEchoServer } from '../../support/fake-upstreams.ts';
import { any, assertNoOpenHandles, hcm, routeConfig, staticCluster } from '../support/harness.ts';
import { captured, pem, TESTDATA, tlsExchange } from './tls-support.ts';

const TLS_CONTEXT = 'envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';
const direct = (status: number) =>
  hcm(routeConfig([{ match: { prefix: '/' }, direct_response: { status } }]));
const file = (name: string) => ({ filename: `${TESTDATA}${name}` });
const certPair = (name: string) => ({
  certificate_chain: file(`${name}.crt`),
  private_key: file(`${name}.key`),
});
const tlsSocket = (ctx: Record<string, unknown>) => ({
  name: 'envoy.transport_sockets.tls',
  typed_config: any(TLS_CONTEXT, ctx),
});
const GET = 'GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n';
const status = (text: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);

class Setup {
  readonly stats = new StatsStore();
  readonly cm = new ClusterManager(this.stats);
  readonly secrets = new SecretStore();
  listener!: Listener;
  port = 0;
  async start(chains: unknown[], extra: Record<string, unknown> = {}): Promise<this> {
    const env: ListenerEnv = { clusterManager: this.cm, stats: this.stats, secrets: this.secrets };
    const r = compileListener(
      {
        name: 'tls',
        address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
        filter_chains: chains,
        ...extra,
      },
      env,
    );
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    this.listener = new Listener(r.value, this.stats);
    this.port = await this.listener.start();
    return this;
  }
  stat(name: string): number {
    return this.stats.value(`listener.127.0.0.1_${this.port}.${name}`);
  }
  async close(): Promise<void> {
    await this.listener.close();
    this.cm.destroy();
  }
}

test('SNI selects the chain and its certificate; ALPN comes from the chain', async (t: TestContext) => {
  t.plan(14);
  const s = await new Setup().start([
    {
      filter_chain_match: { server_names: ['a.example.com', '*.example.com'] },
      transport_socket: tlsSocket({
        common_tls_context: { tls_certificates: [certPair('server-a')], alpn_protocols: ['h2', 'http/1.1'] },
      }),
      filters: [{ name: 'h', typed_config: direct(200) }],
    },
    {
      filter_chain_match: { server_names: ['b.test'] },
      transport_socket: tlsSocket({ common_tls_context: { tls_certificates: [certPair('server-b')] } }),
      filters: [{ name: 'h', typed_config: direct(201) }],
    },
    { filters: [{ name: 'h', typed_config: direct(299) }] },
  ]);
  const a = await tlsExchange(s.port, { servername: 'a.example.com', ALPNProtocols: ['http/1.1'] }, GET);
  t.assert.equal(a.authorized, true);
  t.assert.equal(a.serverCn, 'a.example.com');
  t.assert.equal(a.alpn, 'http/1.1');
  t.assert.equal(status(a.text), 200);
  const wild = await tlsExchange(s.port, { servername: 'web.example.com' }, GET);
  t.assert.equal(wild.serverCn, 'a.example.com');
  t.assert.equal(status(wild.text), 200);
  const b = await tlsExchange(s.port, { servername: 'b.test' }, GET);
  t.assert.equal(b.serverCn, 'b.test');
  t.assert.equal(status(b.text), 201);
  // h2 preferred by the chain's list when offered (the HTTP/2 codec reads socket.alpnProtocol).
  const h2 = await tlsExchange(
    s.port,
    { servername: 'a.example.com', ALPNProtocols: ['http/1.1', 'h2'] },
    '',
    () => true,
  );
  t.assert.equal(h2.alpn, 'h2');
  // No protocol in common: Envoy continues without ALPN (Node alone would fail the handshake).
  const other = await tlsExchange(s.port, { servername: 'a.example.com', ALPNProtocols: ['foo'] }, GET);
  t.assert.equal(other.alpn, false);
  t.assert.equal(status(other.text), 200);
  // Cleartext still reaches the default chain.
  const plain = await new Promise<string>((resolve) => {
    let text = '';
    const c = net.connect(s.port, '127.0.0.1', () => c.write(GET));
    c.on('data', (d) => {
      text += d.toString();
    });
    c.on('close', () => resolve(text));
  });
  t.assert.equal(status(plain), 299);
  t.assert.equal(s.stat('ssl.handshake'), 5);
  t.assert.equal(s.stat('tls_inspector.sni_found'), 5);
  await s.close();
});

test('mTLS: a verified client certificate passes with its SPIFFE identity; others are refused', async (t: TestContext) => {
  t.plan(11);
  const echo = await new TcpEchoServer().start();
  const s = new Setup();
  const c = compileCluster(staticCluster('echo', [echo.port]));
  if (!c.ok) throw new Error(JSON.stringify(c.errors));
  s.cm.addOrUpdate(c.value);
  await s.start([
    {
      transport_socket: tlsSocket({
        require_client_certificate: { value: true },
        common_tls_context: {
          tls_certificates: [certPair('server-b')],
          validation_context: {
            trusted_ca: file('ca.crt'),
            match_typed_subject_alt_names: [
              { san_type: 'URI', matcher: { prefix: 'spiffe://cluster.local/ns/default/' } },
            ],
          },
        },
      }),
      filters: [
        { name: 'capture', typed_config: any('mizzen.test.CaptureInfo', {}) },
        {
          name: 'tcp',
          typed_config: any('envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy', {
            stat_prefix: 'tcp',
            cluster: 'echo',
          }),
        },
      ],
    },
  ]);
  captured.length = 0;
  const ok = await tlsExchange(
    s.port,
    { servername: 'b.test', cert: pem('client.crt'), key: pem('client.key') },
    'hello',
    (text) => text === 'HELLO',
  );
  t.assert.equal(ok.text, 'HELLO');
  t.assert.equal(captured.length, 1);
  const info = captured[0];
  t.assert.equal(info.secure, true);
  t.assert.equal(info.sni, 'b.test');
  t.assert.equal(info.tls?.peerCertificate?.principal, 'spiffe://cluster.local/ns/default/sa/client');
  t.assert.equal(info.tls?.peerCertificate?.validated, true);

  const none = await tlsExchange(s.port, { servername: 'b.test' }, 'hello');
  t.assert.equal(none.text, '');
  const rogue = await tlsExchange(
    s.port,
    { servername: 'b.test', cert: pem('rogue.crt'), key: pem('rogue.key') },
    'hello',
  );
  t.assert.equal(rogue.text, '');
  t.assert.equal(captured.length, 1);
  t.assert.equal(s.stat('ssl.fail_verify_no_cert'), 1);
  t.assert.equal(s.stat('ssl.fail_verify_error'), 1);
  await s.close();
  await echo.close();
});

test('SAN matchers refuse a trusted certificate with the wrong identity', async (t: TestContext) => {
  t.plan(2);
  const s = await new Setup().start([
    {
      transport_socket: tlsSocket({
        require_client_certificate: { value: true },
        common_tls_context: {
          tls_certificates: [certPair('server-b')],
          validation_context: {
            trusted_ca: file('ca.crt'),
            match_subject_alt_names: [{ exact: 'spiffe://cluster.local/ns/prod/sa/frontend' }],
          },
        },
      }),
      filters: [{ name: 'h', typed_config: direct(200) }],
    },
  ]);
  const r = await tlsExchange(
    s.port,
    { servername: 'b.test', cert: pem('client.crt'), key: pem('client.key') },
    GET,
  );
  t.assert.equal(status(r.text), 0);
  t.assert.equal(s.stat('ssl.fail_verify_san'), 1);
  await s.close();
});

test('certificate hash pins and require_sni', async (t: TestContext) => {
  t.plan(5);
  const fingerprint = new X509Certificate(pem('client.crt')).fingerprint256;
  const chain = (hash: string, name: string) => ({
    filter_chain_match: { server_names: [name] },
    transport_socket: tlsSocket({
      require_client_certificate: { value: true },
      require_sni: { value: true },
      common_tls_context: {
        tls_certificates: [certPair('server-a')],
        validation_context: { trusted_ca: file('ca.crt'), verify_certificate_hash: [hash] },
      },
    }),
    filters: [{ name: 'h', typed_config: direct(200) }],
  });
  const s = await new Setup().start([
    chain(fingerprint, 'a.example.com'),
    chain('00'.repeat(32), 'pinned.example.com'),
  ]);
  const client = { cert: pem('client.crt'), key: pem('client.key'), checkServerIdentity: () => undefined };
  const ok = await tlsExchange(s.port, { ...client, servername: 'a.example.com' }, GET);
  t.assert.equal(status(ok.text), 200);
  const pinned = await tlsExchange(s.port, { ...client, servername: 'pinned.example.com' }, GET);
  t.assert.equal(status(pinned.text), 0);
  t.assert.equal(s.stat('ssl.fail_verify_cert_hash'), 1);
  await s.close();
  // require_sni on a chain that any client reaches: no SNI, no service.
  const open = await new Setup().start([
    {
      transport_socket: tlsSocket({
        require_sni: { value: true },
        common_tls_context: { tls_certificates: [certPair('server-a')] },
      }),
      filters: [{ name: 'h', typed_config: direct(200) }],
    },
  ]);
  const noSni = await tlsExchange(open.port, { rejectUnauthorized: false }, GET);
  t.assert.equal(status(noSni.text), 0);
  t.assert.equal(open.stat('ssl.fail_no_sni'), 1);
  await open.close();
});

test('SDS: connections wait for nothing but fail until the secret exists; rotation applies to new ones', async (t: TestContext) => {
  t.plan(6);
  const s = await new Setup().start([
    {
      transport_socket: tlsSocket({
        common_tls_context: {
          tls_certificate_sds_secret_configs: [{ name: 'kubernetes://gw-cert', sds_config: { ads: {} } }],
        },
      }),
      filters: [{ name: 'h', typed_config: direct(200) }],
    },
  ]);
  const opts = { servername: 'a.example.com', rejectUnauthorized: false };
  const before = await tlsExchange(s.port, opts, GET);
  t.assert.equal(before.established, false);
  t.assert.equal(s.stat('ssl.connection_error'), 1);
  const secret = (name: string) => {
    const r = compileSecret({
      name: 'kubernetes://gw-cert',
      tls_certificate: {
        certificate_chain: { inline_bytes: pem(`${name}.crt`) },
        private_key: { inline_bytes: pem(`${name}.key`) },
      },
    });
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    return r.value;
  };
  s.secrets.set('kubernetes://gw-cert', secret('server-a'));
  const first = await tlsExchange(s.port, opts, GET);
  t.assert.equal(first.serverCn, 'a.example.com');
  t.assert.equal(status(first.text), 200);
  s.secrets.set('kubernetes://gw-cert', secret('server-b'));
  const rotated = await tlsExchange(s.port, opts, GET);
  t.assert.equal(rotated.serverCn, 'b.test');
  t.assert.equal(status(rotated.text), 200);
  await s.close();
});

test("Istio's agent file secrets (file-cert / file-root) are read directly", async (t: TestContext) => {
  const agent = (name: string) => ({
    name,
    sds_config: {
      api_config_source: {
        api_type: 'GRPC',
        grpc_services: [{ envoy_grpc: { cluster_name: 'sds-grpc' } }],
        transport_api_version: 'V3',
      },
      resource_api_version: 'V3',
    },
  });
  const s = await new Setup().start([
    {
      transport_socket: tlsSocket({
        require_client_certificate: { value: true },
        common_tls_context: {
          tls_certificate_sds_secret_configs: [
            agent(`file-cert:${TESTDATA}server-a.crt~${TESTDATA}server-a.key`),
          ],
          combined_validation_context: {
            default_validation_context: {},
            validation_context_sds_secret_config: agent(`file-root:${TESTDATA}ca.crt`),
          },
        },
      }),
      filters: [{ name: 'h', typed_config: direct(200) }],
    },
  ]);
  const r = await tlsExchange(
    s.port,
    { servername: 'a.example.com', cert: pem('client.crt'), key: pem('client.key') },
    GET,
  );
  t.assert.equal(r.authorized, true);
  t.assert.equal(status(r.text), 200);
  await s.close();
});

test('downstream TLS settings that cannot be honoured are NACKed by path', (t: TestContext) => {
  const env = (secrets?: SecretStore): ListenerEnv => ({
    clusterManager: new ClusterManager(new StatsStore()),
    stats: new StatsStore(),
    secrets,
  });
  const compile = (ctx: Record<string, unknown>, secrets?: SecretStore) =>
    compileListener(
      {
        name: 'l',
        address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
        filter_chains: [
          { transport_socket: tlsSocket(ctx), filters: [{ name: 'h', typed_config: direct(200) }] },
        ],
      },
      env(secrets),
    );
  const base = { tls_certificates: [certPair('server-a')] };
  const at = 'filter_chains[0].transport_socket.typed_config';
  const cases: [Record<string, unknown>, string, SecretStore?][] = [
    [
      { common_tls_context: base, session_ticket_keys: { keys: [{ inline_string: 'x' }] } },
      `${at}.session_ticket_keys`,
    ],
    [
      { common_tls_context: base, require_client_certificate: { value: true } },
      `${at}.require_client_certificate`,
    ],
    [{ common_tls_context: base, ocsp_staple_policy: 'MUST_STAPLE' }, `${at}.ocsp_staple_policy`],
    [{ common_tls_context: { ...base, key_log: { path: '/tmp/k' } } }, `${at}.common_tls_context.key_log`],
    [
      { common_tls_context: { ...base, tls_params: { cipher_suites: ['[A|B]'] } } },
      `${at}.common_tls_context.tls_params.cipher_suites`,
    ],
    [
      { common_tls_context: { ...base, tls_params: { cipher_suites: ['NOT-A-CIPHER'] } } },
      `${at}.common_tls_context.tls_params.cipher_suites`,
    ],
    [
      { common_tls_context: { ...base, tls_params: { ecdh_curves: ['X99999'] } } },
      `${at}.common_tls_context.tls_params.ecdh_curves`,
    ],
    [
      { common_tls_context: { tls_certificates: [{ certificate_chain: file('server-a.crt') }] } },
      `${at}.common_tls_context.tls_certificates[0]`,
    ],
    [
      {
        common_tls_context: {
          tls_certificate_sds_secret_configs: [{ name: 'x', sds_config: { ads: {} } }],
        },
      },
      `${at}.common_tls_context.tls_certificate_sds_secret_configs[0].name`,
    ],
    [
      {
        common_tls_context: {
          tls_certificate_sds_secret_configs: [
            { name: 'default', sds_config: { api_config_source: { api_type: 'GRPC' } } },
          ],
        },
      },
      `${at}.common_tls_context.tls_certificate_sds_secret_configs[0].sds_config`,
      new SecretStore(),
    ],
    [
      {
        common_tls_context: {
          ...base,
          validation_context: { trusted_ca: file('ca.crt'), max_verify_depth: { value: 2 } },
        },
      },
      `${at}.common_tls_context.validation_context.max_verify_depth`,
    ],
  ];
  t.plan(cases.length);
  for (const [ctx, path, secrets] of cases) {
    const r = compile(ctx, secrets);
    t.assert.ok(
      !r.ok && r.errors.some((e) => e.path === path),
      `${path}: ${JSON.stringify(!r.ok && r.errors)}`,
    );
  }
});

test('no open handles', async () => {
  await assertNoOpenHandles();
});
