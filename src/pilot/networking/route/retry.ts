/**
 * VirtualService `retries` -> Envoy RetryPolicy (Istio's retry.ConvertPolicy).
 *
 * Unset retries take MeshConfig.defaultHttpRetryPolicy, else Istio's default: 2 retries on
 * "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes" with 503
 * retriable, the previous-hosts host predicate (not with consistent hashing, which must keep
 * its host) and 5 host-selection attempts. `attempts: 0` disables retries. Numbers in `retryOn`
 * that are HTTP status codes become retriable_status_codes.
 */
import type { HTTPRetry } from '../../../api/networking/virtual-service.ts';
import { parseDuration } from '../../../lib/duration.ts';
import { typed } from '../../../lib/xds/any.ts';
import {
  PREVIOUS_HOSTS_PREDICATE_TYPE_URL,
  PREVIOUS_PRIORITIES_CONFIG_TYPE_URL,
} from '../../../lib/xds/type-urls.ts';
import { toProtoDuration } from '../../../lib/xds/well-known.ts';
import { RETRY_PREVIOUS_HOSTS, RETRY_PREVIOUS_PRIORITIES } from '../filters/names.ts';
import type { Proto } from './match.ts';

export const DEFAULT_RETRY_ON = 'connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes';
export const DEFAULT_NUM_RETRIES = 2;
export const HOST_SELECTION_RETRY_MAX_ATTEMPTS = 5;
/** How often previous_priorities re-evaluates (Istio's fixed value). */
const PREVIOUS_PRIORITIES_UPDATE_FREQUENCY = 2;

/** Status codes Go's net/http knows (Istio keeps a retryOn number only if it is one of these). */
const HTTP_STATUS_CODES: ReadonlySet<number> = new Set([
  100, 101, 102, 103, 200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 307,
  308, 400, 401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415, 416, 417, 418, 421,
  422, 423, 424, 425, 426, 428, 429, 431, 451, 500, 501, 502, 503, 504, 505, 506, 507, 508, 510, 511,
]);

export function previousHostsPredicate(): Proto {
  return { name: RETRY_PREVIOUS_HOSTS, typed_config: typed(PREVIOUS_HOSTS_PREDICATE_TYPE_URL, {}) };
}

function defaultPolicy(consistentHash: boolean): Proto {
  const out: Proto = {
    retry_on: DEFAULT_RETRY_ON,
    num_retries: { value: DEFAULT_NUM_RETRIES },
    host_selection_retry_max_attempts: HOST_SELECTION_RETRY_MAX_ATTEMPTS,
    retriable_status_codes: [503],
  };
  if (!consistentHash) out.retry_host_predicate = [previousHostsPredicate()];
  return out;
}

function parseRetryOn(retryOn: string): { retryOn: string; codes: number[] } {
  const names: string[] = [];
  const codes: number[] = [];
  for (const raw of retryOn.split(',')) {
    const part = raw.trim();
    if (part === '') continue;
    const n = /^\d+$/.test(part) ? Number(part) : Number.NaN;
    if (HTTP_STATUS_CODES.has(n)) codes.push(n);
    else names.push(part);
  }
  return { retryOn: names.join(','), codes };
}

/**
 * The route's retry policy; undefined means "no retries" (attempts: 0). `retries` is the
 * VirtualService value, or MeshConfig.defaultHttpRetryPolicy when the route sets none.
 */
export function buildRetryPolicy(retries: HTTPRetry | undefined, consistentHash: boolean): Proto | undefined {
  const out = defaultPolicy(consistentHash);
  if (!retries) return out;
  if ((retries.attempts ?? 0) <= 0) return undefined;

  out.num_retries = { value: retries.attempts };
  if (retries.retryOn !== undefined && retries.retryOn !== '') {
    const parsed = parseRetryOn(retries.retryOn);
    out.retry_on = parsed.retryOn;
    out.retriable_status_codes = parsed.codes;
    if (parsed.codes.length > 0 && !parsed.retryOn.includes('retriable-status-codes')) {
      out.retry_on =
        parsed.retryOn === '' ? 'retriable-status-codes' : `${parsed.retryOn},retriable-status-codes`;
    }
  }
  if (retries.perTryTimeout !== undefined) {
    out.per_try_timeout = toProtoDuration(parseDuration(retries.perTryTimeout) ?? 0);
  }
  if (retries.retryIgnorePreviousHosts !== undefined) {
    if (retries.retryIgnorePreviousHosts) out.retry_host_predicate = [previousHostsPredicate()];
    else delete out.retry_host_predicate;
  }
  if (retries.retryRemoteLocalities) {
    out.retry_priority = {
      name: RETRY_PREVIOUS_PRIORITIES,
      typed_config: typed(PREVIOUS_PRIORITIES_CONFIG_TYPE_URL, {
        update_frequency: PREVIOUS_PRIORITIES_UPDATE_FREQUENCY,
      }),
    };
  }
  if (retries.backoff !== undefined) {
    out.retry_back_off = { base_interval: toProtoDuration(parseDuration(retries.backoff) ?? 0) };
  }
  return out;
}
