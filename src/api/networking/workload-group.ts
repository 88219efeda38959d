/**
 * WorkloadGroup (networking.istio.io v1, v1beta1, v1alpha3): the template from which VMs that
 * join the mesh get their WorkloadEntry (metadata, ports, identity) and their readiness probe.
 * Rules: validate-workload-group.ts.
 */
import { type Infer, t } from '../schema/dsl.ts';
import { GROUP_NETWORKING, NETWORKING_VERSIONS } from '../schema/groups.ts';
import { defineKind } from '../schema/kind.ts';
import { validateWorkloadGroup } from './validate-workload-group.ts';
import { workloadEntrySpec } from './workload-entry.ts';

export { validateWorkloadGroup };

/** istio.networking.v1alpha3.HTTPHealthCheckConfig */
export const httpHealthCheck = t.object('HTTPHealthCheckConfig', {
  path: t.string(),
  port: t.uint32().required(),
  /** Defaults to the workload's IP. */
  host: t.string(),
  /** HTTP (the default) or HTTPS. */
  scheme: t.string(),
  httpHeaders: t.array(t.object('HTTPHeader', { name: t.string(), value: t.string() })),
});

/** istio.networking.v1alpha3.TCPHealthCheckConfig */
export const tcpHealthCheck = t.object('TCPHealthCheckConfig', {
  host: t.string(),
  port: t.uint32().required(),
});

/** istio.networking.v1alpha3.ExecHealthCheckConfig */
export const execHealthCheck = t.object('ExecHealthCheckConfig', {
  command: t.array(t.string()).required(),
});

/** istio.networking.v1alpha3.GrpcHealthCheckConfig (gRPC health checking protocol). */
export const grpcHealthCheck = t.object('GrpcHealthCheckConfig', {
  port: t.uint32(),
  /** Service name for the health check request; empty checks the server as a whole. */
  service: t.string(),
});

export const PROBE_METHODS = ['httpGet', 'tcpSocket', 'exec', 'grpc'] as const;

/** istio.networking.v1alpha3.ReadinessProbe: exactly one method, Kubernetes-style timings. */
export const readinessProbe = t.object(
  'ReadinessProbe',
  {
    initialDelaySeconds: t.int32(),
    timeoutSeconds: t.int32(),
    periodSeconds: t.int32(),
    successThreshold: t.int32(),
    failureThreshold: t.int32(),
    httpGet: httpHealthCheck,
    tcpSocket: tcpHealthCheck,
    exec: execHealthCheck,
    grpc: grpcHealthCheck,
  },
  { oneOf: [PROBE_METHODS] },
);
export type ReadinessProbe = Infer<typeof readinessProbe>;

export const workloadGroupSpec = t.object('WorkloadGroup', {
  /** Labels and annotations every WorkloadEntry of the group gets. */
  metadata: t.object('WorkloadGroup.ObjectMeta', {
    labels: t.map(t.string()),
    annotations: t.map(t.string()),
  }),
  template: workloadEntrySpec.required(),
  probe: readinessProbe,
});
export type WorkloadGroup = Infer<typeof workloadGroupSpec>;

export const workloadGroupKind = defineKind({
  kind: 'WorkloadGroup',
  group: GROUP_NETWORKING,
  versions: NETWORKING_VERSIONS,
  plural: 'workloadgroups',
  spec: workloadGroupSpec,
  validate: validateWorkloadGroup,
});
