/**
 * The benchmark's control plane: mizzend's real AdsServer serving a fixed set of Envoy resources
 * (no translation), so mizzen-proxy runs exactly as deployed — bin/mizzen-proxy.js, ADS, the
 * compile step — and the config is swapped in stages (`set`) while the harness watches the
 * proxy's ACK or NACK of each type.
 */
import type { ConfigKey } from '../../src/api/resource.ts';
import { MetricsRegistry } from '../../src/lib/metrics.ts';
import { typed } from '../../src/lib/xds/any.ts';
import {
  CLUSTER_TYPE_URL,
  ENDPOINT_TYPE_URL,
  HTTP_CONNECTION_MANAGER_TYPE_URL,
  HTTP_PROTOCOL_OPTIONS_TYPE_URL,
  LISTENER_TYPE_URL,
  ROUTE_TYPE_URL,
  ROUTER_TYPE_URL,
  SECRET_TYPE_URL,
  shortTypeName,
  TCP_PROXY_TYPE_URL,
} from '../../src/lib/xds/type-urls.ts';
import { configsOfKindsChanged, newPushRequest } from '../../src/pilot/model/push-request.ts';
import {
  buildHttpStatsFilter,
  buildMetadataExchangeFilter,
  buildTcpStatsFilter,
} from '../../src/pilot/networking/filters/telemetry.ts';
import { AdsServer } from '../../src/pilot/xds/ads-server.ts';
import { type Generator, GeneratorRegistry, xdsResource } from '../../src/pilot/xds/generator-registry.ts';

const TYPES = [CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL, LISTENER_TYPE_URL, ROUTE_TYPE_URL, SECRET_TYPE_URL];

/** Resources by name, per type URL. */
export type World = Map<string, Map<string, object>>;

function generator(typeUrl: string): Generator<World> {
  const kind = shortTypeName(typeUrl);
  return {
    typeUrl,
    needsPush: (_proxy, req) => configsOfKindsChanged(req, new Set([kind])),
    generate: (_proxy, _watched, req) =>
      [...(req.push.get(typeUrl) ?? new Map())].map(([name, msg]) => xdsResource(typeUrl, name, msg)),
  };
}

export interface Outcome {
  readonly typeUrl: string;
  readonly ok: boolean;
  readonly detail: string;
}

export class BenchControlPlane {
  readonly server: AdsServer<World>;
  port = 0;
  #world: World = new Map(TYPES.map((t) => [t, new Map()]));
  #waiters: ((o: Outcome) => void)[] = [];

  constructor() {
    const registry = new GeneratorRegistry<World>();
    for (const t of TYPES) registry.register(generator(t));
    this.server = new AdsServer<World>({
      generators: registry,
      pushContext: () => this.#world,
      metrics: new MetricsRegistry(),
    });
    this.server.on('ack', (_c, typeUrl) => this.#settle({ typeUrl, ok: true, detail: '' }));
    this.server.on('nack', (_c, typeUrl, nack) =>
      this.#settle({ typeUrl, ok: false, detail: JSON.stringify(nack ?? {}) }),
    );
  }

  #settle(o: Outcome): void {
    for (const w of this.#waiters.splice(0)) w(o);
  }

  async listen(): Promise<number> {
    this.port = await this.server.listen(0, '127.0.0.1');
    return this.port;
  }

  /** Replaces the whole world and pushes every type. */
  set(world: World): void {
    this.#world = world;
    const keys: ConfigKey[] = TYPES.map((t) => ({ kind: shortTypeName(t), namespace: 'bench', name: 'all' }));
    this.server.push(newPushRequest({ full: true, configsUpdated: keys, reason: 'config', push: world }));
  }

  /** The next ACK or NACK of `typeUrl` (or a timeout, reported as a failure). */
  nextOutcome(typeUrl: string, timeoutMs = 60_000): Promise<Outcome> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        resolve({ typeUrl, ok: false, detail: `no ACK or NACK within ${timeoutMs} ms` });
      }, timeoutMs);
      const waiter = (o: Outcome) => {
        if (o.typeUrl !== typeUrl) {
          this.#waiters.push(waiter);
          return;
        }
        clearTimeout(timer);
        resolve(o);
      };
      this.#waiters.push(waiter);
    });
  }

  close(): Promise<void> {
    return this.server.close({ graceMs: 0 });
  }
}

// ---------------------------------------------------------------------------------------------
// The benchmark's config: what istiod sends a sidecar for outbound port 80, reduced to one backend
// ---------------------------------------------------------------------------------------------

export interface BenchPorts {
  /** The HTTP listener (HTTP/1.1, and h2c once the proxy speaks it: codec AUTO). */
  readonly http: number;
  readonly tcp: number;
  readonly grpc: number;
  /** Backends. */
  readonly upstreamHttp: number;
  readonly upstreamGrpc: number;
}

