/**
 * Request/response header mutations of routes, virtual hosts, weighted clusters and route
 * configurations (HeaderValueOption lists + remove lists), with Envoy's `%VAR%` value syntax
 * compiled into parts once. Removes run before adds, as in Envoy.
 */
import { hostname } from 'node:os';
import type { ProtoReader } from '../../../config/proto.ts';
import { type HeaderMap, isValidFieldValue } from '../headers.ts';

/** What a formatted value may read from the stream. */
export interface FormatContext {
  formatVar(code: number, arg: string): string | undefined;
}

export const FV_DOWNSTREAM_REMOTE_ADDRESS = 1;
export const FV_DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT = 2;
export const FV_DOWNSTREAM_REMOTE_PORT = 3;
export const FV_DOWNSTREAM_DIRECT_REMOTE_ADDRESS = 4;
export const FV_DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT = 5;
export const FV_DOWNSTREAM_LOCAL_ADDRESS = 6;
export const FV_DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT = 7;
export const FV_DOWNSTREAM_LOCAL_PORT = 8;
export const FV_UPSTREAM_REMOTE_ADDRESS = 9;
export const FV_UPSTREAM_REMOTE_ADDRESS_WITHOUT_PORT = 10;
export const FV_UPSTREAM_CLUSTER = 11;
export const FV_PROTOCOL = 12;
export const FV_REQ = 13;
export const FV_RESP = 14;
export const FV_HOSTNAME = 15;
export const FV_ROUTE_NAME = 16;
export const FV_RESPONSE_CODE = 17;
export const FV_RESPONSE_FLAGS = 18;
export const FV_START_TIME = 19;
export const FV_UPSTREAM_HOST = 20;

const COMMANDS: Record<string, number> = {
  DOWNSTREAM_REMOTE_ADDRESS: FV_DOWNSTREAM_REMOTE_ADDRESS,
  DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT: FV_DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT,
  DOWNSTREAM_REMOTE_PORT: FV_DOWNSTREAM_REMOTE_PORT,
  DOWNSTREAM_DIRECT_REMOTE_ADDRESS: FV_DOWNSTREAM_DIRECT_REMOTE_ADDRESS,
  DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT: FV_DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT,
  DOWNSTREAM_LOCAL_ADDRESS: FV_DOWNSTREAM_LOCAL_ADDRESS,
  DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT: FV_DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT,
  DOWNSTREAM_LOCAL_PORT: FV_DOWNSTREAM_LOCAL_PORT,
  UPSTREAM_REMOTE_ADDRESS: FV_UPSTREAM_REMOTE_ADDRESS,
  UPSTREAM_REMOTE_ADDRESS_WITHOUT_PORT: FV_UPSTREAM_REMOTE_ADDRESS_WITHOUT_PORT,
  UPSTREAM_HOST: FV_UPSTREAM_HOST,
  UPSTREAM_CLUSTER: FV_UPSTREAM_CLUSTER,
  PROTOCOL: FV_PROTOCOL,
  HOSTNAME: FV_HOSTNAME,
  ROUTE_NAME: FV_ROUTE_NAME,
  RESPONSE_CODE: FV_RESPONSE_CODE,
  RESPONSE_FLAGS: FV_RESPONSE_FLAGS,
  START_TIME: FV_START_TIME,
};

/** Commands whose values exist only once a response does. */
const RESPONSE_ONLY = new Set([
  FV_UPSTREAM_REMOTE_ADDRESS,
  FV_UPSTREAM_REMOTE_ADDRESS_WITHOUT_PORT,
  FV_UPSTREAM_HOST,
  FV_RESP,
  FV_RESPONSE_CODE,
  FV_RESPONSE_FLAGS,
]);

export const HOSTNAME = hostname();

