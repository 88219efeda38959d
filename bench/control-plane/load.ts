/**
 * The load client: a separate process (forked by run.ts, driven over IPC) that holds N
 * simulated sidecars, each a real ADS stream (SotW by default, delta with `delta: true`) on
 * one of a few gRPC channels, and behaves like Envoy's xDS client: CDS and LDS wildcard, EDS
 * for every EDS cluster CDS named, RDS for every route name LDS named, and an ACK for every
 * response. Responses are read with wire.ts (names only), so the client stays cheap.
 *
 * It records, per proxy, when it ACKed each push version, and answers run.ts's questions:
 * "has every proxy ACKed version V?" and "how long after T did each affected proxy ACK V?".
 */
import { createHash } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { decodeMessage } from '../../src/lib/xds/protos.ts';
import {
  CLUSTER_TYPE_URL,
  ENDPOINT_TYPE_URL,
  LISTENER_TYPE_URL,
  ROUTE_TYPE_URL,
} from '../../src/lib/xds/type-urls.ts';
import { toProtoStruct } from '../../src/lib/xds/well-known.ts';
import {
  CLUSTER_TYPE_EDS,
  type RawResponse,
  readDeltaDiscoveryResponse,
  readDiscoveryResponse,
  resourceHead,
} from './wire.ts';

const ADS = 'envoy.service.discovery.v3.AggregatedDiscoveryService';

export type LoadCommand =
  | {
      type: 'start';
      address: string;
      proxies: number;
      perChannel: number;
      delta: boolean;
      namespaces: number;
    }
  | {
      type: 'await';
      id: number;
      version: string;
      typeUrl?: string;
      clusterPrefix?: string;
      since: number;
      quietMs: number;
      timeoutMs: number;
      /**
       * Report each proxy's FIRST matching ACK (when it had the change) instead of its last,
       * without waiting for quiet: for a change made while a full push is still under way.
       */
      first?: boolean;
    }
  | { type: 'stop' };

export type LoadReply =
  | { type: 'synced'; ms: number; responses: number; bytes: number }
  | {
      type: 'acked';
      id: number;
      affected: number;
      done: number;
      /** ACK time minus `since`, per affected proxy that ACKed, ms. */
      latencies: number[];
      timedOut: boolean;
    }
  | { type: 'error'; message: string };

const send = (m: LoadReply) => process.send?.(m);

function versionOrder(v: string): number {
  return Number(v.slice(v.lastIndexOf('/') + 1));
}

const encodeRequest = (name: string) => (msg: object) => {
  // DiscoveryRequest encoding is small; protobufjs does it.
  return Buffer.from(encode(name, msg));
};
let encode: (name: string, msg: object) => Uint8Array;

interface ProxyState {
  readonly index: number;
  readonly call: grpc.ClientDuplexStream<object, RawResponse>;
  readonly subs: Map<string, Set<string>>;
  /** version order -> ACK time (Date.now) of the latest response of that version, per type. */
  readonly acks: Map<string, Map<number, number>>;
  /**
   * EDS: version order -> each response's ACK time and cluster names ('all' for a large one).
   * A list: responses of several pushes may carry one version (mizzend stamps the current one).
   */
  readonly edsNames: Map<number, { at: number; names: string[] | 'all' }[]>;
  started: Set<string>;
}

const listenerRoutes = new Map<string, string[]>();

/** Route names an LDS response points at (decoded once per distinct listener). */
function routeNames(values: Uint8Array[]): Set<string> {
  const out = new Set<string>();
  for (const v of values) {
    const key = createHash('sha1').update(v).digest('base64');
    let names = listenerRoutes.get(key);
    if (!names) {
      const json = JSON.stringify(decodeMessage(LISTENER_TYPE_URL, v));
      names = [...json.matchAll(/"route_config_name":"([^"]+)"/g)].map((m) => m[1]);
      listenerRoutes.set(key, names);
    }
    for (const n of names) out.add(n);
  }
  return out;
}

function sameSet(a: Set<string> | undefined, b: Set<string>): boolean {
  if (!a || a.size !== b.size) return false;
  for (const x of b) if (!a.has(x)) return false;
  return true;
}

