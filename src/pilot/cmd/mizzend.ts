/**
 * `mizzend`: the control plane process (Istio's pilot-discovery). Parses flags (each with an
 * environment equivalent), configures logging, runs a MizzenDiscoveryServer until SIGTERM or
 * SIGINT, and turns start-up failures into one clear line and a distinct exit code.
 */

import { rename, writeFile } from 'node:fs/promises';
import { enableCompileCache } from 'node:module';
import path from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { parseDuration } from '../../lib/duration.ts';
import { ErrorCode, errorMessage, MizzenError } from '../../lib/errors.ts';
import { featureDocs } from '../../lib/features.ts';
import { isLogLevel, logger, setLogFormat, setLogLevel } from '../../lib/log.ts';
import {
  DEFAULT_GRPC_PORT,
  DEFAULT_HOST,
  DEFAULT_MONITORING_PORT,
  MizzenDiscoveryServer,
} from '../server.ts';

const log = logger('pilot:cmd');

/** sysexits.h codes, so supervisors and scripts can tell failures apart. */
export const MizzendExit = {
  OK: 0,
  /** Unexpected failure. */
  INTERNAL: 1,
  /** Bad flags or environment values (EX_USAGE). */
  USAGE: 64,
  /** The config directory or mesh config file cannot be read (EX_NOINPUT). */
  UNREADABLE_INPUT: 66,
  /** A port is taken or cannot be bound (EX_UNAVAILABLE). */
  UNAVAILABLE: 69,
  /** The mesh config is invalid (EX_CONFIG). */
  CONFIG: 78,
} as const;

export interface MizzendIo {
  readonly env: Readonly<Record<string, string | undefined>>;
  stdout(text: string): void;
  stderr(text: string): void;
}

export interface MizzendFlags {
  readonly configDir: string;
  readonly meshConfig?: string;
  readonly grpcPort: number;
  readonly monitoringPort: number;
  readonly host: string;
  readonly logLevel: string;
  readonly logFormat: 'text' | 'json';
  readonly portFile?: string;
  readonly shutdownGrace: number;
}

function parsePort(value: string): number {
  const n = Number(value);
  if (!/^[0-9]+$/.test(value) || n > 65535) throw new InvalidArgumentError('expected a port number 0-65535');
  return n;
}

function parseGrace(value: string): number {
  const ms = parseDuration(value);
  if (ms === undefined || ms < 0) throw new InvalidArgumentError('expected a duration such as 5s or 500ms');
  return ms;
}

function parseLevel(value: string): string {
  if (!isLogLevel(value)) throw new InvalidArgumentError('expected debug, info, warn, error or none');
  return value;
}

/** Builds the command line parser; `onRun` receives the parsed flags. */
export function buildCommand(io: MizzendIo, onRun: (flags: MizzendFlags) => Promise<void>): Command {
  const program = new Command('mizzend')
    .description(
      'Mizzen control plane: serves Envoy xDS v3 (ADS) built from Istio configuration in a watched directory.',
    )
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout(s), writeErr: (s) => io.stderr(s) })
    .showHelpAfterError('(run with --help for usage)')
    .allowExcessArguments(false)
    .addOption(
      new Option('--config-dir <dir>', 'directory (or file) of Istio YAML, watched for changes')
        .env('MIZZEN_CONFIG_DIR')
        .makeOptionMandatory(),
    )
    .addOption(
      new Option(
        '--mesh-config <file>',
        'mesh config file (MeshConfig, istio ConfigMap or IstioOperator), watched',
      ).env('MESH_CONFIG'),
    )
    .addOption(
      new Option('--grpc-port <port>', 'xDS (ADS) gRPC port; 0 picks a free port')
        .env('MIZZEN_GRPC_PORT')
        .default(DEFAULT_GRPC_PORT)
        .argParser(parsePort),
    )
    .addOption(
      new Option(
        '--monitoring-port <port>',
        'HTTP port of /ready, /metrics and /debug/*; 0 picks a free port',
      )
        .env('MIZZEN_MONITORING_PORT')
        .default(DEFAULT_MONITORING_PORT)
        .argParser(parsePort),
    )
    .addOption(
      new Option(
        '--host <address>',
        'address both servers bind; loopback by default because plaintext xDS is unauthenticated (0.0.0.0 serves other hosts)',
      )
        .env('MIZZEN_HOST')
        .default(DEFAULT_HOST),
    )
    .addOption(
      new Option('--log-level <level>', 'debug, info, warn, error or none')
        .env('MIZZEN_LOG_LEVEL')
        .default('info')
        .argParser(parseLevel),
    )
    .addOption(
      new Option('--log-format <format>', 'log line format')
        .env('MIZZEN_LOG_FORMAT')
        .choices(['text', 'json'])
        .default('text'),
    )
    .addOption(
      new Option(
        '--port-file <file>',
        'write {"grpc":N,"monitoring":N,"pid":N} here once listening (useful with port 0)',
      ).env('MIZZEN_PORT_FILE'),
    )
    .addOption(
      new Option('--shutdown-grace <duration>', 'time streams get to close on SIGTERM before they are cut')
        .env('MIZZEN_SHUTDOWN_GRACE')
        .default(5_000, '5s')
        .argParser(parseGrace),
    )
    .addHelpText('after', `\nEnvironment flags (Istio's names where Istio has one):\n${featureDocs()}\n`)
    .action(async (opts: MizzendFlags) => onRun(opts));
  return program;
}

