/**
 * A small schema language for Istio's protobuf-shaped APIs in their JSON/YAML form.
 *
 * One declaration gives both the TypeScript type (`Infer<typeof schema>`) and the structural
 * validator: unknown fields, wrong types, bad enum values, missing required fields and
 * oneof conflicts, each reported with its field path. `parse` returns the normalized value
 * (int64 strings become numbers, nothing unknown survives) or `INVALID`.
 *
 * Semantic rules (host names, regexes, combinations) live beside each kind, in
 * `validate-<kind>.ts`, and run only when the structure is right.
 */
import { parseDuration } from '../../lib/duration.ts';
import { type FieldPath, type Issues, show } from '../validation.ts';

export const INVALID: unique symbol = Symbol('invalid');
export type Parsed<T> = T | typeof INVALID;

export abstract class Schema<T> {
  declare readonly _type: T;
  /** What a value must be, for messages: "a string", "an integer", "one of A, B". */
  abstract readonly expected: string;
  abstract parse(value: unknown, path: FieldPath, issues: Issues): Parsed<T>;
  /** Marks the field required in its parent object. */
  required(): RequiredSchema<T> {
    return new RequiredSchema(this);
  }
  /** Accepted, but reported as a warning that names the replacement. */
  deprecated(advice: string): Schema<T> {
    return new DeprecatedSchema(this, advice);
  }
}

export type Infer<S> = S extends Schema<infer T> ? T : never;

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'number') return Number.isInteger(value) ? 'an integer' : 'a number';
  if (typeof value === 'boolean') return 'a boolean';
  return `a ${typeof value}`;
}

export function wrongType(path: FieldPath, issues: Issues, expected: string, value: unknown): typeof INVALID {
  const got = typeof value === 'string' ? `the string ${show(value)}` : `${typeName(value)} (${show(value)})`;
  issues.error(path, `expected ${expected}, got ${got}`);
  return INVALID;
}

export class RequiredSchema<T> extends Schema<T> {
  readonly inner: Schema<T>;
  constructor(inner: Schema<T>) {
    super();
    this.inner = inner;
  }
  get expected(): string {
    return this.inner.expected;
  }
  parse(value: unknown, path: FieldPath, issues: Issues): Parsed<T> {
    return this.inner.parse(value, path, issues);
  }
}

export class DeprecatedSchema<T> extends Schema<T> {
  readonly inner: Schema<T>;
  readonly advice: string;
  constructor(inner: Schema<T>, advice: string) {
    super();
    this.inner = inner;
    this.advice = advice;
  }
  get expected(): string {
    return this.inner.expected;
  }
  parse(value: unknown, path: FieldPath, issues: Issues): Parsed<T> {
    issues.warn(path, `deprecated: ${this.advice}`);
    return this.inner.parse(value, path, issues);
  }
}

export class StringSchema extends Schema<string> {
  readonly expected = 'a string';
  parse(value: unknown, path: FieldPath, issues: Issues): Parsed<string> {
    return typeof value === 'string' ? value : wrongType(path, issues, this.expected, value);
  }
}

export class BoolSchema extends Schema<boolean> {
  readonly expected = 'a boolean (true or false)';
  parse(value: unknown, path: FieldPath, issues: Issues): Parsed<boolean> {
    return typeof value === 'boolean' ? value : wrongType(path, issues, this.expected, value);
  }
}

type IntKind = 'int32' | 'uint32' | 'int64' | 'uint64';
const INT_RANGE: Record<IntKind, [number, number]> = {
  int32: [-(2 ** 31), 2 ** 31 - 1],
  uint32: [0, 2 ** 32 - 1],
  int64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  uint64: [0, Number.MAX_SAFE_INTEGER],
};

export class IntSchema extends Schema<number> {
  readonly kind: IntKind;
  constructor(kind: IntKind) {
    super();
    this.kind = kind;
  }
  get expected(): string {
    return this.kind.startsWith('u') ? 'a non-negative integer' : 'an integer';
  }
  parse(value: unknown, path: FieldPath, issues: Issues): Parsed<number> {
    let n = value;
    // proto3 JSON writes 64-bit integers as strings and accepts them for every integer type.
    if (typeof value === 'string' && /^-?\d+$/.test(value)) n = Number(value);
    if (typeof n !== 'number' || !Number.isInteger(n)) return wrongType(path, issues, this.expected, value);
    const [min, max] = INT_RANGE[this.kind];
    if (n < min || n > max) {
      issues.error(path, `${n} is out of range for ${this.kind} (${min} to ${max})`);
      return INVALID;
    }
    return n;
  }
}

