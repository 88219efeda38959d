/**
 * The router: the terminal HTTP filter. It applies the selected route (direct response,
 * redirect, or forwarding with rewrites and header mutations), picks a cluster and host, sends
 * the request over the host's HTTP/1.1 or HTTP/2 pool (the cluster's protocol options decide;
 * an `Attempt` hides which, translating framing: chunked ↔ DATA, trailers both ways), and
 * streams the response back. Timeouts and
 * retries are layers around each attempt: an attempt ends in a response head, a reset or a
 * per-try timeout; the retry state decides whether another attempt follows (after a jittered
 * back-off); the route timeout bounds them all.
 */

import { latin1Write } from '../../../common/bytes.ts';
import type { ProtoReader } from '../../../config/proto.ts';
import { TYPE } from '../../../config/type-names.ts';
import {
  formatAddress,
  RF_NO_CLUSTER_FOUND,
  RF_NO_HEALTHY_UPSTREAM,
  RF_NO_ROUTE_FOUND,
  RF_UPSTREAM_CONNECTION_FAILURE,
  RF_UPSTREAM_CONNECTION_TERMINATION,
  RF_UPSTREAM_OVERFLOW,
  RF_UPSTREAM_PROTOCOL_ERROR,
  RF_UPSTREAM_REMOTE_RESET,
  RF_UPSTREAM_REQUEST_TIMEOUT,
  RF_UPSTREAM_RETRY_LIMIT_EXCEEDED,
} from '../../../stream-info.ts';
import type { Cluster } from '../../../upstream/cluster.ts';
import type { ClusterManager } from '../../../upstream/cluster-manager.ts';
import type { Host } from '../../../upstream/host.ts';
import type { LbContext } from '../../../upstream/lb/load-balancer.ts';
import {
  type H1Connection,
  type H1Pool,
  POOL_CONNECT_TIMEOUT,
  POOL_OVERFLOW,
  POOL_USE_HTTP1,
  type PoolRequest,
  RESET_CONNECTION_TERMINATION,
  RESET_PROTOCOL_ERROR,
  RESET_REFUSED_STREAM,
  RESET_REMOTE,
} from '../../../upstream/pool/h1.ts';
import type { H2Pool, H2PoolRequest, H2UpstreamStream } from '../../../upstream/pool/h2.ts';
import type { Pausable } from '../../write-buffer.ts';
import { chunkHeader, type H1Parser, HEAD_CONTINUE, HEAD_NO_BODY } from '../codec-h1.ts';
import { toH2Headers, toH2RawHeaders } from '../codec-h2.ts';
import type { ActiveStream } from '../connection-manager.ts';
import {
  CONTINUE,
  type FilterStatus,
  type HttpFilter,
  type HttpFilterFactory,
  type HttpStream,
  type LocalReply,
} from '../filters/filter.ts';
import { registerHttpFilter } from '../filters/registry.ts';
import { PAUSE_BODY_BUFFER } from '../flow-control.ts';
import {
  H_CONTENT_LENGTH,
  H_GRPC_TIMEOUT,
  H_HOST,
  H_X_ENVOY_ATTEMPT_COUNT,
  H_X_ENVOY_EXPECTED_RQ_TIMEOUT_MS,
  H_X_ENVOY_IS_TIMEOUT_RETRY,
  H_X_ENVOY_MAX_RETRIES,
  H_X_ENVOY_ORIGINAL_PATH,
  H_X_ENVOY_RETRIABLE_HEADER_NAMES,
  H_X_ENVOY_RETRIABLE_STATUS_CODES,
  H_X_ENVOY_RETRY_GRPC_ON,
  H_X_ENVOY_RETRY_ON,
  H_X_ENVOY_UPSTREAM_RQ_PER_TRY_TIMEOUT_MS,
  H_X_ENVOY_UPSTREAM_RQ_TIMEOUT_ALT_RESPONSE,
  H_X_ENVOY_UPSTREAM_RQ_TIMEOUT_MS,
  H_X_ENVOY_UPSTREAM_SERVICE_TIME,
  H_X_FORWARDED_HOST,
  HeaderMap,
  writeLatin1,
} from '../headers.ts';
import {
  type FormatContext,
  FV_UPSTREAM_CLUSTER,
  FV_UPSTREAM_HOST,
  FV_UPSTREAM_REMOTE_ADDRESS,
  FV_UPSTREAM_REMOTE_ADDRESS_WITHOUT_PORT,
} from './header-mutation.ts';
import {
  OUTCOME_CONNECT_FAILURE,
  OUTCOME_PER_TRY_TIMEOUT,
  OUTCOME_REFUSED_STREAM,
  OUTCOME_RESET,
  parseRetryOn,
  RetryPolicy,
  RetryState,
} from './retry.ts';
import {
  ACTION_DIRECT_RESPONSE,
  ACTION_REDIRECT,
  type RouteEntry,
  redirectLocation,
  TLS_ALL,
  TLS_EXTERNAL_ONLY,
  type WeightedClusterEntry,
} from './route-table.ts';

/** Router config (extensions.filters.http.router.v3.Router). */
export interface RouterSettings {
  readonly suppressEnvoyHeaders: boolean;
  readonly respectExpectedRqTimeout: boolean;
}

const DEFAULT_BUFFER_LIMIT = 1024 * 1024;
const EMPTY = Buffer.alloc(0);
/** Policy used when only x-envoy-retry-on headers ask for retries. */
const HEADER_ONLY_POLICY = new RetryPolicy();

export class RouterFilterFactory implements HttpFilterFactory {
  readonly name: string;
  readonly terminal = true;
  readonly settings: RouterSettings;
  readonly clusterManager: ClusterManager;
  constructor(name: string, settings: RouterSettings, clusterManager: ClusterManager) {
    this.name = name;
    this.settings = settings;
    this.clusterManager = clusterManager;
  }
  create(stream: HttpStream): HttpFilter {
    return new RouterFilter(this, stream as ActiveStream);
  }
}

