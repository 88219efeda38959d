/**
 * The contract between config sources and the store. A source (a directory of files, the
 * memory source for tests, Kubernetes informers later) decodes objects at its edge and tells
 * the store what it currently holds; the store owns everything after that: resourceVersions,
 * de-duplication of unchanged objects, merging of several sources, events and snapshots.
 *
 * A Kubernetes source plugs in by implementing `ConfigSource`: the initial LIST (and every
 * relist after a 410 Gone) becomes `replace`, watch events become `apply`, and `synced` is
 * called once the first list has been handed over.
 */
import type { ConfigKey, ConfigResource } from '../api/resource.ts';
import type { ConfigStatus } from './status.ts';

/** Where objects that name no namespace go, unless a source is configured otherwise (Istio's default). */
export const DEFAULT_NAMESPACE = 'default';

export type SourceChange =
  | { readonly type: 'upsert'; readonly resource: ConfigResource }
  | { readonly type: 'delete'; readonly key: ConfigKey };

/** Where a source reports what it holds. Calls are synchronous and cheap; never blocked by handlers. */
export interface ConfigSink {
  /** Applies a batch of changes atomically (one consistent step for snapshot readers). */
  apply(changes: readonly SourceChange[]): void;
  /**
   * Declares the complete set of objects the source holds now; objects it held before and
   * does not list are deleted. Unchanged objects (same reference, or equal content) produce
   * no event, so a source may call this after every rescan.
   */
  replace(resources: readonly ConfigResource[]): void;
  /** The source has handed over its initial state. Call once; later calls are ignored. */
  synced(): void;
}

export interface ConfigSource {
  /** Short, unique name for logs and statuses: `file:/etc/mizzen/config`, `memory`, `kubernetes`. */
  readonly name: string;
  /**
   * Produces into `sink` until `signal` aborts, then releases every resource (watchers,
   * timers, connections) and resolves. Rejects only when the source cannot run at all.
   */
  run(sink: ConfigSink, signal: AbortSignal): Promise<void>;
  /** Problems (and remarks) about what the source read, for the CLI and debug endpoints. */
  statuses(): readonly ConfigStatus[];
}
