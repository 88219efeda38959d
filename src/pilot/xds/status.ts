/**
 * Per proxy, per type sync status for `/debug/syncz` and `mizzenctl proxy-status`: what was
 * sent (version, nonce), what was ACKed, and the last NACK with its error detail. The states
 * are CSDS's: SYNCED, NOT_SENT, STALE (sent, not yet ACKed), ERROR (the latest was NACKed).
 */
import { shortTypeName } from '../../lib/xds/type-urls.ts';
import type { WatchedResource, XdsConnection } from './connection.ts';

export type SyncState = 'SYNCED' | 'NOT_SENT' | 'STALE' | 'ERROR';

export interface TypeSyncStatus {
  readonly typeUrl: string;
  readonly shortType: string;
  readonly state: SyncState;
  readonly wildcard: boolean;
  readonly resourceNames: readonly string[];
  readonly sentVersion?: string;
  readonly sentNonce?: string;
  readonly sentAt?: string;
  readonly resourcesSent?: number;
  readonly ackedVersion?: string;
  readonly ackedNonce?: string;
  readonly ackedAt?: string;
  readonly nackCount: number;
  readonly lastNack?: {
    readonly nonce: string;
    readonly versionInfo: string;
    readonly rejectedVersion?: string;
    readonly code: number;
    readonly message: string;
    readonly at: string;
  };
}

export interface ProxySyncStatus {
  readonly connectionId: string;
  readonly nodeId?: string;
  readonly proxyType?: string;
  readonly namespace?: string;
  readonly istioVersion?: string;
  readonly peer: string;
  readonly connectedAt: string;
  readonly delta: boolean;
  readonly types: readonly TypeSyncStatus[];
}

export function syncState(w: Readonly<WatchedResource>): SyncState {
  if (w.nonceSent === undefined) return 'NOT_SENT';
  if (w.nonceAcked === w.nonceSent) return 'SYNCED';
  if (w.lastNack && w.lastNack.nonce === w.nonceSent) return 'ERROR';
  return 'STALE';
}

const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

export function typeSyncStatus(w: Readonly<WatchedResource>): TypeSyncStatus {
  return {
    typeUrl: w.typeUrl,
    shortType: shortTypeName(w.typeUrl),
    state: syncState(w),
    wildcard: w.wildcard,
    resourceNames: [...w.resourceNames].sort(),
    sentVersion: w.versionSent,
    sentNonce: w.nonceSent,
    sentAt: iso(w.sentAt),
    resourcesSent: w.resourcesSent,
    ackedVersion: w.versionAcked,
    ackedNonce: w.nonceAcked,
    ackedAt: iso(w.ackedAt),
    nackCount: w.nackCount,
    lastNack: w.lastNack && { ...w.lastNack, at: iso(w.lastNack.at) as string },
  };
}

export function connectionSyncStatus(conn: XdsConnection): ProxySyncStatus {
  return {
    connectionId: conn.id,
    nodeId: conn.proxy?.nodeId,
    proxyType: conn.proxy?.type,
    namespace: conn.proxy?.namespace,
    istioVersion: conn.proxy?.metadata.istioVersion,
    peer: conn.peer,
    connectedAt: new Date(conn.connectedAt).toISOString(),
    delta: conn.delta,
    types: [...conn.watched.values()].map(typeSyncStatus).sort((a, b) => (a.typeUrl < b.typeUrl ? -1 : 1)),
  };
}
