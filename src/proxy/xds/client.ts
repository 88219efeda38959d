/**
 * The proxy's ADS client: one aggregated xDS stream to mizzend, delta (preferred) or state of the
 * world, chosen by option. It keeps per type the subscription, the nonce, the last accepted
 * version and the last good value of every resource, and hands the data plane only what warming
 * allows (see warming.ts).
 *
 * Protocol rules it keeps (Envoy's behaviour):
 * - the node goes in the first request of a stream only;
 * - start-up order: CDS (wildcard), EDS for the clusters that need it, then — once the clusters
 *   have warmed — LDS (wildcard), then RDS for the listeners; SDS for secrets either needs;
 * - every response is ACKed or NACKed. Delta applies each valid resource and NACKs the invalid
 *   ones (keeping their previous value); SotW NACKs the whole response and keeps everything.
 *   error_detail names every rejected resource and field;
 * - subscriptions follow dependencies: EDS names from clusters, RDS names from listeners; a name
 *   no longer referenced is unsubscribed and forgotten;
 * - absence: delta `removed_resources`, and for LDS/CDS in SotW, absence from a response; a
 *   named resource the server does not have is DOES_NOT_EXIST;
 * - when the stream ends, the last good config keeps serving and the client reconnects after a
 *   jittered exponential backoff, resending its subscriptions (delta: with the versions it holds);
 * - gRPC keepalive pings detect a dead control plane connection.
 *
 * Each stream gets its own HTTP/2 connection (grpc-stream.ts: gRPC framing on node:http2, so
 * the proxy never loads grpc-js), and this backoff is the only one in play.
 */
import { EventEmitter } from 'node:events';
import { ErrorCode, MizzenError } from '../../lib/errors.ts';
import { logger } from '../../lib/log.ts';
import type { PackedAny } from '../../lib/xds/any.ts';
import {
  ADS_DECODE_OPTIONS,
  ADS_DELTA_PATH,
  ADS_STREAM_PATH,
  type DeltaDiscoveryRequest,
  type DeltaDiscoveryResponse,
  type DiscoveryRequest,
  type DiscoveryResponse,
  type Outgoing,
  type XdsNode,
} from '../../lib/xds/discovery.ts';
import { messageType } from '../../lib/xds/protos.ts';
import {
  CLUSTER_TYPE_URL,
  ENDPOINT_TYPE_URL,
  LISTENER_TYPE_URL,
  ROUTE_TYPE_URL,
  SECRET_TYPE_URL,
  shortTypeName,
} from '../../lib/xds/type-urls.ts';
import { Backoff } from './backoff.ts';
import {
  type GrpcCallStatus,
  GrpcStatus,
  GrpcStream,
  type GrpcTlsOptions,
  grpcStatusName,
} from './grpc-stream.ts';
import { envoyResourceTypes, type ResourceTypeRegistry } from './resource-types/registry.ts';
import {
  type DecodedResource,
  type Dependency,
  formatResourceError,
  type ResourceType,
  resourceHash,
} from './resource-types/resource-type.ts';
import {
  type NackInfo,
  ResourceState,
  ResourceStatusTable,
  type TypeStatus,
  type XdsClientStatus,
} from './status.ts';
import {
  type AcceptedResource,
  ConfigView,
  LEAF_TYPES,
  type ResourceUpdate,
  type Timers,
  type XdsUpdate,
} from './warming.ts';

export type { ResourceUpdate, XdsUpdate } from './warming.ts';

const log = logger('proxy:xds');

export type XdsMode = 'delta' | 'sotw';

/** Envoy's code for a rejected config in error_detail (grpc::StatusCode::INTERNAL). */
const NACK_CODE = GrpcStatus.INTERNAL;
/** error_detail longer than this is cut, saying how many reasons were left out. */
const MAX_NACK_MESSAGE = 16 * 1024;

/** Order of first requests on a stream: Envoy's warming order. */
const REQUEST_ORDER: readonly string[] = [
  CLUSTER_TYPE_URL,
  ENDPOINT_TYPE_URL,
  LISTENER_TYPE_URL,
  ROUTE_TYPE_URL,
  SECRET_TYPE_URL,
];
const REQUIRED_TYPES: readonly string[] = REQUEST_ORDER;

export interface KeepaliveOptions {
  /** Ping the control plane after this long without activity (default 30 s, as Istio's agent). */
  readonly timeMs?: number;
  /** Drop the connection when a ping is not answered within this (default 10 s). */
  readonly timeoutMs?: number;
}

