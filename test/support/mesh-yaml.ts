/**
 * Istio YAML the end-to-end and assembly tests share: the `shop` service the client calls, and
 * the client's Sidecar with explicit (captureMode NONE) egress listeners on 127.0.0.1.
 */

export const SHOP = 'shop.example.internal';

/** ServiceEntry `shop` (MESH_INTERNAL, STATIC): one port; its instances are the app=shop WorkloadEntries. */
export function shopServiceEntry(port: number): string {
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: shop, namespace: default}
spec:
  hosts: [${SHOP}]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: ${port}, name: http, protocol: HTTP}]
  workloadSelector: {labels: {app: shop}}
`;
}

export interface EgressPort {
  readonly port: number;
  readonly protocol: string;
  readonly name: string;
  readonly host: string;
}

/** Sidecar for app=client: one egress listener per entry, bound on 127.0.0.1, no capture. */
export function clientSidecar(egress: readonly EgressPort[]): string {
  const listeners = egress
    .map(
      (e) => `  - port: {number: ${e.port}, protocol: ${e.protocol}, name: ${e.name}}
    bind: 127.0.0.1
    captureMode: NONE
    hosts: [./${e.host}]
`,
    )
    .join('');
  return `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: client, namespace: default}
spec:
  workloadSelector: {labels: {app: client}}
  egress:
${listeners}`;
}

/** The common case: the client calls shop over HTTP on `port`. */
export function clientSidecarForShop(port: number): string {
  return clientSidecar([{ port, protocol: 'HTTP', name: 'http-shop', host: SHOP }]);
}
