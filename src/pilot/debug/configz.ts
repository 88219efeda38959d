/**
 * `/debug/configz`: every object the config store serves, in Kubernetes form (apiVersion,
 * kind, metadata, spec, plus where it was read), and every source status: rejected
 * documents with their located messages and the objects kept at their last good version.
 */
import { formatConfigKey } from '../../api/resource.ts';
import type { ConfigSnapshot } from '../../config/snapshot.ts';
import type { ConfigStatus } from '../../config/status.ts';

export function configz(config: {
  snapshot(): ConfigSnapshot;
  statuses(): readonly ConfigStatus[];
  hasSynced(): boolean;
  readonly revision: number;
}) {
  const snap = config.snapshot();
  const resources = snap.kinds().flatMap((kind) =>
    snap.list(kind).map((r) => ({
      apiVersion: r.group ? `${r.group}/${r.version}` : r.version,
      kind: r.kind,
      metadata: {
        name: r.meta.name,
        namespace: r.meta.namespace,
        labels: r.meta.labels,
        annotations: r.meta.annotations,
        resourceVersion: r.meta.resourceVersion,
        generation: r.meta.generation,
        creationTimestamp: r.meta.creationTimestamp,
      },
      spec: r.spec,
      source: r.meta.source,
    })),
  );
  const statuses = config.statuses().map((s) => ({
    source: s.source,
    level: s.level,
    reason: s.reason,
    file: s.file,
    document: s.document,
    key: s.key ? formatConfigKey(s.key) : undefined,
    messages: s.messages,
    last_good: s.lastGood?.map(formatConfigKey),
  }));
  return { revision: snap.revision, synced: config.hasSynced(), resources, statuses };
}
