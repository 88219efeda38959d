/**
 * The telemetry parts of a proxy's bootstrap, applied to a running ProxyServer:
 * - the local node (metadata and id) that `istio.stats` and the metadata exchange label with;
 * - Istio's static Prometheus listener (15090 → /stats/prometheus on the admin address), built by
 *   src/agent/bootstrap.ts's `prometheusStaticResources` and served by the ordinary listener
 *   and cluster code, as Envoy serves Istio's bootstrap.
 */
import { prometheusStaticResources } from '../../agent/bootstrap.ts';
import { logger } from '../../lib/log.ts';
import { LISTENER_TYPE_URL } from '../../lib/xds/type-urls.ts';
import { fromProtoStruct } from '../../lib/xds/well-known.ts';
import { formatIssues } from '../config/proto.ts';
import { compileListener } from '../listener/listener.ts';
import type { ProxyServer } from '../proxy-server.ts';
import type { StatsStore } from '../stats/store.ts';
import { compileCluster } from '../upstream/cluster.ts';

const log = logger('proxy:telemetry');

/** Static (bootstrap) resources applied to a proxy, for /config_dump's static_* sections. */
export interface StaticResources {
  readonly listeners: readonly Record<string, unknown>[];
  readonly clusters: readonly Record<string, unknown>[];
  readonly appliedAt: number;
}
const statics = new WeakMap<object, StaticResources>();

export function staticResourcesOf(proxy: object): StaticResources | undefined {
  return statics.get(proxy);
}

/** Sets the store's local node from the bootstrap, unless someone already did. */
export function setLocalNode(
  stats: StatsStore,
  bootstrap: {
    readonly node: { readonly id?: string; readonly metadata?: unknown };
    readonly metadata?: unknown;
  },
): void {
  if (stats.localNode !== undefined) return;
  const md =
    bootstrap.metadata !== undefined && bootstrap.metadata !== null && typeof bootstrap.metadata === 'object'
      ? (bootstrap.metadata as Record<string, unknown>)
      : fromProtoStruct(bootstrap.node.metadata as { fields?: unknown } | undefined);
  stats.localNode = md;
  stats.localNodeId = bootstrap.node.id ?? '';
}

/**
 * Adds the static Prometheus cluster and listener to the proxy. Resolves once the listener is
 * bound (or failed to bind: logged, and the admin port still serves /stats/prometheus).
 */
export async function installPrometheusListener(
  proxy: ProxyServer,
  options: {
    readonly port: number;
    readonly adminAddress: string;
    readonly adminPort: number;
    /** Bind address of the listener (default: the wildcard, as Istio). */
    readonly address?: string;
  },
): Promise<void> {
  const adminAddress =
    options.adminAddress === '0.0.0.0'
      ? '127.0.0.1'
      : options.adminAddress === '::'
        ? '::1'
        : options.adminAddress;
  const { listeners, clusters } = prometheusStaticResources({
    port: options.port,
    adminAddress,
    adminPort: options.adminPort,
    ...(options.address === undefined ? {} : { address: options.address }),
  });
  for (const c of clusters) {
    const r = compileCluster(c);
    if (!r.ok) throw new Error(`bootstrap cluster ${String(c.name)}: ${formatIssues(r.errors)}`);
    proxy.clusterManager.addOrUpdate(r.value);
  }
  const env = {
    clusterManager: proxy.clusterManager,
    stats: proxy.stats,
    rds: proxy.listenerManager.rdsProvider,
  };
  const added = listeners.map((l) => {
    const r = compileListener(l, env);
    if (!r.ok) throw new Error(`bootstrap listener ${String(l.name)}: ${formatIssues(r.errors)}`);
    const name = String(l.name);
    return {
      name,
      version: 'bootstrap',
      resource: {
        typeUrl: LISTENER_TYPE_URL,
        name,
        message: l,
        compiled: r.value,
        hash: '',
        dependencies: [],
      },
    };
  });
  statics.set(proxy, { listeners, clusters, appliedAt: Date.now() });
  await proxy.listenerManager.applyListeners({ typeUrl: LISTENER_TYPE_URL, added, updated: [], removed: [] });
  log.info('static Prometheus listener', {
    port: proxy.listenerManager.port(String(listeners[0].name)),
    admin: `${adminAddress}:${options.adminPort}`,
  });
}
