/**
 * WorkloadGroup semantic rules: Istio's ValidateWorkloadGroup and validateReadinessProbe, the
 * CRD's limits (non-negative probe timings, header name syntax), and the template rules from
 * Istio's API docs (no address or labels in the template).
 */
import { validateLabels, validatePort } from '../common/validators.ts';
import type { SemanticContext } from '../schema/kind.ts';
import { type FieldPath, type Issues, show } from '../validation.ts';
import { validateWorkloadEntryFields } from './validate-workload-entry.ts';
import type { ReadinessProbe, WorkloadGroup } from './workload-group.ts';

export function validateWorkloadGroup(spec: WorkloadGroup, ctx: SemanticContext): void {
  const { issues, path } = ctx;
  if (spec.metadata?.labels) validateLabels(spec.metadata.labels, [...path, 'metadata', 'labels'], issues);
  validateWorkloadEntryFields(spec.template, [...path, 'template'], issues, { address: 'template' });
  if (spec.probe) validateReadinessProbe(spec.probe, [...path, 'probe'], issues);
}

const PROBE_TIMINGS = [
  'initialDelaySeconds',
  'timeoutSeconds',
  'periodSeconds',
  'successThreshold',
  'failureThreshold',
] as const;

const PROBE_HEADER_NAME = /^[-_A-Za-z0-9]+$/;

function validateReadinessProbe(probe: ReadinessProbe, path: FieldPath, issues: Issues): void {
  for (const key of PROBE_TIMINGS) {
    const v = probe[key];
    if (v !== undefined && v < 0)
      issues.error([...path, key], `${v} is negative; ${key} must be zero or more`);
  }
  if (probe.httpGet) {
    const h = probe.httpGet;
    const at = [...path, 'httpGet'];
    validatePort(h.port, [...at, 'port'], issues);
    if (h.scheme !== undefined && h.scheme !== '' && h.scheme !== 'HTTP' && h.scheme !== 'HTTPS') {
      issues.error([...at, 'scheme'], `${show(h.scheme)} is not a valid scheme; expected HTTP or HTTPS`);
    }
    h.httpHeaders?.forEach((header, i) => {
      const name = header.name ?? '';
      if (!PROBE_HEADER_NAME.test(name)) {
        issues.error(
          [...at, 'httpHeaders', i, 'name'],
          name === ''
            ? 'a header name is required'
            : `${show(name)} is not a valid header name (letters, digits, '-' and '_')`,
        );
      }
    });
  } else if (probe.tcpSocket) {
    validatePort(probe.tcpSocket.port, [...path, 'tcpSocket', 'port'], issues);
  } else if (probe.exec) {
    if (probe.exec.command.length === 0) {
      issues.error([...path, 'exec', 'command'], 'command must name the program to run');
    }
  } else if (probe.grpc) {
    if (probe.grpc.port === undefined) issues.error([...path, 'grpc', 'port'], 'port is required');
    else validatePort(probe.grpc.port, [...path, 'grpc', 'port'], issues);
  } else {
    issues.error(path, 'a probe must set one of httpGet, tcpSocket, exec or grpc');
  }
}
