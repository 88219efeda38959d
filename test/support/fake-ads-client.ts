/**
 * A small ADS client over real gRPC for protocol tests: it plays a proxy by hand. One
 * FakeAdsClient is one channel; each `stream()` / `deltaStream()` opens one ADS stream on it.
 * Responses queue up and are taken in order with `next()`; a stream that ends rejects waiters
 * with its status. No timers: tests bound waiting with node:test's `timeout`.
 */
import * as grpc from '@grpc/grpc-js';
import { unpackAny } from '../../src/lib/xds/any.ts';
import {
  adsServiceDefinition,
  type DeltaDiscoveryRequest,
  type DeltaDiscoveryResponse,
  type DiscoveryRequest,
  type DiscoveryResponse,
  type Outgoing,
  type XdsNode,
} from '../../src/lib/xds/discovery.ts';
import { toProtoStruct } from '../../src/lib/xds/well-known.ts';

type Decoded = Record<string, unknown>;

export interface ReceivedResponse extends DiscoveryResponse {
  /** Resources decoded (Any expanded), in the order sent. */
  readonly decoded: Decoded[];
  /** Their names (`name`, or `cluster_name` for endpoints). */
  readonly names: string[];
}

export interface ReceivedDeltaResponse extends DeltaDiscoveryResponse {
  readonly decoded: Decoded[];
  readonly names: string[];
}

/** A sidecar node with Istio's id form and metadata keys. */
export function sidecarNode(
  pod = 'app-1',
  namespace = 'default',
  ip = '10.0.0.1',
  metadata: Record<string, unknown> = {},
): XdsNode {
  return {
    id: `sidecar~${ip}~${pod}.${namespace}~${namespace}.svc.cluster.local`,
    cluster: `${pod}.${namespace}`,
    metadata: toProtoStruct({ NAMESPACE: namespace, ISTIO_VERSION: '1.24.0', ...metadata }),
    locality: {},
  };
}

/** Waitable FIFO of responses with terminal status. */
class Inbox<T> {
  readonly #items: T[] = [];
  readonly #waiters: { resolve: (v: T) => void; reject: (e: Error) => void }[] = [];
  #ended: Error | undefined;
  readonly received: T[] = [];

