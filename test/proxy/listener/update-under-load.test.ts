/**
 * Listener updates under steady load lose no request. A closed-loop client keeps HTTP/1.1
 * keep-alive connections and fresh connections busy while the listener's chain is replaced
 * (in place, twice), its route changes over RDS, and it moves to another address (new listener
 * bound first, clients switched, old one removed and drained). Asserts: zero failed requests;
 * established keep-alive connections keep their old chain until they close; fresh connections
 * see the new chain; RDS changes reach every connection; the old listener drains to zero.
 *
 * The client retries a request only when a reused keep-alive connection was closed before any
 * response byte (RFC 9112 §9.3.1; node's `request.reusedSocket` pattern), which is what every
 * HTTP client does when a server closes an idle connection as the next request is sent;
 * such retries are reported, any other error is a failure.
 */
import http from 'node:http';
import { type TestContext, test } from 'node:test';
import { compileListener } from '../../../src/proxy/listener/listener.ts';
import { ListenerManager } from '../../../src/proxy/listener/listener-manager.ts';
import { compileRouteConfiguration } from '../../../src/proxy/network/http/router/route-table.ts';
import { StatsStore } from '../../../src/proxy/stats/store.ts';
import { compileCluster } from '../../../src/proxy/upstream/cluster.ts';
import { ClusterManager } from '../../../src/proxy/upstream/cluster-manager.ts';
import type { XdsUpdate } from '../../../src/proxy/xds/client.ts';
import { startUpstream } from '../../support/fake-upstreams.ts';
import { any, assertNoOpenHandles, ROUTER, staticCluster } from '../support/harness.ts';

const LDS = 'type.googleapis.com/envoy.config.listener.v3.Listener';
const RDS = 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration';

function listenerProto(name: string, address: string, chain: string): Record<string, unknown> {
  return {
    name,
    address: { socket_address: { address, port_value: 0 } },
    filter_chains: [
      {
        name: chain,
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: any(
              'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
              {
                stat_prefix: 'ingress',
                server_name: chain,
                rds: { route_config_name: 'r', config_source: { ads: {}, resource_api_version: 'V3' } },
                http_filters: [ROUTER],
              },
            ),
          },
        ],
      },
    ],
  };
}

function routeProto(version: string): Record<string, unknown> {
  return {
    name: 'r',
    virtual_hosts: [
      {
        name: 'all',
        domains: ['*'],
        routes: [{ match: { prefix: '/' }, route: { cluster: 'backend' } }],
        response_headers_to_add: [{ header: { key: 'x-route', value: version } }],
      },
    ],
  };
}

interface Seen {
  readonly server: string;
  readonly route: string;
  readonly address: string;
}

/** One closed-loop client: a request after each response, until stopped. */
class Worker {
  readonly agent: http.Agent;
  target = { host: '127.0.0.1', port: 0 };
  done = 0;
  failures: string[] = [];
  retries = 0;
  last: Seen | undefined;
  private stopped = false;
  private waiters: (() => void)[] = [];
  private finished: Promise<void> | undefined;
  readonly keepAlive: boolean;

  constructor(keepAlive: boolean) {
    this.keepAlive = keepAlive;
    this.agent = new http.Agent({ keepAlive, maxSockets: 1 });
  }

  start(): void {
    this.finished = (async () => {
      while (!this.stopped) await this.one();
    })();
  }

  private one(retry = false): Promise<void> {
    return new Promise((resolve) => {
      const req = http.get(
        {
          ...this.target,
          path: '/',
          agent: this.agent,
          headers: this.keepAlive ? {} : { connection: 'close' },
        },
        (res) => {
          // Read now: a keep-alive socket is detached from the response by 'end'.
          const address = res.socket?.remoteAddress ?? '';
          res.resume();
          res.on('end', () => {
            if (res.statusCode !== 200) this.failures.push(`status ${res.statusCode}`);
            this.last = {
              server: String(res.headers.server),
              route: String(res.headers['x-route']),
              address,
            };
            this.done++;
            const w = this.waiters;
            this.waiters = [];
            for (const f of w) f();
            resolve();
          });
        },
      );
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (req.reusedSocket && !retry && (err.code === 'ECONNRESET' || err.message === 'socket hang up')) {
          this.retries++;
          resolve(this.one(true));
          return;
        }
        this.failures.push(`${err.code ?? ''} ${err.message}`);
        resolve();
      });
    });
  }

  /** Resolves once `pred(last)` held after `n` more completed requests. */
  async until(n: number, pred: (s: Seen) => boolean = () => true): Promise<void> {
    const goal = this.done + n;
    while (this.done < goal || !this.last || !pred(this.last)) {
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.finished;
    this.agent.destroy();
  }
}

