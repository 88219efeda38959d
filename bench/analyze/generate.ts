/**
 * A synthetic mesh of about `n` Istio objects, valid and cross-referenced the way a real
 * configuration is, so every analyzer does its full work: per application a ServiceEntry,
 * two WorkloadEntries, a DestinationRule with two subsets, a VirtualService with a header
 * match and a weighted split, an AuthorizationPolicy and a Sidecar; every tenth
 * application also gets a Gateway (all on the same workloads and port, distinct hosts: the
 * worst case for the conflicting-gateways check) and a VirtualService bound to it.
 */
export interface GeneratedFile {
  readonly name: string;
  readonly text: string;
}

const PER_APP = 8;
const NAMESPACES = 10;

function app(i: number, apps: number): string {
  const ns = `team-${i % NAMESPACES}`;
  const name = `app-${i}`;
  const host = `${name}.${ns}.svc.cluster.local`;
  const next = (i + 1) % apps;
  const nextHost = `app-${next}.team-${next % NAMESPACES}.svc.cluster.local`;
  const docs = [
    `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: ${name}
  namespace: ${ns}
spec:
  hosts: [${host}]
  location: MESH_INTERNAL
  ports:
  - {number: 9080, name: http, protocol: HTTP}
  resolution: STATIC
  workloadSelector:
    labels: {app: ${name}}`,
    ...['v1', 'v2'].map(
      (v, k) => `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata:
  name: ${name}-${v}
  namespace: ${ns}
spec:
  address: 127.0.0.1
  ports: {http: ${10000 + ((i * 2 + k) % 50000)}}
  labels: {app: ${name}, version: ${v}}
  serviceAccount: ${name}`,
    ),
    `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: ${name}
  namespace: ${ns}
spec:
  host: ${name}
  trafficPolicy:
    tls: {mode: ISTIO_MUTUAL}
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}`,
    `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: ${name}
  namespace: ${ns}
spec:
  hosts: [${name}]
  http:
  - match:
    - headers: {end-user: {exact: tester}}
    route:
    - destination: {host: ${name}, subset: v2}
  - route:
    - destination: {host: ${name}, subset: v1}
      weight: 90
    - destination: {host: ${name}, subset: v2}
      weight: 10
    timeout: 5s`,
    `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: ${name}
  namespace: ${ns}
spec:
  selector:
    matchLabels: {app: ${name}}
  rules:
  - from:
    - source: {principals: ["cluster.local/ns/${ns}/sa/app-${(i + apps - 1) % apps}"]}
    to:
    - operation: {methods: [GET]}`,
    `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata:
  name: ${name}
  namespace: ${ns}
spec:
  workloadSelector:
    labels: {app: ${name}}
  egress:
  - hosts: ["*/${nextHost}", "istio-system/*"]`,
  ];
  if (i % 10 === 0) {
    docs.push(
      `apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: ${name}-gateway
  namespace: ${ns}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: [${name}.example.com]`,
      `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: ${name}-ingress
  namespace: ${ns}
spec:
  hosts: [${name}.example.com]
  gateways: [${name}-gateway]
  http:
  - match: [{uri: {prefix: /}}]
    route:
    - destination: {host: ${host}, port: {number: 9080}}`,
    );
  }
  return docs.join('\n---\n');
}

/** About `n` objects in one file per namespace. */
export function generateMesh(n: number): { files: GeneratedFile[]; objects: number } {
  const apps = Math.max(1, Math.round(n / (PER_APP + 0.2)));
  const byNs = new Map<string, string[]>();
  let objects = 0;
  for (let i = 0; i < apps; i++) {
    const ns = `team-${i % NAMESPACES}`;
    const list = byNs.get(ns) ?? [];
    list.push(app(i, apps));
    byNs.set(ns, list);
    objects += PER_APP + (i % 10 === 0 ? 2 : 0);
  }
  const files = [...byNs].map(([ns, docs]) => ({ name: `${ns}.yaml`, text: `${docs.join('\n---\n')}\n` }));
  return { files, objects };
}