export interface XdsClientOptions {
  /** The control plane's xDS address, `host:port`. */
  readonly server: string;
  /** The Envoy node sent in the first request of each stream (see src/agent/bootstrap.ts). */
  readonly node: XdsNode;
  /** Delta xDS (default) or state of the world. */
  readonly mode?: XdsMode;
  /** Resource types with the proxy's compile hooks (default: envoyResourceTypes()). */
  readonly resourceTypes?: ResourceTypeRegistry;
  /**
   * Envoy's initial_fetch_timeout for config sources that set none, and for the first CDS and
   * LDS responses: after it, warming resources go active without what is missing. 0 waits
   * forever. Default 15 s.
   */
  readonly initialFetchTimeoutMs?: number;
  /** Reconnect backoff: base 500 ms, cap 30 s by default. */
  readonly backoff?: { readonly baseMs?: number; readonly maxMs?: number };
  readonly keepalive?: KeepaliveOptions;
  /** TLS to the control plane (mizzend's 15012); default: plaintext (mizzend's 15010). */
  readonly tls?: GrpcTlsOptions;
  /**
   * Call credentials: extra request headers for each stream (e.g. `authorization: Bearer
   * <token>`), asked for again on every reconnect so a rotated token is picked up.
   */
  readonly callMetadata?: () => Readonly<Record<string, string>>;
  /** Give up on a connection attempt after this (default 20 s). */
  readonly connectTimeoutMs?: number;
  /** Largest response accepted (default 64 MiB). */
  readonly maxReceiveMessageBytes?: number;
  /** Uniform [0, 1) source for backoff jitter (tests). */
  readonly random?: () => number;
  /** Timer functions (default: the global ones, looked up at call time so fake timers work). */
  readonly timers?: Timers;
}

export interface AckEvent {
  readonly typeUrl: string;
  readonly version: string;
  readonly nonce: string;
}

export interface NackEvent {
  readonly typeUrl: string;
  /** The rejected response's version (SotW) or system version (delta). */
  readonly version: string;
  readonly nonce: string;
  /** One line per reason, each naming the resource and the field. */
  readonly errors: readonly string[];
  /** Resources applied from the same (delta) response despite the rejection of others. */
  readonly applied: readonly string[];
}

export interface DisconnectEvent {
  /** The gRPC status code that ended the stream (GrpcStatus). */
  readonly code: number;
  readonly details: string;
  /** When the next attempt starts. */
  readonly retryInMs: number;
}

export interface XdsClientEvents {
  /** Changes the data plane must apply, in make-before-break order. */
  update: [update: XdsUpdate];
  /** Initial warming is over (CDS, EDS, LDS, RDS): the proxy may report ready. */
  initialized: [];
  /** A stream is being opened (attempt 0 is the first after start or after a response). */
  connecting: [attempt: number];
  /** A stream received its first response. */
  connected: [];
  /** The stream ended; the last good config keeps serving. */
  disconnected: [event: DisconnectEvent];
  ack: [event: AckEvent];
  nack: [event: NackEvent];
}

/** Per type: the subscription, per-stream protocol state, and the accepted resources. */
class TypeState {
  readonly type: ResourceType;
  readonly typeUrl: string;
  readonly wildcard: boolean;
  /** The client asks for this type (it may still be waiting for a stream). */
  subscribed = false;
  /** Explicit names (named types). */
  names = new Set<string>();
  /** Last accepted response version. */
  versionInfo = '';
  readonly accepted = new Map<string, AcceptedResource>();
  /** Accepted resources by hash, to skip decoding identical copies. */
  readonly byHash = new Map<string, AcceptedResource>();
  lastAck: { version: string; nonce: string; at: number } | undefined;
  lastNack: { nonce: string; version: string; message: string; at: number } | undefined;
  /** A response was processed (accepted or rejected) since the client started. */
  answered = false;
  // Per stream:
  requested = false;
  nonce = '';
  /** Names the server was last told (SotW: the last list sent; delta: the subscription). */
  sentNames = new Set<string>();

  constructor(type: ResourceType, wildcard: boolean) {
    this.type = type;
    this.typeUrl = type.typeUrl;
    this.wildcard = wildcard;
  }

  resetStream(): void {
    this.requested = false;
    this.nonce = '';
    this.sentNames = new Set();
  }

  wants(name: string): boolean {
    return this.wildcard || this.names.has(name);
  }
}

interface Stream {
  readonly call: GrpcStream;
  nodeSent: boolean;
  responded: boolean;
}

