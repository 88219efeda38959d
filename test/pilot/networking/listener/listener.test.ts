/**
 * Listener builders with hand-made inputs, for the rules the golden cases do not show: listener
 * conflicts on one port, locked ports, unix sockets, HTTP_PROXY ports, headless services,
 * unprivileged proxies, inbound mTLS modes, TLS contexts, filter chain matches and the names
 * proxyless clients ask for.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_MESH_CONFIG, type MeshConfig } from '../../../../src/api/mesh/mesh-config.ts';
import { validateMessageShape } from '../../../../src/lib/xds/message-shape.ts';
import { DOWNSTREAM_TLS_CONTEXT_TYPE_URL, LISTENER_TYPE_URL } from '../../../../src/lib/xds/type-urls.ts';
import { toProtoStruct } from '../../../../src/lib/xds/well-known.ts';
import { type Proxy, proxyFromNode } from '../../../../src/pilot/model/proxy.ts';
import type { SidecarListenerContext } from '../../../../src/pilot/networking/listener/context.ts';
import {
  chainsConflict,
  isMatchAll,
  toCidrRange,
  toFilterChainMatch,
} from '../../../../src/pilot/networking/listener/filter-chain.ts';
import { buildGrpcListeners } from '../../../../src/pilot/networking/listener/grpc.ts';
import { buildSidecarInboundListeners } from '../../../../src/pilot/networking/listener/inbound.ts';
import { buildSidecarListeners } from '../../../../src/pilot/networking/listener/listener-builder.ts';
import { buildSidecarOutboundListeners } from '../../../../src/pilot/networking/listener/outbound.ts';
import { buildServerTlsContext } from '../../../../src/pilot/networking/listener/tls-context.ts';
import type { Service } from '../../../../src/registry/model.ts';
import { Protocol } from '../../../../src/registry/protocol.ts';

type Proto = Record<string, unknown>;

function proxy(metadata: Record<string, unknown> = {}, ip = '10.0.0.1'): Proxy {
  return proxyFromNode({
    id: `sidecar~${ip}~app-1.default~default.svc.cluster.local`,
    metadata: toProtoStruct({ NAMESPACE: 'default', LABELS: { app: 'app' }, ...metadata }),
  } as never);
}

function svc(
  name: string,
  address: string,
  ports: [number, Protocol, string?][],
  over: Partial<Service> = {},
): Service {
  return {
    hostname: `${name}.default.svc.cluster.local`,
    namespace: 'default',
    name,
    provider: 'Kubernetes',
    clusterId: 'Kubernetes',
    addresses: address === '0.0.0.0' ? [] : [address],
    defaultAddress: address,
    ports: ports.map(([port, protocol, n]) => ({ port, protocol, name: n ?? `p${port}` })),
    resolution: 'ClientSideLB',
    meshExternal: false,
    serviceAccounts: [],
    labels: {},
    ...over,
  };
}

function context(
  over: Partial<SidecarListenerContext> = {},
  mesh: MeshConfig = DEFAULT_MESH_CONFIG,
): SidecarListenerContext {
  return {
    proxy: proxy(),
    mesh,
    egressListeners: [],
    ingressListeners: [],
    outboundTrafficPolicy: { mode: 'ALLOW_ANY' },
    serviceTargets: [],
    destinationRule: () => undefined,
    serviceForHostname: () => undefined,
    ...over,
  };
}

function assertListeners(listeners: readonly Proto[]): void {
  for (const l of listeners) assert.deepEqual(validateMessageShape(LISTENER_TYPE_URL, l, String(l.name)), []);
}

function byName(listeners: readonly Proto[], name: string): Proto {
  const l = listeners.find((x) => x.name === name);
  assert.ok(l, `no listener ${name} in ${listeners.map((x) => x.name).join(', ')}`);
  return l;
}

test('HTTP and TCP services on one wildcard port share a sniffing listener', () => {
  const http = svc('web', '10.0.0.2', [[7000, Protocol.HTTP]]);
  // Without a VIP the TCP service also listens on 0.0.0.0:7000.
  const tcp = svc('raw', '0.0.0.0', [[7000, Protocol.TCP]], { resolution: 'ClientSideLB' });
  const listeners = buildSidecarOutboundListeners(
    context({ egressListeners: [{ services: [http, tcp], virtualServices: [] }] }),
  );
  assertListeners(listeners);
  const l = byName(listeners, '0.0.0.0_7000');
  const chains = l.filter_chains as Proto[];
  assert.equal(chains.length, 1);
  assert.deepEqual(chains[0].filter_chain_match, {
    application_protocols: ['http/1.1', 'h2c'],
    transport_protocol: 'raw_buffer',
  });
  // The TCP service takes every non-HTTP connection.
  const fallback = (l.default_filter_chain as Proto).filters as Proto[];
  assert.equal((fallback[0].typed_config as Proto).cluster, 'outbound|7000||raw.default.svc.cluster.local');
});

test('Mongo never shares a port with sniffing; UDP ports get no listener', () => {
  const http = svc('web', '10.0.0.2', [[27017, Protocol.HTTP]]);
  const mongo = svc('mongo', '0.0.0.0', [
    [27017, Protocol.MONGO],
    [5353, Protocol.UDP],
  ]);
  const listeners = buildSidecarOutboundListeners(
    context({ egressListeners: [{ services: [http, mongo], virtualServices: [] }] }),
  );
  assertListeners(listeners);
  assert.deepEqual(
    listeners.map((l) => l.name),
    ['0.0.0.0_27017'],
  );
  const chain = (byName(listeners, '0.0.0.0_27017').filter_chains as Proto[])[0];
  assert.ok(chain.filter_chain_match, 'the HTTP chain stays; the Mongo service is dropped');
});

test('an explicit egress port locks it: the catch-all adds no service there', () => {
  const a = svc('a', '10.0.0.2', [[9080, Protocol.HTTP]]);
  const b = svc('b', '10.0.0.3', [[9080, Protocol.TCP]]);
  const listeners = buildSidecarOutboundListeners(
    context({
      egressListeners: [
        {
          listener: { port: { number: 9080, protocol: 'HTTP', name: 'http' }, hosts: ['./a'] },
          services: [a],
          virtualServices: [],
        },
        { services: [a, b], virtualServices: [] },
      ],
    }),
  );
  assertListeners(listeners);
  // b's TCP port has its own VIP listener; the HTTP listener on 0.0.0.0 is a's alone.
  assert.deepEqual(
    listeners.map((l) => l.name),
    ['0.0.0.0_9080', '10.0.0.3_9080'],
  );
});

test('a unix socket egress listener binds a pipe and routes by the socket path', () => {
  const a = svc('a', '10.0.0.2', [[9080, Protocol.HTTP]]);
  const listeners = buildSidecarOutboundListeners(
    context({
      egressListeners: [
        {
          listener: {
            port: { number: 0, protocol: 'HTTP', name: 'uds' },
            bind: 'unix:///var/run/app.sock',
            hosts: ['./a'],
          },
          services: [a],
          virtualServices: [],
        },
      ],
    }),
  );
  assertListeners(listeners);
  const l = byName(listeners, 'unix:///var/run/app.sock_0');
  assert.deepEqual(l.address, { pipe: { path: '/var/run/app.sock' } });
  assert.equal(l.bind_to_port, undefined);
  const hcm = ((l.filter_chains as Proto[])[0].filters as Proto[])[0].typed_config as Proto;
  assert.equal((hcm.rds as Proto).route_config_name, 'unix:///var/run/app.sock');
});

test('an HTTP_PROXY egress port accepts absolute URLs', () => {
  const a = svc('a', '10.0.0.2', [[9080, Protocol.HTTP]]);
  const listeners = buildSidecarOutboundListeners(
    context({
      egressListeners: [
        {
          listener: {
            port: { number: 3128, protocol: 'HTTP_PROXY', name: 'proxy' },
            bind: '127.0.0.1',
            captureMode: 'NONE',
            hosts: ['*/*'],
          },
          services: [a],
          virtualServices: [],
        },
      ],
    }),
  );
  assertListeners(listeners);
  const hcm = ((byName(listeners, '127.0.0.1_3128').filter_chains as Proto[])[0].filters as Proto[])[0]
    .typed_config as Proto;
  assert.deepEqual(hcm.http_protocol_options, { allow_absolute_url: { value: true } });
});

