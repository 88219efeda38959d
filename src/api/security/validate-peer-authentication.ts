/**
 * PeerAuthentication semantics, as Istio's webhook and CRD rules check them: port-level mTLS
 * only on a workload policy (a selector with labels), with at least one valid port.
 */
import type { SemanticContext } from '../schema/kind.ts';
import { show } from '../validation.ts';
import type { PeerAuthentication } from './peer-authentication.ts';
import { rejectDryRunAnnotation, validateWorkloadSelector } from './policy-scope.ts';

export function validatePeerAuthentication(spec: PeerAuthentication, ctx: SemanticContext): void {
  const { issues, path } = ctx;
  rejectDryRunAnnotation(ctx, 'PeerAuthentication');
  validateWorkloadSelector(spec.selector, [...path, 'selector'], issues);
  if (spec.portLevelMtls === undefined) return;
  const ports = Object.keys(spec.portLevelMtls);
  if (ports.length === 0) {
    issues.error([...path, 'portLevelMtls'], 'portLevelMtls, when set, must list at least one port');
    return;
  }
  const hasLabels = Object.keys(spec.selector?.matchLabels ?? {}).length > 0;
  if (!hasLabels) {
    issues.error(
      [...path, 'portLevelMtls'],
      'portLevelMtls requires a selector with matchLabels: a namespace-wide or mesh-wide PeerAuthentication cannot set port-level mTLS',
    );
  }
  for (const key of ports) {
    const port = /^\d+$/.test(key) ? Number(key) : Number.NaN;
    if (!(port >= 1 && port <= 65535)) {
      issues.error([...path, 'portLevelMtls', key], `${show(key)} is not a valid port (1-65535)`);
    }
  }
}
