/**
 * `istio.stats` for HTTP (TypedStruct of `stats.PluginConfig`): records Istio's standard request
 * metrics when each stream ends — istio_requests_total, istio_request_duration_milliseconds,
 * istio_request_bytes and istio_response_bytes — labelled with the reporter (the listener's
 * traffic direction), the peer learnt by the metadata exchange, the local workload, the
 * destination service and the outcome (code, gRPC status, response flags).
 *
 * Config: `disable_host_header_fallback` (gateways set it): without an Istio cluster name to
 * take the destination service from, do not fall back to the Host header. Any other field is
 * refused by name.
 */
import { STATS_PLUGIN_CONFIG_TYPE_URL } from '../../../../lib/xds/type-urls.ts';
import type { StatsStore } from '../../../stats/store.ts';
import {
  type DestinationService,
  hostOfAuthority,
  type IstioMetrics,
  istioMetrics,
  parseService,
  REPORTER_DESTINATION,
  reporterOf,
  serviceOfCluster,
} from '../../../telemetry/istio-metrics.ts';
import { type PeerInfo, streamPeers, UNKNOWN_PEER } from '../../../telemetry/peer-metadata.ts';
import type { StructReader } from '../../../telemetry/typed-struct.ts';
import { H_CONTENT_TYPE, type HeaderMap } from '../headers.ts';
import type { HttpFilter, HttpFilterFactory, HttpStream } from './filter.ts';
import type { FilterCompileEnv } from './registry.ts';

export const STATS_PLUGIN_CONFIG_TYPE = STATS_PLUGIN_CONFIG_TYPE_URL;

export interface IstioStatsConfig {
  readonly reporter: string;
  readonly disableHostHeaderFallback: boolean;
  readonly metrics: IstioMetrics;
}

export function compileIstioStatsConfig(config: StructReader, env: FilterCompileEnv): IstioStatsConfig {
  const disableHostHeaderFallback = config.bool('disable_host_header_fallback');
  config.done('istio.stats (stats.PluginConfig)');
  const store = env.services.stats as StatsStore;
  return {
    reporter: reporterOf(String(env.services.trafficDirection ?? 'UNSPECIFIED')),
    disableHostHeaderFallback,
    metrics: istioMetrics(store),
  };
}

/** grpc-status as a label: a number, else nothing (the value comes from the upstream). */
function grpcStatusOf(h: HeaderMap | undefined): string | undefined {
  const v = h?.get('grpc-status');
  return v !== undefined && /^\d{1,4}$/.test(v) ? v : undefined;
}

/** The per-stream half: remembers what only a callback sees (gRPC status in trailers). */
class IstioStatsFilter implements HttpFilter {
  readonly #c: IstioStatsConfig;
  #grpcStatus: string | undefined = undefined;
  constructor(c: IstioStatsConfig) {
    this.#c = c;
  }

  onResponseTrailers(_s: HttpStream, trailers: HeaderMap): 0 {
    this.#grpcStatus = grpcStatusOf(trailers) ?? this.#grpcStatus;
    return 0;
  }

  onDone(s: HttpStream): void {
    const c = this.#c;
    const m = c.metrics;
    // (The entry goes with the stream: streamPeers is weak.)
    const peer: PeerInfo = streamPeers.get(s) ?? UNKNOWN_PEER;
    const inbound = c.reporter === REPORTER_DESTINATION;
    // From the cluster name, else (unless disabled) from the Host header.
    let service: DestinationService | undefined = serviceOfCluster(s.upstreamCluster);
    // Inbound clusters (inbound|PORT||) name their service in Istio's cluster metadata.
    const metadataHost = s.upstreamHost?.cluster.istioServiceHost;
    if (service === undefined && metadataHost !== undefined) service = parseService(metadataHost);
    if (service === undefined && !c.disableHostHeaderFallback && s.authority !== '')
      service = parseService(hostOfAuthority(s.authority));
    const grpc = s.requestHeaders.knownStartsWith(H_CONTENT_TYPE, 'application/grpc');
    let grpcStatus = '';
    if (grpc) grpcStatus = this.#grpcStatus ?? grpcStatusOf(s.responseHeaders) ?? '';
    const hs = m.httpSeries(
      inbound,
      peer,
      service,
      grpc,
      s.responseStatus,
      grpcStatus,
      s.responseFlags,
      s.connection.secure,
    );
    m.requestsTotal.addTo(hs.requests, 1);
    m.requestDuration.recordInto(hs.duration, Date.now() - s.startTime);
    m.requestBytes.recordInto(hs.requestBytes, s.bytesReceived);
    m.responseBytes.recordInto(hs.responseBytes, s.bytesSent);
  }
}

export function istioStatsFactory(name: string, c: IstioStatsConfig): HttpFilterFactory {
  return {
    name,
    terminal: false,
    create: () => new IstioStatsFilter(c),
  };
}
