/**
 * envoy.filters.http.fault (extensions.filters.http.fault.v3.HTTPFault): delays and aborts
 * requests. Istio puts an empty HTTPFault in every HTTP filter chain and the real faults per
 * route (typed_per_filter_config), which replace the filter-level config for that route.
 *
 * Order as in Envoy: the delay runs first (response flag DI), then the abort (local reply,
 * response flag FI). Percentages are FractionalPercents drawn once per request; an unset
 * percentage is 0% (the proto default). max_active_faults caps concurrent faulted requests per
 * filter config. Delays use setTimeout (fakeable by node:test mock timers) and are cancelled
 * when the stream ends.
 */
import type { CompileContext, ProtoReader } from '../../../config/proto.ts';
import { RF_DELAY_INJECTED, RF_FAULT_INJECTED } from '../../../stream-info.ts';
import type { HeaderMap } from '../headers.ts';
import { compileFractionalPercent, compileHeaderMatcher, type HeaderMatcher } from '../router/matchers.ts';
import {
  CONTINUE,
  type FilterStatus,
  type HttpFilter,
  type HttpFilterFactory,
  type HttpStream,
  type LocalReply,
  STOP,
} from './filter.ts';
import type { HttpFilterRegistration } from './registry.ts';

export const FAULT_TYPE = 'envoy.extensions.filters.http.fault.v3.HTTPFault';

/** Headers that drive header_delay / header_abort faults (Envoy's names). */
const H_DELAY = 'x-envoy-fault-delay-request';
const H_ABORT = 'x-envoy-fault-abort-request';

interface Percent {
  readonly numerator: number;
  readonly denominator: number;
}

export interface FaultConfig {
  /** Fixed delay in ms; -1 = from the x-envoy-fault-delay-request header; undefined = none. */
  readonly delayMs: number | undefined;
  readonly delayPercent: Percent;
  /** HTTP status; -1 = from the x-envoy-fault-abort-request header; undefined = no abort. */
  readonly abortStatus: number | undefined;
  /** grpc_status aborts: the gRPC code (gRPC requests get it; others see abortStatus 503). */
  readonly abortGrpcStatus: number | undefined;
  readonly abortPercent: Percent;
  readonly headers: readonly HeaderMatcher[];
  readonly maxActiveFaults: number | undefined;
  /** Faulted requests in flight under this config (for max_active_faults). */
  active: number;
}

function compileFault(r: ProtoReader): FaultConfig {
  let delayMs: number | undefined;
  let delayPercent: Percent = { numerator: 0, denominator: 100 };
  const d = r.message('delay');
  if (d) {
    const which = d.oneof(['fixed_delay', 'header_delay']);
    d.raw('fault_delay_secifier'); // the oneof's name, misspelt in Envoy's proto
    if (which === 'fixed_delay') delayMs = d.duration('fixed_delay') ?? 0;
    else if (which === 'header_delay') {
      delayMs = -1;
      d.message('header_delay')?.done();
    } else r.ctx.error(d.path, 'a delay needs fixed_delay or header_delay');
    const p = d.message('percentage');
    if (p) delayPercent = compileFractionalPercent(p);
    d.ignore('type'); // deprecated enum with FIXED as its only value
    d.done();
  }
  let abortStatus: number | undefined;
  let abortGrpcStatus: number | undefined;
  let abortPercent: Percent = { numerator: 0, denominator: 100 };
  const a = r.message('abort');
  if (a) {
    const which = a.oneof(['http_status', 'grpc_status', 'header_abort']);
    a.raw('error_type');
    if (which === 'http_status') {
      abortStatus = a.number('http_status');
      if (abortStatus < 200 || abortStatus >= 600)
        r.ctx.error(a.at('http_status'), 'http_status must be in [200, 600)');
    } else if (which === 'header_abort') {
      abortStatus = -1;
      a.message('header_abort')?.done();
    } else if (which === 'grpc_status') {
      abortGrpcStatus = a.number('grpc_status');
      if (abortGrpcStatus > 16) r.ctx.error(a.at('grpc_status'), 'grpc_status must be a gRPC code (0-16)');
      // Non-gRPC requests hit by a gRPC abort get 503 (the HTTP equivalent of UNAVAILABLE).
      abortStatus = 503;
    } else r.ctx.error(a.path, 'an abort needs http_status, grpc_status or header_abort');
    const p = a.message('percentage');
    if (p) abortPercent = compileFractionalPercent(p);
    a.done();
  }
  const headers: HeaderMatcher[] = [];
  for (const h of r.messages('headers')) {
    const m = compileHeaderMatcher(h);
    if (m) headers.push(m);
  }
  const max = r.wrappedNumber('max_active_faults');
  r.unsupported('upstream_cluster', 'faults limited to an upstream cluster are not supported');
  r.unsupported('downstream_nodes', 'faults limited to downstream nodes are not supported');
  r.unsupported('response_rate_limit', 'response rate limiting faults are not supported');
  // Runtime keys only override the defaults in Envoy; Mizzen has no runtime layer.
  r.ignore(
    'delay_percent_runtime',
    'abort_percent_runtime',
    'delay_duration_runtime',
    'abort_http_status_runtime',
    'max_active_faults_runtime',
    'response_rate_limit_percent_runtime',
    'abort_grpc_status_runtime',
  );
  r.unsupported('disable_downstream_cluster_stats');
  r.unsupported('filter_metadata', 'fault filter metadata is not supported');
  r.done();
  return {
    delayMs,
    delayPercent,
    abortStatus,
    abortGrpcStatus,
    abortPercent,
    headers,
    maxActiveFaults: max,
    active: 0,
  };
}

