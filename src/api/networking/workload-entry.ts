/**
 * WorkloadEntry (networking.istio.io v1, v1beta1, v1alpha3): one non-Kubernetes workload (a VM,
 * a bare-metal host) with its address, ports, labels and identity. The same message is a
 * ServiceEntry endpoint and a WorkloadGroup template. Rules: validate-workload-entry.ts.
 */
import { type Infer, t } from '../schema/dsl.ts';
import { GROUP_NETWORKING, NETWORKING_VERSIONS } from '../schema/groups.ts';
import { defineKind } from '../schema/kind.ts';
import {
  validateWorkloadEntry,
  validateWorkloadEntryFields,
  type WorkloadEntryRules,
} from './validate-workload-entry.ts';

export { validateWorkloadEntry, validateWorkloadEntryFields, type WorkloadEntryRules };

/** istio.networking.v1alpha3.WorkloadEntry */
export const workloadEntrySpec = t.object('WorkloadEntry', {
  /** IP address, host name (DNS resolution), or `unix:///path` / `unix://@abstract`; no port. */
  address: t.string(),
  /** Service port name -> port number on this workload. */
  ports: t.map(t.uint32()),
  labels: t.map(t.string()),
  /** Network (L3 domain) of the workload, for multi-network meshes. */
  network: t.string(),
  /** `region/zone/subzone`. */
  locality: t.string(),
  /** Load-balancing weight; 0 means the default (1). */
  weight: t.uint32(),
  /** Service account of the workload's proxy, for its SPIFFE identity. */
  serviceAccount: t.string(),
});
export type WorkloadEntry = Infer<typeof workloadEntrySpec>;

export const workloadEntryKind = defineKind({
  kind: 'WorkloadEntry',
  group: GROUP_NETWORKING,
  versions: NETWORKING_VERSIONS,
  plural: 'workloadentries',
  spec: workloadEntrySpec,
  validate: validateWorkloadEntry,
});
