/**
 * /config_dump: Envoy's admin.v3.ConfigDump built from what the xDS client holds — bootstrap
 * (the node), then clusters, listeners, routes, endpoints and SDS secrets, each with its active
 * and warming resources, versions, update times, and the last rejection (error_state) per
 * resource. Secret material (private keys, passwords, generic secrets, ticket keys) is
 * redacted as Envoy does: certificates are shown, keys never.
 */
import {
  CLUSTER_TYPE_URL,
  ENDPOINT_TYPE_URL,
  LISTENER_TYPE_URL,
  ROUTE_TYPE_URL,
  SECRET_TYPE_URL,
  TYPE_URL_PREFIX,
} from '../../lib/xds/type-urls.ts';
import type { ProxyServer } from '../proxy-server.ts';
import { staticResourcesOf } from '../telemetry/bootstrap-telemetry.ts';
import type { ResourceStatus } from '../xds/status.ts';

const ADMIN = `${TYPE_URL_PREFIX}envoy.admin.v3.`;

type Json = Record<string, unknown>;

function typed(typeUrl: string, message: Json): Json {
  return { '@type': typeUrl, ...message };
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** UpdateFailureState for a resource whose last update was rejected. */
function errorState(s: ResourceStatus | undefined): Json | undefined {
  if (!s?.error) return undefined;
  return { details: s.error.message, version_info: s.error.version, last_update_attempt: s.error.at };
}

export function configDump(proxy: ProxyServer): Json {
  const xds = proxy.xds;
  const status = xds.status();
  const statusOf = (typeUrl: string) =>
    new Map((status.types.find((t) => t.typeUrl === typeUrl)?.resources ?? []).map((r) => [r.name, r]));

  // Bootstrap resources (Istio's Prometheus listener and its cluster), as Envoy lists them.
  const statics = staticResourcesOf(proxy);
  const staticAt = statics ? iso(statics.appliedAt) : undefined;

  const clusters = xds.resources(CLUSTER_TYPE_URL);
  const clusterStatus = statusOf(CLUSTER_TYPE_URL);
  const clustersDump = {
    '@type': `${ADMIN}ClustersConfigDump`,
    version_info: status.types.find((t) => t.typeUrl === CLUSTER_TYPE_URL)?.versionInfo ?? '',
    static_clusters: (statics?.clusters ?? []).map((c) => ({
      cluster: typed(CLUSTER_TYPE_URL, c as Json),
      last_updated: staticAt,
    })),
    dynamic_active_clusters: clusters.active.map((c) => ({
      version_info: c.version,
      cluster: typed(CLUSTER_TYPE_URL, c.resource.message),
      last_updated: clusterStatus.get(c.name)?.lastUpdated,
    })),
    dynamic_warming_clusters: clusters.warming.map((c) => ({
      version_info: c.version,
      cluster: typed(CLUSTER_TYPE_URL, c.resource.message),
      last_updated: iso(c.since),
    })),
  };

  const listeners = xds.resources(LISTENER_TYPE_URL);
  const listenerStatus = statusOf(LISTENER_TYPE_URL);
  const byName = new Map<string, Json>();
  const entry = (name: string): Json => {
    let e = byName.get(name);
    if (!e) {
      e = { name };
      byName.set(name, e);
    }
    return e;
  };
  for (const l of listeners.active) {
    entry(l.name).active_state = {
      version_info: l.version,
      listener: typed(LISTENER_TYPE_URL, l.resource.message),
      last_updated: listenerStatus.get(l.name)?.lastUpdated,
    };
  }
  for (const l of listeners.warming) {
    entry(l.name).warming_state = {
      version_info: l.version,
      listener: typed(LISTENER_TYPE_URL, l.resource.message),
      last_updated: iso(l.since),
    };
  }
  for (const [name, s] of listenerStatus) {
    const err = errorState(s);
    if (err) entry(name).error_state = err;
  }
  const listenersDump = {
    '@type': `${ADMIN}ListenersConfigDump`,
    version_info: status.types.find((t) => t.typeUrl === LISTENER_TYPE_URL)?.versionInfo ?? '',
    static_listeners: (statics?.listeners ?? []).map((l) => ({
      listener: typed(LISTENER_TYPE_URL, l as Json),
      last_updated: staticAt,
    })),
    dynamic_listeners: [...byName.values()],
  };

  const routes = xds.resources(ROUTE_TYPE_URL);
  const routeStatus = statusOf(ROUTE_TYPE_URL);
  const routesDump = {
    '@type': `${ADMIN}RoutesConfigDump`,
    dynamic_route_configs: [
      ...routes.active.map((r) => ({
        version_info: r.version,
        route_config: typed(ROUTE_TYPE_URL, r.resource.message),
        last_updated: routeStatus.get(r.name)?.lastUpdated,
      })),
      ...[...routeStatus.values()]
        .filter((s) => s.error)
        .map((s) => ({ error_state: errorState(s), route_config: { name: s.name } })),
    ],
  };

  const endpoints = xds.resources(ENDPOINT_TYPE_URL);
  const endpointStatus = statusOf(ENDPOINT_TYPE_URL);
  const endpointsDump = {
    '@type': `${ADMIN}EndpointsConfigDump`,
    dynamic_endpoint_configs: endpoints.active.map((e) => ({
      version_info: e.version,
      endpoint_config: typed(ENDPOINT_TYPE_URL, e.resource.message),
      last_updated: endpointStatus.get(e.name)?.lastUpdated,
    })),
  };

  const secrets = xds.resources(SECRET_TYPE_URL);
  const secretStatus = statusOf(SECRET_TYPE_URL);
  const secretsDump = {
    '@type': `${ADMIN}SecretsConfigDump`,
    dynamic_active_secrets: secrets.active.map((e) => ({
      name: e.name,
      version_info: e.version,
      last_updated: secretStatus.get(e.name)?.lastUpdated,
      secret: typed(SECRET_TYPE_URL, redactSecret(e.resource.message)),
    })),
    dynamic_warming_secrets: secrets.warming.map((e) => ({
      name: e.name,
      version_info: e.version,
      last_updated: iso(e.since),
      secret: typed(SECRET_TYPE_URL, redactSecret(e.resource.message)),
    })),
  };

  return {
    configs: [
      {
        '@type': `${ADMIN}BootstrapConfigDump`,
        bootstrap: { node: proxy.bootstrap.node },
        last_updated: iso(proxy.startedAt),
      },
      clustersDump,
      listenersDump,
      routesDump,
      endpointsDump,
      secretsDump,
    ],
  };
}

const REDACTED = { inline_string: '[redacted]' };

/** bytes fields as proto3 JSON writes them (base64), wherever they sit. */
function bytesAsBase64(value: unknown): unknown {
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  if (Array.isArray(value)) return value.map(bytesAsBase64);
  if (value !== null && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, bytesAsBase64(v)]));
  return value;
}

/** A copy of an SDS Secret with every piece of key material replaced (Envoy's redaction). */
export function redactSecret(secret: Json): Json {
  const message = bytesAsBase64(secret) as Json;
  const out: Json = { ...message };
  const cert = message.tls_certificate as Json | undefined;
  if (cert) {
    const c: Json = { ...cert };
    for (const k of ['private_key', 'password', 'private_key_provider'])
      if (c[k] !== undefined && c[k] !== null) c[k] = REDACTED;
    out.tls_certificate = c;
  }
  if (message.session_ticket_keys) out.session_ticket_keys = { keys: [REDACTED] };
  const generic = message.generic_secret as Json | undefined;
  if (generic) out.generic_secret = { ...generic, secret: REDACTED };
  return out;
}
