/**
 * `istio.stats` as a network filter before tcp_proxy (TypedStruct of `stats.PluginConfig`):
 * istio_tcp_connections_opened_total when the upstream connection is up (or at close, for a
 * connection that never got one), and closed_total plus sent/received bytes at close.
 *
 * Peers over TCP: Istio learns them by a TCP metadata exchange inside mTLS (ALPN
 * `istio-peer-exchange`), which needs mTLS. Without it the remote peer is "unknown": inbound,
 * the source is unknown and the destination is this workload; outbound, the source is this
 * workload and the destination service comes from the cluster name (`outbound|P||host`), the
 * destination workload stays unknown.
 *
 * Bytes are reported when the connection closes (Istio also flushes long-lived connections
 * periodically; not done here).
 */
import type { NetworkFilterEnv, NetworkFilterFactory } from '../network/network-filter.ts';
import { formatResponseFlags } from '../stream-info.ts';
import {
  istioMetrics,
  parseService,
  REPORTER_DESTINATION,
  reporterOf,
  serviceFromCluster,
} from './istio-metrics.ts';
import { UNKNOWN, UNKNOWN_PEER } from './peer-metadata.ts';
import type { StructReader } from './typed-struct.ts';

export function compileTcpIstioStats(
  config: StructReader,
  filterName: string,
  env: NetworkFilterEnv,
): NetworkFilterFactory {
  // Gateways send it for HTTP; harmless for TCP, where there is no Host header to fall back to.
  config.bool('disable_host_header_fallback');
  config.done('istio.stats (stats.PluginConfig)');
  const reporter = reporterOf(env.trafficDirection);
  const inbound = reporter === REPORTER_DESTINATION;
  const m = istioMetrics(env.stats);
  return {
    name: filterName,
    open(info) {
      let opened = false;
      let labels: string[] | undefined;
      const labelsFor = (cluster: string | undefined, flags: number): string[] => {
        const host = serviceFromCluster(cluster);
        const service = host === undefined ? undefined : parseService(host);
        const l = m.peerLabels(
          reporter,
          inbound ? UNKNOWN_PEER : m.local,
          inbound ? m.local : UNKNOWN_PEER,
          service,
        );
        l.push('tcp', formatResponseFlags(flags), inbound ? (info.secure ? UNKNOWN : 'none') : UNKNOWN);
        return l;
      };
      return {
        onUpstreamConnected(cluster) {
          opened = true;
          labels = labelsFor(cluster, 0);
          m.tcpOpened.add(labels, 1);
        },
        onClose(summary) {
          // Flags known only now (UF, UH, NC) label the close; the open sample keeps its labels.
          const closeLabels =
            labels !== undefined && summary.responseFlags === 0
              ? labels
              : labelsFor(summary.upstreamCluster, summary.responseFlags);
          if (!opened) m.tcpOpened.add(closeLabels, 1);
          m.tcpClosed.add(closeLabels, 1);
          m.tcpReceived.add(closeLabels, summary.bytesReceived);
          m.tcpSent.add(closeLabels, summary.bytesSent);
        },
      };
    },
  };
}
