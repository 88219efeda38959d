/**
 * CDS: envoy.config.cluster.v3.Cluster. Basic checks (a positive connect timeout; an EDS
 * cluster loads its endpoints over ADS) and the dependencies: the ClusterLoadAssignment of an
 * EDS cluster (named by `eds_cluster_config.service_name`, else the cluster's name) and the SDS
 * secrets of its transport sockets. The cluster warms until they arrive.
 */
import { CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL } from '../../../lib/xds/type-urls.ts';
import { fromProtoDuration } from '../../../lib/xds/well-known.ts';
import {
  type CompileHook,
  checkAdsConfigSource,
  createResourceType,
  type Dependency,
  dependency,
  isObject,
  join,
  list,
  type ProtoMessage,
  type ResourceIssues,
  type ResourceType,
} from './resource-type.ts';
import { transportSocketSecrets, uniqueDependencies } from './tls-secrets.ts';

/** Is this an EDS cluster? (`type` may be the enum name or its number, 3.) */
function isEds(c: ProtoMessage): boolean {
  if (isObject(c.cluster_type)) return false;
  return c.type === 'EDS' || c.type === 3;
}

export function validateCluster(c: ProtoMessage, issues: ResourceIssues): Dependency[] {
  const out: Dependency[] = [];
  const timeout = fromProtoDuration(c.connect_timeout as { seconds?: unknown } | null | undefined);
  if (timeout !== undefined && !(timeout > 0)) {
    issues.error('connect_timeout', 'must be greater than 0s');
  }
  if (isEds(c)) {
    const eds = c.eds_cluster_config;
    if (!isObject(eds)) {
      issues.error(
        'eds_cluster_config',
        'an EDS cluster needs eds_cluster_config with eds_config: {ads: {}}',
      );
    } else {
      const service =
        typeof eds.service_name === 'string' && eds.service_name !== '' ? eds.service_name : c.name;
      const fetch = checkAdsConfigSource(
        eds.eds_config,
        'eds_cluster_config.eds_config',
        `the endpoints of cluster ${JSON.stringify(c.name)}`,
        issues,
      );
      if (fetch !== null && typeof service === 'string' && service !== '') {
        out.push(dependency(ENDPOINT_TYPE_URL, service, fetch));
      }
    }
  }
  transportSocketSecrets(c.transport_socket, 'transport_socket', issues, out);
  list(c.transport_socket_matches).forEach((m, i) => {
    if (isObject(m)) {
      transportSocketSecrets(
        m.transport_socket,
        join(join('transport_socket_matches', i), 'transport_socket'),
        issues,
        out,
      );
    }
  });
  return uniqueDependencies(out);
}

export function clusterResourceType<C = unknown>(compile?: CompileHook<C>): ResourceType<C> {
  return createResourceType<C>({
    typeUrl: CLUSTER_TYPE_URL,
    shortName: 'CDS',
    kind: 'Cluster',
    allResourcesRequiredInSotW: true,
    nameField: 'name',
    validate: validateCluster,
    compile,
  });
}
