/**
 * `mizzenctl analyze`: validates Istio configuration files and runs the cross-object
 * analyzers over them, the way `istioctl analyze` does for files. This module only
 * declares the command; the work (and the heavy modules it needs) is loaded from
 * analyze-run.ts when the command runs, so `--help` and usage errors stay fast.
 */
import { type Command, InvalidArgumentError, Option } from 'commander';
import {
  DEFAULT_NAMESPACE,
  DEFAULT_ROOT_NAMESPACE,
  OUTPUT_FORMATS,
  type OutputFormat,
} from '../../analysis/defaults.ts';
import { LEVELS, type Level, parseLevel } from '../../analysis/messages.ts';
import { parseSuppression, type Suppression } from '../../analysis/suppression.ts';
import { ExitCode } from '../exit-codes.ts';
import type { CliIo } from '../io.ts';

export interface AnalyzeFlags {
  readonly filename: string[];
  readonly output: OutputFormat;
  readonly failureThreshold: Level;
  readonly outputThreshold: Level;
  readonly namespace: string;
  readonly istioNamespace: string;
  readonly suppress: Suppression[];
  readonly listAnalyzers?: boolean;
  readonly color?: boolean;
  readonly verbose?: boolean;
  readonly allNamespaces?: boolean;
  readonly recursive?: boolean;
}

// Kubernetes namespace names (DNS-1123 labels).
const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

function levelArg(value: string): Level {
  const level = parseLevel(value);
  if (!level) throw new InvalidArgumentError(`use one of ${LEVELS.join(', ')}.`);
  return level;
}

function formatArg(value: string): OutputFormat {
  const f = value.toLowerCase();
  if (!(OUTPUT_FORMATS as readonly string[]).includes(f)) {
    throw new InvalidArgumentError(`use one of ${OUTPUT_FORMATS.join(', ')}.`);
  }
  return f as OutputFormat;
}

function namespaceArg(value: string): string {
  if (!NAMESPACE.test(value)) {
    throw new InvalidArgumentError("not a valid namespace name (lower-case letters, digits and '-').");
  }
  return value;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function suppressionArg(value: string, previous: Suppression[]): Suppression[] {
  const s = parseSuppression(value);
  if (typeof s === 'string') throw new InvalidArgumentError(s);
  return [...previous, s];
}

export function registerAnalyze(program: Command, io: CliIo, done: (code: number) => void): void {
  program
    .command('analyze')
    .description('Validate Istio configuration files and analyze them for problems across objects')
    .argument('[paths...]', 'files or directories (searched recursively for .yaml, .yml, .json); - for stdin')
    .option('-f, --filename <path>', 'a file or directory to analyze (repeatable)', collect, [])
    .addOption(
      new Option('-o, --output <format>', `output format: ${OUTPUT_FORMATS.join(', ')}`)
        .argParser(formatArg)
        .default('log'),
    )
    .addOption(
      new Option(
        '--failure-threshold <level>',
        `lowest message level that makes the exit code ${ExitCode.ANALYZER_FOUND_ISSUES}: ${LEVELS.join(', ')}`,
      )
        .argParser(levelArg)
        .default('Error'),
    )
    .addOption(
      new Option('--output-threshold <level>', `lowest message level to print: ${LEVELS.join(', ')}`)
        .argParser(levelArg)
        .default('Info'),
    )
    .addOption(
      new Option('-n, --namespace <namespace>', 'namespace of objects that do not name one')
        .argParser(namespaceArg)
        .default(DEFAULT_NAMESPACE),
    )
    .addOption(
      new Option(
        '-i, --istioNamespace <namespace>',
        "Istio's root namespace: policies there apply to every namespace",
      )
        .argParser(namespaceArg)
        .default(DEFAULT_ROOT_NAMESPACE),
    )
    .option(
      '-S, --suppress <code=resource>',
      'do not report a code on a resource, e.g. "IST0102=DestinationRule primary-dr.default"; * matches anything (repeatable)',
      suppressionArg,
      [],
    )
    .option('-L, --list-analyzers', 'list the analyzers and the messages they report, then exit')
    .option('--color', 'color levels in log output (default: when stdout is a terminal and TERM is not dumb)')
    .option('--no-color', 'do not color the output')
    .option('-v, --verbose', 'print what was read and the analyzers run to stderr')
    .option(
      '-A, --all-namespaces',
      'accepted for istioctl compatibility; files are always analyzed in all namespaces',
    )
    .option(
      '-R, --recursive',
      'accepted for istioctl compatibility; directories are always searched recursively',
    )
    .addHelpText(
      'after',
      `
Exit codes:
  ${ExitCode.OK}   no message at or above --failure-threshold
  ${ExitCode.ANALYZER_FOUND_ISSUES}  some message reached --failure-threshold (in every output format)
  ${ExitCode.UNREADABLE_INPUT}  an input path is missing or cannot be read
  ${ExitCode.USAGE}  invalid command line

Examples:
  mizzenctl analyze examples/
  mizzenctl analyze -f gateway.yaml -f routes/ -o json
  mizzenctl analyze config/ --failure-threshold Warning
  kubectl get vs,dr -A -o yaml | mizzenctl analyze -`,
    )
    .action(async (paths: string[], flags: AnalyzeFlags) => {
      const { runAnalyze } = await import('./analyze-run.ts');
      done(runAnalyze(paths, flags, io));
    });
}