let proxies: ProxyState[] = [];
let clients: grpc.Client[] = [];
let lastResponseAt = 0;
let totalResponses = 0;
let totalBytes = 0;
let delta = false;
let syncWaiter: (() => void) | undefined;
let pendingSync = 0;
const synced = new Set<number>();

function node(i: number, namespaces: number) {
  const ns = `ns-${i % namespaces}`;
  return {
    id: `sidecar~10.200.${(i >> 8) & 255}.${i & 255}~load-${i}.${ns}~${ns}.svc.cluster.local`,
    cluster: `load-${i}.${ns}`,
    locality: {},
    metadata: toProtoStruct({
      NAMESPACE: ns,
      ISTIO_VERSION: '1.24.0',
      LABELS: { app: `load-${i}` },
      CLUSTER_ID: 'Kubernetes',
    }),
  };
}

function request(p: ProxyState, typeUrl: string, names: Set<string>, res?: LastSeen, first?: object): void {
  p.subs.set(typeUrl, names);
  if (delta) {
    // Delta: subscription changes are explicit; an ACK carries only the nonce.
    p.call.write({
      type_url: typeUrl,
      response_nonce: res?.nonce ?? '',
      resource_names_subscribe: res ? [] : [...names],
      ...(first ?? {}),
    });
    return;
  }
  p.call.write({
    type_url: typeUrl,
    version_info: res?.versionInfo ?? '',
    response_nonce: res?.nonce ?? '',
    resource_names: [...names],
    ...(first ?? {}),
  });
}

function onResponse(p: ProxyState, res: RawResponse): void {
  const now = Date.now();
  lastResponseAt = now;
  totalResponses++;
  totalBytes += res.bytes;
  const t = res.typeUrl;
  const current = p.subs.get(t) ?? new Set<string>();
  // ACK first (with the subscription as it stands), as Envoy does.
  if (delta) {
    p.call.write({ type_url: t, response_nonce: res.nonce });
  } else {
    p.call.write({
      type_url: t,
      version_info: res.versionInfo,
      response_nonce: res.nonce,
      resource_names: [...current],
    });
  }
  const v = versionOrder(res.versionInfo);
  let byVersion = p.acks.get(t);
  if (!byVersion) p.acks.set(t, (byVersion = new Map()));
  byVersion.set(v, now);

  if (t === CLUSTER_TYPE_URL) {
    const eds = new Set<string>();
    if (delta) for (const n of p.subs.get(ENDPOINT_TYPE_URL) ?? []) eds.add(n);
    for (const r of res.resources) {
      const h = resourceHead(r.value);
      if (h.field2 === CLUSTER_TYPE_EDS) eds.add(h.name);
    }
    if (delta) for (const n of res.removed) eds.delete(n);
    const before = p.subs.get(ENDPOINT_TYPE_URL);
    if (!sameSet(before, eds)) {
      if (delta) {
        const sub = [...eds].filter((n) => !before?.has(n));
        const unsub = [...(before ?? [])].filter((n) => !eds.has(n));
        p.subs.set(ENDPOINT_TYPE_URL, eds);
        p.call.write({
          type_url: ENDPOINT_TYPE_URL,
          resource_names_subscribe: sub,
          resource_names_unsubscribe: unsub,
        });
      } else {
        const last = p.acks.get(ENDPOINT_TYPE_URL);
        request(p, ENDPOINT_TYPE_URL, eds, last ? lastEds.get(p.index) : undefined);
      }
    }
    if (!p.started.has(LISTENER_TYPE_URL)) {
      p.started.add(LISTENER_TYPE_URL);
      request(p, LISTENER_TYPE_URL, new Set());
    }
  } else if (t === ENDPOINT_TYPE_URL) {
    if (!delta) lastEds.set(p.index, { versionInfo: res.versionInfo, nonce: res.nonce });
    // Names are kept for small (incremental) responses only; a large one is every cluster.
    const names: string[] | 'all' = res.resources.length > NAMED_EDS_LIMIT ? 'all' : [];
    if (names !== 'all') for (const r of res.resources) names.push(resourceHead(r.value).name);
    let list = p.edsNames.get(v);
    if (!list) p.edsNames.set(v, (list = []));
    list.push({ at: now, names });
  } else if (t === LISTENER_TYPE_URL) {
    const routes = routeNames(res.resources.map((r) => r.value));
    const before = p.subs.get(ROUTE_TYPE_URL);
    if (!sameSet(before, routes)) {
      if (delta) {
        const sub = [...routes].filter((n) => !before?.has(n));
        const unsub = [...(before ?? [])].filter((n) => !routes.has(n));
        p.subs.set(ROUTE_TYPE_URL, routes);
        p.call.write({
          type_url: ROUTE_TYPE_URL,
          resource_names_subscribe: sub,
          resource_names_unsubscribe: unsub,
        });
      } else {
        request(p, ROUTE_TYPE_URL, routes, lastRds.get(p.index));
      }
    }
  } else if (t === ROUTE_TYPE_URL && !delta) {
    lastRds.set(p.index, { versionInfo: res.versionInfo, nonce: res.nonce });
  }
  checkSynced(p);
}

