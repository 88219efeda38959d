/**
 * Per-stream state of one ADS connection: the Proxy (from the first request), one
 * WatchedResource per type URL, and the outgoing side — which types still owe the proxy a
 * response, and whether the stream can take more bytes right now (gRPC backpressure). Kept
 * small on purpose: thousands of these live at once, and none owns a timer.
 */
import type { ServerDuplexStream } from '@grpc/grpc-js';
import type { DeltaDiscoveryRequest, DiscoveryRequest } from '../../lib/xds/discovery.ts';
import type { Proxy } from '../model/proxy.ts';
import type { PushRequest } from '../model/push-request.ts';
import type { WatchedResourceView } from './generator-registry.ts';
import { KnownResources } from './known-resources.ts';

export interface NackRecord {
  readonly nonce: string;
  /** The version the proxy still runs (SotW `version_info` of the NACK). */
  readonly versionInfo: string;
  /** The version it rejected, when the nonce is one we sent. */
  readonly rejectedVersion?: string;
  readonly code: number;
  readonly message: string;
  /** Date.now() */
  readonly at: number;
}

/** What the server knows about one type on one stream (Istio's WatchedResource). */
export interface WatchedResource extends WatchedResourceView {
  wildcard: boolean;
  /** SotW: the subscription began with an empty name list (the legacy wildcard form). */
  legacyWildcard: boolean;
  /**
   * Never mutated in place (copy on write, should-respond.ts): after a response it is the Set
   * shared by every connection with the same subscription (shared-names.ts), so 2,000 proxies
   * subscribed to the same ~2,200 EDS names hold one Set, not 2,000 Sets of decoded strings.
   */
  resourceNames: ReadonlySet<string>;
  nonceSent?: string;
  versionSent?: string;
  sentAt?: number;
  resourcesSent?: number;
  nonceAcked?: string;
  versionAcked?: string;
  ackedAt?: number;
  lastNack?: NackRecord;
  nackCount: number;
  /** Delta only: name -> version of every resource the proxy holds, as far as we know. */
  known?: KnownResources;
  /** Delta only: names subscribed since the last response; absent ones are reported removed. */
  pendingMissing?: Set<string>;
  /**
   * What generators are handed: the subscription with its names as a Set shared by every
   * connection subscribed to the same names (shared-names.ts), refreshed when it changes.
   */
  view?: WatchedResourceView;
  /**
   * Delta only: what `known` was last brought in line with — a generated list's content
   * signature, for the subscription it was filtered by. `exact` when nothing else is known in
   * scope (a full diff ran), so a later push generating the same content owes nothing.
   */
  synced?: {
    readonly signature: string;
    readonly names: ReadonlySet<string>;
    readonly wildcard: boolean;
    readonly exact: boolean;
  };
}

const NO_NAMES: ReadonlySet<string> = new Set();

export function newWatchedResource(typeUrl: string, delta: boolean): WatchedResource {
  const w: WatchedResource = {
    typeUrl,
    wildcard: false,
    legacyWildcard: false,
    resourceNames: NO_NAMES,
    nackCount: 0,
  };
  if (delta) {
    w.known = new KnownResources();
    w.pendingMissing = new Set();
  }
  return w;
}

/** A type that owes the proxy a response, with the merged reason(s) for it. */
export interface PendingSend<Push> {
  req: PushRequest<Push>;
  /** Answer even when nothing changed (a request is waiting for it). */
  mustSend: boolean;
  /** At least one push (not only a proxy request) is behind this send. */
  fromPush: boolean;
}

export type AdsCall =
  | ServerDuplexStream<DiscoveryRequest, Uint8Array>
  | ServerDuplexStream<DeltaDiscoveryRequest, Uint8Array>;

/** The read-only face of a connection that the rest of mizzend (debug, syncz) sees. */
export interface XdsConnection {
  readonly id: string;
  readonly peer: string;
  /** Date.now() when the stream opened. */
  readonly connectedAt: number;
  readonly delta: boolean;
  /** Undefined until the first request arrived. */
  readonly proxy: Proxy | undefined;
  readonly watched: ReadonlyMap<string, Readonly<WatchedResource>>;
}

export class Connection<Push = unknown> implements XdsConnection {
  /** `stream-N` until the node is known, then Istio's form `POD.NAMESPACE-N`. */
  id: string;
  readonly peer: string;
  readonly connectedAt = Date.now();
  readonly delta: boolean;
  readonly call: AdsCall;
  proxy: Proxy | undefined;
  readonly watched = new Map<string, WatchedResource>();
  /** Types that owe a response; flushed in push order while the stream is writable. */
  readonly pending = new Map<string, PendingSend<Push>>();
  /** False between a `write()` that returned false and the next 'drain'. */
  writable = true;
  closed = false;
  /** Earliest start of the pushes merged into what is pending (convergence time). */
  pushStart: number | undefined;
  /** Types requested that have no generator, warned about once. */
  unknownTypes: Set<string> | undefined;
  /** Responses handed to gRPC whose write has not completed yet, and their bytes. */
  inFlight = 0;
  inFlightBytes = 0;
  /** performance.now() when `inFlight` last went from 0 to 1. */
  inFlightSince = 0;
  /** Called once `inFlight` is back to 0 (or the connection closes). */
  onSettled: (() => void)[] | undefined;

  constructor(id: string, call: AdsCall, delta: boolean) {
    this.id = id;
    this.call = call;
    this.delta = delta;
    this.peer = call.getPeer();
  }

  /** Queues a response for `typeUrl`, merging with one already owed. */
  owe(
    typeUrl: string,
    send: PendingSend<Push>,
    merge: (a: PushRequest<Push>, b: PushRequest<Push>) => PushRequest<Push>,
  ) {
    const existing = this.pending.get(typeUrl);
    if (!existing) {
      this.pending.set(typeUrl, send);
      return;
    }
    existing.req = merge(existing.req, send.req);
    existing.mustSend ||= send.mustSend;
    existing.fromPush ||= send.fromPush;
  }
}
