/**
 * Every listener and route configuration the golden cases produce, checked field by field
 * against the Envoy protos BEFORE packing: protobufjs drops unknown fields silently when it
 * encodes, so a misspelt field would otherwise vanish from the goldens unnoticed. The proxyless
 * (grpc flavour) output is also run through grpc-js-xds's own resource validation, the client
 * that consumes it.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { parse } from 'yaml';
import { validateMessageShape } from '../../../../src/lib/xds/message-shape.ts';
import { LISTENER_TYPE_URL, ROUTE_TYPE_URL } from '../../../../src/lib/xds/type-urls.ts';
import { buildListenersFor } from '../../../../src/pilot/xds/generators/lds.ts';
import { buildRouteConfigurationFor, routeNamesFor } from '../../../../src/pilot/xds/generators/rds.ts';
import { assertNoOpenHandles, FakeMizzend, type ProxySpec } from '../../../support/fake-mizzend.ts';

const TESTDATA = join(import.meta.dirname, '..', 'testdata');
const cases = readdirSync(TESTDATA)
  .filter((d) => statSync(join(TESTDATA, d)).isDirectory())
  .sort();

function read(dir: string, name: string): string | undefined {
  const p = join(dir, name);
  return existsSync(p) ? readFileSync(p, 'utf8') : undefined;
}

for (const name of cases) {
  test(`${name}: every listener and route configuration matches the Envoy protos`, async () => {
    const dir = join(TESTDATA, name);
    const mesh = read(dir, 'mesh.yaml');
    const registryYaml = read(dir, 'registry.yaml');
    const cp = await FakeMizzend.start({
      configYaml: read(dir, 'input.yaml'),
      file: `${name}/input.yaml`,
      ...(mesh !== undefined ? { mesh } : {}),
      ...(registryYaml !== undefined ? { registryYaml } : {}),
    });
    try {
      const proxy = cp.proxy(parse(read(dir, 'proxy.yaml') as string) as ProxySpec);
      const listeners = buildListenersFor(cp.push, proxy);
      for (const l of listeners) {
        assert.deepEqual(validateMessageShape(LISTENER_TYPE_URL, l, String(l.name)), []);
      }
      for (const routeName of routeNamesFor(cp.push, proxy)) {
        const rc = buildRouteConfigurationFor(cp.push, proxy, routeName);
        assert.deepEqual(validateMessageShape(ROUTE_TYPE_URL, rc, routeName), []);
      }
    } finally {
      await cp.close();
    }
  });
}

test('a misspelt field is reported with its path', () => {
  const problems = validateMessageShape(
    LISTENER_TYPE_URL,
    { name: 'x', bind_to_prot: { value: false } },
    'x',
  );
  assert.deepEqual(problems, ['x.bind_to_prot: unknown field of envoy.config.listener.v3.Listener']);
});

// ---- grpc-js-xds accepts the grpc flavour ----

let cp: FakeMizzend;
const require = createRequire(import.meta.url);
type Decoder = { get(): { decode(ctx: object, r: object): { name: string; error?: string } } };
let listenerType: Decoder;
let routeType: Decoder;

before(async () => {
  // Registers grpc-js-xds's HTTP filters (fault, router, rbac) so filter validation is real.
  require('@grpc/grpc-js-xds').register();
  listenerType = require('@grpc/grpc-js-xds/build/src/xds-resource-type/listener-resource-type.js')
    .ListenerResourceType as Decoder;
  routeType = require('@grpc/grpc-js-xds/build/src/xds-resource-type/route-config-resource-type.js')
    .RouteConfigurationResourceType as Decoder;
  const dir = join(TESTDATA, 'grpc-proxyless-routes');
  cp = await FakeMizzend.start({ configYaml: read(dir, 'input.yaml') });
});

const GRPC_CLIENT: ProxySpec = {
  id: 'sidecar~127.0.0.1~grpc-client-1.default~default.svc.cluster.local',
  locality: {},
  metadata: { NAMESPACE: 'default', GENERATOR: 'grpc', LABELS: { app: 'grpc-client' } },
};

test('grpc-js-xds decodes the API listeners it asks for by target, short names included', () => {
  const names = ['echo.default.svc.cluster.local:7070', 'echo:7070', 'sticky.default:7071'];
  const resources = cp.listeners(GRPC_CLIENT, names);
  assert.deepEqual(resources.map((r) => r.name).sort(), [...names].sort());
  for (const r of resources) {
    const decoded = listenerType.get().decode({}, r.resource);
    assert.equal(decoded.error, undefined, `${r.name}: ${decoded.error}`);
  }
});

test('grpc-js-xds decodes the route configurations the listeners name', () => {
  const names = [
    'outbound|7070||echo.default.svc.cluster.local',
    'outbound|7071||sticky.default.svc.cluster.local',
  ];
  const resources = cp.routes(GRPC_CLIENT, names);
  assert.equal(resources.length, 2);
  for (const r of resources) {
    const decoded = routeType.get().decode({}, r.resource);
    assert.equal(decoded.error, undefined, `${r.name}: ${decoded.error}`);
  }
});

test('a route name that is no cluster name gives nothing; an unknown service, no virtual host', () => {
  assert.deepEqual(cp.routes(GRPC_CLIENT, ['not-a-cluster-name']), []);
  const [empty] = cp.routes(GRPC_CLIENT, ['outbound|1||nowhere.example.com']);
  assert.deepEqual(FakeMizzend.decode(empty).virtual_hosts, []);
});

test('leaves no open handles', async () => {
  await cp.close();
  assertNoOpenHandles();
});
