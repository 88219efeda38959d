/**
 * VirtualService http[] -> Envoy routes, one rule per test: each result is also checked against
 * the RouteConfiguration proto, so a misspelt field fails here.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { HTTPRoute, VirtualService } from '../../../../src/api/networking/virtual-service.ts';
import { validateMessageShape } from '../../../../src/lib/xds/message-shape.ts';
import { ROUTE_TYPE_URL } from '../../../../src/lib/xds/type-urls.ts';
import type { VirtualServiceConfig } from '../../../../src/pilot/model/indexes/virtual-service-index.ts';
import {
  buildDefaultInboundRoute,
  buildDefaultOutboundRoute,
  buildHttpRoutesForVirtualService,
  buildRedirectAction,
  destinationCluster,
  type RouteBuildContext,
  sortVirtualHostRoutes,
  translateRoute,
} from '../../../../src/pilot/networking/route/route.ts';

type Proto = Record<string, unknown>;

function vs(http: HTTPRoute[], extra: Partial<VirtualService> = {}): VirtualServiceConfig {
  return {
    kind: 'VirtualService',
    group: 'networking.istio.io',
    version: 'v1beta1',
    meta: {
      name: 'reviews',
      namespace: 'default',
      labels: {},
      annotations: {},
      resourceVersion: '1',
    },
    spec: { hosts: ['reviews.default.svc.cluster.local'], gateways: ['mesh'], http, ...extra },
  };
}

const R = 'reviews.default.svc.cluster.local';

function ctx(over: Partial<RouteBuildContext> = {}): RouteBuildContext {
  return {
    proxyLabels: { app: 'productpage' },
    proxyNamespace: 'default',
    listenPort: 9080,
    gatewayNames: new Set(['mesh']),
    isTls: false,
    proxyless: false,
    lookupService: (h) => (h === R ? { ports: [{ port: 9080 }] } : undefined),
    consistentHashFor: () => undefined,
    ...over,
  };
}

/** Fails with the field path when a route does not fit the proto. */
function assertRoutes(routes: readonly Proto[]): void {
  const rc = { name: 't', virtual_hosts: [{ name: 'v', domains: ['*'], routes }] };
  assert.deepEqual(validateMessageShape(ROUTE_TYPE_URL, rc), []);
}

function routeOf(http: HTTPRoute, c: RouteBuildContext = ctx()): Proto {
  const routes = buildHttpRoutesForVirtualService(vs([http]), c);
  assertRoutes(routes);
  assert.equal(routes.length, 1);
  return routes[0];
}

test('a weighted split drops zero weights and names each subset cluster', () => {
  const r = routeOf({
    route: [
      { destination: { host: R, subset: 'v1' }, weight: 75 },
      { destination: { host: R, subset: 'v2' }, weight: 25 },
      { destination: { host: R, subset: 'v3' }, weight: 0 },
    ],
  });
  assert.deepEqual((r.route as Proto).weighted_clusters, {
    clusters: [
      { name: `outbound|9080|v1|${R}`, weight: { value: 75 } },
      { name: `outbound|9080|v2|${R}`, weight: { value: 25 } },
    ],
  });
  assert.equal((r.decorator as Proto).operation, 'reviews:9080/*');
});

test('a destination port picks the cluster port; a single-port service its own; else the listener port', () => {
  assert.equal(
    destinationCluster({ host: R, port: { number: 8000 } }, { ports: [{ port: 9080 }] }, 80),
    `outbound|8000||${R}`,
  );
  assert.equal(destinationCluster({ host: R }, { ports: [{ port: 9080 }] }, 80), `outbound|9080||${R}`);
  assert.equal(
    destinationCluster({ host: R }, { ports: [{ port: 1 }, { port: 2 }] }, 80),
    `outbound|80||${R}`,
  );
  assert.equal(destinationCluster({ host: 'x.example.com' }, undefined, 443), 'outbound|443||x.example.com');
});

test('consistent hashing to a single destination adds its hash policy and drops the previous-hosts retry predicate', () => {
  const r = routeOf(
    { route: [{ destination: { host: R } }] },
    ctx({ consistentHashFor: () => ({ httpCookie: { name: 'sid', ttl: '10s', path: '/' } }) }),
  );
  const action = r.route as Proto;
  assert.deepEqual(action.hash_policy, [
    { cookie: { name: 'sid', ttl: { seconds: 10, nanos: 0 }, path: '/' } },
  ]);
  assert.equal((action.retry_policy as Proto).retry_host_predicate, undefined);
});

test('matches with static conditions that do not hold here are left out; a catch-all ends the list', () => {
  const routes = buildHttpRoutesForVirtualService(
    vs([
      {
        name: 'a',
        match: [
          { name: 'port', port: 8080, uri: { prefix: '/p' } },
          { name: 'labels', sourceLabels: { app: 'details' } },
          { name: 'ns', sourceNamespace: 'other' },
          { name: 'gw', gateways: ['istio-system/ingress'] },
          { name: 'mine', sourceLabels: { app: 'productpage' }, uri: { prefix: '/mine' } },
        ],
        route: [{ destination: { host: R } }],
      },
      { name: 'all', match: [{ uri: { prefix: '/' } }], route: [{ destination: { host: R } }] },
      { name: 'never', route: [{ destination: { host: R } }] },
    ]),
    ctx(),
  );
  assertRoutes(routes);
  assert.deepEqual(
    routes.map((r) => r.name),
    ['a.mine', 'all'],
  );
});

