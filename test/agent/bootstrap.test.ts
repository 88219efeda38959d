/**
 * The proxy bootstrap from flags, Istio's environment variables and a file — precedence,
 * defaults, the node it builds (checked against mizzend's own parser, over the real protobuf
 * encoding), and one test per kind of error, each naming where the bad value came from.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  type BootstrapSources,
  ISTIO_COMPAT_VERSION,
  loadBootstrap,
  parseBootstrapArgs,
  parseDownwardApiFile,
  resolveBootstrap,
} from '../../src/agent/bootstrap.ts';
import { MizzenError } from '../../src/lib/errors.ts';
import { ADS_DECODE_OPTIONS, type XdsNode } from '../../src/lib/xds/discovery.ts';
import { decodeMessage, encodeMessage } from '../../src/lib/xds/protos.ts';
import { proxyFromNode } from '../../src/pilot/model/proxy.ts';

const NODE = 'envoy.config.core.v3.Node';

/** Sources with nothing from the machine: no env, fixed hostname and interfaces. */
function sources(extra: Partial<BootstrapSources> = {}): BootstrapSources {
  return {
    env: {},
    hostname: () => 'host-1',
    interfaceAddresses: () => ['10.1.1.1', 'fd00::1'],
    readFile: (p) => {
      throw new Error(`ENOENT: no such file, open '${p}'`);
    },
    ...extra,
  };
}

function files(map: Record<string, string>): (p: string) => string {
  return (p) => {
    if (!Object.hasOwn(map, p)) throw new Error(`ENOENT: no such file, open '${p}'`);
    return map[p];
  };
}

function errorsOf(s: BootstrapSources): readonly string[] {
  const r = resolveBootstrap(s);
  assert.equal(r.bootstrap, undefined, 'expected the bootstrap to be refused');
  return r.errors;
}

/** The node as mizzend receives it: encoded and decoded by protobuf, then parsed. */
function overTheWire(node: XdsNode) {
  return proxyFromNode(decodeMessage<XdsNode>(NODE, encodeMessage(NODE, node), ADS_DECODE_OPTIONS));
}

const INJECTED_ENV = {
  POD_NAME: 'reviews-v1-7d4b9',
  POD_NAMESPACE: 'bookinfo',
  INSTANCE_IP: '10.244.1.7',
  SERVICE_ACCOUNT: 'bookinfo-reviews',
  HOST_IP: '192.168.0.10',
  ISTIO_META_CLUSTER_ID: 'east',
  ISTIO_META_MESH_ID: 'mesh-1',
  ISTIO_META_WORKLOAD_NAME: 'reviews-v1',
  ISTIO_META_POD_PORTS: '[{"containerPort":9080,"protocol":"TCP"}]',
  ISTIO_META_APP_CONTAINERS: 'reviews',
  ISTIO_METAJSON_LABELS: '{"app":"reviews","version":"v1"}',
  PROXY_CONFIG:
    '{"discoveryAddress":"mizzend.istio-system.svc:15010","proxyMetadata":{"ISTIO_DELTA_XDS":"false"}}',
};

test("an injected pod's environment gives Istio's node, and mizzend parses it back the same", () => {
  const b = loadBootstrap(sources({ env: INJECTED_ENV }));
  assert.equal(b.nodeId, 'sidecar~10.244.1.7~reviews-v1-7d4b9.bookinfo~bookinfo.svc.cluster.local');
  assert.equal(b.discoveryAddress, 'mizzend.istio-system.svc:15010');
  assert.equal(b.xdsMode, 'sotw', 'ISTIO_DELTA_XDS=false from proxyMetadata');
  assert.equal(b.serviceCluster, 'istio-proxy');
  assert.deepEqual(b.labels, { app: 'reviews', version: 'v1' });
  assert.deepEqual(b.warnings, []);

  const proxy = overTheWire(b.node);
  assert.equal(proxy.type, 'sidecar');
  assert.equal(proxy.id, 'reviews-v1-7d4b9.bookinfo');
  assert.equal(proxy.namespace, 'bookinfo');
  assert.deepEqual(proxy.ipAddresses, ['10.244.1.7']);
  assert.equal(proxy.dnsDomain, 'bookinfo.svc.cluster.local');
  assert.deepEqual(proxy.labels, { app: 'reviews', version: 'v1' });
  assert.equal(proxy.serviceAccount, 'bookinfo-reviews');
  assert.equal(proxy.clusterId, 'east');
  assert.equal(proxy.workloadName, 'reviews-v1');
  assert.equal(proxy.metadata.meshId, 'mesh-1');
  assert.equal(proxy.metadata.interceptionMode, 'REDIRECT');
  assert.equal(proxy.metadata.istioVersion, ISTIO_COMPAT_VERSION);
  assert.equal(proxy.metadata.envoyStatusPort, 15021);
  assert.equal(proxy.metadata.envoyPrometheusPort, 15090);
  assert.deepEqual(proxy.metadata.appContainers, ['reviews']);
  assert.equal(proxy.metadata.raw.POD_PORTS, '[{"containerPort":9080,"protocol":"TCP"}]');
  assert.equal(proxy.metadata.raw.NAME, 'reviews-v1-7d4b9');
  assert.equal(proxy.metadata.proxyConfig?.discoveryAddress, 'mizzend.istio-system.svc:15010');
  assert.equal(proxy.serviceCluster, 'istio-proxy');
  assert.deepEqual(proxy.locality, { region: '', zone: '', subZone: '' });
  assert.equal(b.node.user_agent_name, 'mizzen-proxy');
});

