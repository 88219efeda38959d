/**
 * The spec types the analyzers read: src/api's models, which the inputs are decoded and
 * validated into. Gathered here so the analyzers name them in one way, and `spec()` gives
 * a resource's spec as the model of its kind.
 */
import type { DestinationRule } from '../api/networking/destination-rule.ts';
import type { Gateway } from '../api/networking/gateway.ts';
import type { ServiceEntry } from '../api/networking/service-entry.ts';
import type { ClientTLSSettings, Destination, TrafficPolicy } from '../api/networking/shared.ts';
import type { Sidecar } from '../api/networking/sidecar.ts';
import type { VirtualService } from '../api/networking/virtual-service.ts';
import type { WorkloadEntry } from '../api/networking/workload-entry.ts';
import type { WorkloadGroup } from '../api/networking/workload-group.ts';
import type { ConfigResource } from '../api/resource.ts';
import type { AuthorizationPolicy } from '../api/security/authorization-policy.ts';
import type { PeerAuthentication } from '../api/security/peer-authentication.ts';
import type { RequestAuthentication } from '../api/security/request-authentication.ts';
import type { Telemetry } from '../api/telemetry/telemetry.ts';

export type {
  ClientTLSSettings,
  Destination,
  DestinationRule,
  Gateway,
  ServiceEntry,
  Sidecar,
  TrafficPolicy,
  VirtualService,
  WorkloadEntry,
  WorkloadGroup,
};

/** A port of a service, from a ServiceEntry or a Kubernetes Service. */
export interface ServicePortInfo {
  readonly number: number;
  readonly protocol?: string;
  readonly name?: string;
}

/** The kinds that apply to workloads chosen by `selector.matchLabels` (or by targetRefs). */
export type SelectorPolicy = AuthorizationPolicy | PeerAuthentication | RequestAuthentication | Telemetry;

/** Whether a policy names its targets by reference (targetRef/targetRefs) instead of a selector. */
export function targetsByReference(p: SelectorPolicy): boolean {
  return (
    ('targetRef' in p && p.targetRef !== undefined) || ('targetRefs' in p && (p.targetRefs?.length ?? 0) > 0)
  );
}

/** The spec of a resource as the model of its kind (the caller knows the kind). */
export function spec<T>(r: ConfigResource): T {
  return (r.spec ?? {}) as T;
}
