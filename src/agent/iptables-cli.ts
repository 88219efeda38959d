/**
 * `mizzen-proxy iptables [clean] [flags]`: the sidecar's init step, Istio's `istio-iptables`
 * with the same flags, environment variables and defaults as the injector passes them. It works
 * in the network namespace it runs in; run it with `ip netns exec NS` for a pod namespace.
 */
import { parseArgs } from 'node:util';
import { errorMessage, MizzenError } from '../lib/errors.ts';
import {
  ALWAYS_EXCLUDED_INBOUND_PORTS,
  applyCapture,
  buildCaptureRules,
  type CaptureSettings,
  cleanCapture,
  type Exec,
  resolveCaptureOptions,
} from './iptables.ts';

export interface IptablesCommandIo {
  stdout(text: string): void;
  stderr(text: string): void;
  /** Istio's environment variables are read as flag defaults (ENVOY_PORT, ISTIO_SERVICE_CIDR …). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Runs iptables-save/-restore and ip; tests substitute it. */
  readonly exec?: Exec;
}

/** sysexits-style codes, as mizzenctl uses. */
const EXIT_OK = 0;
const EXIT_FAILED = 1;
const EXIT_USAGE = 64;

/** Flag name → [short flag, CaptureSettings field, Istio environment variable]. */
const FLAGS = {
  'envoy-port': ['p', 'envoyPort', 'ENVOY_PORT'],
  'inbound-capture-port': ['z', 'inboundCapturePort', 'INBOUND_CAPTURE_PORT'],
  'inbound-tunnel-port': ['e', 'inboundTunnelPort', 'INBOUND_TUNNEL_PORT'],
  'proxy-uid': ['u', 'proxyUid', 'PROXY_UID'],
  'proxy-gid': ['g', 'proxyGid', 'PROXY_GID'],
  'istio-inbound-interception-mode': ['m', 'inboundInterceptionMode', 'ISTIO_INBOUND_INTERCEPTION_MODE'],
  'istio-inbound-ports': ['b', 'inboundPorts', 'ISTIO_INBOUND_PORTS'],
  'istio-local-exclude-ports': ['d', 'inboundPortsExclude', 'ISTIO_LOCAL_EXCLUDE_PORTS'],
  'istio-exclude-interfaces': ['c', 'excludeInterfaces', 'ISTIO_EXCLUDE_INTERFACES'],
  'istio-service-cidr': ['i', 'outboundIpRangesInclude', 'ISTIO_SERVICE_CIDR'],
  'istio-service-exclude-cidr': ['x', 'outboundIpRangesExclude', 'ISTIO_SERVICE_EXCLUDE_CIDR'],
  'istio-outbound-ports': ['q', 'outboundPortsInclude', 'ISTIO_OUTBOUND_PORTS'],
  'istio-local-outbound-ports-exclude': ['o', 'outboundPortsExclude', 'ISTIO_LOCAL_OUTBOUND_PORTS_EXCLUDE'],
} as const satisfies Record<string, readonly [string, keyof CaptureSettings, string]>;

/** istio-iptables flags we know and deliberately do not implement, with the reason. */
const UNSUPPORTED: Record<string, string> = {
  'kube-virt-interfaces': 'KubeVirt interfaces are not supported',
  k: 'KubeVirt interfaces (-k) are not supported',
  'istio-inbound-tproxy-mark': 'TPROXY is not supported; inbound capture uses REDIRECT',
  t: 'TPROXY (-t) is not supported; inbound capture uses REDIRECT',
  'istio-inbound-tproxy-route-table': 'TPROXY is not supported; inbound capture uses REDIRECT',
  r: 'TPROXY (-r) is not supported; inbound capture uses REDIRECT',
  'redirect-dns': 'DNS capture is not supported',
  'capture-all-dns': 'DNS capture is not supported',
  'drop-invalid': 'dropping INVALID packets is not supported',
};

const USAGE = `Usage: mizzen-proxy iptables [clean] [options]

Installs Istio-equivalent transparent capture in the current network namespace (run it with
'ip netns exec NS ...'): outbound TCP is redirected to the proxy, inbound TCP to its inbound
port, except the proxy's own uid/gid and the excluded ports and ranges. 'clean' removes exactly
what was installed. Defaults are what Istio's sidecar injector passes.

Options (environment variable in brackets):
  -p, --envoy-port PORT                          outbound capture port (15001) [ENVOY_PORT]
  -z, --inbound-capture-port PORT                inbound capture port (15006) [INBOUND_CAPTURE_PORT]
  -e, --inbound-tunnel-port PORT                 HBONE port, never captured (15008) [INBOUND_TUNNEL_PORT]
  -u, --proxy-uid UIDS                           uids never captured (1337) [PROXY_UID]
  -g, --proxy-gid GIDS                           gids never captured (the uids) [PROXY_GID]
  -m, --istio-inbound-interception-mode MODE     REDIRECT [ISTIO_INBOUND_INTERCEPTION_MODE]
  -b, --istio-inbound-ports PORTS                inbound ports to capture, '*' all, '' none (*) [ISTIO_INBOUND_PORTS]
  -d, --istio-local-exclude-ports PORTS          inbound ports not captured with -b '*' [ISTIO_LOCAL_EXCLUDE_PORTS]
                                                 (${ALWAYS_EXCLUDED_INBOUND_PORTS.join(', ')} and the tunnel port are never captured)
  -i, --istio-service-cidr CIDRS                 outbound CIDRs to capture, '*' all, '' none (*) [ISTIO_SERVICE_CIDR]
  -x, --istio-service-exclude-cidr CIDRS         outbound CIDRs never captured [ISTIO_SERVICE_EXCLUDE_CIDR]
  -q, --istio-outbound-ports PORTS               outbound ports always captured [ISTIO_OUTBOUND_PORTS]
  -o, --istio-local-outbound-ports-exclude PORTS outbound ports never captured [ISTIO_LOCAL_OUTBOUND_PORTS_EXCLUDE]
  -c, --istio-exclude-interfaces NICS            interfaces never captured [ISTIO_EXCLUDE_INTERFACES]
      --ipv6 auto|true|false                     also install IPv6 rules with ip6tables (auto: if the namespace has IPv6)
  -n, --dry-run                                  print the iptables-restore input instead of applying it
  -h, --help                                     show this help
`;

