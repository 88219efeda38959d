/**
 * PeerAuthentication (security.istio.io): schema and semantic validation.
 * STUB: filled in by the API-model work.
 */

import { type Infer, t } from '../schema/dsl.ts';
import { GROUP_SECURITY, SECURITY_VERSIONS } from '../schema/groups.ts';
import type { SemanticContext } from '../schema/kind.ts';
import { defineKind } from '../schema/kind.ts';

export const peerAuthenticationSpec = t.object('PeerAuthentication', {});
export type PeerAuthentication = Infer<typeof peerAuthenticationSpec>;

export function validatePeerAuthentication(_spec: PeerAuthentication, _ctx: SemanticContext): void {}

export const peerAuthenticationKind = defineKind({
  kind: 'PeerAuthentication',
  group: GROUP_SECURITY,
  versions: SECURITY_VERSIONS,
  plural: 'peerauthentications',
  spec: peerAuthenticationSpec,
  validate: validatePeerAuthentication,
});
