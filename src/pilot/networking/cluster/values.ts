/** Small converters from Istio API values to snake_case proto values. */
import { parseDuration } from '../../../lib/duration.ts';
import { toProtoDuration } from '../../../lib/xds/well-known.ts';

/** `"1.5s"` (Go syntax, as validated by the API model) -> google.protobuf.Duration object. */
export function protoDuration(text: string): { seconds: number; nanos: number } {
  const ms = parseDuration(text);
  if (ms === undefined) throw new TypeError(`not a duration: ${JSON.stringify(text)}`);
  return toProtoDuration(ms);
}

/** Whole seconds of a duration (Envoy's keepalive fields are seconds). */
export function durationSeconds(text: string): number {
  const ms = parseDuration(text);
  if (ms === undefined) throw new TypeError(`not a duration: ${JSON.stringify(text)}`);
  return Math.floor(ms / 1000);
}

export function u32(value: number): { value: number } {
  return { value };
}

/** A proto object being built: snake_case keys, checked by the shape validator in tests. */
export type ProtoObject = Record<string, unknown>;
