/**
 * Filter chain options (Istio's filterChainOpts): the match conditions a chain is selected by
 * (SNI, destination CIDRs, ALPN, transport protocol), its TLS context, and either an
 * HttpConnectionManager description or ready network filters; and their conversion to Envoy
 * FilterChain / FilterChainMatch, with Istio's rules for match-all chains and for telling two
 * chains' matches apart.
 */
import { isIP } from 'node:net';
import { typed } from '../../../lib/xds/any.ts';
import { DOWNSTREAM_TLS_CONTEXT_TYPE_URL } from '../../../lib/xds/type-urls.ts';
import { WILDCARD_ADDRESS } from '../../model/naming.ts';
import { TLS_TRANSPORT_SOCKET_NAME } from '../../model/well-known.ts';
import {
  buildHttpConnectionManager,
  type HttpConnectionManagerOptions,
  httpConnectionManagerFilter,
} from '../filters/hcm.ts';
import type { NetworkFilter } from '../filters/tcp-proxy.ts';

export type Proto = Record<string, unknown>;

/** An HCM chain: everything but the stat prefix, which depends on the listener it lands in. */
export type HttpChainOptions = Omit<HttpConnectionManagerOptions, 'statPrefix'> & {
  /** Set when the chain needs a stat prefix of its own (gateway HTTPS servers use the server name). */
  readonly statPrefix?: string;
};

export interface FilterChainOpts {
  readonly sniHosts?: readonly string[];
  readonly destinationCidrs?: readonly string[];
  readonly applicationProtocols?: readonly string[];
  readonly transportProtocol?: string;
  readonly metadata?: Proto;
  /** envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext (snake_case). */
  readonly tlsContext?: Proto;
  readonly http?: HttpChainOptions;
  /** Network filters; for HTTP chains they run before the HCM. */
  readonly networkFilters?: readonly NetworkFilter[];
  readonly name?: string;
}

/** True when the chain matches every connection (Istio's isMatchAll). */
export function isMatchAll(chain: FilterChainOpts): boolean {
  const sni = chain.sniHosts ?? [];
  return (
    (sni.length === 0 || sni.includes('*')) &&
    (chain.applicationProtocols ?? []).length === 0 &&
    (chain.transportProtocol ?? '') === '' &&
    (chain.destinationCidrs ?? []).length === 0
  );
}

/** `10.0.0.1` -> 10.0.0.1/32, `10.0.0.0/16` -> itself; undefined for anything else. */
export function toCidrRange(address: string): Proto | undefined {
  const slash = address.indexOf('/');
  const ip = slash >= 0 ? address.slice(0, slash) : address;
  const family = isIP(ip);
  if (family === 0) return undefined;
  const len = slash >= 0 ? Number(address.slice(slash + 1)) : family === 4 ? 32 : 128;
  if (!Number.isInteger(len) || len < 0 || len > (family === 4 ? 32 : 128)) return undefined;
  return { address_prefix: ip, prefix_len: { value: len } };
}

/** Envoy FilterChainMatch of the options; undefined for a match-all chain. */
export function toFilterChainMatch(chain: FilterChainOpts): Proto | undefined {
  if (isMatchAll(chain)) return undefined;
  const match: Proto = {};
  if (chain.applicationProtocols?.length) match.application_protocols = [...chain.applicationProtocols];
  if (chain.transportProtocol) match.transport_protocol = chain.transportProtocol;
  const sni = chain.sniHosts ?? [];
  if (sni.length > 0 && !sni.includes('*')) match.server_names = [...sni].sort();
  const cidrs = [...(chain.destinationCidrs ?? [])].sort();
  const ranges: Proto[] = [];
  for (const c of cidrs) {
    const r = toCidrRange(c);
    if (r && r.address_prefix !== WILDCARD_ADDRESS) ranges.push(r);
  }
  if (ranges.length > 0) match.prefix_ranges = ranges;
  return match;
}

function canonicalCidr(c: string): string | undefined {
  const r = toCidrRange(c);
  if (!r || r.address_prefix === WILDCARD_ADDRESS) return undefined;
  const len = (r.prefix_len as { value: number }).value;
  const ip = String(r.address_prefix);
  if (isIP(ip) !== 4) return `${ip}/${len}`;
  // Mask the address so 10.1.0.0/8 and 10.2.0.0/8 compare equal.
  const n = ip.split('.').reduce((acc, o) => (acc << 8) | Number(o), 0) >>> 0;
  const masked = len === 0 ? 0 : (n & (0xffffffff << (32 - len))) >>> 0;
  return `${[24, 16, 8, 0].map((s) => (masked >>> s) & 255).join('.')}/${len}`;
}

function setsEqual(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  if (a.size !== b.size) return false;
  for (const x of a) if (!b.has(x)) return false;
  return true;
}

/** True when the two chains' matches are the same, so Envoy would reject having both. */
export function chainsConflict(a: FilterChainOpts, b: FilterChainOpts): boolean {
  if ((a.transportProtocol ?? '') !== (b.transportProtocol ?? '')) return false;
  const ap = a.applicationProtocols ?? [];
  const bp = b.applicationProtocols ?? [];
  if (ap.length !== bp.length || ap.some((p, i) => p !== bp[i])) return false;
  const sni = (s: readonly string[] | undefined) => new Set((s ?? []).filter((h) => h !== '*'));
  if (!setsEqual(sni(a.sniHosts), sni(b.sniHosts))) return false;
  const cidrs = (s: readonly string[] | undefined) =>
    new Set((s ?? []).map(canonicalCidr).filter((c): c is string => c !== undefined));
  return setsEqual(cidrs(a.destinationCidrs), cidrs(b.destinationCidrs));
}

export function buildDownstreamTlsTransportSocket(tlsContext: Proto | undefined): Proto | undefined {
  if (!tlsContext) return undefined;
  return {
    name: TLS_TRANSPORT_SOCKET_NAME,
    typed_config: typed(DOWNSTREAM_TLS_CONTEXT_TYPE_URL, tlsContext),
  };
}

/**
 * The chain's filters: network filters, then (HTTP chains) the HCM with `statPrefix` unless the
 * chain brings its own.
 */
export function buildChainFilters(chain: FilterChainOpts, statPrefix: string): NetworkFilter[] {
  const filters = [...(chain.networkFilters ?? [])];
  if (chain.http) {
    const hcm = buildHttpConnectionManager({
      ...chain.http,
      statPrefix: chain.http.statPrefix ?? statPrefix,
    });
    filters.push(httpConnectionManagerFilter(hcm));
  }
  return filters;
}

/** An Envoy FilterChain without its match (the caller decides where the chain goes). */
export function buildFilterChain(chain: FilterChainOpts, statPrefix: string): Proto {
  const out: Proto = {};
  if (chain.name) out.name = chain.name;
  out.filters = buildChainFilters(chain, statPrefix);
  if (chain.metadata) out.metadata = chain.metadata;
  const ts = buildDownstreamTlsTransportSocket(chain.tlsContext);
  if (ts) out.transport_socket = ts;
  return out;
}
