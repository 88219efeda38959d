/**
 * The admin API (Envoy's 15000, bound to 127.0.0.1 by default: it is unauthenticated and can
 * stop the proxy). Read-only views of the running proxy plus the three control endpoints:
 *
 *   GET  /ready              200 LIVE once the initial config is applied, 503 otherwise
 *   GET  /server_info        state, version, uptime, node
 *   GET  /config_dump        Envoy-shaped ConfigDump from the xDS client's resources
 *   GET  /clusters           Envoy's text form (cluster::host::field::value); ?format=json
 *   GET  /listeners          name::address; ?format=json
 *   GET  /stats              name: value; ?format=json
 *   GET  /stats/prometheus   Prometheus text with Envoy's names (see prometheus.ts)
 *   POST /logging?level=L    sets the log level (debug, info, warn, error, none)
 *   POST /drain_listeners    stops accepting on every listener; established connections finish
 *   POST /quitquitquit       asks the process to exit (graceful drain, as SIGTERM)
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { MIZZEN_VERSION } from '../../agent/bootstrap.ts';
import { isLogLevel, logger, setLogLevel } from '../../lib/log.ts';
import type { ProxyServer } from '../proxy-server.ts';
import { installPrometheusListener, setLocalNode } from '../telemetry/bootstrap-telemetry.ts';
import { configDump } from './config-dump.ts';
import { prometheusText, type StatFamilies } from './prometheus.ts';

const log = logger('proxy:admin');

export interface AdminServerOptions {
  /** Called by /quitquitquit (the CLI drains and exits); without it the proxy only closes. */
  readonly onQuit?: () => void;
}

type Handler = (url: URL, res: http.ServerResponse) => void;

const MUTATING = new Set(['/logging', '/drain_listeners', '/quitquitquit']);

export class AdminServer {
  readonly #server: http.Server;
  readonly #proxy: ProxyServer;
  readonly #routes: Map<string, Handler>;

  constructor(proxy: ProxyServer, options: AdminServerOptions = {}) {
    this.#proxy = proxy;
    // Telemetry filters label samples with the local workload. ProxyServer's constructor sets
    // it too (setLocalNode is a no-op the second time); this covers an admin server built on a
    // proxy whose constructor does not.
    setLocalNode(proxy.stats, proxy.bootstrap);
    this.#routes = new Map<string, Handler>([
      ['/ready', (_u, res) => this.#ready(res)],
      ['/server_info', (_u, res) => json(res, this.#serverInfo())],
      ['/config_dump', (_u, res) => json(res, configDump(proxy))],
      ['/clusters', (u, res) => this.#clusters(u, res)],
      ['/listeners', (u, res) => this.#listeners(u, res)],
      ['/stats', (u, res) => this.#stats(u, res)],
      ['/stats/prometheus', (_u, res) => text(res, 200, prometheusText(proxy.stats, this.#families()), PROM)],
      ['/logging', (u, res) => this.#logging(u, res)],
      [
        '/drain_listeners',
        (u, res) => {
          // Envoy's inboundonly/graceful variants would drain a subset or on a schedule: refused,
          // not approximated.
          const params = [...u.searchParams.keys()];
          if (params.length > 0) {
            text(
              res,
              400,
              `/drain_listeners: ${params.join(', ')} not supported; all listeners drain at once\n`,
            );
            return;
          }
          void proxy.drainListeners();
          text(res, 200, 'OK\n');
        },
      ],
      [
        '/quitquitquit',
        (_u, res) => {
          text(res, 200, 'OK\n');
          log.info('/quitquitquit: shutting down');
          if (options.onQuit) options.onQuit();
          else void proxy.shutdown();
        },
      ],
    ]);
    this.#server = http.createServer({ keepAliveTimeout: 5000 }, (req, res) => {
      const url = new URL(req.url ?? '/', 'http://admin');
      const handler = this.#routes.get(url.pathname);
      if (!handler) {
        text(res, 404, `unknown admin path ${url.pathname}; known: ${[...this.#routes.keys()].join(' ')}\n`);
        return;
      }
      // As Envoy: state-changing endpoints only on POST, so a browser prefetch cannot stop the proxy.
      if (MUTATING.has(url.pathname) && req.method !== 'POST') {
        res.setHeader('allow', 'POST');
        text(res, 405, `${url.pathname} changes the proxy; use POST\n`);
        return;
      }
      if (!MUTATING.has(url.pathname) && req.method !== 'GET' && req.method !== 'HEAD') {
        res.setHeader('allow', 'GET, HEAD');
        text(res, 405, `${url.pathname} is read-only; use GET\n`);
        return;
      }
      try {
        handler(url, res);
      } catch (err) {
        log.error('admin handler failed', { path: url.pathname, error: (err as Error).message });
        if (!res.headersSent) text(res, 500, `${(err as Error).message}\n`);
      }
    });
  }

  /**
   * Binds the admin API, then Istio's static Prometheus listener when the bootstrap asks for one
   * (`prometheusPort`, src/agent/bootstrap.ts): it routes to this server, so it can only be
   * built once this server's port is known.
   */
  async listen(port: number, host = '127.0.0.1'): Promise<number> {
    const bound = await new Promise<number>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => {
        this.#server.off('error', reject);
        resolve((this.#server.address() as AddressInfo).port);
      });
    });
    const b = this.#proxy.bootstrap as {
      readonly prometheusPort?: unknown;
      readonly prometheusAddress?: unknown;
    };
    if (typeof b.prometheusPort === 'number') {
      await installPrometheusListener(this.#proxy, {
        port: b.prometheusPort,
        ...(typeof b.prometheusAddress === 'string' ? { address: b.prometheusAddress } : {}),
        adminAddress: host,
        adminPort: bound,
      });
    }
    return bound;
  }

  get port(): number {
    const a = this.#server.address();
    return a && typeof a === 'object' ? a.port : 0;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.#server.listening) {
        resolve();
        return;
      }
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }

  #state(): string {
    const p = this.#proxy;
    if (p.draining) return 'DRAINING';
    return p.isReady ? 'LIVE' : 'PRE_INITIALIZING';
  }

  #ready(res: http.ServerResponse): void {
    const state = this.#state();
    text(res, state === 'LIVE' ? 200 : 503, `${state}\n`);
  }