export class DoubleSchema extends Schema<number> {
  readonly expected = 'a number';
  parse(value: unknown, path: FieldPath, issues: Issues): Parsed<number> {
    return typeof value === 'number' && Number.isFinite(value)
      ? value
      : wrongType(path, issues, this.expected, value);
  }
}

export class EnumSchema<E extends string> extends Schema<E> {
  readonly values: readonly E[];
  constructor(values: readonly E[]) {
    super();
    this.values = values;
  }
  get expected(): string {
    return `one of ${this.values.join(', ')}`;
  }
  parse(value: unknown, path: FieldPath, issues: Issues): Parsed<E> {
    if (typeof value === 'string' && (this.values as readonly string[]).includes(value)) return value as E;
    if (typeof value !== 'string') return wrongType(path, issues, this.expected, value);
    issues.error(path, `${show(value)} is not a valid value; expected ${this.expected}`);
    return INVALID;
  }
}

/** A duration string in Go syntax ("1.5s", "300ms", "1h"); kept as written, see lib/duration.ts. */
export class DurationSchema extends Schema<string> {
  readonly expected = 'a duration such as "1.5s", "300ms" or "1h"';
  parse(value: unknown, path: FieldPath, issues: Issues): Parsed<string> {
    if (typeof value !== 'string') return wrongType(path, issues, this.expected, value);
    const ms = parseDuration(value);
    if (ms === undefined) {
      issues.error(
        path,
        `${show(value)} is not a valid duration (expected a number with a unit: ns, us, ms, s, m, h)`,
      );
      return INVALID;
    }
    if (ms < 0) {
      issues.error(path, `${show(value)} is negative; durations must be zero or more`);
      return INVALID;
    }
    return value;
  }
}

export class ArraySchema<T> extends Schema<T[]> {
  readonly item: Schema<T>;
  constructor(item: Schema<T>) {
    super();
    this.item = item;
  }
  get expected(): string {
    return 'a list';
  }
  parse(value: unknown, path: FieldPath, issues: Issues): Parsed<T[]> {
    if (value === null) return [];
    if (!Array.isArray(value)) return wrongType(path, issues, this.expected, value);
    const out: T[] = [];
    let ok = true;
    value.forEach((v, i) => {
      const p = this.item.parse(v, [...path, i], issues);
      if (p === INVALID) ok = false;
      else out.push(p);
    });
    return ok ? out : INVALID;
  }
}

export class MapSchema<T> extends Schema<Record<string, T>> {
  readonly values: Schema<T>;
  constructor(values: Schema<T>) {
    super();
    this.values = values;
  }
  get expected(): string {
    return 'a map';
  }
  parse(value: unknown, path: FieldPath, issues: Issues): Parsed<Record<string, T>> {
    if (value === null) return {};
    if (typeof value !== 'object' || Array.isArray(value))
      return wrongType(path, issues, this.expected, value);
    const out: Record<string, T> = {};
    let ok = true;
    for (const [k, v] of Object.entries(value)) {
      const p = this.values.parse(v, [...path, k], issues);
      if (p === INVALID) ok = false;
      else out[k] = p;
    }
    return ok ? out : INVALID;
  }
}

/** Any JSON value (google.protobuf.Struct / Value); checked by the semantic layer if at all. */
export class AnySchema extends Schema<unknown> {
  readonly expected = 'any value';
  parse(value: unknown): Parsed<unknown> {
    return value;
  }
}

export class StructSchema extends Schema<Record<string, unknown>> {
  readonly expected = 'an object';
  parse(value: unknown, path: FieldPath, issues: Issues): Parsed<Record<string, unknown>> {
    if (value === null) return {};
    if (typeof value !== 'object' || Array.isArray(value))
      return wrongType(path, issues, this.expected, value);
    return value as Record<string, unknown>;
  }
}

type Shape = Record<string, Schema<unknown>>;
type RequiredKeys<F extends Shape> = {
  [K in keyof F]: F[K] extends RequiredSchema<unknown> ? K : never;
}[keyof F];
type Simplify<T> = { [K in keyof T]: T[K] } & {};
export type ObjectOf<F extends Shape> = Simplify<
  { [K in RequiredKeys<F>]: Infer<F[K]> } & { [K in Exclude<keyof F, RequiredKeys<F>>]?: Infer<F[K]> }
