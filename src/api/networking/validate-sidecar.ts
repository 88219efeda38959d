/**
 * Sidecar semantic rules (Istio's ValidateSidecar): ingress listener ports, binds, default
 * endpoints and TLS; egress listener ports, unix sockets, capture modes and `namespace/host`
 * entries; the outbound traffic policy's egress proxy; connection pools.
 */
import { fqdnError, validatePort } from '../common/validators.ts';
import type { SemanticContext } from '../schema/kind.ts';
import { type FieldPath, type Issues, show } from '../validation.ts';
import type { ServerTlsSettings } from './gateway.ts';
import { validateConnectionPool, validateDestination } from './shared.ts';
import type { IstioEgressListener, IstioIngressListener, OutboundTrafficPolicy, Sidecar } from './sidecar.ts';
import {
  isHttpProtocol,
  isTlsProtocol,
  parseProtocol,
  UNIX_PREFIX,
  validateIpAddress,
  validateNamespacedHost,
  validatePortName,
  validateProtocol,
  validateServerTlsSettings,
  validateUnixAddress,
  validateWorkloadSelectorLabels,
} from './validate-gateway.ts';

export function validateSidecar(spec: Sidecar, ctx: SemanticContext): void {
  const { issues, path, meta } = ctx;
  if (spec.workloadSelector) {
    validateWorkloadSelectorLabels(spec.workloadSelector.labels, [...path, 'workloadSelector'], issues);
  }
  const ingress = spec.ingress ?? [];
  const egress = spec.egress ?? [];
  if (
    ingress.length === 0 &&
    egress.length === 0 &&
    !spec.outboundTrafficPolicy &&
    !spec.inboundConnectionPool
  ) {
    issues.error(
      path,
      'a Sidecar must set at least one of ingress, egress, outboundTrafficPolicy or inboundConnectionPool',
    );
    return;
  }

  const ingressPorts = new Map<number, number>();
  ingress.forEach((listener, i) => {
    const at = [...path, 'ingress', i];
    validateIngressListener(listener, at, issues);
    const n = listener.port.number;
    if (n === undefined) return;
    const first = ingressPorts.get(n);
    if (first !== undefined) {
      issues.error([...at, 'port', 'number'], `duplicate ingress port ${n} (also used by ingress[${first}])`);
    } else ingressPorts.set(n, i);
  });
  if (spec.inboundConnectionPool) {
    validateConnectionPool(spec.inboundConnectionPool, [...path, 'inboundConnectionPool'], issues);
  }

  const egressPorts = new Map<number, number>();
  const sockets = new Map<string, number>();
  egress.forEach((listener, i) => {
    const at = [...path, 'egress', i];
    if (!listener.port) {
      // A listener without a port catches what the listeners with ports did not.
      if (i !== egress.length - 1) {
        issues.error(
          at,
          `an egress listener without a port catches all remaining traffic and must be the last listener (this is ${i + 1} of ${egress.length})`,
        );
      }
      validateCatchAllBind(listener, at, issues);
    } else {
      validateEgressPort(listener, at, issues);
      const n = listener.port.number ?? 0;
      const bind = listener.bind ?? '';
      if (n === 0) {
        const first = sockets.get(bind);
        if (first !== undefined) {
          issues.error(
            [...at, 'bind'],
            `duplicate unix domain socket ${show(bind)} (also used by egress[${first}])`,
          );
        } else sockets.set(bind, i);
      } else {
        const first = egressPorts.get(n);
        if (first !== undefined) {
          issues.error(
            [...at, 'port', 'number'],
            `duplicate egress port ${n} (also used by egress[${first}])`,
          );
        } else egressPorts.set(n, i);
      }
    }
    validateEgressHosts(listener.hosts, meta.namespace, [...at, 'hosts'], issues);
  });

  if (spec.outboundTrafficPolicy) {
    validateOutboundTrafficPolicy(spec.outboundTrafficPolicy, [...path, 'outboundTrafficPolicy'], issues);
  }
}

function validateListenerPort(
  port: { number?: number; protocol?: string; name?: string; targetPort?: number },
  at: FieldPath,
  issues: Issues,
): void {
  if (port.targetPort !== undefined && port.targetPort > 0) {
    issues.error([...at, 'port', 'targetPort'], 'targetPort has no effect on a Sidecar listener; remove it');
  }
  if (port.name) validatePortName(port.name, [...at, 'port', 'name'], issues);
  validateProtocol(port.protocol, [...at, 'port', 'protocol'], issues);
}

