/**
 * Shape check for snake_case proto objects before they are encoded. protobufjs' `fromObject`
 * silently drops unknown fields, turns an unknown `@type` into an empty Any and encodes both
 * members of a oneof — each a config bug that would otherwise reach a proxy unnoticed.
 */
import type { Enum, Field, Type } from 'protobufjs';
import { hasMessageType, messageType } from './protos.ts';

const INT32 = new Set(['int32', 'sint32', 'sfixed32']);
const UINT32 = new Set(['uint32', 'fixed32']);
const INT64 = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);
const FLOAT = new Set(['float', 'double']);
const ANY = '.google.protobuf.Any';

function isType(t: unknown): t is Type {
  return typeof t === 'object' && t !== null && 'fieldsArray' in t;
}
function isEnum(t: unknown): t is Enum {
  return typeof t === 'object' && t !== null && 'valuesById' in t;
}
function fullName(t: Type): string {
  return t.fullName;
}

/**
 * Returns one message per problem (`path: message`), or an empty array. Never throws.
 * `path` prefixes every message (e.g. the resource name).
 */
export function validateMessageShape(nameOrTypeUrl: string, message: unknown, path = ''): string[] {
  const errors: string[] = [];
  if (!hasMessageType(nameOrTypeUrl)) {
    errors.push(`${path || '<root>'}: unknown message type "${nameOrTypeUrl}"`);
    return errors;
  }
  checkMessage(messageType(nameOrTypeUrl), message, path, errors);
  return errors;
}

function join(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

function checkMessage(type: Type, value: unknown, path: string, errors: string[]): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) {
    errors.push(`${path || '<root>'}: expected an object for ${fullName(type).slice(1)}`);
    return;
  }
  const obj = value as Record<string, unknown>;
  if (fullName(type) === ANY) {
    checkAny(obj, path, errors);
    return;
  }
  const setInOneof = new Map<string, string>();
  for (const [key, v] of Object.entries(obj)) {
    const field = type.fields[key];
    if (!field) {
      // Decoded objects carry the name of the set member under the oneof's name.
      const oneof = type.oneofs?.[key];
      if (oneof && (v === undefined || (typeof v === 'string' && oneof.oneof.includes(v)))) continue;
      errors.push(`${join(path, key)}: unknown field of ${fullName(type).slice(1)}`);
      continue;
    }
    if (v === undefined || v === null) continue;
    const oneof = field.partOf;
    if (oneof && oneof.oneof.length > 1) {
      const other = setInOneof.get(oneof.name);
      if (other) {
        errors.push(`${join(path, key)}: "${other}" is also set, but both belong to oneof "${oneof.name}"`);
      } else {
        setInOneof.set(oneof.name, key);
      }
    }
    checkField(field, v, join(path, key), errors);
  }
}

function checkAny(obj: Record<string, unknown>, path: string, errors: string[]): void {
  const typeName = obj['@type'];
  if (typeName === undefined) {
    for (const key of Object.keys(obj)) {
      if (key !== 'type_url' && key !== 'value')
        errors.push(`${join(path, key)}: unknown field of google.protobuf.Any`);
    }
    return;
  }
  if (typeof typeName !== 'string' || !hasMessageType(typeName)) {
    errors.push(`${join(path, '@type')}: unknown type "${String(typeName)}" (not in ENVOY_PROTO_FILES)`);
    return;
  }
  const { '@type': _, ...rest } = obj;
  checkMessage(messageType(typeName), rest, path, errors);
}

function checkField(field: Field, value: unknown, path: string, errors: string[]): void {
  if (field.map) {
    if (typeof value !== 'object' || Array.isArray(value)) {
      errors.push(`${path}: expected a map (object)`);
      return;
    }
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      if (v !== undefined && v !== null) checkSingle(field, v, `${path}[${JSON.stringify(k)}]`, errors);
    }
    return;
  }
  if (field.repeated) {
    if (!Array.isArray(value)) {
      errors.push(`${path}: expected a list`);
      return;
    }
    value.forEach((v, i) => {
      checkSingle(field, v, `${path}[${i}]`, errors);
    });
    return;
  }
  checkSingle(field, value, path, errors);
}

function checkSingle(field: Field, value: unknown, path: string, errors: string[]): void {
  const resolved = field.resolvedType;
  if (isType(resolved)) {
    checkMessage(resolved, value, path, errors);
    return;
  }
  if (isEnum(resolved)) {
    const ok =
      (typeof value === 'string' && Object.hasOwn(resolved.values, value)) ||
      (typeof value === 'number' && Number.isInteger(value));
    if (!ok) {
      const names = Object.keys(resolved.values).join(', ');
      errors.push(`${path}: ${JSON.stringify(value)} is not a value of enum ${resolved.name} (${names})`);
    }
    return;
  }
  const t = field.type;
  let ok: boolean;
  if (t === 'string') ok = typeof value === 'string';
  else if (t === 'bool') ok = typeof value === 'boolean';
  else if (t === 'bytes') ok = value instanceof Uint8Array || typeof value === 'string';
  else if (INT32.has(t))
    ok = typeof value === 'number' && Number.isInteger(value) && value >= -(2 ** 31) && value < 2 ** 31;
  else if (UINT32.has(t))
    ok = typeof value === 'number' && Number.isInteger(value) && value >= 0 && value < 2 ** 32;
  else if (INT64.has(t)) {
    ok =
      (typeof value === 'number' && Number.isInteger(value)) ||
      (typeof value === 'string' && /^-?\d+$/.test(value)) ||
      (typeof value === 'object' && value !== null && 'low' in value && 'high' in value);
  } else if (FLOAT.has(t)) {
    ok = typeof value === 'number' || value === 'NaN' || value === 'Infinity' || value === '-Infinity';
  } else ok = true;
  if (!ok) errors.push(`${path}: ${JSON.stringify(value)} is not a valid ${t}`);
}
