/**
 * Walks schemas built with the DSL, for tests and tooling: the field paths a schema declares,
 * and the field paths a given value sets. Paths use one notation everywhere:
 * `http[].match[].uri.exact` — `[]` for list items, and a map or google.protobuf.Struct value
 * is a leaf written `headers{}` (its keys are data, not fields).
 */
import {
  ArraySchema,
  DeprecatedSchema,
  LazySchema,
  MapSchema,
  ObjectSchema,
  RequiredSchema,
  type Schema,
  StructSchema,
} from './dsl.ts';

/** The schema under the wrappers that do not change the shape (required, deprecated, lazy). */
export function unwrapSchema(schema: Schema<unknown>): Schema<unknown> {
  let s = schema;
  for (;;) {
    if (s instanceof RequiredSchema || s instanceof DeprecatedSchema) s = s.inner as Schema<unknown>;
    else if (s instanceof LazySchema) s = s.get() as Schema<unknown>;
    else return s;
  }
}

function join(prefix: string, key: string): string {
  return prefix === '' ? key : `${prefix}.${key}`;
}

/**
 * Every leaf field path of `schema`, sorted. A recursive schema (through `t.lazy`) is cut
 * where an object type repeats on the current path (that path is then a leaf), so the
 * result stays finite.
 */
export function schemaFieldPaths(schema: Schema<unknown>): string[] {
  const out = new Set<string>();
  const walk = (s: Schema<unknown>, path: string, stack: Set<Schema<unknown>>): void => {
    const u = unwrapSchema(s);
    if (u instanceof ArraySchema) {
      walk(u.item as Schema<unknown>, `${path}[]`, stack);
    } else if (u instanceof MapSchema || u instanceof StructSchema) {
      out.add(`${path}{}`);
    } else if (u instanceof ObjectSchema) {
      if (stack.has(u)) {
        out.add(path); // the recursion point itself is the leaf
        return;
      }
      const fields = Object.entries(u.fields as Record<string, Schema<unknown>>);
      if (fields.length === 0) {
        if (path !== '') out.add(path); // an empty message is a leaf; an empty root has no fields
        return;
      }
      const next = new Set(stack).add(u);
      for (const [key, field] of fields) walk(field, join(path, key), next);
    } else {
      out.add(path);
    }
  };
  walk(schema, '', new Set());
  return [...out].sort();
}

/**
 * The leaf field paths that `value` (the parsed form of `schema`) sets, in the notation of
 * `schemaFieldPaths`. An empty object or list that is present counts for its own path only
 * when the schema has no fields below it.
 */
export function setFieldPaths(schema: Schema<unknown>, value: unknown): Set<string> {
  const out = new Set<string>();
  const walk = (s: Schema<unknown>, v: unknown, path: string, stack: Set<Schema<unknown>>): void => {
    if (v === undefined || v === null) return;
    const u = unwrapSchema(s);
    if (u instanceof ArraySchema) {
      if (!Array.isArray(v)) return;
      for (const item of v) walk(u.item as Schema<unknown>, item, `${path}[]`, stack);
    } else if (u instanceof MapSchema || u instanceof StructSchema) {
      out.add(`${path}{}`);
    } else if (u instanceof ObjectSchema) {
      if (typeof v !== 'object' || Array.isArray(v)) return;
      if (stack.has(u)) {
        out.add(path);
        return;
      }
      const next = new Set(stack).add(u);
      const fields = u.fields as Record<string, Schema<unknown>>;
      if (Object.keys(fields).length === 0) {
        if (path !== '') out.add(path);
        return;
      }
      for (const [key, item] of Object.entries(v as Record<string, unknown>)) {
        if (Object.hasOwn(fields, key)) walk(fields[key], item, join(path, key), next);
      }
    } else {
      out.add(path);
    }
  };
  walk(schema, value, '', new Set());
  return out;
}
