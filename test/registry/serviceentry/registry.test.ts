import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeText } from '../../../src/api/decode.ts';
import type { ConfigResource } from '../../../src/api/resource.ts';
import { type Endpoint, Provider, Resolution } from '../../../src/registry/model.ts';
import { Protocol } from '../../../src/registry/protocol.ts';
import { convertServiceEntry, workloadEntryFromGroup } from '../../../src/registry/serviceentry/convert.ts';
import { ServiceEntryRegistry } from '../../../src/registry/serviceentry/registry.ts';
import { assertNoOpenHandles } from '../../support/fake-mizzend.ts';

function decode<T = unknown>(yaml: string): ConfigResource<T> {
  const d = decodeText(yaml, 'test.yaml', { defaultNamespace: 'default' });
  const errors = d.issues.filter((i) => i.severity === 'error');
  assert.deepEqual(errors, []);
  return d.documents[0].resource as ConfigResource<T>;
}

/** A RegistryUpdater that records calls. */
function recorder() {
  const calls: string[] = [];
  const endpoints = new Map<string, readonly Endpoint[]>();
  return {
    calls,
    endpoints,
    updater: {
      serviceUpdate: (_s: unknown, host: string, ns: string, ev: string) =>
        calls.push(`service ${ev} ${ns}/${host}`),
      endpointUpdate: (_s: unknown, host: string, ns: string, eps: readonly Endpoint[]) => {
        endpoints.set(`${ns}/${host}`, eps);
        calls.push(`eds ${ns}/${host} ${eps.length}`);
      },
      endpointCacheUpdate: (_s: unknown, host: string, ns: string, eps: readonly Endpoint[]) => {
        endpoints.set(`${ns}/${host}`, eps);
        calls.push(`cache ${ns}/${host} ${eps.length}`);
      },
      configUpdate: (u: { configsUpdated: readonly { name: string }[]; reason: string }) =>
        calls.push(`full ${u.reason} ${u.configsUpdated.map((k) => k.name).join(',')}`),
    },
  };
}

const SE_SELECTOR = `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: reviews-vms, namespace: default}
spec:
  hosts: [reviews.vm.example.com]
  location: MESH_INTERNAL
  resolution: STATIC
  ports:
  - {number: 9080, name: http, protocol: HTTP}
  workloadSelector:
    labels: {app: reviews}
`;

function we(name: string, address: string, labels: string, extra = '') {
  return decode(`
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: ${name}, namespace: default}
spec:
  address: ${address}
  labels: ${labels}
  serviceAccount: reviews${extra}
`);
}

test('convertServiceEntry: one service per host with Istio resolution, location, addresses and exportTo', () => {
  const se = decode(`
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: external, namespace: web}
spec:
  hosts: [api.example.com, www.example.com]
  addresses: [192.168.1.1/32, 10.10.0.0/16]
  resolution: NONE
  exportTo: [".", other]
  subjectAltNames: [api.example.com]
  ports:
  - {number: 443, name: https, protocol: HTTPS}
  - {number: 8080, name: api, protocol: HTTP, targetPort: 18080}
`);
  const { services, problem } = convertServiceEntry(se as never, {
    clusterId: 'c1',
    trustDomain: 'cluster.local',
  });
  assert.equal(problem, undefined);
  assert.deepEqual(
    services.map((s) => s.hostname),
    ['api.example.com', 'www.example.com'],
  );
  const s = services[0];
  assert.equal(s.resolution, Resolution.PASSTHROUGH);
  assert.equal(s.meshExternal, true, 'location defaults to MESH_EXTERNAL');
  assert.deepEqual(s.addresses, ['192.168.1.1', '10.10.0.0/16']);
  assert.equal(s.defaultAddress, '192.168.1.1');
  assert.deepEqual([...(s.exportTo ?? [])], ['web', 'other']);
  assert.deepEqual(s.serviceAccounts, ['api.example.com']);
  assert.equal(s.provider, Provider.EXTERNAL);
  assert.deepEqual(
    s.ports.map((p) => [p.name, p.port, p.protocol, p.targetPort]),
    [
      ['https', 443, Protocol.HTTPS, undefined],
      ['api', 8080, Protocol.HTTP, 18080],
    ],
  );
  const resolutions = ['DNS', 'STATIC', 'DNS_ROUND_ROBIN'].map(
    (r) =>
      convertServiceEntry(
        decode(
          `apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: x}\nspec:\n  hosts: [x.example.com]\n  resolution: ${r}\n  ports: [{number: 80, name: http, protocol: HTTP}]\n${r === 'STATIC' ? '  endpoints: [{address: 10.0.0.1}]\n' : ''}`,
        ) as never,
        { clusterId: 'c1', trustDomain: 'cluster.local' },
      ).services[0].resolution,
  );
  assert.deepEqual(resolutions, [
    Resolution.DNS_LB,
    Resolution.CLIENT_SIDE_LB,
    Resolution.DNS_ROUND_ROBIN_LB,
  ]);
});

