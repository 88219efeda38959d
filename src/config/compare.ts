/**
 * Content equality of config objects (to tell a real update from a re-read of the same
 * object) and deep freezing (snapshots are immutable). Objects here are decoded YAML/JSON:
 * plain objects, arrays and primitives.
 */
import type { ConfigResource, ResourceMeta } from '../api/resource.ts';

/**
 * True when two objects say the same thing. The source-assigned `resourceVersion` is left out:
 * a Kubernetes relist or a re-read file carries a new one for identical content.
 */
export function sameContent(a: ConfigResource, b: ConfigResource): boolean {
  if (a === b) return true;
  if (a.kind !== b.kind || a.group !== b.group || a.version !== b.version) return false;
  return sameMeta(a.meta, b.meta) && deepEqual(a.spec, b.spec);
}

function sameMeta(a: ResourceMeta, b: ResourceMeta): boolean {
  if (a === b) return true;
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  keys.delete('resourceVersion');
  for (const k of keys) {
    if (
      !deepEqual((a as unknown as Record<string, unknown>)[k], (b as unknown as Record<string, unknown>)[k])
    )
      return false;
  }
  return true;
}

export function deepEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!deepEqual(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  if (a instanceof Date || b instanceof Date) {
    return a instanceof Date && b instanceof Date && a.getTime() === b.getTime();
  }
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  // An absent key and a key holding undefined mean the same thing for decoded config.
  const ka = Object.keys(ra).filter((k) => ra[k] !== undefined);
  const kb = Object.keys(rb).filter((k) => rb[k] !== undefined);
  if (ka.length !== kb.length) return false;
  for (const k of ka) {
    if (!Object.hasOwn(rb, k) || !deepEqual(ra[k], rb[k])) return false;
  }
  return true;
}

const deeplyFrozen = new WeakSet<object>();

/** Freezes a value and everything reachable from it (once per object: shared subtrees are not walked again). */
export function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || deeplyFrozen.has(value)) return value;
  deeplyFrozen.add(value);
  Object.freeze(value);
  for (const v of Object.values(value)) deepFreeze(v);
  return value;
}
