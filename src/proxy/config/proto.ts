/**
 * Reading Envoy v3 protos in proto-loader object form (keepCase snake_case names) at the edge
 * where config is compiled into runtime structures. Every compile function walks its message
 * with a `ProtoReader`, which records which fields it consumed; a field that is set (non-default)
 * but was never consumed is an error naming its path, so the xDS client can NACK instead of
 * silently ignoring behaviour it does not implement.
 *
 * The readers accept the shapes proto-loader produces with or without `defaults`, `oneofs`,
 * `longs: String|Number` and `enums: String|Number`, and the JSON-ish shapes tests write by hand
 * (durations as "1.5s", Any as `{'@type': url, ...fields}`).
 */
import type { Enum, Field, Type } from 'protobufjs';
import { parseDuration } from '../../lib/duration.ts';
import { hasMessageType, messageType } from '../../lib/xds/protos.ts';

export interface ConfigIssue {
  /** Field path from the resource root, e.g. `virtual_hosts[0].routes[2].match.grpc`. */
  readonly path: string;
  readonly message: string;
}

export type CompileResult<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly errors: readonly ConfigIssue[] };

export function formatIssues(issues: readonly ConfigIssue[]): string {
  return issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; ');
}

/** Thrown by `compileOrThrow` helpers and caught at the compile boundary. */
export class ConfigError extends Error {
  readonly issues: readonly ConfigIssue[];
  constructor(issues: readonly ConfigIssue[]) {
    super(formatIssues(issues));
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

/** Decodes a packed `google.protobuf.Any` ({type_url, value: bytes}) into an object message. */
export type AnyDecoder = (typeUrl: string, value: Uint8Array) => Record<string, unknown>;

/** Shared state of one compile run: the issue list and how to open packed Anys. */
export class CompileContext {
  readonly issues: ConfigIssue[] = [];
  readonly decodeAny: AnyDecoder | undefined;
  constructor(options: { decodeAny?: AnyDecoder } = {}) {
    this.decodeAny = options.decodeAny;
  }
  error(path: string, message: string): void {
    this.issues.push({ path, message });
  }
  get ok(): boolean {
    return this.issues.length === 0;
  }
  result<T>(value: T): CompileResult<T> {
    return this.issues.length === 0 ? { ok: true, value } : { ok: false, errors: [...this.issues] };
  }
}

export type ProtoObject = Record<string, unknown>;

export function isObject(v: unknown): v is ProtoObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

function isLong(v: unknown): v is { low: number; high: number; toNumber?: () => number } {
  return isObject(v) && typeof v.low === 'number' && typeof v.high === 'number';
}

/** proto3 "set" test: default scalars, empty lists/maps, null messages and empty bytes are unset. */
export function isSet(v: unknown): boolean {
  if (v === undefined || v === null || v === false || v === 0 || v === '') return false;
  if (typeof v === 'string' && v === '0') return false; // int64 with longs: String
  if (Array.isArray(v)) return v.length > 0;
  if (v instanceof Uint8Array) return v.length > 0;
  if (isLong(v)) return v.low !== 0 || v.high !== 0;
  return true;
}

function longToNumber(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && /^-?\d+$/.test(v)) return Number(v);
  if (typeof v === 'bigint') return Number(v);
  if (isLong(v)) return typeof v.toNumber === 'function' ? v.toNumber() : v.high * 2 ** 32 + (v.low >>> 0);
  return undefined;
}

function joinPath(base: string, key: string): string {
  return base ? `${base}.${key}` : key;
}

/**
 * A view of one message that tracks consumed fields. Call `done()` after reading: every set
 * field that was not read (and not declared `ignore`d as behaviour-neutral) becomes an issue.
 */
export class ProtoReader {
  readonly ctx: CompileContext;
  readonly path: string;
  readonly msg: ProtoObject;
  /** The message's descriptor, when known: exact "is this field set" and unknown-field checks. */
  readonly type: Type | undefined;
  private readonly seen = new Set<string>();

  constructor(ctx: CompileContext, msg: unknown, path: string, type?: Type | string) {
    this.ctx = ctx;
    this.path = path;
    this.msg = isObject(msg) ? msg : {};
    this.type = typeof type === 'string' ? lookupType(type) : type;
    if (msg !== undefined && msg !== null && !isObject(msg)) ctx.error(path, 'expected a message object');
  }

