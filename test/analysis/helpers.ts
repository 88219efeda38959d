/** Shared helpers for analysis tests: literal YAML in, printed message lines out. */
import assert from 'node:assert/strict';
import { type AnalyzeOptions, analyze } from '../../src/analysis/analyze.ts';
import type { Analyzer } from '../../src/analysis/analyzer.ts';
import { type AnalysisMessage, messageLine } from '../../src/analysis/diagnostic.ts';
import { AnalysisInput } from '../../src/analysis/input.ts';
import { Messages } from '../../src/analysis/messages.ts';

/** Removes the indentation common to all non-empty lines, so YAML can be indented in tests. */
export function dedent(text: string): string {
  const lines = text.replace(/^\n/, '').split('\n');
  const indent = Math.min(...lines.filter((l) => l.trim() !== '').map((l) => l.match(/^ */)![0].length));
  return lines.map((l) => l.slice(indent)).join('\n');
}

export type Files = Record<string, string>;

export function inputOf(files: Files | string): AnalysisInput {
  const map = typeof files === 'string' ? { 'config.yaml': files } : files;
  return AnalysisInput.fromTexts(
    Object.entries(map).map(([name, text]) => ({ name, text: dedent(text) })),
    { defaultNamespace: 'default' },
  );
}

/**
 * Runs `analyzers` (all when omitted) over the files and returns the printed lines, less
 * schema warnings (IST0133). The fixtures must be valid: a schema error fails the test, so
 * a typo in a fixture cannot pass for a finding.
 */
export function run(
  files: Files | string,
  analyzers?: readonly Analyzer[],
  options: AnalyzeOptions = {},
): string[] {
  const input = inputOf(files);
  const errors = input.messages.filter((m) => m.type === Messages.SchemaValidationError);
  assert.deepEqual(errors.map(messageLine), [], 'fixture must be valid');
  return analyze(input, { ...options, analyzers })
    .messages.filter((m) => m.type !== Messages.SchemaWarning)
    .map(messageLine);
}

export function messagesOf(files: Files | string, options: AnalyzeOptions = {}): AnalysisMessage[] {
  return analyze(inputOf(files), options).messages;
}
