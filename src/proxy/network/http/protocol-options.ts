/**
 * core.v3.HttpProtocolOptions (common to downstream and upstream) and core.v3.Http1ProtocolOptions,
 * compiled into plain settings shared by the connection manager and upstream clusters.
 */
import type { ProtoReader } from '../../config/proto.ts';
import { UNDERSCORES_ALLOW, UNDERSCORES_DROP, UNDERSCORES_REJECT } from './codec-h1.ts';

export interface CommonHttpSettings {
  /** 0 = disabled. */
  idleTimeoutMs: number;
  maxConnectionDurationMs: number;
  maxHeadersCount: number;
  maxStreamDurationMs: number;
  underscores: number;
  maxRequestsPerConnection: number;
}

export function defaultCommonHttpSettings(idleTimeoutMs: number): CommonHttpSettings {
  return {
    idleTimeoutMs,
    maxConnectionDurationMs: 0,
    maxHeadersCount: 100,
    maxStreamDurationMs: 0,
    underscores: UNDERSCORES_ALLOW,
    maxRequestsPerConnection: 0,
  };
}

/** Reads core.v3.HttpProtocolOptions into `out` (defaults already filled by the caller). */
export function compileCommonHttpOptions(r: ProtoReader, out: CommonHttpSettings): void {
  const idle = r.duration('idle_timeout');
  if (idle !== undefined) out.idleTimeoutMs = idle;
  out.maxConnectionDurationMs = r.duration('max_connection_duration') ?? 0;
  out.maxHeadersCount = r.wrappedNumber('max_headers_count', 100);
  if (out.maxHeadersCount < 1) r.ctx.error(r.at('max_headers_count'), 'must be at least 1');
  out.maxStreamDurationMs = r.duration('max_stream_duration') ?? 0;
  const u = r.enumName('headers_with_underscores_action', [
    'ALLOW',
    'REJECT_REQUEST',
    'DROP_HEADER',
  ] as const);
  out.underscores =
    u === 'ALLOW' ? UNDERSCORES_ALLOW : u === 'REJECT_REQUEST' ? UNDERSCORES_REJECT : UNDERSCORES_DROP;
  out.maxRequestsPerConnection = r.wrappedNumber('max_requests_per_connection', 0);
  r.unsupported('max_response_headers_kb', 'max_response_headers_kb is not supported');
  r.done();
}

export interface Http1Settings {
  allowAbsoluteUrl: boolean;
  acceptHttp10: boolean;
  defaultHostForHttp10: string;
  enableTrailers: boolean;
  allowChunkedLength: boolean;
}

export function defaultHttp1Settings(): Http1Settings {
  return {
    allowAbsoluteUrl: true,
    acceptHttp10: false,
    defaultHostForHttp10: '',
    enableTrailers: false,
    allowChunkedLength: false,
  };
}

/** Reads core.v3.Http1ProtocolOptions into `out`. */
export function compileHttp1Options(r: ProtoReader, out: Http1Settings): void {
  out.allowAbsoluteUrl = r.wrappedBool('allow_absolute_url', true);
  out.acceptHttp10 = r.bool('accept_http_10');
  out.defaultHostForHttp10 = r.string('default_host_for_http_10');
  out.enableTrailers = r.bool('enable_trailers');
  if (r.bool('allow_chunked_length'))
    r.ctx.error(
      r.at('allow_chunked_length'),
      'allow_chunked_length is not supported (requests with both framings are rejected)',
    );
  const fmt = r.message('header_key_format');
  if (fmt) {
    // Header names are always forwarded in the case they arrived in, which is what Envoy's
    // preserve_case stateful formatter does; proper_case_words would change them.
    fmt.unsupported(
      'proper_case_words',
      'proper_case_words header formatting is not supported (names keep their original case)',
    );
    const sf = fmt.message('stateful_formatter');
    if (sf) {
      const name = sf.string('name');
      sf.raw('typed_config');
      sf.done();
      if (name !== 'preserve_case' && name !== 'envoy.http.stateful_header_formatters.preserve_case') {
        fmt.ctx.error(
          fmt.at('stateful_formatter'),
          `stateful header formatter ${JSON.stringify(name)} is not supported`,
        );
      }
    }
    fmt.raw('header_format');
    fmt.done();
  }
  // Stream-vs-connection error handling: HTTP/1 always closes the connection on a bad message.
  const override = r.wrappedBool('override_stream_error_on_invalid_http_message');
  if (override === true)
    r.ctx.error(
      r.at('override_stream_error_on_invalid_http_message'),
      'HTTP/1 always closes the connection on an invalid message',
    );
  r.unsupported('send_fully_qualified_url', 'absolute-form upstream URLs are not supported');
  // Parser choice and custom methods: token methods are always accepted by this parser.
  r.ignore('use_balsa_parser', 'allow_custom_methods');
  r.unsupported('ignore_http_11_upgrade', 'ignore_http_11_upgrade is not supported');
  r.done();
}