const RESET_TEXT = 'upstream connect error or disconnect/reset before headers. ';

class RouterFilter implements HttpFilter, LbContext, FormatContext {
  private readonly f: RouterFilterFactory;
  private readonly s: ActiveStream;
  private route: RouteEntry | undefined;
  private cluster: Cluster | undefined;
  private weighted: WeightedClusterEntry | undefined;
  private retry: RetryState | null = null;
  private attempt: Attempt | null = null;
  private attempts = 0;
  private attemptedHosts: Host[] | null = null;
  private retryTimer: NodeJS.Timeout | undefined;
  private retriesHeld = 0;
  // Request body.
  private body: Buffer[] | null = null;
  private bodyBytes = 0;
  /** Keep the body after it was sent, for retries. */
  private keepBody = false;
  private bodyLimit = DEFAULT_BUFFER_LIMIT;
  private requestEnded = false;
  /** Upstream request body framing: chunked when the downstream one had no length. */
  private chunked = false;
  private isUpgrade = false;
  // Timeouts.
  private timeoutMs = 0;
  private perTryMs = 0;
  private globalDeadline = 0;
  private timeoutAltResponse = false;
  private done = false;
  private lastResetReason = '';

  constructor(f: RouterFilterFactory, s: ActiveStream) {
    this.f = f;
    this.s = s;
  }

  onRequestHeaders(_stream: HttpStream, endStream: boolean): FilterStatus {
    const s = this.s;
    const stats = s.hcm.stats;
    const route = s.route;
    if (route === undefined) {
      stats.noRoute.value++;
      return { status: 404, body: '', details: 'route_not_found', flags: RF_NO_ROUTE_FOUND };
    }
    this.route = route;
    const vh = route.vhost;
    if (
      !s.connection.secure &&
      (vh.requireTls === TLS_ALL || (vh.requireTls === TLS_EXTERNAL_ONLY && !s.internal))
    ) {
      return {
        status: 301,
        body: '',
        details: 'direct_response',
        headers: [['location', `https://${s.authority}${s.path}`]],
      };
    }
    if (route.action === ACTION_DIRECT_RESPONSE) {
      stats.rqDirectResponse.value++;
      this.localResponse(route.directStatus, route.directBody ?? EMPTY, 'direct_response');
      return CONTINUE;
    }
    if (route.action === ACTION_REDIRECT) {
      stats.rqRedirect.value++;
      const location = redirectLocation(route.redirect!, route, s, s.conn.scratch);
      const h = new HeaderMap();
      h.add('location', location);
      this.localResponse(route.redirect!.status, EMPTY, 'direct_response', h);
      return CONTINUE;
    }
    stats.rqTotal.value++;

    // Cluster.
    let clusterName: string | undefined = route.cluster;
    if (route.weighted !== undefined) {
      this.weighted = pickWeighted(route, s);
      clusterName = this.weighted.name;
    } else if (route.clusterHeader !== undefined) {
      clusterName = s.requestHeaders.get(route.clusterHeader);
      if (clusterName === undefined) {
        stats.noCluster.value++;
        return { status: 404, body: '', details: 'cluster_not_found', flags: RF_NO_CLUSTER_FOUND };
      }
    }
    const cluster = clusterName === undefined ? undefined : this.f.clusterManager.get(clusterName);
    if (cluster === undefined) {
      stats.noCluster.value++;
      return {
        status: route.clusterNotFoundStatus,
        body: '',
        details: 'cluster_not_found',
        flags: RF_NO_CLUSTER_FOUND,
      };
    }
    this.cluster = cluster;
    s.upstreamCluster = cluster.name;
    s.upstreamFacts = this;

    const h = s.requestHeaders;
    const suppress = this.f.settings.suppressEnvoyHeaders;
    // Header mutations: weighted cluster, route, virtual host, route configuration.
    this.applyRequestMutations();

    // Path and host rewrites.
    const scratch = s.conn.scratch;
    const newPath = route.rewritePath(s.path, scratch);
    if (newPath !== undefined && newPath !== s.path) {
      if (!suppress) h.setKnown(H_X_ENVOY_ORIGINAL_PATH, s.path);
      s.path = newPath;
    }
    let newHost: string | undefined = this.weighted?.hostRewriteLiteral ?? route.hostRewriteLiteral;
    if (newHost === undefined && route.hostRewriteHeader !== undefined)
      newHost = h.get(route.hostRewriteHeader);
    if (newHost === undefined && route.hostRewritePathRegex !== undefined) {
      const rr = route.hostRewritePathRegex;
      newHost = rr.regex.replaceAll(scratch.pathOnly(s.path), rr.substitution);
    }
    if (newHost !== undefined && newHost !== '') this.rewriteHost(newHost);

    // Timeouts.
    this.timeoutMs = route.timeoutMs;
    if (route.maxGrpcTimeoutMs !== undefined && s.isGrpc) {
      // max_grpc_timeout: the client's grpc-timeout (absent = none) is the route timeout, capped.
      let t = parseGrpcTimeout(h.getKnown(H_GRPC_TIMEOUT)) ?? 0;
      const max = route.maxGrpcTimeoutMs;
      if (max > 0 && (t === 0 || t > max)) t = max;
      const offset = route.grpcTimeoutOffsetMs;
      if (offset > 0 && t > offset) t -= offset;
      this.timeoutMs = t;
    }
    const internal = s.internal;
    if (this.f.settings.respectExpectedRqTimeout && internal) {
      const exp = intHeader(h.getKnown(H_X_ENVOY_EXPECTED_RQ_TIMEOUT_MS));
      if (exp !== undefined) this.timeoutMs = exp;
    }
    const hdrTimeout = intHeader(h.getKnown(H_X_ENVOY_UPSTREAM_RQ_TIMEOUT_MS));
    if (hdrTimeout !== undefined) this.timeoutMs = hdrTimeout;
    h.removeKnown(H_X_ENVOY_UPSTREAM_RQ_TIMEOUT_MS);
    if (route.grpcTimeoutHeaderMaxMs !== undefined && s.isGrpc) {
      const g = parseGrpcTimeout(h.getKnown(H_GRPC_TIMEOUT));
      if (g !== undefined) {
        let d = route.grpcTimeoutHeaderMaxMs > 0 ? Math.min(g, route.grpcTimeoutHeaderMaxMs) : g;
        d = Math.max(0, d - route.grpcTimeoutHeaderOffsetMs);
        if (d > 0) s.setMaxDuration(d);
      }
    }
    if (route.maxStreamDurationMs !== undefined && route.maxStreamDurationMs > 0)
      s.setMaxDuration(route.maxStreamDurationMs);
    if (route.idleTimeoutMs !== undefined) s.setIdleTimeout(route.idleTimeoutMs);
    this.timeoutAltResponse = h.indexOfKnown(H_X_ENVOY_UPSTREAM_RQ_TIMEOUT_ALT_RESPONSE) >= 0;
    h.removeKnown(H_X_ENVOY_UPSTREAM_RQ_TIMEOUT_ALT_RESPONSE);

    // Retries.
    this.setupRetries(route);
    if (this.retry !== null) {
      this.perTryMs = this.retry.policy.perTryTimeoutMs;
    } else if (route.retryPolicy !== undefined) {
      this.perTryMs = route.retryPolicy.perTryTimeoutMs;
    }
    const hdrPerTry = intHeader(h.getKnown(H_X_ENVOY_UPSTREAM_RQ_PER_TRY_TIMEOUT_MS));
    if (hdrPerTry !== undefined && (this.timeoutMs === 0 || hdrPerTry < this.timeoutMs))
      this.perTryMs = hdrPerTry;
    h.removeKnown(H_X_ENVOY_UPSTREAM_RQ_PER_TRY_TIMEOUT_MS);
    if (this.perTryMs > 0 && this.timeoutMs > 0 && this.perTryMs >= this.timeoutMs) this.perTryMs = 0;
    if (!suppress) {
      const expected = this.perTryMs > 0 ? this.perTryMs : this.timeoutMs;
      if (expected > 0) h.setKnown(H_X_ENVOY_EXPECTED_RQ_TIMEOUT_MS, String(expected));
      else h.removeKnown(H_X_ENVOY_EXPECTED_RQ_TIMEOUT_MS);
    }

    // Body framing upstream (HTTP/1.1 upstreams; HTTP/2 frames the body itself).
    this.isUpgrade = s.upgradeType !== undefined;
    this.chunked = !this.isUpgrade && !endStream && s.requestChunked;
    if (this.chunked) h.removeKnown(H_CONTENT_LENGTH);
    this.bodyLimit = route.perRequestBufferLimit ?? DEFAULT_BUFFER_LIMIT;
    this.keepBody = this.retry !== null && !endStream && !this.isUpgrade;
    if (!endStream) this.body = [];

    if (endStream) this.onRequestEnded();
    this.startAttempt();
    return CONTINUE;
  }

