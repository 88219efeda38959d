/**
 * Downstream TLS: a filter chain's `transport_socket` envoy.transport_sockets.tls with a
 * DownstreamTlsContext. `compileDownstreamTlsContext` checks the proto once; `DownstreamTls`
 * terminates TLS on accepted sockets (after the listener filters peeked at them) and reports
 * what the handshake established — SNI, ALPN, version, and the peer certificate's identity —
 * for routing, authorization and telemetry.
 *
 * Certificates come inline, from files, or by SDS name (SecretStore, delivered over ADS; the
 * listener warms until they arrive). Istio's agent-served file secrets (`file-cert:C~K`,
 * `file-root:CA`) are read directly, as the agent would. The handshake runs in a tls.Server
 * that never listens: a socket handed to it with `emit('connection')` keeps the bytes the
 * inspectors unshifted. A context is rebuilt only when a secret it uses changed.
 */

import { constants as cryptoConstants } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type net from 'node:net';
import tls from 'node:tls';
import { logger } from '../../lib/log.ts';
import type { ProtoReader } from '../config/proto.ts';
import type { Counter, StatsStore } from '../stats/store.ts';
import type { SecretStore } from './secret-store.ts';
import {
  type CertificateMaterial,
  checkPeerCertificate,
  compileCertificateValidationContext,
  compileTlsCertificate,
  EMPTY_VALIDATION,
  mergeValidation,
  type ValidationMaterial,
} from './tls-material.ts';

const log = logger('proxy:downstream-tls');

/** Istio's agent SDS names for certificate files (pilot's well-known names). */
const FILE_CERT_PREFIX = 'file-cert:';
const FILE_ROOT_PREFIX = 'file-root:';

/** A certificate or validation context: bytes now, or a secret to look up per context build. */
type Source<T> =
  | { readonly kind: 'static'; readonly value: T }
  | { readonly kind: 'sds'; readonly name: string };

export interface DownstreamTlsConfig {
  readonly certificates: readonly Source<CertificateMaterial>[];
  /** The validation context without SDS parts (or all of it when inline). */
  readonly validation: ValidationMaterial | undefined;
  /** combined_validation_context / validation_context_sds_secret_config. */
  readonly validationSds: string | undefined;
  readonly requireClientCertificate: boolean;
  readonly requireSni: boolean;
  readonly alpn: readonly string[];
  readonly minVersion: tls.SecureVersion;
  readonly maxVersion: tls.SecureVersion;
  readonly ciphers: string | undefined;
  readonly ecdhCurve: string | undefined;
  readonly sigalgs: string | undefined;
  readonly honorCipherOrder: boolean;
  readonly disableTickets: boolean;
  readonly sessionTimeoutS: number | undefined;
  readonly handshakeTimeoutMs: number | undefined;
}

export interface DownstreamTlsEnv {
  readonly secrets?: SecretStore;
  readonly readFile?: (p: string) => Buffer;
}

const TLS_VERSIONS = ['TLS_AUTO', 'TLSv1_0', 'TLSv1_1', 'TLSv1_2', 'TLSv1_3'] as const;
const NODE_VERSIONS: Record<(typeof TLS_VERSIONS)[number], tls.SecureVersion | undefined> = {
  TLS_AUTO: undefined,
  TLSv1_0: 'TLSv1',
  TLSv1_1: 'TLSv1.1',
  TLSv1_2: 'TLSv1.2',
  TLSv1_3: 'TLSv1.3',
};

/**
 * One SdsSecretConfig → a source. ADS/self secrets come from the store; the agent's file
 * secrets are read now; other config sources are not available in this proxy.
 */
