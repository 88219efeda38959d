/**
 * Telemetry (telemetry.istio.io v1, v1alpha1): per-workload overrides for tracing, metrics and
 * access logging, each naming extension providers from the mesh config. Schema here; the
 * webhook rules are in validate-telemetry.ts.
 */

import { policyTargetReference, workloadSelector } from '../common/types.ts';
import { type Infer, t } from '../schema/dsl.ts';
import { GROUP_TELEMETRY, TELEMETRY_VERSIONS } from '../schema/groups.ts';
import { defineKind } from '../schema/kind.ts';
import { validateTelemetry } from './validate-telemetry.ts';

export const WORKLOAD_MODES = ['CLIENT_AND_SERVER', 'CLIENT', 'SERVER'] as const;
export type WorkloadMode = (typeof WORKLOAD_MODES)[number];

/** Istio's standard metrics, as MetricSelector.IstioMetric names them. */
export const ISTIO_METRICS = [
  'ALL_METRICS',
  'REQUEST_COUNT',
  'REQUEST_DURATION',
  'REQUEST_SIZE',
  'RESPONSE_SIZE',
  'TCP_OPENED_CONNECTIONS',
  'TCP_CLOSED_CONNECTIONS',
  'TCP_SENT_BYTES',
  'TCP_RECEIVED_BYTES',
  'GRPC_REQUEST_MESSAGES',
  'GRPC_RESPONSE_MESSAGES',
] as const;
export type IstioMetric = (typeof ISTIO_METRICS)[number];

export const providerRef = t.object('ProviderRef', { name: t.string().required() });

const tracingSelector = t.object('TracingSelector', { mode: t.enum(WORKLOAD_MODES) });

export const customTag = t.object(
  'Tracing.CustomTag',
  {
    literal: t.object('Tracing.Literal', { value: t.string().required() }),
    environment: t.object('Tracing.Environment', {
      name: t.string().required(),
      defaultValue: t.string(),
    }),
    header: t.object('Tracing.RequestHeader', {
      name: t.string().required(),
      defaultValue: t.string(),
    }),
    /** An Envoy access-log formatter string, e.g. "%REQ(:PATH)%". */
    formatter: t.object('Tracing.Formatter', { value: t.string().required() }),
  },
  { oneOf: [['literal', 'environment', 'header', 'formatter']] },
);
export type CustomTag = Infer<typeof customTag>;

export const tracing = t.object('Tracing', {
  match: tracingSelector,
  providers: t.array(providerRef),
  /** 0-100; unset means the provider's or mesh default. */
  randomSamplingPercentage: t.double(),
  disableSpanReporting: t.bool(),
  customTags: t.map(customTag),
  useRequestIdForTraceSampling: t.bool(),
  enableIstioTags: t.bool(),
});
export type Tracing = Infer<typeof tracing>;

export const metricSelector = t.object(
  'MetricSelector',
  {
    metric: t.enum(ISTIO_METRICS),
    customMetric: t.string(),
    mode: t.enum(WORKLOAD_MODES),
  },
  { oneOf: [['metric', 'customMetric']] },
);

export const tagOverride = t.object('MetricsOverrides.TagOverride', {
  /** UPSERT when unset. */
  operation: t.enum(['UPSERT', 'REMOVE']),
  /** A CEL expression; required for UPSERT, forbidden for REMOVE. */
  value: t.string(),
});
export type TagOverride = Infer<typeof tagOverride>;

export const metricsOverrides = t.object('MetricsOverrides', {
  match: metricSelector,
  disabled: t.bool(),
  tagOverrides: t.map(tagOverride),
});

export const metrics = t.object('Metrics', {
  providers: t.array(providerRef),
  overrides: t.array(metricsOverrides),
  reportingInterval: t.duration(),
});
export type Metrics = Infer<typeof metrics>;

export const accessLogging = t.object('AccessLogging', {
  match: t.object('AccessLogging.LogSelector', { mode: t.enum(WORKLOAD_MODES) }),
  providers: t.array(providerRef),
  disabled: t.bool(),
  /** A CEL expression choosing which requests/connections are logged. */
  filter: t.object('AccessLogging.Filter', { expression: t.string() }),
});
export type AccessLogging = Infer<typeof accessLogging>;

export const telemetrySpec = t.object('Telemetry', {
  selector: workloadSelector,
  targetRef: policyTargetReference,
  targetRefs: t.array(policyTargetReference),
  tracing: t.array(tracing),
  metrics: t.array(metrics),
  accessLogging: t.array(accessLogging),
});
export type Telemetry = Infer<typeof telemetrySpec>;

export const telemetryKind = defineKind({
  kind: 'Telemetry',
  group: GROUP_TELEMETRY,
  versions: TELEMETRY_VERSIONS,
  plural: 'telemetries',
  spec: telemetrySpec,
  validate: validateTelemetry,
});
