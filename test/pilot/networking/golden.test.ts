/**
 * THE golden harness (CODE-STYLE §C.1): every directory under testdata/ is a case —
 *
 *   input.yaml     Istio resources, plus `v1 Service` / `v1 Pod` documents for the registry
 *   proxy.yaml     the Envoy node: id, cluster, locality, metadata (NAMESPACE, LABELS, ...)
 *   mesh.yaml      optional MeshConfig (Istio's defaults otherwise)
 *   registry.yaml  optional extra `v1 Service` / `v1 Pod` documents
 *   cds.json, eds.json, lds.json, rds.json   expected outputs; each one present is checked
 *
 * Outputs come from the registered generators (defaultGenerators()) for a wildcard
 * subscription, printed as canonical JSON (resources sorted by name, keys sorted, Any
 * expanded, proto3-JSON durations). `MIZZEN_REFRESH_GOLDEN=1` rewrites them;
 * `MIZZEN_GOLDEN_CASES=a,b` limits a run (and a refresh) to those cases. A mismatch prints a
 * unified diff and the refresh command.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import {
  CLUSTER_TYPE_URL,
  ENDPOINT_TYPE_URL,
  LISTENER_TYPE_URL,
  ROUTE_TYPE_URL,
} from '../../../src/lib/xds/type-urls.ts';
import type { XdsResource } from '../../../src/pilot/xds/generator-registry.ts';
import { assertNoOpenHandles, FakeMizzend, type ProxySpec } from '../../support/fake-mizzend.ts';

// grpc-js-xds' own resource validation (what a proxyless client runs on every response) is an
// independent check: every EDS output must pass it, and CDS output for proxyless clients too.
const require = createRequire(import.meta.url);
type GrpcResourceType = {
  decode(ctx: unknown, any: { type_url: string; value: Uint8Array }): { name: string; error?: string };
};
const GRPC_TYPES: ReadonlyMap<string, GrpcResourceType> = new Map([
  [
    CLUSTER_TYPE_URL,
    require('@grpc/grpc-js-xds/build/src/xds-resource-type/cluster-resource-type.js').ClusterResourceType.get(),
  ],
  [
    ENDPOINT_TYPE_URL,
    require('@grpc/grpc-js-xds/build/src/xds-resource-type/endpoint-resource-type.js').EndpointResourceType.get(),
  ],
]);
const GRPC_CONTEXT = { server: { serverUri: 'localhost:15010' }, bootstrap: { certificateProviders: {} } };

function grpcRejections(typeUrl: string, resources: readonly XdsResource[], proxyless: boolean): string[] {
  const type = GRPC_TYPES.get(typeUrl);
  if (!type) return [];
  return (
    resources
      .map((r) =>
        type.decode(GRPC_CONTEXT, { type_url: r.resource.type_url, value: Buffer.from(r.resource.value) }),
      )
      .filter((d) => d.error)
      // Envoy-style proxies may get unix socket endpoints, which gRPC clients are never sent.
      .filter((d) => proxyless || !d.error?.includes('socket_address not set'))
      .map((d) => `${d.name}: ${d.error}`)
  );
}

const TESTDATA = join(import.meta.dirname, 'testdata');
const REFRESH = process.env.MIZZEN_REFRESH_GOLDEN === '1';
const OUTPUTS: readonly [file: string, typeUrl: string][] = [
  ['cds.json', CLUSTER_TYPE_URL],
  ['eds.json', ENDPOINT_TYPE_URL],
  ['lds.json', LISTENER_TYPE_URL],
  ['rds.json', ROUTE_TYPE_URL],
];

function read(dir: string, name: string): string | undefined {
  const p = join(dir, name);
  return existsSync(p) ? readFileSync(p, 'utf8') : undefined;
}

const only = new Set((process.env.MIZZEN_GOLDEN_CASES ?? '').split(',').filter(Boolean));
const cases = readdirSync(TESTDATA)
  .filter((d) => statSync(join(TESTDATA, d)).isDirectory())
  .filter((d) => only.size === 0 || only.has(d))
  .sort();

test('the golden testdata has cases', () => {
  assert.ok(cases.length > 0, `no case directories under ${TESTDATA}`);
});

for (const name of cases) {
  const dir = join(TESTDATA, name);
  test(`golden ${name}`, async (t) => {
    const input = read(dir, 'input.yaml');
    const proxyText = read(dir, 'proxy.yaml');
    assert.ok(input !== undefined, `${name}: input.yaml is missing`);
    assert.ok(proxyText !== undefined, `${name}: proxy.yaml is missing`);
    const outputs = OUTPUTS.filter(([file]) => existsSync(join(dir, file)));
    assert.ok(
      outputs.length > 0,
      `${name}: no output file (cds.json, eds.json, lds.json or rds.json) to compare`,
    );
    const mesh = read(dir, 'mesh.yaml');
    const registryYaml = read(dir, 'registry.yaml');
    const cp = await FakeMizzend.start({
      configYaml: input,
      file: `${name}/input.yaml`,
      ...(registryYaml !== undefined ? { registryYaml } : {}),
      ...(mesh !== undefined ? { mesh } : {}),
    });
    try {
      const proxy = cp.proxy(parse(proxyText) as ProxySpec);
      for (const [file, typeUrl] of outputs) {
        if (!cp.generators.get(typeUrl, proxy.metadata.generator)) {
          t.skip(`${file}: no generator registered for ${typeUrl} yet`);
          continue;
        }
        const resources = cp.generate(typeUrl, proxy);
        if (typeUrl === ENDPOINT_TYPE_URL || proxy.metadata.generator === 'grpc') {
          const proxyless = proxy.metadata.generator === 'grpc';
          assert.deepEqual(
            grpcRejections(typeUrl, resources, proxyless),
            [],
            `${name}/${file}: grpc-js-xds rejects resources`,
          );
        }
        const actual = FakeMizzend.canonical(typeUrl, resources);
        const path = join(dir, file);
        if (REFRESH) {
          writeFileSync(path, actual);
          continue;
        }
        const expected = readFileSync(path, 'utf8');
        if (actual !== expected) {
          assert.fail(
            `${name}/${file} differs from the generated output:\n${unifiedDiff(expected, actual, `${name}/${file}`, 'generated')}\n` +
              `If the change is intended, regenerate with: MIZZEN_REFRESH_GOLDEN=1 MIZZEN_GOLDEN_CASES=${name} node --test ${join('test', 'pilot', 'networking', 'golden.test.ts')}`,
          );
        }
      }
    } finally {
      await cp.close();
    }
  });
}

test('leaves no open handles', () => assertNoOpenHandles());

// ---- unified diff (LCS over lines) for mismatch messages ----

type Op = { kind: ' ' | '-' | '+'; line: string; a: number; b: number };

export function unifiedDiff(
  expected: string,
  actual: string,
  aName = 'expected',
  bName = 'actual',
  context = 3,
): string {
  const a = expected.split('\n');
  const b = actual.split('\n');
  // Trim the common head and tail so the LCS table stays small for big files.
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (
    tail < a.length - head &&
    tail < b.length - head &&
    a[a.length - 1 - tail] === b[b.length - 1 - tail]
  )
    tail++;
  const am = a.slice(head, a.length - tail);
  const bm = b.slice(head, b.length - tail);
  const n = am.length;
  const m = bm.length;
  const lcs: Uint32Array[] = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i][j] = am[i] === bm[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  const ops: Op[] = [];
  for (let i = 0; i < head; i++) ops.push({ kind: ' ', line: a[i], a: i, b: i });
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && am[i] === bm[j]) {
      ops.push({ kind: ' ', line: am[i], a: head + i, b: head + j });
      i++;
      j++;
    } else if (i < n && (j === m || lcs[i + 1][j] >= lcs[i][j + 1])) {
      ops.push({ kind: '-', line: am[i], a: head + i, b: head + j });
      i++;
    } else {
      ops.push({ kind: '+', line: bm[j], a: head + i, b: head + j });
      j++;
    }
  }
  for (let k = 0; k < tail; k++) {
    ops.push({ kind: ' ', line: a[a.length - tail + k], a: a.length - tail + k, b: b.length - tail + k });
  }
  const out = [`--- ${aName}`, `+++ ${bName}`];
  let k = 0;
  while (k < ops.length) {
    if (ops[k].kind === ' ') {
      k++;
      continue;
    }
    const start = Math.max(0, k - context);
    let end = k;
    // Extend the hunk while changes are within 2*context lines of each other.
    while (end < ops.length) {
      if (ops[end].kind !== ' ') {
        end++;
        continue;
      }
      let run = end;
      while (run < ops.length && ops[run].kind === ' ') run++;
      if (run < ops.length && run - end <= 2 * context) end = run;
      else {
        end = Math.min(ops.length, end + context);
        break;
      }
    }
    const hunk = ops.slice(start, end);
    const aStart = hunk.find((o) => o.kind !== '+')?.a ?? hunk[0].a;
    const bStart = hunk.find((o) => o.kind !== '-')?.b ?? hunk[0].b;
    const aLen = hunk.filter((o) => o.kind !== '+').length;
    const bLen = hunk.filter((o) => o.kind !== '-').length;
    out.push(`@@ -${aStart + 1},${aLen} +${bStart + 1},${bLen} @@`);
    for (const o of hunk) out.push(`${o.kind}${o.line}`);
    k = end;
  }
  return out.join('\n');
}
