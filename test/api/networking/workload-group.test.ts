import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeText } from '../../../src/api/decode.ts';
import type { WorkloadGroup } from '../../../src/api/networking/workload-group.ts';
import { formatIssue } from '../../../src/api/yaml-document.ts';

function decode(spec: string) {
  const yaml = `apiVersion: networking.istio.io/v1\nkind: WorkloadGroup\nmetadata:\n  name: wg\nspec:\n${spec}`;
  const r = decodeText(yaml, 'wg.yaml', { defaultNamespace: 'default' });
  return {
    spec: r.documents[0]?.resource?.spec as WorkloadGroup | undefined,
    lines: r.issues.map((i) => `${i.severity}: ${formatIssue(i)}`),
  };
}

describe('WorkloadGroup', () => {
  it('accepts an empty template and no probe', () => {
    const { spec, lines } = decode('  template: {}\n');
    assert.deepEqual(lines, []);
    assert.deepEqual(spec, { template: {} });
  });

  it('accepts each probe method alone', () => {
    for (const method of [
      'httpGet: {port: 8080}',
      'tcpSocket: {port: 8080}',
      'exec: {command: [/bin/true]}',
      'grpc: {port: 8080}',
    ]) {
      assert.deepEqual(decode(`  template: {}\n  probe:\n    ${method}\n`).lines, [], method);
    }
  });

  it('rejects two probe methods structurally, before semantic checks', () => {
    const { lines } = decode('  template: {}\n  probe:\n    httpGet: {port: 0}\n    grpc: {port: 9090}\n');
    assert.deepEqual(lines, [
      'error: wg.yaml:9:5 spec.probe.grpc: only one of httpGet, tcpSocket, exec, grpc may be set (found httpGet and grpc)',
    ]);
  });

  it('accepts zero probe timings (Kubernetes defaults apply)', () => {
    const timings =
      'initialDelaySeconds: 0, timeoutSeconds: 0, periodSeconds: 0, successThreshold: 0, failureThreshold: 0';
    assert.deepEqual(decode(`  template: {}\n  probe: {${timings}, tcpSocket: {port: 22}}\n`).lines, []);
  });
});
