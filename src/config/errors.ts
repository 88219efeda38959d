/**
 * Errors the config layer throws to callers that hand it config directly (the memory source,
 * later `kubectl apply`-like paths). File sources never throw for bad config: they keep a
 * status instead.
 */
import { formatIssue, type LocatedIssue } from '../api/yaml-document.ts';
import { ErrorCode, MizzenError } from '../lib/errors.ts';

/** Config rejected by validation; `issues` are located (`file:line:col path: message`). */
export class ConfigValidationError extends MizzenError {
  readonly issues: readonly LocatedIssue[];
  constructor(issues: readonly LocatedIssue[]) {
    const errors = issues.filter((i) => i.severity === 'error');
    const shown = errors.length > 0 ? errors : issues;
    super(
      ErrorCode.CONFIG_INVALID,
      `invalid config (${shown.length} ${shown.length === 1 ? 'error' : 'errors'}):\n${shown.map((i) => `  ${formatIssue(i)}`).join('\n')}`,
    );
    this.name = 'ConfigValidationError';
    this.issues = issues;
  }
}
