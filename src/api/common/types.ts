/** Message types shared across Istio's APIs (istio.type.v1beta1, common networking types). */
import { type Infer, t } from '../schema/dsl.ts';

/** istio.type.v1beta1.WorkloadSelector */
export const workloadSelector = t.object('WorkloadSelector', {
  matchLabels: t.map(t.string()),
});
export type WorkloadSelector = Infer<typeof workloadSelector>;

/** istio.type.v1beta1.PolicyTargetReference (targetRef / targetRefs) */
export const policyTargetReference = t.object('PolicyTargetReference', {
  group: t.string(),
  kind: t.string().required(),
  name: t.string().required(),
  namespace: t.string(),
});
export type PolicyTargetReference = Infer<typeof policyTargetReference>;
