/**
 * mizzend's ADS server: envoy.service.discovery.v3.AggregatedDiscoveryService over gRPC, both
 * state of the world (StreamAggregatedResources) and delta (DeltaAggregatedResources), for any
 * type URL that has a registered Generator.
 *
 * Rules it keeps (xDS protocol, Istio's behaviour):
 * - the node arrives in the first request only; it becomes the connection's Proxy;
 * - every request names its type_url (ADS multiplexes types), else INVALID_ARGUMENT;
 * - versions bump on every push; every response has a fresh nonce;
 * - an ACK is never answered; a NACK is logged, counted and kept for syncz, and nothing is
 *   resent until the next push (the proxy keeps its last good config); stale nonces are ignored;
 * - pushes go through a bounded queue, merged per connection, in batches that yield to the
 *   event loop, so ACKs are read during a storm; incremental (endpoint) pushes have their own
 *   queue, ahead of full-push work; a stream that stops draining is not written
 *   to until 'drain' — what it is owed is regenerated fresh when it drains.
 */

import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import { errorMessage, MizzenError } from '../../lib/errors.ts';
import { logger } from '../../lib/log.ts';
import { defaultRegistry, type MetricsRegistry } from '../../lib/metrics.ts';
import {
  adsServiceDefinition,
  type DeltaDiscoveryRequest,
  type DeltaResource,
  type DiscoveryRequest,
  encodeDeltaDiscoveryResponse,
  encodeDiscoveryResponse,
} from '../../lib/xds/discovery.ts';
import {
  CLUSTER_TYPE_URL,
  ENDPOINT_TYPE_URL,
  LISTENER_TYPE_URL,
  metricTypeLabel,
  ROUTE_TYPE_URL,
  SECRET_TYPE_URL,
  shortTypeName,
  WILDCARD_TYPE_URLS,
} from '../../lib/xds/type-urls.ts';
import { type Proxy, proxyFromNode } from '../model/proxy.ts';
import { mergePushRequests, newPushRequest, type PushRequest, TriggerReason } from '../model/push-request.ts';
import {
  type AdsCall,
  Connection,
  type NackRecord,
  type PendingSend,
  type WatchedResource,
  type XdsConnection,
} from './connection.ts';
import { type FramedMessage, frameMessage, installFramedWrites, writable } from './framed-write.ts';
import type { GeneratorRegistry, WatchedResourceView, XdsResource } from './generator-registry.ts';
import {
  baseIndexOf,
  diffLists,
  EMPTY_INDEX,
  type KnownResources,
  type ListDiff,
} from './known-resources.ts';
import { PushQueue } from './push-queue.ts';
import { listSignature, resourceVersion } from './resource-version.ts';
import { SharedNameSets } from './shared-names.ts';
import { type Decision, shouldRespond, shouldRespondDelta } from './should-respond.ts';
import { connectionSyncStatus, type ProxySyncStatus } from './status.ts';
import { type XdsMetrics, xdsMetrics } from './xds-metrics.ts';

const log = logger('pilot:ads');

/**
 * Types whose every SotW response must hold the complete set (xDS spec: Listener and Cluster);
 * responses of the other types may carry only some of the subscribed resources.
 */
const ALL_RESOURCES_REQUIRED_IN_SOTW: ReadonlySet<string> = new Set([LISTENER_TYPE_URL, CLUSTER_TYPE_URL]);

/** True when a delta request subscribes or unsubscribes anything. */
function changesNames(req: DiscoveryRequest | DeltaDiscoveryRequest): boolean {
  const d = req as DeltaDiscoveryRequest;
  return (d.resource_names_subscribe?.length ?? 0) > 0 || (d.resource_names_unsubscribe?.length ?? 0) > 0;
}

/** True when every name is a key of `map`. */
function allIn(names: ReadonlySet<string>, map: ReadonlyMap<string, unknown>): boolean {
  for (const n of names) if (!map.has(n)) return false;
  return true;
}

/** True when every resource is one the proxy subscribed to (then the list is sent as is). */
function allSubscribed(resources: readonly XdsResource[], names: ReadonlySet<string>): boolean {
  for (const r of resources) if (!names.has(r.name)) return false;
  return true;
}

/**
 * Make-before-break: clusters (and their endpoints) before the listeners and routes that point
 * at them. Other types follow in subscription order.
 */
export const DEFAULT_PUSH_ORDER: readonly string[] = [
  CLUSTER_TYPE_URL,
  ENDPOINT_TYPE_URL,
  LISTENER_TYPE_URL,
  ROUTE_TYPE_URL,
  SECRET_TYPE_URL,
];

export interface KeepaliveOptions {
  /** Server pings an idle connection this often (Istio: 30 s). */
  readonly timeMs?: number;
  /** …and drops it when the ping is not answered in time (Istio: 10 s). */
  readonly timeoutMs?: number;
  /** Connections are closed after this age so proxies rebalance across replicas (Istio: 30 min). */
  readonly maxConnectionAgeMs?: number;
  /** Time given to streams after max age before the connection is cut (Istio: 10 s). */
  readonly maxConnectionAgeGraceMs?: number;
}