function sdsSource<T>(
  r: ProtoReader,
  env: DownstreamTlsEnv,
  kind: 'certificate' | 'validation',
  readFile: (p: string) => Buffer,
): Source<T> | undefined {
  const name = r.string('name');
  const src = r.message('sds_config');
  r.done();
  if (name === '') {
    r.ctx.error(r.at('name'), 'an SDS secret config needs the name of the secret');
    return undefined;
  }
  if (kind === 'certificate' && name.startsWith(FILE_CERT_PREFIX)) {
    const [cert, key] = name.slice(FILE_CERT_PREFIX.length).split('~');
    if (!cert || !key) {
      r.ctx.error(r.at('name'), `expected ${FILE_CERT_PREFIX}<cert>~<key>, got ${name}`);
      return undefined;
    }
    src?.raw('config_source_specifier');
    for (const f of Object.keys(src?.msg ?? {})) src?.ignore(f);
    const value: CertificateMaterial = {
      cert: readOr(r, readFile, cert),
      key: readOr(r, readFile, key),
      passphrase: undefined,
    };
    return { kind: 'static', value: value as T };
  }
  if (kind === 'validation' && name.startsWith(FILE_ROOT_PREFIX)) {
    for (const f of Object.keys(src?.msg ?? {})) src?.ignore(f);
    const ca = readOr(r, readFile, name.slice(FILE_ROOT_PREFIX.length));
    return { kind: 'static', value: { ...EMPTY_VALIDATION, ca } as T };
  }
  if (!src) {
    r.ctx.error(r.at('sds_config'), `secret ${name}: static (bootstrap) secrets are not supported; use ADS`);
    return undefined;
  }
  const which = src.oneof(['ads', 'self', 'api_config_source', 'path_config_source', 'path']);
  for (const f of Object.keys(src.msg)) src.ignore(f);
  if (which !== 'ads' && which !== 'self') {
    r.ctx.error(
      r.at('sds_config'),
      `secret ${name}: only SDS over ADS is supported (${which ?? 'no config source'} given)` +
        (name === 'default' || name === 'ROOTCA'
          ? '; workload certificates need the security layer, not available yet'
          : ''),
    );
    return undefined;
  }
  if (!env.secrets) {
    r.ctx.error(r.at('name'), `secret ${name}: this proxy was started without an SDS secret store`);
    return undefined;
  }
  return { kind: 'sds', name };
}

function readOr(r: ProtoReader, readFile: (p: string) => Buffer, path: string): Buffer | undefined {
  try {
    return readFile(path);
  } catch (err) {
    r.ctx.error(r.at('name'), `cannot read ${path}: ${(err as Error).message}`);
    return undefined;
  }
}

