/**
 * LDS generators: every listener of a sidecar or gateway proxy (networking/listener), and the
 * `grpc` flavour for proxyless gRPC clients (API listeners named by their targets). The
 * push-context adapters here turn one PushContext into the narrow inputs the listener builders
 * take; they are the only place LDS reads the push context.
 */
import type { Destination } from '../../../api/networking/shared.ts';
import { LISTENER_TYPE_URL } from '../../../lib/xds/type-urls.ts';
import type { Service } from '../../../registry/model.ts';
import type { Proxy } from '../../model/proxy.ts';
import type { PushContext } from '../../model/push-context.ts';
import { configsOfKindsChanged, type PushRequest } from '../../model/push-request.ts';
import { isProxyless } from '../../networking/listener/common.ts';
import type { SidecarListenerContext } from '../../networking/listener/context.ts';
import { buildGatewayListeners } from '../../networking/listener/gateway.ts';
import { buildGrpcListeners } from '../../networking/listener/grpc.ts';
import { buildSidecarListeners } from '../../networking/listener/listener-builder.ts';
import {
  type Generator,
  type WatchedResourceView,
  type XdsResource,
  xdsResource,
} from '../generator-registry.ts';

type Proto = Record<string, unknown>;

/**
 * Whether a change of each config kind can change a proxy's listeners (house rule 3: every kind
 * of the kinds table is listed; a test enforces it). Istio skips Gateway changes for sidecars.
 */
export const LDS_KIND_EFFECTS: Readonly<Record<string, { sidecar: boolean; router: boolean }>> = {
  VirtualService: { sidecar: true, router: true }, // tcp[] / tls[] routes, sniffed ports
  DestinationRule: { sidecar: true, router: true }, // tcp idle timeout, source-IP hash, tunnel
  Gateway: { sidecar: false, router: true },
  ServiceEntry: { sidecar: true, router: true }, // also the key of every registry change
  WorkloadEntry: { sidecar: false, router: false }, // reaches pushes as ServiceEntry keys
  WorkloadGroup: { sidecar: false, router: false },
  Sidecar: { sidecar: true, router: true },
  PeerAuthentication: { sidecar: true, router: true }, // inbound mTLS chains
  AuthorizationPolicy: { sidecar: true, router: true }, // RBAC filters
  RequestAuthentication: { sidecar: true, router: true }, // jwt_authn filters
  Telemetry: { sidecar: true, router: true }, // access logs, stats filters
};

const kindsFor = (type: 'sidecar' | 'router') =>
  new Set(
    Object.entries(LDS_KIND_EFFECTS)
      .filter(([, v]) => v[type])
      .map(([k]) => k),
  );
const SIDECAR_KINDS = kindsFor('sidecar');
const ROUTER_KINDS = kindsFor('router');

/** The proxy's view of a host: its Sidecar scope first, else any service visible to it. */
function serviceLookup(push: PushContext, proxy: Proxy): (hostname: string) => Service | undefined {
  const scope = push.sidecarScope(proxy);
  return (h) => scope.serviceForHostname(h) ?? push.serviceForHostname(h, proxy.namespace);
}

export function sidecarListenerContext(push: PushContext, proxy: Proxy): SidecarListenerContext {
  const scope = push.sidecarScope(proxy);
  const sidecar = scope.sidecar;
  const policy = scope.outboundTrafficPolicy;
  return {
    proxy,
    mesh: push.mesh,
    egressListeners: scope.egressListeners,
    ingressListeners: scope.ingressListeners,
    ...(sidecar
      ? { sidecar: { name: sidecar.meta.name, namespace: sidecar.meta.namespace, version: sidecar.version } }
      : {}),
    outboundTrafficPolicy: {
      mode: policy.mode,
      ...(policy.egressProxy ? { egressProxy: policy.egressProxy as Destination } : {}),
    },
    serviceTargets: push.serviceTargets(proxy),
    destinationRule: (service) => push.destinationRule(proxy, service)?.rule,
    serviceForHostname: serviceLookup(push, proxy),
    endpointAddresses: (service, port) => {
      const sp = service.ports.find((p) => p.port === port);
      if (!sp) return [];
      const addresses = push.endpointIndex
        .endpoints(service.hostname, service.namespace)
        .filter((e) => e.servicePortName === sp.name)
        .map((e) => e.address);
      return [...new Set(addresses)].sort();
    },
  };
}

/** Every listener of the proxy, unpacked (snake_case objects), for RDS name discovery and debug. */
export function buildListenersFor(push: PushContext, proxy: Proxy, names?: ReadonlySet<string>): Proto[] {
  if (isProxyless(proxy)) return buildGrpcListeners(proxy, push.services(proxy), names);
  if (proxy.type === 'router') {
    const merged = push.gatewaysForProxy(proxy);
    if (!merged) return [];
    return buildGatewayListeners({
      proxy,
      mesh: push.mesh,
      merged,
      virtualServicesForGateway: (gw) => push.virtualServicesForGateway(proxy, gw),
      services: push.services(proxy),
      serviceForHostname: serviceLookup(push, proxy),
      destinationRule: (service) => push.destinationRule(proxy, service)?.rule,
    });
  }
  return buildSidecarListeners(sidecarListenerContext(push, proxy));
}

function pack(listeners: readonly Proto[]): XdsResource[] {
  return listeners.map((l) => xdsResource(LISTENER_TYPE_URL, l.name as string, l));
}

function needsPush(proxy: Proxy, req: PushRequest<PushContext>): boolean {
  if (!req.full) return false;
  return configsOfKindsChanged(req, proxy.type === 'router' ? ROUTER_KINDS : SIDECAR_KINDS);
}

export const ldsGenerator: Generator<PushContext> = {
  typeUrl: LISTENER_TYPE_URL,
  needsPush,
  generate(
    proxy: Proxy,
    _watched: WatchedResourceView,
    req: PushRequest<PushContext>,
  ): readonly XdsResource[] {
    return pack(buildListenersFor(req.push, proxy));
  },
};

/** Proxyless gRPC: API listeners for the names the client watches (`host:port`). */
export const grpcLdsGenerator: Generator<PushContext> = {
  typeUrl: LISTENER_TYPE_URL,
  needsPush,
  generate(
    proxy: Proxy,
    watched: WatchedResourceView,
    req: PushRequest<PushContext>,
  ): readonly XdsResource[] {
    const names = watched.wildcard ? undefined : watched.resourceNames;
    return pack(buildGrpcListeners(proxy, req.push.services(proxy), names));
  },
};
