/**
 * Structured output for `-o json` and `-o yaml`, and the `-o` flag's values. JSON is indented
 * by two spaces with a final newline; YAML keeps keys in their order and never folds long
 * strings, so a copied value stays exact.
 */
import { InvalidArgumentError } from 'commander';
import { stringify } from 'yaml';

export const OUTPUT_FORMATS = ['short', 'json', 'yaml'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** commander parser for `-o/--output`. */
export function outputFormatArg(value: string): OutputFormat {
  const f = value.toLowerCase();
  if (!(OUTPUT_FORMATS as readonly string[]).includes(f)) {
    throw new InvalidArgumentError(`use one of ${OUTPUT_FORMATS.join(', ')}.`);
  }
  return f as OutputFormat;
}

export function formatStructured(value: unknown, format: 'json' | 'yaml'): string {
  if (format === 'json') return `${JSON.stringify(value, null, 2)}\n`;
  return stringify(value, { lineWidth: 0, aliasDuplicateObjects: false });
}
