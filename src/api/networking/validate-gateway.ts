/**
 * Gateway semantic rules (Istio's validating webhook: ValidateGateway, validateServer and
 * validateTLSOptions, plus the CRD's limits), and the rules Gateway, Sidecar, ServiceEntry and
 * WorkloadEntry share: `namespace/host` entries, port protocols and names, unix domain socket
 * addresses, IP binds, `labels` selectors. Host name syntax itself is in common/validators.ts.
 */
import {
  isIpAddress,
  isIstioDnsLabel,
  validateLabels,
  validatePort,
  wildcardDomainError,
} from '../common/validators.ts';
import type { SemanticContext } from '../schema/kind.ts';
import { type FieldPath, type Issues, show } from '../validation.ts';
import type { Gateway, GatewayServer, ServerTlsSettings } from './gateway.ts';

// ---------------------------------------------------------------------------------------------
// Names shared by the networking kinds (host names themselves: common/validators.ts).

/** `*foo.com` or `foo.*.com`: a `*` that is neither the whole host nor a leading `*.` label. */
export function isPartialWildcard(host: string): boolean {
  return host.includes('*') && host !== '*' && !host.startsWith('*.');
}

export const UNIX_PREFIX = 'unix://';

/** Why a unix socket path (after `unix://`) is unusable: absolute file path or `@abstract`. */
export function unixAddressProblem(socket: string): string | undefined {
  if (socket === '') return 'the socket path is empty';
  if (socket.startsWith('@')) return undefined; // Linux abstract socket
  if (!socket.startsWith('/')) return `${show(socket)} is not an absolute path`;
  if (socket.endsWith('/')) return `${show(socket)} is a directory, not a socket file`;
  return undefined;
}

/** Checks a `unix://...` address and reports it at `path`. */
export function validateUnixAddress(address: string, path: FieldPath, issues: Issues): boolean {
  const problem = unixAddressProblem(address.slice(UNIX_PREFIX.length));
  if (problem) issues.error(path, `${show(address)} is not a valid unix domain socket address: ${problem}`);
  return problem === undefined;
}

/** Port protocols Istio knows (pkg/config/protocol), keyed by lower case: parsing ignores case. */
const PROTOCOLS = {
  tcp: 'TCP',
  udp: 'UDP',
  grpc: 'GRPC',
  'grpc-web': 'GRPC-Web',
  http: 'HTTP',
  http_proxy: 'HTTP_PROXY',
  http2: 'HTTP2',
  https: 'HTTPS',
  tls: 'TLS',
  mongo: 'Mongo',
  redis: 'Redis',
  mysql: 'MySQL',
} as const;
export type Protocol = (typeof PROTOCOLS)[keyof typeof PROTOCOLS];
export const PROTOCOL_NAMES =
  'HTTP, HTTPS, HTTP2, GRPC, GRPC-WEB, TCP, TLS, MONGO, REDIS, MYSQL, UDP, HTTP_PROXY';

/** The canonical protocol for a port's `protocol` string (case-insensitive), or undefined. */
export function parseProtocol(s: string | undefined): Protocol | undefined {
  if (s === undefined) return undefined;
  const key = s.toLowerCase();
  return Object.hasOwn(PROTOCOLS, key) ? PROTOCOLS[key as keyof typeof PROTOCOLS] : undefined;
}

export function isHttpProtocol(p: Protocol | undefined): boolean {
  return p === 'HTTP' || p === 'HTTP2' || p === 'HTTP_PROXY' || p === 'GRPC' || p === 'GRPC-Web';
}

/** Protocols carried over TLS (the proxy sees SNI). */
export function isTlsProtocol(p: Protocol | undefined): boolean {
  return p === 'HTTPS' || p === 'TLS';
}

/** Protocols that are opaque TCP to the proxy once past any TLS. */
export function isTcpProtocol(p: Protocol | undefined): boolean {
  return p === 'TCP' || p === 'HTTPS' || p === 'TLS' || p === 'Mongo' || p === 'Redis' || p === 'MySQL';
}

/** A port's `protocol`: empty means "detect"; anything else must be a protocol Istio knows. */
export function validateProtocol(protocol: string | undefined, path: FieldPath, issues: Issues): boolean {
  if (protocol === undefined || protocol === '' || parseProtocol(protocol)) return true;
  issues.error(path, `${show(protocol)} is not a supported protocol; use one of ${PROTOCOL_NAMES}`);
  return false;
}

/** Port names are DNS labels (Istio's ValidatePortName). */
export function validatePortName(name: string, path: FieldPath, issues: Issues): boolean {
  if (isIstioDnsLabel(name)) return true;
  issues.error(
    path,
    `${show(name)} is not a valid port name: letters, digits and '-', at most 63 characters, starting and ending with a letter or digit`,
  );
  return false;
}