  private applyRequestMutations(): void {
    const s = this.s;
    const route = this.route!;
    const table = s.routeTable!;
    const h = s.requestHeaders;
    const w = this.weighted;
    if (table.mostSpecificHeaderMutationsWins) {
      if (!table.requestMutations.empty) table.requestMutations.apply(h, s);
      if (!route.vhost.requestMutations.empty) route.vhost.requestMutations.apply(h, s);
      if (!route.requestMutations.empty) route.requestMutations.apply(h, s);
      if (w !== undefined && !w.requestMutations.empty) w.requestMutations.apply(h, s);
    } else {
      if (w !== undefined && !w.requestMutations.empty) w.requestMutations.apply(h, s);
      if (!route.requestMutations.empty) route.requestMutations.apply(h, s);
      if (!route.vhost.requestMutations.empty) route.vhost.requestMutations.apply(h, s);
      if (!table.requestMutations.empty) table.requestMutations.apply(h, s);
    }
  }

  private applyResponseMutations(h: HeaderMap): void {
    const s = this.s;
    const route = this.route;
    const table = s.routeTable;
    if (route === undefined || table === undefined) return;
    const w = this.weighted;
    if (table.mostSpecificHeaderMutationsWins) {
      if (!table.responseMutations.empty) table.responseMutations.apply(h, s);
      if (!route.vhost.responseMutations.empty) route.vhost.responseMutations.apply(h, s);
      if (!route.responseMutations.empty) route.responseMutations.apply(h, s);
      if (w !== undefined && !w.responseMutations.empty) w.responseMutations.apply(h, s);
    } else {
      if (w !== undefined && !w.responseMutations.empty) w.responseMutations.apply(h, s);
      if (!route.responseMutations.empty) route.responseMutations.apply(h, s);
      if (!route.vhost.responseMutations.empty) route.vhost.responseMutations.apply(h, s);
      if (!table.responseMutations.empty) table.responseMutations.apply(h, s);
    }
  }

  private rewriteHost(host: string): void {
    const s = this.s;
    const h = s.requestHeaders;
    if (this.route!.appendXForwardedHost && host !== s.authority) {
      const prev = h.getKnown(H_X_FORWARDED_HOST);
      h.setKnown(H_X_FORWARDED_HOST, prev === undefined ? s.authority : `${prev},${s.authority}`);
    }
    s.authority = host;
    h.setKnown(H_HOST, host);
  }

  /** Direct responses and redirects: route response headers apply to them too. */
  private localResponse(
    status: number,
    body: Buffer,
    details: string,
    headers: HeaderMap = new HeaderMap(),
  ): void {
    const s = this.s;
    s.responseCodeDetails = details;
    s.responseStatus = status;
    s.responseHeaders = headers;
    if (body.length > 0) headers.add('content-type', 'text/plain');
    headers.add('content-length', String(body.length));
    this.applyResponseMutations(headers);
    s.encodeHeaders(status, headers, body.length, body.length === 0);
    if (body.length > 0) {
      s.encodeData(body, 0, body.length);
      s.encodeComplete();
    }
  }