>;

export interface ObjectOptions {
  /** Groups of fields of which at most one may be set (protobuf oneof). */
  oneOf?: readonly (readonly string[])[];
  /** Groups of which exactly one must be set. */
  exactlyOneOf?: readonly (readonly string[])[];
}

/**
 * The lowerCamelCase JSON name protoc derives from a protobuf field name (`export_to` ->
 * `exportTo`, `consecutive_5xx_errors` -> `consecutive5xxErrors`), or undefined when `key` is
 * not written as a proto field name.
 */
export function protoJsonName(key: string): string | undefined {
  if (!/^[a-z][a-z0-9]*(?:_[a-z0-9]+)+$/.test(key)) return undefined;
  return key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

export class ObjectSchema<F extends Shape> extends Schema<ObjectOf<F>> {
  readonly fields: F;
  readonly options: ObjectOptions;
  readonly name: string;
  /**
   * A protobuf message: Istio reads it with protobuf's JSON mapping, which accepts a field
   * under its proto name (`export_to`) as well as its JSON name (`exportTo`). Set for every
   * message of a kind's spec by `acceptProtoFieldNames`.
   */
  protoNames = false;
  constructor(name: string, fields: F, options: ObjectOptions = {}) {
    super();
    this.name = name;
    this.fields = fields;
    this.options = options;
  }
  get expected(): string {
    return `an object (${this.name})`;
  }
  parse(value: unknown, path: FieldPath, issues: Issues): Parsed<ObjectOf<F>> {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      return wrongType(path, issues, this.expected, value);
    }
    let input = value as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    let ok = true;
    if (this.protoNames) {
      const normalized = this.normalizeProtoNames(input, path, issues);
      if (!normalized.ok) ok = false;
      input = normalized.input;
    }
    for (const [key, v] of Object.entries(input)) {
      const field = Object.hasOwn(this.fields, key) ? this.fields[key] : undefined;
      if (!field) {
        issues.error(
          [...path, key],
          `unknown field ${show(key)} in ${this.name}${suggest(key, Object.keys(this.fields))}`,
        );
        ok = false;
        continue;
      }
      // YAML `key:` with no value is null: treat as unset, as protobuf JSON does.
      if (v === null && !(field instanceof ArraySchema || field instanceof MapSchema)) continue;
      const p = field.parse(v, [...path, key], issues);
      if (p === INVALID) ok = false;
      else out[key] = p;
    }
    for (const [key, field] of Object.entries(this.fields)) {
      if (field instanceof RequiredSchema && (input[key] === undefined || input[key] === null)) {
        issues.error([...path, key], `${key} is required`);
        ok = false;
      }
    }
    for (const group of this.options.oneOf ?? []) {
      const set = group.filter((k) => input[k] !== undefined && input[k] !== null);
      if (set.length > 1) {
        issues.error(
          [...path, set[1]],
          `only one of ${group.join(', ')} may be set (found ${set.join(' and ')})`,
        );
        ok = false;
      }
    }
    for (const group of this.options.exactlyOneOf ?? []) {
      const set = group.filter((k) => input[k] !== undefined && input[k] !== null);
      if (set.length !== 1) {
        const where = set.length === 0 ? path : [...path, set[1]];
        issues.error(
          where,
          `exactly one of ${group.join(', ')} must be set${set.length ? ` (found ${set.join(' and ')})` : ''}`,
        );
        ok = false;
      }
    }
    return ok ? (out as ObjectOf<F>) : INVALID;
  }

  /**
   * Renames fields written under their protobuf name to their JSON name, keeping the order,
   * and records the spelling so that issues name the field as written. Both spellings of one
   * field is an error, as in protobuf's JSON parser.
   */
  private normalizeProtoNames(
    input: Record<string, unknown>,
    path: FieldPath,
    issues: Issues,
  ): { input: Record<string, unknown>; ok: boolean } {
    const jsonNameOf = (key: string): string | undefined => {
      if (Object.hasOwn(this.fields, key)) return undefined;
      const json = protoJsonName(key);
      return json !== undefined && Object.hasOwn(this.fields, json) ? json : undefined;
    };
    let renamed = false;
    const twice = new Set<string>();
    for (const key of Object.keys(input)) {
      const json = jsonNameOf(key);
      if (json === undefined) continue;
      if (Object.hasOwn(input, json)) {
        issues.error(
          [...path, key],
          `${show(key)} and ${show(json)} are the same field (its protobuf and JSON names); set it once`,
        );
        // Reported once: the JSON-named entry is still read, this one is dropped.
        twice.add(key);
        continue;
      }
      renamed = true;
      issues.alias([...path, json], key);
      issues.warn(
        [...path, json],
        `${show(key)} is the protobuf name of ${show(json)}: Istio reads it from files, but the Kubernetes API server (Istio's CRD schema) only accepts ${show(json)}`,
      );
    }
    const ok = twice.size === 0;
    if (!renamed && ok) return { input, ok };
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(input)) if (!twice.has(key)) out[jsonNameOf(key) ?? key] = v;
    return { input: out, ok };
  }
}

