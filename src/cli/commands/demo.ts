/**
 * `mizzenctl demo` (what `npm start` runs): brings up Mizzen on this machine from the example
 * configuration and keeps it running until Ctrl-C or SIGTERM, then stops everything it
 * started and removes what it wrote.
 *
 * Today it runs the control plane, `mizzend`, on `examples/` (watched: edit a file and the
 * change is validated and pushed). The sample workloads, their sidecars and the ingress
 * gateway join it as the data plane lands (issue 5).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { ExitCode } from '../exit-codes.ts';
import type { CliIo } from '../io.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const MIZZEND = join(ROOT, 'bin', 'mizzend.js');

export interface DemoFlags {
  readonly configDir: string;
  readonly grpcPort: number;
  readonly monitoringPort: number;
  /** Ends the demo after this many ms (tests); 0 = run until a signal. */
  readonly exitAfter: number;
}

function portArg(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('a port is 0-65535.');
  return n;
}

export function registerDemo(program: Command, io: CliIo, done: (code: number) => void): void {
  program
    .command('demo')
    .description('run Mizzen on this machine from the example configuration, until Ctrl-C')
    .option('--config-dir <dir>', 'configuration to serve (watched)', join(ROOT, 'examples'))
    .option('--grpc-port <port>', 'mizzend xDS port', portArg, 15010)
    .option('--monitoring-port <port>', 'mizzend /ready, /metrics and /debug port', portArg, 15014)
    .addOption(
      new Option('--exit-after <ms>', 'stop after this long (for tests)')
        .argParser((v: string) => Number(v))
        .default(0)
        .hideHelp(),
    )
    .action(async (flags: DemoFlags) => {
      done(await runDemo(flags, io));
    });
}

export async function runDemo(flags: DemoFlags, io: CliIo): Promise<number> {
  const work = mkdtempSync(join(tmpdir(), 'mizzen-demo-'));
  const portFile = join(work, 'mizzend.json');
  const say = (line: string) => io.stdout(`${line}\n`);
  say(`Starting mizzend on ${relative(process.cwd(), flags.configDir) || '.'} ...`);
  const child = spawn(
    process.execPath,
    [
      MIZZEND,
      '--config-dir',
      flags.configDir,
      '--grpc-port',
      String(flags.grpcPort),
      '--monitoring-port',
      String(flags.monitoringPort),
      '--port-file',
      portFile,
    ],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  );
  const exited = new Promise<number>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0))),
  );
  try {
    const ports = await waitForPorts(portFile, child, exited);
    if (!ports) {
      io.stderr('mizzenctl demo: mizzend did not start (its error is above).\n');
      return ExitCode.INTERNAL;
    }
    const base = `http://127.0.0.1:${ports.monitoring}`;
    say('');
    say(`mizzend is serving xDS on 127.0.0.1:${ports.grpc} and its debug API on ${base}.`);
    say('');
    say('Try:');
    say(`  curl ${base}/ready`);
    say(`  curl ${base}/debug/registryz     # services and endpoints from the ServiceEntries`);
    say(`  curl ${base}/debug/configz       # every object, and any rejected document with file:line`);
    say(`  curl ${base}/debug/syncz         # connected proxies and what they ACKed`);
    say(`  curl ${base}/metrics             # pilot_* metrics`);
    say('  npx mizzenctl analyze examples/  # validate and analyze the same configuration');
    say('');
    say(
      `Edit a file under ${relative(process.cwd(), flags.configDir) || '.'} and watch the log: the change is`,
    );
    say('validated, a bad document is rejected alone, and the last good config keeps serving.');
    say('Press Ctrl-C to stop.');
    const stop = new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
      if (flags.exitAfter > 0) setTimeout(resolve, flags.exitAfter).unref();
    });
    const ended = await Promise.race([
      stop.then(() => 'signal' as const),
      exited.then(() => 'child' as const),
    ]);
    if (ended === 'child') {
      io.stderr('mizzenctl demo: mizzend exited unexpectedly.\n');
      return ExitCode.INTERNAL;
    }
    say('Stopping ...');
    await stopChild(child, exited);
    say('Stopped; nothing left running.');
    return ExitCode.OK;
  } finally {
    if (child.exitCode === null && child.signalCode === null) await stopChild(child, exited);
    rmSync(work, { recursive: true, force: true });
  }
}

async function waitForPorts(
  portFile: string,
  child: ChildProcess,
  exited: Promise<number>,
): Promise<{ grpc: number; monitoring: number } | undefined> {
  let gone = false;
  void exited.then(() => {
    gone = true;
  });
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline && !gone && child.exitCode === null) {
    try {
      return JSON.parse(readFileSync(portFile, 'utf8')) as { grpc: number; monitoring: number };
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return undefined;
}

async function stopChild(child: ChildProcess, exited: Promise<number>): Promise<void> {
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}
