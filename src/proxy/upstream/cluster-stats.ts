/**
 * Per-cluster statistics (Envoy's `cluster.<name>.*` names) and the DEFAULT-priority circuit
 * breaker counters. Built once per cluster name; the hot path increments fields.
 */
import {
  CodeCounters,
  type Counter,
  type Gauge,
  type Histogram,
  type StatsScope,
  type StatsStore,
} from '../stats/store.ts';

export class ClusterStats {
  readonly scope: StatsScope;
  readonly upstreamCxTotal: Counter;
  readonly upstreamCxActive: Gauge;
  readonly upstreamCxHttp1Total: Counter;
  readonly upstreamCxHttp2Total: Counter;
  readonly upstreamCxConnectFail: Counter;
  readonly upstreamCxConnectTimeout: Counter;
  readonly upstreamCxOverflow: Counter;
  readonly upstreamCxDestroy: Counter;
  readonly upstreamCxDestroyLocal: Counter;
  readonly upstreamCxDestroyRemote: Counter;
  readonly upstreamCxDestroyWithActiveRq: Counter;
  readonly upstreamCxDestroyLocalWithActiveRq: Counter;
  readonly upstreamCxDestroyRemoteWithActiveRq: Counter;
  readonly upstreamCxRxBytesTotal: Counter;
  readonly upstreamCxTxBytesTotal: Counter;
  readonly upstreamCxIdleTimeout: Counter;
  readonly upstreamCxMaxRequests: Counter;
  readonly upstreamCxMaxDurationReached: Counter;
  readonly upstreamCxProtocolError: Counter;
  readonly upstreamCxNoneHealthy: Counter;
  readonly upstreamRqTotal: Counter;
  readonly upstreamRqActive: Gauge;
  readonly upstreamRqCompleted: Counter;
  readonly upstreamRqPendingTotal: Counter;
  readonly upstreamRqPendingActive: Gauge;
  readonly upstreamRqPendingOverflow: Counter;
  readonly upstreamRqPendingFailureEject: Counter;
  readonly upstreamRqCancelled: Counter;
  readonly upstreamRqTimeout: Counter;
  readonly upstreamRqPerTryTimeout: Counter;
  readonly upstreamRqRxReset: Counter;
  readonly upstreamRqTxReset: Counter;
  readonly upstreamRqRetry: Counter;
  readonly upstreamRqRetrySuccess: Counter;
  readonly upstreamRqRetryOverflow: Counter;
  readonly upstreamRqRetryLimitExceeded: Counter;
  readonly upstreamRqRetryBackoffExponential: Counter;
  readonly upstreamRqMaxDurationReached: Counter;
  readonly upstreamRqTime: Histogram;
  readonly upstreamRqCodes: CodeCounters;
  readonly membershipTotal: Gauge;
  readonly membershipHealthy: Gauge;
  readonly membershipDegraded: Gauge;
  readonly membershipChange: Counter;
  readonly lbHealthyPanic: Counter;
  readonly updateAttempt: Counter;
  readonly updateSuccess: Counter;
  readonly updateFailure: Counter;
  readonly updateEmpty: Counter;
  readonly originalDstHostInvalid: Counter;

