/**
 * Sidecar (networking.istio.io): schema and semantic validation.
 * STUB: filled in by the API-model work.
 */

import { type Infer, t } from '../schema/dsl.ts';
import { GROUP_NETWORKING, NETWORKING_VERSIONS } from '../schema/groups.ts';
import type { SemanticContext } from '../schema/kind.ts';
import { defineKind } from '../schema/kind.ts';

export const sidecarSpec = t.object('Sidecar', {});
export type Sidecar = Infer<typeof sidecarSpec>;

export function validateSidecar(_spec: Sidecar, _ctx: SemanticContext): void {}

export const sidecarKind = defineKind({
  kind: 'Sidecar',
  group: GROUP_NETWORKING,
  versions: NETWORKING_VERSIONS,
  plural: 'sidecars',
  spec: sidecarSpec,
  validate: validateSidecar,
});
