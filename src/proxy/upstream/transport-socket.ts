/**
 * Upstream transport sockets: how a connection to a host is opened. `raw_buffer` is plain TCP;
 * `tls` originates TLS with node:tls (SNI, ALPN, protocol bounds, client certificate, trust
 * anchors, and Envoy's subject-alt-name matching). Pools only see the TransportSocketFactory
 * interface, so mTLS with SDS-provided, rotating secrets plugs in as another factory: a
 * factory's `secureContext()` is read per new connection, never per request.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { type CompileContext, type ProtoReader, readAny, readDataSource } from '../config/proto.ts';
import { EXTENSION, TYPE } from '../config/type-names.ts';
import {
  compileSanMatchers,
  parseSubjectAltNames,
  readTlsCertificate,
  type SanMatcher,
} from '../tls/tls-material.ts';
import type { Host } from './host.ts';

export interface TransportSocketFactory {
  /** 'raw_buffer' or 'tls'; part of the pool key so differently-secured pools never mix. */
  readonly kind: string;
  /**
   * Opens a connection; `onReady` fires once application data may flow, `onError` on failure.
   * `allowHalfOpen` keeps our side writable after the peer's FIN (tcp_proxy half-close).
   * `alpnFallback` is offered over TLS when the config sets no ALPN (HTTP/2 pools pass 'h2',
   * as Envoy does for HTTP/2 clusters).
   */
  connect(
    host: Host,
    onReady: () => void,
    onError: (err: Error) => void,
    allowHalfOpen?: boolean,
    alpnFallback?: readonly string[],
    onread?: net.OnReadOpts,
  ): net.Socket;
  /**
   * Whether `connect` honours `onread` (plain TCP only): the socket's bytes then arrive through
   * it, into the caller's buffers, and never as 'data' events.
   */
  readonly directReads: boolean;
}

/**
 * Errors for secrets only the security layer (SDS) can provide. transport_socket_matches keeps
 * a match that fails only with these as "unavailable" instead of refusing the whole cluster.
 */
export const SDS_CERTIFICATES_UNAVAILABLE =
  'SDS certificates are provided by the security layer, not supported here yet';
export const SDS_VALIDATION_UNAVAILABLE =
  'SDS / provider validation contexts are provided by the security layer, not supported here yet';

export class RawTransportSocketFactory implements TransportSocketFactory {
  readonly kind = 'raw_buffer';
  readonly directReads = true;
  connect(
    host: Host,
    onReady: () => void,
    onError: (err: Error) => void,
    allowHalfOpen = false,
    _alpnFallback?: readonly string[],
    onread?: net.OnReadOpts,
  ): net.Socket {
    const s = net.connect({
      host: host.address,
      port: host.port,
      noDelay: true,
      allowHalfOpen,
      // upstream_bind_config.source_address (port 0 = any port).
      localAddress: host.bindAddress?.address,
      localPort: host.bindAddress?.port || undefined,
      ...(onread === undefined ? {} : { onread }),
    });
    s.once('connect', onReady);
    s.once('error', onError);
    return s;
  }
}

export const RAW_TRANSPORT = new RawTransportSocketFactory();

export interface TlsOriginationSettings {
  readonly sni: string | undefined;
  readonly alpn: readonly string[];
  readonly minVersion: tls.SecureVersion | undefined;
  readonly maxVersion: tls.SecureVersion | undefined;
  readonly ciphers: string | undefined;
  readonly ecdhCurve: string | undefined;
  readonly ca: Buffer | undefined;
  readonly cert: Buffer | undefined;
  readonly key: Buffer | undefined;
  readonly passphrase: string | undefined;
  readonly sanMatchers: readonly SanMatcher[];
  readonly allowRenegotiation: boolean;
}

/** Source of secure contexts; the static one is built once, an SDS one changes on rotation. */
export interface SecureContextProvider {
  secureContext(): tls.SecureContext;
}

export class TlsTransportSocketFactory implements TransportSocketFactory {
  readonly directReads = false;
  readonly kind: string;
  readonly settings: TlsOriginationSettings;
  private readonly contexts: SecureContextProvider;

  constructor(settings: TlsOriginationSettings, contexts?: SecureContextProvider) {
    this.settings = settings;
    this.kind = `tls:${settings.sni ?? ''}`;
    if (contexts) this.contexts = contexts;
    else {
      const ctx = tls.createSecureContext({
        ca: settings.ca,
        cert: settings.cert,
        key: settings.key,
        passphrase: settings.passphrase,
        minVersion: settings.minVersion,
        maxVersion: settings.maxVersion,
        ciphers: settings.ciphers,
        ecdhCurve: settings.ecdhCurve,
      });
      this.contexts = { secureContext: () => ctx };
    }
  }