export interface BenchConfigOptions {
  /** Istio's metadata exchange + stats filters before the router / tcp_proxy. */
  readonly telemetry: boolean;
  /** The gRPC listener and its HTTP/2 upstream cluster (only once the proxy speaks HTTP/2). */
  readonly grpc: boolean;
}

const BACKEND = 'outbound|80||backend.default.svc.cluster.local';
const GRPC_BACKEND = 'outbound|9000||grpc-backend.default.svc.cluster.local';

function staticCluster(name: string, port: number, extra: object = {}): object {
  return {
    name,
    type: 'STATIC',
    connect_timeout: { seconds: 10 },
    load_assignment: {
      cluster_name: name,
      endpoints: [
        {
          lb_endpoints: [
            { endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } } },
          ],
        },
      ],
    },
    ...extra,
  };
}

/** A sidecar-like outbound route table: 8 services' virtual hosts plus the one the load uses. */
function routeTable(name: string, cluster: string, port: number): object {
  const vhosts: object[] = [];
  for (let i = 0; i < 8; i++) {
    const host = `svc${i}.default.svc.cluster.local`;
    vhosts.push({
      name: `${host}:80`,
      domains: [host, `${host}:80`, `svc${i}`, `svc${i}:80`, `svc${i}.default`, `svc${i}.default:80`],
      routes: [
        { name: 'default', match: { prefix: '/' }, route: { cluster: BACKEND, timeout: { seconds: 0 } } },
      ],
    });
  }
  vhosts.push({
    name: 'backend.default.svc.cluster.local:80',
    // The load generators address the listener by IP and port.
    domains: ['backend.default.svc.cluster.local', 'backend', `127.0.0.1:${port}`, '127.0.0.1'],
    routes: [
      { match: { prefix: '/api/v2' }, route: { cluster, timeout: { seconds: 0 } } },
      { match: { path: '/healthz' }, direct_response: { status: 200 } },
      { name: 'default', match: { prefix: '/' }, route: { cluster, timeout: { seconds: 0 } } },
    ],
  });
  return { name, virtual_hosts: vhosts };
}

function httpListener(name: string, port: number, route: object, telemetry: boolean): object {
  const router = { name: 'envoy.filters.http.router', typed_config: typed(ROUTER_TYPE_URL, {}) };
  const httpFilters = telemetry
    ? [buildMetadataExchangeFilter(), buildHttpStatsFilter('sidecar'), router]
    : [router];
  return {
    name,
    address: { socket_address: { address: '127.0.0.1', port_value: port } },
    traffic_direction: 'OUTBOUND',
    filter_chains: [
      {
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: typed(HTTP_CONNECTION_MANAGER_TYPE_URL, {
              stat_prefix: `outbound_127.0.0.1_${port}`,
              codec_type: 'AUTO',
              route_config: route,
              http_filters: httpFilters,
            }),
          },
        ],
      },
    ],
  };
}

export function benchWorld(p: BenchPorts, o: BenchConfigOptions): World {
  const clusters = new Map<string, object>([[BACKEND, staticCluster(BACKEND, p.upstreamHttp)]]);
  const listeners = new Map<string, object>();
  listeners.set(
    'bench_http',
    httpListener('bench_http', p.http, routeTable('80', BACKEND, p.http), o.telemetry),
  );
  const tcpProxy = {
    name: 'envoy.filters.network.tcp_proxy',
    typed_config: typed(TCP_PROXY_TYPE_URL, { stat_prefix: BACKEND, cluster: BACKEND }),
  };
  listeners.set('bench_tcp', {
    name: 'bench_tcp',
    address: { socket_address: { address: '127.0.0.1', port_value: p.tcp } },
    traffic_direction: 'OUTBOUND',
    filter_chains: [{ filters: o.telemetry ? [buildTcpStatsFilter('sidecar'), tcpProxy] : [tcpProxy] }],
  });
  if (o.grpc) {
    clusters.set(
      GRPC_BACKEND,
      staticCluster(GRPC_BACKEND, p.upstreamGrpc, {
        typed_extension_protocol_options: {
          'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': typed(HTTP_PROTOCOL_OPTIONS_TYPE_URL, {
            explicit_http_config: { http2_protocol_options: {} },
          }),
        },
      }),
    );
    listeners.set(
      'bench_grpc',
      httpListener('bench_grpc', p.grpc, routeTable('9000', GRPC_BACKEND, p.grpc), o.telemetry),
    );
  }
  return new Map([
    [CLUSTER_TYPE_URL, clusters],
    [ENDPOINT_TYPE_URL, new Map()],
    [LISTENER_TYPE_URL, listeners],
    [ROUTE_TYPE_URL, new Map()],
    [SECRET_TYPE_URL, new Map()],
  ]);
}
