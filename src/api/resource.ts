/**
 * The one shape every Istio object takes inside Mizzen, whatever its source (file, Kubernetes,
 * memory) and whatever API version it was written in.
 */
export interface SourceLocation {
  /** File path as given to the source (relative paths stay relative). */
  readonly file: string;
  /** 1-based line and column of the document's start (`apiVersion`, or the first key). */
  readonly line: number;
  readonly column: number;
}

export interface ResourceMeta {
  readonly name: string;
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  /** Opaque, changes on every update of the object (Kubernetes semantics). */
  readonly resourceVersion: string;
  readonly generation?: number;
  readonly uid?: string;
  readonly creationTimestamp?: string;
  readonly source?: SourceLocation;
}

export interface ConfigResource<Spec = unknown> {
  readonly kind: string;
  readonly group: string;
  /** The version the object was written in; the spec is the same model for all versions. */
  readonly version: string;
  readonly meta: ResourceMeta;
  readonly spec: Spec;
}

export interface ConfigKey {
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
}

export function configKey(r: { kind: string; meta: { namespace: string; name: string } }): ConfigKey {
  return { kind: r.kind, namespace: r.meta.namespace, name: r.meta.name };
}

/** `VirtualService/default/reviews` — stable and unique, for maps and messages. */
export function formatConfigKey(k: ConfigKey): string {
  return `${k.kind}/${k.namespace}/${k.name}`;
}
