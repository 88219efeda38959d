/**
 * In-memory config source: objects created, updated and deleted by code (tests, embedding).
 * Input is validated exactly as files are (src/api/decode.ts), given either as objects or as
 * YAML/JSON text (multi-document). A call either applies every object it was given or
 * throws `ConfigValidationError` and applies none.
 */
import { isDns1123Label } from '../../../api/common/validators.ts';
import { decodeDocument } from '../../../api/decode.ts';
import { type ConfigKey, type ConfigResource, configKey, formatConfigKey } from '../../../api/resource.ts';
import {
  type LocatedIssue,
  type ParsedDocument,
  type Position,
  parseYamlDocuments,
} from '../../../api/yaml-document.ts';
import { ErrorCode, MizzenError } from '../../../lib/errors.ts';
import { ConfigValidationError } from '../../errors.ts';
import { type ConfigSink, type ConfigSource, DEFAULT_NAMESPACE, type SourceChange } from '../../source.ts';
import type { ConfigStatus } from '../../status.ts';

/** YAML/JSON text (one or more documents), one object, or a list of objects. */
export type ConfigInput =
  | string
  | Readonly<Record<string, unknown>>
  | readonly Readonly<Record<string, unknown>>[];

export interface MemorySourceOptions {
  /** Source name for the store (unique among its sources). Default `memory`. */
  readonly name?: string;
  /** Namespace for objects that name none. Default `default`. */
  readonly defaultNamespace?: string;
  /** File name used in locations of decoded text and objects. Default `<memory>`. */
  readonly file?: string;
}

export class MemorySource implements ConfigSource {
  readonly name: string;
  readonly defaultNamespace: string;
  readonly #file: string;
  readonly #objects = new Map<string, ConfigResource>();
  #sink: ConfigSink | undefined;

  constructor(options: MemorySourceOptions = {}) {
    this.name = options.name ?? 'memory';
    this.defaultNamespace = options.defaultNamespace ?? DEFAULT_NAMESPACE;
    this.#file = options.file ?? '<memory>';
    if (this.name === '')
      throw new MizzenError(ErrorCode.INVALID_ARGUMENT, 'memory source: name must not be empty');
    if (!isDns1123Label(this.defaultNamespace)) {
      throw new MizzenError(
        ErrorCode.INVALID_ARGUMENT,
        `memory source: defaultNamespace ${JSON.stringify(this.defaultNamespace)} is not a valid namespace name`,
      );
    }
  }

  /** Adds new objects; throws if any exists already. Returns the decoded objects. */
  create(input: ConfigInput): ConfigResource[] {
    const decoded = this.#decode(input);
    const existing = decoded.filter((r) => this.#objects.has(id(r)));
    if (existing.length > 0) {
      throw new MizzenError(
        ErrorCode.INVALID_ARGUMENT,
        `memory source: already exists: ${existing.map((r) => formatConfigKey(configKey(r))).join(', ')}`,
      );
    }
    this.#store(decoded);
    return decoded;
  }

  /** Replaces existing objects; throws if any does not exist. */
  update(input: ConfigInput): ConfigResource[] {
    const decoded = this.#decode(input);
    const missing = decoded.filter((r) => !this.#objects.has(id(r)));
    if (missing.length > 0) {
      throw new MizzenError(
        ErrorCode.INVALID_ARGUMENT,
        `memory source: not found: ${missing.map((r) => formatConfigKey(configKey(r))).join(', ')}`,
      );
    }
    this.#store(decoded);
    return decoded;
  }

  /** Creates or replaces (`kubectl apply`). */
  apply(input: ConfigInput): ConfigResource[] {
    const decoded = this.#decode(input);
    this.#store(decoded);
    return decoded;
  }

  /** Deletes one object; returns whether it existed. */
  delete(kind: string, namespace: string, name: string): boolean {
    const key: ConfigKey = { kind, namespace, name };
    if (!this.#objects.delete(formatConfigKey(key))) return false;
    this.#sink?.apply([{ type: 'delete', key }]);
    return true;
  }

  get(kind: string, namespace: string, name: string): ConfigResource | undefined {
    return this.#objects.get(formatConfigKey({ kind, namespace, name }));
  }

  list(): ConfigResource[] {
    return [...this.#objects.values()];
  }

  /** Bad input is thrown to the caller, so there is never anything to report here. */
  statuses(): readonly ConfigStatus[] {
    return [];
  }

  async run(sink: ConfigSink, signal: AbortSignal): Promise<void> {
    if (this.#sink)
      throw new MizzenError(ErrorCode.INVALID_ARGUMENT, `memory source ${this.name} is already running`);
    if (signal.aborted) return;
    this.#sink = sink;
    sink.replace([...this.#objects.values()]);
    sink.synced();
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    this.#sink = undefined;
  }

  #store(resources: readonly ConfigResource[]): void {
    for (const r of resources) this.#objects.set(id(r), r);
    const changes: SourceChange[] = resources.map((resource) => ({ type: 'upsert', resource }));
    if (changes.length > 0) this.#sink?.apply(changes);
  }

  #decode(input: ConfigInput): ConfigResource[] {
    const issues: LocatedIssue[] = [];
    const docs: ParsedDocument[] = [];
    if (typeof input === 'string') {
      const parsed = parseYamlDocuments(input, this.#file);
      issues.push(...parsed.issues.filter((i) => i.severity === 'error'));
      // Empty documents (`---` alone) hold no object, as for kubectl.
      docs.push(...parsed.documents.filter((d) => d.value !== null && d.value !== undefined));
    } else {
      const list = Array.isArray(input) ? input : [input];
      docs.push(...list.map((value, index) => objectDocument(value, index)));
    }
    const out: ConfigResource[] = [];
    const seen = new Set<string>();
    for (const doc of docs) {
      const d = decodeDocument(doc, this.#file, { defaultNamespace: this.defaultNamespace });
      issues.push(...d.issues.filter((i) => i.severity === 'error'));
      if (d.skipped) {
        const pos = doc.locate(['kind']);
        issues.push({
          file: this.#file,
          line: pos.line,
          column: pos.column,
          path: ['kind'],
          severity: 'error',
          message: `${d.skipped.apiVersion} ${d.skipped.kind} is not an Istio configuration kind; the memory source holds Istio objects only`,
        });
      }
      if (!d.resource) continue;
      const key = id(d.resource);
      if (seen.has(key)) {
        const pos = doc.locate(['metadata', 'name']);
        issues.push({
          file: this.#file,
          line: pos.line,
          column: pos.column,
          path: ['metadata', 'name'],
          severity: 'error',
          message: `${key} is given twice in the same input`,
        });
        continue;
      }
      seen.add(key);
      out.push(d.resource);
    }
    if (issues.length > 0) throw new ConfigValidationError(issues);
    return out;
  }
}

function id(r: ConfigResource): string {
  return formatConfigKey(configKey(r));
}

/** An object given by code has no text positions: every issue points at the object's start. */
function objectDocument(value: unknown, index: number): ParsedDocument {
  const start: Position = { line: 1, column: 1 };
  return { index, value: structuredClone(value), start, locate: () => start };
}
