/**
 * Istio's standard metrics (istio_requests_total & co): names, labels in Istio's order, buckets,
 * and how the labels are derived from the reporter, the two peers and the stream. The HTTP
 * `istio.stats` filter and the TCP network filter both record through `IstioMetrics`.
 */

import type { LabeledFamily, LabeledSeries } from '../stats/labeled.ts';
import { DEFAULT_BUCKETS, type StatsStore } from '../stats/store.ts';
import { formatResponseFlags } from '../stream-info.ts';
import { type PeerInfo, peerFromMetadata, UNKNOWN } from './peer-metadata.ts';

/** Labels of the HTTP metrics, in the order Istio's stats plugin emits them. */
export const HTTP_LABELS: readonly string[] = [
  'reporter',
  'source_workload',
  'source_canonical_service',
  'source_canonical_revision',
  'source_workload_namespace',
  'source_principal',
  'source_app',
  'source_version',
  'source_cluster',
  'destination_workload',
  'destination_workload_namespace',
  'destination_principal',
  'destination_app',
  'destination_version',
  'destination_service',
  'destination_canonical_service',
  'destination_canonical_revision',
  'destination_service_name',
  'destination_service_namespace',
  'destination_cluster',
  'request_protocol',
  'response_code',
  'grpc_response_status',
  'response_flags',
  'connection_security_policy',
];

/** The TCP metrics have the same labels without response_code and grpc_response_status. */
export const TCP_LABELS: readonly string[] = HTTP_LABELS.filter(
  (l) => l !== 'response_code' && l !== 'grpc_response_status',
);

/** Istio's buckets for durations (ms) and sizes (bytes): Envoy's defaults. */
export const ISTIO_BUCKETS: readonly number[] = DEFAULT_BUCKETS;

export const REPORTER_SOURCE = 'source';
export const REPORTER_DESTINATION = 'destination';

/** INBOUND listeners report as the destination; OUTBOUND (sidecar egress, gateways) as the source. */
export function reporterOf(trafficDirection: string): string {
  return trafficDirection === 'INBOUND' ? REPORTER_DESTINATION : REPORTER_SOURCE;
}

export interface DestinationService {
  readonly service: string;
  readonly name: string;
  /** '' when the host does not say (the caller falls back to the workload namespace). */
  readonly namespace: string;
}

const parsedServices = new Map<string, DestinationService>();

/**
 * `outbound|9080|v1|reviews.default.svc.cluster.local` → reviews.default.svc.cluster.local; a
 * `<name>.<ns>.svc.<domain>` host also gives the service name and namespace. Istio's inbound
 * clusters (`inbound|9080||`) name no host: undefined, and the caller falls back.
 */
export function serviceFromCluster(cluster: string | undefined): string | undefined {
  if (cluster === undefined) return undefined;
  if (!cluster.startsWith('outbound|') && !cluster.startsWith('inbound|')) return undefined;
  const parts = cluster.split('|');
  if (parts.length !== 4 || parts[3] === '') return undefined;
  return parts[3];
}

const byCluster = new Map<string, DestinationService | null>();

/** serviceFromCluster + parseService, cached by cluster name (the names repeat per request). */
export function serviceOfCluster(cluster: string | undefined): DestinationService | undefined {
  if (cluster === undefined) return undefined;
  let d = byCluster.get(cluster);
  if (d === undefined) {
    const host = serviceFromCluster(cluster);
    d = host === undefined ? null : parseService(host);
    if (byCluster.size >= 4096) byCluster.clear();
    byCluster.set(cluster, d);
  }
  return d ?? undefined;
}

/** Host (port stripped) → service, name and namespace (cached; the inputs repeat). */
export function parseService(host: string): DestinationService {
  let d = parsedServices.get(host);
  if (d !== undefined) return d;
  const labels = host.split('.');
  if (labels.length >= 3 && labels[2] === 'svc' && labels[0] !== '' && labels[1] !== '')
    d = { service: host, name: labels[0], namespace: labels[1] };
  else d = { service: host, name: host, namespace: '' };
  if (parsedServices.size >= 4096) parsedServices.clear();
  parsedServices.set(host, d);
  return d;
}

/** Authority without its port ('' stays ''). */
export function hostOfAuthority(authority: string): string {
  if (authority.startsWith('[')) {
    const end = authority.indexOf(']');
    return end < 0 ? authority : authority.slice(0, end + 1);
  }
  const colon = authority.lastIndexOf(':');
  return colon < 0 ? authority : authority.slice(0, colon);
}

/** The four HTTP series that share one label set (undefined where a family is at its cap). */
export interface HttpSeries {
  readonly requests: LabeledSeries | undefined;
  readonly duration: LabeledSeries | undefined;
  readonly requestBytes: LabeledSeries | undefined;
  readonly responseBytes: LabeledSeries | undefined;
}

/** Stands for "no destination service" as a WeakMap key. */
const NO_SERVICE: DestinationService = { service: UNKNOWN, name: UNKNOWN, namespace: '' };
/** Distinct outcomes kept per (peer, service) before the cache starts over. */
const MAX_OUTCOMES = 512;

