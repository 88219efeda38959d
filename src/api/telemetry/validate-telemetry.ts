/**
 * Telemetry semantics, following Istio's webhook and CRD rules: scope, provider names,
 * sampling percentage, custom tag values, tag override operations, and access-log filters that
 * must be valid CEL. Whether a named provider exists is a mesh-config question, answered by the
 * analyzers, not here.
 */

import { validateMinDuration } from '../common/validators.ts';
import type { SemanticContext } from '../schema/kind.ts';
import { rejectDryRunAnnotation, validatePolicyScope } from '../security/policy-scope.ts';
import { type FieldPath, type Issues, show } from '../validation.ts';
import { celSyntaxError } from './cel.ts';
import type { AccessLogging, Metrics, Telemetry, Tracing } from './telemetry.ts';

const HEADER_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

export function validateTelemetry(spec: Telemetry, ctx: SemanticContext): void {
  const { issues, path } = ctx;
  rejectDryRunAnnotation(ctx, 'Telemetry');
  validatePolicyScope(spec, ctx);
  const tracing = spec.tracing ?? [];
  if (tracing.length > 1) {
    issues.warn(
      [...path, 'tracing'],
      'only one tracing entry is supported; the entries after the first are ignored',
    );
  }
  tracing.forEach((t, i) => {
    validateTracing(t, [...path, 'tracing', i], issues);
  });
  (spec.metrics ?? []).forEach((m, i) => {
    validateMetrics(m, [...path, 'metrics', i], issues);
  });
  (spec.accessLogging ?? []).forEach((a, i) => {
    validateAccessLogging(a, [...path, 'accessLogging', i], issues);
  });
}

function validateProviders(
  providers: readonly { name: string }[] | undefined,
  path: FieldPath,
  issues: Issues,
): void {
  (providers ?? []).forEach((p, i) => {
    if (p.name.trim() === '') issues.error([...path, i, 'name'], 'a provider name must not be empty');
  });
}

function validateTracing(tracing: Tracing, path: FieldPath, issues: Issues): void {
  validateProviders(tracing.providers, [...path, 'providers'], issues);
  if ((tracing.providers?.length ?? 0) > 1) {
    issues.warn(
      [...path, 'providers'],
      'only one tracing provider is supported; the providers after the first are ignored',
    );
  }
  const pct = tracing.randomSamplingPercentage;
  if (pct !== undefined && !(pct >= 0 && pct <= 100)) {
    issues.error([...path, 'randomSamplingPercentage'], `${pct} is not a valid percentage (0-100)`);
  }
  for (const [name, tag] of Object.entries(tracing.customTags ?? {})) {
    const at = [...path, 'customTags', name];
    if (name === '') issues.error(at, 'a custom tag name must not be empty');
    if (tag.literal !== undefined) {
      if (tag.literal.value === '')
        issues.error([...at, 'literal', 'value'], 'a literal tag value must not be empty');
    } else if (tag.environment !== undefined) {
      if (tag.environment.name === '') {
        issues.error([...at, 'environment', 'name'], 'an environment variable name must not be empty');
      }
    } else if (tag.header !== undefined) {
      const header = tag.header.name;
      if (header === '') issues.error([...at, 'header', 'name'], 'a header name must not be empty');
      else if (!HEADER_TOKEN.test(header)) {
        issues.warn(
          [...at, 'header', 'name'],
          `${show(header)} is not a valid header name, so no request can carry it`,
        );
      }
    } else if (tag.formatter !== undefined) {
      if (tag.formatter.value === '')
        issues.error([...at, 'formatter', 'value'], 'a formatter value must not be empty');
    } else {
      issues.warn(
        at,
        'this custom tag sets none of literal, environment, header or formatter, so it adds nothing',
      );
    }
  }
}

function validateMetrics(metrics: Metrics, path: FieldPath, issues: Issues): void {
  validateProviders(metrics.providers, [...path, 'providers'], issues);
  if (metrics.reportingInterval !== undefined) {
    validateMinDuration(metrics.reportingInterval, [...path, 'reportingInterval'], issues, {
      msPrecision: false,
    });
  }
  (metrics.overrides ?? []).forEach((o, i) => {
    const at = [...path, 'overrides', i];
    if (o.match?.customMetric === '')
      issues.error([...at, 'match', 'customMetric'], 'customMetric must not be empty');
    for (const [tag, override] of Object.entries(o.tagOverrides ?? {})) {
      const tagAt = [...at, 'tagOverrides', tag];
      if (tag === '') issues.warn(tagAt, 'a tag name should not be empty');
      const operation = override.operation ?? 'UPSERT';
      if (operation === 'UPSERT') {
        if (!override.value) {
          issues.error(
            tagAt,
            `value is required when the operation is UPSERT${override.operation ? '' : ' (the default)'}`,
          );
        } else {
          const problem = celSyntaxError(override.value);
          if (problem) {
            issues.warn(
              [...tagAt, 'value'],
              `${show(override.value)} is not a valid CEL expression (${problem})`,
            );
          }
        }
      } else if (override.value) {
        issues.error([...tagAt, 'value'], 'value may only be set when the operation is UPSERT');
      }
    }
  });
}

function validateAccessLogging(logging: AccessLogging, path: FieldPath, issues: Issues): void {
  validateProviders(logging.providers, [...path, 'providers'], issues);
  if (logging.filter !== undefined) {
    const expression = logging.filter.expression ?? '';
    const problem = celSyntaxError(expression);
    if (problem) {
      issues.error(
        [...path, 'filter', 'expression'],
        `${show(expression)} is not a valid CEL expression: ${problem}`,
      );
    }
  }
}
