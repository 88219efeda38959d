/**
 * Listener filters Istio puts in front of filter-chain matching: the TLS inspector (SNI, ALPN,
 * transport protocol), the HTTP inspector (plaintext HTTP ALPN for protocol sniffing) and the
 * original-destination filter of the capture listeners. Per-port enabling uses
 * `filter_disabled` predicates, as Istio's inbound listener does.
 */
import { typed } from '../../../lib/xds/any.ts';
import {
  HTTP_INSPECTOR_TYPE_URL,
  ORIGINAL_DST_TYPE_URL,
  TLS_INSPECTOR_TYPE_URL,
} from '../../../lib/xds/type-urls.ts';
import { HTTP_INSPECTOR, ORIGINAL_DST, TLS_INSPECTOR } from './names.ts';

export interface ListenerFilter {
  readonly name: string;
  readonly typed_config: object;
  readonly filter_disabled?: object;
}

/** Istio reads at most 512 bytes of ClientHello (Envoy's default is 64 KiB). */
const TLS_INSPECTOR_READ_BUFFER = 512;

export function buildTlsInspector(filterDisabled?: object): ListenerFilter {
  const f: ListenerFilter = {
    name: TLS_INSPECTOR,
    typed_config: typed(TLS_INSPECTOR_TYPE_URL, {
      initial_read_buffer_size: { value: TLS_INSPECTOR_READ_BUFFER },
    }),
  };
  return filterDisabled ? { ...f, filter_disabled: filterDisabled } : f;
}

export function buildHttpInspector(filterDisabled?: object): ListenerFilter {
  const f: ListenerFilter = { name: HTTP_INSPECTOR, typed_config: typed(HTTP_INSPECTOR_TYPE_URL, {}) };
  return filterDisabled ? { ...f, filter_disabled: filterDisabled } : f;
}

export function buildOriginalDstFilter(): ListenerFilter {
  return { name: ORIGINAL_DST, typed_config: typed(ORIGINAL_DST_TYPE_URL, {}) };
}

/** A ListenerFilterChainMatchPredicate true when the destination port is one of `ports`. */
export function portsPredicate(ports: readonly number[]): object {
  const sorted = [...ports].sort((a, b) => a - b);
  const rules = sorted.map((p) => ({ destination_port_range: { start: p, end: p + 1 } }));
  return rules.length === 1 ? rules[0] : { or_match: { rules } };
}

/** `filter_disabled` that disables the filter on `ports` only. */
export function disabledOnPorts(ports: readonly number[]): object {
  return portsPredicate(ports);
}

/** `filter_disabled` that disables the filter everywhere except on `ports`. */
export function enabledOnlyOnPorts(ports: readonly number[]): object {
  return { not_match: portsPredicate(ports) };
}
