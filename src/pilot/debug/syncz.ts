/**
 * `/debug/syncz`: one entry per connected proxy, in Istio's SyncStatus JSON (`proxy`,
 * `cluster_id`, `istio_version`, `cluster_sent`/`cluster_acked`, `listener_*`, `route_*`,
 * `endpoint_*` nonces, which `istioctl proxy-status` reads), plus per type the versions,
 * the CSDS-style state and the last NACK with its error detail.
 */
import {
  CLUSTER_TYPE_URL,
  ENDPOINT_TYPE_URL,
  LISTENER_TYPE_URL,
  ROUTE_TYPE_URL,
  SECRET_TYPE_URL,
} from '../../lib/xds/type-urls.ts';
import type { XdsConnection } from '../xds/connection.ts';
import { connectionSyncStatus, type TypeSyncStatus } from '../xds/status.ts';

/** Istio's field prefixes per type. */
const ISTIO_FIELDS: readonly [string, string][] = [
  [CLUSTER_TYPE_URL, 'cluster'],
  [LISTENER_TYPE_URL, 'listener'],
  [ROUTE_TYPE_URL, 'route'],
  [ENDPOINT_TYPE_URL, 'endpoint'],
  [SECRET_TYPE_URL, 'secret'],
];

export interface TypeSyncz {
  readonly type_url: string;
  readonly type: string;
  readonly state: string;
  readonly wildcard: boolean;
  readonly resource_names: readonly string[];
  readonly sent_version?: string;
  readonly sent_nonce?: string;
  readonly sent_at?: string;
  readonly resources_sent?: number;
  readonly acked_version?: string;
  readonly acked_nonce?: string;
  readonly acked_at?: string;
  readonly nack_count: number;
  readonly last_nack?: {
    readonly nonce: string;
    readonly version_info: string;
    readonly rejected_version?: string;
    readonly code: number;
    readonly message: string;
    readonly at: string;
  };
}

export interface ProxySyncz extends Record<string, unknown> {
  readonly proxy: string;
  readonly node_id: string;
  readonly cluster_id: string;
  readonly proxy_type: string;
  readonly istio_version: string;
  readonly connection_id: string;
  readonly peer: string;
  readonly connected_at: string;
  readonly delta: boolean;
  readonly types: readonly TypeSyncz[];
}

function typeSyncz(t: TypeSyncStatus): TypeSyncz {
  return {
    type_url: t.typeUrl,
    type: t.shortType,
    state: t.state,
    wildcard: t.wildcard,
    resource_names: t.resourceNames,
    sent_version: t.sentVersion,
    sent_nonce: t.sentNonce,
    sent_at: t.sentAt,
    resources_sent: t.resourcesSent,
    acked_version: t.ackedVersion,
    acked_nonce: t.ackedNonce,
    acked_at: t.ackedAt,
    nack_count: t.nackCount,
    last_nack: t.lastNack && {
      nonce: t.lastNack.nonce,
      version_info: t.lastNack.versionInfo,
      rejected_version: t.lastNack.rejectedVersion,
      code: t.lastNack.code,
      message: t.lastNack.message,
      at: t.lastNack.at,
    },
  };
}

export function syncz(connections: readonly XdsConnection[]): ProxySyncz[] {
  const out: ProxySyncz[] = [];
  for (const conn of connections) {
    const proxy = conn.proxy;
    if (!proxy) continue;
    const status = connectionSyncStatus(conn);
    const entry: Record<string, unknown> = {
      proxy: proxy.id,
      node_id: proxy.nodeId,
      cluster_id: proxy.clusterId ?? proxy.metadata.clusterId ?? '',
      proxy_type: proxy.type,
      istio_version: proxy.metadata.istioVersion ?? '',
      connection_id: conn.id,
      peer: conn.peer,
      connected_at: status.connectedAt,
      delta: conn.delta,
    };
    // Where the proxy's admin API is, when it says (mizzen-proxy announces it; Istio's
    // ProxyConfig gives only the port): `mizzenctl proxy-config` uses it.
    const adminAddress = proxy.metadata.raw.MIZZEN_ADMIN_ADDRESS;
    if (typeof adminAddress === 'string' && adminAddress !== '') entry.admin_address = adminAddress;
    const adminPort = proxy.metadata.proxyConfig?.proxyAdminPort;
    if (typeof adminPort === 'number' && Number.isInteger(adminPort) && adminPort > 0)
      entry.admin_port = adminPort;
    const byType = new Map(status.types.map((t) => [t.typeUrl, t]));
    for (const [typeUrl, prefix] of ISTIO_FIELDS) {
      const t = byType.get(typeUrl);
      if (!t) continue;
      entry[`${prefix}_sent`] = t.sentNonce ?? '';
      entry[`${prefix}_acked`] = t.ackedNonce ?? '';
    }
    entry.types = status.types.map(typeSyncz);
    out.push(entry as ProxySyncz);
  }
  return out.sort((a, b) =>
    a.proxy < b.proxy ? -1 : a.proxy > b.proxy ? 1 : a.connection_id < b.connection_id ? -1 : 1,
  );
}