function validateIngressListener(listener: IstioIngressListener, at: FieldPath, issues: Issues): void {
  const { port } = listener;
  validateListenerPort(port, at, issues);
  if (port.number === undefined) issues.error([...at, 'port', 'number'], 'number is required');
  else validatePort(port.number, [...at, 'port', 'number'], issues);
  if (listener.bind) validateIpAddress(listener.bind, [...at, 'bind'], issues);
  if (listener.defaultEndpoint !== undefined && listener.defaultEndpoint !== '') {
    validateDefaultEndpoint(listener.defaultEndpoint, [...at, 'defaultEndpoint'], issues);
  }
  const protocol = parseProtocol(port.protocol);
  if (listener.tls) {
    const tls = listener.tls;
    const tlsAt = [...at, 'tls'];
    // The sidecar terminates TLS with files on the workload; secrets, redirects and SAN checks
    // are gateway features.
    if (tls.subjectAltNames?.length) {
      issues.error([...tlsAt, 'subjectAltNames'], 'subjectAltNames is not supported in Sidecar ingress TLS');
    }
    if (tls.httpsRedirect) {
      issues.error([...tlsAt, 'httpsRedirect'], 'httpsRedirect is not supported in Sidecar ingress TLS');
    }
    if (tls.credentialName) {
      issues.error(
        [...tlsAt, 'credentialName'],
        'credentialName is not supported in Sidecar ingress TLS; use serverCertificate and privateKey files',
      );
    }
    if (tls.credentialNames?.length) {
      issues.error(
        [...tlsAt, 'credentialNames'],
        'credentialNames is not supported in Sidecar ingress TLS; use serverCertificate and privateKey files',
      );
    }
    if (tls.tlsCertificates?.length) {
      issues.error(
        [...tlsAt, 'tlsCertificates'],
        'tlsCertificates is not supported in Sidecar ingress TLS; use serverCertificate and privateKey files',
      );
    }
    if (tls.caCertCredentialName) {
      issues.warn(
        [...tlsAt, 'caCertCredentialName'],
        'caCertCredentialName is not supported in Sidecar ingress TLS and is ignored; use caCertificates',
      );
    }
    if (tls.mode === 'ISTIO_MUTUAL' || tls.mode === 'AUTO_PASSTHROUGH') {
      issues.error([...tlsAt, 'mode'], `mode ${tls.mode} cannot be used in Sidecar ingress TLS`);
    } else if ((tls.mode ?? 'PASSTHROUGH') === 'PASSTHROUGH' && !hasCertificateSettings(tls)) {
      // (With certificate settings, validateServerTlsSettings already warns that they are ignored.)
      issues.warn(
        tls.mode ? [...tlsAt, 'mode'] : tlsAt,
        `mode ${tls.mode ?? 'PASSTHROUGH (the default when mode is not set)'} does not apply to Sidecar ingress listeners; TLS is not terminated`,
      );
    }
    if (!isTlsProtocol(protocol)) {
      issues.error(
        tlsAt,
        `a listener with protocol ${port.protocol ? show(port.protocol) : 'not set'} cannot have tls settings; use protocol HTTPS or TLS`,
      );
    }
    validateServerTlsSettings(tls, tlsAt, issues);
  }
  if (listener.connectionPool) {
    validateConnectionPool(listener.connectionPool, [...at, 'connectionPool'], issues);
    if (listener.connectionPool.http && !isHttpProtocol(protocol)) {
      issues.warn(
        [...at, 'connectionPool', 'http'],
        `HTTP connection pool settings do not apply to port ${port.number ?? 0} (protocol ${port.protocol ? show(port.protocol) : 'not set'}); only the TCP settings are used`,
      );
    }
  }
}

function hasCertificateSettings(tls: ServerTlsSettings): boolean {
  return !!(
    tls.caCrl ||
    tls.serverCertificate ||
    tls.privateKey ||
    tls.caCertificates ||
    tls.credentialName ||
    tls.credentialNames?.length ||
    tls.tlsCertificates?.length
  );
}

const DEFAULT_ENDPOINT_HOSTS = new Set(['', '127.0.0.1', '0.0.0.0', '::1', '::']);
const DEFAULT_ENDPOINT_FORMS = '127.0.0.1:PORT, 0.0.0.0:PORT, [::1]:PORT, [::]:PORT, :PORT or unix:///path';

/** Go's net.SplitHostPort: `host:port`, `[v6]:port`; undefined when malformed. */
function splitHostPort(s: string): { host: string; port: string } | undefined {
  if (s.startsWith('[')) {
    const end = s.indexOf(']');
    if (end < 0 || s[end + 1] !== ':') return undefined;
    const port = s.slice(end + 2);
    return port.includes(':') ? undefined : { host: s.slice(1, end), port };
  }
  const colon = s.lastIndexOf(':');
  if (colon < 0 || s.slice(0, colon).includes(':')) return undefined;
  return { host: s.slice(0, colon), port: s.slice(colon + 1) };
}

