import assert from 'node:assert/strict';
import { test } from 'node:test';
import { toProtoStruct } from '../../../src/lib/xds/well-known.ts';
import {
  formatNodeId,
  parseIstioVersion,
  parseNodeId,
  proxyFromNode,
} from '../../../src/pilot/model/proxy.ts';

test("parseNodeId reads Istio's TYPE~IP~POD.NAMESPACE~DOMAIN and formatNodeId writes it", () => {
  const id = 'sidecar~10.1.2.3~reviews-v1-abc.bookinfo~bookinfo.svc.cluster.local';
  assert.deepEqual(parseNodeId(id), {
    type: 'sidecar',
    ipAddress: '10.1.2.3',
    id: 'reviews-v1-abc.bookinfo',
    dnsDomain: 'bookinfo.svc.cluster.local',
  });
  assert.equal(
    formatNodeId({
      type: 'sidecar',
      ipAddress: '10.1.2.3',
      podName: 'reviews-v1-abc',
      namespace: 'bookinfo',
    }),
    id,
  );
  assert.equal(
    parseNodeId('router~fd00::1~gw.istio-system~istio-system.svc.cluster.local').ipAddress,
    'fd00::1',
  );
});

test('malformed node ids are refused with the reason', () => {
  assert.throws(() => parseNodeId('sidecar~10.0.0.1~pod.ns'), /4 parts/);
  assert.throws(
    () => parseNodeId('ztunnel~10.0.0.1~pod.ns~ns.svc.cluster.local'),
    /type "ztunnel" is not one of sidecar, router/,
  );
  assert.throws(() => parseNodeId('sidecar~ten~pod.ns~ns.svc.cluster.local'), /"ten" is not an IP address/);
  assert.throws(() => parseNodeId('sidecar~10.0.0.1~~ns.svc.cluster.local'), /empty/);
});

test("proxyFromNode: identity, metadata under Istio's keys, locality", () => {
  const proxy = proxyFromNode({
    id: 'sidecar~10.1.2.3~reviews-v1-abc.bookinfo~bookinfo.svc.cluster.local',
    cluster: 'reviews.bookinfo',
    locality: { region: 'eu', zone: 'eu-1a', sub_zone: 'rack7' },
    metadata: toProtoStruct({
      NAMESPACE: 'bookinfo',
      LABELS: { app: 'reviews', version: 'v1' },
      ANNOTATIONS: { 'sidecar.istio.io/inject': 'true' },
      SERVICE_ACCOUNT: 'bookinfo-reviews',
      CLUSTER_ID: 'Kubernetes',
      WORKLOAD_NAME: 'reviews-v1',
      ISTIO_VERSION: '1.24.2',
      MESH_ID: 'cluster.local',
      NETWORK: 'net1',
      INSTANCE_IPS: '10.1.2.3,fd00::3',
      INTERCEPTION_MODE: 'REDIRECT',
      GENERATOR: 'grpc',
      DNS_CAPTURE: 'true',
      ENVOY_STATUS_PORT: 15021,
      ENVOY_PROMETHEUS_PORT: '15090',
      APP_CONTAINERS: 'reviews,helper',
      PROXY_CONFIG: { concurrency: 2 },
      SOMETHING_ELSE: 'kept raw',
    }),
  });
  assert.equal(proxy.type, 'sidecar');
  assert.equal(proxy.id, 'reviews-v1-abc.bookinfo');
  assert.equal(proxy.namespace, 'bookinfo');
  assert.deepEqual(proxy.ipAddresses, ['10.1.2.3', 'fd00::3']);
  assert.deepEqual(proxy.labels, { app: 'reviews', version: 'v1' });
  assert.equal(proxy.serviceAccount, 'bookinfo-reviews');
  assert.equal(proxy.clusterId, 'Kubernetes');
  assert.equal(proxy.workloadName, 'reviews-v1');
  assert.deepEqual(proxy.istioVersion, { major: 1, minor: 24, patch: 2 });
  assert.equal(proxy.serviceCluster, 'reviews.bookinfo');
  assert.deepEqual(proxy.locality, { region: 'eu', zone: 'eu-1a', subZone: 'rack7' });
  const m = proxy.metadata;
  assert.equal(m.interceptionMode, 'REDIRECT');
  assert.equal(m.generator, 'grpc');
  assert.equal(m.dnsCapture, true);
  assert.equal(m.envoyStatusPort, 15021);
  assert.equal(m.envoyPrometheusPort, 15090);
  assert.deepEqual(m.appContainers, ['reviews', 'helper']);
  assert.deepEqual(m.proxyConfig, { concurrency: 2 });
  assert.equal(m.raw.SOMETHING_ELSE, 'kept raw');
  assert.deepEqual(m.annotations, { 'sidecar.istio.io/inject': 'true' });
});

test('the namespace falls back to POD.NAMESPACE of the id; without either it is an error', () => {
  assert.equal(
    proxyFromNode({ id: 'router~10.0.0.1~gw-1.istio-system~istio-system.svc.cluster.local' }).namespace,
    'istio-system',
  );
  assert.throws(() => proxyFromNode({ id: 'sidecar~10.0.0.1~justapod~x' }), /cannot tell the namespace/);
});

test('every metadata problem is reported at once', () => {
  assert.throws(
    () =>
      proxyFromNode({
        id: 'sidecar~10.0.0.1~p.ns~ns.svc.cluster.local',
        metadata: toProtoStruct({
          LABELS: { app: 1 },
          INSTANCE_IPS: '10.0.0.1,banana',
          INTERCEPTION_MODE: 'MAGIC',
          DNS_CAPTURE: 'yes',
          ENVOY_STATUS_PORT: 70000,
          NAMESPACE: 5,
          PROXY_CONFIG: 'x',
        }),
      }),
    (err: Error & { code?: string }) => {
      assert.equal(err.code, 'MZ_ERR_INVALID_ARGUMENT');
      for (const part of [
        'LABELS.app',
        'banana',
        'MAGIC',
        'DNS_CAPTURE',
        'ENVOY_STATUS_PORT',
        'NAMESPACE',
        'PROXY_CONFIG',
      ]) {
        assert.ok(err.message.includes(part), `${part} in: ${err.message}`);
      }
      return true;
    },
  );
  assert.throws(() => proxyFromNode(null), /node\.id/);
});

test('Istio versions', () => {
  assert.deepEqual(parseIstioVersion('1.22'), { major: 1, minor: 22, patch: 0 });
  assert.deepEqual(parseIstioVersion('1.23.0-beta.1'), { major: 1, minor: 23, patch: 0 });
  assert.equal(parseIstioVersion('master'), undefined);
  assert.equal(parseIstioVersion(undefined), undefined);
});