  private setupRetries(route: RouteEntry): void {
    const s = this.s;
    const h = s.requestHeaders;
    let policy = route.retryPolicy;
    if (policy !== undefined && !RetryState.appliesTo(policy, s)) policy = undefined;
    const on = h.getKnown(H_X_ENVOY_RETRY_ON);
    const grpcOn = h.getKnown(H_X_ENVOY_RETRY_GRPC_ON);
    if (policy !== undefined || on !== undefined || grpcOn !== undefined) {
      const st = new RetryState(policy ?? HEADER_ONLY_POLICY, s.hcm.random);
      if (on !== undefined) st.retryOn |= parseRetryOn(on).bits;
      if (grpcOn !== undefined) st.retryOn |= parseRetryOn(grpcOn, true).bits;
      const max = intHeader(h.getKnown(H_X_ENVOY_MAX_RETRIES));
      if (max !== undefined) st.remaining = max;
      const codes = h.getKnown(H_X_ENVOY_RETRIABLE_STATUS_CODES);
      if (codes !== undefined) {
        const extra = codes
          .split(',')
          .map((c) => Number(c.trim()))
          .filter((n) => Number.isInteger(n) && n >= 100 && n <= 599);
        st.retriableStatusCodes = [...st.retriableStatusCodes, ...extra];
      }
      const names = h.getKnown(H_X_ENVOY_RETRIABLE_HEADER_NAMES);
      if (names !== undefined) {
        st.retriableHeaderNames = names
          .split(',')
          .map((n) => n.trim().toLowerCase())
          .filter((n) => n !== '');
      }
      if (st.retryOn !== 0 && st.remaining > 0) this.retry = st;
    }
    h.removeKnown(H_X_ENVOY_RETRY_ON);
    h.removeKnown(H_X_ENVOY_RETRY_GRPC_ON);
    h.removeKnown(H_X_ENVOY_MAX_RETRIES);
    h.removeKnown(H_X_ENVOY_RETRIABLE_STATUS_CODES);
    h.removeKnown(H_X_ENVOY_RETRIABLE_HEADER_NAMES);
  }

  /**
   * Request trailers: always forwarded over HTTP/2; over HTTP/1.1 only in a chunked body and
   * when the cluster enables trailers.
   */
  requestTrailers: HeaderMap | undefined;

  onRequestTrailers(_stream: HttpStream, trailers: HeaderMap): FilterStatus {
    this.requestTrailers = trailers.clone();
    return CONTINUE;
  }

  /** HTTP/1.1 upstream: whether response trailers are passed on (Envoy's enable_trailers). */
  get h1ResponseTrailers(): boolean {
    return this.s.hcm.http1.enableTrailers || this.s.h2 !== null;
  }

  /** HTTP/1.1 upstream: whether request trailers go out in the last chunk. */
  get h1Trailers(): boolean {
    return this.chunked && this.cluster?.config.http1.enableTrailers === true;
  }

  onRequestBody(_stream: HttpStream, data: Buffer, endStream: boolean): FilterStatus {
    if (this.done) return CONTINUE;
    const n = data.length;
    if (n > 0) {
      const a = this.attempt;
      if (this.keepBody || a === null || !a.connected) {
        this.body ??= [];
        this.body.push(data);
        this.bodyBytes += n;
        if (this.keepBody && this.bodyBytes > this.bodyLimit) {
          // Too much to replay: retries are off for this request.
          this.keepBody = false;
          this.retry = null;
        }
      }
      if (a?.connected) {
        a.writeBody(data);
        a.throttleSource(this.s.requestSource);
        if (!this.keepBody) {
          this.body = null;
          this.bodyBytes = 0;
        }
      } else if (this.bodyBytes > this.bodyLimit) {
        // Waiting for a connection with a full buffer: stop reading the client.
        this.s.pauseRequestFor(PAUSE_BODY_BUFFER);
      }
    }
    if (endStream) {
      this.onRequestEnded();
      const a = this.attempt;
      if (a?.connected) a.endBody();
    }
    return CONTINUE;
  }

  private onRequestEnded(): void {
    if (this.requestEnded) return;
    this.requestEnded = true;
    if (this.timeoutMs > 0 && !this.isUpgrade) {
      this.globalDeadline = Date.now() + this.timeoutMs;
      this.s.wakeAt(this.globalDeadline);
    }
  }

  // Attempts.

  private startAttempt(): void {
    if (this.done) return;
    const cluster = this.cluster!;
    const host = cluster.chooseHost(this);
    if (host === null) {
      cluster.stats.upstreamCxNoneHealthy.value++;
      this.reply({
        status: 503,
        body: 'no healthy upstream',
        details: 'no_healthy_upstream',
        flags: RF_NO_HEALTHY_UPSTREAM,
      });
      return;
    }
    this.attempts++;
    this.s.upstreamHost = host;
    const policy = this.retry?.policy;
    if (policy?.previousHosts) (this.attemptedHosts ??= []).push(host);
    if (this.route!.autoHostRewrite && host.hostname !== '') this.rewriteHost(host.hostname);
    // Upgrades (WebSocket) are HTTP/1.1 exchanges whatever the cluster's protocol.
    const a: Attempt =
      !this.isUpgrade && cluster.usesHttp2(host, this.s.h2 !== null)
        ? new H2UpstreamRequest(this, host, cluster.h2Pool(host))
        : new UpstreamRequest(this, host, cluster.pool(host));
    this.attempt = a;
    a.start(this.s.method, this.isUpgrade);
  }

  // LbContext.
  shouldSelectAnotherHost(host: Host): boolean {
    return this.attemptedHosts?.includes(host) === true;
  }
  get hostSelectionRetryCount(): number {
    const p = this.retry?.policy;
    return p?.previousHosts ? p.hostSelectionMaxAttempts : 0;
  }
  downstreamOriginalDst(): { address: string; port: number } {
    const c = this.s.connection;
    return c.originalDst ?? { address: c.localAddress, port: c.localPort };
  }
  requestHeader(name: string): string | undefined {
    return this.s.requestHeaders.get(name);
  }

