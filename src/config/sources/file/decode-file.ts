/**
 * One config file's text -> the objects it contributes, with "last good" semantics: a broken
 * document is rejected alone, its siblings still load, and the object it used to define
 * keeps serving its previous version. When a broken document cannot even say which object it
 * is (a YAML syntax error, no kind or name), every object the file produced before and does
 * not produce now keeps serving, until the file is fixed or deleted.
 */
import { decodeDocument } from '../../../api/decode.ts';
import { type ConfigKey, type ConfigResource, configKey, formatConfigKey } from '../../../api/resource.ts';
import { kindDefinition } from '../../../api/schema/kinds.ts';
import { type LocatedIssue, type Position, parseYamlDocuments } from '../../../api/yaml-document.ts';
import { type ConfigStatus, makeStatus, StatusReason } from '../../status.ts';

export interface FileObject {
  readonly resource: ConfigResource;
  /** Index of the document that defined it. */
  readonly document: number;
  /** Where its `metadata.name` is written (for conflict messages). */
  readonly at: Position;
  /** True when the document is broken now and this is the last good version. */
  readonly retained: boolean;
}

export interface DecodedConfigFile {
  /** `formatConfigKey` -> object, in document order (objects kept from before come last). */
  readonly objects: ReadonlyMap<string, FileObject>;
  readonly statuses: readonly ConfigStatus[];
}

export interface DecodeFileOptions {
  readonly source: string;
  readonly defaultNamespace: string;
  /** What the previous version of the file produced. */
  readonly previous?: ReadonlyMap<string, FileObject>;
}

export function decodeConfigFile(text: string, file: string, options: DecodeFileOptions): DecodedConfigFile {
  const { source, defaultNamespace, previous } = options;
  const parsed = parseYamlDocuments(text, file);
  const objects = new Map<string, FileObject>();
  const statuses: ConfigStatus[] = [];
  /** Keys of broken documents that still say which object they are. */
  const brokenKeys = new Map<string, number>();
  /** Statuses of broken documents that do not (they get the list of objects kept). */
  const unidentified: Omit<ConfigStatus, 'messages'>[] = [];

  const syntaxErrors = parsed.issues.filter((i) => i.severity === 'error');
  const syntaxWarnings = parsed.issues.filter((i) => i.severity === 'warning');
  if (syntaxErrors.length > 0) {
    unidentified.push({ source, level: 'error', reason: StatusReason.SYNTAX, file, issues: syntaxErrors });
  }
  if (syntaxWarnings.length > 0) {
    statuses.push(
      makeStatus({ source, level: 'warning', reason: StatusReason.WARNING, file, issues: syntaxWarnings }),
    );
  }

  for (const doc of parsed.documents) {
    // An empty document (`---` with nothing after it, common at the end of generated files)
    // holds no object; kubectl and istioctl skip it, so do we.
    if (doc.value === null || doc.value === undefined) continue;
    const d = decodeDocument(doc, file, { defaultNamespace });
    const document = doc.index;
    if (d.resource) {
      const id = formatConfigKey(configKey(d.resource));
      const at = doc.locate(['metadata', 'name']);
      const first = objects.get(id);
      if (first) {
        statuses.push(
          makeStatus({
            source,
            level: 'error',
            reason: StatusReason.CONFLICT,
            file,
            document,
            key: configKey(d.resource),
            issues: [
              issueAt(
                file,
                at,
                `${id} is already defined at ${file}:${first.at.line}:${first.at.column}; this definition is ignored`,
              ),
            ],
          }),
        );
        continue;
      }
      objects.set(id, { resource: d.resource, document, at, retained: false });
      if (d.issues.length > 0) {
        statuses.push(
          makeStatus({
            source,
            level: 'warning',
            reason: StatusReason.WARNING,
            file,
            document,
            key: configKey(d.resource),
            issues: d.issues,
          }),
        );
      }
    } else if (d.skipped) {
      statuses.push(
        makeStatus({ source, level: 'info', reason: StatusReason.SKIPPED, file, document, issues: d.issues }),
      );
    } else {
      const key = identify(doc.value, defaultNamespace);
      const status = {
        source,
        level: 'error' as const,
        reason: StatusReason.INVALID,
        file,
        document,
        issues: d.issues,
      };
      if (key) {
        const id = formatConfigKey(key);
        brokenKeys.set(id, statuses.length);
        statuses.push(makeStatus({ ...status, key }));
      } else unidentified.push(status);
    }
  }

  // Last good versions, keyed by the identity they had.
  const keptForUnidentified: ConfigKey[] = [];
  if (previous) {
    for (const [id, prev] of previous) {
      if (objects.has(id)) continue;
      const at = brokenKeys.get(id);
      if (at !== undefined) {
        objects.set(id, { ...prev, retained: true });
        statuses[at] = makeStatus({ ...statuses[at], lastGood: [configKey(prev.resource)] });
      } else if (unidentified.length > 0) {
        objects.set(id, { ...prev, retained: true });
        keptForUnidentified.push(configKey(prev.resource));
      }
    }
  }
  for (const s of unidentified) {
    statuses.push(makeStatus(keptForUnidentified.length > 0 ? { ...s, lastGood: keptForUnidentified } : s));
  }
  return { objects, statuses };
}

/**
 * The (kind, namespace, name) a document means, read from its raw value even though it
 * failed validation; undefined when it does not say (or names a kind Mizzen does not know).
 */
export function identify(value: unknown, defaultNamespace: string): ConfigKey | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const { apiVersion, kind, metadata } = value as Record<string, unknown>;
  if (typeof kind !== 'string') return undefined;
  const def = kindDefinition(kind);
  if (!def) return undefined;
  if (
    typeof apiVersion === 'string' &&
    apiVersion.includes('/') &&
    apiVersion.slice(0, apiVersion.lastIndexOf('/')) !== def.group
  ) {
    return undefined;
  }
  if (typeof metadata !== 'object' || metadata === null) return undefined;
  const { name, namespace } = metadata as Record<string, unknown>;
  if (typeof name !== 'string' || name === '') return undefined;
  if (namespace !== undefined && (typeof namespace !== 'string' || namespace === '')) return undefined;
  return { kind: def.kind, namespace: (namespace as string | undefined) ?? defaultNamespace, name };
}

function issueAt(file: string, at: Position, message: string): LocatedIssue {
  return { file, line: at.line, column: at.column, path: ['metadata', 'name'], severity: 'error', message };
}
