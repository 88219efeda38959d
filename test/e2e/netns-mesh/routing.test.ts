/**
 * The namespace demo's generated config (no root needed): ServiceEntries carry the VIPs and
 * WorkloadEntries the pod addresses, and the example VirtualServices/DestinationRules are taken
 * as is except what the namespace mesh cannot serve, each exclusion reported.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { decodeText } from '../../../src/api/decode.ts';
import { buildRoutingConfig, DEMO_SERVICES, DEMO_WORKLOADS } from '../../../src/cli/demo/netns-demo.ts';
import { buildRegistryYaml } from '../../../src/cli/demo/netns-mesh.ts';

const EXAMPLES = join(import.meta.dirname, '..', '..', '..', 'examples');
const dir = mkdtempSync(join(tmpdir(), 'mizzen-netns-routing-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Every document decodes as valid Istio config (the same decoder mizzend uses). */
function assertValid(yaml: string, file: string): void {
  const { issues } = decodeText(yaml, file, { defaultNamespace: 'bookinfo' });
  assert.deepEqual(
    issues.filter((i) => i.severity === 'error').map((i) => i.message),
    [],
  );
}

test('registry: a ServiceEntry per service with its VIP, a WorkloadEntry per pod address', () => {
  const yaml = buildRegistryYaml(
    'bookinfo',
    [{ spec: DEMO_SERVICES[2], vip: '10.96.0.12' }],
    [{ spec: DEMO_WORKLOADS[3], ip: '10.244.0.13' }],
  );
  const [se, we] = parseAllDocuments(yaml).map((d) => d.toJS());
  assert.equal(se.kind, 'ServiceEntry');
  assert.deepEqual(se.spec.hosts, ['reviews.bookinfo.svc.cluster.local']);
  assert.deepEqual(se.spec.addresses, ['10.96.0.12']);
  assert.deepEqual(se.spec.ports, [{ number: 9080, name: 'http', protocol: 'HTTP' }]);
  assert.deepEqual(se.spec.workloadSelector, { labels: { app: 'reviews' } });
  assert.equal(we.kind, 'WorkloadEntry');
  assert.equal(we.metadata.name, 'reviews-v2');
  assert.equal(we.spec.address, '10.244.0.13');
  assert.deepEqual(we.spec.labels, { app: 'reviews', version: 'v2' });
  assert.equal(we.spec.serviceAccount, 'bookinfo-reviews');
  assertValid(yaml, 'registry.yaml');
});

test('routing from examples/: mesh VirtualServices and DestinationRules, without TLS', () => {
  const r = buildRoutingConfig(EXAMPLES);
  assert.deepEqual(r.errors, []);
  const docs = parseAllDocuments(r.yaml).map((d) => d.toJS());
  const names = docs.map((d) => `${d.kind}/${d.metadata.name}`).sort();
  for (const expected of ['VirtualService/reviews', 'DestinationRule/reviews', 'VirtualService/ratings'])
    assert.ok(names.includes(expected), `${expected} missing from ${names.join(', ')}`);
  assert.ok(!names.includes('VirtualService/bookinfo'), 'the gateway VirtualService is left out');
  assert.ok(!names.some((n) => n.endsWith('/httpbin-org')), 'external hosts are left out');
  assert.ok(r.skipped.some((s) => /VirtualService bookinfo\/bookinfo .*Gateway/.test(s)));
  assertValid(r.yaml, 'routing.yaml');
});

test('routing: TLS settings are removed from DestinationRules and subsets, and said so', () => {
  const tlsDir = join(dir, 'tls');
  mkdirSync(tlsDir, { recursive: true });
  writeFileSync(
    join(tlsDir, 'dr.yaml'),
    `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: bookinfo}
spec:
  host: reviews
  trafficPolicy:
    tls: {mode: ISTIO_MUTUAL}
    portLevelSettings: [{port: {number: 9080}, tls: {mode: ISTIO_MUTUAL}}]
  subsets:
    - {name: v1, labels: {version: v1}, trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}}
`,
  );
  // A file works as well as a directory.
  const r = buildRoutingConfig(join(tlsDir, 'dr.yaml'));
  assert.deepEqual(r.errors, []);
  assert.ok(!r.yaml.includes('tls'), r.yaml);
  assert.match(r.yaml, /host: reviews/);
  assert.deepEqual(r.skipped.length, 1);
  assert.match(r.skipped[0], /DestinationRule bookinfo\/reviews .*TLS settings left out/);
  assertValid(r.yaml, 'routing.yaml');
});

test('routing: a broken file is reported with file and line; other kinds are ignored', () => {
  const broken = join(dir, 'broken');
  const sub = join(broken, 'nested');
  mkdirSync(sub, { recursive: true });
  writeFileSync(join(broken, 'ok.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n');
  writeFileSync(join(sub, 'bad.yaml'), 'kind: VirtualService\nspec: [unclosed\n');
  const r = buildRoutingConfig(broken);
  assert.equal(r.yaml, '');
  assert.equal(r.errors.length, 1);
  assert.match(r.errors[0], /nested\/bad\.yaml:\d+: /);
});
