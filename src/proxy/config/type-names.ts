/**
 * Envoy message names the proxy dispatches on (the part of a type URL after the last '/'),
 * derived from the one constants module for type URLs (src/lib/xds/type-urls.ts), plus the
 * well-known extension names Envoy also accepts where no typed config is given.
 */
import {
  HTTP_CONNECTION_MANAGER_TYPE_URL,
  HTTP_PROTOCOL_OPTIONS_TYPE_URL,
  messageNameOf,
  PREVIOUS_HOSTS_PREDICATE_TYPE_URL,
  RAW_BUFFER_TYPE_URL,
  ROUTER_TYPE_URL,
  TCP_PROXY_TYPE_URL,
  UPSTREAM_TLS_CONTEXT_TYPE_URL,
} from '../../lib/xds/type-urls.ts';

export const TYPE = {
  HTTP_CONNECTION_MANAGER: messageNameOf(HTTP_CONNECTION_MANAGER_TYPE_URL),
  TCP_PROXY: messageNameOf(TCP_PROXY_TYPE_URL),
  ROUTER: messageNameOf(ROUTER_TYPE_URL),
  UPSTREAM_TLS_CONTEXT: messageNameOf(UPSTREAM_TLS_CONTEXT_TYPE_URL),
  RAW_BUFFER: messageNameOf(RAW_BUFFER_TYPE_URL),
  HTTP_PROTOCOL_OPTIONS: messageNameOf(HTTP_PROTOCOL_OPTIONS_TYPE_URL),
  PREVIOUS_HOSTS_PREDICATE: messageNameOf(PREVIOUS_HOSTS_PREDICATE_TYPE_URL),
  // Not (yet) in the shared module: only the proxy reads it, inside an HCM.
  UUID_REQUEST_ID: 'envoy.extensions.request_id.uuid.v3.UuidRequestIdConfig',
} as const;

export const EXTENSION = {
  HTTP_CONNECTION_MANAGER: 'envoy.filters.network.http_connection_manager',
  TCP_PROXY: 'envoy.filters.network.tcp_proxy',
  ROUTER: 'envoy.filters.http.router',
  TRANSPORT_SOCKET_TLS: 'envoy.transport_sockets.tls',
  TRANSPORT_SOCKET_RAW: 'envoy.transport_sockets.raw_buffer',
  HTTP_PROTOCOL_OPTIONS: 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
  PREVIOUS_HOSTS: 'envoy.retry_host_predicates.previous_hosts',
} as const;
