/**
 * Canonical JSON for Envoy resources (CODE-STYLE §C.1): what goes on the wire, printed so two
 * runs compare byte for byte. The object is encoded and decoded first, so the output shows
 * exactly what a proxy receives; then it is printed in proto3 JSON with Envoy's snake_case field
 * names (as Envoy's config_dump does), `Any` expanded with `@type`, Duration as "1.500s",
 * 64-bit integers as strings, wrappers unwrapped, default values omitted, and keys sorted.
 */
import type { Enum, Field, MapField, Message, Type } from 'protobufjs';
import { ErrorCode, MizzenError } from '../errors.ts';
import { isPackedAny, type PackedAny } from './any.ts';
import { validateMessageShape } from './message-shape.ts';
import { hasMessageType, messageType } from './protos.ts';
import type { JsonValue } from './well-known.ts';

type Msg = Message<object> & Record<string, unknown>;

const INT64 = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);
const WRAPPERS = new Set([
  '.google.protobuf.DoubleValue',
  '.google.protobuf.FloatValue',
  '.google.protobuf.Int64Value',
  '.google.protobuf.UInt64Value',
  '.google.protobuf.Int32Value',
  '.google.protobuf.UInt32Value',
  '.google.protobuf.BoolValue',
  '.google.protobuf.StringValue',
  '.google.protobuf.BytesValue',
]);
/** Types whose proto3 JSON is not an object, so inside an Any they sit under "value". */
const SCALAR_JSON = new Set([
  ...WRAPPERS,
  '.google.protobuf.Duration',
  '.google.protobuf.Timestamp',
  '.google.protobuf.Struct',
  '.google.protobuf.Value',
  '.google.protobuf.ListValue',
  '.google.protobuf.FieldMask',
]);

function fail(path: string, message: string): never {
  throw new MizzenError(ErrorCode.INVALID_ARGUMENT, `${path || '<root>'}: ${message}`);
}

/**
 * proto3 JSON of one message. `message` is a snake_case object (checked with
 * validateMessageShape; any problem throws, naming the field path), encoded bytes, or a
 * PackedAny (then `nameOrTypeUrl` may be omitted and the output carries `@type`).
 */
export function toProto3Json(nameOrTypeUrl: string | undefined, message: object | Uint8Array): JsonValue {
  if (isPackedAny(message)) return anyToJson(message.type_url, message.value, '');
  if (!nameOrTypeUrl) fail('', 'a type name is required unless the message is a packed Any');
  const type = messageType(nameOrTypeUrl);
  let bytes: Uint8Array;
  if (message instanceof Uint8Array) {
    bytes = message;
  } else {
    const problems = validateMessageShape(nameOrTypeUrl, message);
    if (problems.length > 0) fail('', `${type.fullName.slice(1)} is malformed:\n  ${problems.join('\n  ')}`);
    bytes = type.encode(type.fromObject(message as Record<string, unknown>)).finish();
  }
  return messageToJson(type, type.decode(bytes) as Msg, '');
}

/** JSON text with keys sorted at every level, two-space indent, trailing newline. */
export function canonicalStringify(value: unknown): string {
  return `${JSON.stringify(sortKeys(value), null, 2)}\n`;
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) out[key] = sortKeys((value as Record<string, unknown>)[key]);
    return out;
  }
  return value;
}

/** The resource's name as xDS knows it: `name`, or `cluster_name` for ClusterLoadAssignment. */
function resourceName(json: JsonValue): string {
  if (typeof json === 'object' && json !== null && !Array.isArray(json)) {
    const name = json.name ?? json.cluster_name;
    if (typeof name === 'string') return name;
  }
  return '';
}

/**
 * The golden-file form of a resource list: each resource in proto3 JSON with `@type`, sorted by
 * name, printed with sorted keys. Resources are objects of `typeUrl` or packed Anys.
 */
export function canonicalResourcesJson(typeUrl: string, resources: readonly (object | PackedAny)[]): string {
  const items = resources.map((r) => {
    const json = isPackedAny(r)
      ? anyToJson(r.type_url, r.value, '')
      : ({ '@type': typeUrl, ...(toProto3Json(typeUrl, r) as object) } as JsonValue);
    return { name: resourceName(json), json };
  });
  items.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return canonicalStringify(items.map((i) => i.json));
}

