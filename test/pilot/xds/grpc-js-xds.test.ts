/**
 * An independent xDS client proves the protocol: `@grpc/grpc-js-xds` (written by the gRPC team)
 * resolves `xds:///svc` against our AdsServer, which serves hand-built LDS/RDS/CDS/EDS, and
 * routes real gRPC calls to real grpc-js servers on 127.0.0.1. Own file: grpc-js-xds registers
 * the `xds:` scheme process-wide.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import * as grpcXds from '@grpc/grpc-js-xds';
import { typed } from '../../../src/lib/xds/any.ts';
import {
  CLUSTER_TYPE_URL,
  ENDPOINT_TYPE_URL,
  HTTP_CONNECTION_MANAGER_TYPE_URL,
  LISTENER_TYPE_URL,
  ROUTE_TYPE_URL,
  ROUTER_TYPE_URL,
} from '../../../src/lib/xds/type-urls.ts';
import { cluster, endpoints, KIND, startAds, state, type TestAds, testNoOpenHandles } from './harness.ts';

const METHOD = '/mizzen.test.Echo/Call';
const identity = (b: Buffer) => b;

/** A grpc-js server on 127.0.0.1:0 answering every call with its own name. */
async function startBackend(name: string): Promise<{ port: number; server: grpc.Server }> {
  const server = new grpc.Server();
  server.addService(
    {
      Call: {
        path: METHOD,
        requestStream: false,
        responseStream: false,
        requestSerialize: identity,
        requestDeserialize: identity,
        responseSerialize: identity,
        responseDeserialize: identity,
      },
    },
    { Call: (_call: unknown, cb: grpc.sendUnaryData<Buffer>) => cb(null, Buffer.from(name)) },
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return { port, server };
}

function call(client: grpc.Client): Promise<string> {
  return new Promise((resolve, reject) =>
    client.makeUnaryRequest(METHOD, identity, identity, Buffer.from('ping'), (err, res) =>
      err ? reject(err) : resolve((res as Buffer).toString()),
    ),
  );
}

/** The four resources a proxyless gRPC client needs for `xds:///svc`, written by hand. */
function resources(backendPorts: number[]) {
  return state({
    listeners: {
      svc: {
        name: 'svc',
        api_listener: {
          api_listener: typed(HTTP_CONNECTION_MANAGER_TYPE_URL, {
            rds: { config_source: { ads: {}, resource_api_version: 'V3' }, route_config_name: 'svc-route' },
            http_filters: [{ name: 'envoy.filters.http.router', typed_config: typed(ROUTER_TYPE_URL, {}) }],
          }),
        },
      },
    },
    routes: {
      'svc-route': {
        name: 'svc-route',
        virtual_hosts: [
          {
            name: 'svc',
            domains: ['svc'],
            routes: [{ match: { prefix: '' }, route: { cluster: 'svc-cluster' } }],
          },
        ],
      },
    },
    clusters: { 'svc-cluster': { ...cluster('svc-cluster'), lb_policy: 'ROUND_ROBIN' } },
    endpoints: { 'svc-cluster': endpoints('svc-cluster', backendPorts) },
  });
}

function xdsClient(ads: TestAds): grpc.Client {
  const bootstrap = {
    xds_servers: [
      { server_uri: ads.address, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] },
    ],
    // grpc-js-xds needs a locality, even an empty one (PLATFORM-NOTES).
    node: {
      id: 'sidecar~127.0.0.1~grpc-client.default~default.svc.cluster.local',
      locality: {},
      metadata: { NAMESPACE: 'default', GENERATOR: 'grpc', ISTIO_VERSION: '1.24.0' },
    },
  };
  // A per-channel bootstrap gives the channel its own xDS client, closed with the channel.
  return new grpc.Client('xds:///svc', grpc.credentials.createInsecure(), {
    'grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config': JSON.stringify(bootstrap),
  });
}

test('grpc-js-xds resolves xds:///svc through LDS, RDS, CDS, EDS and round-robins across all backends', {
  timeout: 30_000,
}, async () => {
  grpcXds.register();
  const backends = [
    await startBackend('backend-a'),
    await startBackend('backend-b'),
    await startBackend('backend-c'),
  ];
  const ads = await startAds(resources([backends[0].port, backends[1].port]));
  const client = xdsClient(ads);
  try {
    const seen = new Map<string, number>();
    for (let i = 0; i < 20; i++) {
      const who = await call(client);
      seen.set(who, (seen.get(who) ?? 0) + 1);
    }
    assert.deepEqual([...seen.keys()].sort(), ['backend-a', 'backend-b']);

    // Every type was ACKed by the independent client (CSDS's view: SYNCED).
    const status = ads.server.syncStatus().find((p) => p.nodeId?.includes('grpc-client'));
    assert.ok(status, 'the grpc-js-xds client is a connected proxy');
    const byType = new Map(status.types.map((t) => [t.typeUrl, t]));
    for (const t of [LISTENER_TYPE_URL, ROUTE_TYPE_URL, CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL]) {
      assert.equal(byType.get(t)?.state, 'SYNCED', `${t} is ACKed`);
      assert.equal(byType.get(t)?.nackCount, 0);
    }

    // An endpoint change pushed over EDS takes effect without restarting the client.
    const edsAcked = new Promise<void>((resolve) => {
      const onAck = (_c: unknown, typeUrl: string) => {
        if (typeUrl !== ENDPOINT_TYPE_URL) return;
        ads.server.off('ack', onAck);
        resolve();
      };
      ads.server.on('ack', onAck);
    });
    ads.update(resources([backends[2].port]), [KIND.endpoint]);
    await edsAcked;
    const afterChange = new Set<string>();
    for (let i = 0; i < 10; i++) afterChange.add(await call(client));
    assert.deepEqual([...afterChange], ['backend-c']);
  } finally {
    client.close();
    await ads.server.close();
    for (const b of backends) b.server.forceShutdown();
  }
});

testNoOpenHandles();