test('DYNAMIC_DNS yields no service and says why', () => {
  const se = decode(`
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: dyn}
spec:
  hosts: ["*.dyn.example.com"]
  resolution: DYNAMIC_DNS
  ports: [{number: 80, name: http, protocol: HTTP}]
`);
  const r = convertServiceEntry(se as never, { clusterId: 'c1', trustDomain: 'cluster.local' });
  assert.deepEqual(r.services, []);
  assert.match(r.problem ?? '', /DYNAMIC_DNS is not supported/);
});

test('WorkloadEntry changes update only the services that select them, incrementally', () => {
  const rec = recorder();
  const reg = new ServiceEntryRegistry({ updater: rec.updater as never });
  reg.applyServiceEntry(undefined, decode(SE_SELECTOR) as never);
  assert.deepEqual(rec.calls, [
    'cache default/reviews.vm.example.com 0',
    'service update default/reviews.vm.example.com',
  ]);
  rec.calls.length = 0;
  const v1 = we('reviews-1', '10.2.0.1', '{app: reviews, version: v1}');
  reg.applyWorkloadEntry(undefined, v1 as never);
  reg.applyWorkloadEntry(undefined, we('ratings-1', '10.3.0.1', '{app: ratings}') as never);
  assert.deepEqual(
    rec.calls,
    ['eds default/reviews.vm.example.com 1'],
    'a non-matching WorkloadEntry changes nothing',
  );
  const eps = rec.endpoints.get('default/reviews.vm.example.com') ?? [];
  assert.equal(eps[0].serviceAccount, 'spiffe://cluster.local/ns/default/sa/reviews');
  assert.equal(eps[0].port, 9080);
  rec.calls.length = 0;
  // Relabelled out of the selector: the endpoint goes.
  reg.applyWorkloadEntry(v1 as never, we('reviews-1', '10.2.0.1', '{app: other}') as never);
  assert.deepEqual(rec.calls, ['eds default/reviews.vm.example.com 0']);
});

test('endpoint changes of DNS services need a full push: their endpoints live in CDS', () => {
  const rec = recorder();
  const reg = new ServiceEntryRegistry({ updater: rec.updater as never });
  reg.applyServiceEntry(
    undefined,
    decode(SE_SELECTOR.replace('resolution: STATIC', 'resolution: DNS')) as never,
  );
  rec.calls.length = 0;
  reg.applyWorkloadEntry(undefined, we('reviews-1', 'vm1.example.com', '{app: reviews}') as never);
  assert.deepEqual(rec.calls, [
    'cache default/reviews.vm.example.com 1',
    'full endpoint reviews.vm.example.com',
  ]);
});

