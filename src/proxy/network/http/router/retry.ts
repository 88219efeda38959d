/**
 * Retry policy (config.route.v3.RetryPolicy) compiled into bits and numbers, and the per-request
 * retry state that decides, for each failed attempt, whether another one follows and after
 * which back-off. The router consults it as a layer: it reports an outcome (response headers,
 * reset, timeout) and gets back "retry after N ms" or "no".
 *
 * Istio's default (what mizzend writes when a VirtualService sets no retries): retry_on
 * "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes", num_retries 2,
 * retriable_status_codes [503], the previous_hosts retry host predicate and
 * host_selection_retry_max_attempts 5. It is an ordinary RetryPolicy here: nothing is implied
 * by the proxy when a route has no retry_policy (Envoy semantics: then no retries).
 */
import type { ProtoReader } from '../../../config/proto.ts';
import { readAny } from '../../../config/proto.ts';
import { TYPE } from '../../../config/type-names.ts';
import { H_GRPC_STATUS, H_X_ENVOY_RATELIMITED, type HeaderMap } from '../headers.ts';
import { compileHeaderMatcher, type HeaderMatcher, type RequestView } from './matchers.ts';

export const RETRY_5XX = 1 << 0;
export const RETRY_GATEWAY_ERROR = 1 << 1;
export const RETRY_RESET = 1 << 2;
export const RETRY_RESET_BEFORE_REQUEST = 1 << 3;
export const RETRY_CONNECT_FAILURE = 1 << 4;
export const RETRY_RETRIABLE_4XX = 1 << 5;
export const RETRY_REFUSED_STREAM = 1 << 6;
export const RETRY_RETRIABLE_STATUS_CODES = 1 << 7;
export const RETRY_RETRIABLE_HEADERS = 1 << 8;
export const RETRY_ENVOY_RATELIMITED = 1 << 9;
export const RETRY_HTTP3_POST_CONNECT_FAILURE = 1 << 10;
export const RETRY_GRPC_CANCELLED = 1 << 11;
export const RETRY_GRPC_DEADLINE_EXCEEDED = 1 << 12;
export const RETRY_GRPC_INTERNAL = 1 << 13;
export const RETRY_GRPC_RESOURCE_EXHAUSTED = 1 << 14;
export const RETRY_GRPC_UNAVAILABLE = 1 << 15;

const HTTP_RETRY_ON: Record<string, number> = {
  '5xx': RETRY_5XX,
  'gateway-error': RETRY_GATEWAY_ERROR,
  reset: RETRY_RESET,
  'reset-before-request': RETRY_RESET_BEFORE_REQUEST,
  'connect-failure': RETRY_CONNECT_FAILURE,
  'retriable-4xx': RETRY_RETRIABLE_4XX,
  'refused-stream': RETRY_REFUSED_STREAM,
  'retriable-status-codes': RETRY_RETRIABLE_STATUS_CODES,
  'retriable-headers': RETRY_RETRIABLE_HEADERS,
  'envoy-ratelimited': RETRY_ENVOY_RATELIMITED,
  'http3-post-connect-failure': RETRY_HTTP3_POST_CONNECT_FAILURE,
};
const GRPC_RETRY_ON: Record<string, number> = {
  cancelled: RETRY_GRPC_CANCELLED,
  'deadline-exceeded': RETRY_GRPC_DEADLINE_EXCEEDED,
  internal: RETRY_GRPC_INTERNAL,
  'resource-exhausted': RETRY_GRPC_RESOURCE_EXHAUSTED,
  unavailable: RETRY_GRPC_UNAVAILABLE,
};

/** Parses a retry_on list; returns the bits and the unknown tokens. */
export function parseRetryOn(value: string, grpcOnly = false): { bits: number; unknown: string[] } {
  let bits = 0;
  const unknown: string[] = [];
  for (const raw of value.split(',')) {
    const t = raw.trim();
    if (t === '') continue;
    const b = (grpcOnly ? undefined : HTTP_RETRY_ON[t]) ?? GRPC_RETRY_ON[t];
    if (b === undefined) unknown.push(t);
    else bits |= b;
  }
  return { bits, unknown };
}

