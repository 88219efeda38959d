/**
 * `istio.metadata_exchange` (TypedStruct of `io.istio.http.peer_metadata.Config`): tells the peer
 * proxy who this workload is, and learns who the peer is, in two headers —
 * `x-envoy-peer-metadata-id` (node id) and `x-envoy-peer-metadata` (base64 protobuf Struct of the
 * node metadata subset, see telemetry/peer-metadata.ts).
 *
 * By the listener's direction, as Istio's sidecars do:
 * - OUTBOUND (and gateways): adds both headers to the request, reads the upstream's pair from
 *   the response and strips it before the client sees it. Requests routed to PassthroughCluster
 *   leave the mesh for an unknown destination: they carry no metadata.
 * - INBOUND: reads the downstream's pair from the request and strips it before the app; when
 *   the caller took part in the exchange, adds this node's pair to the response.
 * The peer goes to `streamPeers` for the stats filter. A missing, oversized or malformed header
 * leaves the peer unknown; it never fails the request.
 *
 * Config: only the empty config is supported; the discovery/propagation lists of Istio's
 * peer_metadata proto are refused by name (their defaults are what Istio's sidecars use here).
 */
import { PEER_METADATA_CONFIG_TYPE_URL } from '../../../../lib/xds/type-urls.ts';
// The name is the control plane's (one place for it); the module is constants only.
import { PASSTHROUGH_CLUSTER } from '../../../../pilot/model/well-known.ts';
import type { StatsStore } from '../../../stats/store.ts';
import {
  decodePeerHeader,
  encodePeerHeader,
  PEER_METADATA_HEADER,
  PEER_METADATA_ID_HEADER,
  streamPeers,
} from '../../../telemetry/peer-metadata.ts';
import type { StructReader } from '../../../telemetry/typed-struct.ts';
import type { HeaderMap } from '../headers.ts';
import {
  CONTINUE,
  type FilterStatus,
  type HttpFilter,
  type HttpFilterFactory,
  type HttpStream,
} from './filter.ts';
import type { FilterCompileEnv } from './registry.ts';

export const PEER_METADATA_CONFIG_TYPE = PEER_METADATA_CONFIG_TYPE_URL;

export interface MetadataExchangeConfig {
  readonly inbound: boolean;
  /** This node's id and header value, computed once per config. */
  readonly id: string;
  readonly value: string;
}

const encoded = new WeakMap<StatsStore, { id: string; value: string }>();

export function compileMetadataExchangeConfig(
  config: StructReader,
  env: FilterCompileEnv,
): MetadataExchangeConfig {
  config.done('istio.metadata_exchange (io.istio.http.peer_metadata.Config)');
  const store = env.services.stats as StatsStore;
  let own = encoded.get(store);
  if (own === undefined || own.id !== store.localNodeId) {
    own = { id: store.localNodeId, value: encodePeerHeader(store.localNode ?? {}) };
    encoded.set(store, own);
  }
  return {
    inbound: env.services.trafficDirection === 'INBOUND',
    id: own.id,
    value: own.value,
  };
}

/** Reads and removes the exchange pair; the peer (if any) goes to streamPeers. */
function takePeer(s: HttpStream, h: HeaderMap): boolean {
  const value = h.get(PEER_METADATA_HEADER);
  const id = h.get(PEER_METADATA_ID_HEADER);
  if (value === undefined && id === undefined) return false;
  h.remove(PEER_METADATA_HEADER);
  h.remove(PEER_METADATA_ID_HEADER);
  const peer = decodePeerHeader(value, id);
  if (peer !== undefined) streamPeers.set(s, peer);
  return true;
}

function putOwn(h: HeaderMap, c: MetadataExchangeConfig): void {
  h.remove(PEER_METADATA_HEADER);
  h.remove(PEER_METADATA_ID_HEADER);
  if (c.id !== '') h.add(PEER_METADATA_ID_HEADER, c.id);
  h.add(PEER_METADATA_HEADER, c.value);
}

class OutboundExchange implements HttpFilter {
  readonly #c: MetadataExchangeConfig;
  constructor(c: MetadataExchangeConfig) {
    this.#c = c;
  }
  onRequestHeaders(s: HttpStream): FilterStatus {
    if (s.route?.cluster === PASSTHROUGH_CLUSTER) {
      s.requestHeaders.remove(PEER_METADATA_HEADER);
      s.requestHeaders.remove(PEER_METADATA_ID_HEADER);
    } else putOwn(s.requestHeaders, this.#c);
    return CONTINUE;
  }
  onResponseHeaders(s: HttpStream): FilterStatus {
    const h = s.responseHeaders;
    if (h !== undefined) takePeer(s, h);
    return CONTINUE;
  }
}

class InboundExchange implements HttpFilter {
  readonly #c: MetadataExchangeConfig;
  #exchanged = false;
  constructor(c: MetadataExchangeConfig) {
    this.#c = c;
  }
  onRequestHeaders(s: HttpStream): FilterStatus {
    this.#exchanged = takePeer(s, s.requestHeaders);
    return CONTINUE;
  }
  onResponseHeaders(s: HttpStream): FilterStatus {
    const h = s.responseHeaders;
    if (h === undefined) return CONTINUE;
    // Whatever the app put there is not ours to forward.
    if (this.#exchanged) putOwn(h, this.#c);
    else {
      h.remove(PEER_METADATA_HEADER);
      h.remove(PEER_METADATA_ID_HEADER);
    }
    return CONTINUE;
  }
}

export function metadataExchangeFactory(name: string, c: MetadataExchangeConfig): HttpFilterFactory {
  return {
    name,
    terminal: false,
    create: c.inbound ? () => new InboundExchange(c) : () => new OutboundExchange(c),
  };
}
