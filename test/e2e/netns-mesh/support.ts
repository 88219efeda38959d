/** Shared by the namespace e2e tests: the routing config they serve. */

/** DestinationRule subsets v1/v2 for `web`, and its VirtualService: x-user: tester → v2, else by weight. */
export function webRouting(namespace: string, v1: number, v2: number): string {
  const split = [
    ['v1', v1],
    ['v2', v2],
  ].filter(([, w]) => Number(w) > 0);
  const route =
    split.length === 1
      ? `[{destination: {host: web, subset: ${split[0][0]}}}]`
      : `[${split.map(([s, w]) => `{destination: {host: web, subset: ${s}}, weight: ${w}}`).join(', ')}]`;
  return `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: web, namespace: ${namespace}}
spec:
  host: web
  subsets:
    - {name: v1, labels: {version: v1}}
    - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: ${namespace}}
spec:
  hosts: [web]
  http:
    - match: [{headers: {x-user: {exact: tester}}}]
      route: [{destination: {host: web, subset: v2}}]
    - route: ${route}
`;
}
