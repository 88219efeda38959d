/**
 * What the listener builders read, as narrow inputs (CODE-STYLE §A: pass narrow interfaces):
 * the proxy, mesh config, its Sidecar scope's egress and ingress listeners, its own service
 * targets, and lookups into the push context's indexes. The LDS generator fills this from the
 * PushContext; unit tests fill it by hand.
 */
import type { MeshConfig } from '../../../api/mesh/mesh-config.ts';
import type { DestinationRule } from '../../../api/networking/destination-rule.ts';
import type { Destination } from '../../../api/networking/shared.ts';
import type { IstioEgressListener, IstioIngressListener } from '../../../api/networking/sidecar.ts';
import type { Service, ServiceTarget } from '../../../registry/model.ts';
import type { VirtualServiceConfig } from '../../model/indexes/virtual-service-index.ts';
import type { Proxy } from '../../model/proxy.ts';
import type { HttpFilter } from '../filters/router.ts';
import type { NetworkFilter } from '../filters/tcp-proxy.ts';

export type Proto = Record<string, unknown>;

/** One egress listener of the proxy's Sidecar scope (the default scope has one catch-all). */
export interface EgressListenerInput {
  /** The Sidecar's listener; undefined for the implicit catch-all of the default scope. */
  readonly listener?: IstioEgressListener;
  /** Services it imports, in a stable order (oldest first, as Istio resolves conflicts). */
  readonly services: readonly Service[];
  /** VirtualServices bound to `mesh` it imports. */
  readonly virtualServices: readonly VirtualServiceConfig[];
}

/** Istio mTLS mode of an inbound port, decided by PeerAuthentication (security work). */
export type InboundMtlsMode = 'DISABLE' | 'PERMISSIVE' | 'STRICT';

export interface InboundMtlsSettings {
  readonly mode: InboundMtlsMode;
  /** DownstreamTlsContext for TCP chains (Istio mTLS with the workload certificate). */
  readonly tcp?: Proto;
  /** DownstreamTlsContext for HTTP chains. */
  readonly http?: Proto;
}

/** Filters the security and telemetry work plug into every HCM and TCP chain of a class. */
export interface FilterPlugins {
  readonly httpPolicyFilters?: readonly HttpFilter[];
  readonly httpTelemetryFilters?: readonly HttpFilter[];
  /** Network filters before tcp_proxy on TCP chains (RBAC, stats). */
  readonly tcpFilters?: readonly NetworkFilter[];
  /** Network filters of the blackhole chains (stats only). */
  readonly tcpTelemetryFilters?: readonly NetworkFilter[];
}

export interface SidecarListenerContext {
  readonly proxy: Proxy;
  readonly mesh: MeshConfig;
  readonly egressListeners: readonly EgressListenerInput[];
  /** Sidecar ingress listeners; empty when the scope has none (service targets are used). */
  readonly ingressListeners: readonly IstioIngressListener[];
  /** `namespace/name` of the Sidecar resource in scope, if any (metadata and telemetry). */
  readonly sidecar?: { readonly name: string; readonly namespace: string; readonly version: string };
  readonly outboundTrafficPolicy: {
    readonly mode: 'ALLOW_ANY' | 'REGISTRY_ONLY';
    readonly egressProxy?: Destination;
  };
  readonly serviceTargets: readonly ServiceTarget[];
  /** The DestinationRule that applies from this proxy to `service`, merged (spec only). */
  readonly destinationRule: (service: Service) => DestinationRule | undefined;
  /** The service `hostname` names for this proxy (exportTo applied). */
  readonly serviceForHostname: (hostname: string) => Service | undefined;
  /**
   * Endpoint addresses of a headless service port (resolution NONE without VIP): Istio gives
   * each its own TCP listener. Undefined or empty falls back to a wildcard listener.
   */
  readonly endpointAddresses?: (service: Service, port: number) => readonly string[];
  /** mTLS of an inbound port; DISABLE until the security work plugs PeerAuthentication in. */
  readonly inboundMtls?: (port: number) => InboundMtlsSettings;
  readonly outboundPlugins?: FilterPlugins;
  readonly inboundPlugins?: FilterPlugins;
}