function validateDefaultEndpoint(value: string, path: FieldPath, issues: Issues): void {
  if (value.startsWith(UNIX_PREFIX)) {
    validateUnixAddress(value, path, issues);
    return;
  }
  const hp = splitHostPort(value);
  if (!hp || !DEFAULT_ENDPOINT_HOSTS.has(hp.host)) {
    issues.error(path, `${show(value)} is not a valid defaultEndpoint; use ${DEFAULT_ENDPOINT_FORMS}`);
    return;
  }
  if (!/^\d+$/.test(hp.port)) {
    issues.error(path, `${show(value)}: the port ${show(hp.port)} is not a number`);
    return;
  }
  const port = Number(hp.port);
  if (port < 1 || port > 65535) issues.error(path, `${show(value)}: ${port} is not a valid port (1-65535)`);
}

function validateEgressPort(listener: IstioEgressListener, at: FieldPath, issues: Issues): void {
  const port = listener.port!;
  validateListenerPort(port, at, issues);
  const bind = listener.bind ?? '';
  if ((port.number ?? 0) === 0) {
    // Port 0 is how a listener on a unix domain socket is written.
    if (!bind.startsWith(UNIX_PREFIX)) {
      issues.error(
        [...at, 'bind'],
        'a listener with port number 0 must bind a unix domain socket (unix:///path or unix://@name)',
      );
    } else validateUnixAddress(bind, [...at, 'bind'], issues);
    if (listener.captureMode === 'IPTABLES') {
      issues.error(
        [...at, 'captureMode'],
        'captureMode must be DEFAULT or NONE for a unix domain socket listener',
      );
    }
    return;
  }
  validatePort(port.number!, [...at, 'port', 'number'], issues);
  if (bind.startsWith(UNIX_PREFIX)) {
    issues.error([...at, 'bind'], `a unix domain socket bind needs port number 0 (got ${port.number})`);
  } else if (bind !== '') validateIpAddress(bind, [...at, 'bind'], issues);
}

/** The catch-all listener has no port, so it cannot be a unix socket; its bind is an IP. */
function validateCatchAllBind(listener: IstioEgressListener, at: FieldPath, issues: Issues): void {
  const bind = listener.bind ?? '';
  if (bind.startsWith(UNIX_PREFIX)) {
    issues.error([...at, 'bind'], 'a unix domain socket bind needs a port with number 0');
  } else if (bind !== '') validateIpAddress(bind, [...at, 'bind'], issues);
}

function validateEgressHosts(
  hosts: readonly string[],
  namespace: string,
  path: FieldPath,
  issues: Issues,
): void {
  if (hosts.length === 0) {
    issues.error(path, 'an egress listener needs at least one host (namespace/dnsName)');
    return;
  }
  // Per namespace, the dnsNames seen so far, to warn about entries that add nothing.
  const byNamespace = new Map<string, Set<string>>();
  hosts.forEach((entry, i) => {
    const at = [...path, i];
    const slash = entry.indexOf('/');
    if (slash >= 0) {
      const ns = entry.slice(0, slash) === '.' ? namespace : entry.slice(0, slash);
      const host = entry.slice(slash + 1);
      const seen = byNamespace.get(ns) ?? new Set<string>();
      byNamespace.set(ns, seen);
      if (host !== '*' ? seen.has(host) || seen.has('*') : seen.size > 0) {
        issues.warn(at, `duplicate egress host ${show(entry)}: an earlier entry already covers it`);
      }
      seen.add(host);
    }
    validateNamespacedHost(entry, 'Sidecar', at, issues);
  });
  if (byNamespace.get('*')?.has('*') && byNamespace.size > 1) {
    issues.warn(path, '"*/*" already selects every host; the other entries add nothing');
  }
}

function validateOutboundTrafficPolicy(policy: OutboundTrafficPolicy, path: FieldPath, issues: Issues): void {
  const proxy = policy.egressProxy;
  if (!proxy) return;
  const at = [...path, 'egressProxy'];
  if (policy.mode !== 'ALLOW_ANY') {
    issues.error(
      at,
      `egressProxy requires mode ALLOW_ANY (mode is ${policy.mode ?? 'REGISTRY_ONLY, the default'})`,
    );
    return;
  }
  const hostProblem = fqdnError(proxy.host);
  if (hostProblem) {
    issues.error([...at, 'host'], hostProblem);
    return;
  }
  if (!proxy.port) {
    issues.error([...at, 'port'], 'port is required: the egress proxy is reached on an explicit port');
    return;
  }
  validateDestination(proxy, at, issues);
}
