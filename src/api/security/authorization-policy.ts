/**
 * AuthorizationPolicy (security.istio.io v1, v1beta1): access control on workloads. Schema
 * here; Istio's webhook rules (action/provider, empty rules, condition keys, IPs, ports, path
 * templates) are in validate-authorization-policy.ts.
 *
 * An empty spec is valid: with the default ALLOW action and no rules it denies everything.
 */

import { policyTargetReference, workloadSelector } from '../common/types.ts';
import { type Infer, t } from '../schema/dsl.ts';
import { GROUP_SECURITY, SECURITY_VERSIONS } from '../schema/groups.ts';
import { defineKind } from '../schema/kind.ts';
import { validateAuthorizationPolicy } from './validate-authorization-policy.ts';

const strings = () => t.array(t.string());

/** Source: who sends the request. Every field has a negated `not*` twin. */
export const source = t.object('Source', {
  principals: strings(),
  notPrincipals: strings(),
  requestPrincipals: strings(),
  notRequestPrincipals: strings(),
  namespaces: strings(),
  notNamespaces: strings(),
  serviceAccounts: strings(),
  notServiceAccounts: strings(),
  ipBlocks: strings(),
  notIpBlocks: strings(),
  remoteIpBlocks: strings(),
  notRemoteIpBlocks: strings(),
});
export type Source = Infer<typeof source>;

/** Operation: what the request does. Ports are strings in Istio's API ("8080"). */
export const operation = t.object('Operation', {
  hosts: strings(),
  notHosts: strings(),
  ports: strings(),
  notPorts: strings(),
  methods: strings(),
  notMethods: strings(),
  paths: strings(),
  notPaths: strings(),
});
export type Operation = Infer<typeof operation>;

export const condition = t.object('Condition', {
  key: t.string().required(),
  values: strings(),
  notValues: strings(),
});
export type Condition = Infer<typeof condition>;

export const rule = t.object('Rule', {
  from: t.array(t.object('Rule.From', { source })),
  to: t.array(t.object('Rule.To', { operation })),
  when: t.array(condition),
});
export type Rule = Infer<typeof rule>;

export const AUTHZ_ACTIONS = ['ALLOW', 'DENY', 'AUDIT', 'CUSTOM'] as const;
export type AuthzAction = (typeof AUTHZ_ACTIONS)[number];

export const authorizationPolicySpec = t.object('AuthorizationPolicy', {
  selector: workloadSelector,
  targetRef: policyTargetReference,
  targetRefs: t.array(policyTargetReference),
  rules: t.array(rule),
  /** Default ALLOW. */
  action: t.enum(AUTHZ_ACTIONS),
  /** Only with action CUSTOM: the extension provider (MeshConfig.extensionProviders) that decides. */
  provider: t.object('AuthorizationPolicy.ExtensionProvider', { name: t.string() }),
});
export type AuthorizationPolicy = Infer<typeof authorizationPolicySpec>;

export function authorizationAction(spec: AuthorizationPolicy): AuthzAction {
  return spec.action ?? 'ALLOW';
}

export const authorizationPolicyKind = defineKind({
  kind: 'AuthorizationPolicy',
  group: GROUP_SECURITY,
  versions: SECURITY_VERSIONS,
  plural: 'authorizationpolicies',
  spec: authorizationPolicySpec,
  validate: validateAuthorizationPolicy,
});
