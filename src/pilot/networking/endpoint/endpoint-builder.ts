/**
 * Endpoints -> ClusterLoadAssignment (Istio's EndpointBuilder). For one cluster and one proxy:
 * the service the proxy sees under the cluster's host name, the endpoints of the cluster's
 * port (narrowed to the subset's labels), grouped by locality (sorted), healthy and draining
 * ones only (unhealthy and terminating endpoints are left out, as Istio does by default), each
 * with its weight and Istio metadata, each group with the sum of its weights; then the
 * locality setting of the cluster's traffic policy applied relative to the proxy.
 */
import type { TrafficPolicy } from '../../../api/networking/shared.ts';
import { toProtoStruct } from '../../../lib/xds/well-known.ts';
import {
  type Endpoint,
  HealthStatus,
  labelsMatch,
  parseLocality,
  type Service,
  type ServicePort,
  servicePort,
} from '../../../registry/model.ts';
import { parseClusterName, TrafficDirection } from '../../model/naming.ts';
import type { Proxy } from '../../model/proxy.ts';
import type { PushContext } from '../../model/push-context.ts';
import { ISTIO_METADATA_KEY } from '../../model/well-known.ts';
import { localityLbSettingFor } from '../cluster/lb-policy.ts';
import { isProxyless } from '../cluster/proxyless.ts';
import { tlsModeMetadata } from '../cluster/tls.ts';
import { effectivePolicy } from '../cluster/traffic-policy.ts';
import type { ProtoObject } from '../cluster/values.ts';
import {
  applyLocalityLoadBalancing,
  augmentLabels,
  type LocalityGroup,
  type ProxyLocalityView,
  type WeightedEndpoint,
} from './locality.ts';

const CANONICAL_NAME_LABELS = ['service.istio.io/canonical-name', 'app.kubernetes.io/name', 'app'];
const CANONICAL_REVISION_LABELS = [
  'service.istio.io/canonical-revision',
  'app.kubernetes.io/version',
  'version',
];

/** Istio's endpoint metadata `istio.workload`: `name;namespace;canonical-name;revision;cluster`. */
export function workloadMetadata(e: Endpoint): string {
  const name = CANONICAL_NAME_LABELS.map((l) => e.labels[l]).find(Boolean) ?? e.workloadName;
  const rev = CANONICAL_REVISION_LABELS.map((l) => e.labels[l]).find(Boolean) ?? 'latest';
  return `${e.workloadName};${e.namespace};${name};${rev};${e.clusterId}`;
}

function address(e: Endpoint): ProtoObject {
  if (e.address.startsWith('unix://')) return { pipe: { path: e.address.slice('unix://'.length) } };
  return { socket_address: { address: e.address, port_value: e.port } };
}

export function buildLbEndpoint(we: WeightedEndpoint): ProtoObject {
  const e = we.endpoint;
  const filterMetadata: Record<string, unknown> = {};
  if (e.workloadName) filterMetadata[ISTIO_METADATA_KEY] = toProtoStruct({ workload: workloadMetadata(e) });
  if (e.tlsMode === 'istio') {
    const [k, v] = tlsModeMetadata();
    filterMetadata[k] = v;
  }
  return {
    endpoint: { address: address(e) },
    health_status: e.healthStatus === HealthStatus.DRAINING ? 'DRAINING' : 'HEALTHY',
    load_balancing_weight: { value: we.weight },
    ...(Object.keys(filterMetadata).length > 0 ? { metadata: { filter_metadata: filterMetadata } } : {}),
  };
}

/** The endpoints of `port` (and `subsetLabels`) grouped by locality, sorted, weights summed. */
export function groupEndpoints(
  endpoints: readonly Endpoint[],
  port: ServicePort,
  subsetLabels: Readonly<Record<string, string>> | undefined,
): LocalityGroup[] {
  const groups = new Map<string, WeightedEndpoint[]>();
  // One address serves a port once, even when two registries report it (clients reject duplicates).
  const seen = new Set<string>();
  for (const e of endpoints) {
    if (e.servicePortName !== port.name) continue;
    if (e.healthStatus === HealthStatus.UNHEALTHY || e.healthStatus === HealthStatus.TERMINATING) continue;
    if (subsetLabels && !labelsMatch(subsetLabels, e.labels)) continue;
    const id = `${e.address}:${e.port}`;
    if (seen.has(id)) continue;
    seen.add(id);
    let list = groups.get(e.locality);
    if (!list) groups.set(e.locality, (list = []));
    list.push({ endpoint: e, weight: Math.max(1, e.weight) });
  }
  return [...groups.keys()].sort().map((loc) => {
    const eps = groups.get(loc) as WeightedEndpoint[];
    return {
      locality: parseLocality(loc),
      endpoints: eps,
      weight: eps.reduce((s, x) => s + x.weight, 0),
      priority: 0,
    };
  });
}