export function validateIpAddress(value: string, path: FieldPath, issues: Issues): boolean {
  if (isIpAddress(value)) return true;
  issues.error(path, `${show(value)} is not a valid IP address`);
  return false;
}

/** Reports more than `max` entries (the CRD's maxItems, enforced by the Kubernetes API server). */
export function validateMaxItems(
  list: readonly unknown[] | undefined,
  max: number,
  path: FieldPath,
  issues: Issues,
): boolean {
  if (!list || list.length <= max) return true;
  issues.error(path, `${list.length} entries are too many; at most ${max} are allowed`);
  return false;
}

/** Reports a string longer than `max` (the CRD's maxLength). */
export function validateMaxLength(
  value: string | undefined,
  max: number,
  path: FieldPath,
  issues: Issues,
): boolean {
  if (value === undefined || value.length <= max) return true;
  issues.error(path, `the value is ${value.length} characters long; at most ${max} are allowed`);
  return false;
}

/**
 * istio.networking.v1alpha3.WorkloadSelector (`labels`, used by ServiceEntry and Sidecar): the
 * same rules as common/validators.ts validateSelectorLabels applies to `matchLabels`.
 */
export function validateWorkloadSelectorLabels(
  labels: Readonly<Record<string, string>> | undefined,
  path: FieldPath,
  issues: Issues,
): boolean {
  let ok = true;
  const all = labels ?? {};
  for (const [key, value] of Object.entries(all)) {
    const where = [...path, 'labels', key];
    if (key === '') {
      issues.error(where, 'a selector label key must not be empty');
      ok = false;
    } else if (key.includes('*') || value.includes('*')) {
      issues.error(where, `wildcards are not supported in selectors (${show(`${key}=${value}`)})`);
      ok = false;
    }
  }
  if (ok && !validateLabels(all, [...path, 'labels'], issues)) ok = false;
  if (Object.keys(all).length === 0) {
    issues.warn(path, 'the selector has no labels, so it selects every workload in the namespace');
  }
  return ok;
}

/**
 * A host entry in `namespace/dnsName` form (Gateway servers, Sidecar egress listeners; Istio's
 * ValidateNamespaceSlashWildcardHostname). Gateways also accept a bare `dnsName` (meaning
 * `* /dnsName`) and an IP address as the dnsName; Sidecars also accept `~` as the namespace.
 */