class UsageError extends Error {}

function parse(argv: readonly string[]) {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {
    'dry-run': { type: 'boolean', short: 'n' },
    help: { type: 'boolean', short: 'h' },
    ipv6: { type: 'string' },
  };
  for (const [name, [short]] of Object.entries(FLAGS)) options[name] = { type: 'string', short };
  for (const arg of argv) {
    const m = /^--?([a-z-]+)/.exec(arg);
    const name = m?.[1];
    if (name && Object.hasOwn(UNSUPPORTED, name) && (arg.startsWith('--') || name.length === 1)) {
      throw new UsageError(`${arg.split('=')[0]}: ${UNSUPPORTED[name]}`);
    }
  }
  try {
    return parseArgs({ args: [...argv], options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(errorMessage(err));
  }
}

/**
 * Runs `mizzen-proxy iptables` with `argv` (the arguments after `iptables`). Returns the exit
 * code; never exits the process.
 */
export async function runIptablesCommand(
  argv: readonly string[],
  io: IptablesCommandIo = {
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
    env: process.env,
  },
): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
    if (parsed.positionals.length > 1 || (parsed.positionals[0] ?? 'clean') !== 'clean') {
      throw new UsageError(
        `unexpected argument "${parsed.positionals.at(-1)}"; the only subcommand is "clean"`,
      );
    }
    const ipv6 = parsed.values.ipv6;
    if (ipv6 !== undefined && !['auto', 'true', 'false'].includes(String(ipv6))) {
      throw new UsageError(`--ipv6: "${ipv6}" is not one of auto, true, false`);
    }
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.stderr(`mizzen-proxy iptables: ${err.message}\nRun 'mizzen-proxy iptables --help' for usage.\n`);
    return EXIT_USAGE;
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  if (values.help) {
    io.stdout(USAGE);
    return EXIT_OK;
  }
  const dryRun = values['dry-run'] === true;
  const exec = io.exec;

  try {
    if (parsed.positionals[0] === 'clean') {
      const { removed } = await cleanCapture({ dryRun, ...(exec ? { exec } : {}) });
      if (dryRun) io.stdout(formatRestoreInput(removed.ipv4, removed.ipv6));
      else if (removed.ipv4 === '' && removed.ipv6 === '')
        io.stdout('mizzen-proxy iptables: no capture rules to clean\n');
      else io.stdout('mizzen-proxy iptables: capture rules removed\n');
      return EXIT_OK;
    }

    const settings: CaptureSettings = {};
    for (const [name, [, field, envName]] of Object.entries(FLAGS)) {
      const value = values[name] ?? io.env[envName];
      if (typeof value === 'string') settings[field] = value;
    }
    let resolved: ReturnType<typeof resolveCaptureOptions>;
    try {
      resolved = resolveCaptureOptions(settings);
    } catch (err) {
      io.stderr(`mizzen-proxy iptables: ${errorMessage(err)}\n`);
      return EXIT_USAGE;
    }
    for (const warning of resolved.warnings) io.stderr(`mizzen-proxy iptables: warning: ${warning}\n`);

    if (dryRun) {
      const rules = buildCaptureRules(resolved.options);
      io.stdout(formatRestoreInput(rules.ipv4, values.ipv6 === 'false' ? '' : rules.ipv6));
      return EXIT_OK;
    }
    const ipv6 = values.ipv6 === 'true' ? true : values.ipv6 === 'false' ? false : undefined;
    const report = await applyCapture(resolved.options, {
      ...(ipv6 === undefined ? {} : { ipv6 }),
      ...(exec ? { exec } : {}),
    });
    const o = resolved.options;
    const families = report.applied.ipv6 === '' ? 'IPv4' : 'IPv4 and IPv6';
    io.stdout(
      `mizzen-proxy iptables: capture installed (${families}): outbound -> ${o.proxyPort}, ` +
        `inbound -> ${o.inboundCapturePort}, proxy uid ${o.proxyUids.join(',')} gid ${o.proxyGids.join(',')}\n`,
    );
    if (report.ipv6Skipped) io.stderr(`mizzen-proxy iptables: IPv6 rules skipped: ${report.ipv6Skipped}\n`);
    return EXIT_OK;
  } catch (err) {
    if (!(err instanceof MizzenError)) throw err;
    io.stderr(`mizzen-proxy iptables: ${err.message}\n`);
    return EXIT_FAILED;
  }
}

/** Both families' input, each headed by the command that takes it (comments for iptables-restore). */
function formatRestoreInput(ipv4: string, ipv6: string): string {
  let out = '';
  if (ipv4 !== '') out += `# iptables-restore --noflush\n${ipv4}`;
  if (ipv6 !== '') out += `# ip6tables-restore --noflush\n${ipv6}`;
  return out === '' ? '# nothing to do\n' : out;
}
