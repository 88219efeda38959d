/**
 * ServiceEntry (networking.istio.io): schema and semantic validation.
 * STUB: filled in by the API-model work.
 */

import { type Infer, t } from '../schema/dsl.ts';
import { GROUP_NETWORKING, NETWORKING_VERSIONS } from '../schema/groups.ts';
import type { SemanticContext } from '../schema/kind.ts';
import { defineKind } from '../schema/kind.ts';

export const serviceEntrySpec = t.object('ServiceEntry', {});
export type ServiceEntry = Infer<typeof serviceEntrySpec>;

export function validateServiceEntry(_spec: ServiceEntry, _ctx: SemanticContext): void {}

export const serviceEntryKind = defineKind({
  kind: 'ServiceEntry',
  group: GROUP_NETWORKING,
  versions: NETWORKING_VERSIONS,
  plural: 'serviceentries',
  spec: serviceEntrySpec,
  validate: validateServiceEntry,
});
