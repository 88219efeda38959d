/**
 * PENDING MOVE to src/pilot/model/naming.ts (owned by the push-context engineer): Envoy names
 * the listener and route builders need that naming.ts does not define yet. Spelled as Istio
 * spells them; each is used from here only, so moving them is a change of import.
 */
import { buildSubsetKey, TrafficDirection } from '../../model/naming.ts';

/** Default filter chain of outbound listeners: unmatched traffic passes through (or is dropped). */
export const PASSTHROUGH_FILTER_CHAIN_NAME = 'PassthroughFilterChain';
/** virtualOutbound chain refusing connections addressed to 15001 itself (no loop). */
export const VIRTUAL_OUTBOUND_BLACKHOLE_FILTER_CHAIN_NAME = 'virtualOutbound-blackhole';
/** virtualOutbound chain for everything else (original destination not claimed by a listener). */
export const VIRTUAL_OUTBOUND_CATCH_ALL_TCP_FILTER_CHAIN_NAME = 'virtualOutbound-catchall-tcp';
/** virtualInbound chain refusing connections addressed to 15006 itself. */
export const VIRTUAL_INBOUND_BLACKHOLE_FILTER_CHAIN_NAME = 'virtualInbound-blackhole';
/** virtualInbound passthrough chain for plaintext HTTP to undeclared ports (TCP uses `virtualInbound`). */
export const VIRTUAL_INBOUND_CATCH_ALL_HTTP_FILTER_CHAIN_NAME = 'virtualInbound-catchall-http';

/** Virtual host of an inbound HTTP chain's inline route: `inbound|http|9080`. */
export function inboundVirtualHostName(port: number): string {
  return `${TrafficDirection.INBOUND}|http|${port}`;
}

/** Route configuration of a sniffed (protocol-detected) service with its own listener: `host:port`. */
export function sniffedServiceRouteName(hostname: string, port: number): string {
  return `${hostname}:${port}`;
}

/** Proxyless gRPC: the listener a client asks for by its target, `host:port`. */
export function grpcListenerName(host: string, port: number): string {
  return `${host}:${port}`;
}

/** Proxyless gRPC: the route configuration of a listener, named like the service port's cluster. */
export function grpcRouteName(hostname: string, port: number): string {
  return buildSubsetKey(TrafficDirection.OUTBOUND, '', hostname, port);
}

/** Gateway route configuration without virtual hosts gets this one (`blackhole:80`), 404 for all. */
export function gatewayBlackholeVirtualHostName(port: number): string {
  return `blackhole:${port}`;
}

/** Istio's stat prefix delimiter, so stat tag extraction can find where the prefix ends. */
export const STAT_PREFIX_DELIMITER = ';';

/** Route configuration of the HTTP proxy listener (MeshConfig.proxyHttpPort): every service, any port. */
export const HTTP_PROXY_ROUTE_NAME = 'http_proxy';