  connect(
    host: Host,
    onReady: () => void,
    onError: (err: Error) => void,
    allowHalfOpen = false,
    alpnFallback?: readonly string[],
  ): net.Socket {
    const st = this.settings;
    const alpn = st.alpn.length > 0 ? st.alpn : alpnFallback;
    const s = tls.connect({
      // net.Socket options passed through by tls.connect (not in the TLS option types).
      ...({
        allowHalfOpen,
        localAddress: host.bindAddress?.address,
        localPort: host.bindAddress?.port || undefined,
      } as object),
      host: host.address,
      port: host.port,
      servername: st.sni,
      secureContext: this.contexts.secureContext(),
      ALPNProtocols: alpn !== undefined && alpn.length > 0 ? [...alpn] : undefined,
      // Envoy verifies the chain only when trust anchors are configured, and never checks the
      // certificate against the SNI by itself; SAN matchers below are the identity check.
      rejectUnauthorized: st.ca !== undefined,
      checkServerIdentity: () => undefined,
    });
    s.setNoDelay(true);
    s.once('secureConnect', () => {
      const err = this.verifySan(s);
      if (err) {
        s.destroy(err);
        return;
      }
      onReady();
    });
    s.once('error', onError);
    return s;
  }

  private verifySan(s: tls.TLSSocket): Error | undefined {
    const matchers = this.settings.sanMatchers;
    if (matchers.length === 0) return undefined;
    const cert = s.getPeerCertificate();
    const sans = parseSubjectAltNames(cert?.subjectaltname ?? '');
    for (const m of matchers) {
      for (const san of sans) {
        if ((m.type === '' || m.type === san.type) && m.matcher.match(san.value)) return undefined;
      }
    }
    return new Error(
      `upstream certificate SANs [${cert?.subjectaltname ?? ''}] match none of the configured subject alt name matchers`,
    );
  }
}

const TLS_VERSIONS = ['TLS_AUTO', 'TLSv1_0', 'TLSv1_1', 'TLSv1_2', 'TLSv1_3'] as const;
const NODE_VERSIONS: Record<string, tls.SecureVersion | undefined> = {
  TLS_AUTO: undefined,
  TLSv1_0: 'TLSv1',
  TLSv1_1: 'TLSv1.1',
  TLSv1_2: 'TLSv1.2',
  TLSv1_3: 'TLSv1.3',
};

/** What a core.v3.TransportSocket asks for: plain TCP, or a typed config to compile. */
export type OpenedTransportSocket = 'raw_buffer' | { typeName: string; reader: ProtoReader };

/**
 * Opens a core.v3.TransportSocket for either direction: raw_buffer (by name with no config, or
 * typed) or the typed config; undefined after an error, recorded on `r.ctx`.
 */
export function openTransportSocket(r: ProtoReader): OpenedTransportSocket | undefined {
  const name = r.string('name');
  const any = r.raw('typed_config');
  r.raw('config_type');
  r.done();
  if (any === undefined || any === null) {
    if (name === EXTENSION.TRANSPORT_SOCKET_RAW || name === '') return 'raw_buffer';
    r.ctx.error(r.at('typed_config'), `transport socket ${JSON.stringify(name)} needs a typed_config`);
    return undefined;
  }
  const opened = readAny(r.ctx, any, r.at('typed_config'));
  if (!opened) return undefined;
  if (opened.typeName === TYPE.RAW_BUFFER) {
    opened.reader.done();
    return 'raw_buffer';
  }
  return opened;
}

/** core.v3.TransportSocket → factory (raw_buffer when unset). */
export function compileTransportSocket(
  r: ProtoReader | undefined,
  readFile: (p: string) => Buffer = readFileSync,
): TransportSocketFactory | undefined {
  if (!r) return RAW_TRANSPORT;
  const opened = openTransportSocket(r);
  if (opened === undefined) return undefined;
  if (opened === 'raw_buffer') return RAW_TRANSPORT;
  if (opened.typeName === TYPE.UPSTREAM_TLS_CONTEXT)
    return compileUpstreamTlsContext(opened.reader, readFile);
  r.ctx.error(r.at('typed_config'), `transport socket type ${opened.typeName} is not supported`);
  return undefined;
}

/** extensions.transport_sockets.tls.v3.UpstreamTlsContext → TLS factory. */
export function compileUpstreamTlsContext(
  r: ProtoReader,
  readFile: (p: string) => Buffer = readFileSync,
): TransportSocketFactory | undefined {
  const ctx = r.ctx;
  const sni = r.has('sni') ? r.string('sni') : undefined;
  r.ignore('sni');
  const allowRenegotiation = r.bool('allow_renegotiation');
  // Session cache size only affects resumption performance, not behaviour.
  r.ignore('max_session_keys');
  r.unsupported('enforce_rsa_key_usage', 'enforce_rsa_key_usage is not supported');
  let settings: TlsOriginationSettings | undefined;
  const c = r.message('common_tls_context');
  if (c) settings = compileCommonTlsContext(c, ctx, readFile, sni, allowRenegotiation);
  else settings = emptySettings(sni, allowRenegotiation);
  r.done();
  if (!settings || !ctx.ok) return undefined;
  try {
    return new TlsTransportSocketFactory(settings);
  } catch (err) {
    ctx.error(r.path, `invalid TLS material: ${err instanceof Error ? err.message : err}`);
    return undefined;
  }
}