test('service targets: the services whose workloads run on the proxy IP, with their target ports', () => {
  const rec = recorder();
  const reg = new ServiceEntryRegistry({ updater: rec.updater as never });
  reg.applyServiceEntry(undefined, decode(SE_SELECTOR) as never);
  reg.applyWorkloadEntry(
    undefined,
    we('reviews-1', '10.2.0.1', '{app: reviews}', '\n  ports: {http: 8080}') as never,
  );
  reg.applyServiceEntry(
    undefined,
    decode(`
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: inline, namespace: default}
spec:
  hosts: [inline.example.com]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 7000, name: tcp, protocol: TCP, targetPort: 7001}]
  endpoints: [{address: 10.2.0.1}]
`) as never,
  );
  const targets = reg
    .snapshot()
    .serviceTargets({ ipAddresses: ['10.2.0.1'], namespace: 'default', labels: {} });
  assert.deepEqual(targets.map((t) => [t.service.hostname, t.port.port, t.targetPort]).sort(), [
    ['inline.example.com', 7000, 7001],
    ['reviews.vm.example.com', 9080, 8080],
  ]);
  assert.deepEqual(
    reg.snapshot().serviceTargets({ ipAddresses: ['10.9.9.9'], namespace: 'default', labels: {} }),
    [],
  );
});

test('two entries for one host: the older wins and the other is reported', () => {
  const rec = recorder();
  const reg = new ServiceEntryRegistry({ updater: rec.updater as never });
  const mk = (name: string, ts: string, port: number) =>
    decode(`
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${name}, namespace: default, creationTimestamp: "${ts}"}
spec:
  hosts: [shared.example.com]
  resolution: DNS
  ports: [{number: ${port}, name: http, protocol: HTTP}]
`);
  reg.applyServiceEntry(undefined, mk('newer', '2024-02-01T00:00:00Z', 81) as never);
  reg.applyServiceEntry(undefined, mk('older', '2024-01-01T00:00:00Z', 80) as never);
  const snap = reg.snapshot();
  assert.equal(snap.services.length, 1);
  assert.equal(snap.services[0].ports[0].port, 80);
  assert.match(reg.issues()[0].message, /already declared by ServiceEntry\/default\/older/);
  // Deleting the winner hands the host to the other entry.
  reg.applyServiceEntry(mk('older', '2024-01-01T00:00:00Z', 80) as never, undefined);
  assert.equal(reg.snapshot().services[0].ports[0].port, 81);
});

test('snapshots are immutable and reused until something changes', () => {
  const rec = recorder();
  const reg = new ServiceEntryRegistry({ updater: rec.updater as never });
  reg.applyServiceEntry(undefined, decode(SE_SELECTOR) as never);
  const a = reg.snapshot();
  assert.equal(reg.snapshot(), a);
  assert.ok(Object.isFrozen(a) && Object.isFrozen(a.services));
  reg.applyWorkloadEntry(undefined, we('reviews-1', '10.2.0.1', '{app: reviews}') as never);
  assert.notEqual(reg.snapshot(), a);
  assert.equal(a.workloads.length, 0);
});

test('auto-registration builds a WorkloadEntry from its group and the connecting proxy', () => {
  const wg = decode(`
apiVersion: networking.istio.io/v1
kind: WorkloadGroup
metadata: {name: reviews, namespace: default}
spec:
  metadata:
    labels: {app: reviews, version: v2}
  template:
    ports: {http: 9080}
    serviceAccount: bookinfo-reviews
    network: vm-net
`);
  const entry = workloadEntryFromGroup(wg as never, { address: '10.8.0.1', locality: 'us-east1/us-east1-b' });
  assert.deepEqual(entry, {
    ports: { http: 9080 },
    serviceAccount: 'bookinfo-reviews',
    network: 'vm-net',
    address: '10.8.0.1',
    labels: { app: 'reviews', version: 'v2' },
    locality: 'us-east1/us-east1-b',
  });
});

test('leaves no open handles', () => assertNoOpenHandles());
