/**
 * Texts -> what the analyzers read: the valid Istio objects, the Kubernetes objects that
 * describe services and workloads (Service, Pod, Deployment...), and a message for every
 * document that could not be used (IST0106) or that decoding warned about (IST0133).
 * Keeps, for every object, the parsed document so a message can point at the line of
 * the field it is about, not only at the document.
 */
import { decodeDocument } from '../api/decode.ts';
import type { ConfigResource } from '../api/resource.ts';
import { type FieldPath, formatPath } from '../api/validation.ts';
import { type LocatedIssue, type ParsedDocument, parseYamlDocuments } from '../api/yaml-document.ts';
import type { AnalysisMessage, MessageOrigin } from './diagnostic.ts';
import { Messages, type MessageType } from './messages.ts';

export interface SourceText {
  /** The name messages use for the file, as the user gave it. */
  readonly name: string;
  readonly text: string;
}

/** A document of a kind that is not Istio's, kept for the services and workloads it describes. */
export interface KubeObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly object: Readonly<Record<string, unknown>>;
}

export interface InputOptions {
  /** Namespace of objects that name none (istioctl: `default`). */
  readonly defaultNamespace: string;
}

interface Located {
  readonly file: string;
  readonly doc: ParsedDocument;
}

export class AnalysisInput {
  readonly resources: ConfigResource[] = [];
  readonly kube: KubeObject[] = [];
  /** Messages about documents themselves (syntax, schema, duplicates). */
  readonly messages: AnalysisMessage[] = [];
  readonly #where = new WeakMap<object, Located>();

  /** Where an object was written, at the line of `path` when that field was written. */
  origin(obj: ConfigResource | KubeObject, path: FieldPath = []): MessageOrigin {
    const at = this.#where.get(obj);
    const id =
      'meta' in obj
        ? { kind: obj.kind, namespace: obj.meta.namespace, name: obj.meta.name }
        : { kind: obj.kind, namespace: obj.namespace, name: obj.name };
    if (!at) {
      const src = 'meta' in obj ? obj.meta.source : undefined;
      return src ? { ...id, file: src.file, line: src.line } : id;
    }
    return { ...id, file: at.file, line: at.doc.locate(path).line };
  }

  /** Adds objects made in code (tests); they have no file. */
  addResource(resource: ConfigResource): void {
    this.resources.push(resource);
  }

  static fromTexts(sources: readonly SourceText[], options: InputOptions): AnalysisInput {
    const input = new AnalysisInput();
    const seen = new Map<string, ConfigResource | KubeObject>();
    const keep = (key: string, obj: ConfigResource | KubeObject, at: Located): void => {
      input.#where.set(obj, at);
      const before = seen.get(key);
      if (before) {
        const first = input.origin(before);
        input.messages.push({
          type: Messages.DuplicateResource,
          text: `Also defined at ${first.file}:${first.line}; this later definition replaces it.`,
          origin: input.origin(obj),
        });
      }
      seen.set(key, obj);
    };
    for (const source of sources) {
      const parsed = parseYamlDocuments(source.text, source.name);
      for (const issue of parsed.issues) input.messages.push(issueMessage(issue, { file: source.name }));
      for (const doc of parsed.documents.flatMap(expandList)) {
        const decoded = decodeDocument(doc, source.name, options);
        const at = { file: source.name, doc };
        if (decoded.resource) {
          const r = decoded.resource;
          keep(`${r.kind}/${r.meta.namespace}/${r.meta.name}`, r, at);
        } else if (decoded.skipped) {
          const k = kubeObject(decoded.skipped, options.defaultNamespace);
          if (k) keep(`${k.apiVersion.split('/')[0]}:${k.kind}/${k.namespace}/${k.name}`, k, at);
          // The "not an Istio kind; skipped" warning is the normal case for Kubernetes documents;
          // an Istio kind Mizzen does not implement is worth telling.
          if (!decoded.skipped.apiVersion.includes('istio.io')) continue;
        }
        const id = identify(doc.value, options.defaultNamespace);
        for (const issue of decoded.issues) {
          input.messages.push(issueMessage(issue, { ...id, file: issue.file }));
        }
      }
    }
    for (const obj of seen.values()) {
      if ('meta' in obj) input.resources.push(obj);
      else input.kube.push(obj);
    }
    return input;
  }
}

/**
 * Validation reports unreachable VirtualService rules and matches as warnings, as Istio's
 * webhook does; Istio's analyze shows those as IST0130/IST0131 rather than as schema
 * warnings, so they are recognized here. (By wording until issues carry a message type.)
 */
function analysisTypeOfWarning(kind: string | undefined, message: string): MessageType {
  if (kind === 'VirtualService') {
    if (message.startsWith('this rule is never used')) return Messages.VirtualServiceUnreachableRule;
    if (message.startsWith('this match is never used')) return Messages.VirtualServiceIneffectiveMatch;
  }
  return Messages.SchemaWarning;
}

function issueMessage(issue: LocatedIssue, origin: MessageOrigin): AnalysisMessage {
  const where = issue.path.length > 0 ? `${formatPath(issue.path)}: ` : '';
  const at = { ...origin, line: issue.line };
  if (issue.severity === 'error') {
    return {
      type: Messages.SchemaValidationError,
      text: `Schema validation error: ${where}${issue.message}`,
      origin: at,
    };
  }
  const type = analysisTypeOfWarning(origin.kind, issue.message);
  const text =
    type === Messages.SchemaWarning
      ? `Schema validation warning: ${where}${issue.message}`
      : `VirtualService ${where}${issue.message}.`;
  return { type, text, origin: at };
}

/** Kind, namespace and name of a raw document, as far as it says, for messages. */
function identify(value: unknown, defaultNamespace: string): MessageOrigin {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return {};
  const obj = value as Record<string, unknown>;
  const kind = typeof obj.kind === 'string' && obj.kind !== '' ? obj.kind : undefined;
  if (!kind) return {};
  const meta = isRecord(obj.metadata) ? obj.metadata : {};
  const name = typeof meta.name === 'string' ? meta.name : '';
  const namespace = typeof meta.namespace === 'string' ? meta.namespace : defaultNamespace;
  return { kind, namespace, name };
}

/**
 * `kind: List` (what `kubectl get -o yaml` prints) stands for its items: each becomes a
 * document of its own, located inside the list.
 */
function expandList(doc: ParsedDocument): ParsedDocument[] {
  const v = doc.value;
  if (!isRecord(v) || v.kind !== 'List' || typeof v.apiVersion !== 'string' || !Array.isArray(v.items)) {
    return [doc];
  }
  return v.items.map((item, i) => ({
    index: doc.index,
    value: item,
    start: doc.locate(['items', i]),
    locate: (path) => doc.locate(['items', i, ...path]),
  }));
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function stringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!isRecord(v)) return out;
  for (const [k, x] of Object.entries(v)) if (typeof x === 'string') out[k] = x;
  return out;
}

function kubeObject(
  skipped: { apiVersion: string; kind: string; object: Record<string, unknown> },
  defaultNamespace: string,
): KubeObject | undefined {
  const meta = isRecord(skipped.object.metadata) ? skipped.object.metadata : {};
  const name = typeof meta.name === 'string' ? meta.name : '';
  if (name === '') return undefined;
  return {
    apiVersion: skipped.apiVersion,
    kind: skipped.kind,
    name,
    namespace:
      typeof meta.namespace === 'string' && meta.namespace !== '' ? meta.namespace : defaultNamespace,
    labels: stringMap(meta.labels),
    annotations: stringMap(meta.annotations),
    object: skipped.object,
  };
}
