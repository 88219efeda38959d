/**
 * What the kinds table knows about one Istio kind. The spec schema gives the structure; the
 * semantic validator, Istio's validating-webhook rules. Both report paths from the object's
 * root (`['spec', 'http', 0, ...]`).
 */
import type { ResourceMeta } from '../resource.ts';
import type { FieldPath, Issues } from '../validation.ts';
import { acceptProtoFieldNames, type Schema } from './dsl.ts';

export interface SemanticContext {
  readonly issues: Issues;
  readonly meta: ResourceMeta;
  /** Path of the spec in the object: `['spec']`. */
  readonly path: FieldPath;
}

export interface KindDefinition<Spec = unknown> {
  readonly kind: string;
  readonly group: string;
  /** Versions Istio serves for this kind, newest first. */
  readonly versions: readonly string[];
  readonly plural: string;
  readonly spec: Schema<Spec>;
  readonly validate: (spec: Spec, ctx: SemanticContext) => void;
}

export function defineKind<Spec>(def: KindDefinition<Spec>): KindDefinition<Spec> {
  // Istio reads every spec with protobuf's JSON mapping, so proto field names are accepted too.
  acceptProtoFieldNames(def.spec as Schema<unknown>);
  return def;
}
