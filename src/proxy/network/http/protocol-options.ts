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
