/**
 * PushRequest: why and what to push (Istio's model.PushRequest). Store and registry events are
 * turned into PushRequests at one spot, debounced by merging, given the PushContext they are to
 * be generated from, and handed to the ADS server.
 *
 * `full: false` is the incremental (EDS-only) path. An empty `configsUpdated` on a full push
 * means "anything may have changed" — every generator must regenerate.
 */
import type { ConfigKey } from '../../api/resource.ts';
import { formatConfigKey } from '../../api/resource.ts';

/** Why a push happened; counted per reason in pilot_push_triggers. Istio's names. */
export const TriggerReason = {
  ENDPOINT_UPDATE: 'endpoint',
  CONFIG_UPDATE: 'config',
  SERVICE_UPDATE: 'service',
  PROXY_UPDATE: 'proxy',
  GLOBAL_UPDATE: 'global',
  UNKNOWN: 'unknown',
  DEBUG: 'debug',
  SECRET: 'secret',
  NETWORKS: 'networks',
  PROXY_REQUEST: 'proxyrequest',
  NAMESPACE_UPDATE: 'namespace',
  CLUSTER_UPDATE: 'cluster',
} as const;
export type TriggerReason = (typeof TriggerReason)[keyof typeof TriggerReason];

/** Resources a request-driven push is about (Istio's ResourceDelta). */
export interface ResourceDelta {
  readonly subscribed: ReadonlySet<string>;
  readonly unsubscribed: ReadonlySet<string>;
}

export interface PushRequest<Push = undefined> {
  readonly full: boolean;
  /** Changed configs keyed by formatConfigKey (`Kind/namespace/name`). */
  readonly configsUpdated: ReadonlyMap<string, ConfigKey>;
  /** How many events of each reason were merged into this request. */
  readonly reason: ReadonlyMap<TriggerReason, number>;
  /** performance.now() of the earliest merged event: the start of convergence time. */
  readonly start: number;
  /** Push even to proxies that would otherwise be skipped. */
  readonly forced: boolean;
  /** Only for request-driven pushes: what the proxy just subscribed to or dropped. */
  readonly delta?: ResourceDelta;
  /** The snapshot to generate from; `undefined` until the push context is built. */
  readonly push: Push;
}

export interface PushRequestInit<Push = undefined> {
  full: boolean;
  configsUpdated?: Iterable<ConfigKey>;
  reason?: TriggerReason | Iterable<[TriggerReason, number]>;
  start?: number;
  forced?: boolean;
  delta?: ResourceDelta;
  push?: Push;
}

export function newPushRequest<Push = undefined>(init: PushRequestInit<Push>): PushRequest<Push> {
  const configsUpdated = new Map<string, ConfigKey>();
  for (const key of init.configsUpdated ?? []) configsUpdated.set(formatConfigKey(key), key);
  const reason = new Map<TriggerReason, number>();
  if (typeof init.reason === 'string') reason.set(init.reason, 1);
  else for (const [r, n] of init.reason ?? []) reason.set(r, (reason.get(r) ?? 0) + n);
  return {
    full: init.full,
    configsUpdated,
    reason,
    start: init.start ?? performance.now(),
    forced: init.forced ?? false,
    delta: init.delta,
    push: init.push as Push,
  };
}

/**
 * Merges two requests into one that covers both (Istio's PushRequest.Merge): full if either is;
 * changed configs united, except that a full request meaning "everything" (empty set) absorbs
 * the other; reasons summed; the earliest start; the later request's push context.
 */
export function mergePushRequests<Push>(a: PushRequest<Push>, b: PushRequest<Push>): PushRequest<Push> {
  const full = a.full || b.full;
  let configsUpdated: Map<string, ConfigKey>;
  if ((a.full && a.configsUpdated.size === 0) || (b.full && b.configsUpdated.size === 0)) {
    configsUpdated = new Map();
  } else {
    configsUpdated = new Map(a.configsUpdated);
    for (const [k, v] of b.configsUpdated) configsUpdated.set(k, v);
  }
  const reason = new Map(a.reason);
  for (const [r, n] of b.reason) reason.set(r, (reason.get(r) ?? 0) + n);
  return {
    full,
    configsUpdated,
    reason,
    start: Math.min(a.start, b.start),
    forced: a.forced || b.forced,
    delta: mergeDelta(a.delta, b.delta),
    push: b.push,
  };
}

function mergeDelta(a: ResourceDelta | undefined, b: ResourceDelta | undefined): ResourceDelta | undefined {
  if (!a) return b;
  if (!b) return a;
  return {
    subscribed: new Set([...a.subscribed, ...b.subscribed]),
    unsubscribed: new Set([...a.unsubscribed, ...b.unsubscribed]),
  };
}

/** The same request, now bound to the snapshot it will be generated from. */
export function withPushContext<Push>(req: PushRequest<unknown>, push: Push): PushRequest<Push> {
  return { ...req, push };
}

/** True when anything may have changed: a full push without a list of changed configs. */
export function isGlobalPush(req: PushRequest<unknown>): boolean {
  return req.full && req.configsUpdated.size === 0;
}

/** True when a config of one of `kinds` changed (or, for a global push, may have). */
export function configsOfKindsChanged(req: PushRequest<unknown>, kinds: ReadonlySet<string>): boolean {
  if (isGlobalPush(req)) return true;
  for (const key of req.configsUpdated.values()) if (kinds.has(key.kind)) return true;
  return false;
}

/** `config:3 endpoint:1` — for logs. */
export function formatReasons(req: PushRequest<unknown>): string {
  return [...req.reason].map(([r, n]) => `${r}:${n}`).join(' ');
}