  /** Whether the field holds a non-default value (descriptor-exact when the type is known). */
  isFieldSet(field: string): boolean {
    const v = this.msg[field];
    const f = this.type?.fields[field];
    if (f === undefined) return isSet(v);
    if (v === undefined || v === null) return false;
    // Members of a oneof have presence: being there is being set.
    if (f.partOf !== null && f.partOf !== undefined) return true;
    if ((f as Field & { map?: boolean }).map) return isObject(v) && Object.keys(v).length > 0;
    if (f.repeated) return Array.isArray(v) && v.length > 0;
    const rt = f.resolvedType;
    if (rt !== null && rt !== undefined && 'values' in rt) {
      const zero = enumZeroName(rt as Enum);
      return v !== 0 && v !== zero;
    }
    if (rt !== null && rt !== undefined) return true; // a message: non-null is set
    return isSet(v);
  }

  private childType(field: string): Type | undefined {
    const rt = this.type?.fields[field]?.resolvedType;
    return rt !== null && rt !== undefined && 'fields' in rt ? (rt as Type) : undefined;
  }

  at(field: string): string {
    return joinPath(this.path, field);
  }

  /** Marks fields as read without interpreting them (names, metadata: behaviour-neutral). */
  ignore(...fields: string[]): this {
    for (const f of fields) this.seen.add(f);
    return this;
  }

  has(field: string): boolean {
    return this.isFieldSet(field);
  }

  raw(field: string): unknown {
    this.seen.add(field);
    return this.msg[field];
  }

  /** Reports an unsupported field that is set, naming it; returns whether it was set. */
  unsupported(field: string, why?: string): boolean {
    this.seen.add(field);
    if (!this.isFieldSet(field)) return false;
    this.ctx.error(this.at(field), why ?? 'field is not supported by mizzen-proxy');
    return true;
  }

  string(field: string, fallback = ''): string {
    const v = this.raw(field);
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'string') {
      this.ctx.error(this.at(field), 'expected a string');
      return fallback;
    }
    return v === '' ? fallback : v;
  }