function emptySettings(sni: string | undefined, allowRenegotiation: boolean): TlsOriginationSettings {
  return {
    sni,
    alpn: [],
    minVersion: undefined,
    maxVersion: undefined,
    ciphers: undefined,
    ecdhCurve: undefined,
    ca: undefined,
    cert: undefined,
    key: undefined,
    passphrase: undefined,
    sanMatchers: [],
    allowRenegotiation,
  };
}

function compileCommonTlsContext(
  c: ProtoReader,
  ctx: CompileContext,
  readFile: (p: string) => Buffer,
  sni: string | undefined,
  allowRenegotiation: boolean,
): TlsOriginationSettings {
  const s = { ...emptySettings(sni, allowRenegotiation) } as {
    -readonly [K in keyof TlsOriginationSettings]: TlsOriginationSettings[K];
  };
  const params = c.message('tls_params');
  if (params) {
    s.minVersion = NODE_VERSIONS[params.enumName('tls_minimum_protocol_version', TLS_VERSIONS)];
    s.maxVersion = NODE_VERSIONS[params.enumName('tls_maximum_protocol_version', TLS_VERSIONS)];
    const ciphers = params.strings('cipher_suites');
    if (ciphers.length > 0) s.ciphers = ciphers.join(':');
    const curves = params.strings('ecdh_curves');
    if (curves.length > 0) s.ecdhCurve = curves.join(':');
    params.unsupported('signature_algorithms', 'signature_algorithms is not supported');
    params.unsupported('compliance_policies', 'compliance policies are not supported');
    params.done();
  }
  const certs = c.messages('tls_certificates');
  if (certs.length > 1) ctx.error(c.at('tls_certificates'), 'only one client certificate is supported');
  const cert = certs[0];
  if (cert) {
    const material = readTlsCertificate(cert, readFile);
    s.cert = material.cert;
    s.key = material.key;
    s.passphrase = material.passphrase;
    if ((s.cert === undefined) !== (s.key === undefined))
      ctx.error(cert.path, 'certificate_chain and private_key go together');
  }
  c.unsupported('tls_certificate_sds_secret_configs', SDS_CERTIFICATES_UNAVAILABLE);
  c.unsupported('tls_certificate_provider_instance', 'certificate provider instances are not supported');
  c.unsupported('tls_certificate_certificate_provider', 'certificate providers are not supported');
  c.unsupported('tls_certificate_certificate_provider_instance', 'certificate providers are not supported');
  const which = c.oneof([
    'validation_context',
    'validation_context_sds_secret_config',
    'combined_validation_context',
    'validation_context_certificate_provider',
    'validation_context_certificate_provider_instance',
  ]);
  c.raw('validation_context_type');
  if (which === 'validation_context') {
    compileValidationContext(c.message('validation_context')!, s, readFile);
  } else if (which !== undefined) {
    c.unsupported(which, SDS_VALIDATION_UNAVAILABLE);
  }
  s.alpn = c.strings('alpn_protocols');
  c.unsupported('custom_handshaker', 'custom handshakers are not supported');
  c.unsupported('key_log', 'TLS key logging is not supported');
  c.unsupported('custom_tls_certificate_selector', 'custom certificate selectors are not supported');
  c.done();
  return s;
}

function compileValidationContext(
  v: ProtoReader,
  s: { ca: Buffer | undefined; sanMatchers: readonly SanMatcher[] },
  readFile: (p: string) => Buffer,
): void {
  const ca = v.message('trusted_ca');
  if (ca) s.ca = readDataSource(ca, readFile);
  s.sanMatchers = compileSanMatchers(v);
  const trust = v.enumName('trust_chain_verification', ['VERIFY_TRUST_CHAIN', 'ACCEPT_UNTRUSTED'] as const);
  if (trust !== 'VERIFY_TRUST_CHAIN')
    v.ctx.error(v.at('trust_chain_verification'), 'ACCEPT_UNTRUSTED is not supported');
  for (const f of [
    'ca_certificate_provider_instance',
    'system_root_certs',
    'watched_directory',
    'verify_certificate_spki',
    'verify_certificate_hash',
    'require_signed_certificate_timestamp',
    'crl',
    'allow_expired_certificate',
    'custom_validator_config',
    'only_verify_leaf_cert_crl',
    'max_verify_depth',
  ]) {
    v.unsupported(f);
  }
  v.done();
}
