/**
 * The issue-3 item-8 mesh as Istio objects, for the in-process generation benchmark:
 * `services` ServiceEntries (ports http 8080 and grpc 9090, STATIC, MESH_INTERNAL, selecting
 * `app: svc-I`) spread over `namespaces` namespaces, `endpointsPerService` WorkloadEntries behind
 * each (labels app/version, six localities), and for every tenth service a DestinationRule
 * (subsets v1/v2, connection pool, outlier detection) and a VirtualService (header match, 90/10
 * split, retries, timeout) — the same shape bench/control-plane writes as YAML.
 *
 * Proxies are sidecars. With `workloads` < `proxies`, proxy P is replica P / workloads of the
 * workload of service P % workloads and sits on one of its WorkloadEntry addresses, so it has
 * inbound listeners and clusters like a real pod; with `workloads` = 0 every proxy is a distinct
 * workload that serves nothing (what bench/control-plane's load client sends).
 */
import { toProtoStruct } from '../../src/lib/xds/well-known.ts';
import { type Proxy, proxyFromNode } from '../../src/pilot/model/proxy.ts';

export interface MeshSize {
  readonly services: number;
  readonly endpointsPerService: number;
  readonly namespaces: number;
}

type Obj = Record<string, unknown>;

export function namespaceOf(i: number, size: MeshSize): string {
  return `ns-${i % size.namespaces}`;
}

export function serviceHost(i: number, size: MeshSize): string {
  return `svc-${i}.${namespaceOf(i, size)}.svc.cluster.local`;
}

/** WorkloadEntry address of endpoint `k` of service `i`; `generation` moves it (endpoint changes). */
export function endpointAddress(i: number, k: number, generation = 0): string {
  return `10.${(i >> 8) & 255}.${i & 255}.${((k + generation * 16) % 250) + 1}`;
}

export function workloadEntry(i: number, k: number, size: MeshSize, generation = 0): Obj {
  return {
    apiVersion: 'networking.istio.io/v1',
    kind: 'WorkloadEntry',
    metadata: { name: `svc-${i}-${k}`, namespace: namespaceOf(i, size) },
    spec: {
      address: endpointAddress(i, k, generation),
      labels: { app: `svc-${i}`, version: `v${(k % 2) + 1}` },
      locality: `region-${k % 2}/zone-${k % 3}`,
      serviceAccount: `svc-${i}`,
    },
  };
}

/** Every object of the mesh. */
export function meshObjects(size: MeshSize): Obj[] {
  const out: Obj[] = [];
  for (let i = 0; i < size.services; i++) {
    const ns = namespaceOf(i, size);
    const host = serviceHost(i, size);
    out.push({
      apiVersion: 'networking.istio.io/v1',
      kind: 'ServiceEntry',
      metadata: { name: `svc-${i}`, namespace: ns },
      spec: {
        hosts: [host],
        ports: [
          { number: 8080, name: 'http', protocol: 'HTTP' },
          { number: 9090, name: 'grpc', protocol: 'GRPC' },
        ],
        resolution: 'STATIC',
        location: 'MESH_INTERNAL',
        workloadSelector: { labels: { app: `svc-${i}` } },
      },
    });
    for (let k = 0; k < size.endpointsPerService; k++) out.push(workloadEntry(i, k, size));
    if (i % 10 !== 0) continue;
    out.push({
      apiVersion: 'networking.istio.io/v1',
      kind: 'DestinationRule',
      metadata: { name: `svc-${i}`, namespace: ns },
      spec: {
        host,
        trafficPolicy: {
          connectionPool: {
            tcp: { maxConnections: 100 },
            http: { http1MaxPendingRequests: 100, maxRequestsPerConnection: 10 },
          },
          outlierDetection: { consecutive5xxErrors: 5, interval: '10s', baseEjectionTime: '30s' },
        },
        subsets: [
          { name: 'v1', labels: { version: 'v1' } },
          { name: 'v2', labels: { version: 'v2' } },
        ],
      },
    });
    out.push({
      apiVersion: 'networking.istio.io/v1',
      kind: 'VirtualService',
      metadata: { name: `svc-${i}`, namespace: ns },
      spec: {
        hosts: [host],
        http: [
          {
            match: [{ headers: { 'x-canary': { exact: 'true' } } }],
            route: [{ destination: { host, subset: 'v2' } }],
          },
          {
            route: [
              { destination: { host, subset: 'v1' }, weight: 90 },
              { destination: { host, subset: 'v2' }, weight: 10 },
            ],
            retries: { attempts: 3, perTryTimeout: '2s', retryOn: '5xx,reset' },
            timeout: '10s',
          },
        ],
      },
    });
  }
  return out;
}

/** Sidecar proxy `p` of `proxies` (see the header for `workloads`). */
export function sidecarProxy(p: number, workloads: number, size: MeshSize): Proxy {
  let ip: string;
  let ns: string;
  let labels: Record<string, string>;
  let pod: string;
  if (workloads > 0) {
    const svc = p % workloads;
    const replica = Math.floor(p / workloads);
    ip = endpointAddress(svc, replica % size.endpointsPerService);
    ns = namespaceOf(svc, size);
    labels = { app: `svc-${svc}`, version: `v${((replica % size.endpointsPerService) % 2) + 1}` };
    pod = `svc-${svc}-${replica}`;
  } else {
    ip = `10.200.${(p >> 8) & 255}.${p & 255}`;
    ns = `ns-${p % size.namespaces}`;
    labels = { app: `load-${p}` };
    pod = `load-${p}`;
  }
  return proxyFromNode({
    id: `sidecar~${ip}~${pod}.${ns}~${ns}.svc.cluster.local`,
    cluster: `${labels.app}.${ns}`,
    locality: {},
    metadata: toProtoStruct({
      NAMESPACE: ns,
      ISTIO_VERSION: '1.24.0',
      LABELS: labels,
      CLUSTER_ID: 'Kubernetes',
    }),
  });
}