  /** The attempt got its connection: write the head and whatever body we have. */
  onAttemptConnected(a: Attempt): void {
    const s = this.s;
    const h = s.requestHeaders;
    const vh = this.route!.vhost;
    if (vh.includeRequestAttemptCount) h.setKnown(H_X_ENVOY_ATTEMPT_COUNT, String(this.attempts));
    if (vh.includeIsTimeoutRetryHeader) {
      if (a.afterTimeout) h.setKnown(H_X_ENVOY_IS_TIMEOUT_RETRY, 'true');
      else h.removeKnown(H_X_ENVOY_IS_TIMEOUT_RETRY);
    }
    a.sendHead(s, h, this.chunked, this.isUpgrade, !s.expectBody);
    a.startTime = Date.now();
    if (this.perTryMs > 0) {
      a.deadline = a.startTime + this.perTryMs;
      s.wakeAt(a.deadline);
    }
    const body = this.body;
    if (body !== null) {
      for (let i = 0; i < body.length; i++) a.writeBody(body[i]);
      if (!this.keepBody) {
        this.body = null;
        this.bodyBytes = 0;
        this.s.resumeRequestFor(PAUSE_BODY_BUFFER);
      }
    }
    if (this.requestEnded) a.endBody();
    // Upstream backpressure: stop reading the client while the upstream socket is full.
    a.throttleSource(s.requestSource);
  }

  onAttemptFailed(a: Attempt, reason: number, detail: string): void {
    if (this.attempt !== a || this.done) return;
    this.attempt = null;
    if (reason === POOL_USE_HTTP1) {
      // auto_config: the host negotiated HTTP/1.1; the same try goes to its HTTP/1.1 pool.
      this.attempts--;
      if (this.attemptedHosts?.at(-1) === a.host) this.attemptedHosts.pop();
      this.startAttempt();
      return;
    }
    if (reason === POOL_OVERFLOW) {
      this.reply({
        status: 503,
        body: `${RESET_TEXT}reset reason: overflow`,
        details: 'upstream_reset_before_response_started{overflow}',
        flags: RF_UPSTREAM_OVERFLOW,
        headers: [['x-envoy-overloaded', 'true']],
      });
      return;
    }
    const why = reason === POOL_CONNECT_TIMEOUT ? 'connection timeout' : 'connection failure';
    this.lastResetReason = detail ? `${why}, transport failure reason: ${detail}` : why;

    if (this.retry?.retriableFailure(OUTCOME_CONNECT_FAILURE) && this.scheduleRetry(false)) return;
    this.failBeforeHeaders(
      503,
      RF_UPSTREAM_CONNECTION_FAILURE,
      'upstream_reset_before_response_started{connection_failure}',
    );
  }

  onAttemptReset(a: Attempt, reason: number, _detail: string): void {
    if (this.attempt !== a || this.done) return;
    this.attempt = null;
    const s = this.s;
    const flags =
      reason === RESET_PROTOCOL_ERROR
        ? RF_UPSTREAM_PROTOCOL_ERROR
        : reason === RESET_CONNECTION_TERMINATION
          ? RF_UPSTREAM_CONNECTION_TERMINATION
          : RF_UPSTREAM_REMOTE_RESET;
    const why =
      reason === RESET_PROTOCOL_ERROR
        ? 'protocol error'
        : reason === RESET_REFUSED_STREAM
          ? 'remote refused stream reset'
          : reason === RESET_REMOTE
            ? 'remote reset'
            : 'connection termination';
    const token = why.replaceAll(' ', '_');
    if (s.headersWritten) {
      s.hcm.stats.rqResetAfterDownstreamResponseStarted.value++;
      this.cluster!.stats.upstreamRqRxReset.value++;
      s.reset(flags, `upstream_reset_after_response_started{${token}}`);
      return;
    }
    this.cluster!.stats.upstreamRqRxReset.value++;
    this.lastResetReason = why;

    const outcome = reason === RESET_REFUSED_STREAM ? OUTCOME_REFUSED_STREAM : OUTCOME_RESET;
    if (this.retry?.retriableFailure(outcome) && this.scheduleRetry(false)) return;
    this.failBeforeHeaders(
      reason === RESET_PROTOCOL_ERROR ? 502 : 503,
      flags,
      `upstream_reset_before_response_started{${token}}`,
    );
  }

  private failBeforeHeaders(status: number, flags: number, details: string): void {
    const retried = this.attempts > 1 ? 'retried and the latest ' : '';
    this.reply({
      status,
      body: `${RESET_TEXT}${retried}reset reason: ${this.lastResetReason}`,
      details,
      flags,
    });
  }

  /**
   * A response head arrived on the current attempt. `contentLength` is -1 when unknown;
   * `noBody` when the upstream said no body follows (content-length 0, END_STREAM).
   */
  onAttemptHead(
    a: Attempt,
    status: number,
    h: HeaderMap,
    contentLength: number,
    noBodyHint: boolean,
  ): number {
    if (this.attempt !== a || this.done) return HEAD_NO_BODY;
    const s = this.s;
    if (status < 200 && !(status === 101 && this.isUpgrade)) {
      if (status === 100 && s.hcm.proxy100Continue) s.encode100Continue();
      return HEAD_CONTINUE;
    }
    const cluster = this.cluster!;
    if (
      this.retry !== null &&
      !s.headersWritten &&
      status !== 101 &&
      this.retry.retriableResponse(status, h)
    ) {
      cluster.stats.upstreamRqCodes.record(status);
      if (this.scheduleRetry(false)) return HEAD_NO_BODY;
    }
    a.gotHeaders = true;
    a.deadline = 0;
    cluster.stats.upstreamRqCodes.record(status);
    if (this.attempts > 1) cluster.stats.upstreamRqRetrySuccess.value++;
    s.responseCodeDetails = 'via_upstream';
    s.responseStatus = status;
    s.responseHeaders = h;
    const now = Date.now();
    this.applyResponseMutations(h);
    if (!this.f.settings.suppressEnvoyHeaders)
      h.setKnown(H_X_ENVOY_UPSTREAM_SERVICE_TIME, String(now - a.startTime));
    if (this.route!.vhost.includeAttemptCountInResponse)
      h.setKnown(H_X_ENVOY_ATTEMPT_COUNT, String(this.attempts));
    if (status === 101) {
      a.upgrade();
      h.removeKnown(H_CONTENT_LENGTH);
      s.encodeHeaders(101, h, -1, false);
      return HEAD_CONTINUE;
    }
    const noBody = s.methodCode === 2 /* HEAD */ || status === 204 || status === 304 || noBodyHint;
    s.encodeHeaders(status, h, contentLength, noBody);
    return HEAD_CONTINUE;
  }