const DISCOVERY = 'envoy.service.discovery.v3';

const globalTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

function sameSet(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  if (a.size !== b.size) return false;
  for (const x of a) if (!b.has(x)) return false;
  return true;
}

function joinNack(errors: readonly string[]): string {
  let out = '';
  for (let i = 0; i < errors.length; i++) {
    const line = (i > 0 ? '\n' : '') + errors[i];
    if (out.length + line.length > MAX_NACK_MESSAGE) {
      return `${out}\n… and ${errors.length - i} more`;
    }
    out += line;
  }
  return out;
}

export class XdsClient extends EventEmitter<XdsClientEvents> {
  readonly #server: string;
  readonly #node: XdsNode;
  readonly #mode: XdsMode;
  readonly #types = new Map<string, TypeState>();
  readonly #status = new ResourceStatusTable();
  readonly #view: ConfigView;
  readonly #backoff: Backoff;
  readonly #timers: Timers;
  readonly #initialFetchTimeoutMs: number;
  readonly #transport: Omit<ConstructorParameters<typeof GrpcStream>[0], 'path'>;
  #stream: Stream | undefined;
  #started = false;
  #closed = false;
  #retryTimer: unknown;
  #nextRetryAt: number | undefined;
  #connectedSince: number | undefined;
  #disconnectedSince: number | undefined;
  /** Initial warming stages (Envoy's cluster manager init, then listener manager init). */
  #cdsInitDone = false;
  #initialized = false;
  #initializedEmitted = false;
  readonly #initTimers = new Map<string, unknown>();
  readonly #initTimedOut = new Set<string>();
  readonly #unknownTypes = new Set<string>();

