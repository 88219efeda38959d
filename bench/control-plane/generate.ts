/**
 * The benchmark mesh, written as a config directory of Istio YAML: `services` ServiceEntries
 * with two ports each (http 8080, grpc 9090) spread over `namespaces` namespaces,
 * `endpointsPerService` WorkloadEntries behind each (10.x.y.z addresses that are never
 * dialled: this measures the control plane only), and for every tenth service a
 * DestinationRule (subsets v1/v2, a connection pool, outlier detection) and a VirtualService
 * (90/10 split, retries, timeout). One file per service, so a change rewrites one file.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

export interface MeshSize {
  readonly services: number;
  readonly endpointsPerService: number;
  readonly namespaces: number;
}

export function serviceHost(i: number, size: MeshSize): string {
  return `svc-${i}.ns-${i % size.namespaces}.svc.cluster.local`;
}

/** WorkloadEntry address of endpoint `k` of service `i`; `generation` moves it (endpoint changes). */
export function endpointAddress(i: number, k: number, generation = 0): string {
  return `10.${(i >> 8) & 255}.${i & 255}.${((k + generation * 16) % 250) + 1}`;
}

export function serviceFile(i: number, size: MeshSize, generation = 0): string {
  const ns = `ns-${i % size.namespaces}`;
  const host = serviceHost(i, size);
  const docs: string[] = [
    `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: svc-${i}, namespace: ${ns}}
spec:
  hosts: [${host}]
  ports:
  - {number: 8080, name: http, protocol: HTTP}
  - {number: 9090, name: grpc, protocol: GRPC}
  resolution: STATIC
  location: MESH_INTERNAL
  workloadSelector: {labels: {app: svc-${i}}}
`,
  ];
  for (let k = 0; k < size.endpointsPerService; k++) {
    docs.push(`apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: svc-${i}-${k}, namespace: ${ns}}
spec:
  address: ${endpointAddress(i, k, k === 0 ? generation : 0)}
  labels: {app: svc-${i}, version: v${(k % 2) + 1}}
  locality: region-${k % 2}/zone-${k % 3}
  serviceAccount: svc-${i}
`);
  }
  if (i % 10 === 0) {
    docs.push(`apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: svc-${i}, namespace: ${ns}}
spec:
  host: ${host}
  trafficPolicy:
    connectionPool:
      tcp: {maxConnections: 100}
      http: {http1MaxPendingRequests: 100, maxRequestsPerConnection: 10}
    outlierDetection: {consecutive5xxErrors: 5, interval: 10s, baseEjectionTime: 30s}
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
`);
    docs.push(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: svc-${i}, namespace: ${ns}}
spec:
  hosts: [${host}]
  http:
  - match:
    - headers: {x-canary: {exact: "true"}}
    route:
    - destination: {host: ${host}, subset: v2}
  - route:
    - destination: {host: ${host}, subset: v1}
      weight: 90
    - destination: {host: ${host}, subset: v2}
      weight: 10
    retries: {attempts: 3, perTryTimeout: 2s, retryOn: "5xx,reset"}
    timeout: 10s
`);
  }
  return docs.join('---\n');
}

/**
 * The mesh config of full-push round `round`: the connect timeout changes every cluster, so
 * the push really carries new content to every proxy (SotW and delta alike).
 */
export function meshFile(round: number): string {
  return `connectTimeout: ${10 + round}s\n`;
}

/** Writes the whole mesh into `dir` (config) and `meshPath`. */
export async function generate(dir: string, meshPath: string, size: MeshSize): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (let i = 0; i < size.services; i++)
    await writeFile(path.join(dir, `svc-${i}.yaml`), serviceFile(i, size));
  await writeFile(meshPath, meshFile(0));
}