test('listener updates under a steady closed-loop load fail no request', async (t: TestContext) => {
  t.plan(5);
  const stats = new StatsStore();
  const cm = new ClusterManager(stats);
  const manager = new ListenerManager(stats, { drainTimeMs: 60_000 });
  const upstream = await startUpstream('backend');
  const c = compileCluster(staticCluster('backend', [upstream.port]));
  if (!c.ok) throw new Error(JSON.stringify(c.errors));
  cm.addOrUpdate(c.value);
  const env = { clusterManager: cm, stats, rds: manager.rdsProvider };
  const lds = (added: Record<string, unknown>[], removed: string[] = [], updated = false): Promise<void> => {
    const items = added.map((p) => {
      const r = compileListener(p, env);
      if (!r.ok) throw new Error(JSON.stringify(r.errors));
      const name = p.name as string;
      return {
        name,
        version: 'v',
        resource: { typeUrl: LDS, name, message: p, compiled: r.value, hash: '', dependencies: [] },
      };
    });
    const u: XdsUpdate = {
      typeUrl: LDS,
      added: updated ? [] : items,
      updated: updated ? items : [],
      removed,
    };
    return manager.applyListeners(u);
  };
  const rds = (version: string): void => {
    const r = compileRouteConfiguration(routeProto(version));
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    const resource = { typeUrl: RDS, name: 'r', message: {}, compiled: r.value, hash: '', dependencies: [] };
    manager.applyRoutes({
      typeUrl: RDS,
      added: [],
      updated: [{ name: 'r', version, resource }],
      removed: [],
    });
  };

  rds('r1');
  await lds([listenerProto('ingress', '127.0.0.1', 'chain-1')]);
  const oldPort = manager.port('ingress');
  const workers = [new Worker(true), new Worker(true), new Worker(false), new Worker(false)];
  const keepAlive = workers.filter((w) => w.keepAlive);
  const fresh = workers.filter((w) => !w.keepAlive);
  for (const w of workers) {
    w.target = { host: '127.0.0.1', port: oldPort };
    w.start();
  }
  await Promise.all(workers.map((w) => w.until(5)));

  // 1. Chain change in place: fresh connections get chain-2, established ones keep chain-1.
  await lds([listenerProto('ingress', '127.0.0.1', 'chain-2')], [], true);
  await Promise.all(fresh.map((w) => w.until(3, (s) => s.server === 'chain-2')));
  await Promise.all(keepAlive.map((w) => w.until(5)));
  for (const w of keepAlive)
    t.assert.equal(w.last?.server, 'chain-1', 'a keep-alive connection kept its chain');

  // 2. Route change over RDS: every connection, old chain or new, sees it on its next request.
  rds('r2');
  await Promise.all(workers.map((w) => w.until(3, (s) => s.route === 'r2')));

  // 3. Another chain change.
  await lds([listenerProto('ingress', '127.0.0.1', 'chain-3')], [], true);
  await Promise.all(fresh.map((w) => w.until(3, (s) => s.server === 'chain-3')));

  // 4. Move: a new listener on another address binds first, clients switch, the old one goes.
  await lds([listenerProto('ingress-b', '127.0.0.2', 'chain-4')]);
  const newPort = manager.port('ingress-b');
  for (const w of workers) w.target = { host: '127.0.0.2', port: newPort };
  // Requests already under way to the old address complete before it stops accepting.
  await Promise.all(
    workers.map((w) => w.until(1, (s) => s.address === '127.0.0.2' && s.server === 'chain-4')),
  );
  await lds([], ['ingress']);
  await Promise.all(workers.map((w) => w.until(3, (s) => s.address === '127.0.0.2')));
  const oldActive = `listener.127.0.0.1_${oldPort}.downstream_cx_active`;
  await new Promise<void>((resolve) => {
    const check = () => (stats.value(oldActive) === 0 ? resolve() : setImmediate(check));
    check();
  });

  await Promise.all(workers.map((w) => w.stop()));
  const names = manager.listeners().map((l) => l.name);
  await manager.close();
  cm.destroy();
  await upstream.close();
  const failures = workers.flatMap((w) => w.failures);
  const total = workers.reduce((n, w) => n + w.done, 0);
  t.diagnostic(`requests: ${total}, stale keep-alive retries: ${workers.reduce((n, w) => n + w.retries, 0)}`);
  t.assert.deepEqual(failures, []);
  t.assert.ok(stats.value(`listener.127.0.0.1_${oldPort}.downstream_cx_total`) >= 4);
  t.assert.deepEqual(names, ['ingress-b']);
});

test('no open handles', async () => {
  await assertNoOpenHandles();
});