export interface AdsServerOptions<Push> {
  readonly generators: GeneratorRegistry<Push>;
  /** The current push context, used to answer requests that arrive between pushes. */
  readonly pushContext: () => Push;
  /** Where metrics go (default: the process registry behind /metrics). */
  readonly metrics?: MetricsRegistry;
  /**
   * Connections whose responses are being written at once (Istio's PILOT_PUSH_THROTTLE: 100).
   * Work per event-loop turn is bounded by time instead (PUSH_SLICE_MS).
   */
  readonly pushConcurrency?: number;
  readonly pushOrder?: readonly string[];
  readonly keepalive?: KeepaliveOptions;
  /** Largest request accepted (default 4 MiB). */
  readonly maxReceiveMessageBytes?: number;
  /** Streams per HTTP/2 connection (default 100,000, as Istio). */
  readonly maxConcurrentStreams?: number;
  /** control_plane.identifier of every response. */
  readonly controlPlaneId?: string;
  /** Proxy-level filter before any generator is asked (e.g. Sidecar scoping). */
  readonly proxyNeedsPush?: (proxy: Proxy, req: PushRequest<Push>) => boolean;
  /**
   * How long a push (or an answer to a request) keeps its concurrency slot waiting for the
   * proxy to take its responses (default 5 s). Holding the slot bounds what is encoded and
   * buffered at once to about `pushConcurrency` proxies' worth; after this time the queue
   * moves on and the responses still go out.
   */
  readonly sendTimeoutMs?: number;
  /**
   * Budget of response bytes handed to gRPC and not yet written, over all connections (default
   * 64 MiB): no new proxy is started while it is spent. It bounds memory however many proxies
   * a push reaches, while letting many small responses (EDS) go out at once.
   */
  readonly maxInFlightBytes?: number;
}

/** A queue turn ends after this much synchronous work, so ACKs and pings are read during storms. */
const PUSH_SLICE_MS = 10;
/**
 * A worker keeps its slot while its connection has more than this on its way (or still owes
 * responses); below it the slot is freed at once: small responses cost little memory, and
 * waiting for their write callbacks would serialize thousands of EDS pushes.
 */
const HOLD_SLOT_BYTES = 64 * 1024;

/**
 * Encoded responses kept for reuse by other streams of the same push: a few per proxy class
 * and type. A bound, because each may be megabytes; proxies are pushed in connection order,
 * so classes interleave and a handful would thrash.
 */
const SHARED_RESPONSES = 32;

export interface ResponseInfo {
  readonly typeUrl: string;
  readonly version: string;
  readonly nonce: string;
  readonly resources: number;
  readonly removed: number;
  readonly bytes: number;
  /** True when a push (not only a request) caused it. */
  readonly push: boolean;
}

export interface AdsServerEvents {
  connect: [conn: XdsConnection];
  disconnect: [conn: XdsConnection];
  response: [conn: XdsConnection, info: ResponseInfo];
  ack: [conn: XdsConnection, typeUrl: string, nonce: string];
  nack: [conn: XdsConnection, typeUrl: string, nack: NackRecord | undefined];
  stale: [conn: XdsConnection, typeUrl: string, nonce: string];
  push: [req: PushRequest<unknown>, version: string];
}

interface StatusError {
  code: grpc.status;
  details: string;
}

const GRPC_DEFAULTS: Required<KeepaliveOptions> = {
  timeMs: 30_000,
  timeoutMs: 10_000,
  maxConnectionAgeMs: 30 * 60_000,
  maxConnectionAgeGraceMs: 10_000,
};

export class AdsServer<Push = unknown> extends EventEmitter<AdsServerEvents> {
  readonly #options: AdsServerOptions<Push>;
  readonly #server: grpc.Server;
  readonly #metrics: XdsMetrics;
  readonly #queue: PushQueue<Connection<Push>, PushRequest<Push>>;
  /**
   * Incremental pushes naming what changed (an endpoint change: one service's EDS): small
   * responses that must not wait behind a full push's queue or its byte budget (see push()).
   */
  readonly #incremental: PushQueue<Connection<Push>, PushRequest<Push>>;
  /** Answers to requests, bounded like pushes (thousands of proxies connecting at once). */
  readonly #requests: PushQueue<Connection<Push>, true>;
  readonly #sendTimeoutMs: number;
  readonly #maxInFlightBytes: number;
  #inFlightBytes = 0;
  /** performance.now() of the last completed write (progress against the byte budget). */
  #lastWriteDone = 0;
  /** performance.now() when bytes in flight last reached the budget. */
  #spentAt = 0;
  #budgetTimer: NodeJS.Timeout | undefined;
  readonly #connections = new Set<Connection<Push>>();
  readonly #pushOrder: readonly string[];
  readonly #controlPlane: { identifier: string } | undefined;
  readonly #noncePrefix = randomBytes(4).toString('hex');
  readonly #sharedNames = new SharedNameSets();
  /** Recently encoded responses by shared list or diff (see #encodeShared), oldest first. */
  readonly #sharedResponses = new Map<object, { version: string; nonce: string; bytes: FramedMessage }>();
  /** Lists found to hold only subscribed names, with the shared name Set they were checked against. */
  readonly #checked = new WeakMap<readonly XdsResource[], ReadonlySet<string>>();
  #nonceCounter = 0;
  #versionCounter = 0;
  #connectionCounter = 0;
  #version: string;
  #port: number | undefined;
  #closing: Promise<void> | undefined;

