/**
 * Validation results: every problem carries the field path it is about, so that the file
 * source can turn it into `file:line:col path: message` using the YAML positions.
 * Validators push into an `Issues` collector and never throw.
 */
export type PathSegment = string | number;
export type FieldPath = readonly PathSegment[];
export type Severity = 'error' | 'warning';

export interface Issue {
  readonly path: FieldPath;
  readonly message: string;
  readonly severity: Severity;
}

export class Issues {
  readonly list: Issue[] = [];
  // Normalized field path (JSON) -> the key as written, for fields the schema accepted under
  // another spelling (a protobuf field name such as `export_to` for `exportTo`).
  #aliases: Map<string, string> | undefined;
  error(path: FieldPath, message: string): void {
    this.list.push({ path: this.written(path), message, severity: 'error' });
  }
  warn(path: FieldPath, message: string): void {
    this.list.push({ path: this.written(path), message, severity: 'warning' });
  }
  /** Records that the field at `normalized` was written as `key`, so issues name it as written. */
  alias(normalized: FieldPath, key: string): void {
    this.#aliases ??= new Map();
    this.#aliases.set(JSON.stringify(normalized), key);
  }
  /** `path` with every aliased segment spelled as the user wrote it. */
  written(path: FieldPath): FieldPath {
    const aliases = this.#aliases;
    if (aliases === undefined) return path;
    let out: PathSegment[] | undefined;
    for (let n = 1; n <= path.length; n++) {
      const key = aliases.get(JSON.stringify(path.slice(0, n)));
      if (key !== undefined) {
        out ??= [...path];
        out[n - 1] = key;
      }
    }
    return out ?? path;
  }
  get hasErrors(): boolean {
    return this.list.some((i) => i.severity === 'error');
  }
  get errors(): Issue[] {
    return this.list.filter((i) => i.severity === 'error');
  }
  get warnings(): Issue[] {
    return this.list.filter((i) => i.severity === 'warning');
  }
}

/** `['spec', 'http', 1, 'route', 0]` -> `spec.http[1].route[0]`. Keys that are not identifiers are quoted. */
export function formatPath(path: FieldPath): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z_$][\w$-]*$/.test(seg)) out += out ? `.${seg}` : seg;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

/** Quotes a user value for a message: strings in double quotes, others as JSON. */
export function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === undefined) return 'undefined';
  const json = JSON.stringify(value);
  return json.length > 60 ? `${json.slice(0, 57)}...` : json;
}
