/**
 * What the proxy knows about each xDS resource, for the admin endpoint, CSDS and
 * `mizzenctl proxy-status`: REQUESTED (asked for, not yet seen), ACKED (in use, with its
 * version), NACKED (the latest version was rejected; the previous one, if any, keeps serving)
 * and DOES_NOT_EXIST (the control plane said it has no such resource). The state names are
 * CSDS's ClientResourceStatus values.
 */
import { shortTypeName } from '../../lib/xds/type-urls.ts';

export const ResourceState = {
  REQUESTED: 'REQUESTED',
  ACKED: 'ACKED',
  NACKED: 'NACKED',
  DOES_NOT_EXIST: 'DOES_NOT_EXIST',
} as const;
export type ResourceState = (typeof ResourceState)[keyof typeof ResourceState];

export interface ResourceError {
  /** Every reason, each naming the resource and the field. */
  readonly message: string;
  /** The version that was rejected. */
  readonly version: string;
  /** ISO time of the rejected update. */
  readonly at: string;
}

export interface ResourceStatus {
  readonly typeUrl: string;
  readonly name: string;
  readonly state: ResourceState;
  /** Version of the value in use (absent when none was ever accepted). */
  readonly version?: string;
  /** ISO time the value in use was accepted. */
  readonly lastUpdated?: string;
  /** Accepted but not serving yet: waiting for the resources it depends on. */
  readonly warming: boolean;
  /** The last rejection, kept until a later version is accepted. */
  readonly error?: ResourceError;
}

export interface NackInfo {
  readonly nonce: string;
  readonly version: string;
  readonly message: string;
  readonly at: string;
}

export interface TypeStatus {
  readonly typeUrl: string;
  readonly shortType: string;
  /** The client asks the control plane for this type. */
  readonly subscribed: boolean;
  readonly wildcard: boolean;
  /** Explicitly subscribed names (named types). */
  readonly resourceNames: readonly string[];
  /** Last accepted response version (SotW version_info / delta system_version_info). */
  readonly versionInfo: string;
  /** Last nonce received on the current stream. */
  readonly nonce: string;
  readonly lastAck?: { readonly version: string; readonly nonce: string; readonly at: string };
  readonly lastNack?: NackInfo;
  readonly resources: readonly ResourceStatus[];
}

export interface XdsClientStatus {
  readonly server: string;
  readonly mode: 'delta' | 'sotw';
  readonly nodeId: string;
  /** A stream is open and has received at least one response. */
  readonly connected: boolean;
  readonly connectedSince?: string;
  readonly disconnectedSince?: string;
  /** Failed connection attempts since the last response. */
  readonly reconnectAttempts: number;
  readonly nextRetryAt?: string;
  /** Initial warming finished (Envoy's init manager done): ready to serve. */
  readonly initialized: boolean;
  readonly types: readonly TypeStatus[];
}

interface Entry {
  state: ResourceState;
  version?: string;
  lastUpdated?: number;
  error?: { message: string; version: string; at: number };
}

const iso = (ms: number) => new Date(ms).toISOString();

/** Per type URL, per name: the mutable status the client keeps. */
export class ResourceStatusTable {
  readonly #byType = new Map<string, Map<string, Entry>>();

  #entries(typeUrl: string): Map<string, Entry> {
    let m = this.#byType.get(typeUrl);
    if (!m) this.#byType.set(typeUrl, (m = new Map()));
    return m;
  }

  get(typeUrl: string, name: string): ResourceState | undefined {
    return this.#byType.get(typeUrl)?.get(name)?.state;
  }

  names(typeUrl: string): string[] {
    return [...(this.#byType.get(typeUrl)?.keys() ?? [])];
  }

  /** A name was subscribed: REQUESTED unless something is already known about it. */
  requested(typeUrl: string, name: string): void {
    const m = this.#entries(typeUrl);
    if (!m.has(name)) m.set(name, { state: ResourceState.REQUESTED });
  }

  acked(typeUrl: string, name: string, version: string, now: number, changed: boolean): void {
    const m = this.#entries(typeUrl);
    const e = m.get(name);
    const lastUpdated = changed || e?.lastUpdated === undefined ? now : e.lastUpdated;
    m.set(name, { state: ResourceState.ACKED, version, lastUpdated });
  }

  /** The latest version was rejected; the version in use (if any) stays. */
  nacked(typeUrl: string, name: string, message: string, rejectedVersion: string, now: number): void {
    const m = this.#entries(typeUrl);
    const e = m.get(name);
    m.set(name, {
      state: ResourceState.NACKED,
      version: e?.version,
      lastUpdated: e?.lastUpdated,
      error: { message, version: rejectedVersion, at: now },
    });
  }

  doesNotExist(typeUrl: string, name: string): void {
    this.#entries(typeUrl).set(name, { state: ResourceState.DOES_NOT_EXIST });
  }

  forget(typeUrl: string, name: string): void {
    this.#byType.get(typeUrl)?.delete(name);
  }

  /** Sorted by name. `warming(name)` tells which accepted resources are not serving yet. */
  snapshot(typeUrl: string, warming: (name: string) => boolean): ResourceStatus[] {
    const m = this.#byType.get(typeUrl);
    if (!m) return [];
    return [...m.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([name, e]) => ({
        typeUrl,
        name,
        state: e.state,
        ...(e.version !== undefined ? { version: e.version } : {}),
        ...(e.lastUpdated !== undefined ? { lastUpdated: iso(e.lastUpdated) } : {}),
        warming: e.version !== undefined && warming(name),
        ...(e.error
          ? { error: { message: e.error.message, version: e.error.version, at: iso(e.error.at) } }
          : {}),
      }));
  }
}

/**
 * CSDS's `generic_xds_configs` entries (envoy.service.status.v3.ClientConfig.GenericXdsConfig,
 * snake_case, without the config itself): one per resource, for the admin endpoint and
 * `mizzenctl proxy-status`.
 */
export function genericXdsConfigs(status: XdsClientStatus): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const t of status.types) {
    for (const r of t.resources) {
      out.push({
        type_url: t.typeUrl,
        name: r.name,
        version_info: r.version ?? '',
        client_status: r.state,
        ...(r.lastUpdated ? { last_updated: r.lastUpdated } : {}),
        ...(r.error
          ? {
              error_state: {
                last_update_attempt: r.error.at,
                details: r.error.message,
                version_info: r.error.version,
              },
            }
          : {}),
      });
    }
  }
  return out;
}

/** One line per type, `CDS ACKED 12 NACKED 1 …`, for logs and the CLI's summary column. */
export function summarize(t: TypeStatus): string {
  const counts = new Map<string, number>();
  for (const r of t.resources) counts.set(r.state, (counts.get(r.state) ?? 0) + 1);
  const parts = [...counts.entries()].map(([s, n]) => `${s} ${n}`);
  return `${shortTypeName(t.typeUrl)} ${parts.join(' ') || 'none'}`;
}
