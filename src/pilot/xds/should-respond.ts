/**
 * Classifies one incoming request for one type: a new subscription (answer), an ACK (never
 * answer — answering an ACK makes the proxy ACK again, forever), a NACK (record, keep the last
 * good config, do not resend), a stale nonce (ignore), or a change of subscription (answer).
 * Pure apart from updating the WatchedResource it is given; unit-tested on its own.
 */
import type { DeltaDiscoveryRequest, DiscoveryRequest } from '../../lib/xds/discovery.ts';
import type { ResourceDelta } from '../model/push-request.ts';
import { newWatchedResource, type WatchedResource } from './connection.ts';

export const WILDCARD = '*';

export type RespondReason = 'initial' | 'reconnect' | 'subscription';

export type Decision =
  /** Send a response; `delta` says which names were added or dropped. */
  | { readonly action: 'respond'; readonly reason: RespondReason; readonly delta: ResourceDelta }
  /** The proxy accepted what we sent; nothing to send. */
  | { readonly action: 'ack' }
  /** The proxy rejected a response. `stale` when it rejected one older than the latest sent. */
  | { readonly action: 'nack'; readonly stale: boolean }
  /** The request answers a response that has since been superseded; ignore it. */
  | { readonly action: 'stale' }
  /** Delta: only unsubscribed; nothing to send. */
  | { readonly action: 'none' };

export interface ShouldRespondResult {
  readonly decision: Decision;
  /** The watch after the request (a new object for new subscriptions), or undefined. */
  readonly watched: WatchedResource | undefined;
}

const EMPTY: ReadonlySet<string> = new Set();

function recordNack(
  w: WatchedResource,
  nonce: string,
  versionInfo: string,
  code: number,
  message: string,
  now: number,
) {
  w.nackCount++;
  w.lastNack = {
    nonce,
    versionInfo,
    rejectedVersion: nonce === w.nonceSent ? w.versionSent : undefined,
    code,
    message,
    at: now,
  };
}

/**
 * State of the world. `wildcardCapable` is true for types where an empty first request means
 * "everything" (Listener, Cluster).
 */
export function shouldRespond(
  previous: WatchedResource | undefined,
  req: DiscoveryRequest,
  wildcardCapable: boolean,
  now = Date.now(),
): ShouldRespondResult {
  const nonce = req.response_nonce ?? '';
  const names = req.resource_names ?? [];

  if (req.error_detail) {
    if (!previous) return { decision: { action: 'nack', stale: true }, watched: undefined };
    const stale = nonce !== previous.nonceSent;
    recordNack(
      previous,
      nonce,
      req.version_info ?? '',
      req.error_detail.code ?? 0,
      req.error_detail.message ?? '',
      now,
    );
    return { decision: { action: 'nack', stale }, watched: previous };
  }

  // A first request, or a reconnect that carries a nonce from another server instance: always
  // answer with the full current state (Istio's AlwaysRespond).
  if (nonce === '' || !previous) {
    const w = newWatchedResource(req.type_url, false);
    applySotwNames(w, names, wildcardCapable, true);
    const reconnect = nonce !== '' || (req.version_info ?? '') !== '';
    return {
      decision: {
        action: 'respond',
        reason: reconnect ? 'reconnect' : 'initial',
        delta: { subscribed: w.resourceNames, unsubscribed: EMPTY },
      },
      watched: w,
    };
  }

  if (nonce !== previous.nonceSent) return { decision: { action: 'stale' }, watched: previous };

  previous.nonceAcked = nonce;
  previous.versionAcked = req.version_info ?? '';
  previous.ackedAt = now;

  const before = previous.resourceNames;
  const wasWildcard = previous.wildcard;
  applySotwNames(previous, names, wildcardCapable, false);
  const subscribed = new Set<string>();
  const unsubscribed = new Set<string>();
  if (previous.resourceNames !== before) {
    for (const n of previous.resourceNames) if (!before.has(n)) subscribed.add(n);
    for (const n of before) if (!previous.resourceNames.has(n)) unsubscribed.add(n);
  }
  if (subscribed.size === 0 && unsubscribed.size === 0 && wasWildcard === previous.wildcard) {
    return { decision: { action: 'ack' }, watched: previous };
  }
  return {
    decision: { action: 'respond', reason: 'subscription', delta: { subscribed, unsubscribed } },
    watched: previous,
  };
}

/**
 * SotW wildcard rules (xDS spec): `*` among the names subscribes to everything; an empty first
 * request on a wildcard-capable type is the legacy wildcard, which holds while later requests
 * stay empty; any explicit name list without `*` ends it.
 */