  push(item: T): void {
    this.received.push(item);
    const w = this.#waiters.shift();
    if (w) w.resolve(item);
    else this.#items.push(item);
  }
  end(err: Error): void {
    this.#ended ??= err;
    for (const w of this.#waiters.splice(0)) w.reject(err);
  }
  next(): Promise<T> {
    const item = this.#items.shift();
    if (item !== undefined) return Promise.resolve(item);
    if (this.#ended) return Promise.reject(this.#ended);
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }
  /** Responses received and not yet taken with next(). */
  get buffered(): number {
    return this.#items.length;
  }
}

export class StreamEndedError extends Error {
  readonly code: grpc.status;
  readonly details: string;
  constructor(code: grpc.status, details: string) {
    super(`stream ended: ${grpc.status[code]} ${details}`);
    this.code = code;
    this.details = details;
  }
}

function decodeAll(resources: { type_url: string; value: Uint8Array }[]): {
  decoded: Decoded[];
  names: string[];
} {
  const decoded = resources.map((r) => unpackAny(r));
  const names = decoded.map((d) => String(d.name || d.cluster_name || ''));
  return { decoded, names };
}

abstract class BaseStream<Req, Res> {
  protected readonly call: grpc.ClientDuplexStream<Req, Res>;
  protected readonly inbox: Inbox<Res>;
  readonly status: Promise<grpc.StatusObject>;
  #node: XdsNode | null;

  constructor(call: grpc.ClientDuplexStream<Req, Res>, node: XdsNode | null, decode: (raw: Res) => Res) {
    this.call = call;
    this.#node = node;
    this.inbox = new Inbox<Res>();
    call.on('data', (raw: Res) => this.inbox.push(decode(raw)));
    this.status = new Promise((resolve) => {
      call.on('status', (s: grpc.StatusObject) => {
        this.inbox.end(new StreamEndedError(s.code, s.details));
        resolve(s);
      });
    });
    // Errors also arrive as 'status'; this listener keeps them from being unhandled.
    call.on('error', () => {});
  }

  /** Sends a raw request; the node goes into the first one unless the test already set it. */
  send(req: Req): void {
    const r = req as Req & { node?: XdsNode | null };
    if (this.#node && r.node === undefined) r.node = this.#node;
    this.#node = null;
    this.call.write(req);
  }

  /** The next response, in arrival order. */
  next(): Promise<Res> {
    return this.inbox.next();
  }

  /** Every response received so far, including those not yet taken. */
  get received(): readonly Res[] {
    return this.inbox.received;
  }
  get buffered(): number {
    return this.inbox.buffered;
  }

  /** Half-closes the stream (the server then ends it). */
  end(): void {
    this.call.end();
  }
  cancel(): void {
    this.call.cancel();
  }
}

/** A state-of-the-world ADS stream. */
export class FakeAdsStream extends BaseStream<Outgoing<DiscoveryRequest>, ReceivedResponse> {
  constructor(
    call: grpc.ClientDuplexStream<Outgoing<DiscoveryRequest>, ReceivedResponse>,
    node: XdsNode | null,
  ) {
    super(call, node, (raw) => ({ ...raw, ...decodeAll(raw.resources) }));
  }

  /** A first request (or re-request) for a type: no nonce. */
  request(typeUrl: string, resourceNames: string[] = [], versionInfo = '', responseNonce = ''): void {
    this.send({
      type_url: typeUrl,
      resource_names: resourceNames,
      version_info: versionInfo,
      response_nonce: responseNonce,
    });
  }

  /** ACKs a response, optionally changing the subscription in the same request. */
  ack(res: DiscoveryResponse, resourceNames: string[] = []): void {
    this.send({
      type_url: res.type_url,
      resource_names: resourceNames,
      version_info: res.version_info,
      response_nonce: res.nonce,
    });
  }

  /** NACKs a response: the version stays the last accepted one, error_detail says why. */
  nack(
    res: DiscoveryResponse,
    message: string,
    lastAcceptedVersion = '',
    resourceNames: string[] = [],
  ): void {
    this.send({
      type_url: res.type_url,
      resource_names: resourceNames,
      version_info: lastAcceptedVersion,
      response_nonce: res.nonce,
      error_detail: { code: grpc.status.INVALID_ARGUMENT, message },
    });
  }

  /** The next response, which must be of `typeUrl`. */
  async nextOf(typeUrl: string): Promise<ReceivedResponse> {
    const res = await this.next();
    if (res.type_url !== typeUrl) throw new Error(`expected a response of ${typeUrl}, got ${res.type_url}`);
    return res;
  }
}

/** A delta ADS stream. */
export class FakeDeltaAdsStream extends BaseStream<Outgoing<DeltaDiscoveryRequest>, ReceivedDeltaResponse> {
  constructor(
    call: grpc.ClientDuplexStream<Outgoing<DeltaDiscoveryRequest>, ReceivedDeltaResponse>,
    node: XdsNode | null,
  ) {
    super(call, node, (raw) => ({ ...raw, ...decodeAll(raw.resources.map((r) => r.resource)) }));
  }

  subscribe(
    typeUrl: string,
    names: string[] = [],
    initialResourceVersions: Record<string, string> = {},
  ): void {
    this.send({
      type_url: typeUrl,
      resource_names_subscribe: names,
      initial_resource_versions: initialResourceVersions,
    });
  }

  unsubscribe(typeUrl: string, names: string[]): void {
    this.send({ type_url: typeUrl, resource_names_unsubscribe: names });
  }

  ack(res: DeltaDiscoveryResponse): void {
    this.send({ type_url: res.type_url, response_nonce: res.nonce });
  }

  nack(res: DeltaDiscoveryResponse, message: string): void {
    this.send({
      type_url: res.type_url,
      response_nonce: res.nonce,
      error_detail: { code: grpc.status.INVALID_ARGUMENT, message },
    });
  }

  async nextOf(typeUrl: string): Promise<ReceivedDeltaResponse> {
    const res = await this.next();
    if (res.type_url !== typeUrl)
      throw new Error(`expected a delta response of ${typeUrl}, got ${res.type_url}`);
    return res;
  }
}

type AdsClient = grpc.Client & {
  StreamAggregatedResources(): grpc.ClientDuplexStream<Outgoing<DiscoveryRequest>, DiscoveryResponse>;
  DeltaAggregatedResources(): grpc.ClientDuplexStream<
    Outgoing<DeltaDiscoveryRequest>,
    DeltaDiscoveryResponse
  >;
};

/** One gRPC channel to an ADS server (`127.0.0.1:PORT`). */
export class FakeAdsClient {
  readonly #client: AdsClient;
  readonly #streams = new Set<BaseStream<unknown, unknown>>();

  constructor(address: string, options: grpc.ChannelOptions = {}) {
    const Ctor = grpc.makeGenericClientConstructor(adsServiceDefinition(), 'AggregatedDiscoveryService');
    this.#client = new Ctor(address, grpc.credentials.createInsecure(), options) as unknown as AdsClient;
  }

  /** Opens a SotW stream; `node` is sent with the first request (null: never). */
  stream(node: XdsNode | null = sidecarNode()): FakeAdsStream {
    const call = this.#client.StreamAggregatedResources() as unknown as grpc.ClientDuplexStream<
      Outgoing<DiscoveryRequest>,
      ReceivedResponse
    >;
    const s = new FakeAdsStream(call, node);
    this.#streams.add(s as BaseStream<unknown, unknown>);
    return s;
  }

  deltaStream(node: XdsNode | null = sidecarNode()): FakeDeltaAdsStream {
    const call = this.#client.DeltaAggregatedResources() as unknown as grpc.ClientDuplexStream<
      Outgoing<DeltaDiscoveryRequest>,
      ReceivedDeltaResponse
    >;
    const s = new FakeDeltaAdsStream(call, node);
    this.#streams.add(s as BaseStream<unknown, unknown>);
    return s;
  }

  /** Cancels every stream and closes the channel. */
  close(): void {
    for (const s of this.#streams) s.cancel();
    this.#streams.clear();
    this.#client.close();
  }
}
