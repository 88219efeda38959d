/**
 * Upstream TLS (Istio's applyUpstreamTLSSettings / buildUpstreamClusterTLSContext):
 *
 *   DISABLE       no transport socket (and no auto mTLS)
 *   SIMPLE        UpstreamTlsContext verifying the server: CA from `caCertificates`
 *                 (`file-root:<path>`), `credentialName` (`kubernetes://<name>-cacert`) or the
 *                 system bundle; `subjectAltNames`; `sni` (default: the host); `caCrl`
 *   MUTUAL        SIMPLE plus a client certificate (`file-cert:<cert>~<key>` or `kubernetes://<name>`)
 *   ISTIO_MUTUAL  the workload certificate `default` and root `ROOTCA` over SDS, Istio's ALPN,
 *                 SNI `outbound_.<port>_.<subset>_.<host>`, SANs from the rule or the service's
 *                 identities
 *   unset         auto mTLS: `transport_socket_matches` choosing ISTIO_MUTUAL for endpoints
 *                 labelled `tlsMode: istio` and plain text otherwise — for in-mesh services only.
 *
 * SDS names are Istio's; `default`, `ROOTCA` and `file-*` are fetched from the agent's
 * `sds-grpc` cluster, `kubernetes://` credentials from the control plane over ADS.
 */
import type { ClientTLSSettings } from '../../../api/networking/shared.ts';
import { typed } from '../../../lib/xds/any.ts';
import { RAW_BUFFER_TYPE_URL, UPSTREAM_TLS_CONTEXT_TYPE_URL } from '../../../lib/xds/type-urls.ts';
import { toProtoStruct } from '../../../lib/xds/well-known.ts';
import { isWildcardHost } from '../../../registry/host.ts';
import type { Service, ServicePort } from '../../../registry/model.ts';
import { buildDnsSrvSubsetKey, TrafficDirection } from '../../model/naming.ts';
import {
  ALPN_H2,
  ALPN_IN_MESH,
  ALPN_IN_MESH_H2,
  RAW_BUFFER_TRANSPORT_SOCKET_NAME,
  SDS_CA_CERT_SUFFIX,
  SDS_CLUSTER_NAME,
  SDS_DEFAULT_RESOURCE_NAME,
  SDS_ROOT_RESOURCE_NAME,
  SYSTEM_CA_BUNDLE_PATH,
  sdsCredentialName,
  sdsFileCertName,
  sdsFileRootName,
  TLS_MODE_DISABLED_MATCH,
  TLS_MODE_ISTIO_MATCH,
  TLS_TRANSPORT_SOCKET_NAME,
  TRANSPORT_SOCKET_MATCH_KEY,
} from '../../model/well-known.ts';
import type { ProtoObject } from './values.ts';

/** SDS over the agent's bootstrap cluster (Istio's ConstructSdsSecretConfig). */
export function sdsAgentConfig(): ProtoObject {
  return {
    api_config_source: {
      api_type: 'GRPC',
      set_node_on_first_message_only: true,
      transport_api_version: 'V3',
      grpc_services: [{ envoy_grpc: { cluster_name: SDS_CLUSTER_NAME } }],
    },
    resource_api_version: 'V3',
  };
}

/** SDS served by the control plane on the ADS stream (credentials from Kubernetes secrets). */
export function sdsAdsConfig(): ProtoObject {
  return { ads: {}, resource_api_version: 'V3' };
}

export function sdsSecret(name: string): ProtoObject {
  return { name, sds_config: name.includes('://') ? sdsAdsConfig() : sdsAgentConfig() };
}

export interface UpstreamTlsInput {
  readonly tls: ClientTLSSettings | undefined;
  readonly service: Service;
  readonly port: ServicePort;
  readonly subset: string;
  /** Identities the service's workloads present (for ISTIO_MUTUAL without subjectAltNames). */
  readonly serviceAccounts: readonly string[];
  readonly autoMtls: boolean;
  /** The upstream speaks HTTP/2 (ALPN). */
  readonly http2: boolean;
}