/** extensions.transport_sockets.tls.v3.DownstreamTlsContext → config (issues on r.ctx). */
export function compileDownstreamTlsContext(
  r: ProtoReader,
  env: DownstreamTlsEnv,
  handshakeTimeoutMs: number | undefined,
): DownstreamTlsConfig | undefined {
  const ctx = r.ctx;
  const readFile = env.readFile ?? readFileSync;
  const requireClientCertificate = r.wrappedBool('require_client_certificate', false) ?? false;
  const requireSni = r.wrappedBool('require_sni', false) ?? false;
  r.unsupported('session_ticket_keys', 'session ticket keys are not supported (Node cannot use Envoy keys)');
  r.unsupported(
    'session_ticket_keys_sds_secret_config',
    'session ticket keys are not supported (Node cannot use Envoy keys)',
  );
  r.raw('session_ticket_keys_type');
  const disableTickets = r.bool('disable_stateless_session_resumption');
  // Node keeps no server-side session cache unless asked to: stateful resumption is off anyway.
  r.ignore('disable_stateful_session_resumption');
  const sessionTimeoutMs = r.duration('session_timeout');
  const ocsp = r.enumName('ocsp_staple_policy', [
    'LENIENT_STAPLING',
    'STRICT_STAPLING',
    'MUST_STAPLE',
  ] as const);
  if (ocsp !== 'LENIENT_STAPLING') ctx.error(r.at('ocsp_staple_policy'), 'OCSP stapling is not supported');
  // Only relevant with several certificates selected by SNI, which a chain does not do here.
  r.ignore('full_scan_certs_on_sni_mismatch');
  const preferClient = r.bool('prefer_client_ciphers');
  const c = r.message('common_tls_context');
  const out = {
    certificates: [] as Source<CertificateMaterial>[],
    validation: undefined as ValidationMaterial | undefined,
    validationSds: undefined as string | undefined,
    requireClientCertificate,
    requireSni,
    alpn: [] as string[],
    minVersion: 'TLSv1.2' as tls.SecureVersion,
    maxVersion: 'TLSv1.3' as tls.SecureVersion,
    ciphers: undefined as string | undefined,
    ecdhCurve: undefined as string | undefined,
    sigalgs: undefined as string | undefined,
    honorCipherOrder: !preferClient,
    disableTickets,
    sessionTimeoutS:
      sessionTimeoutMs === undefined ? undefined : Math.max(1, Math.round(sessionTimeoutMs / 1000)),
    handshakeTimeoutMs,
  };
  r.done();
  if (!c) {
    ctx.error(r.at('common_tls_context'), 'a downstream TLS context needs a certificate');
    return undefined;
  }
  const params = c.message('tls_params');
  if (params) {
    const min = NODE_VERSIONS[params.enumName('tls_minimum_protocol_version', TLS_VERSIONS)];
    const max = NODE_VERSIONS[params.enumName('tls_maximum_protocol_version', TLS_VERSIONS)];
    // Envoy's server defaults: TLS 1.2 to 1.3.
    if (min) out.minVersion = min;
    if (max) out.maxVersion = max;
    const ciphers = params.strings('cipher_suites');
    if (ciphers.some((s) => s.includes('[')))
      ctx.error(params.at('cipher_suites'), 'equal-preference cipher groups ([a|b]) are not supported');
    if (ciphers.length > 0) out.ciphers = ciphers.join(':');
    const curves = params.strings('ecdh_curves');
    if (curves.length > 0) out.ecdhCurve = curves.join(':');
    const sigalgs = params.strings('signature_algorithms');
    if (sigalgs.length > 0) out.sigalgs = sigalgs.join(':');
    params.unsupported('compliance_policies', 'compliance policies are not supported');
    params.done();
    // Each list on its own, so an unknown name is reported at its field.
    const probes: [string, tls.SecureContextOptions][] = [
      ['cipher_suites', { ciphers: out.ciphers }],
      ['ecdh_curves', { ecdhCurve: out.ecdhCurve }],
      ['signature_algorithms', { sigalgs: out.sigalgs }],
    ];
    for (const [field, options] of probes) {
      if (Object.values(options)[0] === undefined) continue;
      try {
        tls.createSecureContext(options);
      } catch (err) {
        ctx.error(params.at(field), `not usable by this proxy's TLS library: ${(err as Error).message}`);
      }
    }
  }
  c.messages('tls_certificates').forEach((cert) => {
    out.certificates.push({ kind: 'static', value: compileTlsCertificate(cert, readFile) });
  });
  const sdsCerts = c.messages('tls_certificate_sds_secret_configs');
  sdsCerts.forEach((s) => {
    const src = sdsSource<CertificateMaterial>(s, env, 'certificate', readFile);
    if (src) out.certificates.push(src);
  });
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
  const sdsValidation = (s: ProtoReader): void => {
    const src = sdsSource<ValidationMaterial>(s, env, 'validation', readFile);
    if (src?.kind === 'static')
      out.validation = mergeValidation(out.validation ?? EMPTY_VALIDATION, src.value);
    else if (src) out.validationSds = src.name;
  };
  if (which === 'validation_context') {
    out.validation = compileCertificateValidationContext(c.message(which) as ProtoReader, readFile);
  } else if (which === 'validation_context_sds_secret_config') {
    sdsValidation(c.message(which) as ProtoReader);
  } else if (which === 'combined_validation_context') {
    const cv = c.message(which) as ProtoReader;
    const dvc = cv.message('default_validation_context');
    out.validation = dvc ? compileCertificateValidationContext(dvc, readFile) : EMPTY_VALIDATION;
    const s = cv.message('validation_context_sds_secret_config');
    if (s) sdsValidation(s);
    else ctx.error(cv.at('validation_context_sds_secret_config'), 'required');
    cv.unsupported('validation_context_certificate_provider', 'certificate providers are not supported');
    cv.unsupported(
      'validation_context_certificate_provider_instance',
      'certificate providers are not supported',
    );
    cv.unsupported('custom_validator_config', 'custom certificate validators are not supported');
    cv.done();
  } else if (which !== undefined) {
    c.unsupported(which, 'certificate providers are not supported');
  }
  out.alpn = c.strings('alpn_protocols');
  c.unsupported('custom_handshaker', 'custom handshakers are not supported');
  c.unsupported('key_log', 'TLS key logging is not supported');
  c.unsupported('custom_tls_certificate_selector', 'custom certificate selectors are not supported');
  c.done();
  if (out.certificates.length === 0 && sdsCerts.length === 0)
    ctx.error(c.at('tls_certificates'), 'a downstream TLS context needs at least one certificate');
  if (requireClientCertificate && out.validation?.ca === undefined && out.validationSds === undefined)
    ctx.error(
      r.at('require_client_certificate'),
      'requiring client certificates needs a validation context with trusted_ca',
    );
  if (ctx.ok) {
    // Static material is checked now, so a bad key or cipher list is a NACK, not a runtime failure.
    const m = resolveMaterial(out, undefined);
    if ('error' in m) ctx.error(r.path, m.error);
    else {
      try {
        tls.createSecureContext(m.options);
      } catch (err) {
        if (out.certificates.every((s) => s.kind === 'static') && out.validationSds === undefined)
          ctx.error(r.path, `invalid TLS settings: ${(err as Error).message}`);
      }
    }
  }
  return out;
}

