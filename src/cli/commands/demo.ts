/**
 * `mizzenctl demo` (what `npm start` runs): brings up a working mesh on this machine from the
 * example configuration and keeps it running until Ctrl-C or SIGTERM, then stops everything
 * it started and removes what it wrote.
 *
 * Without root (the default) every workload and proxy shares loopback: each workload has its
 * own 127.0.0.x address and its sidecar binds the listeners its Sidecar declares there
 * (src/cli/demo/run.ts). `--netns` runs each workload in its own network namespace with real
 * traffic capture instead (root; src/cli/demo/netns-demo.ts, loaded only then).
 */
import { join } from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { runDemo } from '../demo/run.ts';
import { ExitCode } from '../exit-codes.ts';
import type { CliIo } from '../io.ts';

const ROOT = join(import.meta.dirname, '..', '..', '..');

export interface DemoFlags {
  readonly configDir: string;
  readonly grpcPort: number;
  readonly monitoringPort: number;
  readonly proxyAdminPort: number;
  readonly proxyStatusPort: number;
  readonly proxyPrometheusPort: number;
  readonly verbose: boolean;
  readonly netns: boolean;
  /** Ends the demo after this many ms (tests); 0 = run until a signal. */
  readonly exitAfter: number;
}

function portArg(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) throw new InvalidArgumentError('a port is 0-65535.');
  return n;
}

export function registerDemo(program: Command, io: CliIo, done: (code: number) => void): void {
  program
    .command('demo')
    .description(
      'run a working mesh on this machine (mizzend, the sample workloads with their sidecars, an ingress gateway) until Ctrl-C',
    )
    .option(
      '--config-dir <dir>',
      'configuration to serve (watched: edits apply live)',
      join(ROOT, 'examples', 'bookinfo'),
    )
    .option('--grpc-port <port>', 'mizzend xDS port (0: any free port)', portArg, 15010)
    .option(
      '--monitoring-port <port>',
      'mizzend /ready, /metrics and /debug port (0: any free port)',
      portArg,
      15014,
    )
    .option(
      '--proxy-admin-port <port>',
      "each proxy's admin port, on the proxy's own address (0: any)",
      portArg,
      15000,
    )
    .option(
      '--proxy-status-port <port>',
      "each proxy's readiness port, on its own address (0: any)",
      portArg,
      15021,
    )
    .option(
      '--proxy-prometheus-port <port>',
      "each proxy's Istio metrics port (/stats/prometheus), on its own address (0: any)",
      portArg,
      15090,
    )
    .option('-v, --verbose', "show every component's log, not only warnings and errors", false)
    .option(
      '--netns',
      'run each workload in its own network namespace with transparent capture (root)',
      false,
    )
    .addOption(
      new Option('--exit-after <ms>', 'stop after this long (for tests)')
        .argParser((v: string) => Number(v))
        .default(0)
        .hideHelp(),
    )
    .action(async (flags: DemoFlags) => {
      done(await demo(flags, io));
    });
}

async function demo(flags: DemoFlags, io: CliIo): Promise<number> {
  const controller = new AbortController();
  // `on`, not `once`: a second Ctrl-C while stopping must not kill the demo half-way and
  // leave its children behind; the stop already under way finishes.
  const stop = () => {
    if (controller.signal.aborted)
      io.stderr('mizzenctl demo: already stopping; waiting for every process to exit\n');
    controller.abort();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  const timer = flags.exitAfter > 0 ? setTimeout(stop, flags.exitAfter) : undefined;
  try {
    if (flags.netns) {
      // Loaded only here: the namespace demo needs root and tools the default path must not.
      const { runNetnsDemo } = await import('../demo/netns-demo.ts');
      return await runNetnsDemo({
        configDir: flags.configDir,
        io,
        signal: controller.signal,
        verbose: flags.verbose,
      });
    }
    const code = await runDemo({ ...flags, io, signal: controller.signal });
    return code === 0 ? ExitCode.OK : code;
  } finally {
    clearTimeout(timer);
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}