function applySotwNames(
  w: WatchedResource,
  names: readonly string[],
  wildcardCapable: boolean,
  first: boolean,
) {
  const explicit = new Set<string>();
  let star = false;
  for (const n of names) {
    if (n === WILDCARD) star = true;
    else explicit.add(n);
  }
  if (first) w.legacyWildcard = wildcardCapable && names.length === 0;
  else if (names.length > 0) w.legacyWildcard = false;
  w.wildcard = star || w.legacyWildcard;
  // An ACK repeats the names it already holds: keep the (shared) Set it has.
  if (first || !sameNames(w.resourceNames, explicit)) w.resourceNames = explicit;
}

function sameNames(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  if (a.size !== b.size) return false;
  for (const n of b) if (!a.has(n)) return false;
  return true;
}

/**
 * Delta xDS. Subscription changes travel without a nonce; ACKs and NACKs carry the nonce of
 * the response they answer. A first request may carry `initial_resource_versions` (the proxy
 * reconnecting with resources it already holds): only what differs is sent back.
 */
export function shouldRespondDelta(
  previous: WatchedResource | undefined,
  req: DeltaDiscoveryRequest,
  wildcardCapable: boolean,
  now = Date.now(),
): ShouldRespondResult {
  const nonce = req.response_nonce ?? '';
  const subscribe = req.resource_names_subscribe ?? [];
  const unsubscribe = req.resource_names_unsubscribe ?? [];

  if (req.error_detail) {
    if (!previous) return { decision: { action: 'nack', stale: true }, watched: undefined };
    const stale = nonce !== previous.nonceSent;
    recordNack(
      previous,
      nonce,
      previous.versionAcked ?? '',
      req.error_detail.code ?? 0,
      req.error_detail.message ?? '',
      now,
    );
    return { decision: { action: 'nack', stale }, watched: previous };
  }

  if (!previous) {
    const w = newWatchedResource(req.type_url, true);
    const names = new Set<string>();
    for (const n of subscribe) {
      if (n === WILDCARD) w.wildcard = true;
      else names.add(n);
    }
    w.resourceNames = names;
    if (subscribe.length === 0 && wildcardCapable) {
      w.wildcard = true;
      w.legacyWildcard = true;
    }
    for (const [name, version] of Object.entries(req.initial_resource_versions ?? {}))
      w.known!.set(name, version);
    for (const n of w.resourceNames) w.pendingMissing!.add(n);
    const reconnect = nonce !== '' || w.known!.size > 0;
    return {
      decision: {
        action: 'respond',
        reason: reconnect ? 'reconnect' : 'initial',
        delta: { subscribed: w.resourceNames, unsubscribed: EMPTY },
      },
      watched: w,
    };
  }

  let ackDecision: Decision | undefined;
  if (nonce !== '') {
    if (nonce === previous.nonceSent) {
      previous.nonceAcked = nonce;
      previous.versionAcked = previous.versionSent;
      previous.ackedAt = now;
      ackDecision = { action: 'ack' };
    } else {
      ackDecision = { action: 'stale' };
    }
  }

  const subscribed = new Set<string>();
  const unsubscribed = new Set<string>();
  let wildcardAdded = false;
  // Copy on write: the names may be a Set shared with other connections (shared-names.ts).
  let own: Set<string> | undefined;
  const names = () => own ?? previous.resourceNames;
  const writable = () => (own ??= new Set(previous.resourceNames));
  for (const n of unsubscribe) {
    if (n === WILDCARD) {
      previous.wildcard = false;
      previous.legacyWildcard = false;
      // The proxy drops what it held only through the wildcard.
      for (const name of previous.known!.keys()) if (!names().has(name)) previous.known!.delete(name);
    } else if (names().has(n)) {
      writable().delete(n);
      unsubscribed.add(n);
      previous.known!.delete(n);
      previous.pendingMissing!.delete(n);
    }
  }
  for (const n of subscribe) {
    if (n === WILDCARD) {
      if (!previous.wildcard) wildcardAdded = true;
      previous.wildcard = true;
    } else if (!names().has(n)) {
      writable().add(n);
      previous.pendingMissing!.add(n);
      subscribed.add(n);
    }
  }
  if (own) previous.resourceNames = own;
  if (subscribed.size > 0 || wildcardAdded) {
    return {
      decision: { action: 'respond', reason: 'subscription', delta: { subscribed, unsubscribed } },
      watched: previous,
    };
  }
  return { decision: ackDecision ?? { action: 'none' }, watched: previous };
}