test('a gateway listed in a match selects the route on that gateway only', () => {
  const http: HTTPRoute = {
    match: [{ gateways: ['istio-system/ingress'] }],
    route: [{ destination: { host: R } }],
  };
  assert.equal(buildHttpRoutesForVirtualService(vs([http]), ctx()).length, 0);
  assert.equal(
    buildHttpRoutesForVirtualService(vs([http]), ctx({ gatewayNames: new Set(['istio-system/ingress']) }))
      .length,
    1,
  );
});

test('a delegating route left unmerged routes nowhere and is skipped', () => {
  const routes = buildHttpRoutesForVirtualService(vs([{ delegate: { name: 'missing' } }]), ctx());
  assert.deepEqual(routes, []);
});

test('redirects: code names, derived and default ports, unsupported codes drop the route', () => {
  assert.deepEqual(buildRedirectAction({ uri: '/x', redirectCode: 302 }, 9080, false), {
    path_redirect: '/x',
    response_code: 'FOUND',
  });
  assert.deepEqual(buildRedirectAction({ derivePort: 'FROM_REQUEST_PORT' }, 9080, false), {
    port_redirect: 9080,
    response_code: 'MOVED_PERMANENTLY',
  });
  assert.deepEqual(buildRedirectAction({ derivePort: 'FROM_PROTOCOL_DEFAULT' }, 9080, false), {
    response_code: 'MOVED_PERMANENTLY',
  });
  // 443 is implied for https (the server terminates TLS, so https is the default scheme).
  assert.deepEqual(buildRedirectAction({ port: 443 }, 443, true), { response_code: 'MOVED_PERMANENTLY' });
  assert.deepEqual(buildRedirectAction({ port: 443, scheme: 'http' }, 443, true), {
    scheme_redirect: 'http',
    port_redirect: 443,
    response_code: 'MOVED_PERMANENTLY',
  });
  assert.equal(buildRedirectAction({ redirectCode: 399 }, 80, false), undefined);
  assert.equal(translateRoute({ redirect: { redirectCode: 399 } }, undefined, vs([]), ctx()), undefined);
});

test('an :authority set in headers becomes the host rewrite; a rewrite authority wins over it', () => {
  const viaHeader = routeOf({
    headers: { request: { set: { ':authority': 'a.example.com', 'x-a': '1' } } },
    route: [{ destination: { host: R } }],
  });
  assert.equal((viaHeader.route as Proto).host_rewrite_literal, 'a.example.com');
  assert.deepEqual(viaHeader.request_headers_to_add, [
    { header: { key: 'x-a', value: '1' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
  ]);
  const both = routeOf({
    headers: { request: { add: { host: 'h.example.com' } } },
    rewrite: { authority: 'r.example.com' },
    route: [{ destination: { host: R }, headers: { request: { set: { ':authority': 'd.example.com' } } } }],
  });
  assert.equal((both.route as Proto).host_rewrite_literal, 'r.example.com');
});

test('timeouts: unset is no timeout; proxyless clients get max_stream_duration and no CORS', () => {
  const envoy = routeOf({
    timeout: '1.5s',
    corsPolicy: { allowOrigins: [{ exact: 'x' }] },
    route: [{ destination: { host: R } }],
  });
  assert.deepEqual((envoy.route as Proto).max_grpc_timeout, { seconds: 1, nanos: 500_000_000 });
  assert.ok((envoy.typed_per_filter_config as Proto)['envoy.filters.http.cors']);
  const grpc = routeOf(
    {
      timeout: '1.5s',
      corsPolicy: { allowOrigins: [{ exact: 'x' }] },
      route: [{ destination: { host: R } }],
    },
    ctx({ proxyless: true }),
  );
  assert.deepEqual((grpc.route as Proto).max_stream_duration, {
    max_stream_duration: { seconds: 1, nanos: 500_000_000 },
  });
  assert.equal((grpc.route as Proto).max_grpc_timeout, undefined);
  assert.equal(grpc.typed_per_filter_config, undefined);
});

test('routes carry the VirtualService that made them, in kebab case as Istio writes it', () => {
  const r = routeOf({ route: [{ destination: { host: R } }] });
  assert.deepEqual(r.metadata, {
    filter_metadata: {
      istio: {
        fields: {
          config: {
            stringValue: '/apis/networking.istio.io/v1beta1/namespaces/default/virtual-service/reviews',
          },
        },
      },
    },
  });
});

test('catch-all routes move behind the others, keeping their order', () => {
  const a = { name: 'a', match: { prefix: '/' } };
  const b = { name: 'b', match: { path: '/b' } };
  const c = { name: 'c', match: { safe_regex: { regex: '.*' } } };
  const d = { name: 'd', match: { prefix: '/', headers: [{ name: 'x', present_match: true }] } };
  assert.deepEqual(
    sortVirtualHostRoutes([a, b, c, d]).map((r) => r.name),
    ['b', 'd', 'a', 'c'],
  );
});

test('default routes: outbound retries by policy, inbound never times out', () => {
  const out = buildDefaultOutboundRoute(`outbound|9080||${R}`, `${R}:9080/*`, {
    defaultRetryPolicy: { attempts: 0 },
    hash: { useSourceIp: true },
  });
  const inbound = buildDefaultInboundRoute('inbound|9080||', 'x:9080/*');
  assertRoutes([out, inbound]);
  assert.equal((out.route as Proto).retry_policy, undefined);
  assert.deepEqual((out.route as Proto).hash_policy, [{ connection_properties: { source_ip: true } }]);
  assert.deepEqual((inbound.route as Proto).timeout, { seconds: 0, nanos: 0 });
});