function anyToJson(typeUrl: string, value: Uint8Array, path: string): JsonValue {
  if (!hasMessageType(typeUrl)) fail(path, `cannot expand Any of unknown type "${typeUrl}"`);
  const type = messageType(typeUrl);
  const inner = messageToJson(type, type.decode(value) as Msg, path);
  if (SCALAR_JSON.has(type.fullName)) return { '@type': typeUrl, value: inner };
  return { '@type': typeUrl, ...(inner as Record<string, JsonValue>) };
}

function messageToJson(type: Type, m: Msg, path: string): JsonValue {
  const name = type.fullName;
  if (WRAPPERS.has(name)) {
    const field = type.fields.value;
    return Object.hasOwn(m, 'value') ? scalarToJson(field, m.value, path) : defaultJson(field);
  }
  switch (name) {
    case '.google.protobuf.Any': {
      const url = m.type_url as string | undefined;
      if (!url) return {};
      return anyToJson(url, (m.value as Uint8Array) ?? new Uint8Array(), path);
    }
    case '.google.protobuf.Duration':
      return formatDuration(BigInt(String(m.seconds ?? 0)), Number(m.nanos ?? 0));
    case '.google.protobuf.Timestamp':
      return formatTimestamp(BigInt(String(m.seconds ?? 0)), Number(m.nanos ?? 0));
    case '.google.protobuf.FieldMask':
      return ((m.paths as string[]) ?? []).join(',');
    case '.google.protobuf.Struct':
    case '.google.protobuf.ListValue':
    case '.google.protobuf.Value':
      return structLikeToJson(type, m, path);
  }
  const out: Record<string, JsonValue> = {};
  for (const field of type.fieldsArray) {
    const key = field.name;
    const v = m[key];
    const fpath = path ? `${path}.${key}` : key;
    if (field.map) {
      const entries = Object.entries((v ?? {}) as Record<string, unknown>);
      if (entries.length === 0) continue;
      const map: Record<string, JsonValue> = {};
      for (const [k, item] of entries) {
        map[mapKey(field as unknown as MapField, k)] = singleToJson(
          field,
          item,
          `${fpath}[${JSON.stringify(k)}]`,
        );
      }
      out[key] = map;
    } else if (field.repeated) {
      const list = (v ?? []) as unknown[];
      if (list.length === 0) continue;
      out[key] = list.map((item, i) => singleToJson(field, item, `${fpath}[${i}]`));
    } else {
      if (!Object.hasOwn(m, key) || v === null || v === undefined) continue;
      // Explicit presence (oneof members, proto3 `optional`) prints even default values.
      if (!field.partOf && !(field.resolvedType && 'fieldsArray' in field.resolvedType) && isDefault(v))
        continue;
      out[key] = singleToJson(field, v, fpath);
    }
  }
  return out;
}

function structLikeToJson(type: Type, m: Msg, path: string): JsonValue {
  switch (type.fullName) {
    case '.google.protobuf.Struct': {
      const out: Record<string, JsonValue> = {};
      const valueType = (type.fields.fields as Field).resolvedType as Type;
      for (const [k, v] of Object.entries((m.fields ?? {}) as Record<string, Msg>)) {
        out[k] = messageToJson(valueType, v, `${path}.${k}`);
      }
      return out;
    }
    case '.google.protobuf.ListValue': {
      const valueType = (type.fields.values as Field).resolvedType as Type;
      return ((m.values ?? []) as Msg[]).map((v, i) => messageToJson(valueType, v, `${path}[${i}]`));
    }
    default: {
      if (Object.hasOwn(m, 'nullValue')) return null;
      if (Object.hasOwn(m, 'numberValue')) return floatToJson(Number(m.numberValue));
      if (Object.hasOwn(m, 'stringValue')) return String(m.stringValue);
      if (Object.hasOwn(m, 'boolValue')) return Boolean(m.boolValue);
      if (Object.hasOwn(m, 'structValue')) {
        return messageToJson(
          (type.fields.structValue as Field).resolvedType as Type,
          m.structValue as Msg,
          path,
        );
      }
      if (Object.hasOwn(m, 'listValue')) {
        return messageToJson((type.fields.listValue as Field).resolvedType as Type, m.listValue as Msg, path);
      }
      return null;
    }
  }
}

