/**
 * Gateways of one push: which ones select a router proxy (selector labels ⊆ proxy labels, any
 * namespace, as Istio's default), and their servers merged per port (Istio's MergedGateway):
 * plain-HTTP servers of a port share one route configuration (`http.80`), each terminated
 * HTTPS server gets its own (`https.443.<port>.<gateway>.<namespace>`), TLS passthrough and TCP
 * servers get none. A server whose protocol cannot share its port with the first server there
 * is dropped with a warning.
 */
import type { Gateway, GatewayServer } from '../../../api/networking/gateway.ts';
import { type ConfigResource, configKey } from '../../../api/resource.ts';
import type { ConfigReader } from '../../../config/snapshot.ts';
import { labelsMatch } from '../../../registry/model.ts';
import { isHttpProtocol, isTlsProtocol, Protocol, parseProtocol } from '../../../registry/protocol.ts';
import { gatewayHttpRouteName, gatewayHttpsRouteName } from '../naming.ts';
import type { PushWarning } from '../push-context.ts';

const GATEWAY_KIND = 'Gateway';

/** A `namespace/host` entry of a server (namespace `*` when the entry named none). */
export interface ServerHost {
  readonly namespace: string;
  readonly host: string;
}

export interface GatewayServerInfo {
  readonly server: GatewayServer;
  readonly gateway: ConfigResource<Gateway>;
  /** `namespace/name` of the gateway, as VirtualServices bind to it. */
  readonly gatewayName: string;
  readonly protocol: Protocol;
  /** RDS name for HTTP and terminated HTTPS servers; undefined for TLS passthrough and TCP. */
  readonly routeName?: string;
  readonly hosts: readonly ServerHost[];
  /** TLS is passed through (PASSTHROUGH / AUTO_PASSTHROUGH), not terminated. */
  readonly passthrough: boolean;
}

export interface GatewayPortServers {
  readonly port: number;
  readonly bind?: string;
  /** Protocol of the first server on the port; the others are compatible with it. */
  readonly protocol: Protocol;
  readonly servers: readonly GatewayServerInfo[];
}

export interface MergedGateway {
  /** Selected gateways, in creation order. */
  readonly gateways: readonly ConfigResource<Gateway>[];
  /** `namespace/name` of each selected gateway. */
  readonly gatewayNames: ReadonlySet<string>;
  /** Servers per (port, bind), sorted by port. */
  readonly ports: readonly GatewayPortServers[];
  /** Servers sharing each route configuration name. */
  readonly serversByRouteName: ReadonlyMap<string, readonly GatewayServerInfo[]>;
  /** Some server is AUTO_PASSTHROUGH (SNI-DNAT clusters are needed). */
  readonly containsAutoPassthrough: boolean;
}

/** `ns/host` -> {ns, host}; `./host` -> the gateway's namespace; bare host -> any namespace. */
export function parseServerHost(entry: string, gatewayNamespace: string): ServerHost {
  const i = entry.indexOf('/');
  if (i < 0) return { namespace: '*', host: entry };
  const ns = entry.slice(0, i);
  return { namespace: ns === '.' ? gatewayNamespace : ns, host: entry.slice(i + 1) };
}

export class GatewayIndex {
  readonly warnings: PushWarning[] = [];
  readonly all: readonly ConfigResource<Gateway>[];
  readonly #byName = new Map<string, ConfigResource<Gateway>>();
  readonly #merged = new Map<string, MergedGateway | null>();

  constructor(config: ConfigReader) {
    this.all = [...config.list<Gateway>(GATEWAY_KIND)].sort(compareAge);
    for (const g of this.all) this.#byName.set(`${g.meta.namespace}/${g.meta.name}`, g);
  }

  byName(name: string): ConfigResource<Gateway> | undefined {
    return this.#byName.get(name);
  }

