/**
 * Helpers for protobuf's well-known types in their snake_case object form: Duration (Mizzen
 * keeps milliseconds, see lib/duration.ts), Struct/Value (node metadata, filter metadata) and
 * the scalar wrappers.
 */

export interface ProtoDuration {
  readonly seconds: number | string;
  readonly nanos?: number;
}

/** Milliseconds (fractions allowed) -> `{seconds, nanos}`, both with the sign of the input. */
export function toProtoDuration(ms: number): { seconds: number; nanos: number } {
  const totalNanos = Math.round(ms * 1e6);
  const seconds = Math.trunc(totalNanos / 1e9);
  const nanos = totalNanos - seconds * 1e9;
  return { seconds, nanos };
}

/**
 * `{seconds, nanos}` (seconds as number, decimal string or Long-like) -> milliseconds.
 * Undefined or null means "not set" and gives undefined.
 */
export function fromProtoDuration(
  d: ProtoDuration | { seconds?: unknown; nanos?: unknown } | null | undefined,
): number | undefined {
  if (d === null || d === undefined) return undefined;
  const seconds = Number(
    typeof d.seconds === 'object' && d.seconds !== null ? String(d.seconds) : (d.seconds ?? 0),
  );
  const nanos = Number(d.nanos ?? 0);
  return seconds * 1000 + nanos / 1e6;
}

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/**
 * google.protobuf.Value as an object (input form for encoding). NOTE the camelCase member
 * names: protobufjs always serves google/protobuf/*.proto from its bundled definitions, which
 * spell Value's fields `stringValue`, `structValue`, …, whatever `keepCase` says. Value is the
 * only well-known type where this shows (Any keeps `type_url`).
 */
export type ProtoValue =
  | { nullValue: 'NULL_VALUE' }
  | { numberValue: number }
  | { stringValue: string }
  | { boolValue: boolean }
  | { structValue: ProtoStruct }
  | { listValue: { values: ProtoValue[] } };
export interface ProtoStruct {
  fields: Record<string, ProtoValue>;
}

/** Plain JSON -> google.protobuf.Struct object. Non-JSON values (undefined, functions) are skipped. */
export function toProtoStruct(json: Readonly<Record<string, unknown>>): ProtoStruct {
  const fields: Record<string, ProtoValue> = {};
  for (const [key, value] of Object.entries(json)) {
    const v = toProtoValue(value);
    if (v) fields[key] = v;
  }
  return { fields };
}

export function toProtoValue(value: unknown): ProtoValue | undefined {
  if (value === null) return { nullValue: 'NULL_VALUE' };
  switch (typeof value) {
    case 'number':
      return { numberValue: value };
    case 'string':
      return { stringValue: value };
    case 'boolean':
      return { boolValue: value };
    case 'object':
      if (Array.isArray(value)) {
        return { listValue: { values: value.map((v) => toProtoValue(v) ?? { nullValue: 'NULL_VALUE' }) } };
      }
      return { structValue: toProtoStruct(value as Record<string, unknown>) };
    default:
      return undefined;
  }
}

type DecodedValue = Record<string, unknown> | null | undefined;

/**
 * Decoded google.protobuf.Struct (any decode options: with or without the virtual `kind` oneof
 * property, enums as names or numbers) -> plain JSON object. Null or undefined gives `{}`.
 */
export function fromProtoStruct(struct: { fields?: unknown } | null | undefined): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = {};
  const fields = (struct?.fields ?? {}) as Record<string, DecodedValue>;
  for (const [key, value] of Object.entries(fields)) out[key] = fromProtoValue(value);
  return out;
}

export function fromProtoValue(value: DecodedValue): JsonValue {
  if (value === null || value === undefined) return null;
  const kind = typeof value.kind === 'string' ? value.kind : undefined;
  const has = (k: string) => (kind ? kind === k : value[k] !== undefined && value[k] !== null);
  if (has('stringValue')) return String(value.stringValue);
  if (has('numberValue')) return Number(value.numberValue);
  if (has('boolValue')) return Boolean(value.boolValue);
  if (has('structValue')) return fromProtoStruct(value.structValue as { fields?: unknown });
  if (has('listValue')) {
    const list = value.listValue as { values?: DecodedValue[] } | null;
    return (list?.values ?? []).map(fromProtoValue);
  }
  return null;
}

/** Wrapper messages (google.protobuf.UInt32Value & co): `{value}`. */
export function wrapped<T extends number | string | boolean>(value: T): { value: T } {
  return { value };
}