  #serverInfo(): Record<string, unknown> {
    const p = this.#proxy;
    const uptime = Math.floor((Date.now() - p.startedAt) / 1000);
    return {
      version: `mizzen-proxy/${MIZZEN_VERSION}`,
      state: this.#state(),
      uptime_current_epoch: `${uptime}s`,
      uptime_all_epochs: `${uptime}s`,
      hot_restart_version: 'disabled',
      node: p.bootstrap.node,
      command_line_options: { concurrency: 1, drain_strategy: 'Gradual', mode: 'Serve' },
      xds: {
        server: p.bootstrap.discoveryAddress,
        mode: p.bootstrap.xdsMode,
        connected: p.xds.connected,
        initialized: p.xds.initialized,
      },
    };
  }

  #clusters(url: URL, res: http.ServerResponse): void {
    const p = this.#proxy;
    const clusters = [...p.clusterManager.all()];
    if (url.searchParams.get('format') === 'json') {
      json(res, {
        cluster_statuses: clusters.map((c) => ({
          name: c.name,
          host_statuses: c.hosts().map((h) => ({
            address: { socket_address: { address: h.address, port_value: h.port } },
            stats: [
              { name: 'rq_total', value: String(h.requestsTotal), type: 'COUNTER' },
              { name: 'rq_active', value: h.activeRequests, type: 'GAUGE' },
              { name: 'cx_active', value: h.connectionsActive, type: 'GAUGE' },
            ],
            health_status: { eds_health_status: HEALTH[h.health] ?? 'UNKNOWN' },
            weight: h.weight,
            locality: h.locality,
            priority: h.priority,
          })),
        })),
      });
      return;
    }
    const lines: string[] = [];
    for (const c of clusters) {
      for (const h of c.hosts()) {
        const key = `${c.name}::${h.key}`;
        lines.push(
          `${key}::cx_active::${h.connectionsActive}`,
          `${key}::rq_active::${h.activeRequests}`,
          `${key}::rq_total::${h.requestsTotal}`,
          `${key}::health_flags::${HEALTH_FLAGS[h.health] ?? 'unknown'}`,
          `${key}::weight::${h.weight}`,
          `${key}::priority::${h.priority}`,
        );
      }
      if (c.hosts().length === 0) lines.push(`${c.name}::no_hosts`);
    }
    text(res, 200, lines.length ? `${lines.join('\n')}\n` : '');
  }

  #listeners(url: URL, res: http.ServerResponse): void {
    const ls = this.#proxy.listenerManager.listeners();
    if (url.searchParams.get('format') === 'json') {
      json(res, {
        listener_statuses: ls.map((l) => ({
          name: l.name,
          local_address: { socket_address: { address: l.address, port_value: l.port } },
        })),
        failed: Object.fromEntries(this.#proxy.listenerManager.failures()),
      });
      return;
    }
    text(res, 200, ls.map((l) => `${l.name}::${hostPort(l.address, l.port)}\n`).join(''));
  }

  #stats(url: URL, res: http.ServerResponse): void {
    const s = this.#proxy.stats;
    const filter = url.searchParams.get('filter');
    let re: RegExp | undefined;
    if (filter) {
      try {
        re = new RegExp(filter);
      } catch (err) {
        text(res, 400, `filter: ${(err as Error).message}\n`);
        return;
      }
    }
    const keep = (n: string) => re === undefined || re.test(n);
    const values: [string, number][] = [];
    for (const c of s.counters()) if (keep(c.name)) values.push([c.name, c.value]);
    for (const g of s.gauges()) if (keep(g.name)) values.push([g.name, g.value]);
    // Labeled counters (istio_requests_total & co) as `name{label="value",...}`; their
    // histograms are in /stats/prometheus only.
    for (const f of s.labeledFamilies()) {
      if (f.type !== 'counter') continue;
      for (const series of f.all()) {
        const name = `${f.name}{${f.labelNames.map((l, i) => `${l}=${JSON.stringify(series.values[i])}`).join(',')}}`;
        if (keep(name)) values.push([name, series.value]);
      }
    }
    values.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    const histograms = [...s.histograms()].filter((h) => keep(h.name));
    if (url.searchParams.get('format') === 'json') {
      json(res, {
        stats: [
          ...values.map(([name, value]) => ({ name, value })),
          ...histograms.map((h) => ({
            name: h.name,
            histograms: {
              count: h.count,
              sum: h.sum,
              buckets: h.bounds.map((b, i) => [b, h.cumulative()[i]]),
            },
          })),
        ],
      });
      return;
    }
    const lines = values.map(([n, v]) => `${n}: ${v}`);
    for (const h of histograms) lines.push(`${h.name}: count=${h.count} sum=${h.sum}`);
    text(res, 200, lines.length ? `${lines.join('\n')}\n` : '');
  }

  #logging(url: URL, res: http.ServerResponse): void {
    const level = url.searchParams.get('level');
    if (level === null) {
      text(res, 400, 'usage: POST /logging?level=debug|info|warn|error|none\n');
      return;
    }
    if (!isLogLevel(level)) {
      text(res, 400, `unknown log level ${JSON.stringify(level)}; use debug, info, warn, error or none\n`);
      return;
    }
    setLogLevel(level);
    log.info('log level changed', { level });
    text(res, 200, `active log level: ${level}\n`);
  }

  /** Names with dots that Prometheus tag extraction must keep whole. */
  #families(): StatFamilies {
    const p = this.#proxy;
    return {
      clusters: [...p.clusterManager.all()].map((c) => c.config.statName),
      listeners: p.listenerManager.statNames(),
      httpPrefixes: p.listenerManager.httpStatPrefixes(),
    };
  }
}

/** By Host.health (HEALTH_HEALTHY = 0, HEALTH_DEGRADED = 1, HEALTH_UNHEALTHY = 2). */
const HEALTH = ['HEALTHY', 'DEGRADED', 'UNHEALTHY'];
const HEALTH_FLAGS = ['healthy', '/degraded', '/failed_eds_health'];
const PROM = 'text/plain; version=0.0.4; charset=utf-8';

function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

function text(res: http.ServerResponse, status: number, body: string, type = 'text/plain; charset=utf-8') {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-cache' }).end(body);
}

function json(res: http.ServerResponse, value: unknown): void {
  text(res, 200, `${JSON.stringify(value, null, 2)}\n`, 'application/json');
}