  /** The merged gateway for a router proxy with `labels`; undefined when no Gateway selects it. */
  mergedFor(labels: Readonly<Record<string, string>>): MergedGateway | undefined {
    const selected = this.all.filter((g) => labelsMatch(g.spec.selector, labels));
    const key = selected.map((g) => `${g.meta.namespace}/${g.meta.name}`).join(',');
    const cached = this.#merged.get(key);
    if (cached !== undefined) return cached ?? undefined;
    const merged = selected.length === 0 ? undefined : this.#merge(selected);
    this.#merged.set(key, merged ?? null);
    return merged;
  }

  #merge(gateways: readonly ConfigResource<Gateway>[]): MergedGateway {
    const ports = new Map<
      string,
      { port: number; bind?: string; protocol: Protocol; servers: GatewayServerInfo[] }
    >();
    const byRoute = new Map<string, GatewayServerInfo[]>();
    let autoPassthrough = false;
    for (const gw of gateways) {
      const gatewayName = `${gw.meta.namespace}/${gw.meta.name}`;
      for (const [i, server] of (gw.spec.servers ?? []).entries()) {
        const protocol = parseProtocol(server.port.protocol);
        const mode = server.tls?.mode;
        const passthrough = mode === 'PASSTHROUGH' || mode === 'AUTO_PASSTHROUGH';
        if (mode === 'AUTO_PASSTHROUGH') autoPassthrough = true;
        const bind = server.bind || undefined;
        const routeName = isHttpProtocol(protocol)
          ? gatewayHttpRouteName(server.port.number, bind)
          : protocol === Protocol.HTTPS && !passthrough
            ? gatewayHttpsRouteName(
                server.port.number,
                server.port.name,
                gw.meta.name,
                gw.meta.namespace,
                bind,
              )
            : undefined;
        const info: GatewayServerInfo = {
          server,
          gateway: gw,
          gatewayName,
          protocol,
          ...(routeName ? { routeName } : {}),
          hosts: server.hosts.map((h) => parseServerHost(h, gw.meta.namespace)),
          passthrough,
        };
        const key = `${bind ?? ''}|${server.port.number}`;
        const existing = ports.get(key);
        if (!existing) {
          ports.set(key, { port: server.port.number, ...(bind ? { bind } : {}), protocol, servers: [info] });
        } else if (!compatible(existing.protocol, protocol)) {
          this.warnings.push({
            config: configKey(gw),
            message: `servers[${i}]: port ${server.port.number} is already served as ${existing.protocol} by ${existing.servers[0].gatewayName}; this ${protocol} server is ignored`,
          });
          continue;
        } else {
          existing.servers.push(info);
        }
        if (routeName) {
          let list = byRoute.get(routeName);
          if (!list) byRoute.set(routeName, (list = []));
          list.push(info);
        }
      }
    }
    return Object.freeze({
      gateways,
      gatewayNames: new Set(gateways.map((g) => `${g.meta.namespace}/${g.meta.name}`)),
      ports: [...ports.values()].sort(
        (a, b) => a.port - b.port || (a.bind ?? '').localeCompare(b.bind ?? ''),
      ),
      serversByRouteName: byRoute,
      containsAutoPassthrough: autoPassthrough,
    });
  }
}

/**
 * Servers of one port must agree on HTTP vs TCP-level handling. HTTPS and TLS (SNI-matched
 * chains) mix, and plain HTTP mixes with HTTP2/gRPC.
 */
function compatible(first: Protocol, next: Protocol): boolean {
  if (first === next) return true;
  if (isHttpProtocol(first) && isHttpProtocol(next)) return true;
  if (isTlsProtocol(first) && isTlsProtocol(next)) return true;
  return false;
}

function compareAge(a: ConfigResource, b: ConfigResource): number {
  const at = a.meta.creationTimestamp ?? '';
  const bt = b.meta.creationTimestamp ?? '';
  if (at !== bt) return at < bt ? -1 : 1;
  if (a.meta.namespace !== b.meta.namespace) return a.meta.namespace < b.meta.namespace ? -1 : 1;
  return a.meta.name < b.meta.name ? -1 : a.meta.name > b.meta.name ? 1 : 0;
}