/** A compiled value: a constant, or parts alternating literal text and commands. */
export class HeaderValueFormat {
  readonly constant: string | undefined;
  readonly literals: string[];
  readonly codes: number[];
  readonly args: string[];
  constructor(
    constant: string | undefined,
    literals: string[] = [],
    codes: number[] = [],
    args: string[] = [],
  ) {
    this.constant = constant;
    this.literals = literals;
    this.codes = codes;
    this.args = args;
  }
  format(ctx: FormatContext): string {
    if (this.constant !== undefined) return this.constant;
    let out = this.literals[0];
    for (let i = 0; i < this.codes.length; i++) {
      const v = ctx.formatVar(this.codes[i], this.args[i]);
      out += v === undefined ? '-' : v;
      out += this.literals[i + 1];
    }
    return out;
  }
}

/**
 * Parses Envoy's header value syntax: `%%` is a literal percent, `%CMD%` and `%CMD(arg)%` are
 * substitutions. Unknown commands are config errors (never passed through silently).
 */
export function compileHeaderValueFormat(
  r: ProtoReader,
  field: string,
  value: string,
  responseSide: boolean,
): HeaderValueFormat | undefined {
  if (!value.includes('%')) return new HeaderValueFormat(value);
  const literals: string[] = [];
  const codes: number[] = [];
  const args: string[] = [];
  let lit = '';
  let i = 0;
  while (i < value.length) {
    const c = value[i];
    if (c !== '%') {
      lit += c;
      i++;
      continue;
    }
    if (value[i + 1] === '%') {
      lit += '%';
      i += 2;
      continue;
    }
    const end = value.indexOf('%', i + 1);
    if (end < 0) {
      r.ctx.error(r.at(field), `unterminated %-command in ${JSON.stringify(value)}`);
      return undefined;
    }
    const cmd = value.slice(i + 1, end);
    const m = /^([A-Z_0-9]+)(?:\((.*)\))?(?::(\d+))?$/.exec(cmd);
    if (!m) {
      r.ctx.error(r.at(field), `invalid %-command %${cmd}% in ${JSON.stringify(value)}`);
      return undefined;
    }
    const [, name, arg] = m;
    let code: number | undefined;
    if (name === 'REQ') code = FV_REQ;
    else if (name === 'RESP') code = FV_RESP;
    else if (arg === undefined) code = COMMANDS[name];
    else if (name === 'START_TIME') code = undefined; // custom time formats are not supported
    if (code === undefined || m[3] !== undefined) {
      r.ctx.error(r.at(field), `header value command %${cmd}% is not supported by mizzen-proxy`);
      return undefined;
    }
    if (!responseSide && RESPONSE_ONLY.has(code)) {
      r.ctx.error(r.at(field), `%${cmd}% is only available in response headers`);
      return undefined;
    }
    if ((code === FV_REQ || code === FV_RESP) && (arg === undefined || arg === '')) {
      r.ctx.error(r.at(field), `%${name}(...)% needs a header name`);
      return undefined;
    }
    literals.push(lit);
    lit = '';
    codes.push(code);
    args.push(code === FV_REQ || code === FV_RESP ? arg!.toLowerCase() : '');
    i = end + 1;
  }
  literals.push(lit);
  if (codes.length === 0) return new HeaderValueFormat(literals[0]);
  return new HeaderValueFormat(undefined, literals, codes, args);
}

export const APPEND_IF_EXISTS_OR_ADD = 0;
export const ADD_IF_ABSENT = 1;
export const OVERWRITE_IF_EXISTS_OR_ADD = 2;
export const OVERWRITE_IF_EXISTS = 3;
const APPEND_ACTIONS = [
  'APPEND_IF_EXISTS_OR_ADD',
  'ADD_IF_ABSENT',
  'OVERWRITE_IF_EXISTS_OR_ADD',
  'OVERWRITE_IF_EXISTS',
] as const;

export interface HeaderToAdd {
  readonly name: string;
  readonly value: HeaderValueFormat;
  readonly action: number;
  readonly keepEmpty: boolean;
}

