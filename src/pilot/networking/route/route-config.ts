/**
 * Sidecar and proxyless-gRPC RouteConfigurations by name (Istio's
 * buildSidecarOutboundHTTPRouteConfig and grpcgen's buildHTTPRoute):
 *
 *   `9080`                       the shared HTTP port: virtual hosts of every service on the
 *                                port, then `allow_any` / `block_all`
 *   `reviews.default.svc...:9080` a sniffed service's own listener: only its virtual host,
 *                                answering every domain
 *   `http_proxy`, `unix://…`     every port (domains with `:port` only off port 80)
 *   `outbound|9080||host`        proxyless gRPC: virtual hosts with ports, no catch-all
 *
 * The egress listener whose port is the route's (else the catch-all) decides which services
 * and VirtualServices take part, so Sidecar scoping reaches routes too.
 */
import type { Destination } from '../../../api/networking/shared.ts';
import type { Service } from '../../../registry/model.ts';
import { Protocol, parseProtocol } from '../../../registry/protocol.ts';
import { HTTP_PROXY_ROUTE_NAME, parseClusterName } from '../../model/naming.ts';
import { PASSTHROUGH_CLUSTER } from '../../model/well-known.ts';
import type { EgressListenerInput } from '../listener/context.ts';
import { MAX_DIRECT_RESPONSE_BODY_SIZE_BYTES } from './gateway-routes.ts';
import type { Proto } from './match.ts';
import { destinationCluster, type RouteBuildContext } from './route.ts';
import {
  buildCatchAllVirtualHost,
  buildSidecarOutboundVirtualHosts,
  type SidecarVirtualHostInputs,
  sortVirtualHosts,
  virtualHostsForSniffedServicePort,
} from './virtual-host.ts';

const UNIX_PREFIX = 'unix://';

export interface SidecarRouteInputs {
  readonly proxyDomain: string;
  readonly egressListeners: readonly EgressListenerInput[];
  readonly routeContext: Omit<RouteBuildContext, 'listenPort'>;
  readonly hashForServicePort: SidecarVirtualHostInputs['hashForServicePort'];
  readonly defaultRoute?: SidecarVirtualHostInputs['defaultRoute'];
  readonly outboundTrafficPolicy: {
    readonly mode: 'ALLOW_ANY' | 'REGISTRY_ONLY';
    readonly egressProxy?: Destination;
  };
}

/** An empty configuration: what Istio answers for a name it cannot build (Envoy must get one). */
export function emptyRouteConfiguration(name: string): Proto {
  return { name, virtual_hosts: [], validate_clusters: { value: false } };
}

interface ParsedRouteName {
  readonly port: number;
  readonly sniffed: boolean;
}

/** `9080` -> port; `host:9080` -> sniffed; `http_proxy` / `unix://…` -> port 0. */
function parseRouteName(name: string): ParsedRouteName | undefined {
  if (name === HTTP_PROXY_ROUTE_NAME || name.startsWith(UNIX_PREFIX)) return { port: 0, sniffed: false };
  const i = name.lastIndexOf(':');
  const portText = i >= 0 ? name.slice(i + 1) : name;
  if (!/^\d{1,5}$/.test(portText)) return undefined;
  return { port: Number(portText), sniffed: i >= 0 };
}

/** Istio's GetEgressListenerForRDS: the listener on that port (or socket), else the catch-all. */
function egressListenerFor(
  listeners: readonly EgressListenerInput[],
  name: string,
  port: number,
): EgressListenerInput | undefined {
  if (name.startsWith(UNIX_PREFIX)) return listeners.find((l) => l.listener?.bind === name);
  if (port !== 0) {
    const exact = listeners.find((l) => l.listener?.port?.number === port);
    if (exact) return exact;
  }
  return listeners.find((l) => !l.listener?.port) ?? undefined;
}

function buildVirtualHosts(
  inputs: SidecarRouteInputs,
  egress: EgressListenerInput,
  listenerPort: number,
  proxyless: boolean,
): Proto[] {
  return buildSidecarOutboundVirtualHosts({
    proxyDomain: inputs.proxyDomain,
    proxyless,
    listenerPort,
    services: egress.services,
    virtualServices: egress.virtualServices,
    routeContext: inputs.routeContext,
    defaultRetryPolicy: inputs.routeContext.defaultRetryPolicy,
    hashForServicePort: inputs.hashForServicePort,
    ...(inputs.defaultRoute ? { defaultRoute: inputs.defaultRoute } : {}),
  });
}

export function buildSidecarRouteConfiguration(name: string, inputs: SidecarRouteInputs): Proto {
  const parsed = parseRouteName(name);
  if (!parsed) return emptyRouteConfiguration(name);
  const egress = egressListenerFor(inputs.egressListeners, name, parsed.port);
  if (!egress) return emptyRouteConfiguration(name);
  let listenerPort = parsed.port;
  // Sidecar ports declared HTTP_PROXY take absolute URLs for any service and port.
  if (egress.listener?.port && parseProtocol(egress.listener.port.protocol) === Protocol.HTTP_PROXY)
    listenerPort = 0;

  let vhosts = buildVirtualHosts(inputs, egress, listenerPort, false);
  if (parsed.sniffed) vhosts = virtualHostsForSniffedServicePort(vhosts, name);
  vhosts = sortVirtualHosts(vhosts);
  if (!parsed.sniffed) {
    const policy = inputs.outboundTrafficPolicy;
    vhosts.push(
      buildCatchAllVirtualHost({
        allowAny: policy.mode === 'ALLOW_ANY',
        passthroughCluster: policy.egressProxy
          ? destinationCluster(policy.egressProxy, undefined, 0)
          : PASSTHROUGH_CLUSTER,
      }),
    );
  }
  return {
    name,
    virtual_hosts: vhosts,
    validate_clusters: { value: false },
    max_direct_response_body_size_bytes: { value: MAX_DIRECT_RESPONSE_BODY_SIZE_BYTES },
    ignore_port_in_host_matching: true,
  };
}

/** Proxyless gRPC: `outbound|PORT||HOST` -> the virtual hosts of the port, domains with ports. */
export function buildGrpcRouteConfiguration(name: string, inputs: SidecarRouteInputs): Proto | undefined {
  const key = parseClusterName(name);
  if (!key || key.hostname === '' || key.port === 0) return undefined;
  const egress = egressListenerFor(inputs.egressListeners, name, key.port);
  if (!egress) return undefined;
  const vhosts = sortVirtualHosts(buildVirtualHosts(inputs, egress, key.port, true));
  return { name, virtual_hosts: vhosts };
}

/** Route names of a proxyless client's services (for a wildcard subscription). */
export function grpcRouteNames(
  services: readonly Service[],
  routeName: (host: string, port: number) => string,
): string[] {
  return services.flatMap((s) => s.ports.map((p) => routeName(s.hostname, p.port)));
}