test('a headless TCP service gets one listener per endpoint, never one on the proxy itself', () => {
  const db = svc('db', '0.0.0.0', [[5432, Protocol.TCP]], { resolution: 'Passthrough' });
  const listeners = buildSidecarOutboundListeners(
    context({
      egressListeners: [{ services: [db], virtualServices: [] }],
      endpointAddresses: () => ['10.0.0.1', '10.0.7.1', '10.0.7.2'],
    }),
  );
  assertListeners(listeners);
  assert.deepEqual(
    listeners.map((l) => l.name),
    ['10.0.7.1_5432', '10.0.7.2_5432'],
  );
});

test('an unprivileged proxy without capture skips ports below 1024', () => {
  const web = svc('web', '10.0.0.2', [
    [80, Protocol.HTTP],
    [8080, Protocol.HTTP],
    [15006, Protocol.HTTP],
  ]);
  const listeners = buildSidecarOutboundListeners(
    context({
      proxy: proxy({ INTERCEPTION_MODE: 'NONE', UNPRIVILEGED_POD: 'true' }),
      egressListeners: [{ services: [web], virtualServices: [] }],
    }),
  );
  // 15006 is free on 127.0.0.1 here: without capture there is no virtualInbound.
  assert.deepEqual(
    listeners.map((l) => l.name),
    ['127.0.0.1_15006', '127.0.0.1_8080'],
  );
});

