/**
 * Proxy test harness: builds hand-written Envoy v3 config (proto-loader object shapes, Any as
 * `{'@type': ...}`), compiles it with the proxy's own compile functions, runs a listener on
 * 127.0.0.1:0, and offers clients: node:http for ordinary requests (an independent parser), and
 * a raw socket client for malformed input.
 */
import assert from 'node:assert/strict';

// Every connection manager built by the proxy tests checks its filters' call order.
process.env.MIZZEN_PROXY_ASSERT_FILTER_ORDER = 'true';

import http from 'node:http';
import net from 'node:net';
import { TYPE } from '../../../src/proxy/config/type-names.ts';
import { compileListener, Listener } from '../../../src/proxy/listener/listener.ts';
import { StatsStore } from '../../../src/proxy/stats/store.ts';
import { compileCluster } from '../../../src/proxy/upstream/cluster.ts';
import { ClusterManager } from '../../../src/proxy/upstream/cluster-manager.ts';

export const any = (type: string, fields: Record<string, unknown>): Record<string, unknown> => ({
  '@type': `type.googleapis.com/${type}`,
  ...fields,
});

export const ROUTER = { name: 'envoy.filters.http.router', typed_config: any(TYPE.ROUTER, {}) };

/** A STATIC cluster over 127.0.0.1 ports. */
export function staticCluster(
  name: string,
  ports: number[],
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    name,
    type: 'STATIC',
    connect_timeout: { seconds: 1 },
    load_assignment: {
      cluster_name: name,
      endpoints: [
        {
          lb_endpoints: ports.map((port) => ({
            endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } },
          })),
        },
      ],
    },
    ...extra,
  };
}

export function hcm(
  routeConfig: Record<string, unknown>,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return any(TYPE.HTTP_CONNECTION_MANAGER, {
    stat_prefix: 'ingress',
    route_config: routeConfig,
    http_filters: [ROUTER],
    ...extra,
  });
}

export function listenerProto(filter: Record<string, unknown>, name = 'test'): Record<string, unknown> {
  return {
    name,
    address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
    filter_chains: [{ filters: [{ name: 'f', typed_config: filter }] }],
  };
}

/** One virtual host matching every domain. */
export function routeConfig(
  routes: unknown[],
  vhostExtra: Record<string, unknown> = {},
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return { name: 'local', virtual_hosts: [{ name: 'all', domains: ['*'], routes, ...vhostExtra }], ...extra };
}

export class ProxyHarness {
  readonly stats = new StatsStore();
  readonly cm: ClusterManager;
  listener!: Listener;
  port = 0;

  constructor(random?: () => number) {
    this.cm = new ClusterManager(this.stats, random ? { random } : {});
  }

  addCluster(proto: unknown): void {
    const r = compileCluster(proto);
    if (!r.ok) assert.fail(`cluster config: ${JSON.stringify(r.errors)}`);
    this.cm.addOrUpdate(r.value);
  }

  async listen(proto: unknown, random?: () => number): Promise<this> {
    const r = compileListener(proto, { clusterManager: this.cm, stats: this.stats, random });
    if (!r.ok) assert.fail(`listener config: ${JSON.stringify(r.errors)}`);
    this.listener = new Listener(r.value, this.stats);
    this.port = await this.listener.start();
    return this;
  }

  /** Builds a harness with clusters and an HCM listener in one go. */
  static async http(
    clusters: unknown[],
    routes: Record<string, unknown>,
    hcmExtra: Record<string, unknown> = {},
    random?: () => number,
  ): Promise<ProxyHarness> {
    const h = new ProxyHarness(random);
    for (const c of clusters) h.addCluster(c);
    return h.listen(listenerProto(hcm(routes, hcmExtra)), random);
  }

  stat(name: string): number {
    return this.stats.value(name);
  }

  async close(): Promise<void> {
    await this.listener?.close();
    this.cm.destroy();
  }
}

export interface Response {
  status: number;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: string;
}

const agent = new http.Agent({ keepAlive: false });

/** One request through node:http (a parser independent of the proxy's). */
export function request(
  port: number,
  opts: {
    method?: string;
    path?: string;
    headers?: Record<string, string>;
    body?: string;
    agent?: http.Agent;
  } = {},
): Promise<Response> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: opts.method ?? 'GET',
        path: opts.path ?? '/',
        headers: opts.headers,
        agent: opts.agent ?? agent,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            rawHeaders: res.rawHeaders,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (opts.body !== undefined) req.write(opts.body);
    req.end();
  });
}

/**
 * Sends raw bytes and collects everything the proxy sends until it closes the connection, or
 * until `until(text)` holds (then the client closes). Optionally half-closes after sending.
 */
export function raw(
  port: number,
  data: string | Buffer | (string | Buffer)[],
  opts: { until?: (text: string) => boolean; halfClose?: boolean } = {},
): Promise<{ text: string; closedByServer: boolean }> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    let text = '';
    let settled = false;
    const finish = (closedByServer: boolean): void => {
      if (settled) return;
      settled = true;
      s.destroy();
      resolve({ text, closedByServer });
    };
    s.on('connect', () => {
      for (const d of Array.isArray(data) ? data : [data]) s.write(d);
      if (opts.halfClose) s.end();
    });
    s.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      if (opts.until?.(text)) finish(false);
    });
    s.on('end', () => finish(true));
    s.on('close', () => finish(true));
    s.on('error', (e) => {
      if (!settled) reject(e);
    });
  });
}

/** Number of complete HTTP/1.1 responses with content-length in raw text (for pipelining). */
export function countResponses(text: string): number {
  return (text.match(/HTTP\/1\.[01] \d{3}/g) ?? []).length;
}

/** Statuses in order. */
export function statuses(text: string): number[] {
  return [...text.matchAll(/HTTP\/1\.[01] (\d{3})/g)].map((m) => Number(m[1]));
}

function openHandles(): string[] {
  return process
    .getActiveResourcesInfo()
    .filter((r) => r === 'TCPSocketWrap' || r === 'TCPServerWrap' || r === 'Timeout');
}

/**
 * Open-handle check for the end of a test file (CODE-STYLE §C.8). Closing a socket completes on
 * a later loop turn, so this lets a bounded number of turns pass (no timers) before asserting.
 */
export async function assertNoOpenHandles(): Promise<void> {
  for (let i = 0; i < 50 && openHandles().length > 0; i++) await new Promise((r) => setImmediate(r));
  assert.deepEqual(openHandles(), []);
}

/** A seeded PRNG (mulberry32) so load-balancer tests are exact. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