  onAttemptBody(a: Attempt, buf: Buffer, start: number, end: number): void {
    if (this.attempt !== a || this.done) return;
    const s = this.s;
    s.encodeData(buf, start, end);
    s.throttleResponseSource(a);
  }

  onAttemptComplete(a: Attempt, trailers: HeaderMap | undefined): void {
    if (this.attempt !== a) return;
    this.attempt = null;
    const cluster = this.cluster!;
    cluster.stats.upstreamRqCompleted.value++;
    cluster.stats.upstreamRqTime.record(Date.now() - a.startTime);
    if (this.done) return;
    this.s.encodeComplete(trailers);
  }

  /** Consumes a retry if allowed and schedules the next attempt. */
  private scheduleRetry(afterTimeout: boolean): boolean {
    const st = this.retry;
    const cluster = this.cluster!;
    if (st === null || this.done) return false;
    // A body that was not kept cannot be replayed.
    if (this.s.expectBody && !this.keepBody) return false;
    if (!cluster.rm.canRetry()) {
      cluster.stats.upstreamRqRetryOverflow.value++;
      return false;
    }
    const backoff = st.nextBackoff();
    if (backoff < 0) {
      cluster.stats.upstreamRqRetryLimitExceeded.value++;
      this.s.responseFlags |= RF_UPSTREAM_RETRY_LIMIT_EXCEEDED;
      return false;
    }
    cluster.stats.upstreamRqRetry.value++;
    cluster.stats.upstreamRqRetryBackoffExponential.value++;
    cluster.rm.retries++;
    this.retriesHeld++;
    const a = this.attempt;
    if (a !== null) {
      this.attempt = null;
      a.abandon();
    }
    this.retryTimer = setTimeout(runRetry, backoff, this, afterTimeout);
    return true;
  }

  /** The back-off elapsed: next attempt. */
  retryNow(afterTimeout: boolean): void {
    this.retryTimer = undefined;
    if (this.retriesHeld > 0) {
      this.retriesHeld--;
      this.cluster!.rm.retries--;
    }
    if (this.done) return;
    this.startAttempt();
    if (this.attempt !== null) this.attempt.afterTimeout = afterTimeout;
  }

  /** Deadlines: per-try and route timeouts (from the connection's timer sweep). */
  onWake(_s: ActiveStream, now: number): void {
    if (this.done) return;
    const a = this.attempt;
    if (a !== null && a.deadline > 0) {
      if (now >= a.deadline) {
        this.onPerTryTimeout(a);
        if (this.done) return;
      } else this.s.wakeAt(a.deadline);
    }
    if (this.globalDeadline > 0) {
      if (now >= this.globalDeadline) this.onGlobalTimeout();
      else this.s.wakeAt(this.globalDeadline);
    }
  }

  private onPerTryTimeout(a: Attempt): void {
    const cluster = this.cluster!;
    cluster.stats.upstreamRqPerTryTimeout.value++;
    a.deadline = 0;

    this.s.responseFlags |= RF_UPSTREAM_REQUEST_TIMEOUT;
    if (this.retry?.retriableFailure(OUTCOME_PER_TRY_TIMEOUT) && this.scheduleRetry(true)) return;
    this.attempt = null;
    a.abandon();
    this.reply({
      status: 504,
      body: 'upstream request timeout',
      details: 'upstream_per_try_timeout',
      flags: RF_UPSTREAM_REQUEST_TIMEOUT,
    });
  }

  private onGlobalTimeout(): void {
    const s = this.s;
    this.globalDeadline = 0;
    this.cluster!.stats.upstreamRqTimeout.value++;
    const a = this.attempt;
    this.attempt = null;
    a?.abandon();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    if (s.headersWritten) {
      s.reset(RF_UPSTREAM_REQUEST_TIMEOUT, 'upstream_response_timeout');
      return;
    }
    if (this.timeoutAltResponse)
      this.reply({
        status: 204,
        body: '',
        details: 'upstream_response_timeout',
        flags: RF_UPSTREAM_REQUEST_TIMEOUT,
      });
    else
      this.reply({
        status: 504,
        body: 'upstream request timeout',
        details: 'upstream_response_timeout',
        flags: RF_UPSTREAM_REQUEST_TIMEOUT,
      });
  }

  private reply(r: LocalReply): void {
    if (this.done) return;
    this.s.sendLocalReply(r);
  }

  onDone(): void {
    if (this.done) return;
    this.done = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    if (this.retriesHeld > 0) {
      this.cluster!.rm.retries -= this.retriesHeld;
      this.retriesHeld = 0;
    }
    // An attempt still running here means the stream ended early (reset, local reply): drop it.
    const a = this.attempt;
    this.attempt = null;
    if (a !== null) a.abandon();
    this.body = null;
  }

  /** FormatContext for the upstream commands. */
  formatVar(code: number, _arg: string): string | undefined {
    const a = this.lastHost;
    switch (code) {
      case FV_UPSTREAM_CLUSTER:
        return this.cluster?.name;
      case FV_UPSTREAM_HOST:
      case FV_UPSTREAM_REMOTE_ADDRESS:
        return a === undefined ? undefined : formatAddress(a.address, a.port);
      case FV_UPSTREAM_REMOTE_ADDRESS_WITHOUT_PORT:
        return a?.address;
      default:
        return undefined;
    }
  }

