/**
 * ServiceEntry (networking.istio.io v1, v1beta1, v1alpha3): a service added to the mesh's
 * registry by hand (external APIs, VMs, anything outside Kubernetes). Rules:
 * validate-service-entry.ts.
 */
import { type Infer, t } from '../schema/dsl.ts';
import { GROUP_NETWORKING, NETWORKING_VERSIONS } from '../schema/groups.ts';
import { defineKind } from '../schema/kind.ts';
import { validateServiceEntry } from './validate-service-entry.ts';
import { workloadEntrySpec } from './workload-entry.ts';

export { validateServiceEntry };

/** istio.networking.v1alpha3.ServicePort */
export const servicePort = t.object('ServicePort', {
  number: t.uint32().required(),
  /** HTTP, HTTPS, HTTP2, GRPC, TCP, TLS, MONGO...; unset means the proxy detects it. */
  protocol: t.string(),
  name: t.string().required(),
  /** Port on the endpoints; defaults to `number`. */
  targetPort: t.uint32(),
});
export type ServicePort = Infer<typeof servicePort>;

/** istio.networking.v1alpha3.WorkloadSelector: selects pods and WorkloadEntries by `labels`. */
export const networkingWorkloadSelector = t.object('WorkloadSelector', {
  labels: t.map(t.string()),
});
export type NetworkingWorkloadSelector = Infer<typeof networkingWorkloadSelector>;

export const SERVICE_ENTRY_LOCATIONS = ['MESH_EXTERNAL', 'MESH_INTERNAL'] as const;
export type ServiceEntryLocation = (typeof SERVICE_ENTRY_LOCATIONS)[number];
export const SERVICE_ENTRY_RESOLUTIONS = ['NONE', 'STATIC', 'DNS', 'DNS_ROUND_ROBIN', 'DYNAMIC_DNS'] as const;
export type ServiceEntryResolution = (typeof SERVICE_ENTRY_RESOLUTIONS)[number];

export const serviceEntrySpec = t.object('ServiceEntry', {
  hosts: t.array(t.string()).required(),
  /** Virtual IPs or CIDR blocks of the service. */
  addresses: t.array(t.string()),
  ports: t.array(servicePort),
  /** Unset means MESH_EXTERNAL (the proto's zero value). */
  location: t.enum(SERVICE_ENTRY_LOCATIONS),
  /** Unset means NONE (the proto's zero value). */
  resolution: t.enum(SERVICE_ENTRY_RESOLUTIONS),
  endpoints: t.array(workloadEntrySpec),
  workloadSelector: networkingWorkloadSelector,
  exportTo: t.array(t.string()),
  subjectAltNames: t.array(t.string()),
});
export type ServiceEntry = Infer<typeof serviceEntrySpec>;

/** The resolution Istio applies when the field is unset. */
export function serviceEntryResolution(se: ServiceEntry): ServiceEntryResolution {
  return se.resolution ?? 'NONE';
}

/** The location Istio applies when the field is unset. */
export function serviceEntryLocation(se: ServiceEntry): ServiceEntryLocation {
  return se.location ?? 'MESH_EXTERNAL';
}

export const serviceEntryKind = defineKind({
  kind: 'ServiceEntry',
  group: GROUP_NETWORKING,
  versions: NETWORKING_VERSIONS,
  plural: 'serviceentries',
  spec: serviceEntrySpec,
  validate: validateServiceEntry,
});
