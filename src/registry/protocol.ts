/**
 * Protocols of service ports, named and selected as Istio does (pkg/config/protocol and
 * kube.ConvertProtocol): an explicit protocol, Kubernetes `appProtocol`, or the port name's
 * prefix (`http-web`, `grpc`, `tcp-db`); UDP by transport; otherwise unknown, which means
 * "detect" (protocol sniffing), except for well-known TCP ports.
 */

export const Protocol = {
  HTTP: 'HTTP',
  HTTP2: 'HTTP2',
  HTTP_PROXY: 'HTTP_PROXY',
  GRPC: 'GRPC',
  GRPC_WEB: 'GRPC-Web',
  HTTPS: 'HTTPS',
  TCP: 'TCP',
  TLS: 'TLS',
  UDP: 'UDP',
  MONGO: 'Mongo',
  MYSQL: 'MySQL',
  REDIS: 'Redis',
  /** No protocol given or recognised: the proxy detects it (Istio's UnsupportedProtocol). */
  UNSUPPORTED: 'UnsupportedProtocol',
} as const;
export type Protocol = (typeof Protocol)[keyof typeof Protocol];

const BY_NAME: ReadonlyMap<string, Protocol> = new Map([
  ['tcp', Protocol.TCP],
  ['udp', Protocol.UDP],
  ['grpc', Protocol.GRPC],
  ['grpc-web', Protocol.GRPC_WEB],
  ['http', Protocol.HTTP],
  ['http_proxy', Protocol.HTTP_PROXY],
  ['http2', Protocol.HTTP2],
  ['https', Protocol.HTTPS],
  ['tls', Protocol.TLS],
  ['mongo', Protocol.MONGO],
  ['redis', Protocol.REDIS],
  ['mysql', Protocol.MYSQL],
]);

/** Istio's protocol.Parse: case-insensitive; anything else is UNSUPPORTED. */
export function parseProtocol(s: string | undefined): Protocol {
  if (!s) return Protocol.UNSUPPORTED;
  return BY_NAME.get(s.toLowerCase()) ?? Protocol.UNSUPPORTED;
}

/**
 * Ports whose traffic is known to be TCP, so an unnamed port there is not sniffed (Istio's
 * wellKnownPorts in kube conversion).
 */
export const WELL_KNOWN_TCP_PORTS: ReadonlySet<number> = new Set([
  22, 25, 53, 110, 143, 465, 587, 993, 995, 1433, 1521, 3306, 5432, 5672, 6379, 9042, 11211, 27017,
]);

export interface PortProtocolInput {
  /** Port name, e.g. `http-web`; its prefix before the first `-` names the protocol. */
  readonly name?: string;
  readonly port: number;
  /** Kubernetes `appProtocol` (wins over the name). */
  readonly appProtocol?: string;
  /** Kubernetes transport protocol: TCP (default), UDP or SCTP. */
  readonly transport?: string;
}

/**
 * Kubernetes-style selection (Istio's kube.ConvertProtocol): UDP transport first, then
 * `appProtocol` (with Kubernetes' `kubernetes.io/h2c`, `/ws`, `/wss`), then the port name's
 * prefix (`grpc-web` checked whole since it contains a dash); an unrecognised name on a
 * well-known TCP port is TCP.
 */
export function selectPortProtocol(input: PortProtocolInput): Protocol {
  if (input.transport?.toUpperCase() === 'UDP') return Protocol.UDP;
  let name = input.name ?? '';
  if (input.appProtocol) {
    name = input.appProtocol;
    switch (name) {
      case 'kubernetes.io/h2c':
        return Protocol.HTTP2;
      case 'kubernetes.io/ws':
        return Protocol.HTTP;
      case 'kubernetes.io/wss':
        return Protocol.HTTPS;
    }
  }
  if (name.toLowerCase().startsWith('grpc-web')) return Protocol.GRPC_WEB;
  const dash = name.indexOf('-');
  const p = parseProtocol(dash >= 0 ? name.slice(0, dash) : name);
  if (p === Protocol.UNSUPPORTED && WELL_KNOWN_TCP_PORTS.has(input.port)) return Protocol.TCP;
  return p;
}

/**
 * ServiceEntry ports: only the explicit `protocol` field counts, as in Istio's convertPort; an
 * empty one means "detect" (the port name is not consulted for ServiceEntries).
 */
export function serviceEntryPortProtocol(port: { protocol?: string }): Protocol {
  return parseProtocol(port.protocol);
}

/** HTTP of any version, gRPC included (Istio's IsHTTP). */
export function isHttpProtocol(p: Protocol): boolean {
  return (
    p === Protocol.HTTP ||
    p === Protocol.HTTP2 ||
    p === Protocol.HTTP_PROXY ||
    p === Protocol.GRPC ||
    p === Protocol.GRPC_WEB
  );
}

/** Protocols that need HTTP/2 upstream (Istio's IsHTTP2). */
export function isHttp2Protocol(p: Protocol): boolean {
  return p === Protocol.HTTP2 || p === Protocol.GRPC || p === Protocol.GRPC_WEB;
}

/** Opaque TCP streams, TLS included (Istio's IsTCP). */
export function isTcpProtocol(p: Protocol): boolean {
  return (
    p === Protocol.TCP ||
    p === Protocol.HTTPS ||
    p === Protocol.TLS ||
    p === Protocol.MONGO ||
    p === Protocol.REDIS ||
    p === Protocol.MYSQL
  );
}

/** TLS that the proxy routes by SNI without terminating (Istio's IsTLS). */
export function isTlsProtocol(p: Protocol): boolean {
  return p === Protocol.HTTPS || p === Protocol.TLS;
}

export function isGrpcProtocol(p: Protocol): boolean {
  return p === Protocol.GRPC || p === Protocol.GRPC_WEB;
}

/** Unknown protocol: the proxy sniffs HTTP vs TCP (Istio's IsUnsupported). */
export function isUnsupportedProtocol(p: Protocol): boolean {
  return p === Protocol.UNSUPPORTED;
}