/** Sets `transport_socket` or `transport_socket_matches` on `cluster`. */
export function applyUpstreamTls(cluster: ProtoObject, input: UpstreamTlsInput): void {
  const { tls } = input;
  const mode = tls?.mode;
  if (mode === 'DISABLE') return;
  if (mode === 'SIMPLE' || mode === 'MUTUAL') {
    cluster.transport_socket = tlsSocket(originationContext(tls as ClientTLSSettings, input));
    return;
  }
  if (mode === 'ISTIO_MUTUAL') {
    cluster.transport_socket = tlsSocket(istioMutualContext(input, tls));
    return;
  }
  // Unset: auto mTLS for in-mesh services whose endpoints say they take it.
  if (!input.autoMtls || input.service.meshExternal || cluster.type === 'ORIGINAL_DST') return;
  cluster.transport_socket_matches = [
    {
      name: TLS_MODE_ISTIO_MATCH,
      match: toProtoStruct({ tlsMode: 'istio' }),
      transport_socket: tlsSocket(istioMutualContext(input, undefined)),
    },
    {
      name: TLS_MODE_DISABLED_MATCH,
      match: {},
      transport_socket: {
        name: RAW_BUFFER_TRANSPORT_SOCKET_NAME,
        typed_config: typed(RAW_BUFFER_TYPE_URL, {}),
      },
    },
  ];
}

/** Endpoint metadata telling auto mTLS that the endpoint takes Istio mTLS. */
export function tlsModeMetadata(): [string, ReturnType<typeof toProtoStruct>] {
  return [TRANSPORT_SOCKET_MATCH_KEY, toProtoStruct({ tlsMode: 'istio' })];
}

function tlsSocket(context: ProtoObject): ProtoObject {
  return { name: TLS_TRANSPORT_SOCKET_NAME, typed_config: typed(UPSTREAM_TLS_CONTEXT_TYPE_URL, context) };
}

function sanMatchers(sans: readonly string[]): ProtoObject[] {
  return sans.map((exact) => ({ exact }));
}

function istioMutualContext(input: UpstreamTlsInput, tls: ClientTLSSettings | undefined): ProtoObject {
  const sans = tls?.subjectAltNames?.length ? tls.subjectAltNames : input.serviceAccounts;
  return {
    common_tls_context: {
      tls_params: { tls_minimum_protocol_version: 'TLSv1_2', tls_maximum_protocol_version: 'TLSv1_3' },
      alpn_protocols: [...(input.http2 ? ALPN_IN_MESH_H2 : ALPN_IN_MESH)],
      tls_certificate_sds_secret_configs: [sdsSecret(SDS_DEFAULT_RESOURCE_NAME)],
      combined_validation_context: {
        ...(sans.length > 0
          ? { default_validation_context: { match_subject_alt_names: sanMatchers(sans) } }
          : {}),
        validation_context_sds_secret_config: sdsSecret(SDS_ROOT_RESOURCE_NAME),
      },
    },
    sni:
      tls?.sni ||
      buildDnsSrvSubsetKey(TrafficDirection.OUTBOUND, input.subset, input.service.hostname, input.port.port),
  };
}

function originationContext(tls: ClientTLSSettings, input: UpstreamTlsInput): ProtoObject {
  const common: ProtoObject = {};
  if (input.http2) common.alpn_protocols = [...ALPN_H2];
  const cred = tls.credentialName;
  if (tls.mode === 'MUTUAL') {
    const name = cred
      ? sdsCredentialName(cred)
      : sdsFileCertName(tls.clientCertificate ?? '', tls.privateKey ?? '');
    common.tls_certificate_sds_secret_configs = [sdsSecret(name)];
  }
  if (!tls.insecureSkipVerify) {
    const root = cred
      ? `${sdsCredentialName(cred)}${SDS_CA_CERT_SUFFIX}`
      : sdsFileRootName(tls.caCertificates || SYSTEM_CA_BUNDLE_PATH);
    const defaults: ProtoObject = {};
    if (tls.subjectAltNames?.length) defaults.match_subject_alt_names = sanMatchers(tls.subjectAltNames);
    if (tls.caCrl) defaults.crl = { filename: tls.caCrl };
    common.combined_validation_context = {
      ...(Object.keys(defaults).length > 0 ? { default_validation_context: defaults } : {}),
      validation_context_sds_secret_config: sdsSecret(root),
    };
  }
  const host = input.service.hostname;
  const sni = tls.sni || (isWildcardHost(host) ? '' : host);
  return { common_tls_context: common, ...(sni ? { sni } : {}) };
}
