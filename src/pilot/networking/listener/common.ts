/**
 * Small rules shared by the listener builders: addresses (IP or unix socket), whether a port
 * can be bound, Istio's listener protocol classes, stat prefixes, the proxy's interception mode
 * and idle timeout.
 */
import type { MeshConfig } from '../../../api/mesh/mesh-config.ts';
import { parseDuration } from '../../../lib/duration.ts';
import {
  isHttpProtocol,
  isTcpProtocol,
  isUnsupportedProtocol,
  type Protocol,
} from '../../../registry/protocol.ts';
import { STAT_PREFIX_DELIMITER, WILDCARD_ADDRESS } from '../../model/naming.ts';
import type { InterceptionMode, Proxy } from '../../model/proxy.ts';
import type { Proto } from './context.ts';

/** `unix:///path` or `unix://@abstract` binds (Istio's UnixAddressPrefix). */
export const UNIX_ADDRESS_PREFIX = 'unix://';

/** How a listener treats a port's traffic (Istio's ListenerProtocol). */
export type ListenerProtocol = 'HTTP' | 'TCP' | 'AUTO' | 'UNKNOWN';

export function listenerProtocol(p: Protocol): ListenerProtocol {
  if (isHttpProtocol(p)) return 'HTTP';
  if (isTcpProtocol(p)) return 'TCP';
  if (isUnsupportedProtocol(p)) return 'AUTO';
  return 'UNKNOWN';
}

/** Envoy Address for a bind and port: a pipe for unix sockets, else a socket address. */
export function buildAddress(bind: string, port: number): Proto {
  if (bind.startsWith(UNIX_ADDRESS_PREFIX)) return { pipe: { path: bind.slice(UNIX_ADDRESS_PREFIX.length) } };
  return { socket_address: { address: bind, port_value: port } };
}

export function interceptionMode(proxy: Proxy): InterceptionMode {
  return proxy.metadata.interceptionMode ?? 'REDIRECT';
}

export { isProxyless } from '../cluster/cluster-builder.ts';

/** Node metadata IDLE_TIMEOUT (Istio's ISTIO_META_IDLE_TIMEOUT), milliseconds. */
export function proxyIdleTimeoutMs(proxy: Proxy): number | undefined {
  const raw = proxy.metadata.raw.IDLE_TIMEOUT;
  return typeof raw === 'string' ? parseDuration(raw) : undefined;
}

/** Istio's delimited stat prefix: `outbound_0.0.0.0_9080;`. */
export function delimitedStatPrefix(prefix: string): string {
  return prefix + STAT_PREFIX_DELIMITER;
}

function isPrivilegedPort(port: number): boolean {
  return port > 0 && port < 1024;
}

/**
 * Whether the proxy may have a listener on bind:port (Istio's CanBindToPort): an unprivileged
 * proxy cannot bind ports below 1024, and a wildcard listener cannot take the ports of the
 * proxy's own listeners (status, Prometheus, 15001, 15006).
 */
export function canBindToPort(
  proxy: Proxy,
  mesh: MeshConfig,
  options: {
    readonly bindToPort: boolean;
    readonly bind: string;
    readonly port: number;
    readonly protocol: Protocol;
  },
): boolean {
  if (options.bindToPort && isPrivilegedPort(options.port) && proxy.metadata.unprivilegedPod) return false;
  if (options.bind !== '') {
    if (options.bind !== WILDCARD_ADDRESS) return true;
  } else if (!isHttpProtocol(options.protocol)) {
    // Without a bind, non-HTTP listeners go on the service VIP, which cannot clash.
    return true;
  }
  const p = options.port;
  if (proxy.metadata.envoyStatusPort === p || proxy.metadata.envoyPrometheusPort === p) return false;
  return mesh.proxyListenPort !== p && mesh.proxyInboundListenPort !== p;
}
