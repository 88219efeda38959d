/**
 * WorkloadEntry (networking.istio.io): schema and semantic validation.
 * STUB: filled in by the API-model work.
 */

import { type Infer, t } from '../schema/dsl.ts';
import { GROUP_NETWORKING, NETWORKING_VERSIONS } from '../schema/groups.ts';
import type { SemanticContext } from '../schema/kind.ts';
import { defineKind } from '../schema/kind.ts';

export const workloadEntrySpec = t.object('WorkloadEntry', {});
export type WorkloadEntry = Infer<typeof workloadEntrySpec>;

export function validateWorkloadEntry(_spec: WorkloadEntry, _ctx: SemanticContext): void {}

export const workloadEntryKind = defineKind({
  kind: 'WorkloadEntry',
  group: GROUP_NETWORKING,
  versions: NETWORKING_VERSIONS,
  plural: 'workloadentries',
  spec: workloadEntrySpec,
  validate: validateWorkloadEntry,
});
