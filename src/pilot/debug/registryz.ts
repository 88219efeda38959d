/**
 * `/debug/registryz`: every service of the registry with its ports and, from the endpoint
 * index, its endpoints per shard; plus the registry's refused or shadowed entries.
 */
import { formatConfigKey } from '../../api/resource.ts';
import type { ServiceDiscovery } from '../../registry/discovery.ts';
import type { EndpointIndex } from '../../registry/endpoint-index.ts';
import type { Endpoint, Service } from '../../registry/model.ts';

function endpointJson(shard: string, e: Endpoint) {
  return {
    shard,
    address: e.address,
    port: e.port,
    service_port_name: e.servicePortName,
    labels: e.labels,
    service_account: e.serviceAccount,
    network: e.network,
    locality: e.locality,
    cluster_id: e.clusterId,
    weight: e.weight,
    health_status: e.healthStatus,
    tls_mode: e.tlsMode,
    workload_name: e.workloadName,
    namespace: e.namespace,
  };
}

function serviceJson(s: Service, index: EndpointIndex) {
  const shards = index.shards(s.hostname, s.namespace);
  const endpoints = shards
    ? [...shards.shards.keys()]
        .sort()
        .flatMap((id) => (shards.shards.get(id) ?? []).map((e) => endpointJson(id, e)))
    : [];
  return {
    hostname: s.hostname,
    namespace: s.namespace,
    name: s.name,
    provider: s.provider,
    cluster_id: s.clusterId,
    addresses: s.addresses,
    ports: s.ports.map((p) => ({
      name: p.name,
      port: p.port,
      protocol: p.protocol,
      target_port: p.targetPort,
    })),
    resolution: s.resolution,
    mesh_external: s.meshExternal,
    export_to: s.exportTo ? [...s.exportTo].sort() : undefined,
    service_accounts: s.serviceAccounts,
    labels: s.labels,
    selector: s.selector,
    source: s.source ? formatConfigKey(s.source) : undefined,
    endpoints_version: shards?.version ?? 0,
    endpoints,
  };
}

export function registryz(sources: {
  readonly registry: ServiceDiscovery;
  readonly endpointIndex: EndpointIndex;
  registryIssues?(): readonly { key: string; message: string }[];
}) {
  const snap = sources.registry.snapshot();
  return {
    services: snap.services.map((s) => serviceJson(s, sources.endpointIndex)),
    issues: sources.registryIssues?.() ?? [],
  };
}
