/**
 * VirtualService `mirror` (+ mirrorPercentage / deprecated mirrorPercent) and `mirrors[]` ->
 * Envoy RequestMirrorPolicy (Istio's MirrorPercent / TranslateRequestMirrorPolicy). No
 * percentage means 100%; an explicit 0 disables that mirror. Mirrored requests are never
 * trace-sampled.
 */
import type { HTTPRoute } from '../../../api/networking/virtual-service.ts';
import { percentPerHundred, percentPerMillion } from './fault.ts';
import type { Proto } from './match.ts';

type HttpMirrorPolicy = NonNullable<HTTPRoute['mirrors']>[number];

/** RuntimeFractionalPercent for the single `mirror`, or undefined when mirroring is off. */
export function mirrorPercent(route: HTTPRoute): Proto | undefined {
  if (route.mirrorPercentage !== undefined) {
    const v = route.mirrorPercentage.value ?? 0;
    return v > 0 ? { default_value: percentPerMillion(v) } : undefined;
  }
  const legacy = route.mirrorPercent ?? route.mirror_percent;
  if (legacy !== undefined) return legacy > 0 ? { default_value: percentPerHundred(legacy) } : undefined;
  return { default_value: percentPerHundred(100) };
}

/** RuntimeFractionalPercent for one entry of `mirrors`, or undefined when it is off. */
export function mirrorPolicyPercent(mirror: HttpMirrorPolicy): Proto | undefined {
  if (mirror.percentage !== undefined) {
    const v = mirror.percentage.value ?? 0;
    return v > 0 ? { default_value: percentPerMillion(v) } : undefined;
  }
  return { default_value: percentPerHundred(100) };
}

export function buildRequestMirrorPolicy(cluster: string, runtimeFraction: Proto): Proto {
  return { cluster, runtime_fraction: runtimeFraction, trace_sampled: { value: false } };
}
