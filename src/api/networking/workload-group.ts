/**
 * WorkloadGroup (networking.istio.io): schema and semantic validation.
 * STUB: filled in by the API-model work.
 */

import { type Infer, t } from '../schema/dsl.ts';
import { GROUP_NETWORKING, NETWORKING_VERSIONS } from '../schema/groups.ts';
import type { SemanticContext } from '../schema/kind.ts';
import { defineKind } from '../schema/kind.ts';

export const workloadGroupSpec = t.object('WorkloadGroup', {});
export type WorkloadGroup = Infer<typeof workloadGroupSpec>;

export function validateWorkloadGroup(_spec: WorkloadGroup, _ctx: SemanticContext): void {}

export const workloadGroupKind = defineKind({
  kind: 'WorkloadGroup',
  group: GROUP_NETWORKING,
  versions: NETWORKING_VERSIONS,
  plural: 'workloadgroups',
  spec: workloadGroupSpec,
  validate: validateWorkloadGroup,
});
