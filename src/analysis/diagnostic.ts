/**
 * One analysis message as found (type, text, where), and the order and identity rules the
 * output relies on: messages sort by level, code, origin, then text, and two messages
 * that would print the same line are one.
 */
import { levelRank, type MessageType } from './messages.ts';

/** What a message is about: an object (kind, namespace, name) and/or a place in a file. */
export interface MessageOrigin {
  readonly kind?: string;
  readonly namespace?: string;
  readonly name?: string;
  readonly file?: string;
  /** 1-based line of the field the message is about, or of the document. */
  readonly line?: number;
}

export interface AnalysisMessage {
  readonly type: MessageType;
  readonly text: string;
  readonly origin?: MessageOrigin;
}

/** `VirtualService default/reviews` (namespace left out for objects without one). */
export function originName(o: MessageOrigin | undefined): string | undefined {
  if (!o?.kind) return undefined;
  const name = o.name ?? '';
  return o.namespace ? `${o.kind} ${o.namespace}/${name}` : `${o.kind} ${name}`;
}

/** `reviews.yaml:12`, or the file alone when the line is unknown. */
export function originReference(o: MessageOrigin | undefined): string | undefined {
  if (!o?.file) return undefined;
  return o.line ? `${o.file}:${o.line}` : o.file;
}

/** The parenthesized part of a log line: `(VirtualService default/reviews reviews.yaml:12)`. */
export function originText(o: MessageOrigin | undefined): string {
  const parts = [originName(o), originReference(o)].filter((p) => p !== undefined);
  return parts.length > 0 ? ` (${parts.join(' ')})` : '';
}

/** `Error [IST0101] (VirtualService default/reviews reviews.yaml:12) Referenced host not found: "reviewz"` */
export function messageLine(m: AnalysisMessage): string {
  return `${m.type.level} [${m.type.code}]${originText(m.origin)} ${m.text}`;
}

function compareStrings(a: string | undefined, b: string | undefined): number {
  const x = a ?? '';
  const y = b ?? '';
  return x < y ? -1 : x > y ? 1 : 0;
}

export function compareMessages(a: AnalysisMessage, b: AnalysisMessage): number {
  return (
    levelRank(a.type.level) - levelRank(b.type.level) ||
    compareStrings(a.type.code, b.type.code) ||
    compareStrings(originName(a.origin), originName(b.origin)) ||
    compareStrings(a.origin?.file, b.origin?.file) ||
    (a.origin?.line ?? 0) - (b.origin?.line ?? 0) ||
    compareStrings(a.text, b.text)
  );
}

/** Sorted, without messages that print identically. */
export function sortAndDedupe(messages: readonly AnalysisMessage[]): AnalysisMessage[] {
  const sorted = [...messages].sort(compareMessages);
  const out: AnalysisMessage[] = [];
  let last = '';
  for (const m of sorted) {
    const line = messageLine(m);
    if (out.length > 0 && line === last) continue;
    out.push(m);
    last = line;
  }
  return out;
}
