/**
 * EDS: envoy.config.endpoint.v3.ClusterLoadAssignment, named by `cluster_name`. Basic checks
 * from Envoy's proto constraints: priorities at most 128, weights at least 1 where set, ports
 * within 0–65535, a positive overprovisioning factor.
 */
import { ENDPOINT_TYPE_URL } from '../../../lib/xds/type-urls.ts';
import {
  type CompileHook,
  createResourceType,
  type Dependency,
  isObject,
  join,
  list,
  type ProtoMessage,
  type ResourceIssues,
  type ResourceType,
} from './resource-type.ts';

/** A google.protobuf.UInt32Value that, when set, must be at least 1. */
function checkWeight(v: unknown, path: string, issues: ResourceIssues): void {
  if (!isObject(v)) return;
  const n = Number(v.value ?? 0);
  if (!(n >= 1)) issues.error(path, `a weight must be at least 1, got ${n}`);
}

function checkAddress(addr: unknown, path: string, issues: ResourceIssues): void {
  if (!isObject(addr)) return;
  const sa = addr.socket_address;
  if (!isObject(sa)) return;
  const port = sa.port_value;
  if (typeof port === 'number' && port > 65535) {
    issues.error(join(join(path, 'socket_address'), 'port_value'), `${port} is not a valid port (0-65535)`);
  }
}

export function validateClusterLoadAssignment(cla: ProtoMessage, issues: ResourceIssues): Dependency[] {
  list(cla.endpoints).forEach((l, i) => {
    const at = join('endpoints', i);
    if (!isObject(l)) return;
    const priority = Number(l.priority ?? 0);
    if (priority > 128) issues.error(join(at, 'priority'), `${priority} is above the highest priority, 128`);
    checkWeight(l.load_balancing_weight, join(at, 'load_balancing_weight'), issues);
    list(l.lb_endpoints).forEach((e, j) => {
      const eat = join(join(at, 'lb_endpoints'), j);
      if (!isObject(e)) return;
      checkWeight(e.load_balancing_weight, join(eat, 'load_balancing_weight'), issues);
      const ep = e.endpoint;
      if (isObject(ep)) checkAddress(ep.address, join(join(eat, 'endpoint'), 'address'), issues);
    });
  });
  const policy = cla.policy;
  if (isObject(policy) && isObject(policy.overprovisioning_factor)) {
    const f = Number(policy.overprovisioning_factor.value ?? 0);
    if (!(f > 0)) issues.error('policy.overprovisioning_factor', 'must be greater than 0');
  }
  return [];
}

export function clusterLoadAssignmentResourceType<C = unknown>(compile?: CompileHook<C>): ResourceType<C> {
  return createResourceType<C>({
    typeUrl: ENDPOINT_TYPE_URL,
    shortName: 'EDS',
    kind: 'ClusterLoadAssignment',
    allResourcesRequiredInSotW: false,
    nameField: 'cluster_name',
    validate: validateClusterLoadAssignment,
    compile,
  });
}
