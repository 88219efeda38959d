/**
 * PeerAuthentication (security.istio.io v1, v1beta1): which mutual-TLS mode a workload's
 * inbound side accepts, for the whole workload and per port. Schema here; the webhook rules
 * are in validate-peer-authentication.ts.
 */

import { workloadSelector } from '../common/types.ts';
import { type Infer, t } from '../schema/dsl.ts';
import { GROUP_SECURITY, SECURITY_VERSIONS } from '../schema/groups.ts';
import { defineKind } from '../schema/kind.ts';
import { validatePeerAuthentication } from './validate-peer-authentication.ts';

export const MTLS_MODES = ['UNSET', 'DISABLE', 'PERMISSIVE', 'STRICT'] as const;
export type MtlsMode = (typeof MTLS_MODES)[number];

/** PeerAuthentication.MutualTLS */
export const mutualTls = t.object('PeerAuthentication.MutualTLS', {
  /** UNSET inherits from the parent scope (namespace, then mesh; PERMISSIVE at the top). */
  mode: t.enum(MTLS_MODES),
});
export type MutualTls = Infer<typeof mutualTls>;

export const peerAuthenticationSpec = t.object('PeerAuthentication', {
  selector: workloadSelector,
  mtls: mutualTls,
  /** Keyed by the workload's (container) port number, written as a string in YAML/JSON. */
  portLevelMtls: t.map(mutualTls),
});
export type PeerAuthentication = Infer<typeof peerAuthenticationSpec>;

/** Port-level modes with numeric keys; only call on a validated spec. */
export function portLevelModes(spec: PeerAuthentication): Map<number, MtlsMode> {
  const out = new Map<number, MtlsMode>();
  for (const [port, mtls] of Object.entries(spec.portLevelMtls ?? {}))
    out.set(Number(port), mtls.mode ?? 'UNSET');
  return out;
}

export const peerAuthenticationKind = defineKind({
  kind: 'PeerAuthentication',
  group: GROUP_SECURITY,
  versions: SECURITY_VERSIONS,
  plural: 'peerauthentications',
  spec: peerAuthenticationSpec,
  validate: validatePeerAuthentication,
});