  constructor(options: XdsClientOptions) {
    super();
    if (!options || typeof options.server !== 'string' || !/^.+:\d+$/.test(options.server)) {
      throw new MizzenError(
        ErrorCode.INVALID_ARGUMENT,
        `XdsClient: options.server must be the control plane's "host:port", got ${JSON.stringify(options?.server)}`,
      );
    }
    if (!options.node?.id) {
      throw new MizzenError(
        ErrorCode.INVALID_ARGUMENT,
        'XdsClient: options.node.id is required (see src/agent/bootstrap.ts)',
      );
    }
    const mode = options.mode ?? 'delta';
    if (mode !== 'delta' && mode !== 'sotw') {
      throw new MizzenError(
        ErrorCode.INVALID_ARGUMENT,
        `XdsClient: options.mode must be "delta" or "sotw", got ${JSON.stringify(mode)}`,
      );
    }
    const timeout = options.initialFetchTimeoutMs ?? 15_000;
    if (!(Number.isFinite(timeout) && timeout >= 0)) {
      throw new MizzenError(
        ErrorCode.INVALID_ARGUMENT,
        `XdsClient: options.initialFetchTimeoutMs must be a non-negative number of ms (0 waits forever), got ${timeout}`,
      );
    }
    const registry = options.resourceTypes ?? envoyResourceTypes();
    for (const typeUrl of REQUIRED_TYPES) {
      const type = registry.get(typeUrl);
      if (!type) {
        throw new MizzenError(
          ErrorCode.INVALID_ARGUMENT,
          `XdsClient: options.resourceTypes has no type for ${typeUrl}; start from envoyResourceTypes()`,
        );
      }
      this.#types.set(
        typeUrl,
        new TypeState(type, typeUrl === CLUSTER_TYPE_URL || typeUrl === LISTENER_TYPE_URL),
      );
    }
    this.#server = options.server;
    this.#node = options.node;
    this.#mode = mode;
    this.#initialFetchTimeoutMs = timeout;
    this.#timers = options.timers ?? globalTimers;
    this.#backoff = new Backoff({ ...options.backoff, random: options.random });
    const ka = options.keepalive ?? {};
    const positive = (field: string, v: number | undefined, dflt: number, max = Number.MAX_SAFE_INTEGER) => {
      if (v === undefined) return dflt;
      if (!(Number.isFinite(v) && v > 0 && v <= max)) {
        throw new MizzenError(
          ErrorCode.INVALID_ARGUMENT,
          `XdsClient: options.${field} must be a positive number up to ${max}, got ${v}`,
        );
      }
      return v;
    };
    this.#transport = {
      target: options.server,
      tls: options.tls,
      metadata: options.callMetadata,
      keepaliveTimeMs: positive('keepalive.timeMs', ka.timeMs, 30_000),
      keepaliveTimeoutMs: positive('keepalive.timeoutMs', ka.timeoutMs, 10_000),
      maxReceiveMessageBytes: positive(
        'maxReceiveMessageBytes',
        options.maxReceiveMessageBytes,
        64 * 1024 * 1024,
        // gRPC's own ceiling (a signed 32-bit length): a server must not make us allocate more.
        2 ** 31 - 1,
      ),
      connectTimeoutMs: positive('connectTimeoutMs', options.connectTimeoutMs, 20_000),
      userAgent: 'mizzen-proxy',
    };
    this.#view = new ConfigView({
      defaultTimeoutMs: timeout,
      timers: this.#timers,
      missing: (r) => r.dependencies.filter((d) => !this.#resolved(d)),
      onTimeout: (typeUrl, name, missing) => {
        log.warn('warming timed out; serving without what is missing', {
          type: shortTypeName(typeUrl),
          name,
          missing: missing.map((d) => `${shortTypeName(d.typeUrl)}/${d.name}`).join(','),
        });
        this.#afterChange();
      },
    });
  }

  get mode(): XdsMode {
    return this.#mode;
  }

  /** True once initial warming is over. */
  get initialized(): boolean {
    return this.#initialized;
  }

  /** True while a stream is open and has had a response. */
  get connected(): boolean {
    return this.#connectedSince !== undefined;
  }

  /** Opens the stream and subscribes to clusters (listeners follow once clusters warmed). */
  start(): this {
    if (this.#closed) throw new MizzenError(ErrorCode.INVALID_ARGUMENT, 'XdsClient: start() after close()');
    if (this.#started) return this;
    this.#started = true;
    this.#subscribeRoot(CLUSTER_TYPE_URL);
    this.#connect();
    return this;
  }

  /** Ends the stream and every timer. The config the data plane holds stays as it is. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#retryTimer !== undefined) this.#timers.clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    for (const t of this.#initTimers.values()) this.#timers.clearTimeout(t);
    this.#initTimers.clear();
    this.#view.close();
    const s = this.#stream;
    this.#stream = undefined;
    this.#connectedSince = undefined;
    s?.call.cancel();
  }

  /** What the data plane holds (active) and what is accepted but still warming, per type. */
  resources(typeUrl: string): {
    active: ResourceUpdate[];
    warming: { name: string; version: string; resource: DecodedResource; since: number }[];
  } {
    const active = [...this.#view.active(typeUrl)].map(([name, a]) => ({
      name,
      version: a.version,
      resource: a.resource,
    }));
    const accepted = this.#types.get(typeUrl)?.accepted;
    const warming = [...this.#view.warming(typeUrl)].map(([name, w]) => ({
      name,
      version: accepted?.get(name)?.version ?? '',
      resource: w.resource,
      since: w.since,
    }));
    return { active, warming };
  }

  /** Per type and resource: REQUESTED / ACKED / NACKED / DOES_NOT_EXIST, versions, errors. */
  status(): XdsClientStatus {
    const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());
    const types: TypeStatus[] = [];
    for (const typeUrl of REQUEST_ORDER) {
      const st = this.#types.get(typeUrl) as TypeState;
      const nack: NackInfo | undefined = st.lastNack && {
        nonce: st.lastNack.nonce,
        version: st.lastNack.version,
        message: st.lastNack.message,
        at: iso(st.lastNack.at) as string,
      };
      types.push({
        typeUrl,
        shortType: st.type.shortName,
        subscribed: st.subscribed,
        wildcard: st.wildcard,
        resourceNames: [...st.names].sort(),
        versionInfo: st.versionInfo,
        nonce: st.nonce,
        ...(st.lastAck
          ? {
              lastAck: {
                version: st.lastAck.version,
                nonce: st.lastAck.nonce,
                at: iso(st.lastAck.at) as string,
              },
            }
          : {}),
        ...(nack ? { lastNack: nack } : {}),
        resources: this.#status.snapshot(typeUrl, (name) => this.#view.isWarming(typeUrl, name)),
      });
    }
    return {
      server: this.#server,
      mode: this.#mode,
      nodeId: this.#node.id,
      connected: this.connected,
      ...(this.#connectedSince !== undefined ? { connectedSince: iso(this.#connectedSince) } : {}),
      ...(this.#disconnectedSince !== undefined ? { disconnectedSince: iso(this.#disconnectedSince) } : {}),
      reconnectAttempts: this.#backoff.attempts,
      ...(this.#nextRetryAt !== undefined ? { nextRetryAt: iso(this.#nextRetryAt) } : {}),
      initialized: this.#initialized,
      types,
    };
  }

  // ---------------------------------------------------------------------------------------------
  // Stream lifecycle
  // ---------------------------------------------------------------------------------------------

  #connect(): void {
    this.#retryTimer = undefined;
    this.#nextRetryAt = undefined;
    if (this.#closed) return;
    const delta = this.#mode === 'delta';
    const responseType = messageType(
      `${DISCOVERY}.${delta ? 'DeltaDiscoveryResponse' : 'DiscoveryResponse'}`,
    );
    // A failure to connect arrives as the call's status, like any other end of the stream.
    const call = new GrpcStream({ ...this.#transport, path: delta ? ADS_DELTA_PATH : ADS_STREAM_PATH });
    const stream: Stream = { call, nodeSent: false, responded: false };
    this.#stream = stream;
    for (const st of this.#types.values()) st.resetStream();
    this.#emit('connecting', this.#backoff.attempts);
    call.on('message', (bytes) => {
      if (this.#stream !== stream) return;
      let res: unknown;
      try {
        res = responseType.toObject(responseType.decode(bytes), ADS_DECODE_OPTIONS);
      } catch (err) {
        // grpc-js' answer to an unparsable response: the call fails with INTERNAL.
        call.cancel(GrpcStatus.INTERNAL, `cannot decode a ${responseType.name}: ${String(err)}`);
        return;
      }
      if (!stream.responded) {
        stream.responded = true;
        this.#backoff.reset();
        this.#connectedSince = Date.now();
        this.#disconnectedSince = undefined;
        log.info('connected to the control plane', { server: this.#server, mode: this.#mode });
        this.#emit('connected');
      }
      try {
        if (this.#mode === 'delta') this.#onDeltaResponse(res as DeltaDiscoveryResponse);
        else this.#onSotwResponse(res as DiscoveryResponse);
      } catch (err) {
        // A bug here must not take the stream down silently; restart it so state resyncs.
        log.error('failed to process an xDS response; restarting the stream', { err });
        call.cancel();
      }
    });
    call.on('status', (s) => this.#onStreamEnd(stream, s));
    log.debug('opening ADS stream', { server: this.#server, mode: this.#mode });
    for (const typeUrl of REQUEST_ORDER) this.#sendSubscription(this.#types.get(typeUrl) as TypeState);
  }

  #onStreamEnd(stream: Stream, s: GrpcCallStatus): void {
    if (this.#stream !== stream) return;
    this.#stream = undefined;
    this.#connectedSince = undefined;
    this.#disconnectedSince ??= Date.now();
    if (this.#closed) return;
    const delay = this.#backoff.next();
    this.#nextRetryAt = Date.now() + delay;
    log.warn('ADS stream closed; keeping the last good config and reconnecting', {
      server: this.#server,
      code: grpcStatusName(s.code),
      details: s.details,
      retryInMs: delay,
      attempt: this.#backoff.attempts,
    });
    this.#retryTimer = this.#timers.setTimeout(() => this.#connect(), delay);
    this.#emit('disconnected', { code: s.code, details: s.details, retryInMs: delay });
  }

  #write(req: object): void {
    const s = this.#stream;
    if (!s) return;
    if (!s.nodeSent) {
      (req as { node?: XdsNode }).node = this.#node;
      s.nodeSent = true;
    }
    const type = messageType(
      `${DISCOVERY}.${this.#mode === 'delta' ? 'DeltaDiscoveryRequest' : 'DiscoveryRequest'}`,
    );
    s.call.write(type.encode(type.fromObject(req as Record<string, unknown>)).finish());
  }

  /** Emits without letting a consumer's exception break the protocol handling. */
  #emit<K extends keyof XdsClientEvents>(event: K, ...args: XdsClientEvents[K]): void {
    try {
      (this.emit as (e: K, ...a: XdsClientEvents[K]) => boolean)(event, ...args);
    } catch (err) {
      log.error(`an '${event}' listener threw`, { err });
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Subscriptions
  // ---------------------------------------------------------------------------------------------

  /** A wildcard root type (CDS, LDS): subscribe, and bound its first fetch. */
  #subscribeRoot(typeUrl: string): void {
    const st = this.#types.get(typeUrl) as TypeState;
    if (st.subscribed) return;
    st.subscribed = true;
    if (this.#initialFetchTimeoutMs > 0) {
      this.#initTimers.set(
        typeUrl,
        this.#timers.setTimeout(() => {
          this.#initTimers.delete(typeUrl);
          if (st.answered) return;
          log.warn('no response within the initial fetch timeout; continuing start-up without it', {
            type: st.type.shortName,
            timeoutMs: this.#initialFetchTimeoutMs,
          });
          this.#initTimedOut.add(typeUrl);
          this.#afterChange();
        }, this.#initialFetchTimeoutMs),
      );
    }
    this.#sendSubscription(st);
  }

  /** Tells the server the current subscription of `st`, when it differs from what it knows. */
  #sendSubscription(st: TypeState): void {
    if (!this.#stream || !st.subscribed) return;
    const names = [...st.names].sort();
    if (this.#mode === 'sotw') {
      if (!st.requested) {
        if (!st.wildcard && names.length === 0) return;
        const req: Outgoing<DiscoveryRequest> = {
          type_url: st.typeUrl,
          version_info: st.versionInfo,
          resource_names: st.wildcard ? [] : names,
          response_nonce: '',
        };
        st.requested = true;
        st.sentNames = new Set(st.names);
        this.#write(req);
        return;
      }
      if (sameSet(st.sentNames, st.names)) return;
      st.sentNames = new Set(st.names);
      this.#write({
        type_url: st.typeUrl,
        version_info: st.versionInfo,
        resource_names: names,
        response_nonce: st.nonce,
      } satisfies Outgoing<DiscoveryRequest>);
      return;
    }
    if (!st.requested) {
      if (!st.wildcard && names.length === 0) return;
      const initial: Record<string, string> = {};
      for (const [name, a] of st.accepted) if (st.wants(name)) initial[name] = a.version;
      st.requested = true;
      st.sentNames = new Set(st.names);
      this.#write({
        type_url: st.typeUrl,
        resource_names_subscribe: st.wildcard ? ['*', ...names] : names,
        initial_resource_versions: initial,
      } satisfies Outgoing<DeltaDiscoveryRequest>);
      return;
    }
    const subscribe = names.filter((n) => !st.sentNames.has(n));
    const unsubscribe = [...st.sentNames].filter((n) => !st.names.has(n)).sort();
    if (subscribe.length === 0 && unsubscribe.length === 0) return;
    st.sentNames = new Set(st.names);
    this.#write({
      type_url: st.typeUrl,
      resource_names_subscribe: subscribe,
      resource_names_unsubscribe: unsubscribe,
    } satisfies Outgoing<DeltaDiscoveryRequest>);
  }

  /** Leaf subscriptions follow the parents that are active or warming. */
  #updateLeafSubscriptions(): void {
    for (const leaf of LEAF_TYPES) {
      const st = this.#types.get(leaf) as TypeState;
      const wanted = this.#view.wanted(leaf);
      if (sameSet(wanted, st.names)) continue;
      for (const name of st.names) {
        if (wanted.has(name)) continue;
        this.#forget(st, name);
      }
      for (const name of wanted) if (!st.names.has(name)) this.#status.requested(leaf, name);
      st.names = wanted;
      if (wanted.size > 0) st.subscribed = true;
      this.#sendSubscription(st);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Responses
  // ---------------------------------------------------------------------------------------------

  #typeFor(typeUrl: string): TypeState | undefined {
    const st = this.#types.get(typeUrl);
    if (st?.subscribed) return st;
    if (!this.#unknownTypes.has(typeUrl)) {
      this.#unknownTypes.add(typeUrl);
      log.warn('ignoring a response for a type the proxy did not ask for', { type: typeUrl });
    }
    return undefined;
  }

  /** Decodes one Any, reusing the accepted copy when the bytes are identical. */
  #decode(
    st: TypeState,
    any: PackedAny,
  ): { name: string | undefined; value?: DecodedResource; errors?: readonly string[] } {
    const hit = st.byHash.get(resourceHash(any.value));
    if (hit && any.type_url === st.typeUrl) return { name: hit.resource.name, value: hit.resource };
    const r = st.type.decode(any);
    return 'errors' in r ? { name: r.name, errors: r.errors } : { name: r.name, value: r.value };
  }

  #onSotwResponse(res: DiscoveryResponse): void {
    const st = this.#typeFor(res.type_url);
    if (!st) return;
    st.nonce = res.nonce;
    st.answered = true;
    const now = Date.now();
    const incoming = new Map<string, DecodedResource>();
    const rejected = new Map<string, string[]>();
    const errors: string[] = [];
    for (const any of res.resources) {
      const r = this.#decode(st, any);
      if (r.errors) {
        errors.push(...r.errors);
        if (r.name) rejected.set(r.name, [...(rejected.get(r.name) ?? []), ...r.errors]);
        continue;
      }
      const d = r.value as DecodedResource;
      if (incoming.has(d.name)) {
        const e = formatResourceError(st.type.kind, d.name, '', 'appears more than once in the response');
        errors.push(e);
        rejected.set(d.name, [...(rejected.get(d.name) ?? []), e]);
        continue;
      }
      if (!st.wants(d.name)) {
        log.debug('ignoring a resource that was not subscribed', { type: st.type.shortName, name: d.name });
        continue;
      }
      incoming.set(d.name, d);
    }

    if (errors.length > 0) {
      // State of the world: the response is one unit; all of it is rejected, all previous stays.
      for (const [name, errs] of rejected) {
        if (st.wants(name)) this.#status.nacked(st.typeUrl, name, errs.join('\n'), res.version_info, now);
      }
      this.#nack(st, res.version_info, res.nonce, errors, [], () => ({
        type_url: st.typeUrl,
        version_info: st.versionInfo,
        resource_names: st.wildcard ? [] : [...st.names].sort(),
        response_nonce: res.nonce,
      }));
      this.#afterChange();
      return;
    }

    for (const d of incoming.values()) this.#accept(st, d, res.version_info, now);
    if (st.type.allResourcesRequiredInSotW) {
      for (const name of [...st.accepted.keys()]) if (!incoming.has(name)) this.#remove(st, name);
      for (const name of st.names) if (!incoming.has(name)) this.#status.doesNotExist(st.typeUrl, name);
      // Names only ever rejected, now gone from the set: nothing is left to report about them.
      for (const name of this.#status.names(st.typeUrl)) {
        if (!incoming.has(name) && !st.names.has(name)) this.#status.forget(st.typeUrl, name);
      }
    }
    st.versionInfo = res.version_info;
    st.sentNames = new Set(st.names);
    this.#write({
      type_url: st.typeUrl,
      version_info: res.version_info,
      resource_names: st.wildcard ? [] : [...st.names].sort(),
      response_nonce: res.nonce,
    } satisfies Outgoing<DiscoveryRequest>);
    this.#acked(st, res.version_info, res.nonce, now);
    this.#afterChange();
  }

  #onDeltaResponse(res: DeltaDiscoveryResponse): void {
    const st = this.#typeFor(res.type_url);
    if (!st) return;
    st.nonce = res.nonce;
    st.answered = true;
    const now = Date.now();
    const errors: string[] = [];
    const applied: string[] = [];
    const seen = new Set<string>();
    for (const r of res.resources) {
      const name = r.name;
      if (!st.wants(name)) {
        log.debug('ignoring a resource that was not subscribed', { type: st.type.shortName, name });
        continue;
      }
      const reject = (errs: readonly string[]) => {
        errors.push(...errs);
        this.#status.nacked(st.typeUrl, name, errs.join('\n'), r.version, now);
      };
      if (seen.has(name)) {
        reject([formatResourceError(st.type.kind, name, '', 'appears more than once in the response')]);
        continue;
      }
      seen.add(name);
      if (!r.resource) {
        // A resource without a body refreshes one we hold (a TTL heartbeat); anything else is wrong.
        if (st.accepted.has(name)) continue;
        reject([
          formatResourceError(st.type.kind, name, '', 'the response names the resource but carries no body'),
        ]);
        continue;
      }
      const d = this.#decode(st, r.resource);
      if (d.errors) {
        reject(d.errors);
        continue;
      }
      const value = d.value as DecodedResource;
      if (value.name !== name) {
        reject([
          formatResourceError(
            st.type.kind,
            name,
            '',
            `the resource inside is named ${JSON.stringify(value.name)}`,
          ),
        ]);
        continue;
      }
      this.#accept(st, value, r.version, now);
      applied.push(name);
    }
    for (const name of res.removed_resources) this.#remove(st, name);

    if (errors.length > 0) {
      this.#nack(st, res.system_version_info, res.nonce, errors, applied, () => ({
        type_url: st.typeUrl,
        response_nonce: res.nonce,
      }));
    } else {
      st.versionInfo = res.system_version_info;
      this.#write({
        type_url: st.typeUrl,
        response_nonce: res.nonce,
      } satisfies Outgoing<DeltaDiscoveryRequest>);
      this.#acked(st, res.system_version_info, res.nonce, now);
    }
    this.#afterChange();
  }

  #accept(st: TypeState, d: DecodedResource, version: string, now: number): void {
    const prev = st.accepted.get(d.name);
    const same = prev !== undefined && st.type.equal(prev.resource, d);
    if (same) {
      prev.version = version;
    } else {
      if (prev) st.byHash.delete(prev.resource.hash);
      const a: AcceptedResource = { resource: d, version, acceptedAt: now };
      st.accepted.set(d.name, a);
      st.byHash.set(d.hash, a);
    }
    this.#status.acked(st.typeUrl, d.name, version, now, !same);
  }

  /** The server no longer has `name`: drop it; a named subscription records DOES_NOT_EXIST. */
  #remove(st: TypeState, name: string): void {
    const prev = st.accepted.get(name);
    if (prev) {
      st.accepted.delete(name);
      st.byHash.delete(prev.resource.hash);
    }
    if (st.names.has(name)) this.#status.doesNotExist(st.typeUrl, name);
    else this.#status.forget(st.typeUrl, name);
  }

  /** Unsubscribed: forget the value and the status. */
  #forget(st: TypeState, name: string): void {
    const prev = st.accepted.get(name);
    if (prev) {
      st.accepted.delete(name);
      st.byHash.delete(prev.resource.hash);
    }
    this.#status.forget(st.typeUrl, name);
  }

  #acked(st: TypeState, version: string, nonce: string, now: number): void {
    st.lastAck = { version, nonce, at: now };
    if (log.enabled('debug')) log.debug('ACK', { type: st.type.shortName, version, nonce });
    this.#emit('ack', { typeUrl: st.typeUrl, version, nonce });
  }

  #nack(
    st: TypeState,
    version: string,
    nonce: string,
    errors: readonly string[],
    applied: readonly string[],
    request: () => object,
  ): void {
    const message = joinNack(errors);
    st.lastNack = { nonce, version, message, at: Date.now() };
    const req = { ...request(), error_detail: { code: NACK_CODE, message } };
    this.#write(req);
    log.warn('NACK: rejected xDS config; the previous config keeps serving', {
      type: st.type.shortName,
      version,
      nonce,
      error: message,
    });
    this.#emit('nack', { typeUrl: st.typeUrl, version, nonce, errors: [...errors], applied: [...applied] });
  }

  // ---------------------------------------------------------------------------------------------
  // Warming and start-up stages
  // ---------------------------------------------------------------------------------------------

  #resolved(d: Dependency): boolean {
    const st = this.#types.get(d.typeUrl);
    if (st?.accepted.has(d.name)) return true;
    const state = this.#status.get(d.typeUrl, d.name);
    return state === ResourceState.DOES_NOT_EXIST || state === ResourceState.NACKED;
  }

  /** After any change of accepted state or a timer: warm, resubscribe, advance start-up, emit. */
  #afterChange(): void {
    if (this.#closed) return;
    const events = this.#view.reconcile({
      accepted: (typeUrl) => this.#types.get(typeUrl)?.accepted ?? new Map(),
      resolved: (d) => this.#resolved(d),
    });
    this.#updateLeafSubscriptions();
    this.#advanceStartup();
    for (const e of events) this.#emit('update', e);
    if (this.#initialized && !this.#initializedEmitted) {
      this.#initializedEmitted = true;
      this.#emit('initialized');
    }
  }

  #rootReady(typeUrl: string): boolean {
    const st = this.#types.get(typeUrl) as TypeState;
    return (st.answered || this.#initTimedOut.has(typeUrl)) && this.#view.warmingCount(typeUrl) === 0;
  }

  #advanceStartup(): void {
    if (!this.#cdsInitDone && this.#rootReady(CLUSTER_TYPE_URL)) {
      this.#cdsInitDone = true;
      this.#clearInitTimer(CLUSTER_TYPE_URL);
      log.info('clusters warmed; requesting listeners', {
        clusters: this.#view.active(CLUSTER_TYPE_URL).size,
      });
      this.#subscribeRoot(LISTENER_TYPE_URL);
    }
    if (this.#cdsInitDone && !this.#initialized && this.#rootReady(LISTENER_TYPE_URL)) {
      this.#initialized = true;
      this.#clearInitTimer(LISTENER_TYPE_URL);
      log.info('initial xDS config applied', {
        clusters: this.#view.active(CLUSTER_TYPE_URL).size,
        listeners: this.#view.active(LISTENER_TYPE_URL).size,
      });
    }
  }

  #clearInitTimer(typeUrl: string): void {
    const t = this.#initTimers.get(typeUrl);
    if (t !== undefined) this.#timers.clearTimeout(t);
    this.#initTimers.delete(typeUrl);
  }
}
