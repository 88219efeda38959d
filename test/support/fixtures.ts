/**
 * The fixture convention shared by every kind's tests:
 *
 *   test/api/testdata/<kind-in-kebab-case>/valid/*.yaml|*.json
 *   test/api/testdata/<kind-in-kebab-case>/invalid/*.yaml|*.json
 *
 * A file declares the lines it must produce with comment lines (anywhere at column 0):
 *
 *   # expect: <file:line:col path: message>           an error (invalid fixtures)
 *   # expect-warning: <file:line:col path: message>   a warning (valid or invalid fixtures)
 *
 * Lines are what `formatIssue` prints for the file's basename.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { type DecodedFile, decodeText } from '../../src/api/decode.ts';
import { formatIssue } from '../../src/api/yaml-document.ts';

export const TESTDATA = join(import.meta.dirname, '..', 'api', 'testdata');

/** `VirtualService` -> `virtual-service`. */
export function kebabKind(kind: string): string {
  return kind.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase();
}

export interface Fixture {
  readonly kind: string;
  readonly valid: boolean;
  readonly file: string;
  readonly name: string;
  readonly text: string;
  readonly expectErrors: readonly string[];
  readonly expectWarnings: readonly string[];
}

const EXPECT = /^#\s*expect:\s?(.*?)\s*$/;
const EXPECT_WARNING = /^#\s*expect-warning:\s?(.*?)\s*$/;

export function parseExpectations(text: string): { errors: string[]; warnings: string[] } {
  const errors: string[] = [];
  const warnings: string[] = [];
  for (const line of text.split(/\r?\n/)) {
    const e = EXPECT.exec(line);
    if (e) errors.push(e[1]);
    const w = EXPECT_WARNING.exec(line);
    if (w) warnings.push(w[1]);
  }
  return { errors, warnings };
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** Fixture files of one kind (`valid` or `invalid`), sorted by name; [] when there are none. */
export function fixtureFiles(kind: string, valid: boolean): Fixture[] {
  const dir = join(TESTDATA, kebabKind(kind), valid ? 'valid' : 'invalid');
  if (!isDir(dir)) return [];
  return readdirSync(dir)
    .filter((f) => /\.(ya?ml|json)$/.test(f))
    .sort()
    .map((f) => {
      const file = join(dir, f);
      const text = readFileSync(file, 'utf8');
      const { errors, warnings } = parseExpectations(text);
      return { kind, valid, file, name: basename(f), text, expectErrors: errors, expectWarnings: warnings };
    });
}

/** Names of the directories under testdata (one per kind). */
export function fixtureKindDirs(): string[] {
  return isDir(TESTDATA) ? readdirSync(TESTDATA).filter((d) => isDir(join(TESTDATA, d))) : [];
}

export function decodeFixture(f: Fixture): DecodedFile {
  return decodeText(f.text, f.name, { defaultNamespace: 'default' });
}

export function producedLines(decoded: DecodedFile): { errors: string[]; warnings: string[] } {
  const errors: string[] = [];
  const warnings: string[] = [];
  for (const i of decoded.issues) (i.severity === 'error' ? errors : warnings).push(formatIssue(i));
  return { errors, warnings };
}
