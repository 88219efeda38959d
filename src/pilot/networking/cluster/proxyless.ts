/**
 * Proxyless gRPC clients: xDS clients built into gRPC libraries (grpc-js-xds), announced by
 * node metadata `GENERATOR: grpc` as Istio's gRPC bootstrap sets it. They support a subset of
 * Envoy's config (ROUND_ROBIN and RING_HASH, EDS and LOGICAL_DNS clusters, IP endpoints only),
 * so translation adapts to them.
 */
import type { Proxy } from '../../model/proxy.ts';

/** The generator flavour of proxyless gRPC clients (node metadata GENERATOR). */
export const GRPC_FLAVOUR = 'grpc';

export function isProxyless(proxy: Proxy): boolean {
  return proxy.metadata.generator === GRPC_FLAVOUR;
}