test('flags win over the environment; the proxy type may come first, as in `pilot-agent proxy router`', () => {
  const flags = parseBootstrapArgs([
    'router',
    '--pod-name',
    'ingress-1',
    '--namespace',
    'istio-system',
    '--ip',
    '10.0.0.5',
    '--ip',
    'fd00::5',
    '--label',
    'istio=ingressgateway',
    '--label',
    'version=v2',
    '--locality',
    'us-east1/us-east1-b',
    '--discovery-address',
    '127.0.0.1:15010',
    '--xds-mode',
    'delta',
    '--cluster-domain',
    'example.org',
    '--meta',
    'OWNER=kubernetes://apis/apps/v1/namespaces/istio-system/deployments/ingress',
    '--service-cluster',
    'ingress.istio-system',
  ]);
  const b = loadBootstrap(sources({ flags, env: INJECTED_ENV }));
  assert.equal(b.proxyType, 'router');
  assert.equal(b.nodeId, 'router~10.0.0.5~ingress-1.istio-system~istio-system.svc.example.org');
  assert.deepEqual(b.instanceIps, ['10.0.0.5', 'fd00::5']);
  assert.equal(b.discoveryAddress, '127.0.0.1:15010');
  assert.equal(b.xdsMode, 'delta');
  assert.deepEqual(b.labels, { app: 'reviews', version: 'v2', istio: 'ingressgateway' }, 'merged by key');
  assert.deepEqual(b.locality, { region: 'us-east1', zone: 'us-east1-b', subZone: '' });
  assert.equal(b.serviceCluster, 'ingress.istio-system');
  const proxy = overTheWire(b.node);
  assert.equal(proxy.type, 'router');
  assert.deepEqual(proxy.ipAddresses, ['10.0.0.5', 'fd00::5']);
  assert.deepEqual(proxy.locality, { region: 'us-east1', zone: 'us-east1-b', subZone: '' });
  assert.equal(proxy.metadata.owner, 'kubernetes://apis/apps/v1/namespaces/istio-system/deployments/ingress');
  assert.equal(proxy.serviceCluster, 'ingress.istio-system');
});

test('a bootstrap file (YAML) with a mesh config and a labels file beside it; env wins over it', () => {
  const read = files({
    '/etc/mizzen/bootstrap.yaml': [
      'proxyType: sidecar',
      'podName: from-file',
      'namespace: shop',
      'instanceIps: [10.9.9.9]',
      'serviceAccount: cart',
      'clusterId: west',
      'labels: {app: cart, tier: backend}',
      'labelsFile: pod/labels',
      'locality: {region: eu, zone: eu-1, subZone: rack-7}',
      'xdsMode: sotw',
      'meshConfig: mesh.yaml',
      'metadata: {CUSTOM_KEY: custom}',
      'proxyConfig:',
      '  tracingServiceName: CANONICAL_NAME_AND_NAMESPACE',
      '',
    ].join('\n'),
    '/etc/mizzen/mesh.yaml':
      'trustDomain: example.com\ndefaultConfig:\n  discoveryAddress: mizzend.mesh.svc:15010\n',
    '/etc/mizzen/pod/labels': 'app="cart"\nservice.istio.io/canonical-name="cart-svc"\nversion="v3"\n',
  });
  const b = loadBootstrap(
    sources({
      flags: { config: '/etc/mizzen/bootstrap.yaml' },
      env: { POD_NAME: 'cart-7f9' },
      readFile: read,
    }),
  );
  assert.equal(b.nodeId, 'sidecar~10.9.9.9~cart-7f9.shop~shop.svc.cluster.local');
  assert.equal(b.discoveryAddress, 'mizzend.mesh.svc:15010', 'from the mesh config');
  assert.equal(b.xdsMode, 'sotw');
  assert.equal(b.clusterId, 'west');
  assert.equal(b.meshId, 'example.com', 'the trust domain when no mesh id is set');
  assert.deepEqual(b.labels, {
    app: 'cart',
    tier: 'backend',
    'service.istio.io/canonical-name': 'cart-svc',
    version: 'v3',
  });
  assert.deepEqual(b.locality, { region: 'eu', zone: 'eu-1', subZone: 'rack-7' });
  assert.equal(b.serviceCluster, 'cart-svc.shop', 'CANONICAL_NAME_AND_NAMESPACE');
  assert.equal(b.metadata.CUSTOM_KEY, 'custom');
  assert.equal(overTheWire(b.node).serviceAccount, 'cart');
});

