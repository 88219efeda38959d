/**
 * Config statuses: what a source could not apply, or applied with remarks, kept for the CLI
 * and debug endpoints (`mizzenctl` shows them; /debug/configz lists them). A status is about
 * one document of one file (or a whole file, or a whole source) and carries the located
 * issues, already formatted as `file:line:col path: message`.
 */
import { type ConfigKey, formatConfigKey } from '../api/resource.ts';
import { formatIssue, type LocatedIssue } from '../api/yaml-document.ts';

export type StatusLevel = 'error' | 'warning' | 'info';

export const StatusReason = {
  /** The document failed validation; it is not applied. */
  INVALID: 'invalid',
  /** The file (or a document of it) is not valid YAML/JSON. */
  SYNTAX: 'syntax',
  /** The file or directory could not be read; what it produced before keeps serving. */
  UNREADABLE: 'unreadable',
  /** The configured path does not exist (yet). */
  MISSING: 'missing',
  /** Another definition of the same (kind, namespace, name) takes precedence. */
  CONFLICT: 'conflict',
  /** Not an Istio configuration kind (a Deployment, a Service...); ignored on purpose. */
  SKIPPED: 'skipped',
  /** Applied, with warnings (deprecated fields, YAML warnings). */
  WARNING: 'warning',
} as const;
export type StatusReason = (typeof StatusReason)[keyof typeof StatusReason];

export interface ConfigStatus {
  /** Name of the source that reports it (`file:examples`, `memory`, `kubernetes`). */
  readonly source: string;
  readonly level: StatusLevel;
  readonly reason: StatusReason;
  /** File the status is about, as given to the source (relative paths stay relative). */
  readonly file?: string;
  /** 0-based document index in the file; absent when the status is about the whole file. */
  readonly document?: number;
  /** The object the document defines, when it could be told. */
  readonly key?: ConfigKey;
  /** The located issues behind the status. */
  readonly issues: readonly LocatedIssue[];
  /** `issues` formatted with `formatIssue`: `file:line:col path: message`. */
  readonly messages: readonly string[];
  /** Objects that keep serving their last good version because of this problem. */
  readonly lastGood?: readonly ConfigKey[];
}

export function makeStatus(fields: Omit<ConfigStatus, 'messages'>): ConfigStatus {
  return Object.freeze({ ...fields, messages: Object.freeze(fields.issues.map(formatIssue)) });
}

const LEVEL_ORDER: Record<StatusLevel, number> = { error: 0, warning: 1, info: 2 };

/** Order for display and for stable output: source, file, document, then severity. */
export function compareStatuses(a: ConfigStatus, b: ConfigStatus): number {
  return (
    cmp(a.source, b.source) ||
    cmp(a.file ?? '', b.file ?? '') ||
    (a.document ?? -1) - (b.document ?? -1) ||
    (a.issues[0]?.line ?? 0) - (b.issues[0]?.line ?? 0) ||
    LEVEL_ORDER[a.level] - LEVEL_ORDER[b.level] ||
    cmp(a.messages.join('\n'), b.messages.join('\n'))
  );
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** One line per message, prefixed by the level, plus a note for objects kept at their last good version. */
export function formatStatus(s: ConfigStatus): string {
  const lines = s.messages.map((m) => `${s.level}: ${m}`);
  if (lines.length === 0) lines.push(`${s.level}: ${s.source}: ${s.reason}`);
  if (s.lastGood && s.lastGood.length > 0) {
    lines.push(`  last good version kept serving: ${s.lastGood.map(formatConfigKey).join(', ')}`);
  }
  return lines.join('\n');
}