  lastHost: Host | undefined;

  get isChunked(): boolean {
    return this.chunked;
  }
  get upgrading(): boolean {
    return this.isUpgrade;
  }
}

function runRetry(router: RouterFilter, afterTimeout: boolean): void {
  router.retryNow(afterTimeout);
}

/**
 * One try as the router sees it, whichever the upstream protocol: a host, its pool, and the
 * connection (HTTP/1.1) or stream (HTTP/2) once the pool hands one over.
 */
interface Attempt extends Pausable {
  readonly host: Host;
  startTime: number;
  deadline: number;
  gotHeaders: boolean;
  afterTimeout: boolean;
  /** The pool handed over a connection / stream. */
  readonly connected: boolean;
  start(method: string, upgrade: boolean): void;
  /** Sends the request head (`endStream`: no body follows). */
  sendHead(s: ActiveStream, h: HeaderMap, chunked: boolean, upgrade: boolean, endStream: boolean): void;
  writeBody(data: Buffer): void;
  endBody(): void;
  abandon(): void;
  /** Pauses `source` while the upstream side cannot take more request bytes. */
  throttleSource(source: Pausable): void;
  /** HTTP/1.1: the connection becomes a raw tunnel (101). */
  upgrade(): void;
}

/** One try over HTTP/1.1. */
class UpstreamRequest implements PoolRequest, Attempt {
  readonly router: RouterFilter;
  readonly host: Host;
  readonly pool: H1Pool;
  conn: H1Connection | null = null;
  startTime = 0;
  deadline = 0;
  gotHeaders = false;
  afterTimeout = false;
  private finished = false;
  private pending = true;

  constructor(router: RouterFilter, host: Host, pool: H1Pool) {
    this.router = router;
    this.host = host;
    this.pool = pool;
    router.lastHost = host;
  }

  get connected(): boolean {
    return this.conn !== null;
  }

  start(method: string, upgrade: boolean): void {
    this.pool.newStream(this, method, upgrade);
  }

  onPoolReady(conn: H1Connection): void {
    this.pending = false;
    this.conn = conn;
    this.router.onAttemptConnected(this);
  }

  onPoolFailure(reason: number, detail: string): void {
    this.pending = false;
    this.finished = true;
    this.router.onAttemptFailed(this, reason, detail);
  }

  onResponseHead(p: H1Parser): number {
    const cl = p.chunked ? -1 : p.contentLength;
    return this.router.onAttemptHead(this, p.statusCode, p.headers, cl, !p.chunked && p.contentLength === 0);
  }
  onResponseBody(buf: Buffer, start: number, end: number): void {
    this.router.onAttemptBody(this, buf, start, end);
  }
  onResponseTrailers(_p: H1Parser): void {
    // Trailers are passed along with the completion.
  }
  onResponseComplete(p: H1Parser): void {
    this.release();
    const trailers = p.trailers.count > 0 && this.router.h1ResponseTrailers ? p.trailers : undefined;
    this.router.onAttemptComplete(this, trailers);
  }
  onUpstreamReset(reason: number, detail: string): void {
    this.release();
    this.router.onAttemptReset(this, reason, detail);
  }

  sendHead(s: ActiveStream, h: HeaderMap, chunked: boolean, upgrade: boolean, _endStream: boolean): void {
    writeRequestHead(this.conn!, s.method, s.path, h, chunked, upgrade);
  }

  writeBody(data: Buffer): void {
    const c = this.conn;
    if (c === null) return;
    const w = c.writer;
    if (this.router.isChunked) {
      w.latin1(chunkHeader(data.length));
      w.body(data, 0, data.length);
      w.latin1('\r\n');
    } else w.body(data, 0, data.length);
  }

  endBody(): void {
    const c = this.conn;
    if (c === null) return;
    if (this.router.isChunked) {
      const t = this.router.h1Trailers ? this.router.requestTrailers : undefined;
      if (t !== undefined && t.size > 0) {
        c.writer.latin1('0\r\n');
        const buf = c.writer.reserve(t.encodedLength() + 2);
        let at = t.encodeInto(buf, c.writer.len);
        buf[at++] = 13;
        buf[at++] = 10;
        c.writer.len = at;
      } else c.writer.latin1('0\r\n\r\n');
    }
    c.markRequestComplete();
    // A tunnel's client finished sending: half-close towards the upstream.
    if (this.router.upgrading) c.writer.end();
  }

  throttleSource(source: Pausable): void {
    this.conn?.writer.throttle(source);
  }

  upgrade(): void {
    this.conn?.upgrade();
  }

  /** Pool accounting ends once per assigned request. */
  private release(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.conn !== null) this.pool.requestDone();
  }

  /** Gives up this try: cancel the queued request or drop the connection. */
  abandon(): void {
    if (this.pending) {
      this.pending = false;
      this.finished = true;
      this.pool.cancel(this);
      return;
    }
    const c = this.conn;
    this.release();
    if (c !== null) c.abandon();
  }

  // Pausable: the downstream writer throttles the upstream socket.
  pauseReading(): void {
    this.conn?.socket.pause();
  }
  resumeReading(): void {
    this.conn?.socket.resume();
  }
}

/** One try over HTTP/2: a stream on one of the host's multiplexed connections. */
class H2UpstreamRequest implements H2PoolRequest, Attempt {
  readonly router: RouterFilter;
  readonly host: Host;
  readonly pool: H2Pool;
  up: H2UpstreamStream | null = null;
  startTime = 0;
  deadline = 0;
  gotHeaders = false;
  afterTimeout = false;
  private pending = true;
  private trailers: HeaderMap | undefined;

  constructor(router: RouterFilter, host: Host, pool: H2Pool) {
    this.router = router;
    this.host = host;
    this.pool = pool;
    router.lastHost = host;
  }

  get connected(): boolean {
    return this.up !== null;
  }

