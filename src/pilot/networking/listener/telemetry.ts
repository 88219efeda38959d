/**
 * Adds Istio's default telemetry filters to built sidecar and gateway listeners, in one pass
 * over every filter chain, so no chain builder can forget them:
 *
 * - every HttpConnectionManager: `istio.metadata_exchange` first, `istio.stats` right before
 *   the router;
 * - every chain whose terminal filter is tcp_proxy: network `istio.stats` right before it.
 *
 * Proxyless gRPC listeners never come here (their API-listener HCM has no such filters).
 * Idempotent: a chain that already has the filter is left alone.
 */
import {
  HTTP_CONNECTION_MANAGER,
  HTTP_ROUTER,
  ISTIO_METADATA_EXCHANGE,
  ISTIO_STATS,
  TCP_PROXY,
} from '../filters/names.ts';
import type { HttpFilter } from '../filters/router.ts';
import type { NetworkFilter } from '../filters/tcp-proxy.ts';
import {
  buildHttpStatsFilter,
  buildMetadataExchangeFilter,
  buildTcpStatsFilter,
  type TelemetryProxyKind,
} from '../filters/telemetry.ts';
import type { Proto } from './context.ts';

interface TelemetryFilters {
  readonly exchange: HttpFilter;
  readonly httpStats: HttpFilter;
  readonly tcpStats: NetworkFilter;
}

function withHttpTelemetry(filters: readonly HttpFilter[], t: TelemetryFilters): HttpFilter[] {
  const out = filters.some((f) => f.name === ISTIO_METADATA_EXCHANGE)
    ? [...filters]
    : [t.exchange, ...filters];
  const last = out.length - 1;
  if (last >= 0 && out[last].name === HTTP_ROUTER && !out.some((f) => f.name === ISTIO_STATS)) {
    out.splice(last, 0, t.httpStats);
  }
  return out;
}

function withChainTelemetry(filters: readonly NetworkFilter[], t: TelemetryFilters): NetworkFilter[] {
  const out = filters.map((f) => {
    if (f.name !== HTTP_CONNECTION_MANAGER) return f;
    const hcm = f.typed_config as Proto;
    const httpFilters = (hcm.http_filters as HttpFilter[] | undefined) ?? [];
    return { ...f, typed_config: { ...hcm, http_filters: withHttpTelemetry(httpFilters, t) } };
  });
  const last = out.length - 1;
  if (last >= 0 && out[last].name === TCP_PROXY && out[last - 1]?.name !== ISTIO_STATS) {
    out.splice(last, 0, t.tcpStats);
  }
  return out;
}

function withTelemetry(chain: Proto, t: TelemetryFilters): Proto {
  const filters = chain.filters as NetworkFilter[] | undefined;
  return filters ? { ...chain, filters: withChainTelemetry(filters, t) } : chain;
}

/** The listeners with telemetry filters in every HCM and tcp_proxy chain (new objects; inputs untouched). */
export function addTelemetryFilters(listeners: readonly Proto[], kind: TelemetryProxyKind): Proto[] {
  // One set of filter objects per call: they are immutable and encode the same everywhere.
  const t: TelemetryFilters = {
    exchange: buildMetadataExchangeFilter(),
    httpStats: buildHttpStatsFilter(kind),
    tcpStats: buildTcpStatsFilter(kind),
  };
  return listeners.map((l) => {
    const out: Proto = { ...l };
    if (Array.isArray(l.filter_chains))
      out.filter_chains = (l.filter_chains as Proto[]).map((c) => withTelemetry(c, t));
    if (l.default_filter_chain) out.default_filter_chain = withTelemetry(l.default_filter_chain as Proto, t);
    return out;
  });
}
