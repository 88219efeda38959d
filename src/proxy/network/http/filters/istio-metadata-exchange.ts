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
import {
  type EncodedField,
  encodeField,
  H_X_ENVOY_PEER_METADATA,
  H_X_ENVOY_PEER_METADATA_ID,
  type HeaderMap,
} from '../headers.ts';
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
  /** The same pair as wire lines, encoded once: every request copies them (no id when ''). */
  readonly idField: EncodedField | undefined;
  readonly valueField: EncodedField;
}

interface OwnPair {
  id: string;
  value: string;
  idField: EncodedField | undefined;
  valueField: EncodedField;
}

const encoded = new WeakMap<StatsStore, OwnPair>();

export function compileMetadataExchangeConfig(
  config: StructReader,
  env: FilterCompileEnv,
): MetadataExchangeConfig {
  config.done('istio.metadata_exchange (io.istio.http.peer_metadata.Config)');
  const store = env.services.stats as StatsStore;
  let own = encoded.get(store);
  if (own === undefined || own.id !== store.localNodeId) {
    const id = store.localNodeId;
    const value = encodePeerHeader(store.localNode ?? {});
    own = {
      id,
      value,
      idField: id === '' ? undefined : encodeField(PEER_METADATA_ID_HEADER, id),
      valueField: encodeField(PEER_METADATA_HEADER, value),
    };
    encoded.set(store, own);
  }
  return {
    inbound: env.services.trafficDirection === 'INBOUND',
    id: own.id,
    value: own.value,
    idField: own.idField,
    valueField: own.valueField,
  };
}

/** Reads and removes the exchange pair; the peer (if any) goes to streamPeers. */
function takePeer(s: HttpStream, h: HeaderMap): boolean {
  // Both are well-known ids: absent headers cost a bit test, not a scan by name.
  const value = h.getKnown(H_X_ENVOY_PEER_METADATA);
  const id = h.getKnown(H_X_ENVOY_PEER_METADATA_ID);
  if (value === undefined && id === undefined) return false;
  h.removeKnown(H_X_ENVOY_PEER_METADATA);
  h.removeKnown(H_X_ENVOY_PEER_METADATA_ID);
  const peer = decodePeerHeader(value, id);
  if (peer !== undefined) streamPeers.set(s, peer);
  return true;
}

function dropPair(h: HeaderMap): void {
  h.removeKnown(H_X_ENVOY_PEER_METADATA);
  h.removeKnown(H_X_ENVOY_PEER_METADATA_ID);
}

function putOwn(h: HeaderMap, c: MetadataExchangeConfig): void {
  dropPair(h);
  if (c.idField !== undefined) h.addField(c.idField);
  h.addField(c.valueField);
}

/** Keeps no per-stream state: one instance serves every stream of its config. */
class OutboundExchange implements HttpFilter {
  readonly #c: MetadataExchangeConfig;
  constructor(c: MetadataExchangeConfig) {
    this.#c = c;
  }
  onRequestHeaders(s: HttpStream): FilterStatus {
    if (s.route?.cluster === PASSTHROUGH_CLUSTER) dropPair(s.requestHeaders);
    else putOwn(s.requestHeaders, this.#c);
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
    else dropPair(h);
    return CONTINUE;
  }
}

export function metadataExchangeFactory(name: string, c: MetadataExchangeConfig): HttpFilterFactory {
  if (c.inbound) return { name, terminal: false, create: () => new InboundExchange(c) };
  const shared = new OutboundExchange(c);
  return { name, terminal: false, create: () => shared };
}