/** core.v3.Http2ProtocolOptions as settings node:http2 can apply (downstream and upstream). */
export interface Http2Settings {
  /** SETTINGS_HEADER_TABLE_SIZE (HPACK dynamic table). */
  hpackTableSize: number;
  /** SETTINGS_MAX_CONCURRENT_STREAMS we advertise (downstream) / honour at most (upstream). */
  maxConcurrentStreams: number;
  /** SETTINGS_INITIAL_WINDOW_SIZE. */
  initialStreamWindowSize: number;
  /** The connection-level receive window (WINDOW_UPDATE on stream 0 after the handshake). */
  initialConnectionWindowSize: number;
  /** PING interval in ms for connection keepalive (0 = off) and the PING ack timeout. */
  keepaliveIntervalMs: number;
  keepaliveTimeoutMs: number;
}

/** Envoy's defaults (which differ from the protocol's 65535-byte windows). */
export function defaultHttp2Settings(): Http2Settings {
  return {
    hpackTableSize: 4096,
    maxConcurrentStreams: 2147483647,
    initialStreamWindowSize: 268435456,
    initialConnectionWindowSize: 268435456,
    keepaliveIntervalMs: 0,
    keepaliveTimeoutMs: 0,
  };
}

const MAX_WINDOW = 2147483647;

/** Reads core.v3.Http2ProtocolOptions into `out`. */
export function compileHttp2Options(r: ProtoReader, out: Http2Settings): void {
  out.hpackTableSize = r.wrappedNumber('hpack_table_size', 4096);
  out.maxConcurrentStreams = r.wrappedNumber('max_concurrent_streams', 2147483647);
  if (out.maxConcurrentStreams < 1 || out.maxConcurrentStreams > MAX_WINDOW)
    r.ctx.error(r.at('max_concurrent_streams'), 'must be between 1 and 2147483647');
  out.initialStreamWindowSize = r.wrappedNumber('initial_stream_window_size', 268435456);
  if (out.initialStreamWindowSize < 65535 || out.initialStreamWindowSize > MAX_WINDOW)
    r.ctx.error(r.at('initial_stream_window_size'), 'must be between 65535 and 2147483647');
  out.initialConnectionWindowSize = r.wrappedNumber('initial_connection_window_size', 268435456);
  if (out.initialConnectionWindowSize < 65535 || out.initialConnectionWindowSize > MAX_WINDOW)
    r.ctx.error(r.at('initial_connection_window_size'), 'must be between 65535 and 2147483647');
  if (r.bool('allow_connect'))
    r.ctx.error(r.at('allow_connect'), 'extended CONNECT over HTTP/2 is not supported');
  if (r.bool('allow_metadata'))
    r.ctx.error(r.at('allow_metadata'), 'HTTP/2 METADATA frames are not supported');
  const ka = r.message('connection_keepalive');
  if (ka) {
    out.keepaliveIntervalMs = ka.duration('interval') ?? 0;
    out.keepaliveTimeoutMs = ka.duration('timeout') ?? 0;
    if (out.keepaliveIntervalMs > 0 && out.keepaliveTimeoutMs <= 0)
      ka.ctx.error(ka.at('timeout'), 'a keepalive interval needs a timeout');
    ka.unsupported('interval_jitter', 'keepalive interval jitter is not supported');
    ka.unsupported('connection_idle_interval', 'connection_idle_interval is not supported');
    ka.done();
  }
  // Flood-protection limits: node:http2 enforces its own fixed limits (nghttp2's), so a
  // different configured value would not be honoured.
  for (const f of [
    'max_outbound_frames',
    'max_outbound_control_frames',
    'max_consecutive_inbound_frames_with_empty_payload',
    'max_inbound_priority_frames_per_stream',
    'max_inbound_window_update_frames_per_data_frame_sent',
  ])
    r.unsupported(f, `${f} is not supported (the HTTP/2 codec's built-in flood limits apply)`);
  // Invalid messages always reset just the stream (Envoy's stream_error_on_invalid_http_messaging).
  r.bool('stream_error_on_invalid_http_messaging');
  const override = r.wrappedBool('override_stream_error_on_invalid_http_message');
  if (override === false)
    r.ctx.error(
      r.at('override_stream_error_on_invalid_http_message'),
      'an invalid HTTP/2 message always resets only its stream',
    );
  r.unsupported('custom_settings_parameters', 'custom SETTINGS parameters are not supported');
  r.ignore('use_oghttp2_codec');
  r.unsupported('max_metadata_size', 'HTTP/2 METADATA frames are not supported');
  r.done();
}
