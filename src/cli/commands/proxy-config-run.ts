/**
 * The work of `mizzenctl proxy-config`, loaded only when the command runs: find the proxy's
 * admin API, read its config dump (and `/clusters` for endpoints), filter, and print a table
 * or JSON/YAML. `reachProxy` is shared with `proxy-status <proxy>`.
 */
import { ExitCode } from '../exit-codes.ts';
import { formatStructured } from '../format/output.ts';
import { formatTable } from '../format/table.ts';
import type { CliIo } from '../io.ts';
import type { ProxyConfigFlags, ProxyConfigKind } from './proxy-config.ts';
import {
  adminAnnounced,
  adminCandidates,
  CommandFailure,
  fetchSyncz,
  formatHostPort,
  getJson,
  type HostPort,
  mizzendAddress,
  resolveProxy,
  type SyncEntry,
} from './proxy-config-client.ts';
import {
  CLUSTER_HEADER,
  clusterRows,
  type DumpView,
  dumpNodeId,
  ENDPOINT_HEADER,
  type EndpointRow,
  endpointRows,
  LISTENER_HEADER,
  listenerRows,
  ROUTE_HEADER,
  readConfigDump,
  readEndpoints,
  routeRows,
  SECRET_HEADER,
  secretRows,
  selectClusters,
  selectEndpoints,
  selectListeners,
  selectRoutes,
} from './proxy-config-dump.ts';

export interface ReachFlags {
  readonly admin?: HostPort;
  readonly mizzend?: HostPort;
  readonly adminPort: number;
  readonly namespace?: string;
}

export interface ReachedProxy {
  readonly admin: HostPort;
  readonly view: DumpView;
  /** mizzend's entry for the proxy, when it was found through mizzend. */
  readonly entry?: SyncEntry;
  readonly mizzend?: HostPort;
}

/** Does node id `nodeId` (`type~ip~pod.ns~domain`) belong to the proxy the user named? */
function nodeMatches(nodeId: string, name: string, namespace: string | undefined): boolean {
  const id = nodeId.split('~')[2] ?? '';
  const wanted = namespace && !name.includes('.') && !name.includes('~') ? `${name}.${namespace}` : name;
  return nodeId === wanted || id === wanted || (!wanted.includes('.') && id.split('.')[0] === wanted);
}

/**
 * The proxy's admin address and config dump. With `--admin`, the named proxy (if any) must be
 * the one answering there; through mizzend, the answering proxy must be the connected one, so
 * a guessed admin port never shows another proxy's config.
 */
export async function reachProxy(
  proxy: string | undefined,
  flags: ReachFlags,
  io: CliIo,
): Promise<ReachedProxy> {
  if (flags.admin) {
    const view = readConfigDump(await getJson(flags.admin, '/config_dump', 'the proxy admin API'));
    const nodeId = dumpNodeId(view);
    if (proxy !== undefined && nodeId !== undefined && !nodeMatches(nodeId, proxy, flags.namespace)) {
      throw new CommandFailure(
        `the admin API at ${formatHostPort(flags.admin)} belongs to proxy ${nodeId}, not "${proxy}"`,
      );
    }
    return { admin: flags.admin, view };
  }
  if (proxy === undefined) {
    throw new CommandFailure(
      'name a proxy (pod.namespace; `mizzenctl proxy-status` lists them) or give --admin host:port',
      ExitCode.USAGE,
    );
  }
  const mizzend = mizzendAddress(flags.mizzend, io.env);
  const entry = resolveProxy(await fetchSyncz(mizzend), proxy, flags.namespace, mizzend);
  const guessed = !adminAnnounced(entry);
  const { admin, view } = await readProxyDump(adminCandidates(entry, flags.adminPort), entry, guessed);
  return { admin, view, entry, mizzend };
}

/**
 * The config dump of `entry`'s proxy from the first of `candidates` that answers as that
 * proxy. `guessed`: the candidates were derived from mizzend's view, not given, so a failure
 * lists what was tried and says how to give the address.
 */