/**
 * LocalityLbEndpoints protos of groups. `locality` is always present (empty when unknown) and
 * so is `load_balancing_weight`: gRPC clients reject groups without a locality and drop
 * localities without a weight.
 */
export function buildLocalityLbEndpoints(groups: readonly LocalityGroup[]): ProtoObject[] {
  return groups.map((g) => {
    const l = g.locality;
    return {
      locality: {
        ...(l.region ? { region: l.region } : {}),
        ...(l.zone ? { zone: l.zone } : {}),
        ...(l.subZone ? { sub_zone: l.subZone } : {}),
      },
      lb_endpoints: g.endpoints.map(buildLbEndpoint),
      load_balancing_weight: { value: g.weight },
      ...(g.priority > 0 ? { priority: g.priority } : {}),
    };
  });
}

export function proxyLocalityView(proxy: Proxy): ProxyLocalityView {
  const locality = {
    region: proxy.locality.region,
    zone: proxy.locality.zone,
    subZone: proxy.locality.subZone,
  };
  return {
    locality,
    labels: augmentLabels(proxy.labels, locality, proxy.metadata.network, proxy.clusterId),
  };
}

export interface EndpointSelection {
  readonly service: Service;
  readonly port: ServicePort;
  readonly subset: string;
  readonly subsetLabels?: Readonly<Record<string, string>>;
  readonly policy?: TrafficPolicy;
}

/**
 * The locality groups a cluster of `selection` has for `proxy`, with the locality setting of
 * its policy applied (failover only when the policy has outlier detection).
 */
export function localityGroupsFor(push: PushContext, proxy: Proxy, sel: EndpointSelection): LocalityGroup[] {
  let endpoints = push.endpointIndex.endpoints(sel.service.hostname, sel.service.namespace);
  // gRPC clients dial IP addresses only.
  if (isProxyless(proxy)) endpoints = endpoints.filter((e) => !e.address.startsWith('unix://'));
  const groups = groupEndpoints(endpoints, sel.port, sel.subsetLabels);
  const setting = localityLbSettingFor(push.mesh, sel.policy?.loadBalancer);
  return applyLocalityLoadBalancing(
    groups,
    proxyLocalityView(proxy),
    setting,
    sel.policy?.outlierDetection !== undefined,
  );
}

/**
 * What an outbound cluster name stands for, for this proxy: the service it sees under the
 * host name, the port, the subset's labels and the effective policy. Undefined when the name
 * is not an outbound cluster or the proxy cannot see such a service port or subset.
 */
export function resolveOutboundCluster(
  push: PushContext,
  proxy: Proxy,
  clusterName: string,
): EndpointSelection | undefined {
  const key = parseClusterName(clusterName);
  if (!key || key.direction !== TrafficDirection.OUTBOUND) return undefined;
  const service =
    push.sidecarScope(proxy).serviceForHostname(key.hostname) ??
    push.serviceForHostname(key.hostname, proxy.namespace);
  if (!service) return undefined;
  const port = servicePort(service, key.port);
  if (!port) return undefined;
  const rule = push.destinationRule(proxy, service)?.rule;
  let subsetLabels: Readonly<Record<string, string>> | undefined;
  if (key.subset) {
    const subset = rule?.subsets?.find((s) => s.name === key.subset);
    if (!subset) return undefined;
    subsetLabels = subset.labels ?? {};
  }
  return {
    service,
    port,
    subset: key.subset,
    ...(subsetLabels ? { subsetLabels } : {}),
    ...(rule ? { policy: effectivePolicy(rule, port.port, key.subset || undefined) } : {}),
  };
}

/** The ClusterLoadAssignment of `clusterName` for `proxy` (empty endpoints when unknown). */
export function buildClusterLoadAssignment(
  push: PushContext,
  proxy: Proxy,
  clusterName: string,
): ProtoObject {
  const sel = resolveOutboundCluster(push, proxy, clusterName);
  if (!sel) return { cluster_name: clusterName, endpoints: [] };
  return {
    cluster_name: clusterName,
    endpoints: buildLocalityLbEndpoints(localityGroupsFor(push, proxy, sel)),
  };
}
