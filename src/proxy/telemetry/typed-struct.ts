/**
 * TypedStruct (xds.type.v3 / udpa.type.v1): a filter config given as a JSON Struct plus the type
 * URL of the message it stands for. Istio configures its own filters (istio.stats, the metadata
 * exchange) this way. The registries unwrap it and dispatch on the inner type URL; the inner
 * config is plain JSON, read through `StructReader`, which reports every field the filter does
 * not read (a NACK naming the field, never a silent ignore).
 */
import { messageNameOf, TYPED_STRUCT_TYPE_URL, UDPA_TYPED_STRUCT_TYPE_URL } from '../../lib/xds/type-urls.ts';
import { fromProtoStruct } from '../../lib/xds/well-known.ts';
import type { CompileContext, ProtoReader } from '../config/proto.ts';

export const TYPED_STRUCT_TYPES: readonly string[] = [
  messageNameOf(TYPED_STRUCT_TYPE_URL),
  messageNameOf(UDPA_TYPED_STRUCT_TYPE_URL),
];

/** The JSON config of a TypedStruct, with field-level error reporting. */
export class StructReader {
  readonly ctx: CompileContext;
  readonly path: string;
  readonly value: Readonly<Record<string, unknown>>;
  readonly #seen = new Set<string>();
  constructor(ctx: CompileContext, value: Readonly<Record<string, unknown>>, path: string) {
    this.ctx = ctx;
    this.value = value;
    this.path = path;
  }
  at(field: string): string {
    return `${this.path}.${field}`;
  }
  bool(field: string, fallback = false): boolean {
    this.#seen.add(field);
    const v = this.value[field];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'boolean') {
      this.ctx.error(this.at(field), `expected a boolean, got ${JSON.stringify(v)}`);
      return fallback;
    }
    return v;
  }
  /** Reports every field that was not read. */
  done(what: string): void {
    for (const k of Object.keys(this.value)) {
      if (!this.#seen.has(k)) this.ctx.error(this.at(k), `${what}: field ${k} is not supported`);
    }
  }
}

/** Unwrapped TypedStruct: the inner message name and its config. */
export interface OpenedStruct {
  readonly typeUrl: string;
  readonly typeName: string;
  readonly config: StructReader;
}

/** Reads a TypedStruct message; undefined (with an error) when the type_url is missing. */
export function openTypedStruct(r: ProtoReader): OpenedStruct | undefined {
  const typeUrl = r.string('type_url');
  const raw = r.raw('value');
  r.done();
  if (typeUrl === '') {
    r.ctx.error(r.at('type_url'), 'a TypedStruct needs a type_url');
    return undefined;
  }
  let json: Record<string, unknown> = {};
  if (raw !== undefined && raw !== null) {
    if (typeof raw !== 'object' || Array.isArray(raw)) {
      r.ctx.error(r.at('value'), 'expected a google.protobuf.Struct');
      return undefined;
    }
    json = fromProtoStruct(raw as { fields?: unknown });
  }
  const slash = typeUrl.lastIndexOf('/');
  return {
    typeUrl,
    typeName: slash < 0 ? typeUrl : typeUrl.slice(slash + 1),
    config: new StructReader(r.ctx, json, r.at('value')),
  };
}
