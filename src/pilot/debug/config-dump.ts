/**
 * `/debug/config_dump?proxyID=`: what mizzend would send a connected proxy right now, shaped
 * as Envoy's admin `/config_dump` (ClustersConfigDump, EndpointsConfigDump,
 * ListenersConfigDump, RoutesConfigDump, SecretsConfigDump), so tools that read Envoy's dump
 * read this one. Resources come from the registered generators with the current push context
 * and the proxy's own subscriptions (wildcard types in full; named types for the names it
 * watches), in proto3 JSON with `@type`.
 */
import { toProto3Json } from '../../lib/xds/canonical-json.ts';
import {
  CLUSTER_TYPE_URL,
  ENDPOINT_TYPE_URL,
  LISTENER_TYPE_URL,
  ROUTE_TYPE_URL,
  SECRET_TYPE_URL,
  WILDCARD_TYPE_URLS,
} from '../../lib/xds/type-urls.ts';
import type { PushContext } from '../model/push-context.ts';
import { newPushRequest, TriggerReason } from '../model/push-request.ts';
import type { XdsConnection } from '../xds/connection.ts';
import type { GeneratorRegistry, WatchedResourceView, XdsResource } from '../xds/generator-registry.ts';

const ADMIN = 'type.googleapis.com/envoy.admin.v3.';
/** Envoy's admin dump types (not xDS resource types, so not in type-urls.ts). */
export const CONFIG_DUMP_TYPE_URLS = {
  clusters: `${ADMIN}ClustersConfigDump`,
  endpoints: `${ADMIN}EndpointsConfigDump`,
  listeners: `${ADMIN}ListenersConfigDump`,
  routes: `${ADMIN}RoutesConfigDump`,
  secrets: `${ADMIN}SecretsConfigDump`,
} as const;

/** The newest connection of a proxy named by `pod.namespace`, its full node id, or a connection id. */
export function findConnection(connections: readonly XdsConnection[], id: string): XdsConnection | undefined {
  let found: XdsConnection | undefined;
  for (const c of connections) {
    const p = c.proxy;
    if (!p || (p.id !== id && p.nodeId !== id && c.id !== id)) continue;
    if (!found || c.connectedAt >= found.connectedAt) found = c;
  }
  return found;
}

type Json = Record<string, unknown>;

/** The proxy's view of one type, or undefined when it neither watches it nor can wildcard it. */
function view(conn: XdsConnection, typeUrl: string): WatchedResourceView | undefined {
  const w = conn.watched.get(typeUrl);
  if (w) return w;
  if (WILDCARD_TYPE_URLS.has(typeUrl)) return { typeUrl, wildcard: true, resourceNames: new Set() };
  return undefined;
}

function generate(
  conn: XdsConnection,
  push: PushContext,
  generators: GeneratorRegistry<PushContext>,
  typeUrl: string,
): { resources: readonly XdsResource[]; lastUpdated?: string } | undefined {
  const proxy = conn.proxy;
  const w = view(conn, typeUrl);
  const gen = proxy && generators.get(typeUrl, proxy.metadata.generator);
  if (!proxy || !w || !gen) return undefined;
  const req = newPushRequest({ full: true, reason: TriggerReason.DEBUG, push });
  const all = gen.generate(proxy, w, req);
  const resources = w.wildcard ? all : all.filter((r) => w.resourceNames.has(r.name));
  const sentAt = conn.watched.get(typeUrl)?.sentAt;
  return { resources, lastUpdated: sentAt === undefined ? undefined : new Date(sentAt).toISOString() };
}

const byName = (a: XdsResource, b: XdsResource) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

export function configDump(
  conn: XdsConnection,
  push: PushContext,
  generators: GeneratorRegistry<PushContext>,
  version: string,
): { configs: Json[] } {
  const configs: Json[] = [];
  const js = (r: XdsResource) => toProto3Json(undefined, r.resource);
  const clusters = generate(conn, push, generators, CLUSTER_TYPE_URL);
  if (clusters) {
    configs.push({
      '@type': CONFIG_DUMP_TYPE_URLS.clusters,
      version_info: version,
      dynamic_active_clusters: [...clusters.resources].sort(byName).map((r) => ({
        version_info: version,
        cluster: js(r),
        last_updated: clusters.lastUpdated,
      })),
    });
  }
  const endpoints = generate(conn, push, generators, ENDPOINT_TYPE_URL);
  if (endpoints) {
    configs.push({
      '@type': CONFIG_DUMP_TYPE_URLS.endpoints,
      dynamic_endpoint_configs: [...endpoints.resources].sort(byName).map((r) => ({
        version_info: version,
        endpoint_config: js(r),
        last_updated: endpoints.lastUpdated,
      })),
    });
  }
  const listeners = generate(conn, push, generators, LISTENER_TYPE_URL);
  if (listeners) {
    configs.push({
      '@type': CONFIG_DUMP_TYPE_URLS.listeners,
      version_info: version,
      dynamic_listeners: [...listeners.resources].sort(byName).map((r) => ({
        name: r.name,
        active_state: { version_info: version, listener: js(r), last_updated: listeners.lastUpdated },
      })),
    });
  }
  const routes = generate(conn, push, generators, ROUTE_TYPE_URL);
  if (routes) {
    configs.push({
      '@type': CONFIG_DUMP_TYPE_URLS.routes,
      dynamic_route_configs: [...routes.resources].sort(byName).map((r) => ({
        version_info: version,
        route_config: js(r),
        last_updated: routes.lastUpdated,
      })),
    });
  }
  const secrets = generate(conn, push, generators, SECRET_TYPE_URL);
  if (secrets) {
    configs.push({
      '@type': CONFIG_DUMP_TYPE_URLS.secrets,
      dynamic_active_secrets: [...secrets.resources].sort(byName).map((r) => ({
        name: r.name,
        version_info: version,
        last_updated: secrets.lastUpdated,
        secret: js(r),
      })),
    });
  }
  return { configs };
}
