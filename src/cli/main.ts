/**
 * mizzenctl entry point: builds the command tree and maps results to exit codes (see
 * exit-codes.ts). Each verb lives in `commands/<verb>.ts` and registers itself here;
 * verbs load their heavy modules only when they run.
 */
import { enableCompileCache } from 'node:module';
import { Command, CommanderError } from 'commander';
import { errorMessage } from '../lib/errors.ts';
import { registerAnalyze } from './commands/analyze.ts';
import { registerDemo } from './commands/demo.ts';
import { registerProxyConfig } from './commands/proxy-config.ts';
import { registerProxyStatus } from './commands/proxy-status.ts';
import { ExitCode } from './exit-codes.ts';
import { type CliIo, processIo } from './io.ts';

export function buildProgram(io: CliIo, done: (code: number) => void): Command {
  const program = new Command('mizzenctl')
    .description(
      'Mizzen command-line tool: work with a Mizzen (Istio-compatible) service mesh and its configuration',
    )
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout(s), writeErr: (s) => io.stderr(s) })
    .showHelpAfterError('(run with --help for usage)')
    .allowExcessArguments(false);
  registerAnalyze(program, io, done);
  registerDemo(program, io, done);
  registerProxyStatus(program, io, done);
  registerProxyConfig(program, io, done);
  return program;
}

/** Runs one command line and returns the process exit code. */
export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  let code: number = ExitCode.OK;
  const program = buildProgram(io, (c) => {
    code = c;
  });
  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end in a "help displayed" error with exit code 0.
      return err.exitCode === 0 ? ExitCode.OK : ExitCode.USAGE;
    }
    io.stderr(`mizzenctl: internal error: ${errorMessage(err)}\n`);
    if (io.env.MIZZEN_DEBUG && err instanceof Error && err.stack) io.stderr(`${err.stack}\n`);
    return ExitCode.INTERNAL;
  }
  return code;
}

export async function main(argv: readonly string[]): Promise<number> {
  // Node's on-disk code cache (in the OS temp directory; NODE_DISABLE_COMPILE_CACHE=1 turns
  // it off) saves re-compiling the TypeScript sources on every run: most of the start-up
  // time of a short command. A failure to set it up only costs speed.
  try {
    enableCompileCache();
  } catch {
    // read-only temp directory and the like
  }
  return run(argv, processIo());
}
