/**
 * THE one place for Envoy v3 type URLs (CODE-STYLE house rule 6): xDS resource types, the
 * extension types that travel inside `typed_config`, and their short names for logs and metrics.
 */

export const TYPE_URL_PREFIX = 'type.googleapis.com/';

// xDS resource types.
export const LISTENER_TYPE_URL = 'type.googleapis.com/envoy.config.listener.v3.Listener';
export const ROUTE_TYPE_URL = 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration';
export const CLUSTER_TYPE_URL = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';
export const ENDPOINT_TYPE_URL = 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment';
export const SECRET_TYPE_URL = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret';
export const VIRTUAL_HOST_TYPE_URL = 'type.googleapis.com/envoy.config.route.v3.VirtualHost';
export const EXTENSION_CONFIG_TYPE_URL = 'type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig';

// Network filters.
export const HTTP_CONNECTION_MANAGER_TYPE_URL =
  'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
export const TCP_PROXY_TYPE_URL =
  'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';
export const NETWORK_RBAC_TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC';
export const NETWORK_EXT_AUTHZ_TYPE_URL =
  'type.googleapis.com/envoy.extensions.filters.network.ext_authz.v3.ExtAuthz';
export const NETWORK_LOCAL_RATELIMIT_TYPE_URL =
  'type.googleapis.com/envoy.extensions.filters.network.local_ratelimit.v3.LocalRateLimit';

// HTTP filters and their per-route configs.
export const ROUTER_TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';
export const HTTP_FAULT_TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault';
export const HTTP_RBAC_TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC';
export const HTTP_RBAC_PER_ROUTE_TYPE_URL =
  'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBACPerRoute';
export const JWT_AUTHN_TYPE_URL =
  'type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication';
export const JWT_AUTHN_PER_ROUTE_TYPE_URL =
  'type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.PerRouteConfig';
export const LOCAL_RATELIMIT_TYPE_URL =
  'type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit';
export const CORS_TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors';
export const CORS_POLICY_TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy';
export const GRPC_STATS_TYPE_URL =
  'type.googleapis.com/envoy.extensions.filters.http.grpc_stats.v3.FilterConfig';
export const ROUTE_FILTER_CONFIG_TYPE_URL = 'type.googleapis.com/envoy.config.route.v3.FilterConfig';
export const HTTP_EXT_AUTHZ_TYPE_URL =
  'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz';
export const HTTP_EXT_AUTHZ_PER_ROUTE_TYPE_URL =
  'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute';

// Retry extensions (Istio sets both on every retry policy).
export const PREVIOUS_HOSTS_PREDICATE_TYPE_URL =
  'type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate';
export const PREVIOUS_PRIORITIES_CONFIG_TYPE_URL =
  'type.googleapis.com/envoy.extensions.retry.priority.previous_priorities.v3.PreviousPrioritiesConfig';

// Listener filters.
export const TLS_INSPECTOR_TYPE_URL =
  'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector';
export const HTTP_INSPECTOR_TYPE_URL =
  'type.googleapis.com/envoy.extensions.filters.listener.http_inspector.v3.HttpInspector';
export const ORIGINAL_DST_TYPE_URL =
  'type.googleapis.com/envoy.extensions.filters.listener.original_dst.v3.OriginalDst';

// Transport sockets and upstream protocol options.
export const UPSTREAM_TLS_CONTEXT_TYPE_URL =
  'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';
export const DOWNSTREAM_TLS_CONTEXT_TYPE_URL =
  'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';
export const RAW_BUFFER_TYPE_URL =
  'type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer';
export const HTTP_PROTOCOL_OPTIONS_TYPE_URL =
  'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions';

// Load-balancing policies and cluster extensions.
export const ROUND_ROBIN_TYPE_URL =
  'type.googleapis.com/envoy.extensions.load_balancing_policies.round_robin.v3.RoundRobin';
export const LEAST_REQUEST_TYPE_URL =
  'type.googleapis.com/envoy.extensions.load_balancing_policies.least_request.v3.LeastRequest';
export const RANDOM_TYPE_URL =
  'type.googleapis.com/envoy.extensions.load_balancing_policies.random.v3.Random';
