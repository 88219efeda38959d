/**
 * Listener filters: what runs on an accepted socket before a filter chain is chosen.
 *
 * - original_dst: restores the destination iptables redirected away from (original-dst.ts);
 * - tls_inspector: peeks at a TLS ClientHello for SNI and ALPN, sets transport 'tls';
 * - http_inspector: on cleartext, detects http/1.0, http/1.1 or h2c from the first bytes.
 *
 * Inspectors read without consuming: bytes they needed are unshifted back into the socket, so
 * the chain (or the TLS handshake) sees the stream from its first byte. `filter_disabled`
 * predicates are evaluated against the destination port at the time the filter would run.
 * listener_filters_timeout bounds the whole phase; with continue_on_listener_filters_timeout
 * the connection goes on with what was learnt so far, otherwise it is closed.
 */
import type net from 'node:net';
import { logger } from '../../lib/log.ts';
import type { ProtoReader } from '../config/proto.ts';
import { readAny } from '../config/proto.ts';
import type { Counter, Gauge } from '../stats/store.ts';
import type { ConnectionInfo } from '../stream-info.ts';
import { detectHttp, MAX_CLIENT_HELLO, parseClientHello } from '../tls/client-hello.ts';
import type { DownstreamTlsInfo } from '../tls/downstream-tls.ts';
import { type OriginalDst, OriginalDstError, OriginalDstErrorCode } from './original-dst.ts';

const log = logger('proxy:listener-filters');

export const TLS_INSPECTOR = 'envoy.filters.listener.tls_inspector';
export const HTTP_INSPECTOR = 'envoy.filters.listener.http_inspector';
export const ORIGINAL_DST = 'envoy.filters.listener.original_dst';

const BY_TYPE: Record<string, ListenerFilterKind> = {
  'envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector': 'tls_inspector',
  'envoy.extensions.filters.listener.http_inspector.v3.HttpInspector': 'http_inspector',
  'envoy.extensions.filters.listener.original_dst.v3.OriginalDst': 'original_dst',
};
const BY_NAME: Record<string, ListenerFilterKind> = {
  [TLS_INSPECTOR]: 'tls_inspector',
  [HTTP_INSPECTOR]: 'http_inspector',
  [ORIGINAL_DST]: 'original_dst',
};

export type ListenerFilterKind = 'tls_inspector' | 'http_inspector' | 'original_dst';

export interface ListenerFilterConfig {
  readonly kind: ListenerFilterKind;
  readonly name: string;
  /** filter_disabled: true for a destination port on which the filter is skipped. */
  readonly disabled: ((port: number) => boolean) | undefined;
}

/** The connection facts listener filters and TLS fill in; chain matching reads them. */
export interface DownstreamInfo extends ConnectionInfo {
  localAddress: string;
  localPort: number;
  originalDst?: { readonly address: string; readonly port: number };
  secure: boolean;
  /** SNI: from tls_inspector before termination, from the handshake after it. */
  sni?: string;
  /** 'tls' or 'raw_buffer' once decided; undefined while no inspector said. */
  transportProtocol?: string;
  /** ALPN offered in the ClientHello, or what http_inspector detected. */
  applicationProtocols?: readonly string[];
  /** The terminated TLS session (peer certificate, version, ALPN). */
  tls?: DownstreamTlsInfo;
}

/** ListenerFilterChainMatchPredicate → port predicate. */
function compilePredicate(r: ProtoReader): ((port: number) => boolean) | undefined {
  const which = r.oneof(['or_match', 'and_match', 'not_match', 'any_match', 'destination_port_range']);
  r.raw('rule');
  let out: ((port: number) => boolean) | undefined;
  switch (which) {
    case 'or_match':
    case 'and_match': {
      const set = r.message(which) as ProtoReader;
      const rules = set.messages('rules').map(compilePredicate);
      set.done();
      if (rules.length < 2) r.ctx.error(set.at('rules'), 'a match set needs at least two rules');
      const fs = rules.filter((f) => f !== undefined);
      out = which === 'or_match' ? (p) => fs.some((f) => f(p)) : (p) => fs.every((f) => f(p));
      break;
    }
    case 'not_match': {
      const inner = compilePredicate(r.message(which) as ProtoReader);
      out = inner ? (p) => !inner(p) : undefined;
      break;
    }
    case 'any_match':
      if (r.bool('any_match') !== true) r.ctx.error(r.at('any_match'), 'any_match must be true');
      out = () => true;
      break;
    case 'destination_port_range': {
      const range = r.message(which) as ProtoReader;
      const start = range.number('start');
      const end = range.number('end');
      range.done();
      if (end <= start) r.ctx.error(r.at(which), `empty port range [${start}, ${end})`);
      out = (p) => p >= start && p < end;
      break;
    }
    default:
      r.ctx.error(r.path, 'a rule is required');
  }
  r.done();
  return out;
}

