/**
 * Feature flags read from the environment, each registered once with its name, default and
 * description (Istio's pkg/env + pilot/pkg/features). Where Istio has a name for the knob
 * (`PILOT_*`), Mizzen uses it so an istiod deployment's settings carry over. `featureDocs()`
 * prints the table that `mizzend --help` shows; nothing else reads process.env for these.
 *
 * Values are parsed when read, so a bad value is reported with the flag's name at the point
 * of use (mizzend start-up) instead of being silently replaced by the default.
 */
import { formatDuration, parseDuration } from './duration.ts';
import { ErrorCode, MizzenError } from './errors.ts';

export type FeatureType = 'duration' | 'integer' | 'boolean';

export interface FeatureSpec<T> {
  readonly name: string;
  readonly type: FeatureType;
  readonly default: T;
  readonly description: string;
  /** Extra check on a parsed value; returns a problem or undefined. */
  readonly check?: (value: T) => string | undefined;
}

export interface Feature<T> extends FeatureSpec<T> {
  /** The value from `env` (default: process.env), or the default when unset or empty. Throws on a bad value. */
  get(env?: Readonly<Record<string, string | undefined>>): T;
}

const registered = new Map<string, Feature<unknown>>();

function parse(type: FeatureType, text: string): unknown {
  switch (type) {
    case 'duration': {
      const ms = parseDuration(text);
      // Istio also takes a bare number of seconds for some durations; be explicit instead.
      return ms === undefined || ms < 0 ? undefined : ms;
    }
    case 'integer':
      return /^[0-9]+$/.test(text) ? Number(text) : undefined;
    case 'boolean': {
      const t = text.toLowerCase();
      if (t === 'true' || t === '1') return true;
      if (t === 'false' || t === '0') return false;
      return undefined;
    }
  }
}

const EXPECTED: Record<FeatureType, string> = {
  duration: 'a duration such as 100ms, 1.5s or 10s',
  integer: 'a non-negative integer',
  boolean: 'true or false',
};

/** Registers a flag; a second registration of the same name is a programming error. */
export function defineFeature<T>(spec: FeatureSpec<T>): Feature<T> {
  if (registered.has(spec.name)) {
    throw new MizzenError(ErrorCode.INVALID_ARGUMENT, `feature flag ${spec.name} is registered twice`);
  }
  const feature: Feature<T> = {
    ...spec,
    get(env = process.env) {
      const raw = env[spec.name];
      if (raw === undefined || raw.trim() === '') return spec.default;
      const value = parse(spec.type, raw.trim()) as T | undefined;
      const problem = value === undefined ? `expected ${EXPECTED[spec.type]}` : spec.check?.(value);
      if (problem !== undefined) {
        throw new MizzenError(
          ErrorCode.INVALID_ARGUMENT,
          `environment variable ${spec.name}=${JSON.stringify(raw)} is invalid: ${problem}`,
        );
      }
      return value as T;
    },
  };
  registered.set(spec.name, feature as Feature<unknown>);
  return feature;
}

/** Every registered flag, by name. */
export function features(): readonly Feature<unknown>[] {
  return [...registered.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
}

function formatDefault(f: Feature<unknown>): string {
  return f.type === 'duration' ? formatDuration(f.default as number) : String(f.default);
}

/** One line per flag: `NAME (default D): description`. */
export function featureDocs(): string {
  return features()
    .map((f) => `  ${f.name} (default ${formatDefault(f)})\n      ${f.description}`)
    .join('\n');
}

// ---- control plane (pilot) ----

export const PILOT_DEBOUNCE_AFTER = defineFeature<number>({
  name: 'PILOT_DEBOUNCE_AFTER',
  type: 'duration',
  default: 100,
  description:
    'Quiet period after a config or registry change before a push starts; more changes within it are merged into the same push.',
});

export const PILOT_DEBOUNCE_MAX = defineFeature<number>({
  name: 'PILOT_DEBOUNCE_MAX',
  type: 'duration',
  default: 10_000,
  description:
    'Longest a steady stream of changes can delay a push, measured from the first change of the burst.',
});

export const PILOT_ENABLE_EDS_DEBOUNCE = defineFeature<boolean>({
  name: 'PILOT_ENABLE_EDS_DEBOUNCE',
  type: 'boolean',
  default: true,
  description:
    'Debounce endpoint-only (incremental EDS) pushes like config pushes; false pushes endpoint changes at once.',
});

export const PILOT_PUSH_THROTTLE = defineFeature<number>({
  name: 'PILOT_PUSH_THROTTLE',
  type: 'integer',
  // Istio's default: 100 concurrent pushes. Here it caps the connections whose responses are
  // being written at once; the event loop is protected by time-sliced queue turns, and memory
  // by the ADS server's budget of bytes in flight, not by this count.
  default: 100,
  description:
    'Connections whose pushes are in progress at once (Istio: concurrent pushes). Work per event-loop turn is time-sliced and bytes in flight are budgeted separately.',
  check: (v) => (v < 1 ? 'must be at least 1' : undefined),
});
