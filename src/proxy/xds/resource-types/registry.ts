/**
 * The one place that maps a type URL to the proxy's ResourceType. `envoyResourceTypes(hooks)`
 * registers the five Envoy types the xDS client needs, each with the proxy's compile hook for
 * its runtime form when one is given.
 */
import { ErrorCode, MizzenError } from '../../../lib/errors.ts';
import { clusterResourceType } from './cluster.ts';
import { clusterLoadAssignmentResourceType } from './endpoint.ts';
import { listenerResourceType } from './listener.ts';
import type { CompileHook, ResourceType } from './resource-type.ts';
import { routeConfigurationResourceType } from './route-config.ts';
import { secretResourceType } from './secret.ts';

export class ResourceTypeRegistry {
  readonly #types = new Map<string, ResourceType>();

  /** Registers a type; a second one for the same type URL is an error. */
  register(type: ResourceType): this {
    if (this.#types.has(type.typeUrl)) {
      throw new MizzenError(
        ErrorCode.INVALID_ARGUMENT,
        `a resource type for ${type.typeUrl} is already registered`,
      );
    }
    this.#types.set(type.typeUrl, type);
    return this;
  }

  get(typeUrl: string): ResourceType | undefined {
    return this.#types.get(typeUrl);
  }

  has(typeUrl: string): boolean {
    return this.#types.has(typeUrl);
  }

  typeUrls(): string[] {
    return [...this.#types.keys()];
  }
}

/** The proxy's compile step per type (see resource-type.ts); each is optional. */
export interface CompileHooks {
  readonly listener?: CompileHook<unknown>;
  readonly routeConfiguration?: CompileHook<unknown>;
  readonly cluster?: CompileHook<unknown>;
  readonly clusterLoadAssignment?: CompileHook<unknown>;
  readonly secret?: CompileHook<unknown>;
}

/** Listener, RouteConfiguration, Cluster, ClusterLoadAssignment and Secret. */
export function envoyResourceTypes(hooks: CompileHooks = {}): ResourceTypeRegistry {
  return new ResourceTypeRegistry()
    .register(listenerResourceType(hooks.listener))
    .register(routeConfigurationResourceType(hooks.routeConfiguration))
    .register(clusterResourceType(hooks.cluster))
    .register(clusterLoadAssignmentResourceType(hooks.clusterLoadAssignment))
    .register(secretResourceType(hooks.secret));
}