/** Listener.listener_filters → configs; unknown filters and unsupported options are errors. */
export function compileListenerFilters(r: ProtoReader): ListenerFilterConfig[] {
  const out: ListenerFilterConfig[] = [];
  for (const f of r.messages('listener_filters')) {
    const name = f.string('name');
    const any = f.raw('typed_config');
    f.raw('config_type');
    f.unsupported('config_discovery', 'listener filter config discovery (ECDS) is not supported');
    const pred = f.message('filter_disabled');
    const disabled = pred ? compilePredicate(pred) : undefined;
    f.done();
    let kind: ListenerFilterKind | undefined;
    if (any === undefined || any === null) {
      kind = BY_NAME[name];
      if (!kind) {
        f.ctx.error(f.at('typed_config'), `listener filter ${JSON.stringify(name)} needs a typed_config`);
        continue;
      }
    } else {
      const opened = readAny(f.ctx, any, f.at('typed_config'));
      if (!opened) continue;
      kind = BY_TYPE[opened.typeName];
      if (!kind) {
        f.ctx.error(
          f.at('typed_config'),
          `listener filter ${name || opened.typeName} (${opened.typeName}) is not supported`,
        );
        continue;
      }
      const c = opened.reader;
      if (kind === 'tls_inspector') {
        c.unsupported('enable_ja3_fingerprinting', 'JA3 fingerprinting is not supported');
        c.unsupported('enable_ja4_fingerprinting', 'JA4 fingerprinting is not supported');
        // A read-size hint; the inspector reads what arrives up to the ClientHello limit.
        c.ignore('initial_read_buffer_size');
        c.unsupported('max_client_hello_size', 'max_client_hello_size is fixed at 64 KiB');
      } else if (kind === 'original_dst') {
        // Windows-only (WFP redirect records): meaningless on Linux.
        c.ignore('traffic_direction');
      }
      c.done();
    }
    out.push({ kind, name, disabled });
  }
  return out;
}

export interface ListenerFilterStats {
  readonly preCxActive: Gauge;
  readonly preCxTimeout: Counter;
  readonly filterError: Counter;
  readonly remoteClose: Counter;
  readonly tlsFound: Counter;
  readonly tlsNotFound: Counter;
  readonly sniFound: Counter;
  readonly sniNotFound: Counter;
  readonly alpnFound: Counter;
  readonly alpnNotFound: Counter;
  readonly clientHelloTooLarge: Counter;
  readonly http10Found: Counter;
  readonly http11Found: Counter;
  readonly http2Found: Counter;
  readonly httpNotFound: Counter;
}

export type OriginalDstLookup = (socket: net.Socket) => Promise<OriginalDst>;

export interface FilterRunOptions {
  readonly filters: readonly ListenerFilterConfig[];
  /** 0: no timeout. */
  readonly timeoutMs: number;
  readonly continueOnTimeout: boolean;
  readonly stats: ListenerFilterStats;
  readonly originalDst: OriginalDstLookup;
}

/**
 * Runs the listener filters on `socket`, filling `info`. `done(true)` hands the (paused) socket
 * on with every peeked byte unshifted; `done(false)` means the socket was destroyed.
 */
