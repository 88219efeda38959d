/** Virtual hosts: the names a service answers to, deduplication, wildcard VirtualServices, gateways. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { GatewayServerInfo } from '../../../../src/pilot/model/indexes/gateway-index.ts';
import type { VirtualServiceConfig } from '../../../../src/pilot/model/indexes/virtual-service-index.ts';
import { intersectServerHosts } from '../../../../src/pilot/networking/route/gateway-routes.ts';
import {
  buildCatchAllVirtualHost,
  buildSidecarOutboundVirtualHosts,
  generateAltVirtualHosts,
  generateVirtualHostDomains,
  mostSpecificWildcardVirtualServices,
  virtualHostsForSniffedServicePort,
} from '../../../../src/pilot/networking/route/virtual-host.ts';
import type { Service } from '../../../../src/registry/model.ts';
import { Protocol } from '../../../../src/registry/protocol.ts';

function svc(hostname: string, over: Partial<Service> = {}): Service {
  return {
    hostname,
    namespace: hostname.split('.')[1] ?? 'default',
    name: hostname.split('.')[0],
    provider: 'Kubernetes',
    clusterId: 'Kubernetes',
    addresses: ['10.0.0.9'],
    defaultAddress: '10.0.0.9',
    ports: [{ name: 'http', port: 9080, protocol: Protocol.HTTP }],
    resolution: 'ClientSideLB',
    meshExternal: false,
    serviceAccounts: [],
    labels: {},
    ...over,
  };
}

function vs(name: string, hosts: string[], created = ''): VirtualServiceConfig {
  return {
    kind: 'VirtualService',
    group: 'networking.istio.io',
    version: 'v1',
    meta: {
      name,
      namespace: 'default',
      labels: {},
      annotations: {},
      resourceVersion: '1',
      creationTimestamp: created,
    },
    spec: {
      hosts,
      gateways: ['mesh'],
      http: [{ route: [{ destination: { host: hosts[0].replace('*', 'x') } }] }],
    },
  };
}

test('alternative names by the proxy namespace: same namespace, other namespace, non-Kubernetes', () => {
  const d = 'default.svc.cluster.local';
  assert.deepEqual(generateAltVirtualHosts('reviews.default.svc.cluster.local', 0, d), [
    'reviews',
    'reviews.default.svc',
    'reviews.default',
  ]);
  assert.deepEqual(generateAltVirtualHosts('ratings.other.svc.cluster.local', 9080, d), [
    'ratings.other',
    'ratings.other:9080',
    'ratings.other.svc',
    'ratings.other.svc:9080',
  ]);
  assert.deepEqual(generateAltVirtualHosts('api.example.com', 0, d), []);
  assert.deepEqual(generateAltVirtualHosts('foo.local.campus.net', 80, 'local.campus.net'), [
    'foo',
    'foo:80',
  ]);
  assert.deepEqual(generateAltVirtualHosts('foo.bar.campus.net', 80, 'local.campus.net'), [
    'foo.bar',
    'foo.bar:80',
    'foo.bar.campus',
    'foo.bar.campus:80',
  ]);
});

test('domains: FQDN, alt names, VIPs; IPv6 in brackets; CIDRs skipped; headless Kubernetes adds wildcards', () => {
  const s = svc('reviews.default.svc.cluster.local', { addresses: ['10.0.0.9', 'fd00::9', '10.1.0.0/16'] });
  assert.deepEqual(generateVirtualHostDomains(s, 9080, 9080, 'default.svc.cluster.local', true).domains, [
    'reviews.default.svc.cluster.local',
    'reviews',
    'reviews.default.svc',
    'reviews.default',
    '10.0.0.9',
    '[fd00::9]',
  ]);
  const headless = svc('db.default.svc.cluster.local', { resolution: 'Passthrough', addresses: [] });
  assert.deepEqual(
    generateVirtualHostDomains(headless, 9080, 9080, 'other.svc.cluster.local', true).domains,
    [
      'db.default.svc.cluster.local',
      'db.default',
      'db.default.svc',
      '*.db.default.svc.cluster.local',
      '*.db.default',
      '*.db.default.svc',
    ],
  );
});

const routeContext = {
  proxyLabels: {},
  proxyNamespace: 'default',
  gatewayNames: new Set(['mesh']),
  isTls: false,
  proxyless: false,
  lookupService: () => undefined,
  consistentHashFor: () => undefined,
};

test('a domain is never repeated; a short name that is another real service is not shadowed', () => {
  // "reviews" the ServiceEntry host must stay with its own virtual host, not become a short
  // name of reviews.default.svc.cluster.local.
  const kube = svc('reviews.default.svc.cluster.local');
  const external = svc('reviews', { addresses: ['10.0.0.9'], provider: 'External', namespace: 'default' });
  const vhosts = buildSidecarOutboundVirtualHosts({
    proxyDomain: 'default.svc.cluster.local',
    proxyless: false,
    listenerPort: 9080,
    services: [kube, external],
    virtualServices: [],
    routeContext,
    hashForServicePort: () => undefined,
  });
  assert.deepEqual(
    vhosts.map((v) => [v.name, v.domains]),
    [
      [
        'reviews.default.svc.cluster.local:9080',
        ['reviews.default.svc.cluster.local', 'reviews.default.svc', 'reviews.default', '10.0.0.9'],
      ],
      ['reviews:9080', ['reviews']],
    ],
  );
});

test('the most specific wildcard VirtualService takes a service; an exact host beats every wildcard', () => {
  const services = [svc('a.shop.example.com'), svc('b.example.com'), svc('c.example.com')];
  const index = mostSpecificWildcardVirtualServices(
    [vs('broad', ['*.example.com']), vs('narrow', ['*.shop.example.com']), vs('exact', ['c.example.com'])],
    services,
  );
  assert.deepEqual(
    [...index],
    [
      ['a.shop.example.com', 'default/narrow'],
      ['b.example.com', 'default/broad'],
    ],
  );
});

test('a sniffed route keeps only its service, answering any domain', () => {
  const vhosts = [
    { name: 'a:80', domains: ['a', 'a:80'] },
    { name: 'b:80', domains: ['b'] },
  ];
  assert.deepEqual(virtualHostsForSniffedServicePort(vhosts, 'a:80'), [{ name: 'a:80', domains: ['*'] }]);
  assert.deepEqual(virtualHostsForSniffedServicePort(vhosts, 'c:80'), []);
});

test('catch-all: allow_any passes through, block_all answers 502', () => {
  const allow = buildCatchAllVirtualHost({ allowAny: true, passthroughCluster: 'PassthroughCluster' });
  assert.equal(allow.name, 'allow_any');
  const block = buildCatchAllVirtualHost({ allowAny: false, passthroughCluster: 'ignored' });
  assert.equal(block.name, 'block_all');
  assert.deepEqual((block.routes as Record<string, unknown>[])[0].direct_response, { status: 502 });
});

test('gateway hosts: namespace-scoped server hosts, the more specific of each matching pair', () => {
  const info = {
    hosts: [
      { namespace: '*', host: '*.example.com' },
      { namespace: 'shop', host: 'shop.io' },
    ],
  } as unknown as GatewayServerInfo;
  assert.deepEqual(intersectServerHosts(info, vs('a', ['www.example.com', 'shop.io'])), ['www.example.com']);
  const shopVs = { ...vs('b', ['*.io']), meta: { ...vs('b', ['*.io']).meta, namespace: 'shop' } };
  assert.deepEqual(intersectServerHosts(info, shopVs), ['shop.io']);
});