export async function readProxyDump(
  candidates: readonly HostPort[],
  entry: SyncEntry,
  guessed: boolean,
): Promise<{ admin: HostPort; view: DumpView }> {
  const failures: string[] = [];
  for (const admin of candidates) {
    let dump: unknown;
    try {
      dump = await getJson(admin, '/config_dump', `the admin API of ${entry.proxy}`);
    } catch (err) {
      if (!(err instanceof CommandFailure)) throw err;
      failures.push(err.message);
      continue;
    }
    const view = readConfigDump(dump);
    const nodeId = dumpNodeId(view);
    if (nodeId === undefined || nodeId === entry.node_id) return { admin, view };
    failures.push(`the admin API at ${formatHostPort(admin)} belongs to proxy ${nodeId}, not ${entry.proxy}`);
  }
  if (!guessed && failures.length === 1) throw new CommandFailure(failures[0]);
  throw new CommandFailure(
    `cannot read ${entry.proxy}'s admin API at the ${guessed ? 'addresses guessed from mizzend' : 'announced address'}:\n` +
      `${failures.map((f) => `  ${f}\n`).join('')}` +
      `pass its admin address with --admin host:port`,
  );
}

async function fetchEndpoints(admin: HostPort): Promise<EndpointRow[]> {
  return readEndpoints(await getJson(admin, '/clusters?format=json', 'the proxy admin API'));
}

function endpointsJson(rows: readonly EndpointRow[]): unknown {
  const byCluster = new Map<string, unknown[]>();
  for (const r of rows) {
    const list = byCluster.get(r.cluster) ?? [];
    list.push(r.hostStatus);
    byCluster.set(r.cluster, list);
  }
  return [...byCluster].map(([name, host_statuses]) => ({ name, host_statuses }));
}

export async function runProxyConfig(
  kind: ProxyConfigKind,
  proxy: string | undefined,
  flags: ProxyConfigFlags,
  io: CliIo,
): Promise<number> {
  try {
    const { admin, view } = await reachProxy(proxy, flags, io);
    const structured = flags.output === 'json' || flags.output === 'yaml' ? flags.output : undefined;
    const print = (value: unknown) => io.stdout(formatStructured(value, structured ?? 'json'));
    switch (kind) {
      case 'clusters': {
        const clusters = selectClusters(view.clusters, flags);
        if (structured) print(clusters);
        else io.stdout(formatTable(CLUSTER_HEADER, clusterRows(clusters)));
        break;
      }
      case 'listeners': {
        const listeners = selectListeners(view.listeners, flags);
        if (structured) print(listeners);
        else io.stdout(formatTable(LISTENER_HEADER, listenerRows(listeners)));
        break;
      }
      case 'routes': {
        const routes = selectRoutes(view.routes, flags.name);
        if (structured) print(routes);
        else io.stdout(formatTable(ROUTE_HEADER, routeRows(routes)));
        break;
      }
      case 'endpoints': {
        const rows = selectEndpoints(await fetchEndpoints(admin), flags);
        if (structured) print(endpointsJson(rows));
        else io.stdout(formatTable(ENDPOINT_HEADER, endpointRows(rows)));
        break;
      }
      case 'secret': {
        if (structured) print(view.secrets);
        else io.stdout(formatTable(SECRET_HEADER, secretRows(view.secrets, new Date())));
        break;
      }
      case 'bootstrap': {
        // A bootstrap has no table form: short prints JSON too, as istioctl does.
        print(view.bootstrap ?? {});
        break;
      }
      case 'all': {
        if (structured) {
          print(view.raw);
          break;
        }
        const endpoints = await fetchEndpoints(admin);
        io.stdout(
          [
            formatTable(CLUSTER_HEADER, clusterRows(selectClusters(view.clusters, {}))),
            formatTable(LISTENER_HEADER, listenerRows(selectListeners(view.listeners, {}))),
            formatTable(ROUTE_HEADER, routeRows(selectRoutes(view.routes, undefined))),
            formatTable(ENDPOINT_HEADER, endpointRows(selectEndpoints(endpoints, {}))),
            formatTable(SECRET_HEADER, secretRows(view.secrets, new Date())),
          ].join('\n'),
        );
        break;
      }
    }
    return ExitCode.OK;
  } catch (err) {
    if (err instanceof CommandFailure) {
      io.stderr(`error: ${err.message}\n`);
      return err.code;
    }
    throw err;
  }
}
