/**
 * THE one place for Envoy resource names (CODE-STYLE §B, house rule 6), spelled as Istio spells
 * them, each with its `parse*` inverse:
 *
 *   clusters        outbound|9080|v1|reviews.default.svc.cluster.local, inbound|9080||
 *   SNI / SDS keys  outbound_.9080_.v1_.reviews.default.svc.cluster.local
 *   listeners       virtualOutbound, virtualInbound, 0.0.0.0_9080, 10.0.0.1_9080
 *   routes          9080, 127.0.0.1:9080 (bound egress listener), http.80, https.443.<port>.<gw>.<ns>,
 *                   http_proxy, host:port (sniffed services, proxyless gRPC listeners)
 *   filter chains   PassthroughFilterChain, virtualOutbound-blackhole, …; inbound|http|9080
 */

export const TrafficDirection = { INBOUND: 'inbound', OUTBOUND: 'outbound' } as const;
export type TrafficDirection = (typeof TrafficDirection)[keyof typeof TrafficDirection];

export interface ClusterKey {
  readonly direction: TrafficDirection;
  readonly port: number;
  /** Empty for the whole service. */
  readonly subset: string;
  /** Empty for inbound clusters. */
  readonly hostname: string;
}

/** `outbound|9080|v1|reviews.default.svc.cluster.local` (Istio's BuildSubsetKey). */
export function buildSubsetKey(
  direction: TrafficDirection,
  subset: string,
  hostname: string,
  port: number,
): string {
  return `${direction}|${port}|${subset}|${hostname}`;
}

/** The outbound cluster of a service port, or of one of its subsets. */
export function outboundClusterName(port: number, hostname: string, subset = ''): string {
  return buildSubsetKey(TrafficDirection.OUTBOUND, subset, hostname, port);
}

/** `inbound|9080||`: the cluster a sidecar forwards inbound traffic of one port to. */
export function inboundClusterName(port: number): string {
  return buildSubsetKey(TrafficDirection.INBOUND, '', '', port);
}

/** Inverse of buildSubsetKey; undefined for names that are not subset keys (BlackHoleCluster...). */
export function parseClusterName(name: string): ClusterKey | undefined {
  const parts = name.split('|');
  if (parts.length !== 4) return undefined;
  const [direction, portText, subset, hostname] = parts;
  if (direction !== TrafficDirection.INBOUND && direction !== TrafficDirection.OUTBOUND) return undefined;
  if (!/^\d{1,5}$/.test(portText)) return undefined;
  const port = Number(portText);
  if (port > 65535) return undefined;
  return { direction, port, subset, hostname };
}

/**
 * `outbound_.9080_.v1_.reviews.default.svc.cluster.local` (Istio's BuildDNSSrvSubsetKey): the
 * SNI of in-mesh mTLS and the name an AUTO_PASSTHROUGH gateway routes on.
 */
export function buildDnsSrvSubsetKey(
  direction: TrafficDirection,
  subset: string,
  hostname: string,
  port: number,
): string {
  return `${direction}_.${port}_.${subset}_.${hostname}`;
}

/** Inverse of buildDnsSrvSubsetKey. */
export function parseDnsSrvSubsetKey(key: string): ClusterKey | undefined {
  const m = /^(inbound|outbound)_\.(\d{1,5})_\.([^_]*)_\.(.*)$/.exec(key);
  if (!m) return undefined;
  const port = Number(m[2]);
  if (port > 65535) return undefined;
  return { direction: m[1] as TrafficDirection, port, subset: m[3], hostname: m[4] };
}

export const VIRTUAL_OUTBOUND_LISTENER_NAME = 'virtualOutbound';
export const VIRTUAL_INBOUND_LISTENER_NAME = 'virtualInbound';
/** Bind of listeners that accept on every address. */
export const WILDCARD_ADDRESS = '0.0.0.0';
export const WILDCARD_IPV6_ADDRESS = '::';

/** `0.0.0.0_9080`, `10.0.0.1_9080`, `::_9080` (Istio: bind + "_" + port). */
export function listenerName(bind: string, port: number): string {
  return `${bind}_${port}`;
}

export function parseListenerName(name: string): { bind: string; port: number } | undefined {
  const i = name.lastIndexOf('_');
  if (i <= 0) return undefined;
  const portText = name.slice(i + 1);
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) return undefined;
  return { bind: name.slice(0, i), port: Number(portText) };
}

/**
 * Route configuration of a sidecar's outbound HTTP port: `9080`; a Sidecar egress listener
 * bound to a specific address gets `<bind>:9080`.
 */
export function sidecarRouteName(port: number, bind?: string): string {
  if (!bind || bind === WILDCARD_ADDRESS || bind === WILDCARD_IPV6_ADDRESS) return String(port);
  return `${bind}:${port}`;
}

/** Inverse of sidecarRouteName. */
export function parseSidecarRouteName(name: string): { port: number; bind?: string } | undefined {
  const i = name.lastIndexOf(':');
  const portText = i >= 0 ? name.slice(i + 1) : name;
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) return undefined;
  return i >= 0 ? { port: Number(portText), bind: name.slice(0, i) } : { port: Number(portText) };
}

/** Route configuration shared by a gateway's plain-HTTP servers on one port: `http.80` (`.bind`). */
export function gatewayHttpRouteName(port: number, bind?: string): string {
  return `http.${port}${bind ? `.${bind}` : ''}`;
}

