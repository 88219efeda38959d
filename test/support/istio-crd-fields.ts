/**
 * The field reference for our schemas: every field path under `spec` of an Istio kind, read
 * with the TypeScript compiler API from the types @kubernetes-models/istio generates from
 * Istio's CRDs (node_modules/@kubernetes-models/istio/<group>/<version>/<Kind>.d.ts).
 *
 * Paths use the notation of src/api/schema/introspect.ts: `http[].match[].uri.exact`, with
 * `[]` for list items and `{}` for a map or google.protobuf.Struct (a leaf).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import ts from 'typescript';

const require = createRequire(import.meta.url);

/** node_modules/@kubernetes-models/istio */
export const ISTIO_MODELS_DIR = dirname(require.resolve('@kubernetes-models/istio/package.json'));

export function crdTypesFile(group: string, version: string, kind: string): string {
  return join(ISTIO_MODELS_DIR, group, version, `${kind}.d.ts`);
}

/** The newest of `versions` (newest first) for which the package has the kind's types. */
export function newestTypesFile(
  group: string,
  versions: readonly string[],
  kind: string,
): string | undefined {
  for (const v of versions) {
    const f = crdTypesFile(group, v, kind);
    if (existsSync(f)) return f;
  }
  return undefined;
}

const PRIMITIVE =
  ts.TypeFlags.StringLike |
  ts.TypeFlags.NumberLike |
  ts.TypeFlags.BooleanLike |
  ts.TypeFlags.EnumLike |
  ts.TypeFlags.BigIntLike |
  ts.TypeFlags.Null |
  ts.TypeFlags.Undefined;

function walkSpec(checker: ts.TypeChecker, spec: ts.Type): string[] {
  const out = new Set<string>();
  const walk = (input: ts.Type, path: string, depth: number): void => {
    if (depth > 32) throw new Error(`field ${path} nests too deeply; is the type recursive?`);
    const type = checker.getNonNullableType(input);
    const members = type.isUnion() ? type.types : [type];
    if (type.flags & (ts.TypeFlags.Any | ts.TypeFlags.Unknown) || members.every((m) => m.flags & PRIMITIVE)) {
      out.add(path);
      return;
    }
    // A list: an array type, possibly inside a union or intersection that the generator emits.
    const arrayMember = members.find(
      (m) => checker.getIndexTypeOfType(m, ts.IndexKind.Number) && m.getProperty('length'),
    );
    if (arrayMember) {
      const item = checker.getIndexTypeOfType(arrayMember, ts.IndexKind.Number);
      if (item) walk(item, `${path}[]`, depth + 1);
      return;
    }
    if (checker.getIndexTypeOfType(type, ts.IndexKind.String)) {
      out.add(`${path}{}`);
      return;
    }
    // Objects, and the unions/intersections the generator writes for oneof groups: the fields
    // are the union of the members' properties.
    const props = new Map<string, ts.Type>();
    for (const m of members) {
      for (const p of checker.getPropertiesOfType(m)) {
        if (!props.has(p.name)) props.set(p.name, checker.getTypeOfSymbol(p));
      }
    }
    if (props.size === 0) {
      out.add(path);
      return;
    }
    for (const [name, t] of props) walk(t, path === '' ? name : `${path}.${name}`, depth + 1);
  };
  walk(spec, '', 0);
  return [...out].sort();
}

const cache = new Map<string, string[]>();

/**
 * Field paths under `spec` for each given types file, computed with one compiler program
 * (the generated files are large; one checker for all of them keeps this to a few seconds).
 */
export function istioSpecFieldPaths(files: readonly { file: string; kind: string }[]): Map<string, string[]> {
  const todo = files.filter((f) => !cache.has(f.file));
  if (todo.length > 0) {
    const program = ts.createProgram(
      todo.map((f) => f.file),
      {
        strict: true,
        noEmit: true,
        skipLibCheck: true,
        module: ts.ModuleKind.ESNext,
        moduleResolution: ts.ModuleResolutionKind.Bundler,
        target: ts.ScriptTarget.ES2022,
      },
    );
    const checker = program.getTypeChecker();
    for (const { file, kind } of todo) {
      const sf = program.getSourceFile(file);
      if (!sf) throw new Error(`cannot load ${file}`);
      let iface: ts.InterfaceDeclaration | undefined;
      ts.forEachChild(sf, (n) => {
        if (ts.isInterfaceDeclaration(n) && n.name.text === `I${kind}`) iface = n;
      });
      if (!iface) throw new Error(`${file} has no interface I${kind}`);
      const spec = checker.getTypeAtLocation(iface).getProperty('spec');
      if (!spec) throw new Error(`${file}: I${kind} has no spec`);
      cache.set(file, walkSpec(checker, checker.getTypeOfSymbol(spec)));
    }
  }
  return new Map(files.map((f) => [f.file, cache.get(f.file) ?? []]));
}