/**
 * SotW: version and nonce of the last response per type, which a subscription change must
 * carry. Only these two strings are kept: holding the response would pin megabytes per proxy.
 */
type LastSeen = Pick<RawResponse, 'versionInfo' | 'nonce'>;
const lastEds = new Map<number, LastSeen>();
const lastRds = new Map<number, LastSeen>();
/** Above this many resources an EDS response is taken to carry every watched cluster. */
const NAMED_EDS_LIMIT = 64;

function checkSynced(p: ProxyState): void {
  if (synced.has(p.index)) return;
  for (const t of [CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL, LISTENER_TYPE_URL, ROUTE_TYPE_URL]) {
    if (!p.acks.get(t)?.size) return;
  }
  synced.add(p.index);
  if (--pendingSync === 0) syncWaiter?.();
}

async function start(cmd: Extract<LoadCommand, { type: 'start' }>): Promise<void> {
  const { envoyProtos, messageType } = await import('../../src/lib/xds/protos.ts');
  envoyProtos();
  encode = (name, msg) => {
    const type = messageType(name);
    return type.encode(type.fromObject(msg as Record<string, unknown>)).finish();
  };
  delta = cmd.delta;
  const method = delta ? 'DeltaAggregatedResources' : 'StreamAggregatedResources';
  const reqType = `envoy.service.discovery.v3.${delta ? 'Delta' : ''}DiscoveryRequest`;
  const read = delta ? readDeltaDiscoveryResponse : readDiscoveryResponse;
  const Ctor = grpc.makeGenericClientConstructor(
    {
      [method]: {
        path: `/${ADS}/${method}`,
        requestStream: true,
        responseStream: true,
        requestSerialize: encodeRequest(reqType),
        requestDeserialize: (b: Buffer) => b,
        responseSerialize: (b: Buffer) => b,
        responseDeserialize: (b: Buffer) => read(b),
      },
    },
    'AggregatedDiscoveryService',
  );
  const channels = Math.ceil(cmd.proxies / cmd.perChannel);
  clients = Array.from(
    { length: channels },
    () =>
      new Ctor(cmd.address, grpc.credentials.createInsecure(), {
        'grpc.max_receive_message_length': -1,
        // Each channel its own HTTP/2 connection (no shared subchannel pool).
        'grpc.use_local_subchannel_pool': 1,
        // grpc-js' 64 KiB window throttles every stream to one window per round trip of this
        // busy process, which measures its WINDOW_UPDATE latency, not mizzend. Envoy's default
        // is 256 MiB, but this client cannot read that fast on a shared machine: data queued
        // ahead of mizzend's keepalive pings made them time out and connections drop. 1 MiB.
        'grpc-node.flow_control_window': 1024 * 1024,
      }),
  );
  pendingSync = cmd.proxies;
  const started = Date.now();
  const done = new Promise<void>((resolve) => {
    syncWaiter = resolve;
  });
  for (let i = 0; i < cmd.proxies; i++) {
    const client = clients[i % channels] as unknown as Record<
      string,
      () => grpc.ClientDuplexStream<object, RawResponse>
    >;
    const call = client[method]();
    const p: ProxyState = {
      index: i,
      call,
      subs: new Map(),
      acks: new Map(),
      edsNames: new Map(),
      started: new Set(),
    };
    proxies.push(p);
    call.on('data', (res: RawResponse) => onResponse(p, res));
    call.on('error', (err: grpc.ServiceError) => {
      if (err.code !== grpc.status.CANCELLED) send({ type: 'error', message: `proxy ${i}: ${err.message}` });
    });
    request(p, CLUSTER_TYPE_URL, new Set(), undefined, { node: node(i, cmd.namespaces) });
    // Yield now and then so thousands of stream openings do not starve the event loop.
    if (i % 100 === 99) await new Promise((r) => setImmediate(r));
  }
  // Progress on stderr while a large mesh syncs (minutes at full size).
  const progress = setInterval(() => {
    process.stderr.write(
      `load: ${synced.size}/${cmd.proxies} proxies synced, ${totalResponses} responses, ${(totalBytes / 2 ** 20).toFixed(0)} MB, ${((Date.now() - started) / 1000).toFixed(0)} s\n`,
    );
  }, 15_000);
  await done;
  clearInterval(progress);
  send({ type: 'synced', ms: Date.now() - started, responses: totalResponses, bytes: totalBytes });
}