export const RING_HASH_TYPE_URL =
  'type.googleapis.com/envoy.extensions.load_balancing_policies.ring_hash.v3.RingHash';
export const MAGLEV_TYPE_URL =
  'type.googleapis.com/envoy.extensions.load_balancing_policies.maglev.v3.Maglev';
export const PICK_FIRST_TYPE_URL =
  'type.googleapis.com/envoy.extensions.load_balancing_policies.pick_first.v3.PickFirst';
export const WRR_LOCALITY_TYPE_URL =
  'type.googleapis.com/envoy.extensions.load_balancing_policies.wrr_locality.v3.WrrLocality';
export const AGGREGATE_CLUSTER_TYPE_URL =
  'type.googleapis.com/envoy.extensions.clusters.aggregate.v3.ClusterConfig';

// Access loggers.
export const FILE_ACCESS_LOG_TYPE_URL =
  'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog';
export const STDOUT_ACCESS_LOG_TYPE_URL =
  'type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog';
export const STDERR_ACCESS_LOG_TYPE_URL =
  'type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StderrAccessLog';

// Untyped extension config.
export const TYPED_STRUCT_TYPE_URL = 'type.googleapis.com/xds.type.v3.TypedStruct';
export const UDPA_TYPED_STRUCT_TYPE_URL = 'type.googleapis.com/udpa.type.v1.TypedStruct';

/**
 * Istio's telemetry extensions. Their protos are not in our root: their config travels as the
 * Struct `value` of a TypedStruct whose `type_url` is one of these, and is never decoded by
 * protobufjs. Listed in STRUCT_ONLY_TYPE_URLS.
 */
export const PEER_METADATA_CONFIG_TYPE_URL = 'type.googleapis.com/io.istio.http.peer_metadata.Config';
export const STATS_PLUGIN_CONFIG_TYPE_URL = 'type.googleapis.com/stats.PluginConfig';

/** Type URLs that only ever appear inside a TypedStruct (not loaded; see above). */
export const STRUCT_ONLY_TYPE_URLS: ReadonlySet<string> = new Set([
  PEER_METADATA_CONFIG_TYPE_URL,
  STATS_PLUGIN_CONFIG_TYPE_URL,
]);

/** Short names Istio and Envoy use in logs, metrics and `proxy-status` columns. */
const SHORT_NAMES: ReadonlyMap<string, string> = new Map([
  [LISTENER_TYPE_URL, 'LDS'],
  [ROUTE_TYPE_URL, 'RDS'],
  [CLUSTER_TYPE_URL, 'CDS'],
  [ENDPOINT_TYPE_URL, 'EDS'],
  [SECRET_TYPE_URL, 'SDS'],
  [VIRTUAL_HOST_TYPE_URL, 'VHDS'],
  [EXTENSION_CONFIG_TYPE_URL, 'ECDS'],
]);

/**
 * Types whose SotW subscription may be a wildcard (an empty `resource_names` in the first
 * request means "all"): the xDS spec grants this to Listener and Cluster only.
 */
export const WILDCARD_TYPE_URLS: ReadonlySet<string> = new Set([LISTENER_TYPE_URL, CLUSTER_TYPE_URL]);

/** `type.googleapis.com/envoy.config.cluster.v3.Cluster` -> `envoy.config.cluster.v3.Cluster`. */
export function messageNameOf(typeUrl: string): string {
  return typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
}

/** `envoy.config.cluster.v3.Cluster` -> its type URL (already a type URL is returned as is). */
export function typeUrlOf(messageName: string): string {
  return messageName.includes('/') ? messageName : TYPE_URL_PREFIX + messageName;
}

/** `CDS` for the Cluster type URL; the bare message name for types without a short name. */
export function shortTypeName(typeUrl: string): string {
  return SHORT_NAMES.get(typeUrl) ?? messageNameOf(typeUrl);
}

/** The `type` label of Istio's pilot metrics: `cds`, `eds`, …, or the message name. */
export function metricTypeLabel(typeUrl: string): string {
  const short = SHORT_NAMES.get(typeUrl);
  return short ? short.toLowerCase() : messageNameOf(typeUrl);
}
