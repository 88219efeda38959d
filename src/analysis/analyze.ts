/**
 * Runs the analyzers over an input and returns the messages, sorted and deduplicated,
 * without the suppressed ones. An analyzer that throws becomes an IST0001 message instead
 * of ending the run.
 */
import { errorMessage } from '../lib/errors.ts';
import type { Analyzer } from './analyzer.ts';
import { ALL_ANALYZERS } from './analyzers/index.ts';
import { AnalysisContext } from './context.ts';
import { DEFAULT_ROOT_NAMESPACE } from './defaults.ts';
import { type AnalysisMessage, sortAndDedupe } from './diagnostic.ts';
import type { AnalysisInput } from './input.ts';
import { Messages } from './messages.ts';
import { type Suppression, suppressor } from './suppression.ts';

export type { Suppression };

export interface AnalyzeOptions {
  readonly rootNamespace?: string;
  readonly analyzers?: readonly Analyzer[];
  readonly suppressions?: readonly Suppression[];
}

export interface AnalysisResult {
  readonly messages: AnalysisMessage[];
  /** Names of the analyzers that ran, in order. */
  readonly executed: string[];
}

export function analyze(input: AnalysisInput, options: AnalyzeOptions = {}): AnalysisResult {
  const ctx = new AnalysisContext(input, { rootNamespace: options.rootNamespace ?? DEFAULT_ROOT_NAMESPACE });
  const executed: string[] = [];
  for (const analyzer of options.analyzers ?? ALL_ANALYZERS) {
    try {
      analyzer.analyze(ctx);
    } catch (err) {
      ctx.messages.push({
        type: Messages.InternalError,
        text: `Internal error: analyzer ${analyzer.name} failed: ${errorMessage(err)}`,
      });
    }
    executed.push(analyzer.name);
  }
  const isSuppressed = suppressor(options.suppressions ?? []);
  // A finding of an analyzer supersedes what validation said of the same code and place
  // (validation also flags unreachable VirtualService rules, in its own words).
  const place = (m: AnalysisMessage): string =>
    `${m.type.code}|${m.origin?.kind}|${m.origin?.namespace}/${m.origin?.name}|${m.origin?.file}:${m.origin?.line}`;
  const found = new Set(ctx.messages.map(place));
  const fromInput = input.messages.filter((m) => !found.has(place(m)));
  const all = [...fromInput, ...ctx.messages].filter((m) => !isSuppressed(m));
  return { messages: sortAndDedupe(all), executed };
}
