/**
 * Gateway (networking.istio.io): schema and semantic validation.
 * STUB: filled in by the API-model work.
 */

import { type Infer, t } from '../schema/dsl.ts';
import { GROUP_NETWORKING, NETWORKING_VERSIONS } from '../schema/groups.ts';
import type { SemanticContext } from '../schema/kind.ts';
import { defineKind } from '../schema/kind.ts';

export const gatewaySpec = t.object('Gateway', {});
export type Gateway = Infer<typeof gatewaySpec>;

export function validateGateway(_spec: Gateway, _ctx: SemanticContext): void {}

export const gatewayKind = defineKind({
  kind: 'Gateway',
  group: GROUP_NETWORKING,
  versions: NETWORKING_VERSIONS,
  plural: 'gateways',
  spec: gatewaySpec,
  validate: validateGateway,
});
