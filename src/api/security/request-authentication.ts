/**
 * RequestAuthentication (security.istio.io): schema and semantic validation.
 * STUB: filled in by the API-model work.
 */

import { type Infer, t } from '../schema/dsl.ts';
import { GROUP_SECURITY, SECURITY_VERSIONS } from '../schema/groups.ts';
import type { SemanticContext } from '../schema/kind.ts';
import { defineKind } from '../schema/kind.ts';

export const requestAuthenticationSpec = t.object('RequestAuthentication', {});
export type RequestAuthentication = Infer<typeof requestAuthenticationSpec>;

export function validateRequestAuthentication(_spec: RequestAuthentication, _ctx: SemanticContext): void {}

export const requestAuthenticationKind = defineKind({
  kind: 'RequestAuthentication',
  group: GROUP_SECURITY,
  versions: SECURITY_VERSIONS,
  plural: 'requestauthentications',
  spec: requestAuthenticationSpec,
  validate: validateRequestAuthentication,
});
