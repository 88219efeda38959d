/**
 * `mizzenctl proxy-config clusters|listeners|routes|endpoints|secret|bootstrap|all [proxy]`:
 * a proxy's configuration as its admin API shows it, in istioctl's tables (`-o short`) or as
 * JSON/YAML, with istioctl's filters per subcommand. The proxy is reached at `--admin`, or
 * found through mizzend (`--mizzend`, MIZZEND_ADDRESS, localhost:15014). This module only
 * declares the commands; the work is loaded from proxy-config-run.ts when one runs.
 */
import { type Command, InvalidArgumentError, Option } from 'commander';
import { type OutputFormat, outputFormatArg } from '../format/output.ts';
import type { CliIo } from '../io.ts';
import { DEFAULT_ADMIN_PORT, type HostPort, hostPortArg, portArg } from './proxy-config-client.ts';

export const PROXY_CONFIG_KINDS = [
  'clusters',
  'listeners',
  'routes',
  'endpoints',
  'secret',
  'bootstrap',
  'all',
] as const;
export type ProxyConfigKind = (typeof PROXY_CONFIG_KINDS)[number];

const DIRECTIONS = ['inbound', 'outbound'];
const LISTENER_TYPES = ['HTTP', 'TCP', 'HTTP+TCP'];
const ENDPOINT_STATUSES = ['HEALTHY', 'UNHEALTHY', 'DRAINING', 'TIMEOUT', 'DEGRADED', 'UNKNOWN'];

export interface ProxyConfigFlags {
  readonly admin?: HostPort;
  readonly mizzend?: HostPort;
  readonly adminPort: number;
  readonly namespace?: string;
  readonly output: OutputFormat;
  readonly fqdn?: string;
  readonly port?: number;
  readonly subset?: string;
  readonly direction?: string;
  readonly address?: string;
  readonly type?: 'HTTP' | 'TCP' | 'HTTP+TCP';
  readonly name?: string;
  readonly cluster?: string;
  readonly status?: string;
}

function oneOf(values: readonly string[], upper: boolean) {
  return (value: string): string => {
    const v = upper ? value.toUpperCase() : value.toLowerCase();
    if (!values.includes(v)) throw new InvalidArgumentError(`use one of ${values.join(', ')}.`);
    return v;
  };
}

/** Options every proxy-config subcommand (and proxy-status) takes to reach mizzend and proxies. */
export function addReachOptions(cmd: Command): Command {
  return cmd
    .option(
      '--admin <host:port>',
      "the proxy's admin API (Envoy's 15000); without it the proxy is found through mizzend",
      hostPortArg,
    )
    .option(
      '--mizzend <host:port>',
      "mizzend's monitoring address (default: env MIZZEND_ADDRESS, else localhost:15014)",
      hostPortArg,
    )
    .option(
      '--admin-port <port>',
      'the admin port of a proxy found through mizzend, when it did not announce its admin address',
      portArg,
      DEFAULT_ADMIN_PORT,
    )
    .option(
      '-n, --namespace <namespace>',
      'namespace of a proxy named by pod name only (proxy-status without a proxy: list only this namespace)',
    );
}

export function registerProxyConfig(program: Command, io: CliIo, done: (code: number) => void): void {
  const pc = program
    .command('proxy-config')
    .alias('pc')
    .description("show a proxy's configuration (clusters, listeners, routes, endpoints, secrets, bootstrap)");
  const sub = (kind: ProxyConfigKind, description: string, defaultOutput: OutputFormat = 'short') => {
    const cmd = pc
      .command(kind)
      .description(description)
      .argument('[proxy]', 'the proxy: pod.namespace, pod (with -n, or when unique) or node id');
    addReachOptions(cmd).addOption(
      new Option('-o, --output <format>', 'output format: short (a table), json, yaml')
        .argParser(outputFormatArg)
        .default(defaultOutput),
    );
    cmd.action(async (proxy: string | undefined, flags: ProxyConfigFlags) => {
      const { runProxyConfig } = await import('./proxy-config-run.ts');
      done(await runProxyConfig(kind, proxy, flags, io));
    });
    return cmd;
  };
  sub('clusters', 'clusters: SERVICE FQDN, PORT, SUBSET, DIRECTION, TYPE, DESTINATION RULE')
    .option('--fqdn <fqdn>', 'only clusters whose service FQDN contains this')
    .option('--port <port>', 'only clusters of this service port', portArg)
    .option('--subset <subset>', 'only clusters of this subset')
    .option('--direction <direction>', 'only inbound or outbound clusters', oneOf(DIRECTIONS, false))
    .addHelpText(
      'after',
      '\nExample:\n  mizzenctl proxy-config clusters productpage-1.default --fqdn reviews --port 9080',
    );
  sub('listeners', 'listeners, one row per filter chain: ADDRESSES, PORT, MATCH, DESTINATION')
    .option('--address <ip>', 'only listeners on this address')
    .option('--port <port>', 'only listeners on this port', portArg)
    .option(
      '--type <type>',
      `only listeners of this protocol: ${LISTENER_TYPES.join(', ')}`,
      oneOf(LISTENER_TYPES, true),
    );
  sub('routes', 'routes: NAME, VHOST NAME, DOMAINS, MATCH, VIRTUAL SERVICE').option(
    '--name <name>',
    'only the route configuration of this name (e.g. 9080)',
  );
  sub(
    'endpoints',
    "endpoints as the proxy's cluster manager holds them: ENDPOINT, STATUS, OUTLIER CHECK, CLUSTER",
  )
    .option('--address <ip>', 'only endpoints with this address')
    .option('--port <port>', 'only endpoints on this port', portArg)
    .option('--cluster <name>', 'only endpoints of this cluster')
    .option(
      '--status <status>',
      `only endpoints in this state: ${ENDPOINT_STATUSES.join(', ')}`,
      oneOf(ENDPOINT_STATUSES, true),
    );
  sub(
    'secret',
    'secrets (certificates): RESOURCE NAME, TYPE, STATUS, VALID CERT, SERIAL NUMBER, NOT AFTER, NOT BEFORE',
  );
  sub('bootstrap', "the proxy's bootstrap (its node); printed as JSON unless -o yaml", 'json');
  sub('all', 'clusters, listeners, routes, endpoints and secrets; -o json|yaml prints the whole config dump');
  pc.addHelpText(
    'after',
    `
The proxy's admin API is read directly with --admin host:port; otherwise mizzend (--mizzend,
MIZZEND_ADDRESS, localhost:15014) names the connected proxy and where it connects from, and
the admin port is --admin-port (15000).

Examples:
  mizzenctl proxy-config clusters productpage-1.default
  mizzenctl proxy-config routes --admin 127.0.0.1:15000 --name 9080 -o json
  mizzenctl pc endpoints reviews-v1-1.default --status HEALTHY`,
  );
}
