/**
 * TLS material as Envoy's protos describe it — TlsCertificate and CertificateValidationContext —
 * compiled into bytes and matchers, plus the peer-certificate checks Envoy applies after the
 * handshake (subject alt names, certificate hash, SPKI pin). Shared by inline configs and SDS
 * secrets; a field that would change verification and that Node cannot honour is an error.
 */
import { createHash, type X509Certificate } from 'node:crypto';
import type { ProtoReader } from '../config/proto.ts';
import { readDataSource } from '../config/proto.ts';
import { compileStringMatcher, type StringMatch } from '../matcher/string-matcher.ts';

export const SAN_DNS = 'DNS';
export const SAN_URI = 'URI';
export const SAN_IP = 'IP_ADDRESS';
export const SAN_EMAIL = 'EMAIL';

export interface SanMatcher {
  /** '' = any type (deprecated match_subject_alt_names). */
  readonly type: string;
  readonly matcher: StringMatch;
}

/** "DNS:a, URI:spiffe://x, IP Address:1.2.3.4" → typed list. */
export function parseSubjectAltNames(text: string): { type: string; value: string }[] {
  const out: { type: string; value: string }[] = [];
  for (const part of text.split(/,\s*/)) {
    const colon = part.indexOf(':');
    if (colon < 0) continue;
    const kind = part.slice(0, colon).trim();
    const value = part.slice(colon + 1).trim();
    const type =
      kind === 'DNS'
        ? SAN_DNS
        : kind === 'URI'
          ? SAN_URI
          : kind === 'IP Address'
            ? SAN_IP
            : kind === 'email'
              ? SAN_EMAIL
              : kind;
    out.push({ type, value });
  }
  return out;
}

export interface CertificateMaterial {
  readonly cert: Buffer | undefined;
  readonly key: Buffer | undefined;
  readonly passphrase: string | undefined;
}

export interface ValidationMaterial {
  readonly ca: Buffer | undefined;
  readonly crl: Buffer | undefined;
  readonly sanMatchers: readonly SanMatcher[];
  /** Lowercase hex without colons. */
  readonly certHashes: readonly string[];
  /** Base64 SHA-256 of the DER SubjectPublicKeyInfo. */
  readonly spkiPins: readonly string[];
}

export const EMPTY_VALIDATION: ValidationMaterial = {
  ca: undefined,
  crl: undefined,
  sanMatchers: [],
  certHashes: [],
  spkiPins: [],
};

/**
 * extensions.transport_sockets.tls.v3.TlsCertificate as given (either half may be missing; the
 * caller decides what a lone half means): the one reader for up- and downstream TLS.
 */
export function readTlsCertificate(cert: ProtoReader, readFile: (p: string) => Buffer): CertificateMaterial {
  const chain = cert.message('certificate_chain');
  const key = cert.message('private_key');
  const out = {
    cert: chain ? readDataSource(chain, readFile) : undefined,
    key: key ? readDataSource(key, readFile) : undefined,
    passphrase: undefined as string | undefined,
  };
  const pw = cert.message('password');
  if (pw) out.passphrase = readDataSource(pw, readFile)?.toString('utf8');
  for (const f of [
    'pkcs12',
    'watched_directory',
    'private_key_provider',
    'ocsp_staple',
    'signed_certificate_timestamp',
  ]) {
    cert.unsupported(f);
  }
  cert.done();
  return out;
}

/** A serving certificate (TlsCertificate): both the chain and the key are required. */
export function compileTlsCertificate(
  cert: ProtoReader,
  readFile: (p: string) => Buffer,
): CertificateMaterial {
  const out = readTlsCertificate(cert, readFile);
  if (cert.ctx.ok && (out.cert === undefined || out.key === undefined))
    cert.ctx.error(cert.path, 'a certificate needs both certificate_chain and private_key');
  return out;
}

const SAN_TYPES = ['SAN_TYPE_UNSPECIFIED', 'EMAIL', 'DNS', 'URI', 'IP_ADDRESS', 'OTHER_NAME'] as const;

/**
 * A CertificateValidationContext's match_typed_subject_alt_names and the deprecated
 * match_subject_alt_names (any SAN type): the one compiler for up- and downstream TLS.
 */