export function validateNamespacedHost(
  entry: string,
  owner: 'Gateway' | 'Sidecar',
  path: FieldPath,
  issues: Issues,
): boolean {
  const slash = entry.indexOf('/');
  if (slash < 0 && owner === 'Sidecar') {
    issues.error(
      path,
      `${show(entry)} must be of the form namespace/dnsName (for example "./${entry}" or "*/${entry}")`,
    );
    return false;
  }
  const namespace = slash < 0 ? '*' : entry.slice(0, slash);
  const host = slash < 0 ? entry : entry.slice(slash + 1);
  // Name the whole entry only when it differs from the host part.
  const prefix = slash < 0 ? '' : `${show(entry)}: `;
  if (slash >= 0 && (namespace === '' || host === '')) {
    issues.error(path, `${prefix}the namespace and the dnsName must not be empty`);
    return false;
  }
  const specials = owner === 'Sidecar' ? ['*', '.', '~'] : ['*', '.'];
  if (!specials.includes(namespace) && !isIstioDnsLabel(namespace)) {
    issues.error(
      path,
      `${prefix}${show(namespace)} is not a valid namespace; use ${specials.map((s) => show(s)).join(', ')} or a namespace name`,
    );
    return false;
  }
  if (host !== '*' && !host.includes('.')) {
    issues.error(
      path,
      `${prefix}short name ${show(host)} is not allowed; use a fully qualified name (such as ${show(`${host}.default.svc.cluster.local`)}) or "*"`,
    );
    return false;
  }
  const problem = wildcardDomainError(host);
  if (problem && !(owner === 'Gateway' && isIpAddress(host))) {
    issues.error(path, `${prefix}${problem}`);
    return false;
  }
  if (isPartialWildcard(host)) {
    issues.error(
      path,
      `${prefix}partial wildcard ${show(host)} is not allowed; a wildcard must be the whole name ("*") or the leftmost label ("*.example.com")`,
    );
    return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// ServerTLSSettings (Gateway servers and Sidecar ingress listeners).

/** Cipher suites Envoy (BoringSSL) accepts in `cipherSuites`; others are dropped by Istio. */
const VALID_CIPHER_SUITES = new Set([
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
  'ECDHE-ECDSA-AES128-SHA',
  'ECDHE-RSA-AES128-SHA',
  'ECDHE-ECDSA-AES256-SHA',
  'ECDHE-RSA-AES256-SHA',
  'AES128-GCM-SHA256',
  'AES256-GCM-SHA384',
  'AES128-SHA',
  'AES256-SHA',
  'DES-CBC3-SHA',
]);

function isValidCipherSuite(cs: string): boolean {
  // "ALL" and expressions starting with an operator ("-AES128-SHA", "+...", "!...") pass through
  // to BoringSSL, as Istio lets them.
  if (cs === '' || cs === 'ALL' || !/^[\p{L}\p{N}]/u.test(cs)) return true;
  return VALID_CIPHER_SUITES.has(cs);
}

const TLS_VERSION_ORDER = ['TLSV1_0', 'TLSV1_1', 'TLSV1_2', 'TLSV1_3'];

/** base64 of a SHA-256 digest: 32 bytes, so 44 characters ending in one '='. */
function isSpkiHash(s: string): boolean {
  return /^[A-Za-z0-9+/]{43}=$/.test(s);
}

/** hex SHA-256, plain or colon separated ("AB:CD:..."), as Envoy accepts it. */
function isCertificateHash(s: string): boolean {
  return /^[0-9A-Fa-f]{64}$/.test(s) || /^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){31}$/.test(s);
}

/**
 * Istio's validateTLSOptions: mode versus certificate sources, protocol versions and ciphers.
 * Istio treats an unset mode as PASSTHROUGH (the enum's zero value), and so does this.
 */
export function validateServerTlsSettings(tls: ServerTlsSettings, path: FieldPath, issues: Issues): void {
  const mode = tls.mode ?? 'PASSTHROUGH';
  const modeName = tls.mode ?? 'PASSTHROUGH (the default when mode is not set)';
  const min = tls.minProtocolVersion;
  const max = tls.maxProtocolVersion;
  if ((min === 'TLSV1_0' || min === 'TLSV1_1') && !tls.cipherSuites?.length) {
    issues.warn(
      [...path, 'minProtocolVersion'],
      `${min} needs cipherSuites: the default cipher list has no cipher usable below TLSV1_2`,
    );
  }
  if (min && max && TLS_VERSION_ORDER.indexOf(min) > TLS_VERSION_ORDER.indexOf(max) && max !== 'TLS_AUTO') {
    issues.error(
      [...path, 'minProtocolVersion'],
      `minProtocolVersion ${min} is higher than maxProtocolVersion ${max}`,
    );
  }
  const seenCiphers = new Set<string>();
  tls.cipherSuites?.forEach((cs, i) => {
    if (!isValidCipherSuite(cs)) {
      issues.warn(
        [...path, 'cipherSuites', i],
        `${show(cs)} is not a cipher suite Envoy supports; it is ignored`,
      );
    } else if (seenCiphers.has(cs)) {
      issues.warn([...path, 'cipherSuites', i], `duplicate cipher suite ${show(cs)} is ignored`);
    }
    seenCiphers.add(cs);
  });
  tls.verifyCertificateSpki?.forEach((s, i) => {
    if (!isSpkiHash(s)) {
      issues.error(
        [...path, 'verifyCertificateSpki', i],
        `${show(s)} is not a base64-encoded SHA-256 hash (44 characters ending in "=")`,
      );
    }
  });
  tls.verifyCertificateHash?.forEach((s, i) => {
    if (!isCertificateHash(s)) {
      issues.error(
        [...path, 'verifyCertificateHash', i],
        `${show(s)} is not a hex-encoded SHA-256 hash (64 hex digits, optionally in colon-separated pairs)`,
      );
    }
  });
  // The CRD allows one or two (an RSA and an ECDSA certificate), not an empty list.
  for (const key of ['credentialNames', 'tlsCertificates'] as const) {
    const list = tls[key];
    if (list?.length === 0)
      issues.error([...path, key], `${key} must not be empty when set; remove it or name a certificate`);
    validateMaxItems(list, 2, [...path, key], issues);
  }

  const hasCredentialNames = (tls.credentialNames?.length ?? 0) > 0;
  const hasTlsCertificates = (tls.tlsCertificates?.length ?? 0) > 0;
  if (mode === 'ISTIO_MUTUAL') {
    // The proxy presents its own Istio-issued certificate; any other source is a mistake.
    const forbidden: [keyof ServerTlsSettings, boolean][] = [
      ['serverCertificate', !!tls.serverCertificate],
      ['privateKey', !!tls.privateKey],
      ['caCertificates', !!tls.caCertificates],
      ['tlsCertificates', hasTlsCertificates],
      ['credentialName', !!tls.credentialName],
      ['credentialNames', hasCredentialNames],
    ];
    for (const [field, set] of forbidden) {
      if (set) {
        issues.error(
          [...path, field],
          `${field} cannot be set with mode ISTIO_MUTUAL, which uses the proxy's Istio-issued certificate`,
        );
      }
    }
    return;
  }
  if (mode === 'PASSTHROUGH' || mode === 'AUTO_PASSTHROUGH') {
    if (
      tls.caCrl ||
      tls.serverCertificate ||
      tls.privateKey ||
      tls.caCertificates ||
      hasTlsCertificates ||
      tls.credentialName ||
      hasCredentialNames
    ) {
      issues.warn(path, `mode ${modeName} does not terminate TLS; the certificate settings are ignored`);
    }
  }
  const sources: string[] = [];
  if (tls.serverCertificate && tls.privateKey) sources.push('serverCertificate/privateKey');
  if (tls.credentialName) sources.push('credentialName');
  if (hasCredentialNames) sources.push('credentialNames');
  if (hasTlsCertificates) sources.push('tlsCertificates');
  if (sources.length > 1) {
    issues.error(
      path,
      `only one of credentialName, credentialNames, serverCertificate/privateKey and tlsCertificates may be set (found ${sources.join(' and ')})`,
    );
  }
  const terminating = mode === 'SIMPLE' || mode === 'MUTUAL' || mode === 'OPTIONAL_MUTUAL';
  // Credentials fetched by name (a Kubernetes secret) carry the certificate, key, CA and CRL.
  if (terminating && (tls.credentialName || hasCredentialNames)) {
    if (tls.caCrl && tls.credentialName) {
      // Istio accepts this and the file is not used: the CRL comes from the credential.
      issues.warn(
        [...path, 'caCrl'],
        'caCrl is ignored with credentialName; put the CRL in the credential (key "ca.crl")',
      );
    }
    return;
  }
  if (terminating) {
    const mutual = mode !== 'SIMPLE';
    if (mutual && !tls.caCertificates && !tls.caCertCredentialName) {
      issues.error(
        [...path, 'caCertificates'],
        `mode ${mode} requires caCertificates (or caCertCredentialName or credentialName) to verify client certificates`,
      );
    }
    if (hasTlsCertificates) {
      tls.tlsCertificates?.forEach((cert, i) => {
        if (!cert.serverCertificate) {
          issues.error(
            [...path, 'tlsCertificates', i, 'serverCertificate'],
            `mode ${mode} requires serverCertificate`,
          );
        }
        if (!cert.privateKey) {
          issues.error([...path, 'tlsCertificates', i, 'privateKey'], `mode ${mode} requires privateKey`);
        }
      });
    } else if (!tls.serverCertificate && !tls.privateKey) {
      issues.error(
        path,
        `mode ${mode} needs a server certificate: set credentialName, credentialNames, tlsCertificates, or serverCertificate and privateKey`,
      );
    } else if (!tls.serverCertificate) {
      issues.error(
        [...path, 'serverCertificate'],
        `mode ${mode} requires serverCertificate along with privateKey`,
      );
    } else if (!tls.privateKey) {
      issues.error([...path, 'privateKey'], `mode ${mode} requires privateKey along with serverCertificate`);
    }
  }
  if (tls.caCrl) {
    if (tls.credentialName) {
      issues.error(
        [...path, 'caCrl'],
        'caCrl cannot be used with credentialName; put the CRL in the credential (key "ca.crl")',
      );
    }
    if (mode === 'SIMPLE') {
      issues.error(
        [...path, 'caCrl'],
        'caCrl cannot be used with mode SIMPLE, which does not verify client certificates',
      );
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Gateway.

export function validateGateway(spec: Gateway, ctx: SemanticContext): void {
  const { issues, path, meta } = ctx;
  // Gateways are referenced as `namespace/name` from VirtualServices: the name is one DNS label.
  if (!isIstioDnsLabel(meta.name)) {
    issues.error(
      ['metadata', 'name'],
      `${show(meta.name)} is not a valid Gateway name: it must be a DNS label (letters, digits and '-', no dots)`,
    );
  }
  const servers = spec.servers ?? [];
  if (servers.length === 0) {
    issues.error([...path, 'servers'], 'a Gateway needs at least one server');
    return;
  }
  const portNames = new Map<string, number>();
  const serverNames = new Map<string, number>();
  servers.forEach((server, i) => {
    const at = [...path, 'servers', i];
    validateServer(server, at, issues);
    const portName = server.port.name;
    const first = portNames.get(portName);
    if (first !== undefined) {
      issues.error(
        [...at, 'port', 'name'],
        `duplicate port name ${show(portName)} (also used by servers[${first}]); port names must be unique across servers`,
      );
    } else portNames.set(portName, i);
    if (server.name !== undefined) {
      const firstName = serverNames.get(server.name);
      if (firstName !== undefined) {
        issues.error(
          [...at, 'name'],
          `duplicate server name ${show(server.name)} (also used by servers[${firstName}]); server names must be unique`,
        );
      } else serverNames.set(server.name, i);
    }
    if (server.tls?.httpsRedirect && !isHttpProtocol(parseProtocol(server.port.protocol))) {
      issues.warn(
        [...at, 'tls', 'httpsRedirect'],
        `httpsRedirect only applies to HTTP servers, not protocol ${show(server.port.protocol)}`,
      );
    }
  });
}

function validateServer(server: GatewayServer, at: FieldPath, issues: Issues): void {
  if (server.hosts.length === 0) issues.error([...at, 'hosts'], 'a server needs at least one host');
  server.hosts.forEach((h, j) => {
    validateNamespacedHost(h, 'Gateway', [...at, 'hosts', j], issues);
  });
  const { port } = server;
  const bind = server.bind ?? '';
  const unixBind = bind.startsWith(UNIX_PREFIX);
  let portOk = true;
  const protocol = parseProtocol(port.protocol);
  if (!protocol) {
    issues.error(
      [...at, 'port', 'protocol'],
      `${show(port.protocol)} is not a supported protocol; use one of ${PROTOCOL_NAMES}`,
    );
    portOk = false;
  }
  // A server bound to a unix domain socket has port number 0.
  if (!(unixBind && port.number === 0))
    portOk = validatePort(port.number, [...at, 'port', 'number'], issues) && portOk;
  if (port.targetPort !== undefined && port.targetPort > 0) {
    issues.error([...at, 'port', 'targetPort'], 'targetPort has no effect on a Gateway server; remove it');
    portOk = false;
  }
  if (port.name === '') {
    issues.error([...at, 'port', 'name'], 'port name must not be empty');
    portOk = false;
  }
  if (unixBind) {
    validateUnixAddress(bind, [...at, 'bind'], issues);
    if (port.number !== 0) {
      issues.error(
        [...at, 'port', 'number'],
        `port number must be 0 when bind is a unix domain socket (got ${port.number})`,
      );
    }
  } else if (bind !== '') {
    validateIpAddress(bind, [...at, 'bind'], issues);
  }
  if (server.defaultEndpoint !== undefined) {
    issues.warn(
      [...at, 'defaultEndpoint'],
      'defaultEndpoint is not implemented for Gateway servers and is ignored',
    );
  }
  if (server.tls) validateServerTlsSettings(server.tls, [...at, 'tls'], issues);
  if (!portOk) return;
  if (isTlsProtocol(protocol) && !server.tls) {
    issues.error([...at, 'tls'], `a server with protocol ${port.protocol} needs tls settings`);
  } else if (
    protocol === 'HTTPS' &&
    (server.tls?.mode === 'PASSTHROUGH' || server.tls?.mode === 'AUTO_PASSTHROUGH')
  ) {
    // Istio then builds the server like protocol TLS: VirtualService http routes never apply.
    issues.warn(
      [...at, 'tls', 'mode'],
      `mode ${server.tls.mode} does not terminate TLS, so this HTTPS server is routed like protocol TLS (by SNI, with tls routes); http routes do not apply`,
    );
  } else if (!isTlsProtocol(protocol) && server.tls) {
    const tls = server.tls;
    if (isHttpProtocol(protocol)) {
      // Only httpsRedirect makes sense on plain-text HTTP; a passthrough mode (the default)
      // without certificates is how that is written.
      const passthrough = (tls.mode ?? 'PASSTHROUGH') === 'PASSTHROUGH' || tls.mode === 'AUTO_PASSTHROUGH';
      if (!passthrough || tls.caCertificates || tls.privateKey || tls.serverCertificate) {
        issues.error(
          [...at, 'tls'],
          `a plain-text ${port.protocol} server cannot terminate TLS; only tls.httpsRedirect is allowed (use protocol HTTPS to serve TLS)`,
        );
      }
    } else {
      issues.error(
        [...at, 'tls'],
        `a server with protocol ${port.protocol} cannot have tls settings; use protocol TLS or HTTPS`,
      );
    }
  }
}
