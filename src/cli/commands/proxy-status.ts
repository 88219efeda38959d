/**
 * `mizzenctl proxy-status [proxy]` (istioctl's proxy-status): every proxy connected to mizzend
 * and whether each xDS type is SYNCED (the last response sent was ACKed), NOT SENT (nothing
 * sent yet), STALE (sent and not ACKed: in flight, or NACKed — `-o json` shows the NACK) or
 * STALE (Never Acknowledged). With a proxy, the configuration mizzend would send it now is
 * compared with what its admin API holds, type by type, as a unified diff.
 */
import { type Command, Option } from 'commander';
import {
  CLUSTER_TYPE_URL,
  ENDPOINT_TYPE_URL,
  EXTENSION_CONFIG_TYPE_URL,
  LISTENER_TYPE_URL,
  ROUTE_TYPE_URL,
} from '../../lib/xds/type-urls.ts';
import { ExitCode } from '../exit-codes.ts';
import { formatStructured, type OutputFormat, outputFormatArg } from '../format/output.ts';
import { formatTable } from '../format/table.ts';
import type { CliIo } from '../io.ts';
import { addReachOptions } from './proxy-config.ts';
import {
  CommandFailure,
  fetchSyncz,
  formatHostPort,
  type HostPort,
  mizzendAddress,
  resolveProxy,
  type SyncEntry,
  type SyncTypeStatus,
} from './proxy-config-client.ts';

interface ProxyStatusFlags {
  readonly admin?: HostPort;
  readonly mizzend?: HostPort;
  readonly adminPort: number;
  readonly namespace?: string;
  readonly output: OutputFormat;
}

/** istioctl's columns, in order, with the type each reports. */
const STATUS_COLUMNS: readonly (readonly [string, string])[] = [
  ['CDS', CLUSTER_TYPE_URL],
  ['LDS', LISTENER_TYPE_URL],
  ['EDS', ENDPOINT_TYPE_URL],
  ['RDS', ROUTE_TYPE_URL],
  ['ECDS', EXTENSION_CONFIG_TYPE_URL],
];

export const PROXY_STATUS_HEADER = [
  'NAME',
  'CLUSTER',
  ...STATUS_COLUMNS.map(([c]) => c),
  'ISTIOD',
  'VERSION',
];

/** istioctl's words for one type: by nonces, so a NACK (the sent nonce not ACKed) is STALE. */
export function xdsStatus(t: SyncTypeStatus | undefined): string {
  if (!t?.sent_nonce) return 'NOT SENT';
  if (t.sent_nonce === t.acked_nonce) return 'SYNCED';
  if (!t.acked_nonce) return 'STALE (Never Acknowledged)';
  return 'STALE';
}

export function proxyStatusRows(entries: readonly SyncEntry[], istiod: string): string[][] {
  return [...entries]
    .sort((a, b) => (a.proxy < b.proxy ? -1 : a.proxy > b.proxy ? 1 : 0))
    .map((e) => {
      const byType = new Map(e.types.map((t) => [t.type_url, t]));
      return [
        e.proxy,
        e.cluster_id,
        ...STATUS_COLUMNS.map(([, url]) => xdsStatus(byType.get(url))),
        istiod,
        e.istio_version,
      ];
    });
}

/** The syncz entry with istioctl's word per type added, for `-o json|yaml`. */
function withStatus(e: SyncEntry, istiod: string): Record<string, unknown> {
  return { ...e, istiod, types: e.types.map((t) => ({ ...t, status: xdsStatus(t) })) };
}

export function registerProxyStatus(program: Command, io: CliIo, done: (code: number) => void): void {
  const cmd = program
    .command('proxy-status')
    .alias('ps')
    .description(
      "sync status of every proxy connected to mizzend; with a proxy, diff of mizzend's config for it against the proxy's",
    )
    .argument('[proxy]', "a proxy (pod.namespace, pod or node id): compare its config with mizzend's");
  addReachOptions(cmd)
    .addOption(
      new Option('-o, --output <format>', 'output format: short (a table), json, yaml')
        .argParser(outputFormatArg)
        .default('short'),
    )
    .addHelpText(
      'after',
      `
Status per type (CDS, LDS, EDS, RDS, ECDS):
  SYNCED                       the proxy ACKed the last response mizzend sent
  NOT SENT                     mizzend has sent nothing of this type (not requested, or nothing yet)
  STALE                        the last response is not ACKed: still in flight, or NACKed
                               (-o json shows the NACK's error under last_nack)
  STALE (Never Acknowledged)   nothing of this type was ever ACKed

Examples:
  mizzenctl proxy-status
  mizzenctl proxy-status --mizzend 127.0.0.1:15014 -o json
  mizzenctl proxy-status -n default                 # the proxies of one namespace
  mizzenctl proxy-status productpage-1.default      # diff: mizzend's config vs the proxy's`,
    )
    .action(async (proxy: string | undefined, flags: ProxyStatusFlags) => {
      done(await runProxyStatus(proxy, flags, io));
    });
}

export async function runProxyStatus(
  proxy: string | undefined,
  flags: ProxyStatusFlags,
  io: CliIo,
): Promise<number> {
  try {
    const mizzend = mizzendAddress(flags.mizzend, io.env);
    const istiod = formatHostPort(mizzend);
    if (proxy === undefined && flags.admin) {
      throw new CommandFailure(
        '--admin is for comparing one proxy: name it, e.g. mizzenctl proxy-status pod.namespace --admin host:port',
        ExitCode.USAGE,
      );
    }
    let entries = await fetchSyncz(mizzend);
    if (proxy === undefined) {
      // -n lists one namespace's proxies, as istioctl's does.
      const ns = flags.namespace;
      if (ns !== undefined) entries = entries.filter((e) => e.proxy.endsWith(`.${ns}`));
      if (flags.output === 'short')
        io.stdout(formatTable(PROXY_STATUS_HEADER, proxyStatusRows(entries, istiod)));
      else
        io.stdout(
          formatStructured(
            entries.map((e) => withStatus(e, istiod)),
            flags.output,
          ),
        );
      return ExitCode.OK;
    }
    const entry = resolveProxy(entries, proxy, flags.namespace, mizzend);
    const { compareWithProxy } = await import('./proxy-config-compare.ts');
    const comparison = await compareWithProxy(entry, mizzend, flags);
    if (flags.output === 'short') io.stdout(comparison.text);
    else
      io.stdout(
        formatStructured({ ...withStatus(entry, istiod), comparison: comparison.byType }, flags.output),
      );
    return ExitCode.OK;
  } catch (err) {
    if (err instanceof CommandFailure) {
      io.stderr(`error: ${err.message}\n`);
      return err.code;
    }
    throw err;
  }
}
