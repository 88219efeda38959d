/**
 * Well-known names of the control plane's output that are not derived from a service: the
 * catch-all clusters, SDS secret names and the bootstrap cluster SDS is fetched from — spelled
 * as Istio spells them, so dumps and tools read the same.
 */

/** Drops traffic to destinations the registry does not know (REGISTRY_ONLY). */
export const BLACK_HOLE_CLUSTER = 'BlackHoleCluster';
/** Forwards outbound traffic to the original destination (ALLOW_ANY). */
export const PASSTHROUGH_CLUSTER = 'PassthroughCluster';
/** Forwards inbound traffic to the original destination port on the workload. */
export const INBOUND_PASSTHROUGH_CLUSTER = 'InboundPassthroughCluster';
/** Route / virtual host names of the catch-all. */
export const BLACK_HOLE_ROUTE_NAME = 'block_all';
export const PASSTHROUGH_ROUTE_NAME = 'allow_any';

/** Source address of traffic the sidecar forwards to its own workload (Istio's InboundPassthroughBindIpv4). */
export const INBOUND_PASSTHROUGH_BIND_IPV4 = '127.0.0.6';
export const INBOUND_PASSTHROUGH_BIND_IPV6 = '::6';
export const LOCALHOST_IPV4 = '127.0.0.1';
export const LOCALHOST_IPV6 = '::1';

/** SDS secret: the workload's own certificate and key. */
export const SDS_DEFAULT_RESOURCE_NAME = 'default';
/** SDS secret: the mesh's root certificate(s). */
export const SDS_ROOT_RESOURCE_NAME = 'ROOTCA';
/** Cluster in the proxy's bootstrap that serves SDS (the agent). */
export const SDS_CLUSTER_NAME = 'sds-grpc';
/** Prefix of SDS names for certificate files: `file-cert:<cert>~<key>`. */
export const SDS_FILE_CERT_PREFIX = 'file-cert:';
/** Prefix of SDS names for CA files: `file-root:<ca>`. */
export const SDS_FILE_ROOT_PREFIX = 'file-root:';
/** Separator of certificate and key in `file-cert:` names. */
export const SDS_FILE_CERT_SEPARATOR = '~';
/** Prefix of SDS names for Kubernetes secrets (`credentialName`), served by the control plane. */
export const SDS_KUBERNETES_PREFIX = 'kubernetes://';
/** Suffix of the CA part of a credential (`<name>-cacert`). */
export const SDS_CA_CERT_SUFFIX = '-cacert';

/** `file-cert:/etc/certs/cert.pem~/etc/certs/key.pem` */
export function sdsFileCertName(certPath: string, keyPath: string): string {
  return `${SDS_FILE_CERT_PREFIX}${certPath}${SDS_FILE_CERT_SEPARATOR}${keyPath}`;
}

/** `file-root:/etc/certs/root.pem` */
export function sdsFileRootName(caPath: string): string {
  return `${SDS_FILE_ROOT_PREFIX}${caPath}`;
}

/** `kubernetes://<name>` for a `credentialName` (a `configmap://` or other scheme is kept as is). */
export function sdsCredentialName(credentialName: string): string {
  return credentialName.includes('://') ? credentialName : `${SDS_KUBERNETES_PREFIX}${credentialName}`;
}

/** ALPN a sidecar offers to another sidecar with Istio mTLS (Istio's ALPNInMeshWithMxc). */
export const ALPN_IN_MESH = ['istio-peer-exchange', 'istio'] as const;
/** The same for HTTP/2 upstreams (Istio's ALPNInMeshH2WithMxc). */
export const ALPN_IN_MESH_H2 = ['istio-peer-exchange', 'istio', 'h2'] as const;
/** ALPN for TLS origination to HTTP/2 upstreams outside the mesh. */
export const ALPN_H2 = ['h2'] as const;

/** Envoy extension names Istio uses for transport sockets. */
export const TLS_TRANSPORT_SOCKET_NAME = 'envoy.transport_sockets.tls';
export const RAW_BUFFER_TRANSPORT_SOCKET_NAME = 'envoy.transport_sockets.raw_buffer';
/** Key of the endpoint metadata that picks a transport socket match (auto mTLS). */
export const TRANSPORT_SOCKET_MATCH_KEY = 'envoy.transport_socket_match';
/** Metadata namespace Istio writes cluster and endpoint information under. */
export const ISTIO_METADATA_KEY = 'istio';
/** typed_extension_protocol_options key of HTTP upstream options. */
export const HTTP_PROTOCOL_OPTIONS_KEY = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';

/** Envoy's maximum for "unlimited" circuit breaker thresholds (Istio uses MaxUint32). */
export const MAX_UINT32 = 4_294_967_295;

/**
 * CA bundle used to verify servers when a DestinationRule originates TLS without naming a CA
 * (Istio verifies against the OS bundle; this is Debian's path).
 */
export const SYSTEM_CA_BUNDLE_PATH = '/etc/ssl/certs/ca-certificates.crt';

/** Transport socket match names of auto mTLS. */
export const TLS_MODE_ISTIO_MATCH = 'tlsMode-istio';
export const TLS_MODE_DISABLED_MATCH = 'tlsMode-disabled';