function singleToJson(field: Field, value: unknown, path: string): JsonValue {
  const resolved = field.resolvedType;
  if (resolved && 'fieldsArray' in resolved) return messageToJson(resolved as Type, value as Msg, path);
  return scalarToJson(field, value, path);
}

function scalarToJson(field: Field, value: unknown, path: string): JsonValue {
  const resolved = field.resolvedType;
  if (resolved && 'valuesById' in resolved) {
    const name = (resolved as Enum).valuesById[value as number];
    return name ?? (value as number);
  }
  const t = field.type;
  if (INT64.has(t)) return String(value);
  if (t === 'double') return floatToJson(value as number);
  if (t === 'float') return floatToJson(shortestFloat32(value as number));
  if (t === 'bytes') return Buffer.from(value as Uint8Array).toString('base64');
  if (t === 'string' || t === 'bool' || typeof value === 'number') return value as JsonValue;
  return fail(path, `unsupported scalar type ${t}`);
}

function defaultJson(field: Field): JsonValue {
  const t = field.type;
  if (INT64.has(t)) return '0';
  if (t === 'string' || t === 'bytes') return '';
  if (t === 'bool') return false;
  return 0;
}

function isDefault(v: unknown): boolean {
  if (typeof v === 'number') return v === 0;
  if (typeof v === 'string') return v === '';
  if (typeof v === 'boolean') return v === false;
  if (v instanceof Uint8Array) return v.length === 0;
  if (typeof v === 'object' && v !== null && 'low' in v && 'high' in v) {
    return (v as { low: number }).low === 0 && (v as { high: number }).high === 0;
  }
  return false;
}

function mapKey(field: MapField, key: string): string {
  if (!INT64.has(field.keyType)) return key;
  // protobufjs keys 64-bit maps by an 8-char little-endian "hash" string.
  let v = 0n;
  for (let i = 7; i >= 0; i--) v = (v << 8n) | BigInt(key.charCodeAt(i) & 0xff);
  return String(field.keyType.startsWith('u') || field.keyType === 'fixed64' ? v : BigInt.asIntN(64, v));
}

function floatToJson(n: number): JsonValue {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Number.POSITIVE_INFINITY) return 'Infinity';
  if (n === Number.NEGATIVE_INFINITY) return '-Infinity';
  return n;
}

/** float32 values decode as doubles (0.1 -> 0.10000000149…); print the shortest float32 twin. */
function shortestFloat32(n: number): number {
  if (!Number.isFinite(n)) return n;
  for (let p = 1; p <= 9; p++) {
    const candidate = Number(n.toPrecision(p));
    if (Math.fround(candidate) === n) return candidate;
  }
  return n;
}

function fraction(nanos: number): string {
  if (nanos === 0) return '';
  let digits = String(nanos).padStart(9, '0');
  if (digits.endsWith('000000')) digits = digits.slice(0, 3);
  else if (digits.endsWith('000')) digits = digits.slice(0, 6);
  return `.${digits}`;
}

/** proto3 JSON Duration: "1s", "1.500s", "-0.000001s". */
export function formatDuration(seconds: bigint, nanos: number): string {
  const negative = seconds < 0n || nanos < 0;
  const abs = seconds < 0n ? -seconds : seconds;
  return `${negative ? '-' : ''}${abs}${fraction(Math.abs(nanos))}s`;
}

/** proto3 JSON Timestamp: RFC 3339 in UTC with 0, 3, 6 or 9 fractional digits. */
export function formatTimestamp(seconds: bigint, nanos: number): string {
  const base = new Date(Number(seconds) * 1000).toISOString().replace(/\.\d{3}Z$/, '');
  return `${base}${fraction(nanos)}Z`;
}