  bool(field: string, fallback = false): boolean {
    const v = this.raw(field);
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'boolean') {
      this.ctx.error(this.at(field), 'expected a boolean');
      return fallback;
    }
    return v;
  }

  /** uint32/int32/uint64/int64 scalar (int64 may arrive as string or Long). */
  number(field: string, fallback = 0): number {
    const v = this.raw(field);
    if (v === undefined || v === null) return fallback;
    const n = longToNumber(v);
    if (n === undefined || !Number.isFinite(n)) {
      this.ctx.error(this.at(field), 'expected a number');
      return fallback;
    }
    return n;
  }

  double(field: string, fallback = 0): number {
    const v = this.raw(field);
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'number') {
      this.ctx.error(this.at(field), 'expected a number');
      return fallback;
    }
    return v;
  }

  /** google.protobuf.{UInt32,UInt64,Int32,Int64,Double}Value → number, or fallback when unset. */
  wrappedNumber(field: string, fallback: number): number;
  wrappedNumber(field: string, fallback?: undefined): number | undefined;
  wrappedNumber(field: string, fallback?: number): number | undefined {
    const v = this.raw(field);
    if (v === undefined || v === null) return fallback;
    if (typeof v === 'number') return v; // hand-written shorthand
    if (!isObject(v)) {
      this.ctx.error(this.at(field), 'expected a wrapper message {value}');
      return fallback;
    }
    const n = v.value === undefined || v.value === null ? 0 : longToNumber(v.value);
    if (n === undefined) {
      this.ctx.error(this.at(`${field}.value`), 'expected a number');
      return fallback;
    }
    return n;
  }

  wrappedBool(field: string, fallback: boolean): boolean;
  wrappedBool(field: string, fallback?: undefined): boolean | undefined;
  wrappedBool(field: string, fallback?: boolean): boolean | undefined {
    const v = this.raw(field);
    if (v === undefined || v === null) return fallback;
    if (typeof v === 'boolean') return v;
    if (!isObject(v)) {
      this.ctx.error(this.at(field), 'expected a BoolValue message {value}');
      return fallback;
    }
    return v.value === true;
  }

  /** google.protobuf.Duration → milliseconds; undefined when unset. */
  duration(field: string): number | undefined {
    const v = this.raw(field);
    if (v === undefined || v === null) return undefined;
    const ms = durationToMs(v);
    if (ms === undefined || ms < 0) {
      this.ctx.error(this.at(field), 'expected a non-negative google.protobuf.Duration');
      return undefined;
    }
    return ms;
  }

  /** Enum as its value name; numbers are mapped through `names` (index = enum number). */
  enumName<T extends string>(field: string, names: readonly T[], fallback?: T): T {
    const v = this.raw(field);
    const dflt = fallback ?? names[0];
    if (v === undefined || v === null) return dflt;
    if (typeof v === 'number') {
      const name = names[v];
      if (name === undefined) {
        this.ctx.error(this.at(field), `enum value ${v} is not supported`);
        return dflt;
      }
      return name;
    }
    if (typeof v === 'string' && (names as readonly string[]).includes(v)) return v as T;
    this.ctx.error(this.at(field), `enum value ${JSON.stringify(v)} is not supported`);
    return dflt;
  }

  message(field: string): ProtoReader | undefined {
    const v = this.raw(field);
    if (v === undefined || v === null) return undefined;
    return new ProtoReader(this.ctx, v, this.at(field), this.childType(field));
  }

  list(field: string): unknown[] {
    const v = this.raw(field);
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) {
      this.ctx.error(this.at(field), 'expected a list');
      return [];
    }
    return v;
  }

  messages(field: string): ProtoReader[] {
    const t = this.childType(field);
    return this.list(field).map((m, i) => new ProtoReader(this.ctx, m, `${this.at(field)}[${i}]`, t));
  }

  strings(field: string): string[] {
    const out: string[] = [];
    const list = this.list(field);
    for (let i = 0; i < list.length; i++) {
      const s = list[i];
      if (typeof s !== 'string') this.ctx.error(`${this.at(field)}[${i}]`, 'expected a string');
      else out.push(s);
    }
    return out;
  }

  /**
   * Name of the set member of a oneof among `fields`, or undefined; more than one is an error.
   * Oneof members have presence, so a key holding a default value ('' or 0) still counts as set.
   */
  oneof(fields: readonly string[]): string | undefined {
    let found: string | undefined;
    for (const f of fields) {
      if (this.msg[f] !== undefined && this.msg[f] !== null) {
        if (found !== undefined) {
          this.ctx.error(this.at(f), `only one of ${fields.join(', ')} may be set (also ${found})`);
          continue;
        }
        found = f;
      }
    }
    return found;
  }

  /**
   * Finishes the message: each set field not read becomes an "unsupported" issue. proto-loader's
   * synthetic oneof-name properties (`oneofs: true`) are recognised and skipped.
   */
  done(): void {
    const t = this.type;
    for (const key of Object.keys(this.msg)) {
      if (this.seen.has(key) || key === '@type') continue;
      const v = this.msg[key];
      if (t !== undefined) {
        if (t.fields[key] === undefined) {
          // proto-loader's synthetic oneof-name property, or a field this message does not have.
          if (t.oneofs?.[key] !== undefined) continue;
          if (v === undefined || v === null) continue;
          this.ctx.error(this.at(key), `unknown field (not in ${t.fullName.replace(/^\./, '')})`);
          continue;
        }
        if (!this.isFieldSet(key)) continue;
      } else {
        if (!isSet(v)) continue;
        if (typeof v === 'string' && Object.hasOwn(this.msg, v) && key !== v && isOneofName(key)) continue;
      }
      this.ctx.error(this.at(key), 'field is not supported by mizzen-proxy');
    }
  }
}

/**
 * Names of oneofs in the messages we read. proto-loader adds a property per oneof naming the
 * member that is set; those properties are not fields.
 */
const ONEOF_NAMES = new Set([
  'path_specifier',
  'cluster_specifier',
  'host_rewrite_specifier',
  'action',
  'header_match_specifier',
  'query_parameter_match_specifier',
  'match_pattern',
  'scheme_rewrite_specifier',
  'path_rewrite_specifier',
  'response_code',
  'specifier',
  'value_specifier',
  'config_type',
  'route_specifier',
  'strip_port_mode',
  'address',
  'port_specifier',
  'cluster_discovery_type',
  'lb_config',
  'locality_config_specifier',
  'host_identifier',
  'upstream_protocol_options',
  'config_source_specifier',
  'engine_type',
  'pem_key_type',
  'validation_context_type',
  'specifier_type',
  'protocol_selection',
  'hash_policy_specifier',
  'random_value_specifier',
  'header_format',
  'access_log_format',
  'policy_specifier',
  'request_id_extension',
  'on_no_match',
  'matcher_type',
  'listener_specifier',
  'name_specifier',
  'type',
  'id_type',
  'rule',
]);

function isOneofName(key: string): boolean {
  return ONEOF_NAMES.has(key);
}

function lookupType(name: string): Type | undefined {
  return hasMessageType(name) ? messageType(name) : undefined;
}

const enumZeros = new WeakMap<Enum, string>();
function enumZeroName(e: Enum): string {
  let z = enumZeros.get(e);
  if (z === undefined) {
    z = Object.keys(e.values).find((k) => e.values[k] === 0) ?? '';
    enumZeros.set(e, z);
  }
  return z;
}