test('with capture, a wildcard listener never takes the capture ports 15001 and 15006', () => {
  const web = svc('web', '10.0.0.2', [
    [15001, Protocol.HTTP],
    [15006, Protocol.HTTP],
    [8080, Protocol.HTTP],
  ]);
  const listeners = buildSidecarOutboundListeners(
    context({ egressListeners: [{ services: [web], virtualServices: [] }] }),
  );
  assert.deepEqual(
    listeners.map((l) => l.name),
    ['0.0.0.0_8080'],
  );
});

test('TPROXY capture marks virtual listeners transparent', () => {
  const listeners = buildSidecarListeners(context({ proxy: proxy({ INTERCEPTION_MODE: 'TPROXY' }) }));
  assertListeners(listeners);
  assert.deepEqual(byName(listeners, 'virtualOutbound').transparent, { value: true });
  assert.deepEqual(byName(listeners, 'virtualInbound').transparent, { value: true });
});

test('inbound mTLS modes shape the chains: PERMISSIVE adds TLS chains by ALPN, STRICT keeps only TLS', () => {
  const target = {
    service: svc('app', '10.0.0.9', [[9080, Protocol.HTTP]]),
    port: { name: 'http', port: 9080, protocol: Protocol.HTTP },
    targetPort: 8080,
  };
  const tls = { common_tls_context: { alpn_protocols: ['h2', 'http/1.1'] } };
  for (const [mode, count] of [
    ['PERMISSIVE', 2],
    ['STRICT', 1],
  ] as const) {
    const [vi] = buildSidecarInboundListeners(
      context({ serviceTargets: [target], inboundMtls: () => ({ mode, http: tls, tcp: tls }) }),
    );
    assertListeners([vi]);
    const chains = (vi.filter_chains as Proto[]).filter((c) => c.name === '0.0.0.0_8080');
    assert.equal(chains.length, count, mode);
    assert.ok(chains.some((c) => (c.filter_chain_match as Proto).transport_protocol === 'tls'));
    assert.ok(
      (vi.listener_filters as Proto[]).some((f) => f.name === 'envoy.filters.listener.tls_inspector'),
      `${mode}: the TLS inspector runs`,
    );
  }
});

test('a Sidecar ingress listener with its own TLS terminates it (HTTPS becomes HTTP)', () => {
  const [vi] = buildSidecarInboundListeners(
    context({
      ingressListeners: [
        {
          port: { number: 8443, protocol: 'HTTPS', name: 'https' },
          tls: { mode: 'SIMPLE', credentialName: 'app-cert' },
        },
      ],
      sidecar: { name: 'app', namespace: 'default', version: 'v1' },
    }),
  );
  assertListeners([vi]);
  // No bind given: the proxy's own (global unicast) address.
  const chain = (vi.filter_chains as Proto[]).find((c) => c.name === '10.0.0.1_8443') as Proto;
  assert.deepEqual(chain.filter_chain_match, {
    destination_port: { value: 8443 },
    transport_protocol: 'tls',
  });
  assert.equal((chain.filters as Proto[])[0].name, 'envoy.filters.network.http_connection_manager');
  assert.ok(chain.transport_socket);
  assert.ok(chain.metadata, 'the chain names the Sidecar it came from');
});