/** Exit code for a start-up failure. */
function exitCodeFor(err: unknown): number {
  if (err instanceof MizzenError) {
    if (err.code === ErrorCode.CONFIG_UNREADABLE) return MizzendExit.UNREADABLE_INPUT;
    if (err.code === ErrorCode.CONFIG_INVALID) return MizzendExit.CONFIG;
    if (err.code === ErrorCode.INVALID_ARGUMENT) return MizzendExit.USAGE;
  }
  if (/cannot listen/.test(errorMessage(err))) return MizzendExit.UNAVAILABLE;
  return MizzendExit.INTERNAL;
}

async function writePortFile(file: string, ports: { grpc: number; monitoring: number }): Promise<void> {
  // Write then rename, so a reader never sees a half-written file.
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  await writeFile(tmp, `${JSON.stringify({ ...ports, pid: process.pid })}\n`);
  await rename(tmp, file);
}

/**
 * Runs mizzend until SIGTERM/SIGINT. Resolves with the exit code: 0 after a clean stop,
 * non-zero (with the reason on stderr) when it cannot start.
 */
export async function runMizzend(argv: readonly string[], io: MizzendIo): Promise<number> {
  let code: number = MizzendExit.OK;
  const program = buildCommand(io, async (flags) => {
    code = await serve(flags, io);
  });
  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? MizzendExit.OK : MizzendExit.USAGE;
    io.stderr(`mizzend: internal error: ${errorMessage(err)}\n`);
    return MizzendExit.INTERNAL;
  }
  return code;
}

async function serve(flags: MizzendFlags, io: MizzendIo): Promise<number> {
  setLogLevel(flags.logLevel as Parameters<typeof setLogLevel>[0]);
  setLogFormat(flags.logFormat);
  let server: MizzenDiscoveryServer;
  try {
    server = new MizzenDiscoveryServer({
      configDir: flags.configDir,
      meshConfigFile: flags.meshConfig,
      grpcPort: flags.grpcPort,
      monitoringPort: flags.monitoringPort,
      host: flags.host,
    });
  } catch (err) {
    io.stderr(`mizzend: ${errorMessage(err)}\n`);
    return exitCodeFor(err);
  }

  let signalled: NodeJS.Signals | undefined;
  let stopped!: () => void;
  const stop = new Promise<void>((resolve) => {
    stopped = resolve;
  });
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled) {
      // A second signal: the operator does not want to wait for the grace period.
      log.warn('second signal; exiting now', { signal });
      process.exit(MizzendExit.INTERNAL);
    }
    signalled = signal;
    log.info('signal received; shutting down', { signal, graceMs: flags.shutdownGrace });
    stopped();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    const startup = server.start();
    // When a signal wins the race, a later start-up failure is already handled by stop().
    startup.catch(() => {});
    const first = await Promise.race([
      startup.then(() => 'started' as const),
      stop.then(() => 'signal' as const),
    ]);
    if (first === 'started' && flags.portFile) {
      await writePortFile(flags.portFile, await startup);
      log.info('port file written', { file: flags.portFile });
    }
    await stop;
    await server.stop({ graceMs: flags.shutdownGrace });
    return MizzendExit.OK;
  } catch (err) {
    io.stderr(`mizzend: ${errorMessage(err)}\n`);
    await server.stop({ graceMs: 0 }).catch(() => {});
    return exitCodeFor(err);
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
}

export async function main(argv: readonly string[]): Promise<number> {
  try {
    enableCompileCache();
  } catch {
    // read-only temp directory and the like: only start-up speed is lost
  }
  const code = await runMizzend(argv, {
    env: process.env,
    stdout: (s) => process.stdout.write(s),
    stderr: (s) => process.stderr.write(s),
  });
  // Anything still holding the event loop after a stop (a socket mid-teardown) must not keep
  // a stopped control plane alive; the timer itself does not hold it.
  setTimeout(() => process.exit(code), 2_000).unref();
  return code;
}