  constructor(store: StatsStore, statName: string) {
    const s = store.scope(`cluster.${statName}`);
    this.scope = s;
    this.upstreamCxTotal = s.counter('upstream_cx_total');
    this.upstreamCxActive = s.gauge('upstream_cx_active');
    this.upstreamCxHttp1Total = s.counter('upstream_cx_http1_total');
    this.upstreamCxHttp2Total = s.counter('upstream_cx_http2_total');
    this.upstreamCxConnectFail = s.counter('upstream_cx_connect_fail');
    this.upstreamCxConnectTimeout = s.counter('upstream_cx_connect_timeout');
    this.upstreamCxOverflow = s.counter('upstream_cx_overflow');
    this.upstreamCxDestroy = s.counter('upstream_cx_destroy');
    this.upstreamCxDestroyLocal = s.counter('upstream_cx_destroy_local');
    this.upstreamCxDestroyRemote = s.counter('upstream_cx_destroy_remote');
    this.upstreamCxDestroyWithActiveRq = s.counter('upstream_cx_destroy_with_active_rq');
    this.upstreamCxDestroyLocalWithActiveRq = s.counter('upstream_cx_destroy_local_with_active_rq');
    this.upstreamCxDestroyRemoteWithActiveRq = s.counter('upstream_cx_destroy_remote_with_active_rq');
    this.upstreamCxRxBytesTotal = s.counter('upstream_cx_rx_bytes_total');
    this.upstreamCxTxBytesTotal = s.counter('upstream_cx_tx_bytes_total');
    this.upstreamCxIdleTimeout = s.counter('upstream_cx_idle_timeout');
    this.upstreamCxMaxRequests = s.counter('upstream_cx_max_requests');
    this.upstreamCxMaxDurationReached = s.counter('upstream_cx_max_duration_reached');
    this.upstreamCxProtocolError = s.counter('upstream_cx_protocol_error');
    this.upstreamCxNoneHealthy = s.counter('upstream_cx_none_healthy');
    this.upstreamRqTotal = s.counter('upstream_rq_total');
    this.upstreamRqActive = s.gauge('upstream_rq_active');
    this.upstreamRqCompleted = s.counter('upstream_rq_completed');
    this.upstreamRqPendingTotal = s.counter('upstream_rq_pending_total');
    this.upstreamRqPendingActive = s.gauge('upstream_rq_pending_active');
    this.upstreamRqPendingOverflow = s.counter('upstream_rq_pending_overflow');
    this.upstreamRqPendingFailureEject = s.counter('upstream_rq_pending_failure_eject');
    this.upstreamRqCancelled = s.counter('upstream_rq_cancelled');
    this.upstreamRqTimeout = s.counter('upstream_rq_timeout');
    this.upstreamRqPerTryTimeout = s.counter('upstream_rq_per_try_timeout');
    this.upstreamRqRxReset = s.counter('upstream_rq_rx_reset');
    this.upstreamRqTxReset = s.counter('upstream_rq_tx_reset');
    this.upstreamRqRetry = s.counter('upstream_rq_retry');
    this.upstreamRqRetrySuccess = s.counter('upstream_rq_retry_success');
    this.upstreamRqRetryOverflow = s.counter('upstream_rq_retry_overflow');
    this.upstreamRqRetryLimitExceeded = s.counter('upstream_rq_retry_limit_exceeded');
    this.upstreamRqRetryBackoffExponential = s.counter('upstream_rq_retry_backoff_exponential');
    this.upstreamRqMaxDurationReached = s.counter('upstream_rq_max_duration_reached');
    this.upstreamRqTime = s.histogram('upstream_rq_time');
    this.upstreamRqCodes = new CodeCounters(s, 'upstream_rq');
    this.membershipTotal = s.gauge('membership_total');
    this.membershipHealthy = s.gauge('membership_healthy');
    this.membershipDegraded = s.gauge('membership_degraded');
    this.membershipChange = s.counter('membership_change');
    this.lbHealthyPanic = s.counter('lb_healthy_panic');
    this.updateAttempt = s.counter('update_attempt');
    this.updateSuccess = s.counter('update_success');
    this.updateFailure = s.counter('update_failure');
    this.updateEmpty = s.counter('update_empty');
    this.originalDstHostInvalid = s.counter('original_dst_host_invalid');
  }
}

/** Circuit breaker thresholds (DEFAULT priority); Envoy's defaults. */
export interface Thresholds {
  readonly maxConnections: number;
  readonly maxPendingRequests: number;
  readonly maxRequests: number;
  readonly maxRetries: number;
}

export const DEFAULT_THRESHOLDS: Thresholds = {
  maxConnections: 1024,
  maxPendingRequests: 1024,
  maxRequests: 1024,
  maxRetries: 3,
};

/** Live usage against the thresholds (shared by all hosts of a cluster). */
export class ResourceManager {
  thresholds: Thresholds;
  connections = 0;
  pending = 0;
  requests = 0;
  retries = 0;
  constructor(thresholds: Thresholds) {
    this.thresholds = thresholds;
  }
  canCreateConnection(): boolean {
    return this.connections < this.thresholds.maxConnections;
  }
  canQueue(): boolean {
    return this.pending < this.thresholds.maxPendingRequests;
  }
  canRequest(): boolean {
    return this.requests < this.thresholds.maxRequests;
  }
  canRetry(): boolean {
    return this.retries < this.thresholds.maxRetries;
  }
}
