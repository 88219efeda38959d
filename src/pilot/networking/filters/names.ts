/**
 * Well-known Envoy extension names the control plane writes into listeners and routes (the
 * `name` of network, HTTP and listener filters, transport sockets and retry extensions). One
 * place on the control-plane side (CODE-STYLE house rule 6); the data plane keeps its own table
 * in src/proxy/config/type-names.ts because the planes share only the protos and src/lib.
 */

// Network filters.
export const HTTP_CONNECTION_MANAGER = 'envoy.filters.network.http_connection_manager';
export const TCP_PROXY = 'envoy.filters.network.tcp_proxy';
/** Istio's stats filter; the same name serves as a network and as an HTTP filter. */
export const ISTIO_STATS = 'istio.stats';

// HTTP filters (also the keys of typed_per_filter_config).
export const HTTP_FAULT = 'envoy.filters.http.fault';
export const HTTP_CORS = 'envoy.filters.http.cors';
export const HTTP_ROUTER = 'envoy.filters.http.router';
export const ISTIO_METADATA_EXCHANGE = 'istio.metadata_exchange';

// Listener filters.
export const TLS_INSPECTOR = 'envoy.filters.listener.tls_inspector';
export const HTTP_INSPECTOR = 'envoy.filters.listener.http_inspector';
export const ORIGINAL_DST = 'envoy.filters.listener.original_dst';

// Retry extensions.
export const RETRY_PREVIOUS_HOSTS = 'envoy.retry_host_predicates.previous_hosts';
export const RETRY_PREVIOUS_PRIORITIES = 'envoy.retry_priorities.previous_priorities';

/** FilterChainMatch.transport_protocol values set by the TLS inspector. */
export const TRANSPORT_PROTOCOL_TLS = 'tls';
export const TRANSPORT_PROTOCOL_RAW_BUFFER = 'raw_buffer';