interface Material {
  readonly options: tls.SecureContextOptions;
  readonly validation: ValidationMaterial;
}

/** The secure-context options now, looking SDS names up (a missing secret is an error). */
function resolveMaterial(
  c: DownstreamTlsConfig,
  secrets: SecretStore | undefined,
): Material | { error: string } {
  const certs: Buffer[] = [];
  const keys: { pem: Buffer; passphrase?: string }[] = [];
  for (const s of c.certificates) {
    let m: CertificateMaterial | undefined;
    if (s.kind === 'static') m = s.value;
    else {
      const secret = secrets?.get(s.name);
      if (secrets === undefined) continue; // compile-time check of the static part only
      if (secret?.kind !== 'tls_certificate') return { error: `SDS certificate ${s.name} is not available` };
      m = secret.certificate;
    }
    if (m.cert && m.key) {
      certs.push(m.cert);
      keys.push({ pem: m.key, passphrase: m.passphrase });
    }
  }
  let validation = c.validation ?? EMPTY_VALIDATION;
  if (c.validationSds !== undefined && secrets !== undefined) {
    const secret = secrets.get(c.validationSds);
    if (secret?.kind !== 'validation_context')
      return { error: `SDS validation context ${c.validationSds} is not available` };
    validation = mergeValidation(validation, secret.validation);
  }
  return {
    validation,
    options: {
      cert: certs.length > 0 ? certs : undefined,
      key: keys.length > 0 ? keys : undefined,
      ca: validation.ca,
      crl: validation.crl,
      minVersion: c.minVersion,
      maxVersion: c.maxVersion,
      ciphers: c.ciphers,
      ecdhCurve: c.ecdhCurve,
      sigalgs: c.sigalgs,
      honorCipherOrder: c.honorCipherOrder,
      sessionTimeout: c.sessionTimeoutS,
      secureOptions: c.disableTickets ? cryptoConstants.SSL_OP_NO_TICKET : undefined,
    },
  };
}

/** What the handshake established; ConnectionInfo.tls carries it for authz and telemetry. */
export interface DownstreamTlsInfo {
  readonly version: string;
  readonly cipher: string;
  readonly sni: string | undefined;
  readonly alpn: string | undefined;
  readonly peerCertificate: PeerCertificateInfo | undefined;
}

export interface PeerCertificateInfo {
  /** Chain verified against trusted_ca. */
  readonly validated: boolean;
  readonly subject: string;
  readonly serialNumber: string;
  readonly fingerprint256: string;
  readonly uriSans: readonly string[];
  readonly dnsSans: readonly string[];
  /** The first spiffe:// URI SAN: the peer's SPIFFE identity (Istio's principal). */
  readonly principal: string | undefined;
}

