/**
 * LDS: envoy.config.listener.v3.Listener. Basic checks (a bindable address or an API listener,
 * named filters, an HTTP connection manager with a route source) and the dependencies: the
 * RouteConfigurations its connection managers load over RDS, and the SDS secrets of its filter
 * chains. The listener warms until they arrive.
 */
import {
  HTTP_CONNECTION_MANAGER_TYPE_URL,
  LISTENER_TYPE_URL,
  ROUTE_TYPE_URL,
} from '../../../lib/xds/type-urls.ts';
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

const ROUTE_SPECIFIERS = ['rds', 'route_config', 'scoped_routes'] as const;

/** The RDS dependency of one HttpConnectionManager, after checking its route source. */
function connectionManager(hcm: ProtoMessage, path: string, issues: ResourceIssues, out: Dependency[]): void {
  const named = hcm.route_specifier;
  const which =
    typeof named === 'string' && (ROUTE_SPECIFIERS as readonly string[]).includes(named)
      ? named
      : ROUTE_SPECIFIERS.find((f) => hcm[f] !== undefined && hcm[f] !== null);
  switch (which) {
    case 'route_config':
      return;
    case 'scoped_routes':
      issues.error(join(path, 'scoped_routes'), 'scoped route configurations (SRDS) are not supported');
      return;
    case 'rds': {
      const rds = hcm.rds as ProtoMessage;
      const name = rds.route_config_name;
      if (typeof name !== 'string' || name === '') {
        issues.error(
          join(join(path, 'rds'), 'route_config_name'),
          'the route configuration name is required',
        );
        return;
      }
      const timeout = checkAdsConfigSource(
        rds.config_source,
        join(join(path, 'rds'), 'config_source'),
        `route configuration ${JSON.stringify(name)}`,
        issues,
      );
      if (timeout !== null) out.push(dependency(ROUTE_TYPE_URL, name, timeout));
      return;
    }
    default:
      issues.error(path, 'one of rds, route_config or scoped_routes is required');
  }
}

function filterChain(chain: unknown, path: string, issues: ResourceIssues, out: Dependency[]): void {
  if (!isObject(chain)) return;
  list(chain.filters).forEach((f, i) => {
    const at = join(join(path, 'filters'), i);
    if (!isObject(f)) return;
    if (typeof f.name !== 'string' || f.name === '')
      issues.error(join(at, 'name'), 'a filter name is required');
    const typed = f.typed_config;
    if (isObject(typed) && typed['@type'] === HTTP_CONNECTION_MANAGER_TYPE_URL) {
      connectionManager(typed, join(at, 'typed_config'), issues, out);
    }
  });
  transportSocketSecrets(chain.transport_socket, join(path, 'transport_socket'), issues, out);
}

export function validateListener(l: ProtoMessage, issues: ResourceIssues): Dependency[] {
  const out: Dependency[] = [];
  const api = l.api_listener;
  const hasAddress = isObject(l.address);
  if (!hasAddress && !isObject(api) && !isObject(l.internal_listener)) {
    issues.error('address', 'a listener needs an address to bind (or an api_listener)');
  }
  list(l.filter_chains).forEach((c, i) => {
    filterChain(c, join('filter_chains', i), issues, out);
  });
  filterChain(l.default_filter_chain, 'default_filter_chain', issues, out);
  if (isObject(api)) {
    const typed = api.api_listener;
    if (isObject(typed) && typed['@type'] === HTTP_CONNECTION_MANAGER_TYPE_URL) {
      connectionManager(typed, 'api_listener.api_listener', issues, out);
    }
  }
  return uniqueDependencies(out);
}

export function listenerResourceType<C = unknown>(compile?: CompileHook<C>): ResourceType<C> {
  return createResourceType<C>({
    typeUrl: LISTENER_TYPE_URL,
    shortName: 'LDS',
    kind: 'Listener',
    allResourcesRequiredInSotW: true,
    nameField: 'name',
    validate: validateListener,
    compile,
  });
}
