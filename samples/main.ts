/**
 * Command line of the sample workloads, one workload per process:
 *
 *   node samples/main.ts <workload> [--port N] [--host H] [--version v1] [--exit-with-stdin]
 *
 * Prints one `ready name=… version=… host=… port=…` line on stdout once it accepts
 * connections (the real port when --port 0), logs on stderr, and on SIGTERM or SIGINT stops
 * accepting, lets in-flight requests finish (at most SHUTDOWN_GRACE_MS, default 10 s) and exits
 * 0. A second signal exits at once. Exit codes: 0 clean stop, 1 failure while running,
 * 2 bad arguments or settings.
 */
import { parseArgs } from 'node:util';
import { envInt, parseIntIn, SampleConfigError, type SampleEnv } from './common/env.ts';
import { createLog, type LogSink } from './common/log.ts';
import type { Workload } from './common/workload.ts';
import { formatReadyLine, resolveIdentity } from './run.ts';
import { WORKLOAD_NAMES, WORKLOADS } from './workloads.ts';

export interface CommandLine {
  readonly name: string;
  readonly port: number | undefined;
  readonly host: string | undefined;
  readonly version: string | undefined;
  readonly exitWithStdin: boolean;
  readonly help: boolean;
}

export function usage(): string {
  const lines = WORKLOAD_NAMES.map(
    (n) => `  ${n.padEnd(12)} port ${String(WORKLOADS[n].defaultPort).padEnd(5)} ${WORKLOADS[n].description}`,
  );
  return `usage: node samples/main.ts <workload> [--port N] [--host H] [--version V] [--exit-with-stdin]

workloads:
${lines.join('\n')}

options (each also read from the environment: PORT, HOST, VERSION):
  --port N            port to listen on; 0 picks a free one (printed in the ready line)
  --host H            address to bind (default 127.0.0.1)
  --version V         version label: what the workload reports, and for reviews what it does
  --exit-with-stdin   stop when stdin closes (the parent that spawned us has gone)

See samples/README.md for each workload's endpoints and settings.
`;
}

/** Parses argv (without node and script); throws SampleConfigError on misuse. */
export function parseCommandLine(argv: readonly string[]): CommandLine {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        port: { type: 'string' },
        host: { type: 'string' },
        version: { type: 'string' },
        'exit-with-stdin': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw new SampleConfigError((err as Error).message);
  }
  const { values, positionals } = parsed;
  const help = values.help === true;
  if (!help && positionals.length !== 1) {
    throw new SampleConfigError(
      positionals.length === 0
        ? 'missing the workload name'
        : `one workload per process, got ${positionals.join(' ')}`,
    );
  }
  const port = values.port === undefined ? undefined : parseIntIn(String(values.port), '--port', 0, 65535);
  const host = values.host === undefined ? undefined : String(values.host);
  if (host !== undefined && host.trim() === '') throw new SampleConfigError('--host: empty');
  return {
    name: positionals[0] ?? '',
    port,
    host,
    version: values.version === undefined ? undefined : String(values.version),
    exitWithStdin: values['exit-with-stdin'] === true,
    help,
  };
}

export interface MainIo {
  readonly stdout: (text: string) => void;
  readonly stderr: LogSink;
}

/** Runs one workload until a signal (or stdin's end); resolves with the exit code. */
export async function main(argv: readonly string[], env: SampleEnv, io: MainIo): Promise<number> {
  let cli: CommandLine;
  let id: ReturnType<typeof resolveIdentity>;
  let graceMs: number;
  try {
    cli = parseCommandLine(argv);
    if (cli.help) {
      io.stdout(usage());
      return 0;
    }
    id = resolveIdentity(cli.name, cli, env);
    graceMs = envInt(env, 'SHUTDOWN_GRACE_MS', 10_000, 0, 600_000);
  } catch (err) {
    return failed(err, io);
  }
  const log = createLog(id.name, id.version, io.stderr, env.LOG_REQUESTS === '1');
  // Listen for the stop signals before starting, so one that arrives during start-up still
  // ends in a clean stop rather than Node's default kill.
  let stopRequested: string | undefined;
  let stop: (why: string) => void = (why) => {
    stopRequested ??= why;
  };
  const onSignal = (signal: string) => stop(signal);
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  if (cli.exitWithStdin) {
    process.stdin.on('error', () => {});
    process.stdin.on('end', () => stop('stdin closed'));
    process.stdin.resume();
  }
  try {
    let workload: Workload;
    try {
      workload = await WORKLOADS[id.name].start({ ...id, env, log });
    } catch (err) {
      return failed(err, io);
    }
    return await new Promise<number>((resolve) => {
      let stopping = false;
      stop = (why: string) => {
        if (stopping) {
          io.stderr(`${id.name}: ${why} again, exiting now`);
          resolve(1);
          return;
        }
        stopping = true;
        log.info('shutting down', { reason: why });
        workload.close(graceMs).then(
          () => resolve(0),
          (err) => {
            log.error('shutdown failed', { err });
            resolve(1);
          },
        );
      };
      if (stopRequested !== undefined) stop(stopRequested);
      else io.stdout(`${formatReadyLine(workload)}\n`);
    });
  } finally {
    process.removeListener('SIGTERM', onSignal);
    process.removeListener('SIGINT', onSignal);
    if (cli.exitWithStdin) process.stdin.pause();
  }
}

function failed(err: unknown, io: MainIo): number {
  if (err instanceof SampleConfigError) {
    io.stderr(`error: ${err.message}\n\n${usage()}`);
    return 2;
  }
  const e = err as NodeJS.ErrnoException;
  if (e?.code === 'EADDRINUSE')
    io.stderr(`error: ${e.message}: the port is taken; choose another with --port`);
  else io.stderr(`error: ${e?.message ?? String(err)}`);
  return 1;
}

if (import.meta.main) {
  const code = await main(process.argv.slice(2), process.env, {
    stdout: (text) => process.stdout.write(text),
    stderr: (line) => process.stderr.write(`${line}\n`),
  });
  // Explicit: a client library's timers must not keep a stopped workload alive.
  process.exit(code);
}
