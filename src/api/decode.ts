/**
 * Text -> validated ConfigResources. The one place where an Istio object written by a user
 * is decoded: envelope (apiVersion, kind, metadata), structural validation of the spec by its
 * schema, then the kind's semantic rules. Every issue comes back located (file:line:col and
 * field path). A document with errors yields no resource; its siblings are unaffected.
 */
import { isDns1123Label, isDns1123Subdomain, validateLabels } from './common/validators.ts';
import type { ConfigResource, ResourceMeta } from './resource.ts';
import { INVALID, t } from './schema/dsl.ts';
import { kindDefinition } from './schema/kinds.ts';
import { Issues, show } from './validation.ts';
import { type LocatedIssue, locateIssue, type ParsedDocument, parseYamlDocuments } from './yaml-document.ts';

export interface DecodeOptions {
  /** Namespace for objects that do not name one. */
  readonly defaultNamespace: string;
}

export interface DecodedDocument {
  readonly index: number;
  /** Set when the document is a valid Istio object. */
  readonly resource?: ConfigResource;
  /** Set for documents of kinds Mizzen does not read (e.g. a Deployment), which are skipped. */
  readonly skipped?: { apiVersion: string; kind: string; name?: string; object: Record<string, unknown> };
  readonly issues: readonly LocatedIssue[];
}

export interface DecodedFile {
  readonly documents: readonly DecodedDocument[];
  /** Syntax issues that belong to no document, plus every document's issues. */
  readonly issues: readonly LocatedIssue[];
}

// Kubernetes ObjectMeta fields. Server-managed ones are accepted so that `kubectl get -o yaml`
// output can be applied as is.
const objectMeta = t.object('ObjectMeta', {
  name: t.string(),
  generateName: t.string(),
  namespace: t.string(),
  labels: t.map(t.string()),
  annotations: t.map(t.string()),
  resourceVersion: t.string(),
  generation: t.int64(),
  uid: t.string(),
  creationTimestamp: t.any(),
  deletionTimestamp: t.any(),
  deletionGracePeriodSeconds: t.int64(),
  finalizers: t.array(t.string()),
  ownerReferences: t.array(t.struct()),
  managedFields: t.array(t.struct()),
  selfLink: t.string(),
});

/**
 * Kinds Istio serves that Mizzen does not implement. They are skipped with a warning that says
 * why, never rejected as unknown (Istio accepts them) and never silently dropped.
 */
const UNSUPPORTED_ISTIO_KINDS: ReadonlyMap<string, string> = new Map([
  ['networking.istio.io/EnvoyFilter', 'it patches Envoy configuration, and mizzen-proxy is not Envoy'],
  [
    'networking.istio.io/ProxyConfig',
    'per-workload proxy settings are not implemented yet; use MeshConfig defaultConfig',
  ],
  ['extensions.istio.io/WasmPlugin', 'mizzen-proxy does not run Wasm extensions'],
  [
    'install.istio.io/IstioOperator',
    'install Mizzen with its Helm charts; only spec.meshConfig is read, by --mesh-config',
  ],
]);

const ENVELOPE_FIELDS = new Set(['apiVersion', 'kind', 'metadata', 'spec', 'status']);

export function decodeDocument(doc: ParsedDocument, file: string, options: DecodeOptions): DecodedDocument {
  const issues = new Issues();
  const result = decodeValue(doc.value, issues, options, { file, ...doc.start });
  return {
    index: doc.index,
    ...result,
    issues: issues.list.map((i) => locateIssue(file, doc, i)),
  };
}

