/**
 * VirtualService (networking.istio.io): schema and semantic validation.
 * STUB: filled in by the API-model work.
 */

import { type Infer, t } from '../schema/dsl.ts';
import { GROUP_NETWORKING, NETWORKING_VERSIONS } from '../schema/groups.ts';
import type { SemanticContext } from '../schema/kind.ts';
import { defineKind } from '../schema/kind.ts';

export const virtualServiceSpec = t.object('VirtualService', {});
export type VirtualService = Infer<typeof virtualServiceSpec>;

export function validateVirtualService(_spec: VirtualService, _ctx: SemanticContext): void {}

export const virtualServiceKind = defineKind({
  kind: 'VirtualService',
  group: GROUP_NETWORKING,
  versions: NETWORKING_VERSIONS,
  plural: 'virtualservices',
  spec: virtualServiceSpec,
  validate: validateVirtualService,
});
