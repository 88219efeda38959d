/**
 * AuthorizationPolicy (security.istio.io): schema and semantic validation.
 * STUB: filled in by the API-model work.
 */

import { type Infer, t } from '../schema/dsl.ts';
import { GROUP_SECURITY, SECURITY_VERSIONS } from '../schema/groups.ts';
import type { SemanticContext } from '../schema/kind.ts';
import { defineKind } from '../schema/kind.ts';

export const authorizationPolicySpec = t.object('AuthorizationPolicy', {});
export type AuthorizationPolicy = Infer<typeof authorizationPolicySpec>;

export function validateAuthorizationPolicy(_spec: AuthorizationPolicy, _ctx: SemanticContext): void {}

export const authorizationPolicyKind = defineKind({
  kind: 'AuthorizationPolicy',
  group: GROUP_SECURITY,
  versions: SECURITY_VERSIONS,
  plural: 'authorizationpolicies',
  spec: authorizationPolicySpec,
  validate: validateAuthorizationPolicy,
});
