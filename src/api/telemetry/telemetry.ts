/**
 * Telemetry (telemetry.istio.io): schema and semantic validation.
 * STUB: filled in by the API-model work.
 */

import { type Infer, t } from '../schema/dsl.ts';
import { GROUP_TELEMETRY, TELEMETRY_VERSIONS } from '../schema/groups.ts';
import type { SemanticContext } from '../schema/kind.ts';
import { defineKind } from '../schema/kind.ts';

export const telemetrySpec = t.object('Telemetry', {});
export type Telemetry = Infer<typeof telemetrySpec>;

export function validateTelemetry(_spec: Telemetry, _ctx: SemanticContext): void {}

export const telemetryKind = defineKind({
  kind: 'Telemetry',
  group: GROUP_TELEMETRY,
  versions: TELEMETRY_VERSIONS,
  plural: 'telemetries',
  spec: telemetrySpec,
  validate: validateTelemetry,
});