export class RetryPolicy {
  retryOn = 0;
  numRetries = 1;
  perTryTimeoutMs = 0;
  perTryIdleTimeoutMs = 0;
  retriableStatusCodes: readonly number[] = [];
  retriableHeaders: readonly HeaderMatcher[] = [];
  retriableRequestHeaders: readonly HeaderMatcher[] = [];
  baseIntervalMs = 25;
  maxIntervalMs = 250;
  previousHosts = false;
  hostSelectionMaxAttempts = 1;
}

/** config.route.v3.RetryPolicy → RetryPolicy. */
export function compileRetryPolicy(r: ProtoReader): RetryPolicy {
  const p = new RetryPolicy();
  const { bits, unknown } = parseRetryOn(r.string('retry_on'));
  if (unknown.length > 0)
    r.ctx.error(r.at('retry_on'), `unknown retry_on condition(s): ${unknown.join(', ')}`);
  p.retryOn = bits;
  p.numRetries = r.wrappedNumber('num_retries', 1);
  p.perTryTimeoutMs = r.duration('per_try_timeout') ?? 0;
  p.perTryIdleTimeoutMs = r.duration('per_try_idle_timeout') ?? 0;
  p.retriableStatusCodes = r.list('retriable_status_codes').map((c, i) => {
    const n = Number(c);
    if (!Number.isInteger(n) || n < 100 || n > 599)
      r.ctx.error(`${r.at('retriable_status_codes')}[${i}]`, 'not an HTTP status code');
    return n;
  });
  p.retriableHeaders = r
    .messages('retriable_headers')
    .map(compileHeaderMatcher)
    .filter((m): m is HeaderMatcher => m !== undefined);
  p.retriableRequestHeaders = r
    .messages('retriable_request_headers')
    .map(compileHeaderMatcher)
    .filter((m): m is HeaderMatcher => m !== undefined);
  const backoff = r.message('retry_back_off');
  if (backoff) {
    const base = backoff.duration('base_interval');
    const max = backoff.duration('max_interval');
    backoff.done();
    if (base === undefined || base <= 0)
      backoff.ctx.error(backoff.at('base_interval'), 'base_interval must be greater than zero');
    else {
      p.baseIntervalMs = base;
      p.maxIntervalMs = max ?? base * 10;
      if (p.maxIntervalMs < base)
        backoff.ctx.error(backoff.at('max_interval'), 'max_interval must not be less than base_interval');
    }
  }
  for (const pred of r.messages('retry_host_predicate')) {
    const name = pred.string('name');
    const any = pred.raw('typed_config');
    pred.raw('config_type');
    let typeName = '';
    if (any !== undefined && any !== null) {
      const opened = readAny(pred.ctx, any, pred.at('typed_config'));
      if (opened) {
        typeName = opened.typeName;
        opened.reader.done();
      }
    }
    pred.done();
    if (
      typeName === TYPE.PREVIOUS_HOSTS_PREDICATE ||
      (typeName === '' && name === 'envoy.retry_host_predicates.previous_hosts')
    ) {
      p.previousHosts = true;
    } else {
      pred.ctx.error(
        pred.path,
        `retry host predicate ${typeName || name} is not supported (only previous_hosts)`,
      );
    }
  }
  p.hostSelectionMaxAttempts = r.number('host_selection_retry_max_attempts', 1);
  r.unsupported('retry_priority', 'retry priority extensions are not supported');
  r.unsupported('rate_limited_retry_back_off', 'rate-limited retry back-off is not supported');
  r.unsupported('retry_options_predicates', 'retry options predicates are not supported');
  r.done();
  return p;
}

// Outcomes the router reports.
export const OUTCOME_CONNECT_FAILURE = 1;
export const OUTCOME_RESET = 2;
export const OUTCOME_RESET_BEFORE_REQUEST = 3;
export const OUTCOME_PER_TRY_TIMEOUT = 4;
export const OUTCOME_REFUSED_STREAM = 5;

