/**
 * RequestAuthentication (security.istio.io v1, v1beta1): which JWTs a workload accepts and
 * where it finds them. Schema here; the webhook rules are in validate-request-authentication.ts.
 */

import { policyTargetReference, workloadSelector } from '../common/types.ts';
import { type Infer, t } from '../schema/dsl.ts';
import { GROUP_SECURITY, SECURITY_VERSIONS } from '../schema/groups.ts';
import { defineKind } from '../schema/kind.ts';
import { validateRequestAuthentication } from './validate-request-authentication.ts';

export const jwtHeader = t.object('JWTHeader', {
  name: t.string().required(),
  /** Stripped before the token is decoded, e.g. "Bearer ". */
  prefix: t.string(),
});

export const claimToHeader = t.object('ClaimToHeader', {
  header: t.string().required(),
  claim: t.string().required(),
});

export const jwtRule = t.object(
  'JWTRule',
  {
    issuer: t.string(),
    audiences: t.array(t.string()),
    /** URL of the key set; `jwks_uri` is the same field under its proto name. */
    jwksUri: t.string(),
    jwks_uri: t.string(),
    /** The key set inline, as JSON text. */
    jwks: t.string(),
    fromHeaders: t.array(jwtHeader),
    fromParams: t.array(t.string()),
    fromCookies: t.array(t.string()),
    outputPayloadToHeader: t.string(),
    forwardOriginalToken: t.bool(),
    outputClaimToHeaders: t.array(claimToHeader),
    spaceDelimitedClaims: t.array(t.string()),
    /** How long fetching jwksUri may take. */
    timeout: t.duration(),
  },
  { oneOf: [['jwksUri', 'jwks_uri', 'jwks']] },
);
export type JwtRule = Infer<typeof jwtRule>;

export const requestAuthenticationSpec = t.object('RequestAuthentication', {
  selector: workloadSelector,
  targetRef: policyTargetReference,
  targetRefs: t.array(policyTargetReference),
  jwtRules: t.array(jwtRule),
});
export type RequestAuthentication = Infer<typeof requestAuthenticationSpec>;

/** The key-set URL whichever spelling the author used. */
export function jwksUriOf(rule: JwtRule): string | undefined {
  return rule.jwksUri ?? rule.jwks_uri;
}

export const requestAuthenticationKind = defineKind({
  kind: 'RequestAuthentication',
  group: GROUP_SECURITY,
  versions: SECURITY_VERSIONS,
  plural: 'requestauthentications',
  spec: requestAuthenticationSpec,
  validate: validateRequestAuthentication,
});