function hit(p: Percent, random: () => number): boolean {
  return p.numerator > 0 && random() * p.denominator < p.numerator;
}

function headerNumber(h: HeaderMap, name: string): number | undefined {
  const v = h.get(name);
  if (v === undefined || !/^\d+$/.test(v.trim())) return undefined;
  return Number(v.trim());
}

class FaultFilter implements HttpFilter {
  private readonly factory: FaultFilterFactory;
  private timer: NodeJS.Timeout | undefined;
  private config: FaultConfig | undefined;
  private counted = false;
  private abortStatus = 0;

  constructor(factory: FaultFilterFactory) {
    this.factory = factory;
  }

  onRequestHeaders(stream: HttpStream, _endStream: boolean): FilterStatus {
    const perRoute = stream.perFilterConfig(this.factory.name) as FaultConfig | undefined;
    const c = perRoute ?? this.factory.config;
    if (c.delayMs === undefined && c.abortStatus === undefined) return CONTINUE;
    const req = {
      headers: stream.requestHeaders,
      method: stream.method,
      path: stream.path,
      authority: stream.authority,
      scheme: stream.scheme,
    };
    for (const m of c.headers) if (!m.matches(req)) return CONTINUE;
    if (c.maxActiveFaults !== undefined && c.active >= c.maxActiveFaults) return CONTINUE;
    const random = this.factory.random;
    let delay: number | undefined;
    if (c.delayMs !== undefined && hit(c.delayPercent, random)) {
      delay = c.delayMs === -1 ? headerNumber(stream.requestHeaders, H_DELAY) : c.delayMs;
    }
    let abort = 0;
    if (c.abortStatus !== undefined && hit(c.abortPercent, random)) {
      if (c.abortStatus === -1) {
        const s = headerNumber(stream.requestHeaders, H_ABORT);
        if (s !== undefined && s >= 200 && s < 600) abort = s;
      } else abort = c.abortStatus;
    }
    if (delay === undefined && abort === 0) return CONTINUE;
    this.config = c;
    this.counted = true;
    c.active++;
    this.abortStatus = abort;
    if (delay !== undefined) {
      stream.addResponseFlag(RF_DELAY_INJECTED);
      this.timer = setTimeout(() => {
        this.timer = undefined;
        if (this.abortStatus !== 0) stream.sendLocalReply(this.abortReply());
        else stream.continueDecoding();
      }, delay);
      return STOP;
    }
    return this.abortReply();
  }

  private abortReply(): LocalReply {
    return {
      status: this.abortStatus,
      body: 'fault filter abort',
      details: 'fault_filter_abort',
      flags: RF_FAULT_INJECTED,
      grpcStatus: this.config?.abortGrpcStatus,
    };
  }

  onDone(_stream: HttpStream): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.counted && this.config) this.config.active--;
    this.counted = false;
  }
}

class FaultFilterFactory implements HttpFilterFactory {
  readonly name: string;
  readonly terminal = false;
  readonly config: FaultConfig;
  readonly random: () => number;
  constructor(name: string, config: FaultConfig, random: () => number) {
    this.name = name;
    this.config = config;
    this.random = random;
  }
  create(): HttpFilter {
    return new FaultFilter(this);
  }
}

export const faultFilterRegistration: HttpFilterRegistration = {
  typeName: FAULT_TYPE,
  compile(r: ProtoReader, filterName: string, env) {
    const random = (env.services.random as (() => number) | undefined) ?? Math.random;
    return new FaultFilterFactory(filterName, compileFault(r), random);
  },
  compilePerRoute(r: ProtoReader, _ctx: CompileContext) {
    return compileFault(r);
  },
};
