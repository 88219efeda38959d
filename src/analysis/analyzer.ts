/**
 * An analyzer looks at the whole input through the shared context and reports messages.
 * Analyzers are independent of each other and register in analyzers/index.ts; a new check
 * is a new analyzer, not a branch inside an existing one.
 */
import type { AnalysisContext } from './context.ts';
import type { MessageType } from './messages.ts';

export interface Analyzer {
  /** Stable name, `<area>.<Name>Analyzer` as istioctl lists them. */
  readonly name: string;
  readonly description: string;
  /** The message types it may report (for `--list-analyzers` and the docs). */
  readonly produces: readonly MessageType[];
  analyze(ctx: AnalysisContext): void;
}
