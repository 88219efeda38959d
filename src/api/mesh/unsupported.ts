/**
 * Schema entries for MeshConfig and ProxyConfig fields that Istio has but Mizzen does not
 * implement (or that Istio itself removed). Declaring them, instead of leaving them unknown,
 * turns "unknown field" into a message that says why the field is refused: a mesh setting is
 * never silently dropped.
 */
import { INVALID, type Parsed, Schema } from '../schema/dsl.ts';
import type { FieldPath, Issues } from '../validation.ts';

export class UnsupportedSchema extends Schema<never> {
  readonly expected = 'nothing: the field is not supported';
  readonly reason: string;
  constructor(reason: string) {
    super();
    this.reason = reason;
  }
  parse(_value: unknown, path: FieldPath, issues: Issues): Parsed<never> {
    issues.error(path, `${String(path[path.length - 1])} ${this.reason}`);
    return INVALID;
  }
}

/** An Istio field Mizzen does not implement; `why` completes "is not supported by Mizzen: ...". */
export function unsupported(why: string): UnsupportedSchema {
  return new UnsupportedSchema(`is not supported by Mizzen: ${why}; remove it`);
}

/** A field Istio removed from its API; `since` names the release or the replacement. */
export function removed(since: string): UnsupportedSchema {
  return new UnsupportedSchema(`was removed from Istio (${since}); remove it`);
}
