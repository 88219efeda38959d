/**
 * RDS: envoy.config.route.v3.RouteConfiguration. Basic checks Envoy makes when it loads a route
 * table: virtual hosts are named, their names are unique, each has at least one domain and no
 * domain appears twice (case-insensitively) in one table; VHDS is refused. Route configurations
 * depend on nothing (Envoy does not warm them on clusters).
 */
import { ROUTE_TYPE_URL } from '../../../lib/xds/type-urls.ts';
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

export function validateRouteConfiguration(rc: ProtoMessage, issues: ResourceIssues): Dependency[] {
  if (isObject(rc.vhds)) issues.error('vhds', 'on-demand virtual hosts (VHDS) are not supported');
  const names = new Map<string, number>();
  const domains = new Map<string, string>();
  list(rc.virtual_hosts).forEach((vh, i) => {
    const at = join('virtual_hosts', i);
    if (!isObject(vh)) return;
    const name = vh.name;
    if (typeof name !== 'string' || name === '') {
      issues.error(join(at, 'name'), 'a virtual host name is required');
    } else if (names.has(name)) {
      issues.error(
        join(at, 'name'),
        `virtual host name ${JSON.stringify(name)} is also used by virtual_hosts[${names.get(name)}]`,
      );
    } else {
      names.set(name, i);
    }
    const ds = list(vh.domains);
    if (ds.length === 0) issues.error(join(at, 'domains'), 'a virtual host needs at least one domain');
    ds.forEach((d, j) => {
      if (typeof d !== 'string' || d === '') {
        issues.error(join(join(at, 'domains'), j), 'a domain must not be empty');
        return;
      }
      const key = d.toLowerCase();
      const owner = domains.get(key);
      if (owner !== undefined) {
        issues.error(
          join(join(at, 'domains'), j),
          `domain ${JSON.stringify(d)} is also a domain of ${owner}; domains must be unique in a route configuration`,
        );
      } else {
        domains.set(key, `virtual host ${JSON.stringify(name)}`);
      }
    });
  });
  return [];
}

export function routeConfigurationResourceType<C = unknown>(compile?: CompileHook<C>): ResourceType<C> {
  return createResourceType<C>({
    typeUrl: ROUTE_TYPE_URL,
    shortName: 'RDS',
    kind: 'RouteConfiguration',
    allResourcesRequiredInSotW: false,
    nameField: 'name',
    validate: validateRouteConfiguration,
    compile,
  });
}
