/**
 * SDS over ADS through the assembled proxy: a listener whose DownstreamTlsContext names its
 * certificate by SDS gets it from the same ADS stream (the Secret resource), terminates TLS
 * with it, a rotated secret pushed later is what new connections see, and /config_dump shows the
 * secret without its private key.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LISTENER_TYPE_URL, SECRET_TYPE_URL, TYPE_URL_PREFIX } from '../../../src/lib/xds/type-urls.ts';
import { configDump } from '../../../src/proxy/admin/config-dump.ts';
import { ProxyServer } from '../../../src/proxy/proxy-server.ts';
import { mizzenctlInProcess, tableRows } from '../../support/cli-run.ts';
import { any, hcm, routeConfig } from '../support/harness.ts';
import { pem, tlsExchange } from '../tls/tls-support.ts';
import { sidecarNode, TestControlPlane, testNoOpenHandles, until, world } from '../xds/harness.ts';

const SECRET_NAME = 'kubernetes://gw-cert';
const GET = 'GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n';

function secret(certName: string): object {
  return {
    name: SECRET_NAME,
    tls_certificate: {
      certificate_chain: { inline_bytes: pem(`${certName}.crt`).toString('base64') },
      private_key: { inline_bytes: pem(`${certName}.key`).toString('base64') },
    },
  };
}

const listener = {
  name: 'gateway-tls',
  address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
  filter_chains: [
    {
      transport_socket: {
        name: 'envoy.transport_sockets.tls',
        typed_config: any('envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext', {
          common_tls_context: {
            tls_certificate_sds_secret_configs: [{ name: SECRET_NAME, sds_config: { ads: {} } }],
          },
        }),
      },
      filters: [
        {
          name: 'envoy.filters.network.http_connection_manager',
          typed_config: hcm(routeConfig([{ match: { prefix: '/' }, direct_response: { status: 200 } }])),
        },
      ],
    },
  ],
};

test('a Secret sent over ADS serves the TLS listener that names it; a rotation reaches new connections', async () => {
  const cp = await TestControlPlane.start(
    world({
      [LISTENER_TYPE_URL]: { 'gateway-tls': listener },
      [SECRET_TYPE_URL]: { [SECRET_NAME]: secret('server-a') },
    }),
  );
  const proxy = new ProxyServer({
    bootstrap: { node: sidecarNode(), discoveryAddress: cp.address, xdsMode: 'delta' },
    adminPort: 0,
    statusPort: null,
  });
  try {
    await proxy.start();
    await proxy.ready();
    const port = proxy.listenerPorts()['gateway-tls'];
    assert.ok(port > 0, 'the listener is bound');
    const opts = { servername: 'a.example.com', rejectUnauthorized: false };
    const first = await tlsExchange(port, opts, GET);
    assert.equal(first.serverCn, 'a.example.com');
    assert.match(first.text, /^HTTP\/1\.1 200 /);

    cp.set(SECRET_TYPE_URL, { [SECRET_NAME]: secret('server-b') });
    await until(
      () =>
        proxy.listenerManager.secrets.get(SECRET_NAME) !== undefined &&
        cp.watched(SECRET_TYPE_URL)?.state === 'SYNCED',
      'the rotated secret to be ACKed',
    );
    let rotated = await tlsExchange(port, opts, GET);
    for (let i = 0; i < 50 && rotated.serverCn !== 'b.test'; i++)
      rotated = await tlsExchange(port, opts, GET);
    assert.equal(rotated.serverCn, 'b.test');

    // /config_dump lists the secret with its certificate and never its key (Envoy's redaction).
    const dump = configDump(proxy) as { configs: Record<string, unknown>[] };
    const secrets = dump.configs.find(
      (c) => c['@type'] === `${TYPE_URL_PREFIX}envoy.admin.v3.SecretsConfigDump`,
    ) as
      | { dynamic_active_secrets: { name: string; secret: { tls_certificate: Record<string, unknown> } }[] }
      | undefined;
    assert.deepEqual(
      secrets?.dynamic_active_secrets.map((e) => e.name),
      [SECRET_NAME],
    );
    const tlsCert = secrets?.dynamic_active_secrets[0].secret.tls_certificate;
    assert.deepEqual(tlsCert?.private_key, { inline_string: '[redacted]' });
    assert.ok(tlsCert?.certificate_chain, 'the certificate is shown');
    const keyBase64 = pem('server-b.key').toString('base64');
    assert.ok(
      !JSON.stringify(dump).includes(keyBase64.slice(40, 120)),
      'no key material anywhere in the dump',
    );

    // And `mizzenctl proxy-config secret` reads it from the admin API, like istioctl.
    const pc = await mizzenctlInProcess(['pc', 'secret', '--admin', `127.0.0.1:${proxy.admin?.port}`]);
    assert.equal(pc.code, 0, pc.stderr);
    const [header, row] = tableRows(pc.stdout);
    assert.deepEqual(header.slice(0, 4), ['RESOURCE NAME', 'TYPE', 'STATUS', 'VALID CERT']);
    assert.deepEqual(row.slice(0, 4), [SECRET_NAME, 'Cert Chain', 'ACTIVE', 'true']);
  } finally {
    await proxy.close();
    await cp.close();
  }
});

testNoOpenHandles();
