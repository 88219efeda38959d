/**
 * Where a policy applies: the `selector` / `targetRef` / `targetRefs` trio shared by
 * PeerAuthentication, AuthorizationPolicy, RequestAuthentication and Telemetry, with the
 * checks Istio's validating webhook and CRD rules make on it. Also the `istio.io/dry-run`
 * annotation, which only AuthorizationPolicy may carry.
 */
import type { PolicyTargetReference, WorkloadSelector } from '../common/types.ts';
import { validateSelectorLabels } from '../common/validators.ts';
import type { SemanticContext } from '../schema/kind.ts';
import { type FieldPath, type Issues, show } from '../validation.ts';

const MAX_TARGET_REFS = 16;
const TARGET_KIND = /^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$/;
const TARGET_GROUP = /^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Kinds a policy may target, as Istio allows them ("" and "core" are the same group). */
const TARGETABLE: readonly { group: string; kind: string }[] = [
  { group: 'core', kind: 'Service' },
  { group: 'networking.istio.io', kind: 'ServiceEntry' },
  { group: 'gateway.networking.k8s.io', kind: 'Gateway' },
  { group: 'gateway.networking.k8s.io', kind: 'GatewayClass' },
];

export const DRY_RUN_ANNOTATION = 'istio.io/dry-run';

/** istio.type.v1beta1.WorkloadSelector: the rules every kind shares (common/validators.ts). */
export function validateWorkloadSelector(
  selector: WorkloadSelector | undefined,
  path: FieldPath,
  issues: Issues,
): void {
  if (selector !== undefined) validateSelectorLabels(selector.matchLabels, path, issues);
}

/** `namespace` is the policy's own, where every target is (a target may not name a namespace). */
export function validatePolicyTargetReference(
  ref: PolicyTargetReference,
  namespace: string,
  path: FieldPath,
  issues: Issues,
): void {
  const group = ref.group ?? '';
  if (ref.name === '') issues.error([...path, 'name'], 'name must not be empty');
  else if (ref.name.length > 253)
    issues.error([...path, 'name'], `name ${show(ref.name)} is longer than 253 characters`);
  if (ref.kind === '' || ref.kind.length > 63 || !TARGET_KIND.test(ref.kind)) {
    issues.error(
      [...path, 'kind'],
      `${show(ref.kind)} is not a valid kind: letters, digits and '-', starting with a letter`,
    );
    return;
  }
  if (group.length > 253 || !TARGET_GROUP.test(group)) {
    issues.error(
      [...path, 'group'],
      `${show(group)} is not a valid API group (a DNS subdomain, or "" for the core group)`,
    );
    return;
  }
  // Istio refuses any namespace here, even the policy's own: the target is always local.
  if (ref.namespace !== undefined && ref.namespace !== '') {
    issues.error(
      [...path, 'namespace'],
      `${show(ref.namespace)}: cross-namespace targets are not supported; leave namespace unset (the target is always in the policy's namespace, ${show(namespace)})`,
    );
  }
  const canonical = group === '' ? 'core' : group;
  if (!TARGETABLE.some((k) => k.group === canonical && k.kind === ref.kind)) {
    issues.error(
      path,
      `a policy cannot target ${show(`${group}/${ref.kind}`)}; supported targets are core/Service, networking.istio.io/ServiceEntry, gateway.networking.k8s.io/Gateway and gateway.networking.k8s.io/GatewayClass`,
    );
  }
}

interface Scoped {
  readonly selector?: WorkloadSelector;
  readonly targetRef?: PolicyTargetReference;
  readonly targetRefs?: readonly PolicyTargetReference[];
}

/** selector, targetRef and targetRefs: at most one of them, each valid. */
export function validatePolicyScope(spec: Scoped, ctx: SemanticContext): void {
  const { issues, path } = ctx;
  const namespace = ctx.meta.namespace;
  const set: string[] = [];
  if (spec.selector !== undefined) set.push('selector');
  if (spec.targetRef !== undefined) set.push('targetRef');
  if (spec.targetRefs !== undefined && spec.targetRefs.length > 0) set.push('targetRefs');
  if (set.length > 1) {
    issues.error(
      [...path, set[1]],
      `only one of selector, targetRef or targetRefs may be set (found ${set.slice(0, -1).join(', ')} and ${set[set.length - 1]})`,
    );
  }
  validateWorkloadSelector(spec.selector, [...path, 'selector'], issues);
  if (spec.targetRef)
    validatePolicyTargetReference(spec.targetRef, namespace, [...path, 'targetRef'], issues);
  const refs = spec.targetRefs ?? [];
  if (refs.length > MAX_TARGET_REFS) {
    issues.error(
      [...path, 'targetRefs'],
      `at most ${MAX_TARGET_REFS} targetRefs may be listed (found ${refs.length})`,
    );
  }
  refs.forEach((ref, i) => {
    validatePolicyTargetReference(ref, namespace, [...path, 'targetRefs', i], issues);
  });
}

/** Kinds other than AuthorizationPolicy must not carry `istio.io/dry-run` (Istio rejects it). */
export function rejectDryRunAnnotation(ctx: SemanticContext, kind: string): void {
  if (Object.hasOwn(ctx.meta.annotations, DRY_RUN_ANNOTATION)) {
    ctx.issues.error(
      ['metadata', 'annotations', DRY_RUN_ANNOTATION],
      `the ${DRY_RUN_ANNOTATION} annotation is only supported on AuthorizationPolicy, not ${kind}; remove it`,
    );
  }
}

/** Go's strconv.ParseBool, which Istio uses for annotation values. */
export function parseGoBool(value: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(value)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(value)) return false;
  return undefined;
}
