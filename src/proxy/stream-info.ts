/**
 * Envoy's response flags (what went wrong with a request, as access logs and Istio's
 * `response_flags` label show them) as bits, and the connection facts every filter may read.
 * Bit order follows Envoy's flag list, which is also the order of the formatted string.
 */
export const RF_FAILED_LOCAL_HEALTH_CHECK = 1 << 0; // LH
export const RF_NO_HEALTHY_UPSTREAM = 1 << 1; // UH
export const RF_UPSTREAM_REQUEST_TIMEOUT = 1 << 2; // UT
export const RF_LOCAL_RESET = 1 << 3; // LR
export const RF_UPSTREAM_REMOTE_RESET = 1 << 4; // UR
export const RF_UPSTREAM_CONNECTION_FAILURE = 1 << 5; // UF
export const RF_UPSTREAM_CONNECTION_TERMINATION = 1 << 6; // UC
export const RF_UPSTREAM_OVERFLOW = 1 << 7; // UO
export const RF_NO_ROUTE_FOUND = 1 << 8; // NR
export const RF_DELAY_INJECTED = 1 << 9; // DI
export const RF_FAULT_INJECTED = 1 << 10; // FI
export const RF_RATE_LIMITED = 1 << 11; // RL
export const RF_UNAUTHORIZED_EXTERNAL_SERVICE = 1 << 12; // UAEX
export const RF_RATE_LIMIT_SERVICE_ERROR = 1 << 13; // RLSE
export const RF_DOWNSTREAM_CONNECTION_TERMINATION = 1 << 14; // DC
export const RF_UPSTREAM_RETRY_LIMIT_EXCEEDED = 1 << 15; // URX
export const RF_STREAM_IDLE_TIMEOUT = 1 << 16; // SI
export const RF_INVALID_ENVOY_REQUEST_HEADERS = 1 << 17; // IH
export const RF_DOWNSTREAM_PROTOCOL_ERROR = 1 << 18; // DPE
export const RF_UPSTREAM_MAX_STREAM_DURATION_REACHED = 1 << 19; // UMSDR
export const RF_RESPONSE_FROM_CACHE_FILTER = 1 << 20; // RFCF
export const RF_NO_FILTER_CONFIG_FOUND = 1 << 21; // NFCF
export const RF_DURATION_TIMEOUT = 1 << 22; // DT
export const RF_UPSTREAM_PROTOCOL_ERROR = 1 << 23; // UPE
export const RF_NO_CLUSTER_FOUND = 1 << 24; // NC
export const RF_OVERLOAD_MANAGER = 1 << 25; // OM
export const RF_DNS_RESOLUTION_FAILED = 1 << 26; // DF
export const RF_DROP_OVERLOAD = 1 << 27; // DO
export const RF_DOWNSTREAM_REMOTE_RESET = 1 << 28; // DR

const SHORT = [
  'LH',
  'UH',
  'UT',
  'LR',
  'UR',
  'UF',
  'UC',
  'UO',
  'NR',
  'DI',
  'FI',
  'RL',
  'UAEX',
  'RLSE',
  'DC',
  'URX',
  'SI',
  'IH',
  'DPE',
  'UMSDR',
  'RFCF',
  'NFCF',
  'DT',
  'UPE',
  'NC',
  'OM',
  'DF',
  'DO',
  'DR',
];

/** "UF,URX" style, or "-" when no flag is set (Envoy's access-log form). */
export function formatResponseFlags(flags: number): string {
  if (flags === 0) return '-';
  let out = '';
  for (let i = 0; i < SHORT.length; i++) {
    if ((flags & (1 << i)) !== 0) out = out === '' ? SHORT[i] : `${out},${SHORT[i]}`;
  }
  return out;
}

export function parseResponseFlag(short: string): number {
  const i = SHORT.indexOf(short);
  return i < 0 ? 0 : 1 << i;
}

/** Facts about the downstream connection, set by the listener (and later TLS / capture). */
export interface ConnectionInfo {
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** Local address the connection arrived on (after original-destination restore, if any). */
  readonly localAddress: string;
  readonly localPort: number;
  /** Original destination of a captured connection, when the listener restored one. */
  readonly originalDst?: { readonly address: string; readonly port: number };
  /** Downstream TLS (not yet: set by the TLS layer later). */
  readonly secure: boolean;
  readonly sni?: string;
}

/** "1.2.3.4:80" or "[::1]:80". */
export function formatAddress(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}
