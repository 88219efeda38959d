/**
 * Gateway (networking.istio.io v1, v1beta1, v1alpha3): a load balancer at the edge of the mesh.
 * One model for all three versions (they share Istio's networking.v1alpha3 proto). Semantic
 * rules are in validate-gateway.ts.
 */
import { type Infer, t } from '../schema/dsl.ts';
import { GROUP_NETWORKING, NETWORKING_VERSIONS } from '../schema/groups.ts';
import { defineKind } from '../schema/kind.ts';
import { validateGateway, validateServerTlsSettings } from './validate-gateway.ts';

export { validateGateway, validateServerTlsSettings };

/** istio.networking.v1alpha3.Port: a gateway server's listening port. */
export const gatewayPort = t.object('Port', {
  number: t.uint32().required(),
  protocol: t.string().required(),
  name: t.string().required(),
  /** Istio rejects it on Gateways; accepted by the schema so the rule can say why. */
  targetPort: t.uint32(),
});
export type GatewayPort = Infer<typeof gatewayPort>;

export const TLS_MODES = [
  'PASSTHROUGH',
  'SIMPLE',
  'MUTUAL',
  'AUTO_PASSTHROUGH',
  'ISTIO_MUTUAL',
  'OPTIONAL_MUTUAL',
] as const;
export type ServerTlsMode = (typeof TLS_MODES)[number];
export const TLS_PROTOCOL_VERSIONS = ['TLS_AUTO', 'TLSV1_0', 'TLSV1_1', 'TLSV1_2', 'TLSV1_3'] as const;

/** One certificate of `tlsCertificates` (for example an RSA and an ECDSA one). */
export const tlsCertificate = t.object('ServerTLSSettings.TLSCertificate', {
  serverCertificate: t.string(),
  privateKey: t.string(),
  caCertificates: t.string(),
});

/**
 * istio.networking.v1alpha3.ServerTLSSettings, shared with Sidecar ingress listeners (which
 * restrict it further).
 */
export const serverTlsSettings = t.object('ServerTLSSettings', {
  httpsRedirect: t.bool(),
  mode: t.enum(TLS_MODES),
  serverCertificate: t.string(),
  privateKey: t.string(),
  caCertificates: t.string(),
  caCertCredentialName: t.string(),
  caCrl: t.string(),
  credentialName: t.string(),
  credentialNames: t.array(t.string()),
  tlsCertificates: t.array(tlsCertificate),
  subjectAltNames: t.array(t.string()),
  verifyCertificateSpki: t.array(t.string()),
  verifyCertificateHash: t.array(t.string()),
  minProtocolVersion: t.enum(TLS_PROTOCOL_VERSIONS),
  maxProtocolVersion: t.enum(TLS_PROTOCOL_VERSIONS),
  cipherSuites: t.array(t.string()),
});
export type ServerTlsSettings = Infer<typeof serverTlsSettings>;

/** istio.networking.v1alpha3.Server */
export const gatewayServer = t.object('Server', {
  port: gatewayPort.required(),
  /** An IP, or `unix:///path` / `unix://@abstract` (then port.number is 0). */
  bind: t.string(),
  /** `namespace/dnsName` or `dnsName` (any namespace). */
  hosts: t.array(t.string()).required(),
  tls: serverTlsSettings,
  /** Not implemented by Istio for gateways; accepted with a warning. */
  defaultEndpoint: t.string(),
  name: t.string(),
});
export type GatewayServer = Infer<typeof gatewayServer>;

export const gatewaySpec = t.object('Gateway', {
  servers: t.array(gatewayServer),
  /** Labels of the gateway workloads (pods/VMs) this configuration applies to. */
  selector: t.map(t.string()),
});
export type Gateway = Infer<typeof gatewaySpec>;

export const gatewayKind = defineKind({
  kind: 'Gateway',
  group: GROUP_NETWORKING,
  versions: NETWORKING_VERSIONS,
  plural: 'gateways',
  spec: gatewaySpec,
  validate: validateGateway,
});
