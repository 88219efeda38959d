/**
 * HTTP/2 over TLS on both sides: a downstream TLS filter chain that negotiates ALPN h2 hands
 * the connection manager a socket that speaks HTTP/2, and an HTTP/2 cluster with upstream TLS
 * offers ALPN h2 (Envoy's fallback when the TLS context sets none) to an h2-only backend.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http2 from 'node:http2';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { TYPE } from '../../../../src/proxy/config/type-names.ts';
import {
  any,
  assertNoOpenHandles,
  hcm,
  ProxyHarness,
  request,
  routeConfig,
  staticCluster,
} from '../../support/harness.ts';
import { pem, TESTDATA } from '../../tls/tls-support.ts';
import { h2request } from './h2-support.ts';

const file = (name: string) => ({ filename: `${TESTDATA}${name}` });

test('TLS with ALPN h2 downstream, TLS with ALPN h2 upstream', async () => {
  // An h2-only TLS backend: a client without ALPN h2 cannot talk to it.
  const seen: http2.IncomingHttpHeaders[] = [];
  const be = http2.createSecureServer({
    key: pem('server-a.key'),
    cert: pem('server-a.crt'),
    allowHTTP1: false,
  });
  be.on('stream', (stream, headers) => {
    seen.push(headers);
    stream.on('error', () => {});
    stream.respond({ ':status': 200 });
    const sock = stream.session?.socket as { alpnProtocol?: string } | undefined;
    stream.end(`alpn=${sock?.alpnProtocol}`);
  });
  be.on('session', (s) => s.on('error', () => {}));
  be.listen(0, '127.0.0.1');
  await once(be, 'listening');
  const bePort = (be.address() as AddressInfo).port;

  const proxy = new ProxyHarness();
  proxy.addCluster(
    staticCluster('up', [bePort], {
      transport_socket: {
        name: 'envoy.transport_sockets.tls',
        typed_config: any('envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext', {
          sni: 'a.example.com',
          common_tls_context: { validation_context: { trusted_ca: file('ca.crt') } },
        }),
      },
      typed_extension_protocol_options: {
        'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': any(TYPE.HTTP_PROTOCOL_OPTIONS, {
          explicit_http_config: { http2_protocol_options: {} },
        }),
      },
    }),
  );
  await proxy.listen({
    name: 'tls',
    address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
    filter_chains: [
      {
        transport_socket: {
          name: 'envoy.transport_sockets.tls',
          typed_config: any('envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext', {
            common_tls_context: {
              tls_certificates: [
                { certificate_chain: file('server-a.crt'), private_key: file('server-a.key') },
              ],
              alpn_protocols: ['h2', 'http/1.1'],
            },
          }),
        },
        filters: [
          {
            name: 'hcm',
            typed_config: hcm(routeConfig([{ match: { prefix: '/' }, route: { cluster: 'up' } }])),
          },
        ],
      },
    ],
  });

  const client = http2.connect(`https://127.0.0.1:${proxy.port}`, {
    ca: pem('ca.crt'),
    servername: 'a.example.com',
  });
  client.on('error', () => {});
  await once(client, 'connect');
  assert.equal((client.socket as { alpnProtocol?: string }).alpnProtocol, 'h2');
  const r = await h2request(client, { ':path': '/secure', ':authority': 'a.example.com' });
  assert.equal(r.status, 200);
  assert.equal(r.body, 'alpn=h2');
  assert.equal(seen[0][':scheme'], 'https');
  assert.equal(seen[0][':path'], '/secure');
  assert.equal(proxy.stat('http.ingress.downstream_cx_http2_total'), 1);
  assert.equal(proxy.stat('cluster.up.upstream_cx_http2_total'), 1);
  await new Promise<void>((resolve) => client.close(() => resolve()));
  await proxy.close();
  await new Promise<void>((resolve) => be.close(() => resolve()));
});

test('auto_config: ALPN h2 → HTTP/2 pool; a host without h2 → HTTP/1.1 pool', async () => {
  const h2be = http2.createSecureServer({
    key: pem('server-a.key'),
    cert: pem('server-a.crt'),
    allowHTTP1: true,
  });
  h2be.on('stream', (stream) => {
    stream.on('error', () => {});
    stream.respond({ ':status': 200 });
    stream.end('via-h2');
  });
  h2be.on('session', (s) => s.on('error', () => {}));
  const h1be = https.createServer({ key: pem('server-a.key'), cert: pem('server-a.crt') }, (req, res) => {
    res.end(`via-http/${req.httpVersion}`);
  });
  for (const s of [h2be, h1be]) {
    s.listen(0, '127.0.0.1');
    await once(s, 'listening');
  }
  const port = (s: { address(): unknown }) => (s.address() as AddressInfo).port;
  const auto = (name: string, p: number) =>
    staticCluster(name, [p], {
      transport_socket: {
        name: 'envoy.transport_sockets.tls',
        typed_config: any('envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext', {
          sni: 'a.example.com',
          common_tls_context: { validation_context: { trusted_ca: file('ca.crt') } },
        }),
      },
      typed_extension_protocol_options: {
        'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': any(TYPE.HTTP_PROTOCOL_OPTIONS, {
          auto_config: { http_protocol_options: {}, http2_protocol_options: {} },
        }),
      },
    });
  const proxy = await ProxyHarness.http(
    [auto('to-h2', port(h2be)), auto('to-h1', port(h1be))],
    routeConfig([
      { match: { prefix: '/h2' }, route: { cluster: 'to-h2' } },
      { match: { prefix: '/h1' }, route: { cluster: 'to-h1' } },
    ]),
  );
  for (let i = 0; i < 2; i++) {
    assert.equal((await request(proxy.port, { path: '/h2', headers: { host: 'a' } })).body, 'via-h2');
    assert.equal((await request(proxy.port, { path: '/h1', headers: { host: 'a' } })).body, 'via-http/1.1');
  }
  assert.equal(proxy.stat('cluster.to-h2.upstream_cx_http2_total'), 1);
  assert.equal(proxy.stat('cluster.to-h1.upstream_cx_http1_total'), 1);
  assert.equal(proxy.stat('cluster.to-h1.upstream_cx_http2_total'), 0);
  await proxy.close();
  h1be.closeAllConnections();
  await Promise.all([h2be, h1be].map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  await assertNoOpenHandles();
});
