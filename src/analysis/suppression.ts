/**
 * Suppressions: `CODE=Kind name.namespace` (istioctl's form) or `CODE=Kind namespace/name`,
 * where `*` matches any run of characters. A suppressed message is not reported at all.
 */
import type { AnalysisMessage } from './diagnostic.ts';

export interface Suppression {
  readonly code: string;
  readonly resource: string;
}

/** Parses `CODE=Kind name.namespace`; returns an error text when it is not of that form. */
export function parseSuppression(text: string): Suppression | string {
  const eq = text.indexOf('=');
  if (eq <= 0 || eq === text.length - 1 || text.indexOf('=', eq + 1) >= 0) {
    return `${JSON.stringify(text)} is not a valid suppression: use CODE=Kind name.namespace, e.g. "IST0102=DestinationRule primary-dr.default"`;
  }
  return { code: text.slice(0, eq).trim().toUpperCase(), resource: text.slice(eq + 1).trim() };
}

function globToRegExp(glob: string): RegExp {
  const escaped = glob.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*');
  return new RegExp(`^${escaped}$`);
}

/** A predicate that is true for messages one of the suppressions silences. */
export function suppressor(suppressions: readonly Suppression[]): (m: AnalysisMessage) => boolean {
  const rules = suppressions.map((s) => ({ code: s.code, re: globToRegExp(s.resource) }));
  return (m) => {
    const o = m.origin;
    if (!o?.kind || rules.length === 0) return false;
    const names = [
      `${o.kind} ${o.name ?? ''}.${o.namespace ?? ''}`,
      `${o.kind} ${o.namespace ?? ''}/${o.name ?? ''}`,
    ];
    return rules.some((s) => s.code === m.type.code && names.some((n) => s.re.test(n)));
  };
}
