/**
 * DownstreamTlsContext for servers that terminate TLS: gateway servers (SIMPLE, MUTUAL,
 * OPTIONAL_MUTUAL, ISTIO_MUTUAL) and Sidecar ingress listeners with `tls` (Istio's
 * BuildListenerTLSContext). Certificates are never inlined: they are SDS references —
 * `kubernetes://NAME` over ADS for `credentialName` (the control plane serves those),
 * `file-cert:CERT~KEY` / `file-root:CA` from the agent's SDS for files, and the workload's
 * `default` / `ROOTCA` for ISTIO_MUTUAL.
 */
import type { MeshConfig } from '../../../api/mesh/mesh-config.ts';
import type { ServerTlsSettings } from '../../../api/networking/gateway.ts';
import {
  SDS_CA_CERT_SUFFIX,
  SDS_CLUSTER_NAME,
  SDS_DEFAULT_RESOURCE_NAME,
  SDS_ROOT_RESOURCE_NAME,
  sdsCredentialName,
  sdsFileCertName,
  sdsFileRootName,
} from '../../model/well-known.ts';
import type { Proto } from './context.ts';

/** ALPN a terminating HTTP server offers (Istio's ALPNHttp). */
export const ALPN_HTTP: readonly string[] = ['h2', 'http/1.1'];
/** ALPN of an ISTIO_MUTUAL TCP gateway server (Istio's ALPNDownstreamWithMxc). */
export const ALPN_DOWNSTREAM_WITH_MXC: readonly string[] = ['istio-peer-exchange', 'h2', 'http/1.1'];

/** Secret from the agent's SDS server (workload certificate files, ISTIO_MUTUAL). */
export function agentSdsSecretConfig(name: string): Proto {
  return {
    name,
    sds_config: {
      api_config_source: {
        api_type: 'GRPC',
        set_node_on_first_message_only: true,
        transport_api_version: 'V3',
        grpc_services: [{ envoy_grpc: { cluster_name: SDS_CLUSTER_NAME } }],
      },
      resource_api_version: 'V3',
    },
  };
}

/**
 * Secret a `credentialName` names, fetched over ADS from the control plane. No
 * initial_fetch_timeout of 0: a missing secret must not block the whole listener.
 */
export function credentialSdsSecretConfig(credentialName: string): Proto {
  return { name: sdsCredentialName(credentialName), sds_config: { ads: {}, resource_api_version: 'V3' } };
}

const TLS_PROTOCOL: Readonly<Record<string, string>> = {
  TLS_AUTO: 'TLS_AUTO',
  TLSV1_0: 'TLSv1_0',
  TLSV1_1: 'TLSv1_1',
  TLSV1_2: 'TLSv1_2',
  TLSV1_3: 'TLSv1_3',
};

function exact(values: readonly string[] | undefined): Proto[] {
  return (values ?? []).map((v) => ({ exact: v }));
}

export interface ServerTlsOptions {
  /** The listener carries TCP (not HTTP) and the server is ISTIO_MUTUAL: metadata-exchange ALPN. */
  readonly tcpIstioMutual?: boolean;
  readonly mesh: MeshConfig;
}