/** Per stats store: the families and the local workload. */
export class IstioMetrics {
  readonly requestsTotal: LabeledFamily;
  readonly requestDuration: LabeledFamily;
  readonly requestBytes: LabeledFamily;
  readonly responseBytes: LabeledFamily;
  readonly tcpOpened: LabeledFamily;
  readonly tcpClosed: LabeledFamily;
  readonly tcpSent: LabeledFamily;
  readonly tcpReceived: LabeledFamily;
  readonly local: PeerInfo;
  readonly store: StatsStore;
  /**
   * Series by (direction, peer object, service object, outcome): peers and services come from
   * caches that hand out the same object for the same input, so a request costs two WeakMap
   * lookups and one numeric-key Map lookup, not a join of 25 labels. Weak keys let entries go
   * when those caches drop the objects.
   */
  readonly #outboundCache = new WeakMap<
    PeerInfo,
    WeakMap<DestinationService, Map<number | string, HttpSeries>>
  >();
  readonly #inboundCache = new WeakMap<
    PeerInfo,
    WeakMap<DestinationService, Map<number | string, HttpSeries>>
  >();

  constructor(store: StatsStore) {
    this.store = store;
    this.requestsTotal = store.labeled('istio_requests_total', 'counter', HTTP_LABELS);
    this.requestDuration = store.labeled(
      'istio_request_duration_milliseconds',
      'histogram',
      HTTP_LABELS,
      ISTIO_BUCKETS,
    );
    this.requestBytes = store.labeled('istio_request_bytes', 'histogram', HTTP_LABELS, ISTIO_BUCKETS);
    this.responseBytes = store.labeled('istio_response_bytes', 'histogram', HTTP_LABELS, ISTIO_BUCKETS);
    this.tcpOpened = store.labeled('istio_tcp_connections_opened_total', 'counter', TCP_LABELS);
    this.tcpClosed = store.labeled('istio_tcp_connections_closed_total', 'counter', TCP_LABELS);
    this.tcpSent = store.labeled('istio_tcp_sent_bytes_total', 'counter', TCP_LABELS);
    this.tcpReceived = store.labeled('istio_tcp_received_bytes_total', 'counter', TCP_LABELS);
    this.local = peerFromMetadata(store.localNode ?? {}, store.localNodeId);
  }

  /**
   * The HTTP series for one request's labels (cached; see #httpCache). The outcome key is a
   * number for plain HTTP (flags, status, TLS bit) and a short string only for gRPC.
   */
  httpSeries(
    inbound: boolean,
    peer: PeerInfo,
    service: DestinationService | undefined,
    grpc: boolean,
    status: number,
    grpcStatus: string,
    flags: number,
    secure: boolean,
  ): HttpSeries {
    const cache = inbound ? this.#inboundCache : this.#outboundCache;
    let byService = cache.get(peer);
    if (byService === undefined) {
      byService = new WeakMap();
      cache.set(peer, byService);
    }
    const sk = service ?? NO_SERVICE;
    let byOutcome = byService.get(sk);
    if (byOutcome === undefined) {
      byOutcome = new Map();
      byService.set(sk, byOutcome);
    }
    const code = status > 0 && status <= 999 ? status : 0;
    const ok: number | string = grpc
      ? `${grpcStatus}|${flags}|${code}|${secure ? 1 : 0}`
      : (flags * 1024 + code) * 2 + (secure ? 1 : 0);
    let hs = byOutcome.get(ok);
    if (hs === undefined) {
      const reporter = inbound ? REPORTER_DESTINATION : REPORTER_SOURCE;
      const labels = this.peerLabels(
        reporter,
        inbound ? peer : this.local,
        inbound ? this.local : peer,
        service,
      );
      labels.push(
        grpc ? 'grpc' : 'http',
        String(code),
        grpcStatus,
        formatResponseFlags(flags),
        // Destination side: plaintext is "none"; TLS without mTLS identities cannot say more.
        inbound ? (secure ? UNKNOWN : 'none') : UNKNOWN,
      );
      const key = labels.join('\u0001');
      hs = {
        requests: this.requestsTotal.series(labels, key),
        duration: this.requestDuration.series(labels, key),
        requestBytes: this.requestBytes.series(labels, key),
        responseBytes: this.responseBytes.series(labels, key),
      };
      // Only cache resolved series: a refused one is retried once the family has room.
      if (hs.requests !== undefined) {
        if (byOutcome.size >= MAX_OUTCOMES) byOutcome.clear();
        byOutcome.set(ok, hs);
      }
    }
    return hs;
  }

  /**
   * The labels shared by HTTP and TCP samples (everything up to destination_cluster), with
   * Istio's fallbacks: the destination namespace of a host that does not name one is the
   * destination workload's.
   */
  peerLabels(
    reporter: string,
    source: PeerInfo,
    destination: PeerInfo,
    service: DestinationService | undefined,
  ): string[] {
    return [
      reporter,
      source.workload,
      source.canonicalService,
      source.canonicalRevision,
      source.namespace,
      UNKNOWN, // source_principal: needs mTLS peer certificates
      source.app,
      source.version,
      source.cluster,
      destination.workload,
      destination.namespace,
      UNKNOWN, // destination_principal: needs mTLS
      destination.app,
      destination.version,
      service?.service ?? UNKNOWN,
      destination.canonicalService,
      destination.canonicalRevision,
      service?.name ?? UNKNOWN,
      service === undefined ? UNKNOWN : service.namespace || destination.namespace,
      destination.cluster,
    ];
  }
}

const byStore = new WeakMap<StatsStore, IstioMetrics>();

/** The store's Istio metrics (created on first use, after the local node is known). */
export function istioMetrics(store: StatsStore): IstioMetrics {
  let m = byStore.get(store);
  if (m === undefined || m.local.id !== store.localNodeId) {
    m = new IstioMetrics(store);
    byStore.set(store, m);
  }
  return m;
}