export function compileSanMatchers(v: ProtoReader): SanMatcher[] {
  const sanMatchers: SanMatcher[] = [];
  for (const m of v.messages('match_typed_subject_alt_names')) {
    const type = m.enumName('san_type', SAN_TYPES);
    if (type === 'SAN_TYPE_UNSPECIFIED' || type === 'OTHER_NAME')
      m.ctx.error(m.at('san_type'), `san_type ${type} is not supported`);
    const sm = m.message('matcher');
    const matcher = sm ? compileStringMatcher(sm) : undefined;
    m.unsupported('oid');
    m.done();
    if (matcher) sanMatchers.push({ type, matcher });
  }
  for (const sm of v.messages('match_subject_alt_names')) {
    const matcher = compileStringMatcher(sm);
    if (matcher) sanMatchers.push({ type: '', matcher });
  }
  return sanMatchers;
}

/** extensions.transport_sockets.tls.v3.CertificateValidationContext. */
export function compileCertificateValidationContext(
  v: ProtoReader,
  readFile: (p: string) => Buffer,
): ValidationMaterial {
  const caR = v.message('trusted_ca');
  const ca = caR ? readDataSource(caR, readFile) : undefined;
  const crlR = v.message('crl');
  const crl = crlR ? readDataSource(crlR, readFile) : undefined;
  const sanMatchers = compileSanMatchers(v);
  const certHashes = v.strings('verify_certificate_hash').map((h) => h.replace(/:/g, '').toLowerCase());
  certHashes.forEach((h, i) => {
    if (!/^[0-9a-f]{64}$/.test(h))
      v.ctx.error(`${v.at('verify_certificate_hash')}[${i}]`, 'expected a hex SHA-256 certificate hash');
  });
  const spkiPins = v.strings('verify_certificate_spki');
  spkiPins.forEach((p, i) => {
    if (Buffer.from(p, 'base64').length !== 32)
      v.ctx.error(`${v.at('verify_certificate_spki')}[${i}]`, 'expected a base64 SHA-256 SPKI hash');
  });
  const trust = v.enumName('trust_chain_verification', ['VERIFY_TRUST_CHAIN', 'ACCEPT_UNTRUSTED'] as const);
  if (trust !== 'VERIFY_TRUST_CHAIN')
    v.ctx.error(v.at('trust_chain_verification'), 'ACCEPT_UNTRUSTED is not supported');
  const reasons: Record<string, string> = {
    ca_certificate_provider_instance: 'certificate provider instances are not supported',
    system_root_certs: 'system root certificates are not supported; give trusted_ca',
    watched_directory: 'watched directories are not supported',
    require_signed_certificate_timestamp: 'signed certificate timestamps are not supported',
    allow_expired_certificate: 'accepting expired certificates is not supported',
    custom_validator_config: 'custom certificate validators are not supported',
    only_verify_leaf_cert_crl: 'leaf-only CRL checks are not supported',
    max_verify_depth: 'max_verify_depth is not supported',
  };
  for (const [f, why] of Object.entries(reasons)) v.unsupported(f, why);
  v.done();
  if (crl !== undefined && ca === undefined)
    v.ctx.error(v.at('crl'), 'a CRL needs trusted_ca (Envoy: CRLs apply to the trusted chain)');
  return { ca, crl, sanMatchers, certHashes, spkiPins };
}

/** Merges a default validation context with one from SDS (Envoy's combined_validation_context). */
export function mergeValidation(base: ValidationMaterial, sds: ValidationMaterial): ValidationMaterial {
  return {
    ca: sds.ca ?? base.ca,
    crl: sds.crl ?? base.crl,
    sanMatchers: [...base.sanMatchers, ...sds.sanMatchers],
    certHashes: [...base.certHashes, ...sds.certHashes],
    spkiPins: [...base.spkiPins, ...sds.spkiPins],
  };
}

export type PeerCheck = 'ok' | 'fail_verify_san' | 'fail_verify_cert_hash';

/** Envoy's post-handshake checks of a presented peer certificate. */
export function checkPeerCertificate(v: ValidationMaterial, cert: X509Certificate): PeerCheck {
  if (v.certHashes.length > 0 || v.spkiPins.length > 0) {
    // A match in either list accepts the certificate (Envoy).
    const hash = cert.fingerprint256.replace(/:/g, '').toLowerCase();
    let ok = v.certHashes.includes(hash);
    if (!ok && v.spkiPins.length > 0) {
      const spki = createHash('sha256')
        .update(cert.publicKey.export({ type: 'spki', format: 'der' }))
        .digest('base64');
      ok = v.spkiPins.includes(spki);
    }
    if (!ok) return 'fail_verify_cert_hash';
  }
  if (v.sanMatchers.length > 0) {
    const sans = parseSubjectAltNames(cert.subjectAltName ?? '');
    const ok = v.sanMatchers.some((m) =>
      sans.some((s) => (m.type === '' || m.type === s.type) && m.matcher.match(s.value)),
    );
    if (!ok) return 'fail_verify_san';
  }
  return 'ok';
}
