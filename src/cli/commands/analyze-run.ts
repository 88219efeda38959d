/**
 * The work of `mizzenctl analyze`, loaded only when the command runs: read the inputs,
 * analyze, print in the chosen format, and turn the result into an exit code.
 */

import { analyze } from '../../analysis/analyze.ts';
import { ALL_ANALYZERS } from '../../analysis/analyzers/index.ts';
import { AnalysisInput } from '../../analysis/input.ts';
import { reaches } from '../../analysis/messages.ts';
import { formatMessages } from '../../analysis/output.ts';
import { ErrorCode, MizzenError } from '../../lib/errors.ts';
import { ExitCode } from '../exit-codes.ts';
import { type GatherResult, gatherInputs } from '../inputs.ts';
import type { CliIo } from '../io.ts';
import type { AnalyzeFlags } from './analyze.ts';

const ANALYSIS_DOCS = 'https://istio.io/latest/docs/reference/config/analysis';

function listAnalyzers(io: CliIo): void {
  const sorted = [...ALL_ANALYZERS].sort((a, b) => a.name.localeCompare(b.name));
  let out = '';
  for (const a of sorted) {
    const reports = a.produces.map((t) => `${t.code} ${t.name}`).join(', ');
    out += `* ${a.name}:\n    ${a.description}\n    reports: ${reports}\n`;
  }
  io.stdout(out);
}

export function runAnalyze(paths: readonly string[], flags: AnalyzeFlags, io: CliIo): number {
  if (flags.listAnalyzers) {
    listAnalyzers(io);
    return ExitCode.OK;
  }
  const targets = [...paths, ...flags.filename];
  if (targets.length === 0) {
    io.stderr('error: nothing to analyze: give files or directories, e.g. mizzenctl analyze examples/\n');
    io.stderr('(run with --help for usage)\n');
    return ExitCode.USAGE;
  }
  const started = performance.now();
  let gathered: GatherResult;
  try {
    gathered = gatherInputs(targets, io.readStdin);
  } catch (err) {
    if (err instanceof MizzenError && err.code === ErrorCode.CONFIG_UNREADABLE) {
      io.stderr(`error: ${err.message}\n`);
      return ExitCode.UNREADABLE_INPUT;
    }
    throw err;
  }
  for (const note of gathered.notes) io.stderr(`${note}\n`);
  const input = AnalysisInput.fromTexts(gathered.sources, { defaultNamespace: flags.namespace });
  const result = analyze(input, { rootNamespace: flags.istioNamespace, suppressions: flags.suppress });
  if (flags.verbose) {
    const ms = (performance.now() - started).toFixed(1);
    io.stderr(
      `Analyzed ${input.resources.length} Istio objects and ${input.kube.length} Kubernetes objects from ${gathered.sources.length} files in ${ms} ms\n` +
        `Executed analyzers:\n${result.executed.map((n) => `\t${n}\n`).join('')}\n`,
    );
  }
  const shown = result.messages.filter((m) => reaches(m.type.level, flags.outputThreshold));
  const color = flags.color ?? (io.stdoutIsTTY && io.env.TERM !== 'dumb' && io.env.NO_COLOR === undefined);
  const text = formatMessages(shown, flags.output, { color });
  if (text !== '') io.stdout(text);
  const what = targets.join(', ');
  if (shown.length === 0) io.stderr(`\u2714 No validation issues found when analyzing ${what}.\n`);
  // Like istioctl, the exit code looks at every message, not only the printed ones.
  if (result.messages.some((m) => reaches(m.type.level, flags.failureThreshold))) {
    io.stderr(
      `Error: Analyzers found issues when analyzing ${what}.\nSee ${ANALYSIS_DOCS} for more information about causes and resolutions.\n`,
    );
    return ExitCode.ANALYZER_FOUND_ISSUES;
  }
  return ExitCode.OK;
}