export function buildServerTlsContext(tls: ServerTlsSettings, options: ServerTlsOptions): Proto {
  const mode = tls.mode ?? 'SIMPLE';
  const common: Proto = {
    alpn_protocols: [
      ...(options.tcpIstioMutual && mode === 'ISTIO_MUTUAL' ? ALPN_DOWNSTREAM_WITH_MXC : ALPN_HTTP),
    ],
  };
  const requireClient = mode === 'MUTUAL' || mode === 'ISTIO_MUTUAL';
  const validateClient = requireClient || mode === 'OPTIONAL_MUTUAL';

  if (mode === 'ISTIO_MUTUAL') {
    common.tls_certificate_sds_secret_configs = [agentSdsSecretConfig(SDS_DEFAULT_RESOURCE_NAME)];
    common.combined_validation_context = {
      default_validation_context: sanMatchers(tls.subjectAltNames),
      validation_context_sds_secret_config: agentSdsSecretConfig(SDS_ROOT_RESOURCE_NAME),
    };
  } else if (tls.credentialName || tls.credentialNames?.length) {
    const names = tls.credentialNames?.length ? tls.credentialNames : [tls.credentialName as string];
    common.tls_certificate_sds_secret_configs = names.map(credentialSdsSecretConfig);
    if (mode === 'MUTUAL' || mode === 'OPTIONAL_MUTUAL') {
      const ca = tls.caCertCredentialName ?? `${names[0]}${SDS_CA_CERT_SUFFIX}`;
      const dvc: Proto = sanMatchers(tls.subjectAltNames);
      if (tls.verifyCertificateSpki?.length) dvc.verify_certificate_spki = [...tls.verifyCertificateSpki];
      if (tls.verifyCertificateHash?.length) dvc.verify_certificate_hash = [...tls.verifyCertificateHash];
      common.combined_validation_context = {
        default_validation_context: dvc,
        validation_context_sds_secret_config: credentialSdsSecretConfig(ca),
      };
    } else if (tls.subjectAltNames?.length) {
      common.validation_context = sanMatchers(tls.subjectAltNames);
    }
  } else {
    // Files mounted in the gateway: the agent serves them over SDS so rotation needs no restart.
    const certs = tls.tlsCertificates?.length
      ? tls.tlsCertificates.map((c) => [c.serverCertificate ?? '', c.privateKey ?? ''] as const)
      : [[tls.serverCertificate ?? '', tls.privateKey ?? ''] as const];
    common.tls_certificate_sds_secret_configs = certs.map(([cert, key]) =>
      agentSdsSecretConfig(cert && key ? sdsFileCertName(cert, key) : SDS_DEFAULT_RESOURCE_NAME),
    );
    if (validateClient) {
      const dvc: Proto = sanMatchers(tls.subjectAltNames);
      if (tls.caCrl) dvc.crl = { filename: tls.caCrl };
      common.combined_validation_context = {
        default_validation_context: dvc,
        validation_context_sds_secret_config: agentSdsSecretConfig(
          tls.caCertificates ? sdsFileRootName(tls.caCertificates) : SDS_ROOT_RESOURCE_NAME,
        ),
      };
    }
  }

  if (mode === 'SIMPLE' || mode === 'MUTUAL' || mode === 'OPTIONAL_MUTUAL') {
    const params: Proto = {};
    const defaults = options.mesh.tlsDefaults;
    if (defaults?.ecdhCurves?.length) params.ecdh_curves = [...defaults.ecdhCurves];
    if (defaults?.cipherSuites?.length) params.cipher_suites = [...defaults.cipherSuites];
    if (defaults?.minProtocolVersion && defaults.minProtocolVersion !== 'TLS_AUTO') {
      params.tls_minimum_protocol_version = TLS_PROTOCOL[defaults.minProtocolVersion];
    }
    if (tls.minProtocolVersion && tls.minProtocolVersion !== 'TLS_AUTO') {
      params.tls_minimum_protocol_version = TLS_PROTOCOL[tls.minProtocolVersion];
    }
    if (tls.cipherSuites?.length) params.cipher_suites = [...tls.cipherSuites];
    if (tls.maxProtocolVersion && tls.maxProtocolVersion !== 'TLS_AUTO') {
      params.tls_maximum_protocol_version = TLS_PROTOCOL[tls.maxProtocolVersion];
    }
    if (Object.keys(params).length > 0) common.tls_params = params;
  }
  return { common_tls_context: common, require_client_certificate: { value: requireClient } };
}

function sanMatchers(sans: readonly string[] | undefined): Proto {
  const m = exact(sans);
  return m.length > 0 ? { match_subject_alt_names: m } : {};
}
