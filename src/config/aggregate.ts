/**
 * Several sources, one set of objects. Each source contributes objects keyed by
 * (kind, namespace, name); when more than one source holds the same key, the source listed
 * first wins (deterministic, independent of timing) and the others are reported as conflicts.
 * The store keeps one of these and asks it for the winner of every key a source changed.
 */
import { type ConfigKey, type ConfigResource, configKey, formatConfigKey } from '../api/resource.ts';
import { type ConfigStatus, makeStatus, StatusReason } from './status.ts';

export interface Contribution {
  readonly source: number;
  readonly resource: ConfigResource;
}

export class SourceMerge {
  readonly #sourceNames: readonly string[];
  /** Per source: key -> the object it holds. */
  readonly #bySource: Map<string, ConfigResource>[];
  /** Keys held by more than one source. */
  readonly #contested = new Set<string>();

  constructor(sourceNames: readonly string[]) {
    this.#sourceNames = sourceNames;
    this.#bySource = sourceNames.map(() => new Map());
  }

  /** What `source` holds for `id` (a `formatConfigKey` string). */
  held(source: number, id: string): ConfigResource | undefined {
    return this.#bySource[source].get(id);
  }

  /** Every key `source` holds. */
  keys(source: number): IterableIterator<string> {
    return this.#bySource[source].keys();
  }

  /** Records what `source` holds for `id` (undefined: nothing) and returns the key's winner. */
  set(source: number, id: string, resource: ConfigResource | undefined): Contribution | undefined {
    if (resource) this.#bySource[source].set(id, resource);
    else this.#bySource[source].delete(id);
    if (this.#bySource.length > 1) {
      let holders = 0;
      for (const m of this.#bySource) if (m.has(id)) holders++;
      if (holders > 1) this.#contested.add(id);
      else this.#contested.delete(id);
    }
    return this.winner(id);
  }

  winner(id: string): Contribution | undefined {
    for (let i = 0; i < this.#bySource.length; i++) {
      const r = this.#bySource[i].get(id);
      if (r) return { source: i, resource: r };
    }
    return undefined;
  }

  /** One status per losing definition of a key held by several sources. */
  conflicts(): ConfigStatus[] {
    const out: ConfigStatus[] = [];
    for (const id of this.#contested) {
      const win = this.winner(id);
      if (!win) continue;
      for (let i = win.source + 1; i < this.#bySource.length; i++) {
        const loser = this.#bySource[i].get(id);
        if (!loser) continue;
        const key: ConfigKey = configKey(loser);
        const at = loser.meta.source;
        out.push(
          makeStatus({
            source: this.#sourceNames[i],
            level: 'error',
            reason: StatusReason.CONFLICT,
            key,
            ...(at ? { file: at.file } : {}),
            issues: [
              {
                file: at?.file ?? this.#sourceNames[i],
                line: at?.line ?? 0,
                column: at?.column ?? 0,
                path: ['metadata', 'name'],
                severity: 'error',
                message: `${formatConfigKey(key)} is also defined by ${describe(this.#sourceNames[win.source], win.resource)}, which takes precedence; this definition is ignored`,
              },
            ],
          }),
        );
      }
    }
    return out;
  }
}

function describe(source: string, r: ConfigResource): string {
  const at = r.meta.source;
  return at ? `${source} (${at.file}:${at.line}:${at.column})` : source;
}
