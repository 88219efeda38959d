/**
 * Sidecar (networking.istio.io v1, v1beta1, v1alpha3): what a workload's proxy listens on
 * (ingress), which services it can reach (egress), and its outbound policy. Rules:
 * validate-sidecar.ts.
 */
import { type Infer, t } from '../schema/dsl.ts';
import { GROUP_NETWORKING, NETWORKING_VERSIONS } from '../schema/groups.ts';
import { defineKind } from '../schema/kind.ts';
import { serverTlsSettings } from './gateway.ts';
import { networkingWorkloadSelector } from './service-entry.ts';
import { connectionPoolSettings, destination } from './shared.ts';
import { validateSidecar } from './validate-sidecar.ts';

export { validateSidecar };

/** istio.networking.v1alpha3.SidecarPort; number 0 marks a unix domain socket egress listener. */
export const sidecarPort = t.object('SidecarPort', {
  number: t.uint32(),
  protocol: t.string(),
  name: t.string(),
  /** Istio rejects it on Sidecars; accepted by the schema so the rule can say why. */
  targetPort: t.uint32(),
});
export type SidecarPort = Infer<typeof sidecarPort>;

export const CAPTURE_MODES = ['DEFAULT', 'IPTABLES', 'NONE'] as const;
export type CaptureMode = (typeof CAPTURE_MODES)[number];

/** istio.networking.v1alpha3.IstioIngressListener */
export const istioIngressListener = t.object('IstioIngressListener', {
  port: sidecarPort.required(),
  /** IP to bind; defaults to the workload's addresses. */
  bind: t.string(),
  captureMode: t.enum(CAPTURE_MODES),
  /** `127.0.0.1:PORT`, `0.0.0.0:PORT`, `[::1]:PORT`, `[::]:PORT` or `unix:///path`. */
  defaultEndpoint: t.string(),
  tls: serverTlsSettings,
  connectionPool: connectionPoolSettings,
});
export type IstioIngressListener = Infer<typeof istioIngressListener>;

/** istio.networking.v1alpha3.IstioEgressListener */
export const istioEgressListener = t.object('IstioEgressListener', {
  /** Unset: a catch-all listener for the ports of the imported hosts (must be last). */
  port: sidecarPort,
  /** IP, or `unix:///path` / `unix://@abstract` with port.number 0. */
  bind: t.string(),
  captureMode: t.enum(CAPTURE_MODES),
  /** `namespace/dnsName` entries; namespace may be `*`, `.` or `~`. */
  hosts: t.array(t.string()).required(),
});
export type IstioEgressListener = Infer<typeof istioEgressListener>;

export const OUTBOUND_TRAFFIC_POLICY_MODES = ['REGISTRY_ONLY', 'ALLOW_ANY'] as const;

/** istio.networking.v1alpha3.OutboundTrafficPolicy; unset mode means REGISTRY_ONLY here. */
export const outboundTrafficPolicy = t.object('OutboundTrafficPolicy', {
  mode: t.enum(OUTBOUND_TRAFFIC_POLICY_MODES),
  /** Where ALLOW_ANY sends traffic to unknown destinations, instead of passing it through. */
  egressProxy: destination,
});
export type OutboundTrafficPolicy = Infer<typeof outboundTrafficPolicy>;

export const sidecarSpec = t.object('Sidecar', {
  workloadSelector: networkingWorkloadSelector,
  ingress: t.array(istioIngressListener),
  egress: t.array(istioEgressListener),
  inboundConnectionPool: connectionPoolSettings,
  outboundTrafficPolicy,
});
export type Sidecar = Infer<typeof sidecarSpec>;

export const sidecarKind = defineKind({
  kind: 'Sidecar',
  group: GROUP_NETWORKING,
  versions: NETWORKING_VERSIONS,
  plural: 'sidecars',
  spec: sidecarSpec,
  validate: validateSidecar,
});