test('server TLS contexts: credential names, CA credential, files with CRL, ISTIO_MUTUAL, TLS parameters', () => {
  const mesh = { ...DEFAULT_MESH_CONFIG, tlsDefaults: { ecdhCurves: ['P-256'] } } as MeshConfig;
  const mutual = buildServerTlsContext(
    {
      mode: 'MUTUAL',
      credentialName: 'gw',
      caCertCredentialName: 'gw-ca',
      subjectAltNames: ['a'],
      maxProtocolVersion: 'TLSV1_3',
    },
    { mesh },
  );
  const files = buildServerTlsContext(
    {
      mode: 'OPTIONAL_MUTUAL',
      serverCertificate: '/c.pem',
      privateKey: '/k.pem',
      caCertificates: '/ca.pem',
      caCrl: '/crl.pem',
    },
    { mesh },
  );
  const istio = buildServerTlsContext({ mode: 'ISTIO_MUTUAL' }, { mesh, tcpIstioMutual: true });
  for (const c of [mutual, files, istio])
    assert.deepEqual(validateMessageShape(DOWNSTREAM_TLS_CONTEXT_TYPE_URL, c), []);
  const mc = mutual.common_tls_context as Proto;
  assert.deepEqual(mutual.require_client_certificate, { value: true });
  assert.equal(
    ((mc.combined_validation_context as Proto).validation_context_sds_secret_config as Proto).name,
    'kubernetes://gw-ca',
  );
  assert.deepEqual(mc.tls_params, { ecdh_curves: ['P-256'], tls_maximum_protocol_version: 'TLSv1_3' });
  const fc = files.common_tls_context as Proto;
  assert.equal((fc.tls_certificate_sds_secret_configs as Proto[])[0].name, 'file-cert:/c.pem~/k.pem');
  assert.deepEqual(files.require_client_certificate, { value: false });
  assert.deepEqual(((fc.combined_validation_context as Proto).default_validation_context as Proto).crl, {
    filename: '/crl.pem',
  });
  const ic = istio.common_tls_context as Proto;
  assert.deepEqual(ic.alpn_protocols, ['istio-peer-exchange', 'h2', 'http/1.1']);
  assert.equal((ic.tls_certificate_sds_secret_configs as Proto[])[0].name, 'default');
});

test('filter chain matches: match-all, sorted SNI, CIDRs, and conflicts on masked prefixes', () => {
  assert.equal(isMatchAll({ sniHosts: ['*'] }), true);
  assert.equal(toFilterChainMatch({}), undefined);
  assert.deepEqual(
    toFilterChainMatch({ sniHosts: ['b', 'a'], destinationCidrs: ['10.0.0.0/8', '0.0.0.0/0'] }),
    {
      server_names: ['a', 'b'],
      prefix_ranges: [{ address_prefix: '10.0.0.0', prefix_len: { value: 8 } }],
    },
  );
  assert.deepEqual(toCidrRange('fd00::1'), { address_prefix: 'fd00::1', prefix_len: { value: 128 } });
  assert.equal(toCidrRange('not-an-ip'), undefined);
  assert.equal(
    chainsConflict({ destinationCidrs: ['10.1.0.0/8'] }, { destinationCidrs: ['10.2.0.0/8'] }),
    true,
  );
  assert.equal(chainsConflict({ sniHosts: ['a'] }, { sniHosts: ['b'] }), false);
  assert.equal(chainsConflict({ sniHosts: ['a', '*'] }, { sniHosts: ['a'] }), true);
});

test('proxyless clients get listeners under the names they ask for, short names and ports included', () => {
  const p = proxy({ GENERATOR: 'grpc' }, '127.0.0.1');
  const services = [
    svc('echo', '10.0.0.7', [
      [7070, Protocol.GRPC],
      [7071, Protocol.GRPC],
    ]),
  ];
  const names = (requested: string[]) =>
    buildGrpcListeners(p, services, new Set(requested))
      .map((l) => l.name)
      .sort();
  assert.deepEqual(names(['echo:7070']), ['echo:7070']);
  assert.deepEqual(names(['echo.default:7071', 'echo.default.svc:7070']), [
    'echo.default.svc:7070',
    'echo.default.svc:7071',
    'echo.default:7070',
    'echo.default:7071',
  ]);
  // A name without port asks for every port, also for other names of the same service.
  assert.deepEqual(names(['echo:7071', 'echo.default.svc.cluster.local']), [
    'echo.default.svc.cluster.local:7070',
    'echo.default.svc.cluster.local:7071',
    'echo:7070',
    'echo:7071',
  ]);
  assert.deepEqual(names(['other:7070']), []);
  assert.deepEqual(
    buildGrpcListeners(p, services, undefined).map((l) => l.name),
    ['echo.default.svc.cluster.local:7070', 'echo.default.svc.cluster.local:7071'],
  );
  assertListeners(buildGrpcListeners(p, services, undefined));
});
