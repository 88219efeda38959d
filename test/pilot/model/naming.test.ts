import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  buildDnsSrvSubsetKey,
  gatewayHttpRouteName,
  gatewayHttpsRouteName,
  grpcListenerName,
  inboundClusterName,
  listenerName,
  outboundClusterName,
  parseClusterName,
  parseDnsSrvSubsetKey,
  parseGatewayRouteName,
  parseHostPortName,
  parseListenerName,
  parseSidecarRouteName,
  sidecarRouteName,
  TrafficDirection,
} from '../../../src/pilot/model/naming.ts';
import { assertNoOpenHandles } from '../../support/fake-mizzend.ts';

test('cluster names are spelled as Istio spells them and parse back', () => {
  assert.equal(
    outboundClusterName(9080, 'reviews.default.svc.cluster.local'),
    'outbound|9080||reviews.default.svc.cluster.local',
  );
  assert.equal(
    outboundClusterName(9080, 'reviews.default.svc.cluster.local', 'v1'),
    'outbound|9080|v1|reviews.default.svc.cluster.local',
  );
  assert.equal(inboundClusterName(9080), 'inbound|9080||');
  assert.deepEqual(parseClusterName('outbound|9080|v1|reviews.default.svc.cluster.local'), {
    direction: TrafficDirection.OUTBOUND,
    port: 9080,
    subset: 'v1',
    hostname: 'reviews.default.svc.cluster.local',
  });
  assert.deepEqual(parseClusterName('inbound|8080||'), {
    direction: TrafficDirection.INBOUND,
    port: 8080,
    subset: '',
    hostname: '',
  });
  for (const bad of [
    'BlackHoleCluster',
    'outbound|x||h',
    'sideways|80||h',
    'outbound|70000||h',
    'outbound|80|h',
  ]) {
    assert.equal(parseClusterName(bad), undefined, bad);
  }
});

test('SNI keys round-trip', () => {
  const key = buildDnsSrvSubsetKey(
    TrafficDirection.OUTBOUND,
    'v2',
    'reviews.default.svc.cluster.local',
    9080,
  );
  assert.equal(key, 'outbound_.9080_.v2_.reviews.default.svc.cluster.local');
  assert.deepEqual(parseDnsSrvSubsetKey(key), {
    direction: 'outbound',
    port: 9080,
    subset: 'v2',
    hostname: 'reviews.default.svc.cluster.local',
  });
  assert.equal(parseDnsSrvSubsetKey('outbound|9080||x'), undefined);
});

test('listener names: bind_port, IPv6 included', () => {
  assert.equal(listenerName('0.0.0.0', 9080), '0.0.0.0_9080');
  assert.deepEqual(parseListenerName('10.0.0.1_9080'), { bind: '10.0.0.1', port: 9080 });
  assert.deepEqual(parseListenerName('::_15001'), { bind: '::', port: 15001 });
  assert.equal(parseListenerName('virtualOutbound'), undefined);
});

test('route names: sidecar ports, bound egress listeners, gateway HTTP and HTTPS servers', () => {
  assert.equal(sidecarRouteName(9080), '9080');
  assert.equal(sidecarRouteName(9080, '0.0.0.0'), '9080');
  assert.equal(sidecarRouteName(9080, '127.0.0.1'), '127.0.0.1:9080');
  assert.deepEqual(parseSidecarRouteName('127.0.0.1:9080'), { port: 9080, bind: '127.0.0.1' });
  assert.deepEqual(parseSidecarRouteName('9080'), { port: 9080 });
  assert.equal(parseSidecarRouteName('http.80'), undefined);
  assert.equal(gatewayHttpRouteName(80), 'http.80');
  assert.equal(gatewayHttpRouteName(80, '10.0.0.5'), 'http.80.10.0.0.5');
  assert.deepEqual(parseGatewayRouteName('http.80'), { protocol: 'http', port: 80 });
  assert.deepEqual(parseGatewayRouteName('http.80.10.0.0.5'), {
    protocol: 'http',
    port: 80,
    bind: '10.0.0.5',
  });
  const https = gatewayHttpsRouteName(443, 'https', 'bookinfo-gateway', 'default');
  assert.equal(https, 'https.443.https.bookinfo-gateway.default');
  assert.deepEqual(parseGatewayRouteName(https), {
    protocol: 'https',
    port: 443,
    portName: 'https',
    gatewayName: 'bookinfo-gateway',
    gatewayNamespace: 'default',
  });
  assert.equal(parseGatewayRouteName('9080'), undefined);
});

test('host:port names of proxyless listeners parse back', () => {
  assert.equal(
    grpcListenerName('ratings.default.svc.cluster.local', 9090),
    'ratings.default.svc.cluster.local:9090',
  );
  assert.deepEqual(parseHostPortName('ratings:9090'), { host: 'ratings', port: 9090 });
  assert.equal(parseHostPortName('ratings'), undefined);
});

test('leaves no open handles', () => assertNoOpenHandles());