  start(_method: string, _upgrade: boolean): void {
    this.pool.newStream(this);
  }

  onPoolReady(up: H2UpstreamStream): void {
    this.pending = false;
    this.up = up;
    this.router.onAttemptConnected(this);
  }

  onPoolFailure(reason: number, detail: string): void {
    this.pending = false;
    this.router.onAttemptFailed(this, reason, detail);
  }

  onH2Headers(status: number, headers: HeaderMap, endStream: boolean): void {
    const cl = status >= 200 ? contentLengthOf(headers) : -1;
    this.router.onAttemptHead(this, status, headers, cl, endStream || cl === 0);
  }
  onH2Data(buf: Buffer): void {
    this.router.onAttemptBody(this, buf, 0, buf.length);
  }
  onH2Trailers(trailers: HeaderMap): void {
    this.trailers = trailers;
  }
  onH2End(): void {
    this.router.onAttemptComplete(this, this.trailers);
  }
  onUpstreamReset(reason: number, detail: string): void {
    this.router.onAttemptReset(this, reason, detail);
  }

  sendHead(s: ActiveStream, h: HeaderMap, _chunked: boolean, _upgrade: boolean, endStream: boolean): void {
    const secure = (this.host.transport ?? this.pool.settings.transport).kind.startsWith('tls');
    const out = toH2RawHeaders(h, [
      ':method',
      s.method,
      ':path',
      s.path,
      ':authority',
      s.authority,
      ':scheme',
      secure ? 'https' : 'http',
    ]);
    this.up!.sendHeaders(out, endStream);
  }

  writeBody(data: Buffer): void {
    this.up?.write(data);
  }

  endBody(): void {
    const t = this.router.requestTrailers;
    this.up?.end(t !== undefined && t.size > 0 ? toH2Headers(t, {}) : undefined);
  }

  throttleSource(source: Pausable): void {
    this.up?.throttle(source);
  }

  upgrade(): void {
    // Upgrades always go over HTTP/1.1 (see startAttempt).
  }

  abandon(): void {
    if (this.pending) {
      this.pending = false;
      this.pool.cancel(this);
      return;
    }
    this.up?.abandon();
  }

  pauseReading(): void {
    this.up?.pauseReading();
  }
  resumeReading(): void {
    this.up?.resumeReading();
  }
}

function contentLengthOf(h: HeaderMap): number {
  const v = h.getKnown(H_CONTENT_LENGTH);
  return v !== undefined && /^\d{1,15}$/.test(v) ? Number(v) : -1;
}

const HTTP11_CRLF = Buffer.from(' HTTP/1.1\r\n', 'latin1');

/** Writes "METHOD path HTTP/1.1", the headers and the framing lines into the connection. */
function writeRequestHead(
  conn: H1Connection,
  method: string,
  path: string,
  h: HeaderMap,
  chunked: boolean,
  upgrade: boolean,
): void {
  const w = conn.writer;
  let extra = '';
  if (chunked) extra = 'transfer-encoding: chunked\r\n';
  if (upgrade) extra += 'connection: upgrade\r\n';
  const size = method.length + path.length + 12 + h.encodedLength() + extra.length + 2;
  const buf = w.reserve(size);
  let at = w.len;
  at = writeLatin1(buf, method, at);
  buf[at++] = 32;
  at = writeLatin1(buf, path, at);
  buf.set(HTTP11_CRLF, at);
  at += HTTP11_CRLF.length;
  at = h.encodeInto(buf, at);
  if (extra.length > 0) at += latin1Write(buf, extra, at);
  buf[at++] = 13;
  buf[at++] = 10;
  w.len = at;
  conn.setRequestMeta(method, upgrade);
}

function pickWeighted(route: RouteEntry, s: ActiveStream): WeightedClusterEntry {
  const wc = route.weighted!;
  let value: number;
  const hv = wc.headerName !== undefined ? s.requestHeaders.get(wc.headerName) : undefined;
  if (hv !== undefined && /^\d+$/.test(hv)) value = Number(BigInt(hv) % BigInt(wc.totalWeight));
  else value = Math.floor(s.hcm.random() * wc.totalWeight);
  let acc = 0;
  for (const c of wc.clusters) {
    acc += c.weight;
    if (value < acc) return c;
  }
  return wc.clusters[wc.clusters.length - 1];
}

function intHeader(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const t = v.trim();
  if (!/^\d{1,15}$/.test(t)) return undefined;
  return Number(t);
}

/** grpc-timeout "10S" / "100m" → ms (gRPC over HTTP/2 spec units). */
export function parseGrpcTimeout(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const m = /^(\d{1,8})([HMSmun])$/.exec(v.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  switch (m[2]) {
    case 'H':
      return n * 3_600_000;
    case 'M':
      return n * 60_000;
    case 'S':
      return n * 1000;
    case 'm':
      return n;
    case 'u':
      return Math.ceil(n / 1000);
    default:
      return Math.ceil(n / 1_000_000);
  }
}

registerHttpFilter({
  typeName: TYPE.ROUTER,
  compile(r: ProtoReader, filterName: string, env): HttpFilterFactory | undefined {
    // Stats detail and tracing spans: no behaviour change here.
    r.ignore('dynamic_stats', 'start_child_span', 'suppress_grpc_request_failure_code_stats');
    const suppressEnvoyHeaders = r.bool('suppress_envoy_headers');
    const respectExpectedRqTimeout = r.bool('respect_expected_rq_timeout');
    r.unsupported('upstream_log', 'upstream access logs are not supported yet');
    r.unsupported('upstream_log_options', 'upstream access logs are not supported yet');
    r.unsupported('strict_check_headers', 'strict header checks are not supported');
    r.unsupported('upstream_http_filters', 'upstream HTTP filters are not supported');
    r.done();
    const cm = env.services.clusterManager as ClusterManager;
    return new RouterFilterFactory(filterName, { suppressEnvoyHeaders, respectExpectedRqTimeout }, cm);
  },
});