  constructor(options: AdsServerOptions<Push>) {
    super();
    if (!options?.generators)
      throw new TypeError('AdsServer: options.generators (a GeneratorRegistry) is required');
    if (typeof options.pushContext !== 'function') {
      throw new TypeError(
        'AdsServer: options.pushContext must be a function returning the current push context',
      );
    }
    const concurrency = options.pushConcurrency ?? 100;
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new RangeError(
        `AdsServer: options.pushConcurrency must be a positive integer, got ${concurrency}`,
      );
    }
    this.#options = options;
    this.#metrics = xdsMetrics(options.metrics ?? defaultRegistry);
    this.#pushOrder = options.pushOrder ?? DEFAULT_PUSH_ORDER;
    this.#controlPlane = options.controlPlaneId ? { identifier: options.controlPlaneId } : undefined;
    this.#version = this.#nextVersion();
    const maxInFlightBytes = options.maxInFlightBytes ?? 64 * 1024 * 1024;
    if (!Number.isInteger(maxInFlightBytes) || maxInFlightBytes <= 0) {
      throw new RangeError(
        `AdsServer: options.maxInFlightBytes must be a positive integer, got ${maxInFlightBytes}`,
      );
    }
    this.#maxInFlightBytes = maxInFlightBytes;
    const admit = () => this.#admit();
    this.#queue = new PushQueue({
      concurrency,
      maxPerTurn: Number.POSITIVE_INFINITY,
      sliceMs: PUSH_SLICE_MS,
      admit,
      merge: mergePushRequests,
      process: (conn, req) => this.#processPush(conn, req),
    });
    this.#incremental = new PushQueue({
      // Unbounded slots and no byte budget: each item is a few small responses, sent without
      // holding its slot (no waiting for write callbacks); turns are still time-sliced.
      concurrency: Number.MAX_SAFE_INTEGER,
      maxPerTurn: Number.POSITIVE_INFINITY,
      sliceMs: PUSH_SLICE_MS,
      merge: mergePushRequests,
      process: (conn, req) => {
        this.#processPush(conn, req, false);
      },
    });
    this.#requests = new PushQueue<Connection<Push>, true>({
      concurrency,
      maxPerTurn: Number.POSITIVE_INFINITY,
      sliceMs: PUSH_SLICE_MS,
      admit,
      merge: (a) => a,
      process: (conn) => this.#flushHolding(conn),
    });
    const sendTimeoutMs = options.sendTimeoutMs ?? 5_000;
    if (!Number.isInteger(sendTimeoutMs) || sendTimeoutMs <= 0) {
      throw new RangeError(
        `AdsServer: options.sendTimeoutMs must be a positive number of milliseconds, got ${sendTimeoutMs}`,
      );
    }
    this.#sendTimeoutMs = sendTimeoutMs;
    const ka: Record<keyof KeepaliveOptions, number> = { ...GRPC_DEFAULTS };
    for (const [key, value] of Object.entries(options.keepalive ?? {}) as [
      keyof KeepaliveOptions,
      number,
    ][]) {
      if (value === undefined) continue;
      if (!Number.isInteger(value) || value <= 0) {
        throw new RangeError(
          `AdsServer: options.keepalive.${key} must be a positive number of milliseconds, got ${value}`,
        );
      }
      ka[key] = value;
    }
    const maxReceive = options.maxReceiveMessageBytes ?? 4 * 1024 * 1024;
    if (!Number.isInteger(maxReceive) || maxReceive <= 0) {
      throw new RangeError(
        `AdsServer: options.maxReceiveMessageBytes must be a positive integer, got ${maxReceive}`,
      );
    }
    this.#server = new grpc.Server({
      'grpc.keepalive_time_ms': ka.timeMs,
      'grpc.keepalive_timeout_ms': ka.timeoutMs,
      'grpc.max_connection_age_ms': ka.maxConnectionAgeMs,
      'grpc.max_connection_age_grace_ms': ka.maxConnectionAgeGraceMs,
      'grpc.max_receive_message_length': maxReceive,
      'grpc.max_send_message_length': -1,
      'grpc.max_concurrent_streams': options.maxConcurrentStreams ?? 100_000,
    });
    installFramedWrites();
    this.#server.addService(adsServiceDefinition(), {
      StreamAggregatedResources: (call: AdsCall) => this.#onStream(call, false),
      DeltaAggregatedResources: (call: AdsCall) => this.#onStream(call, true),
    });
  }

  /** Binds and serves; resolves to the bound port (useful with port 0). */
  async listen(port = 15010, host = '0.0.0.0'): Promise<number> {
    if (this.#closing) throw new Error('AdsServer: listen() after close()');
    const address = host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
    const bound = await new Promise<number>((resolve, reject) => {
      this.#server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, p) =>
        err
          ? reject(new Error(`AdsServer: cannot listen on ${address}: ${err.message}`, { cause: err }))
          : resolve(p),
      );
    });
    this.#port = bound;
    log.info('ADS server listening', { address: host, port: bound });
    return bound;
  }

  get port(): number | undefined {
    return this.#port;
  }

  /** The version the next response carries (bumped by every push). */
  get version(): string {
    return this.#version;
  }

  /** Connections whose first request has arrived. */
  connections(): XdsConnection[] {
    return [...this.#connections].filter((c) => c.proxy !== undefined);
  }

  /** syncz: per proxy, per type, what was sent, ACKed and NACKed. */
  syncStatus(): ProxySyncStatus[] {
    return this.connections().map(connectionSyncStatus);
  }

  /**
   * Pushes `req` to every connection: each generator whose needsPush says so regenerates for
   * each proxy, in the push order. Returns at once; the work runs on the push queue.
   */
  push(req: PushRequest<Push>): void {
    if (this.#closing) return;
    this.#version = this.#nextVersion();
    for (const [reason, n] of req.reason) this.#metrics.pushTriggers.labels(reason).inc(n);
    this.emit('push', req, this.#version);
    // An incremental push that names its changes goes first, on its own queue, however much
    // full-push work is queued or in flight. A connection still waiting in the full-push
    // queue also gets it merged there, so that push runs with the newer push context.
    const fast = !req.full && req.configsUpdated.size > 0;
    for (const conn of this.#connections) {
      if (!conn.proxy) continue;
      if (!fast) this.#queue.enqueue(conn, req);
      else {
        this.#queue.mergeIfWaiting(conn, req);
        this.#incremental.enqueue(conn, req);
      }
    }
  }

  /** Resolves when the push queue has nothing waiting or running (tests, benchmarks). */
  pushQueueIdle(): Promise<void> {
    return Promise.all([this.#queue.idle(), this.#incremental.idle(), this.#requests.idle()]).then(
      () => undefined,
    );
  }

  /** Bytes of responses handed to gRPC and not yet written out (all connections). */
  get inFlightBytes(): number {
    return this.#inFlightBytes;
  }

  /**
   * Stops accepting streams, ends the open ones with UNAVAILABLE (proxies reconnect elsewhere),
   * waits up to `graceMs` for the transport to wind down, then cuts what is left.
   */
  close(options: { graceMs?: number } = {}): Promise<void> {
    if (this.#closing) return this.#closing;
    const graceMs = options.graceMs ?? 5_000;
    clearTimeout(this.#budgetTimer);
    this.#queue.close();
    this.#incremental.close();
    this.#requests.close();
    for (const conn of [...this.#connections]) {
      this.#fail(conn, { code: grpc.status.UNAVAILABLE, details: 'mizzend is shutting down' });
    }
    this.#closing = new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        log.warn('ADS server did not drain in time; closing connections', { graceMs });
        this.#server.forceShutdown();
        resolve();
      }, graceMs);
      this.#server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    return this.#closing;
  }

  #nextVersion(): string {
    // Istio's form: unique across restarts thanks to the timestamp, ordered within one run.
    return `${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}/${++this.#versionCounter}`;
  }

  #nextNonce(): string {
    return `${this.#noncePrefix}-${(++this.#nonceCounter).toString(36)}`;
  }

  #onStream(call: AdsCall, delta: boolean): void {
    const conn = new Connection<Push>(`stream-${++this.#connectionCounter}`, call, delta);
    if (this.#closing) {
      this.#fail(conn, { code: grpc.status.UNAVAILABLE, details: 'mizzend is shutting down' });
      return;
    }
    this.#connections.add(conn);
    call.on('data', (req: DiscoveryRequest | DeltaDiscoveryRequest) => {
      try {
        this.#onRequest(conn, req);
      } catch (err) {
        log.error('request handling failed', { connection: conn.id, err });
        this.#metrics.internalErrors.inc();
        this.#fail(conn, { code: grpc.status.INTERNAL, details: errorMessage(err) });
      }
    });
    // The proxy half-closed: nothing more will be asked, so finish our side too.
    call.on('end', () => {
      if (!conn.closed) call.end();
      this.#teardown(conn);
    });
    call.on('cancelled', () => this.#teardown(conn));
    call.on('close', () => this.#teardown(conn));
    call.on('error', (err) => {
      log.debug('stream error', { connection: conn.id, err });
      this.#teardown(conn);
    });
  }

  #onRequest(conn: Connection<Push>, req: DiscoveryRequest | DeltaDiscoveryRequest): void {
    if (conn.closed) return;
    const typeUrl = req.type_url;
    if (!typeUrl) {
      this.#fail(conn, {
        code: grpc.status.INVALID_ARGUMENT,
        details: 'type_url is required on an aggregated (ADS) stream',
      });
      return;
    }
    if (!conn.proxy && !this.#initConnection(conn, req)) return;
    const proxy = conn.proxy as Proxy;

    if (!this.#options.generators.get(typeUrl, proxy.metadata.generator)) {
      conn.unknownTypes ??= new Set();
      if (!conn.unknownTypes.has(typeUrl)) {
        conn.unknownTypes.add(typeUrl);
        log.warn('request for a type this server does not serve; ignored', {
          connection: conn.id,
          type: typeUrl,
        });
      }
      return;
    }

    const previous = conn.watched.get(typeUrl);
    const wildcardCapable = WILDCARD_TYPE_URLS.has(typeUrl);
    const { decision, watched } = conn.delta
      ? shouldRespondDelta(previous, req as DeltaDiscoveryRequest, wildcardCapable)
      : shouldRespond(previous, req as DiscoveryRequest, wildcardCapable);
    if (watched && watched !== previous) {
      conn.watched.set(typeUrl, watched);
      if (previous) this.#releaseView(previous);
    }
    // The subscription may have changed: always on a response; in delta also by unsubscribing.
    if (
      watched &&
      (watched !== previous || decision.action === 'respond' || (conn.delta && changesNames(req)))
    )
      this.#refreshView(watched);
    this.#apply(conn, typeUrl, decision, req);
  }

  #apply(
    conn: Connection<Push>,
    typeUrl: string,
    decision: Decision,
    req: DiscoveryRequest | DeltaDiscoveryRequest,
  ) {
    const type = shortTypeName(typeUrl);
    switch (decision.action) {
      case 'nack': {
        const w = conn.watched.get(typeUrl);
        const detail = req.error_detail;
        this.#metrics.rejects.labels(metricTypeLabel(typeUrl)).inc();
        log.warn('NACK: proxy rejected config', {
          connection: conn.id,
          type,
          nonce: req.response_nonce,
          stale: decision.stale,
          code: detail?.code,
          error: detail?.message,
        });
        this.emit('nack', conn, typeUrl, w?.lastNack);
        return;
      }
      case 'ack':
        if (log.enabled('debug')) log.debug('ACK', { connection: conn.id, type, nonce: req.response_nonce });
        this.emit('ack', conn, typeUrl, req.response_nonce);
        return;
      case 'stale':
        this.#metrics.expiredNonce.labels(metricTypeLabel(typeUrl)).inc();
        if (log.enabled('debug'))
          log.debug('stale nonce ignored', { connection: conn.id, type, nonce: req.response_nonce });
        this.emit('stale', conn, typeUrl, req.response_nonce);
        return;
      case 'none':
        return;
      case 'respond': {
        let push: Push;
        try {
          push = this.#options.pushContext();
        } catch (err) {
          this.#metrics.internalErrors.inc();
          log.error('no push context to answer a request', { connection: conn.id, type, err });
          return;
        }
        if (log.enabled('debug'))
          log.debug('request', { connection: conn.id, type, reason: decision.reason });
        const pushReq = newPushRequest({
          full: true,
          reason: TriggerReason.PROXY_REQUEST,
          delta: decision.delta,
          push,
        });
        conn.owe(typeUrl, { req: pushReq, mustSend: true, fromPush: false }, mergePushRequests);
        this.#requests.enqueue(conn, true);
        return;
      }
    }
  }

  #initConnection(conn: Connection<Push>, req: DiscoveryRequest | DeltaDiscoveryRequest): boolean {
    let proxy: Proxy;
    try {
      proxy = proxyFromNode(req.node);
    } catch (err) {
      const details = err instanceof MizzenError ? err.message : `invalid node: ${errorMessage(err)}`;
      log.warn('rejected stream', { peer: conn.peer, reason: details });
      this.#fail(conn, { code: grpc.status.INVALID_ARGUMENT, details });
      return false;
    }
    conn.proxy = proxy;
    conn.id = `${proxy.id}-${this.#connectionCounter}`;
    this.#metrics.connections.labels(proxy.metadata.istioVersion ?? 'unknown').inc();
    log.info('proxy connected', {
      connection: conn.id,
      node: proxy.nodeId,
      peer: conn.peer,
      delta: conn.delta,
      version: proxy.metadata.istioVersion,
    });
    this.emit('connect', conn);
    return true;
  }

  /**
   * Push-queue worker: decide which watched types this push touches, then send. With `hold`
   * the slot is held until the proxy has taken the responses (see sendTimeoutMs); the
   * incremental queue does not hold (its responses are small, see push()).
   */
  #processPush(conn: Connection<Push>, req: PushRequest<Push>, hold = true): void | Promise<void> {
    const proxy = conn.proxy;
    if (conn.closed || !proxy) return;
    const needs = this.#options.proxyNeedsPush;
    if (!req.forced && needs && !needs(proxy, req)) return;
    let owed = false;
    for (const typeUrl of conn.watched.keys()) {
      const gen = this.#options.generators.get(typeUrl, proxy.metadata.generator);
      if (!gen) continue;
      if (!req.forced && !gen.needsPush(proxy, req)) continue;
      conn.owe(typeUrl, { req, mustSend: false, fromPush: true }, mergePushRequests);
      owed = true;
    }
    if (!owed) return;
    conn.pushStart = conn.pushStart === undefined ? req.start : Math.min(conn.pushStart, req.start);
    if (hold) return this.#flushHolding(conn);
    this.#flush(conn);
  }

  /**
   * Flushes for a queue worker, which keeps its slot until the connection has taken everything
   * it is owed — so what is encoded and buffered at once stays near `pushConcurrency`
   * responses. A connection that has not taken a response for sendTimeoutMs holds no slot
   * (a proxy that stopped reading cannot stall the queue); its write callbacks feed it later.
   */
  #flushHolding(conn: Connection<Push>): Promise<void> | undefined {
    const stuck = conn.inFlight > 0 && performance.now() - conn.inFlightSince >= this.#sendTimeoutMs;
    this.#flush(conn);
    if (stuck || (conn.pending.size === 0 && conn.inFlightBytes <= HOLD_SLOT_BYTES)) return undefined;
    return this.#settled(conn);
  }

  /**
   * Undefined when the connection owes nothing and nothing written to it is on its way; else
   * a promise that resolves when that is so, when it closes, or after sendTimeoutMs.
   */
  #settled(conn: Connection<Push>): Promise<void> | undefined {
    if (conn.closed || (conn.inFlight === 0 && conn.pending.size === 0)) return undefined;
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        if (log.enabled('debug'))
          log.debug('proxy slow to take its responses; the push queue moves on', {
            connection: conn.id,
            bytes: conn.inFlightBytes,
          });
        resolve();
      }, this.#sendTimeoutMs);
      (conn.onSettled ??= []).push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  #settle(conn: Connection<Push>): void {
    const waiting = conn.onSettled;
    conn.onSettled = undefined;
    for (const f of waiting ?? []) f();
  }

  /**
   * Sends what the connection is owed, in push order, one response at a time: the next goes
   * out when gRPC has written the previous one (see #write), so a slow reader holds at most
   * one response in memory.
   */
  #flush(conn: Connection<Push>): void {
    while (conn.writable && !conn.closed && conn.inFlight === 0 && conn.pending.size > 0) {
      const typeUrl = this.#nextPending(conn);
      const send = conn.pending.get(typeUrl) as PendingSend<Push>;
      conn.pending.delete(typeUrl);
      this.#send(conn, typeUrl, send);
    }
    if (conn.pending.size === 0 && conn.pushStart !== undefined && !conn.closed) {
      this.#metrics.convergence.observe((performance.now() - conn.pushStart) / 1000);
      conn.pushStart = undefined;
    }
  }

  #nextPending(conn: Connection<Push>): string {
    for (const t of this.#pushOrder) if (conn.pending.has(t)) return t;
    return conn.pending.keys().next().value as string;
  }

  #send(conn: Connection<Push>, typeUrl: string, send: PendingSend<Push>): void {
    const w = conn.watched.get(typeUrl);
    const proxy = conn.proxy;
    const gen = proxy && this.#options.generators.get(typeUrl, proxy.metadata.generator);
    if (!w || !proxy || !gen) return;
    const label = metricTypeLabel(typeUrl);
    const started = performance.now();
    let bytes: FramedMessage;
    let info: ResponseInfo;
    try {
      const out = conn.delta ? this.#buildDelta(proxy, w, send) : this.#buildSotw(proxy, w, send);
      if (!out) return;
      [bytes, info] = out;
    } catch (err) {
      this.#metrics.internalErrors.inc();
      log.error('generator failed; the proxy keeps its previous config', {
        connection: conn.id,
        type: shortTypeName(typeUrl),
        err,
      });
      return;
    }
    if (!this.#write(conn, bytes)) {
      this.#metrics.pushes.labels(`${label}_senderr`).inc();
      return;
    }
    this.#metrics.pushes.labels(label).inc();
    this.#metrics.configSize.labels(label).observe(bytes.length);
    this.#metrics.pushTime.labels(label).observe((performance.now() - started) / 1000);
    if (log.enabled('debug')) {
      log.debug('sent', {
        connection: conn.id,
        type: shortTypeName(typeUrl),
        version: info.version,
        nonce: info.nonce,
        resources: info.resources,
      });
    }
    this.emit('response', conn, info);
  }

  #generate(proxy: Proxy, w: WatchedResource, req: PushRequest<Push>): readonly XdsResource[] {
    const gen = this.#options.generators.get(w.typeUrl, proxy.metadata.generator);
    return gen ? gen.generate(proxy, this.#view(w), req) : [];
  }

  /** The generators' view of `w`, its names shared with equal subscriptions. */
  #view(w: WatchedResource): WatchedResourceView {
    const v = w.view;
    // A change the request path did not report: names are copied on write, so identity tells.
    if (!v || v.wildcard !== w.wildcard || v.resourceNames !== w.resourceNames) this.#refreshView(w);
    return w.view as WatchedResourceView;
  }

  #refreshView(w: WatchedResource): void {
    const previous = w.view;
    w.view = {
      typeUrl: w.typeUrl,
      wildcard: w.wildcard,
      resourceNames: this.#sharedNames.acquire(w.typeUrl, w.resourceNames),
    };
    // The connection's own copy (decoded from its request) is dropped for the shared one.
    w.resourceNames = w.view.resourceNames;
    if (previous) this.#sharedNames.release(w.typeUrl, previous.resourceNames);
  }

  #releaseView(w: WatchedResource): void {
    if (w.view) this.#sharedNames.release(w.typeUrl, w.view.resourceNames);
    w.view = undefined;
  }

  /** Whether every resource of `list` is subscribed (remembered per list and shared name Set). */
  #allSubscribed(list: readonly XdsResource[], view: WatchedResourceView): boolean {
    if (this.#checked.get(list) === view.resourceNames) return true;
    if (!allSubscribed(list, view.resourceNames)) return false;
    this.#checked.set(list, view.resourceNames);
    return true;
  }

  /**
   * SotW: the whole subscribed set — except on incremental pushes of types whose SotW responses
   * need not hold every resource (EDS, RDS: everything but LDS and CDS, per the xDS spec), where
   * a proxy that already has a full response gets only what changed (as Istio does for EDS).
   * Undefined when such a push changes nothing for the proxy.
   */
  #buildSotw(
    proxy: Proxy,
    w: WatchedResource,
    send: PendingSend<Push>,
  ): [FramedMessage, ResponseInfo] | undefined {
    const gen = this.#options.generators.get(w.typeUrl, proxy.metadata.generator);
    const partial =
      send.fromPush &&
      !send.mustSend &&
      !send.req.full &&
      gen?.generateDelta !== undefined &&
      !ALL_RESOURCES_REQUIRED_IN_SOTW.has(w.typeUrl) &&
      w.nonceSent !== undefined;
    const view = this.#view(w);
    const all =
      partial && gen?.generateDelta
        ? gen.generateDelta(proxy, view, send.req).resources
        : this.#generate(proxy, w, send.req);
    const resources =
      view.wildcard || this.#allSubscribed(all, view)
        ? all
        : all.filter((r) => view.resourceNames.has(r.name));
    if (partial && resources.length === 0) return undefined;
    const version = this.#version;
    const { nonce, bytes } = this.#encodeShared(resources === all ? resources : undefined, w, (n) =>
      encodeDiscoveryResponse({
        version_info: version,
        resources: resources.map((r) => r.resource),
        type_url: w.typeUrl,
        nonce: n,
        control_plane: this.#controlPlane,
      }),
    );
    w.nonceSent = nonce;
    w.versionSent = version;
    w.sentAt = Date.now();
    w.resourcesSent = resources.length;
    const info = {
      typeUrl: w.typeUrl,
      version,
      nonce,
      resources: resources.length,
      removed: 0,
      bytes: bytes.length,
      push: send.fromPush,
    };
    return [bytes, info];
  }

  /** Delta: only what changed against what the proxy holds; undefined when nothing did. */
  #buildDelta(
    proxy: Proxy,
    w: WatchedResource,
    send: PendingSend<Push>,
  ): [FramedMessage, ResponseInfo] | undefined {
    const known = w.known as KnownResources;
    const pendingMissing = w.pendingMissing as Set<string>;
    const gen = this.#options.generators.get(w.typeUrl, proxy.metadata.generator);
    const partial = send.fromPush && !send.mustSend && gen?.generateDelta !== undefined;
    let generated: readonly XdsResource[];
    let removedByGenerator: readonly string[] = [];
    if (partial && gen?.generateDelta) {
      const d = gen.generateDelta(proxy, this.#view(w), send.req);
      generated = d.resources;
      removedByGenerator = d.removed;
    } else {
      generated = this.#generate(proxy, w, send.req);
    }
    // A list holding the whole subscription (not only what an incremental push changed) whose
    // content equals what the proxy was last brought in line with owes it nothing: skip the
    // per-resource diff, which would walk thousands of names for each proxy on every push.
    const view = this.#view(w);
    const wholeList = !partial || send.req.full;
    const signature = wholeList ? listSignature(generated) : undefined;
    const synced = w.synced;
    if (
      signature !== undefined &&
      !send.mustSend &&
      pendingMissing.size === 0 &&
      synced?.signature === signature &&
      synced.names === view.resourceNames &&
      synced.wildcard === view.wildcard &&
      (partial || synced.exact)
    ) {
      return undefined;
    }
    // After a whole list whose every resource is subscribed, the proxy holds exactly that list:
    // its state becomes a reference to the list's shared index.
    const whole = !partial && (view.wildcard || this.#allSubscribed(generated, view));
    const target = whole ? baseIndexOf(generated) : undefined;
    // What the proxy holds as a shared list: in step with one, or nothing yet (a new stream).
    const from = known.exactBase ?? (known.size === 0 ? EMPTY_INDEX : undefined);
    let changed: readonly DeltaResource[];
    let removed: string[];
    let sharedDiff: ListDiff | undefined;
    if (target && from && allIn(pendingMissing, target.versions)) {
      // The common full push: proxies of one class move between the same two lists, so the diff
      // is computed once and shared (diffLists), not walked per proxy.
      const diff = diffLists(from, target);
      sharedDiff = diff;
      changed = diff.changed;
      removed = diff.removed as string[];
    } else {
      const inScope = (name: string) => w.wildcard || w.resourceNames.has(name);
      const own: DeltaResource[] = [];
      const seen = new Set<string>();
      for (const r of generated) {
        if (!inScope(r.name) || seen.has(r.name)) continue;
        seen.add(r.name);
        const version = resourceVersion(r.resource.value);
        if (known.get(r.name) !== version) own.push({ name: r.name, version, resource: r.resource });
      }
      changed = own;
      removed = [];
      if (partial) {
        for (const name of removedByGenerator) if (known.has(name)) removed.push(name);
      } else {
        for (const name of known.keys()) {
          if (seen.has(name)) continue;
          if (inScope(name)) removed.push(name);
          else known.delete(name); // declared on reconnect but not subscribed: forget it
        }
      }
      // Newly subscribed names that do not exist: say so, so the proxy stops waiting for them.
      for (const name of pendingMissing)
        if (!seen.has(name) && !known.has(name) && inScope(name)) removed.push(name);
    }
    pendingMissing.clear();
    w.synced =
      signature !== undefined
        ? { signature, names: view.resourceNames, wildcard: view.wildcard, exact: !partial }
        : changed.length === 0 && removed.length === 0
          ? w.synced
          : undefined;
    if (changed.length === 0 && removed.length === 0 && !send.mustSend) {
      if (target) known.resetTo(target);
      return undefined;
    }

    const version = this.#version;
    const { nonce, bytes } = this.#encodeShared(sharedDiff, w, (n) =>
      encodeDeltaDiscoveryResponse({
        system_version_info: version,
        resources: changed as DeltaResource[],
        type_url: w.typeUrl,
        removed_resources: removed,
        nonce: n,
        control_plane: this.#controlPlane,
      }),
    );
    if (target) known.resetTo(target);
    else {
      for (const r of changed) known.set(r.name, r.version);
      for (const name of removed) known.delete(name);
    }
    w.nonceSent = nonce;
    w.versionSent = version;
    w.sentAt = Date.now();
    w.resourcesSent = changed.length;
    const info = {
      typeUrl: w.typeUrl,
      version,
      nonce,
      resources: changed.length,
      removed: removed.length,
      bytes: bytes.length,
      push: send.fromPush,
    };
    return [bytes, info];
  }

  /**
   * Encodes a response, or reuses the one already encoded in this push for the same `key` (a
   * shared resource list or list diff: same content for every stream it goes to). The nonce is
   * shared too: it only has to be unique within a stream, and a stream that already got this
   * one gets a fresh encoding. Undefined `key`: always fresh.
   */
  #encodeShared(
    key: object | undefined,
    w: WatchedResource,
    encode: (nonce: string) => Buffer,
  ): { nonce: string; bytes: FramedMessage } {
    const cached = key && this.#sharedResponses.get(key);
    if (cached && cached.version === this.#version && cached.nonce !== w.nonceSent) {
      this.#sharedResponses.delete(key);
      this.#sharedResponses.set(key, cached); // most recently used last
      return cached;
    }
    const nonce = this.#nextNonce();
    // Framed once here, so gRPC writes the same frame to every stream (framed-write.ts).
    const out = { version: this.#version, nonce, bytes: frameMessage(encode(nonce)) };
    if (key) {
      this.#sharedResponses.set(key, out);
      for (const k of this.#sharedResponses.keys()) {
        if (this.#sharedResponses.size <= SHARED_RESPONSES) break;
        this.#sharedResponses.delete(k);
      }
    }
    return out;
  }

  /** Writes one encoded response; false when the stream is gone. Honours backpressure. */
  #write(conn: Connection<Push>, bytes: FramedMessage): boolean {
    if (conn.closed) return false;
    let ok: boolean;
    const size = bytes.length;
    if (conn.inFlight === 0) conn.inFlightSince = performance.now();
    conn.inFlight++;
    conn.inFlightBytes += size;
    if (this.#inFlightBytes < this.#maxInFlightBytes && this.#inFlightBytes + size >= this.#maxInFlightBytes)
      this.#spentAt = performance.now();
    this.#inFlightBytes += size;
    try {
      ok = (conn.call as grpc.ServerDuplexStream<unknown, unknown>).write(writable(bytes), () => {
        // After teardown the connection's bytes were already given back.
        if (conn.closed) return;
        conn.inFlight--;
        conn.inFlightBytes -= size;
        this.#lastWriteDone = performance.now();
        const wasSpent = this.#inFlightBytes >= this.#maxInFlightBytes;
        this.#inFlightBytes -= size;
        if (wasSpent && this.#inFlightBytes < this.#maxInFlightBytes) this.#wakeQueues();
        if (conn.inFlight > 0) return;
        this.#flush(conn);
        if (conn.inFlight === 0 && conn.pending.size === 0) this.#settle(conn);
      });
    } catch (err) {
      log.warn('write failed; closing stream', { connection: conn.id, err });
      this.#teardown(conn);
      return false;
    }
    if (!ok) {
      conn.writable = false;
      conn.call.once('drain', () => {
        conn.writable = true;
        this.#flush(conn);
      });
    }
    return true;
  }

  /**
   * The byte budget: start proxies while bytes in flight are under it. When it has been spent
   * and no write completed for sendTimeoutMs (streams that stopped reading hold it), it is
   * ignored until writes complete again, so stuck proxies cannot stall everyone's pushes.
   */
  #admit(): boolean {
    if (this.#inFlightBytes < this.#maxInFlightBytes) return true;
    if (performance.now() - Math.max(this.#lastWriteDone, this.#spentAt) >= this.#sendTimeoutMs) return true;
    if (!this.#budgetTimer && !this.#closing) {
      this.#budgetTimer = setTimeout(() => {
        this.#budgetTimer = undefined;
        this.#wakeQueues();
      }, this.#sendTimeoutMs);
      this.#budgetTimer.unref();
    }
    return false;
  }

  #wakeQueues(): void {
    this.#requests.wake();
    this.#queue.wake();
  }

  /** Ends the stream with a status and forgets the connection. */
  #fail(conn: Connection<Push>, error: StatusError): void {
    if (conn.closed) return;
    this.#teardown(conn);
    conn.call.emit('error', error);
  }

  #teardown(conn: Connection<Push>): void {
    if (conn.closed) return;
    conn.closed = true;
    conn.pending.clear();
    this.#inFlightBytes -= conn.inFlightBytes;
    if (conn.inFlightBytes > 0) this.#wakeQueues();
    conn.inFlight = 0;
    conn.inFlightBytes = 0;
    this.#settle(conn);
    this.#connections.delete(conn);
    this.#queue.remove(conn);
    this.#incremental.remove(conn);
    this.#requests.remove(conn);
    for (const w of conn.watched.values()) this.#releaseView(w);
    if (conn.proxy) {
      this.#metrics.connections.labels(conn.proxy.metadata.istioVersion ?? 'unknown').dec();
      log.info('proxy disconnected', { connection: conn.id });
      this.emit('disconnect', conn);
    }
  }
}