/** Duration in proto-loader form ({seconds, nanos}) or a JSON/Go duration string → ms. */
export function durationToMs(v: unknown): number | undefined {
  if (typeof v === 'string') {
    const ms = parseDuration(v);
    return ms;
  }
  if (typeof v === 'number') return v * 1000;
  if (!isObject(v)) return undefined;
  const seconds = v.seconds === undefined || v.seconds === null ? 0 : longToNumber(v.seconds);
  const nanos = v.nanos === undefined || v.nanos === null ? 0 : longToNumber(v.nanos);
  if (seconds === undefined || nanos === undefined) return undefined;
  return seconds * 1000 + nanos / 1e6;
}

/** The type URL of an Any in either packed ({type_url}) or expanded ({'@type'}) form. */
export function anyTypeUrl(v: unknown): string | undefined {
  if (!isObject(v)) return undefined;
  if (typeof v['@type'] === 'string') return v['@type'];
  if (typeof v.type_url === 'string') return v.type_url;
  return undefined;
}

/** Strips the `type.googleapis.com/` host part: Envoy matches Anys on the message name. */
export function anyTypeName(url: string): string {
  const slash = url.lastIndexOf('/');
  return slash >= 0 ? url.slice(slash + 1) : url;
}

/**
 * Opens a `google.protobuf.Any` into a reader over its message. Returns undefined (after
 * recording an issue) when it cannot be decoded.
 */
export function readAny(
  ctx: CompileContext,
  v: unknown,
  path: string,
): { typeName: string; reader: ProtoReader } | undefined {
  if (!isObject(v)) {
    ctx.error(path, 'expected a google.protobuf.Any');
    return undefined;
  }
  if (typeof v['@type'] === 'string') {
    const { '@type': type, ...rest } = v;
    const typeName = anyTypeName(type as string);
    return { typeName, reader: new ProtoReader(ctx, rest, path, typeName) };
  }
  if (typeof v.type_url === 'string') {
    const typeName = anyTypeName(v.type_url);
    const value = v.value;
    if (isObject(value)) return { typeName, reader: new ProtoReader(ctx, value, path, typeName) };
    if (value === undefined || value === null || value instanceof Uint8Array) {
      const bytes = value instanceof Uint8Array ? value : new Uint8Array(0);
      if (!ctx.decodeAny) {
        ctx.error(path, `cannot decode packed Any of type ${typeName}: no Any decoder was given`);
        return undefined;
      }
      try {
        return { typeName, reader: new ProtoReader(ctx, ctx.decodeAny(v.type_url, bytes), path, typeName) };
      } catch (err) {
        ctx.error(path, `cannot decode Any of type ${typeName}: ${err instanceof Error ? err.message : err}`);
        return undefined;
      }
    }
  }
  ctx.error(path, 'expected a google.protobuf.Any with @type or type_url');
  return undefined;
}

/** config.core.v3.DataSource → bytes; filename is read at compile time, never per request. */
export function readDataSource(
  reader: ProtoReader,
  readFile: (path: string) => Buffer,
  maxBytes?: number,
): Buffer | undefined {
  const which = reader.oneof(['filename', 'inline_bytes', 'inline_string', 'environment_variable']);
  reader.raw('specifier');
  reader.ignore('filename', 'inline_bytes', 'inline_string', 'environment_variable');
  reader.done();
  let out: Buffer | undefined;
  switch (which) {
    case 'inline_string':
      out = Buffer.from(String(reader.msg.inline_string), 'utf8');
      break;
    case 'inline_bytes': {
      const b = reader.msg.inline_bytes;
      out = b instanceof Uint8Array ? Buffer.from(b) : Buffer.from(String(b), 'base64');
      break;
    }
    case 'filename':
      try {
        out = readFile(String(reader.msg.filename));
      } catch (err) {
        reader.ctx.error(
          reader.at('filename'),
          `cannot read ${reader.msg.filename}: ${(err as Error).message}`,
        );
        return undefined;
      }
      break;
    case 'environment_variable': {
      const name = String(reader.msg.environment_variable);
      const value = process.env[name];
      if (value === undefined) {
        reader.ctx.error(reader.at('environment_variable'), `environment variable ${name} is not set`);
        return undefined;
      }
      out = Buffer.from(value, 'utf8');
      break;
    }
    default:
      return Buffer.alloc(0);
  }
  if (maxBytes !== undefined && out.length > maxBytes) {
    reader.ctx.error(reader.path, `data source is ${out.length} bytes, more than the limit of ${maxBytes}`);
    return undefined;
  }
  return out;
}