function decodeValue(
  value: unknown,
  issues: Issues,
  options: DecodeOptions,
  source: { file: string; line: number; column: number },
): { resource?: ConfigResource; skipped?: DecodedDocument['skipped'] } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    issues.error([], 'a document must be an object with apiVersion, kind, metadata and spec');
    return {};
  }
  const obj = value as Record<string, unknown>;
  const { apiVersion, kind } = obj;
  if (typeof apiVersion !== 'string' || apiVersion === '') {
    issues.error(['apiVersion'], 'apiVersion is required (for example networking.istio.io/v1)');
  }
  if (typeof kind !== 'string' || kind === '') issues.error(['kind'], 'kind is required');
  if (issues.hasErrors) return {};
  const [group, version] = splitApiVersion(apiVersion as string);
  const def = kindDefinition(kind as string);
  if (!def || def.group !== group) {
    const unsupported = UNSUPPORTED_ISTIO_KINDS.get(`${group}/${kind}`);
    if (group.endsWith('istio.io') && unsupported === undefined) {
      issues.error(['kind'], `unknown Istio kind ${show(`${apiVersion}/${kind}`)}`);
      return {};
    }
    const name = (obj.metadata as { name?: unknown } | undefined)?.name;
    if (unsupported !== undefined) {
      // Istio accepts it, so the document is not an error; but it has no effect here, and says so.
      issues.warn(
        ['kind'],
        `${kind} (${group}) is not supported by Mizzen and has no effect: ${unsupported}`,
      );
    } else {
      issues.warn(['kind'], `${apiVersion} ${kind} is not an Istio configuration kind; skipped`);
    }
    return {
      skipped: {
        apiVersion: apiVersion as string,
        kind: kind as string,
        name: typeof name === 'string' ? name : undefined,
        object: obj,
      },
    };
  }
  if (!def.versions.includes(version)) {
    issues.error(
      ['apiVersion'],
      `${def.kind} is not served at ${show(apiVersion)}; use ${def.versions.map((v) => `${def.group}/${v}`).join(', ')}`,
    );
    return {};
  }
  for (const key of Object.keys(obj)) {
    if (!ENVELOPE_FIELDS.has(key))
      issues.error([key], `unknown field ${show(key)}; an object has apiVersion, kind, metadata and spec`);
  }
  if (obj.metadata === undefined || obj.metadata === null) {
    issues.error(['metadata'], 'metadata is required');
    return {};
  }
  const meta = objectMeta.parse(obj.metadata, ['metadata'], issues);
  if (meta === INVALID || issues.hasErrors) return {};
  const name = meta.name ?? '';
  if (name === '') issues.error(['metadata', 'name'], 'metadata.name is required');
  else if (!isDns1123Subdomain(name)) {
    issues.error(
      ['metadata', 'name'],
      `${show(name)} is not a valid name: lower-case letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters`,
    );
  }
  const namespace = meta.namespace ?? options.defaultNamespace;
  if (meta.namespace !== undefined && !isDns1123Label(namespace)) {
    issues.error(
      ['metadata', 'namespace'],
      `${show(namespace)} is not a valid namespace: lower-case letters, digits and '-', at most 63 characters`,
    );
  }
  if (meta.labels) validateLabels(meta.labels, ['metadata', 'labels'], issues);
  const spec = def.spec.parse(obj.spec ?? {}, ['spec'], issues);
  if (spec === INVALID || issues.hasErrors) return {};
  const resourceMeta: ResourceMeta = {
    name,
    namespace,
    labels: meta.labels ?? {},
    annotations: meta.annotations ?? {},
    resourceVersion: meta.resourceVersion ?? '',
    generation: meta.generation,
    uid: meta.uid,
    creationTimestamp: typeof meta.creationTimestamp === 'string' ? meta.creationTimestamp : undefined,
    source,
  };
  def.validate(spec, { issues, meta: resourceMeta, path: ['spec'] });
  if (issues.hasErrors) return {};
  return { resource: { kind: def.kind, group: def.group, version, meta: resourceMeta, spec } };
}

function splitApiVersion(apiVersion: string): [group: string, version: string] {
  const slash = apiVersion.lastIndexOf('/');
  return slash < 0 ? ['', apiVersion] : [apiVersion.slice(0, slash), apiVersion.slice(slash + 1)];
}

/** Decodes every document of one YAML or JSON file. */
export function decodeText(text: string, file: string, options: DecodeOptions): DecodedFile {
  const parsed = parseYamlDocuments(text, file);
  const documents = parsed.documents.map((d) => decodeDocument(d, file, options));
  return { documents, issues: [...parsed.issues, ...documents.flatMap((d) => d.issues)] };
}
