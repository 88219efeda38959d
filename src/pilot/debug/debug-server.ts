/**
 * mizzend's monitoring port (Istio's 15014): `/ready`, Prometheus `/metrics`, and the debug
 * views `/debug/syncz`, `/debug/config_dump?proxyID=`, `/debug/registryz`, `/debug/configz`.
 * Every view reads the live objects through the narrow `DebugSources` interface and never
 * changes them; JSON is built per request (the debug port is not a hot path).
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { ConfigSnapshot } from '../../config/snapshot.ts';
import type { ConfigStatus } from '../../config/status.ts';
import { errorMessage } from '../../lib/errors.ts';
import { logger } from '../../lib/log.ts';
import { type MetricsRegistry, PROMETHEUS_CONTENT_TYPE } from '../../lib/metrics.ts';
import type { ServiceDiscovery } from '../../registry/discovery.ts';
import type { EndpointIndex } from '../../registry/endpoint-index.ts';
import type { PushContext } from '../model/push-context.ts';
import type { XdsConnection } from '../xds/connection.ts';
import type { GeneratorRegistry } from '../xds/generator-registry.ts';
import { configDump, findConnection } from './config-dump.ts';
import { configz } from './configz.ts';
import { processMetrics } from './process-metrics.ts';
import { registryz } from './registryz.ts';
import { syncz } from './syncz.ts';

const log = logger('pilot:debug');

/** What the debug views read. */
export interface DebugSources {
  readiness(): { ready: boolean; reasons: readonly string[] };
  connections(): readonly XdsConnection[];
  pushContext(): PushContext | undefined;
  /** The version the next xDS response carries. */
  xdsVersion(): string;
  readonly generators: GeneratorRegistry<PushContext>;
  readonly config: {
    snapshot(): ConfigSnapshot;
    statuses(): readonly ConfigStatus[];
    hasSynced(): boolean;
    readonly revision: number;
  };
  readonly registry: ServiceDiscovery;
  registryIssues?(): readonly { key: string; message: string }[];
  readonly endpointIndex: EndpointIndex;
  readonly metrics: MetricsRegistry;
  lastPush?(): unknown;
}

export class HttpError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

type Handler = (url: URL) => { status?: number; type: string; body: string };

function json(value: unknown, status = 200): { status: number; type: string; body: string } {
  return { status, type: 'application/json', body: `${JSON.stringify(value, null, 2)}\n` };
}

export class DebugServer {
  readonly #sources: DebugSources;
  readonly #server: http.Server;
  readonly #routes: ReadonlyMap<string, Handler>;
  readonly #sockets = new Set<Socket>();
  #port: number | undefined;
  #closing: Promise<void> | undefined;

  constructor(sources: DebugSources) {
    this.#sources = sources;
    this.#routes = new Map<string, Handler>([
      ['/ready', () => this.#ready()],
      ['/metrics', () => this.#metricsText()],
      ['/debug/syncz', () => json(syncz(sources.connections()))],
      ['/debug/config_dump', (url) => this.#configDump(url)],
      ['/debug/registryz', () => json(registryz(sources))],
      ['/debug/configz', () => json(configz(sources.config))],
      ['/debug/push_status', () => json(sources.lastPush?.() ?? null)],
      ['/debug', () => json({ endpoints: [...this.#routes.keys()].filter((k) => k.startsWith('/debug/')) })],
    ]);
    this.#server = http.createServer((req, res) => this.#handle(req, res));
    this.#server.on('connection', (socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
  }

  get port(): number | undefined {
    return this.#port;
  }

  /** Binds; resolves to the bound port. A taken port rejects with a message that names it. */
  listen(port: number, host: string): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        const why = err.code === 'EADDRINUSE' ? 'address already in use' : err.message;
        reject(new Error(`cannot listen for monitoring on ${host}:${port}: ${why}`, { cause: err }));
      };
      this.#server.once('error', onError);
      this.#server.listen(port, host, () => {
        this.#server.off('error', onError);
        this.#port = (this.#server.address() as AddressInfo).port;
        log.info('monitoring server listening', { address: host, port: this.#port });
        resolve(this.#port);
      });
    });
  }

  /** Stops accepting, lets requests in flight finish for up to `graceMs`, then cuts sockets. */
  close(options: { graceMs?: number } = {}): Promise<void> {
    if (this.#closing) return this.#closing;
    const graceMs = options.graceMs ?? 5_000;
    this.#closing = new Promise<void>((resolve) => {
      if (!this.#server.listening) {
        resolve();
        return;
      }
      const timer = setTimeout(() => {
        for (const s of this.#sockets) s.destroy();
      }, graceMs);
      this.#server.close(() => {
        clearTimeout(timer);
        resolve();
      });
      this.#server.closeIdleConnections();
    });
    return this.#closing;
  }

  #handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      res.writeHead(400, { 'content-type': 'text/plain' }).end('bad request URL\n');
      return;
    }
    const route = this.#routes.get(url.pathname.replace(/\/+$/, '') || '/');
    if (!route) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`no such endpoint: ${url.pathname}\n`);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('only GET\n');
      return;
    }
    let out: { status?: number; type: string; body: string };
    try {
      out = route(url);
    } catch (err) {
      if (err instanceof HttpError) {
        out = json({ error: err.message }, err.status);
      } else {
        log.error('debug endpoint failed', { path: url.pathname, err });
        out = json({ error: errorMessage(err) }, 500);
      }
    }
    // Closing mid-shutdown tells keep-alive clients not to reuse the socket.
    const headers: http.OutgoingHttpHeaders = {
      'content-type': out.type,
      'content-length': Buffer.byteLength(out.body),
      'cache-control': 'no-store',
    };
    if (this.#closing) headers.connection = 'close';
    res.writeHead(out.status ?? 200, headers);
    res.end(req.method === 'HEAD' ? undefined : out.body);
  }

  #ready() {
    const r = this.#sources.readiness();
    return r.ready
      ? { status: 200, type: 'text/plain', body: 'ready\n' }
      : { status: 503, type: 'text/plain', body: `not ready: ${r.reasons.join('; ')}\n` };
  }

  #metricsText() {
    return {
      type: PROMETHEUS_CONTENT_TYPE,
      body: this.#sources.metrics.expose() + processMetrics(this.#sources),
    };
  }

  #configDump(url: URL) {
    const id = url.searchParams.get('proxyID');
    if (!id) throw new HttpError(400, 'proxyID is required: /debug/config_dump?proxyID=<pod>.<namespace>');
    const conn = findConnection(this.#sources.connections(), id);
    if (!conn?.proxy) throw new HttpError(404, `proxy ${id} is not connected`);
    const push = this.#sources.pushContext();
    if (!push) throw new HttpError(503, 'no push context yet');
    return json(configDump(conn, push, this.#sources.generators, this.#sources.xdsVersion()));
  }
}
