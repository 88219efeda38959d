/**
 * THE table of Istio kinds Mizzen understands: group, versions, kind, plural, schema and
 * semantic validator (Istio's metadata.yaml counterpart). Everything that needs to know
 * "which kinds exist" reads this table, never its own list.
 */

import { destinationRuleKind } from '../networking/destination-rule.ts';
import { gatewayKind } from '../networking/gateway.ts';
import { serviceEntryKind } from '../networking/service-entry.ts';
import { sidecarKind } from '../networking/sidecar.ts';
import { virtualServiceKind } from '../networking/virtual-service.ts';
import { workloadEntryKind } from '../networking/workload-entry.ts';
import { workloadGroupKind } from '../networking/workload-group.ts';
import { authorizationPolicyKind } from '../security/authorization-policy.ts';
import { peerAuthenticationKind } from '../security/peer-authentication.ts';
import { requestAuthenticationKind } from '../security/request-authentication.ts';
import { telemetryKind } from '../telemetry/telemetry.ts';
import type { KindDefinition } from './kind.ts';

export const KINDS: readonly KindDefinition<never>[] = [
  virtualServiceKind,
  destinationRuleKind,
  gatewayKind,
  serviceEntryKind,
  workloadEntryKind,
  workloadGroupKind,
  sidecarKind,
  peerAuthenticationKind,
  authorizationPolicyKind,
  requestAuthenticationKind,
  telemetryKind,
] as unknown as readonly KindDefinition<never>[];

const byKind = new Map(KINDS.map((k) => [k.kind, k]));

export function kindDefinition(kind: string): KindDefinition<unknown> | undefined {
  return byKind.get(kind) as KindDefinition<unknown> | undefined;
}

/** Kind names as a union would be nicer, but the table is the source of truth at run time. */
export const KIND_NAMES: readonly string[] = KINDS.map((k) => k.kind);
