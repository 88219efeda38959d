/**
 * The LDS and RDS generators as the ADS server calls them: triggers (house rule 3: every kind
 * of the kinds table is in each table), named and wildcard subscriptions, unknown route names,
 * the grpc flavour's registration.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KIND_NAMES } from '../../../../src/api/schema/kinds.ts';
import { LISTENER_TYPE_URL, ROUTE_TYPE_URL } from '../../../../src/lib/xds/type-urls.ts';
import { newPushRequest } from '../../../../src/pilot/model/push-request.ts';
import { defaultGenerators } from '../../../../src/pilot/xds/generators/index.ts';
import {
  grpcLdsGenerator,
  LDS_KIND_EFFECTS,
  ldsGenerator,
} from '../../../../src/pilot/xds/generators/lds.ts';
import {
  grpcRdsGenerator,
  RDS_KIND_EFFECTS,
  rdsGenerator,
} from '../../../../src/pilot/xds/generators/rds.ts';
import { assertNoOpenHandles, FakeMizzend, type ProxySpec } from '../../../support/fake-mizzend.ts';

test('every config kind has an entry in the LDS and RDS trigger tables', () => {
  assert.deepEqual(Object.keys(LDS_KIND_EFFECTS).sort(), [...KIND_NAMES].sort());
  assert.deepEqual(Object.keys(RDS_KIND_EFFECTS).sort(), [...KIND_NAMES].sort());
});

const SIDECAR: ProxySpec = {
  id: 'sidecar~10.0.0.1~app-1.default~default.svc.cluster.local',
  metadata: { NAMESPACE: 'default', LABELS: { app: 'app' } },
};
const ROUTER: ProxySpec = {
  id: 'router~10.0.9.1~gw-1.istio-system~istio-system.svc.cluster.local',
  metadata: { NAMESPACE: 'istio-system', LABELS: { istio: 'ingressgateway' } },
};
const GRPC: ProxySpec = {
  id: 'sidecar~127.0.0.1~client-1.default~default.svc.cluster.local',
  locality: {},
  metadata: { NAMESPACE: 'default', GENERATOR: 'grpc' },
};

const CONFIG = `
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  clusterIP: 10.96.0.5
  selector: {app: web}
  ports:
  - {name: http, port: 8080}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*"]
`;

test('pushes: endpoint-only never, Gateway changes only for routers, Telemetry not for routes', async () => {
  const cp = await FakeMizzend.start({ configYaml: CONFIG });
  try {
    const sidecar = cp.proxy(SIDECAR);
    const router = cp.proxy(ROUTER);
    const push = cp.push;
    const req = (kind: string) => ({
      ...newPushRequest({ full: true, configsUpdated: [{ kind, namespace: 'default', name: 'x' }] }),
      push,
    });
    assert.equal(ldsGenerator.needsPush(sidecar, { ...newPushRequest({ full: false }), push }), false);
    assert.equal(rdsGenerator.needsPush(sidecar, { ...newPushRequest({ full: false }), push }), false);
    assert.equal(ldsGenerator.needsPush(sidecar, req('Gateway')), false);
    assert.equal(ldsGenerator.needsPush(router, req('Gateway')), true);
    assert.equal(rdsGenerator.needsPush(sidecar, req('Telemetry')), false);
    assert.equal(ldsGenerator.needsPush(sidecar, req('Telemetry')), true);
    assert.equal(rdsGenerator.needsPush(sidecar, req('VirtualService')), true);
    // A full push without a list of changes may have changed anything.
    assert.equal(rdsGenerator.needsPush(sidecar, { ...newPushRequest({ full: true }), push }), true);
  } finally {
    await cp.close();
  }
});

test('RDS answers the names asked for; an unknown name gets an empty configuration', async () => {
  const cp = await FakeMizzend.start({ configYaml: CONFIG });
  try {
    const routes = cp.routes(SIDECAR, ['8080', 'nonsense', '9999']);
    assert.deepEqual(
      routes.map((r) => r.name),
      ['8080', '9999', 'nonsense'],
    );
    assert.equal((FakeMizzend.decode(routes[0]).virtual_hosts as unknown[]).length, 2);
    // 9999 has no service but still ends in the catch-all.
    assert.equal((FakeMizzend.decode(routes[1]).virtual_hosts as { name: string }[])[0].name, 'allow_any');
    assert.deepEqual(FakeMizzend.decode(routes[2]).virtual_hosts, []);
    const gw = cp.routes(ROUTER, ['http.80', 'http.81']);
    assert.equal((FakeMizzend.decode(gw[0]).virtual_hosts as { name: string }[])[0].name, 'blackhole:80');
    assert.deepEqual(FakeMizzend.decode(gw[1]).virtual_hosts, []);
  } finally {
    await cp.close();
  }
});

test('a router that no Gateway selects gets no listeners', async () => {
  const cp = await FakeMizzend.start({ configYaml: CONFIG });
  try {
    assert.deepEqual(
      cp.listeners({ ...ROUTER, metadata: { NAMESPACE: 'istio-system', LABELS: { istio: 'other' } } }),
      [],
    );
    assert.deepEqual(
      cp.listeners(ROUTER).map((l) => l.name),
      ['0.0.0.0_80'],
    );
  } finally {
    await cp.close();
  }
});

test('the grpc flavour is registered and chosen by GENERATOR: grpc', async () => {
  const registry = defaultGenerators();
  assert.equal(registry.get(LISTENER_TYPE_URL, 'grpc'), grpcLdsGenerator);
  assert.equal(registry.get(ROUTE_TYPE_URL, 'grpc'), grpcRdsGenerator);
  assert.equal(registry.get(LISTENER_TYPE_URL), ldsGenerator);
  const cp = await FakeMizzend.start({ configYaml: CONFIG });
  try {
    assert.deepEqual(
      cp.listeners(GRPC, ['web:8080']).map((l) => l.name),
      ['web:8080'],
    );
    assert.deepEqual(
      cp.routes(GRPC).map((r) => r.name),
      ['outbound|8080||web.default.svc.cluster.local'],
    );
  } finally {
    await cp.close();
  }
});

test('leaves no open handles', () => assertNoOpenHandles());