function grpcStatusBits(code: number): number {
  switch (code) {
    case 1:
      return RETRY_GRPC_CANCELLED;
    case 4:
      return RETRY_GRPC_DEADLINE_EXCEEDED;
    case 8:
      return RETRY_GRPC_RESOURCE_EXHAUSTED;
    case 13:
      return RETRY_GRPC_INTERNAL;
    case 14:
      return RETRY_GRPC_UNAVAILABLE;
    default:
      return 0;
  }
}

/** Per-request retry bookkeeping (created only when a policy or x-envoy-retry-on applies). */
export class RetryState {
  readonly policy: RetryPolicy;
  retryOn: number;
  remaining: number;
  retriableStatusCodes: readonly number[];
  retriableHeaderNames: readonly string[] = [];
  /** Retries done so far. */
  attempts = 0;
  readonly random: () => number;

  constructor(policy: RetryPolicy, random: () => number = Math.random) {
    this.policy = policy;
    this.retryOn = policy.retryOn;
    this.remaining = policy.numRetries;
    this.retriableStatusCodes = policy.retriableStatusCodes;
    this.random = random;
  }

  /** Whether the retry policy applies to this request at all (retriable_request_headers). */
  static appliesTo(policy: RetryPolicy, req: RequestView): boolean {
    for (const m of policy.retriableRequestHeaders) if (!m.matches(req)) return false;
    return true;
  }

  /** Would a response with these headers be retried (ignoring the remaining budget)? */
  retriableResponse(status: number, headers: HeaderMap): boolean {
    const on = this.retryOn;
    if (headers.hasKnown(H_X_ENVOY_RATELIMITED) && headers.indexOfKnown(H_X_ENVOY_RATELIMITED) >= 0) {
      return (on & RETRY_ENVOY_RATELIMITED) !== 0;
    }
    if ((on & RETRY_5XX) !== 0 && status >= 500 && status <= 599) return true;
    if ((on & RETRY_GATEWAY_ERROR) !== 0 && status >= 502 && status <= 504) return true;
    if ((on & RETRY_RETRIABLE_4XX) !== 0 && status === 409) return true;
    if ((on & RETRY_RETRIABLE_STATUS_CODES) !== 0 && this.retriableStatusCodes.includes(status)) return true;
    if ((on & RETRY_RETRIABLE_HEADERS) !== 0) {
      for (const m of this.policy.retriableHeaders) if (m.matchesHeaders(headers)) return true;
      for (const n of this.retriableHeaderNames) if (headers.has(n)) return true;
    }
    if (
      (on &
        (RETRY_GRPC_CANCELLED |
          RETRY_GRPC_DEADLINE_EXCEEDED |
          RETRY_GRPC_INTERNAL |
          RETRY_GRPC_RESOURCE_EXHAUSTED |
          RETRY_GRPC_UNAVAILABLE)) !==
      0
    ) {
      const gs = headers.getKnown(H_GRPC_STATUS);
      if (gs !== undefined && (grpcStatusBits(Number(gs)) & on) !== 0) return true;
    }
    return false;
  }

  /** Would this failure (no response headers) be retried? */
  retriableFailure(outcome: number): boolean {
    const on = this.retryOn;
    if ((on & (RETRY_5XX | RETRY_GATEWAY_ERROR | RETRY_RESET)) !== 0) return true;
    switch (outcome) {
      case OUTCOME_CONNECT_FAILURE:
        return (on & (RETRY_CONNECT_FAILURE | RETRY_RESET_BEFORE_REQUEST)) !== 0;
      case OUTCOME_RESET_BEFORE_REQUEST:
        return (on & RETRY_RESET_BEFORE_REQUEST) !== 0;
      case OUTCOME_REFUSED_STREAM:
        return (on & RETRY_REFUSED_STREAM) !== 0;
      default:
        return false;
    }
  }

  /** Consumes one retry if any is left; returns the back-off in ms, or -1 when exhausted. */
  nextBackoff(): number {
    if (this.remaining <= 0) return -1;
    this.remaining--;
    this.attempts++;
    // Fully jittered exponential back-off: uniform in [0, (2^n - 1) * base), capped at max.
    const n = Math.min(this.attempts, 30);
    const ceiling = (2 ** n - 1) * this.policy.baseIntervalMs;
    return Math.min(Math.floor(this.random() * ceiling), this.policy.maxIntervalMs);
  }
}
