/**
 * Messages -> text in istioctl's three formats: `log` (one line per message, optionally
 * colored by level), and `json`/`yaml` (a list of objects with code, documentationUrl,
 * level, message, origin and reference; keys in that order, as istioctl prints them).
 */
import { stringify } from 'yaml';
import type { OutputFormat } from './defaults.ts';
import { type AnalysisMessage, messageLine, originName, originReference } from './diagnostic.ts';
import { documentationUrl, type Level } from './messages.ts';

const COLORS: Record<Level, string> = { Error: '\u001b[1;31m', Warning: '\u001b[33m', Info: '' };
const RESET = '\u001b[0m';

export interface MessageRecord {
  readonly code: string;
  readonly documentationUrl?: string;
  readonly level: Level;
  readonly message: string;
  readonly origin?: string;
  readonly reference?: string;
}

export function toRecord(m: AnalysisMessage): MessageRecord {
  const record: Record<string, string> = { code: m.type.code };
  const url = documentationUrl(m.type);
  if (url) record.documentationUrl = url;
  record.level = m.type.level;
  record.message = m.text;
  const origin = originName(m.origin);
  if (origin) record.origin = origin;
  const reference = originReference(m.origin);
  if (reference) record.reference = reference;
  return record as unknown as MessageRecord;
}

function logLine(m: AnalysisMessage, color: boolean): string {
  const line = messageLine(m);
  const prefix = color ? COLORS[m.type.level] : '';
  if (!prefix) return line;
  return `${prefix}${m.type.level}${RESET}${line.slice(m.type.level.length)}`;
}

/** The whole output, ending with a newline unless there is nothing to print in `log` format. */
export function formatMessages(
  messages: readonly AnalysisMessage[],
  format: OutputFormat,
  options: { color?: boolean } = {},
): string {
  switch (format) {
    case 'log':
      return messages.map((m) => `${logLine(m, options.color ?? false)}\n`).join('');
    case 'json':
      return `${JSON.stringify(messages.map(toRecord), null, '\t')}\n`;
    case 'yaml':
      return messages.length === 0 ? '[]\n' : stringify(messages.map(toRecord), { lineWidth: 0 });
  }
}