/**
 * Marks every message reachable from `schema` as a protobuf message whose fields may also be
 * written under their proto names (see ObjectSchema.protoNames). Istio's kind specs and
 * MeshConfig are protobuf; Kubernetes' ObjectMeta and Mizzen's own files are not.
 */
export function acceptProtoFieldNames(schema: Schema<unknown>): void {
  const seen = new Set<Schema<unknown>>();
  const walk = (s: Schema<unknown>): void => {
    if (seen.has(s)) return;
    seen.add(s);
    if (s instanceof RequiredSchema || s instanceof DeprecatedSchema) walk(s.inner as Schema<unknown>);
    else if (s instanceof LazySchema) walk(s.get() as Schema<unknown>);
    else if (s instanceof ArraySchema) walk(s.item as Schema<unknown>);
    else if (s instanceof MapSchema) walk(s.values as Schema<unknown>);
    else if (s instanceof ObjectSchema) {
      s.protoNames = true;
      for (const f of Object.values(s.fields as Shape)) walk(f);
    }
  };
  walk(schema);
}

function suggest(key: string, known: string[]): string {
  const lower = key.toLowerCase().replace(/[_-]/g, '');
  let hit = known.find((k) => k.toLowerCase() === lower);
  let best = 3;
  for (const k of hit ? [] : known) {
    // A missing plural "s" is the commonest slip (host/hosts): prefer it over other near misses.
    const d = k === `${key}s` || `${k}s` === key ? 0.5 : editDistance(k, key);
    if (d < best) [best, hit] = [d, k];
  }
  return hit ? ` (did you mean ${show(hit)}?)` : '';
}

function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3;
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0];
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j];
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length];
}

export class LazySchema<T> extends Schema<T> {
  readonly get: () => Schema<T>;
  constructor(get: () => Schema<T>) {
    super();
    this.get = get;
  }
  get expected(): string {
    return this.get().expected;
  }
  parse(value: unknown, path: FieldPath, issues: Issues): Parsed<T> {
    return this.get().parse(value, path, issues);
  }
}

/** The constructors. Names follow protobuf's scalar types so a schema reads like the .proto. */
export const t = {
  string: (): Schema<string> => new StringSchema(),
  bool: (): Schema<boolean> => new BoolSchema(),
  int32: (): Schema<number> => new IntSchema('int32'),
  uint32: (): Schema<number> => new IntSchema('uint32'),
  int64: (): Schema<number> => new IntSchema('int64'),
  uint64: (): Schema<number> => new IntSchema('uint64'),
  double: (): Schema<number> => new DoubleSchema(),
  enum: <const E extends string>(values: readonly E[]): Schema<E> => new EnumSchema(values),
  duration: (): Schema<string> => new DurationSchema(),
  array: <T>(item: Schema<T>): Schema<T[]> => new ArraySchema(item),
  map: <T>(values: Schema<T>): Schema<Record<string, T>> => new MapSchema(values),
  object: <F extends Shape>(name: string, fields: F, options?: ObjectOptions): ObjectSchema<F> =>
    new ObjectSchema(name, fields, options),
  /** google.protobuf.Struct */
  struct: (): Schema<Record<string, unknown>> => new StructSchema(),
  /** google.protobuf.Value */
  any: (): Schema<unknown> => new AnySchema(),
  lazy: <T>(get: () => Schema<T>): Schema<T> => new LazySchema(get),
};