test('a real JSON file on disk', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mizzen-bootstrap-'));
  try {
    const path = join(dir, 'bootstrap.json');
    writeFileSync(path, JSON.stringify({ podName: 'p', namespace: 'n', instanceIps: ['10.0.0.1'] }));
    const b = loadBootstrap({ flags: { config: path }, env: {}, hostname: () => 'x' });
    assert.equal(b.nodeId, 'sidecar~10.0.0.1~p.n~n.svc.cluster.local');
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test('defaults: hostname, interface addresses, namespace "default", the mesh default address, delta', () => {
  const b = loadBootstrap(sources());
  assert.equal(b.nodeId, 'sidecar~10.1.1.1~host-1.default~default.svc.cluster.local');
  assert.deepEqual(b.instanceIps, ['10.1.1.1', 'fd00::1']);
  assert.equal(b.discoveryAddress, 'mizzend.istio-system.svc:15012');
  assert.equal(b.xdsMode, 'delta');
  assert.equal(b.clusterId, 'Kubernetes');
  assert.equal(b.workloadName, 'host-1');
  assert.equal(b.interceptionMode, 'REDIRECT');
  const lonely = loadBootstrap(sources({ interfaceAddresses: () => [] }));
  assert.deepEqual(lonely.instanceIps, ['127.0.0.1']);
});

test('APP_LABEL_AND_NAMESPACE names the node cluster after the app label', () => {
  const b = loadBootstrap(
    sources({
      env: {
        POD_NAMESPACE: 'ns',
        ISTIO_METAJSON_LABELS: '{"app":"web"}',
        PROXY_CONFIG: 'tracingServiceName: APP_LABEL_AND_NAMESPACE',
      },
    }),
  );
  assert.equal(b.serviceCluster, 'web.ns');
});

test('a metadata key that disagrees with the resolved value is replaced, with a warning', () => {
  const r = resolveBootstrap(sources({ env: { POD_NAMESPACE: 'a', ISTIO_META_NAMESPACE: 'b' } }));
  assert.equal(r.bootstrap?.metadata.NAMESPACE, 'a');
  assert.deepEqual(r.warnings, ['node metadata NAMESPACE="b" is replaced by the resolved value "a"']);
});

test('every error is reported at once, naming its source', () => {
  const errors = errorsOf(
    sources({
      flags: { type: 'gateway', ip: ['10.0.0.300'], label: ['bad label=x', 'novalue'], locality: 'a/b/c/d' },
      env: {
        POD_NAMESPACE: 'Bad_NS',
        SERVICE_ACCOUNT: 'Not Valid',
        ISTIO_DELTA_XDS: 'maybe',
        ISTIO_METAJSON_ANNOTATIONS: '{oops',
        PROXY_CONFIG: 'discoveryAddress: nohost\nconcurrency: -1\n',
      },
    }),
  );
  assert.deepEqual(errors, [
    '--type: "gateway" is not a proxy type; use sidecar or router',
    'env POD_NAMESPACE: "Bad_NS" is not a valid namespace (a DNS-1123 label)',
    '--ip: "10.0.0.300" is not an IP address',
    'env SERVICE_ACCOUNT: "Not Valid" is not a valid service account name (a DNS-1123 subdomain)',
    'env ISTIO_METAJSON_ANNOTATIONS: is not valid JSON: ' + jsonError('{oops'),
    '--label: "novalue" is not KEY=VALUE',
    '--label: "bad label" is not a valid label key',
    '--locality: "a/b/c/d" is not a locality: expected REGION/ZONE/SUBZONE',
    'env ISTIO_DELTA_XDS: must be "true" or "false", got "maybe"',
    'proxyConfig.discoveryAddress: "nohost" is not a valid address: expected HOST:PORT',
    'proxyConfig.concurrency: -1 is negative; use 0 for one worker per core',
  ]);
});

function jsonError(text: string): string {
  try {
    JSON.parse(text);
  } catch (err) {
    return (err as Error).message;
  }
  return '';
}

test('PROXY_CONFIG and file errors carry line and column', () => {
  assert.deepEqual(
    errorsOf(sources({ env: { PROXY_CONFIG: 'concurrency: 2\nbinaryPath: /usr/bin/envoy\ncolour: red\n' } })),
    [
      'env PROXY_CONFIG:2:1 binaryPath: binaryPath is not supported by Mizzen: mizzen-proxy is not Envoy and has no separate binary, bootstrap file or Envoy runtime; remove it',
      'env PROXY_CONFIG:3:1 colour: unknown field "colour" in ProxyConfig',
    ],
  );
  const read = files({ '/b.yaml': 'podName: p\nxdsMode: rest\nnamespace: [x]\n' });
  assert.deepEqual(errorsOf(sources({ flags: { config: '/b.yaml' }, readFile: read })), [
    '/b.yaml:2:1 xdsMode: "rest" is not a valid value; expected one of delta, sotw',
    '/b.yaml:3:1 namespace: expected a string, got a list (["x"])',
  ]);
});

test('missing files are named with the flag or field that points at them', () => {
  assert.deepEqual(errorsOf(sources({ flags: { config: '/nope.yaml' } })), [
    "--config: cannot read /nope.yaml: ENOENT: no such file, open '/nope.yaml'",
  ]);
  const read = files({ '/d/b.yaml': 'meshConfig: mesh.yaml\nlabelsFile: labels\n' });
  assert.deepEqual(errorsOf(sources({ flags: { config: '/d/b.yaml' }, readFile: read })), [
    "/d/b.yaml:1:1 meshConfig: cannot read /d/mesh.yaml: ENOENT: no such file, open '/d/mesh.yaml'",
    "/d/b.yaml:2:1 labelsFile: cannot read /d/labels: ENOENT: no such file, open '/d/labels'",
  ]);
});

test('an invalid mesh config is reported with its own positions', () => {
  const read = files({ '/m.yaml': 'defaultConfig:\n  discoveryAddress: ""\n' });
  const errors = errorsOf(sources({ flags: { meshConfig: '/m.yaml' }, readFile: read }));
  assert.equal(errors.length, 1);
  assert.match(errors[0], /^\/m\.yaml:2:\d+ defaultConfig\.discoveryAddress: /);
});

test('loadBootstrap throws MZ_ERR_CONFIG_INVALID listing the problems', () => {
  assert.throws(
    () => loadBootstrap(sources({ env: { POD_NAMESPACE: 'UPPER' } })),
    (err: unknown) =>
      err instanceof MizzenError &&
      err.code === 'MZ_ERR_CONFIG_INVALID' &&
      err.message ===
        'invalid proxy bootstrap:\n  env POD_NAMESPACE: "UPPER" is not a valid namespace (a DNS-1123 label)',
  );
});

test('a bad --discovery-address is named as the flag', () => {
  assert.deepEqual(errorsOf(sources({ flags: { discoveryAddress: 'mizzend:http' } })), [
    '--discovery-address: "mizzend:http": "http" is not a valid port (1-65535)',
  ]);
});

test('flag parsing errors name the flag', () => {
  assert.throws(() => parseBootstrapArgs(['--bogus']), /bootstrap flags: Unknown option '--bogus'/);
  assert.throws(
    () => parseBootstrapArgs(['--namespace']),
    /bootstrap flags: Option '--namespace <value>' argument missing/,
  );
  assert.throws(
    () => parseBootstrapArgs(['sidecar', 'router']),
    /unexpected argument\(s\) "sidecar" "router"/,
  );
  assert.throws(() => parseBootstrapArgs(['sidecar', '--type', 'router']), /the proxy type is given once/);
  assert.deepEqual(parseBootstrapArgs(['--type', 'router']).type, 'router');
});

test('the downward-API labels format, with Go-quoted values and located errors', () => {
  const errors: string[] = [];
  const labels = parseDownwardApiFile('a="1"\nb="x \\"y\\""\n\nbroken\n', '/labels', {
    error: (s, m) => errors.push(`${s}: ${m}`),
  });
  assert.deepEqual(labels, { a: '1', b: 'x "y"' });
  assert.deepEqual(errors, ['/labels:4: expected key="value", got "broken"']);
});
