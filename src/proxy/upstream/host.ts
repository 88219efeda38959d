/**
 * An upstream host (Envoy's Host): one address of a cluster, with its weight, health and
 * priority, the counters load balancers read (active requests), and its lazily created
 * connection pool. Hosts are reused across endpoint updates when their address is unchanged,
 * so their pools and warm connections survive an EDS push.
 */
import type { H1Pool } from './pool/h1.ts';
import type { H2Pool } from './pool/h2.ts';
import type { TransportSocketFactory } from './transport-socket.ts';

export const HEALTH_HEALTHY = 0;
export const HEALTH_DEGRADED = 1;
export const HEALTH_UNHEALTHY = 2;

/** The parts of a cluster a host and its pool need (kept narrow to avoid import cycles). */
export interface HostCluster {
  readonly name: string;
  /** Istio's service of the cluster from its metadata, when the name carries none (telemetry). */
  readonly istioServiceHost?: string | undefined;
}

export class Host {
  readonly cluster: HostCluster;
  /** IP address (or, before resolution, nothing). */
  address: string;
  port: number;
  /** DNS name or EDS hostname (for auto_host_rewrite and logs). */
  hostname: string;
  weight: number;
  health: number;
  priority: number;
  /** "region/zone/sub_zone". */
  locality: string;
  metadata: unknown;
  /** Metadata of the host's locality (transport_socket_matches fall back to it). */
  localityMetadata: unknown = undefined;
  /** upstream_bind_config.source_address: the local address of upstream sockets (port 0 = any). */
  bindAddress: { readonly address: string; readonly port: number } | undefined = undefined;
  /** The transport socket chosen for this host (transport_socket_matches, else the cluster's). */
  transport: TransportSocketFactory | undefined = undefined;
  /** Requests in flight on this host (least-request LB). */
  activeRequests = 0;
  connectionsActive = 0;
  requestsTotal = 0;
  /** Set once removed from its cluster: pools drain and no new requests are assigned. */
  removed = false;
  pool: H1Pool | undefined;
  h2Pool: H2Pool | undefined;
  /** auto_config clusters: what ALPN negotiated with this host (undefined = not known yet). */
  alpnH2: boolean | undefined = undefined;

  constructor(
    cluster: HostCluster,
    address: string,
    port: number,
    init: Partial<Pick<Host, 'hostname' | 'weight' | 'health' | 'priority' | 'locality' | 'metadata'>> = {},
  ) {
    this.cluster = cluster;
    this.address = address;
    this.port = port;
    this.hostname = init.hostname ?? '';
    this.weight = init.weight ?? 1;
    this.health = init.health ?? HEALTH_HEALTHY;
    this.priority = init.priority ?? 0;
    this.locality = init.locality ?? '';
    this.metadata = init.metadata;
  }

  get key(): string {
    return hostKey(this.address, this.port);
  }

  /** "ip:port" / "[v6]:port" for logs and %UPSTREAM_HOST%. */
  toString(): string {
    return this.key;
  }
}

export function hostKey(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}