export class TlsStats {
  readonly handshake: Counter;
  readonly connectionError: Counter;
  readonly noCertificate: Counter;
  readonly failVerifyNoCert: Counter;
  readonly failVerifyError: Counter;
  readonly failVerifySan: Counter;
  readonly failVerifyCertHash: Counter;
  readonly failNoSni: Counter;
  constructor(store: StatsStore, scope: string) {
    const s = store.scope(`${scope}.ssl`);
    this.handshake = s.counter('handshake');
    this.connectionError = s.counter('connection_error');
    this.noCertificate = s.counter('no_certificate');
    this.failVerifyNoCert = s.counter('fail_verify_no_cert');
    this.failVerifyError = s.counter('fail_verify_error');
    this.failVerifySan = s.counter('fail_verify_san');
    this.failVerifyCertHash = s.counter('fail_verify_cert_hash');
    this.failNoSni = s.counter('fail_no_sni');
  }
}

interface Pending {
  readonly stats: TlsStats;
  readonly validation: ValidationMaterial;
  readonly onSecure: (socket: tls.TLSSocket, info: DownstreamTlsInfo) => void;
  readonly onFail: (reason: string) => void;
}

/** Terminates TLS for one filter chain. */
export class DownstreamTls {
  readonly config: DownstreamTlsConfig;
  readonly #secrets: SecretStore | undefined;
  /** Keyed by "offers no ALPN". */
  readonly #servers = new Map<boolean, tls.Server>();
  #material: Material | undefined;
  #validation: ValidationMaterial = EMPTY_VALIDATION;
  #generation = -1;
  readonly #pending = new Map<net.Socket, Pending>();

  constructor(config: DownstreamTlsConfig, secrets: SecretStore | undefined) {
    this.config = config;
    this.#secrets = secrets;
  }