export class HeaderMutations {
  readonly add: readonly HeaderToAdd[];
  readonly remove: readonly string[];
  constructor(add: readonly HeaderToAdd[], remove: readonly string[]) {
    this.add = add;
    this.remove = remove;
  }
  get empty(): boolean {
    return this.add.length === 0 && this.remove.length === 0;
  }
  apply(headers: HeaderMap, ctx: FormatContext): void {
    for (let i = 0; i < this.remove.length; i++) headers.remove(this.remove[i]);
    for (let i = 0; i < this.add.length; i++) {
      const h = this.add[i];
      const value = h.value.format(ctx);
      if (value === '' && !h.keepEmpty) continue;
      switch (h.action) {
        case APPEND_IF_EXISTS_OR_ADD:
          headers.add(h.name, value);
          break;
        case ADD_IF_ABSENT:
          if (!headers.has(h.name)) headers.add(h.name, value);
          break;
        case OVERWRITE_IF_EXISTS_OR_ADD:
          headers.set(h.name, value);
          break;
        default:
          if (headers.has(h.name)) headers.set(h.name, value);
      }
    }
  }
}

export const NO_MUTATIONS = new HeaderMutations([], []);

const HEADER_NAME = /^[a-z0-9!#$%&'*+\-.^_`|~]+$/;

function checkMutableName(r: ProtoReader, path: string, name: string): boolean {
  if (name.startsWith(':') || name === 'host') {
    r.ctx.error(
      path,
      `${JSON.stringify(name)} cannot be modified by header mutations (use the rewrite options)`,
    );
    return false;
  }
  if (!HEADER_NAME.test(name)) {
    r.ctx.error(path, `invalid header name ${JSON.stringify(name)}`);
    return false;
  }
  return true;
}

/** HeaderValueOption list + remove list (fields named by the caller) → HeaderMutations. */
export function compileHeaderMutations(
  r: ProtoReader,
  addField: string,
  removeField: string,
  responseSide: boolean,
): HeaderMutations {
  const add: HeaderToAdd[] = [];
  for (const o of r.messages(addField)) {
    const header = o.message('header');
    let name = '';
    let value = '';
    if (header) {
      name = header.string('key').toLowerCase();
      const which = header.oneof(['value', 'raw_value']);
      if (which === 'raw_value') {
        const raw = header.raw('raw_value');
        value =
          raw instanceof Uint8Array
            ? Buffer.from(raw).toString('latin1')
            : Buffer.from(String(raw), 'base64').toString('latin1');
        header.ignore('value');
      } else {
        value = header.string('value');
        header.ignore('raw_value');
      }
      header.done();
    } else {
      r.ctx.error(o.at('header'), 'header is required');
    }
    const appendSet = o.has('append');
    const append = o.wrappedBool('append');
    let action = o.enumName('append_action', APPEND_ACTIONS);
    if (appendSet && o.has('append_action'))
      o.ctx.error(o.at('append'), 'append and append_action cannot both be set');
    if (appendSet) action = append ? 'APPEND_IF_EXISTS_OR_ADD' : 'OVERWRITE_IF_EXISTS_OR_ADD';
    const keepEmpty = o.bool('keep_empty_value');
    o.done();
    if (!checkMutableName(o, o.at('header.key'), name)) continue;
    if (!isValidFieldValue(value.replace(/%[^%]*%/g, ''))) {
      o.ctx.error(o.at('header.value'), 'header value contains characters not allowed in a field value');
      continue;
    }
    const fmt = compileHeaderValueFormat(o, 'header.value', value, responseSide);
    if (!fmt) continue;
    add.push({ name, value: fmt, action: APPEND_ACTIONS.indexOf(action), keepEmpty });
  }
  const remove: string[] = [];
  const list = r.strings(removeField);
  for (let i = 0; i < list.length; i++) {
    const name = list[i].toLowerCase();
    if (checkMutableName(r, `${r.at(removeField)}[${i}]`, name)) remove.push(name);
  }
  if (add.length === 0 && remove.length === 0) return NO_MUTATIONS;
  return new HeaderMutations(add, remove);
}
