/**
 * The RegistryUpdater every registry reports to: it records endpoints in the EndpointIndex and
 * emits one `RegistryChange` per change, which the control plane turns into a push request at
 * its one spot. Endpoint-only changes come out as `full: false` (incremental EDS); new services,
 * changed identities and service changes as `full: true`.
 */
import type { ConfigKey } from '../api/resource.ts';
import { type RegistryUpdater, type ServiceEvent, type ShardKey, serviceConfigKey } from './discovery.ts';
import type { EndpointIndex } from './endpoint-index.ts';
import type { Endpoint } from './model.ts';

/** Istio's push trigger reasons for registry changes (TriggerReason values). */
export type RegistryChangeReason = 'endpoint' | 'service' | 'config';

export interface RegistryChange {
  readonly full: boolean;
  /** `ServiceEntry/<namespace>/<hostname>` keys for service and endpoint changes. */
  readonly configsUpdated: readonly ConfigKey[];
  readonly reason: RegistryChangeReason;
}

export class EndpointIndexUpdater implements RegistryUpdater {
  readonly #index: EndpointIndex;
  readonly #emit: (change: RegistryChange) => void;

  constructor(index: EndpointIndex, emit: (change: RegistryChange) => void) {
    this.#index = index;
    this.#emit = emit;
  }

  serviceUpdate(shard: ShardKey, hostname: string, namespace: string, event: ServiceEvent): void {
    if (event === 'delete') this.#index.update(shard, hostname, namespace, []);
    if (event === 'delete' && (this.#index.shards(hostname, namespace)?.shards.size ?? 0) === 0) {
      this.#index.deleteService(hostname, namespace);
    }
    this.#emit({ full: true, configsUpdated: [serviceConfigKey(hostname, namespace)], reason: 'service' });
  }

  endpointUpdate(shard: ShardKey, hostname: string, namespace: string, endpoints: readonly Endpoint[]): void {
    const type = this.#index.update(shard, hostname, namespace, endpoints);
    if (type === 'none') return;
    this.#emit({
      full: type === 'full',
      configsUpdated: [serviceConfigKey(hostname, namespace)],
      reason: type === 'full' ? 'service' : 'endpoint',
    });
  }

  endpointCacheUpdate(
    shard: ShardKey,
    hostname: string,
    namespace: string,
    endpoints: readonly Endpoint[],
  ): void {
    this.#index.update(shard, hostname, namespace, endpoints);
  }

  configUpdate(update: { readonly configsUpdated: readonly ConfigKey[]; readonly reason: string }): void {
    this.#emit({
      full: true,
      configsUpdated: update.configsUpdated,
      reason: update.reason === 'endpoint' || update.reason === 'service' ? update.reason : 'config',
    });
  }
}