  /**
   * The server for the current secrets (rebuilt when a secret changed). `noAlpn` picks the
   * variant that offers no ALPN: Node fails a handshake whose ALPN list shares nothing with
   * the server's, where Envoy carries on without ALPN, so such clients get this one.
   */
  #current(noAlpn: boolean): tls.Server | string {
    const gen = this.#secrets?.generation ?? 0;
    if (gen !== this.#generation || this.#servers.size === 0) {
      const m = resolveMaterial(this.config, this.#secrets ?? EMPTY_STORE);
      if ('error' in m) return m.error;
      try {
        // Checked first so bad material leaves the previous servers in place.
        tls.createSecureContext(m.options);
      } catch (err) {
        return `invalid TLS material: ${(err as Error).message}`;
      }
      if (this.#servers.size > 0) log.info('downstream TLS context rebuilt (secret update)');
      this.#material = m;
      this.#validation = m.validation;
      this.#generation = gen;
      for (const server of this.#servers.values()) server.setSecureContext({ ...m.options });
    }
    const key = noAlpn || this.config.alpn.length === 0;
    let server = this.#servers.get(key);
    if (!server) {
      const c = this.config;
      const m = this.#material!;
      // Options, not a prebuilt secureContext: tls.Server builds its own context from them.
      server = tls.createServer({
        ...m.options,
        // Envoy asks for a client certificate whenever it can verify one; requiring it and
        // judging the result happen after the handshake, so each failure is counted by kind.
        requestCert: m.validation.ca !== undefined || c.requireClientCertificate,
        rejectUnauthorized: false,
        ALPNProtocols: key ? undefined : [...c.alpn],
        handshakeTimeout: c.handshakeTimeoutMs && c.handshakeTimeoutMs > 0 ? c.handshakeTimeoutMs : 120_000,
      });
      server.on('secureConnection', this.#onSecure);
      server.on('tlsClientError', this.#onClientError);
      this.#servers.set(key, server);
    }
    return server;
  }

  /**
   * Starts the handshake on `raw` (bytes already read must have been unshifted). `clientAlpn`
   * is the ALPN list tls_inspector saw, when it ran.
   */
  wrap(
    raw: net.Socket,
    stats: TlsStats,
    clientAlpn: readonly string[] | undefined,
    onSecure: (socket: tls.TLSSocket, info: DownstreamTlsInfo) => void,
    onFail: (reason: string) => void,
  ): void {
    const noAlpn = clientAlpn !== undefined && !clientAlpn.some((p) => this.config.alpn.includes(p));
    const server = this.#current(noAlpn);
    if (typeof server === 'string') {
      stats.connectionError.value++;
      onFail(server);
      return;
    }
    this.#pending.set(raw, { stats, validation: this.#validation, onSecure, onFail });
    raw.once('close', () => this.#pending.delete(raw));
    server.emit('connection', raw);
  }

  #take(t: tls.TLSSocket): [net.Socket, Pending] | undefined {
    // The TLS socket's transport (Node keeps it as _parent); the pending map is keyed by it.
    const raw = (t as unknown as { _parent?: net.Socket })._parent;
    const p = raw ? this.#pending.get(raw) : undefined;
    if (!raw || !p) return undefined;
    this.#pending.delete(raw);
    return [raw, p];
  }

  #onClientError = (err: Error & { code?: string }, t: tls.TLSSocket): void => {
    const e = this.#take(t);
    if (!e) {
      t.destroy();
      return;
    }
    const [, p] = e;
    p.stats.connectionError.value++;
    t.destroy();
    p.onFail(`TLS handshake failed: ${err.code ?? err.message}`);
  };

  #onSecure = (t: tls.TLSSocket): void => {
    const e = this.#take(t);
    if (!e) {
      t.destroy();
      return;
    }
    const [, p] = e;
    const fail = (counter: Counter, reason: string) => {
      counter.value++;
      t.destroy();
      p.onFail(reason);
    };
    const c = this.config;
    const sni = typeof t.servername === 'string' && t.servername !== '' ? t.servername : undefined;
    if (c.requireSni && sni === undefined) {
      fail(p.stats.failNoSni, 'the client sent no SNI (require_sni)');
      return;
    }
    const x = t.getPeerX509Certificate();
    let peer: PeerCertificateInfo | undefined;
    if (x === undefined) {
      p.stats.noCertificate.value++;
      if (c.requireClientCertificate) {
        fail(p.stats.failVerifyNoCert, 'no client certificate (require_client_certificate)');
        return;
      }
    } else {
      if (p.validation.ca !== undefined && !t.authorized) {
        fail(p.stats.failVerifyError, `client certificate rejected: ${t.authorizationError}`);
        return;
      }
      const check = checkPeerCertificate(p.validation, x);
      if (check === 'fail_verify_san') {
        fail(p.stats.failVerifySan, 'client certificate SANs match no subject alt name matcher');
        return;
      }
      if (check === 'fail_verify_cert_hash') {
        fail(p.stats.failVerifyCertHash, 'client certificate hash/SPKI matches no pin');
        return;
      }
      const sans = parseSans(x.subjectAltName ?? '');
      peer = {
        validated: p.validation.ca !== undefined && t.authorized,
        subject: x.subject,
        serialNumber: x.serialNumber,
        fingerprint256: x.fingerprint256,
        uriSans: sans.uri,
        dnsSans: sans.dns,
        principal: sans.uri.find((u) => u.startsWith('spiffe://')),
      };
    }
    p.stats.handshake.value++;
    p.onSecure(t, {
      version: t.getProtocol() ?? '',
      cipher: t.getCipher()?.name ?? '',
      sni,
      alpn: typeof t.alpnProtocol === 'string' ? t.alpnProtocol : undefined,
      peerCertificate: peer,
    });
  };
}

const EMPTY_STORE = { get: () => undefined, generation: 0 } as unknown as SecretStore;

function parseSans(text: string): { uri: string[]; dns: string[] } {
  const uri: string[] = [];
  const dns: string[] = [];
  for (const part of text.split(/,\s*/)) {
    if (part.startsWith('URI:')) uri.push(part.slice(4));
    else if (part.startsWith('DNS:')) dns.push(part.slice(4));
  }
  return { uri, dns };
}
