/**
 * HttpConnectionManager as Istio builds it for sidecar outbound, sidecar inbound and gateway
 * listeners (listener_builder.go `buildHTTPConnectionManager`): AUTO codec, websocket upgrades,
 * path normalization from MeshConfig, no stream idle timeout, RDS over ADS or an inline route
 * table, and the HTTP filters in Istio's order:
 *
 *   [policy filters (authn/authz, plugged in by the security work)] fault, cors,
 *   [telemetry filters] router
 *
 * fault and cors sit empty in every chain so per-route typed_per_filter_config can switch them on.
 */
import { typed } from '../../../lib/xds/any.ts';
import { HTTP_CONNECTION_MANAGER_TYPE_URL } from '../../../lib/xds/type-urls.ts';
import { toProtoDuration } from '../../../lib/xds/well-known.ts';
import { buildCorsFilter } from './cors.ts';
import { buildFaultFilter } from './fault.ts';
import { HTTP_CONNECTION_MANAGER } from './names.ts';
import { buildRouterFilter, type HttpFilter } from './router.ts';
import type { NetworkFilter } from './tcp-proxy.ts';

/** Istio's ListenerClass: which kind of listener an HCM serves (decides headers and filters). */
export type ListenerClass = 'SIDECAR_OUTBOUND' | 'SIDECAR_INBOUND' | 'GATEWAY';

/** MeshConfig.pathNormalization.normalization (unset means DEFAULT). */
export type PathNormalization = 'DEFAULT' | 'NONE' | 'BASE' | 'MERGE_SLASHES' | 'DECODE_AND_MERGE_SLASHES';

/** Where the HCM gets its routes: RDS (by name, over ADS) or an inline RouteConfiguration. */
export type RouteSource = { readonly rds: string } | { readonly routeConfig: object };

export interface HttpConnectionManagerOptions {
  readonly statPrefix: string;
  readonly routes: RouteSource;
  readonly class: ListenerClass;
  /** Gateways and sidecar outbound (Istio's PILOT_SIDECAR_USE_REMOTE_ADDRESS, default false). */
  readonly useRemoteAddress: boolean;
  readonly pathNormalization?: PathNormalization;
  /** Node metadata IDLE_TIMEOUT, milliseconds: HCM common_http_protocol_options.idle_timeout. */
  readonly idleTimeoutMs?: number;
  /** Extra snake_case HCM fields specific to the listener class (server_name, xfcc, codecs…). */
  readonly base?: Readonly<Record<string, unknown>>;
  /** Filters that run before fault (authentication, authorization). */
  readonly policyFilters?: readonly HttpFilter[];
  /** Filters that run after cors and before the router (stats, access-log helpers). */
  readonly telemetryFilters?: readonly HttpFilter[];
  readonly suppressEnvoyHeaders?: boolean;
}

/** Istio's server name for inbound and gateway listeners (outbound leaves Envoy's default). */
export const ISTIO_ENVOY_SERVER_NAME = 'istio-envoy';

/** The HTTP filter chain in Istio's order. */
export function buildHttpFilters(options: {
  readonly policyFilters?: readonly HttpFilter[];
  readonly telemetryFilters?: readonly HttpFilter[];
  readonly suppressEnvoyHeaders?: boolean;
}): HttpFilter[] {
  return [
    ...(options.policyFilters ?? []),
    buildFaultFilter(),
    buildCorsFilter(),
    ...(options.telemetryFilters ?? []),
    buildRouterFilter({ suppressEnvoyHeaders: options.suppressEnvoyHeaders }),
  ];
}

export function buildHttpConnectionManager(options: HttpConnectionManagerOptions): Record<string, unknown> {
  const hcm: Record<string, unknown> = { ...(options.base ?? {}) };
  hcm.codec_type = 'AUTO';
  hcm.stat_prefix = options.statPrefix;

  hcm.path_with_escaped_slashes_action = 'KEEP_UNCHANGED';
  switch (options.pathNormalization ?? 'DEFAULT') {
    case 'NONE':
      hcm.normalize_path = { value: false };
      break;
    case 'DEFAULT':
    case 'BASE':
      hcm.normalize_path = { value: true };
      break;
    case 'MERGE_SLASHES':
      hcm.normalize_path = { value: true };
      hcm.merge_slashes = true;
      break;
    case 'DECODE_AND_MERGE_SLASHES':
      hcm.normalize_path = { value: true };
      hcm.merge_slashes = true;
      hcm.path_with_escaped_slashes_action = 'UNESCAPE_AND_FORWARD';
      break;
  }

  hcm.use_remote_address = { value: options.useRemoteAddress };
  hcm.upgrade_configs = [{ upgrade_type: 'websocket' }];
  if (options.idleTimeoutMs !== undefined) {
    hcm.common_http_protocol_options = {
      ...((hcm.common_http_protocol_options as object | undefined) ?? {}),
      idle_timeout: toProtoDuration(options.idleTimeoutMs),
    };
  }
  // Streams are bounded by route timeouts, not by idleness (Istio sets 0: disabled).
  hcm.stream_idle_timeout = toProtoDuration(0);

  if ('rds' in options.routes) {
    hcm.rds = {
      config_source: { ads: {}, initial_fetch_timeout: toProtoDuration(0), resource_api_version: 'V3' },
      route_config_name: options.routes.rds,
    };
  } else {
    hcm.route_config = options.routes.routeConfig;
  }

  hcm.http_filters = buildHttpFilters(options);
  return hcm;
}

/** The HCM as a network filter of a filter chain. */
export function httpConnectionManagerFilter(hcm: object): NetworkFilter {
  return { name: HTTP_CONNECTION_MANAGER, typed_config: typed(HTTP_CONNECTION_MANAGER_TYPE_URL, hcm) };
}
