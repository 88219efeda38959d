/**
 * DestinationRule (networking.istio.io v1, v1beta1, v1alpha3): the schema of every field
 * Istio documents, and the kind's entry for the kinds table. One model for all versions;
 * semantic rules live in validate-destination-rule.ts.
 */

import { workloadSelector } from '../common/types.ts';
import { type Infer, t } from '../schema/dsl.ts';
import { GROUP_NETWORKING, NETWORKING_VERSIONS } from '../schema/groups.ts';
import { defineKind } from '../schema/kind.ts';
import { trafficPolicy } from './shared.ts';
import { validateDestinationRule } from './validate-destination-rule.ts';

/** istio.networking.v1.Subset */
export const subset = t.object('Subset', {
  name: t.string().required(),
  labels: t.map(t.string()),
  trafficPolicy,
});
export type Subset = Infer<typeof subset>;

/** istio.networking.v1.DestinationRule */
export const destinationRuleSpec = t.object('DestinationRule', {
  host: t.string().required(),
  trafficPolicy,
  subsets: t.array(subset),
  exportTo: t.array(t.string()),
  workloadSelector,
});
export type DestinationRule = Infer<typeof destinationRuleSpec>;

export const destinationRuleKind = defineKind({
  kind: 'DestinationRule',
  group: GROUP_NETWORKING,
  versions: NETWORKING_VERSIONS,
  plural: 'destinationrules',
  spec: destinationRuleSpec,
  validate: validateDestinationRule,
});