/**
 * Route configuration of one terminated HTTPS server of a gateway:
 * `https.443.<port name>.<gateway name>.<gateway namespace>` (`.bind`).
 */
export function gatewayHttpsRouteName(
  port: number,
  portName: string,
  gatewayName: string,
  gatewayNamespace: string,
  bind?: string,
): string {
  return `https.${port}.${portName}.${gatewayName}.${gatewayNamespace}${bind ? `.${bind}` : ''}`;
}

export type GatewayRouteKey =
  | { readonly protocol: 'http'; readonly port: number; readonly bind?: string }
  | {
      readonly protocol: 'https';
      readonly port: number;
      readonly portName: string;
      readonly gatewayName: string;
      readonly gatewayNamespace: string;
      readonly bind?: string;
    };

/** Inverse of gatewayHttpRouteName / gatewayHttpsRouteName. */
export function parseGatewayRouteName(name: string): GatewayRouteKey | undefined {
  const parts = name.split('.');
  const port = Number(parts[1]);
  if (!/^\d{1,5}$/.test(parts[1] ?? '') || port > 65535) return undefined;
  if (parts[0] === 'http') {
    if (parts.length === 2) return { protocol: 'http', port };
    return { protocol: 'http', port, bind: parts.slice(2).join('.') };
  }
  // Port names, gateway names and namespaces contain no dots (Istio validates them so).
  if (parts[0] === 'https' && parts.length >= 5) {
    const bind = parts.length > 5 ? parts.slice(5).join('.') : undefined;
    return {
      protocol: 'https',
      port,
      portName: parts[2],
      gatewayName: parts[3],
      gatewayNamespace: parts[4],
      ...(bind ? { bind } : {}),
    };
  }
  return undefined;
}

// ---- filter chains, virtual hosts and proxyless names (used by LDS/RDS) ----

/** Default filter chain of outbound listeners: unmatched traffic passes through (or is dropped). */
export const PASSTHROUGH_FILTER_CHAIN_NAME = 'PassthroughFilterChain';
/** virtualOutbound chain refusing connections addressed to 15001 itself (no loop). */
export const VIRTUAL_OUTBOUND_BLACKHOLE_FILTER_CHAIN_NAME = 'virtualOutbound-blackhole';
/** virtualOutbound chain for everything else (original destination not claimed by a listener). */
export const VIRTUAL_OUTBOUND_CATCH_ALL_TCP_FILTER_CHAIN_NAME = 'virtualOutbound-catchall-tcp';
/** virtualInbound chain refusing connections addressed to 15006 itself. */
export const VIRTUAL_INBOUND_BLACKHOLE_FILTER_CHAIN_NAME = 'virtualInbound-blackhole';
/** virtualInbound passthrough chain for plaintext HTTP to undeclared ports. */
export const VIRTUAL_INBOUND_CATCH_ALL_HTTP_FILTER_CHAIN_NAME = 'virtualInbound-catchall-http';
/** Istio's stat prefix delimiter, so stat tag extraction can find where the prefix ends. */
export const STAT_PREFIX_DELIMITER = ';';

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

/** Inverse of grpcListenerName / sniffedServiceRouteName (`host:port`). */
export function parseHostPortName(name: string): { host: string; port: number } | undefined {
  const i = name.lastIndexOf(':');
  if (i <= 0) return undefined;
  const portText = name.slice(i + 1);
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) return undefined;
  return { host: name.slice(0, i), port: Number(portText) };
}

/** Proxyless gRPC: the route configuration of a listener, named like the service port's cluster. */
export function grpcRouteName(hostname: string, port: number): string {
  return buildSubsetKey(TrafficDirection.OUTBOUND, '', hostname, port);
}

/** Gateway route configuration without virtual hosts gets this one (`blackhole:80`), 404 for all. */
export function gatewayBlackholeVirtualHostName(port: number): string {
  return `blackhole:${port}`;
}

/** Route configuration of the HTTP proxy listener (MeshConfig.proxyHttpPort): every service, any port. */
export const HTTP_PROXY_ROUTE_NAME = 'http_proxy';

/** What a cluster stat name pattern (MeshConfig in/outboundClusterStatName) may refer to. */
export interface ClusterStatVars {
  /** `%SERVICE%`: `name.namespace` for Kubernetes-style services, the host otherwise. */
  readonly service: string;
  /** `%SERVICE_FQDN%` */
  readonly fqdn: string;
  /** `%SERVICE_PORT%` */
  readonly port: number;
  /** `%SERVICE_PORT_NAME%` */
  readonly portName: string;
  /** `%SUBSET_NAME%` (outbound) */
  readonly subset?: string;
  /** `%TARGET_PORT%` (inbound) */
  readonly targetPort?: number;
}

/** A cluster's `alt_stat_name` from a MeshConfig pattern (Istio's BuildStatPrefix). */
export function clusterStatName(pattern: string, v: ClusterStatVars): string {
  return pattern
    .replaceAll('%SERVICE_FQDN%', v.fqdn)
    .replaceAll('%SERVICE_PORT_NAME%', v.portName)
    .replaceAll('%SERVICE_PORT%', String(v.port))
    .replaceAll('%SUBSET_NAME%', v.subset ?? '')
    .replaceAll('%TARGET_PORT%', String(v.targetPort ?? ''))
    .replaceAll('%SERVICE%', v.service);
}