export function runListenerFilters(
  socket: net.Socket,
  info: DownstreamInfo,
  o: FilterRunOptions,
  done: (ok: boolean) => void,
): void {
  const s = o.stats;
  s.preCxActive.value++;
  let index = 0;
  let buffered: Buffer = Buffer.alloc(0);
  let reading = false;
  let finished = false;
  let timer: NodeJS.Timeout | undefined;

  const finish = (ok: boolean, why?: string): void => {
    if (finished) return;
    finished = true;
    s.preCxActive.value--;
    if (timer) clearTimeout(timer);
    socket.off('data', onData);
    socket.off('end', onEnd);
    socket.off('error', onError);
    socket.off('close', onClose);
    if (!ok) {
      if (why)
        log.debug('connection closed by listener filters', { reason: why, remote: info.remoteAddress });
      socket.destroy();
      done(false);
      return;
    }
    socket.pause();
    if (buffered.length > 0) socket.unshift(buffered);
    done(true);
  };

  const onData = (chunk: Buffer): void => {
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
    step();
  };
  const onEnd = (): void => {
    s.remoteClose.value++;
    finish(false, 'the client closed during listener filters');
  };
  const onError = (err: Error): void => finish(false, err.message);
  const onClose = (): void => finish(false);
  socket.on('error', onError);
  socket.on('close', onClose);

  const needData = (): void => {
    if (!reading) {
      reading = true;
      socket.on('data', onData);
      socket.on('end', onEnd);
      socket.resume();
    }
  };

  // One filter after another; returns when waiting for data or a lookup.
  const step = (): void => {
    while (!finished && index < o.filters.length) {
      const f = o.filters[index];
      const port = info.localPort;
      if (f.disabled?.(port)) {
        index++;
        continue;
      }
      if (f.kind === 'original_dst') {
        if (info.originalDst !== undefined) {
          index++;
          continue;
        }
        index++;
        lookupOriginalDst();
        return;
      }
      if (f.kind === 'tls_inspector') {
        const r = parseClientHello(buffered, MAX_CLIENT_HELLO);
        if (r.kind === 'more') {
          needData();
          return;
        }
        if (r.kind === 'too-large') {
          s.clientHelloTooLarge.value++;
          finish(false, 'TLS ClientHello too large');
          return;
        }
        if (r.kind === 'tls') {
          s.tlsFound.value++;
          info.transportProtocol = 'tls';
          if (r.sni !== undefined) {
            s.sniFound.value++;
            info.sni = r.sni;
          } else s.sniNotFound.value++;
          if (r.alpn.length > 0) {
            s.alpnFound.value++;
            info.applicationProtocols = r.alpn;
          } else s.alpnNotFound.value++;
        } else s.tlsNotFound.value++;
        index++;
        continue;
      }
      // http_inspector: only cleartext connections (Envoy skips what TLS inspection claimed).
      if (info.transportProtocol !== undefined && info.transportProtocol !== 'raw_buffer') {
        index++;
        continue;
      }
      const r = detectHttp(buffered);
      if (r.kind === 'more') {
        needData();
        return;
      }
      if (r.kind === 'http') {
        if (r.protocol === 'h2c') s.http2Found.value++;
        else if (r.protocol === 'http/1.1') s.http11Found.value++;
        else s.http10Found.value++;
        info.applicationProtocols = [r.protocol];
      } else s.httpNotFound.value++;
      index++;
    }
    if (!finished && index >= o.filters.length) finish(true);
  };

  const lookupOriginalDst = (): void => {
    // No reads while the lookup runs: the stream stays untouched.
    o.originalDst(socket).then(
      (od) => {
        if (finished) return;
        info.originalDst = { address: od.address, port: od.port };
        info.localAddress = od.address;
        info.localPort = od.port;
        step();
      },
      (err: unknown) => {
        if (finished) return;
        s.filterError.value++;
        const code = err instanceof OriginalDstError ? err.code : undefined;
        if (code !== OriginalDstErrorCode.NOT_REDIRECTED)
          log.warn('original destination lookup failed', { error: (err as Error).message });
        finish(false, (err as Error).message);
      },
    );
  };

  if (o.timeoutMs > 0) {
    timer = setTimeout(() => {
      s.preCxTimeout.value++;
      if (o.continueOnTimeout) finish(true);
      else finish(false, 'listener filters timed out');
    }, o.timeoutMs);
  }
  step();
}