/**
 * Waits until every affected proxy ACKed a response of version >= `version` (of `typeUrl`,
 * and for EDS one naming a cluster starting with `clusterPrefix`), then for `quietMs` without
 * any response, and reports each affected proxy's last such ACK relative to `since`.
 */
async function awaitVersion(cmd: Extract<LoadCommand, { type: 'await' }>): Promise<void> {
  const target = versionOrder(cmd.version);
  const types = cmd.typeUrl
    ? [cmd.typeUrl]
    : [CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL, LISTENER_TYPE_URL, ROUTE_TYPE_URL];
  const affected = proxies.filter(
    (p) =>
      !cmd.clusterPrefix ||
      [...(p.subs.get(ENDPOINT_TYPE_URL) ?? [])].some((n) => n.includes(cmd.clusterPrefix as string)),
  );
  const lastAck = (p: ProxyState): number | undefined => {
    let last: number | undefined;
    for (const t of types) {
      const times: number[] = [];
      if (t === ENDPOINT_TYPE_URL && cmd.clusterPrefix) {
        const prefix = cmd.clusterPrefix;
        for (const [v, list] of p.edsNames) {
          // `first`: any response naming the cluster since the edit. During a full push a proxy
          // may get the new endpoints before the endpoint push starts (generators read the live
          // endpoint index), in a response stamped with the older version.
          if (!cmd.first && v < target) continue;
          for (const e of list) {
            if (cmd.first && e.at < cmd.since) continue;
            if (e.names === 'all' || e.names.some((n) => n.includes(prefix))) times.push(e.at);
          }
        }
      } else {
        for (const [v, at] of p.acks.get(t) ?? []) if (v >= target) times.push(at);
      }
      for (const at of times)
        last = last === undefined ? at : cmd.first ? Math.min(last, at) : Math.max(last, at);
    }
    return last;
  };
  const deadline = Date.now() + cmd.timeoutMs;
  for (;;) {
    const done = affected.filter((p) => lastAck(p) !== undefined).length;
    const quiet = cmd.first || Date.now() - lastResponseAt >= cmd.quietMs;
    if ((done === affected.length && quiet) || Date.now() > deadline) {
      const latencies = affected
        .map(lastAck)
        .filter((x): x is number => x !== undefined)
        .map((x) => x - cmd.since);
      send({
        type: 'acked',
        id: cmd.id,
        affected: affected.length,
        done,
        latencies,
        timedOut: done < affected.length,
      });
      return;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

process.on('message', (cmd: LoadCommand) => {
  const fail = (err: unknown) =>
    send({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  if (cmd.type === 'start') start(cmd).catch(fail);
  else if (cmd.type === 'await') awaitVersion(cmd).catch(fail);
  else if (cmd.type === 'stop') {
    for (const p of proxies) p.call.cancel();
    for (const c of clients) c.close();
    proxies = [];
    process.disconnect?.();
  }
});
