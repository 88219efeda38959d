/**
 * DestinationRule (networking.istio.io): schema and semantic validation.
 * STUB: filled in by the API-model work.
 */

import { type Infer, t } from '../schema/dsl.ts';
import { GROUP_NETWORKING, NETWORKING_VERSIONS } from '../schema/groups.ts';
import type { SemanticContext } from '../schema/kind.ts';
import { defineKind } from '../schema/kind.ts';

export const destinationRuleSpec = t.object('DestinationRule', {});
export type DestinationRule = Infer<typeof destinationRuleSpec>;

export function validateDestinationRule(_spec: DestinationRule, _ctx: SemanticContext): void {}

export const destinationRuleKind = defineKind({
  kind: 'DestinationRule',
  group: GROUP_NETWORKING,
  versions: NETWORKING_VERSIONS,
  plural: 'destinationrules',
  spec: destinationRuleSpec,
  validate: validateDestinationRule,
});
