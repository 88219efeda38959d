/**
 * MeshConfig: fixtures in test/api/mesh/testdata (same `# expect:` convention as the kinds),
 * field coverage of the valid fixtures, Istio's defaults and merge rules, the three file shapes
 * (plain, ConfigMap, IstioOperator) and file loading.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  DEFAULT_MESH_CONFIG,
  extensionProviderByName,
  loadMeshConfig,
  type MeshConfigInput,
  mergeMeshConfig,
  meshConfigOrThrow,
  meshConfigSchema,
  parseMeshConfig,
  validateMeshConfig,
} from '../../../src/api/mesh/mesh-config.ts';
import { UnsupportedSchema } from '../../../src/api/mesh/unsupported.ts';
import { ObjectSchema, type Schema } from '../../../src/api/schema/dsl.ts';
import { schemaFieldPaths, setFieldPaths, unwrapSchema } from '../../../src/api/schema/introspect.ts';
import { formatPath, Issues } from '../../../src/api/validation.ts';
import { formatIssue } from '../../../src/api/yaml-document.ts';
import { MizzenError } from '../../../src/lib/errors.ts';
import { parseExpectations } from '../../support/fixtures.ts';

const BASELINE = process.getActiveResourcesInfo().sort();
const TESTDATA = join(import.meta.dirname, 'testdata');

interface MeshFixture {
  readonly name: string;
  readonly text: string;
  readonly errors: readonly string[];
  readonly warnings: readonly string[];
}

function fixtures(kind: 'valid' | 'invalid'): MeshFixture[] {
  const dir = join(TESTDATA, kind);
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((name) => {
      const text = readFileSync(join(dir, name), 'utf8');
      return { name, text, ...parseExpectations(text) };
    });
}

function produced(f: MeshFixture) {
  const result = parseMeshConfig(f.text, f.name);
  const lines = (severity: string) =>
    result.issues
      .filter((i) => i.severity === severity)
      .map(formatIssue)
      .sort();
  return { result, errors: lines('error'), warnings: lines('warning') };
}

function expectLines(f: MeshFixture, errors: string[], warnings: string[]): void {
  const actual = [...errors.map((e) => `# expect: ${e}`), ...warnings.map((w) => `# expect-warning: ${w}`)];
  const message = `${f.name}: produced lines differ; actual:\n${actual.join('\n')}`;
  assert.deepEqual(errors, [...f.errors].sort(), message);
  assert.deepEqual(warnings, [...f.warnings].sort(), message);
}

describe('mesh config fixtures', () => {
  for (const f of fixtures('valid')) {
    it(`valid/${f.name} loads with exactly its declared warnings`, () => {
      assert.equal(f.errors.length, 0, 'a valid fixture cannot expect errors');
      const { result, errors, warnings } = produced(f);
      expectLines(f, errors, warnings);
      assert.ok(result.config, 'a valid mesh config yields a config');
    });
  }
  for (const f of fixtures('invalid')) {
    it(`invalid/${f.name} produces exactly its declared errors`, () => {
      assert.ok(f.errors.length > 0, 'an invalid fixture must declare its errors with # expect:');
      const { result, errors, warnings } = produced(f);
      expectLines(f, errors, warnings);
      assert.equal(result.config, undefined, 'an invalid mesh config yields no config');
    });
  }
});

/** Field paths of fields Mizzen refuses: no valid fixture can set them. */
function unsupportedPaths(schema: Schema<unknown>): Set<string> {
  const out = new Set<string>();
  const walk = (s: Schema<unknown>, path: string): void => {
    const u = unwrapSchema(s) as Schema<unknown> & { item?: Schema<unknown> };
    if (u instanceof UnsupportedSchema) out.add(path);
    else if (u instanceof ObjectSchema) {
      for (const [k, f] of Object.entries(u.fields as Record<string, Schema<unknown>>)) {
        walk(f, path === '' ? k : `${path}.${k}`);
      }
    } else if (u.item) walk(u.item, `${path}[]`);
  };
  walk(schema, '');
  return out;
}

/** Fields Istio has and always rejects (so only invalid fixtures set them). */
const ALWAYS_REJECTED = ['meshMTLS.ecdhCurves[]'];

describe('mesh config field coverage', () => {
  it('the valid fixtures together set every field Mizzen supports', () => {
    const refused = unsupportedPaths(meshConfigSchema);
    const wanted = schemaFieldPaths(meshConfigSchema).filter(
      (p) => !refused.has(p) && !ALWAYS_REJECTED.includes(p),
    );
    const set = new Set<string>();
    for (const f of fixtures('valid')) {
      const input = parseMeshConfig(f.text, f.name).input;
      if (input) for (const p of setFieldPaths(meshConfigSchema, input)) set.add(p);
    }
    const unset = wanted.filter((p) => !set.has(p));
    assert.deepEqual(unset, [], `fields no valid mesh fixture sets:\n  ${unset.join('\n  ')}`);
  });

  it('every refused field is refused by name, with a reason', () => {
    const refused = [...unsupportedPaths(meshConfigSchema)];
    assert.ok(refused.length > 30, 'the refused fields are declared');
    for (const path of refused) {
      // Build the smallest input that sets just this field: {a: {b: [{c: {}}]}}.
      const root: Record<string, unknown> = {};
      let node: Record<string, unknown> = root;
      const segments = path.split('.');
      segments.forEach((seg, i) => {
        const key = seg.replace('[]', '');
        const last = i === segments.length - 1;
        const child: Record<string, unknown> = key === 'extensionProviders' ? { name: 'p' } : {};
        node[key] = last ? {} : seg.endsWith('[]') ? [child] : child;
        node = child;
      });
      const issues = new Issues();
      meshConfigSchema.parse(root, [], issues);
      const field = segments[segments.length - 1];
      const hit = issues.errors.find((e) => formatPath(e.path).replace(/\[\d+\]/g, '[]') === path);
      assert.ok(
        hit,
        `${path}: no error at the field (got ${issues.errors.map((e) => e.message).join('; ')})`,
      );
      assert.match(
        hit.message,
        new RegExp(`^${field} (is not supported by Mizzen: .+|was removed from Istio \\(.+\\)); remove it$`),
      );
    }
  });
});

describe('defaults', () => {
  it('are valid and frozen', () => {
    const issues = new Issues();
    validateMeshConfig(DEFAULT_MESH_CONFIG, [], issues);
    assert.deepEqual(
      issues.list.map((i) => `${formatPath(i.path)}: ${i.message}`),
      [],
    );
    assert.ok(Object.isFrozen(DEFAULT_MESH_CONFIG));
    assert.ok(Object.isFrozen(DEFAULT_MESH_CONFIG.defaultConfig.tracing));
    assert.throws(() => {
      (DEFAULT_MESH_CONFIG.trustDomainAliases as string[]).push('x');
    }, TypeError);
  });

  it("are Istio's: root namespace, trust domain, auto mTLS, outbound policy, ports, drain times", () => {
    const m = DEFAULT_MESH_CONFIG;
    assert.equal(m.rootNamespace, 'istio-system');
    assert.equal(m.trustDomain, 'cluster.local');
    assert.equal(m.enableAutoMtls, true);
    assert.deepEqual(m.outboundTrafficPolicy, { mode: 'ALLOW_ANY' });
    assert.equal(m.accessLogEncoding, 'TEXT');
    assert.equal(m.accessLogFile, '');
    assert.equal(m.connectTimeout, '10s');
    assert.equal(m.proxyListenPort, 15001);
    assert.equal(m.proxyInboundListenPort, 15006);
    assert.deepEqual(m.defaultServiceExportTo, ['*']);
    assert.deepEqual(m.localityLbSetting, { enabled: true });
    assert.equal(m.defaultConfig.drainDuration, '45s');
    assert.equal(m.defaultConfig.terminationDrainDuration, '5s');
    assert.equal(m.defaultConfig.proxyAdminPort, 15000);
    assert.equal(m.defaultConfig.statusPort, 15020);
    assert.equal(m.defaultConfig.concurrency, 2);
    assert.equal(m.defaultConfig.discoveryAddress, 'mizzend.istio-system.svc:15012');
    assert.deepEqual(
      m.extensionProviders.map((p) => p.name),
      ['prometheus', 'envoy'],
    );
  });

  it('an empty file is the defaults', () => {
    const r = parseMeshConfig('# nothing\n', 'mesh.yaml');
    assert.equal(r.config, DEFAULT_MESH_CONFIG);
    assert.deepEqual(r.issues, []);
  });
});

describe('merge over the defaults (Istio ApplyMeshConfig)', () => {
  const merged = (user: MeshConfigInput) => mergeMeshConfig(user);

  it('a top-level field replaces the default, untouched ones keep it', () => {
    const m = merged({ trustDomain: 'example.org', defaultServiceExportTo: ['.'] });
    assert.equal(m.trustDomain, 'example.org');
    assert.deepEqual(m.defaultServiceExportTo, ['.']);
    assert.equal(m.rootNamespace, 'istio-system');
  });

  it('defaultConfig merges field by field, and proxyMetadata by key', () => {
    const base = mergeMeshConfig({ defaultConfig: { proxyMetadata: { A: '1', B: '2' } } });
    const m = mergeMeshConfig({ defaultConfig: { concurrency: 8, proxyMetadata: { B: '3', C: '4' } } }, base);
    assert.equal(m.defaultConfig.concurrency, 8);
    assert.equal(m.defaultConfig.drainDuration, '45s');
    assert.deepEqual(m.defaultConfig.proxyMetadata, { A: '1', B: '3', C: '4' });
  });

  it('tracing: {} replaces the default tracer (how Istio users turn it off)', () => {
    assert.deepEqual(merged({ defaultConfig: { tracing: {} } }).defaultConfig.tracing, {});
  });

  it('tracingServiceName replaces the default serviceCluster (one protobuf oneof)', () => {
    const pc = merged({ defaultConfig: { tracingServiceName: 'CANONICAL_NAME_ONLY' } }).defaultConfig;
    assert.equal(pc.tracingServiceName, 'CANONICAL_NAME_ONLY');
    assert.equal(pc.serviceCluster, undefined);
  });

  it('extensionProviders merge by name; trustDomainAliases are a sorted union', () => {
    const m = merged({
      extensionProviders: [
        { name: 'envoy', envoyFileAccessLog: { path: '/dev/stderr' } },
        { name: 'zipkin', zipkin: { service: 'zipkin.istio-system.svc.cluster.local', port: 9411 } },
      ],
      trustDomainAliases: ['b.example', 'a.example', 'b.example'],
    });
    assert.deepEqual(
      m.extensionProviders.map((p) => p.name),
      ['prometheus', 'envoy', 'zipkin'],
    );
    assert.equal(extensionProviderByName(m, 'envoy')?.envoyFileAccessLog?.path, '/dev/stderr');
    assert.equal(extensionProviderByName(m, 'nope'), undefined);
    assert.deepEqual(m.trustDomainAliases, ['a.example', 'b.example']);
  });

  it('an outboundTrafficPolicy without mode is REGISTRY_ONLY, the protobuf zero value', () => {
    assert.deepEqual(merged({ outboundTrafficPolicy: {} }).outboundTrafficPolicy, { mode: 'REGISTRY_ONLY' });
    assert.deepEqual(merged({}).outboundTrafficPolicy, { mode: 'ALLOW_ANY' });
  });

  it('parseMeshConfig returns the merged, frozen config and what the file set', () => {
    const r = parseMeshConfig('enableAutoMtls: false\ndefaultConfig:\n  concurrency: 4\n', 'mesh.yaml');
    assert.deepEqual(r.issues, []);
    assert.deepEqual(r.input, { enableAutoMtls: false, defaultConfig: { concurrency: 4 } });
    assert.equal(r.config?.enableAutoMtls, false);
    assert.equal(r.config?.defaultConfig.concurrency, 4);
    assert.equal(r.config?.defaultConfig.statusPort, 15020);
    assert.ok(Object.isFrozen(r.config?.defaultConfig));
  });
});

describe('file shapes', () => {
  const plain = 'rootNamespace: mizzen-system\n';

  it('a ConfigMap and an IstioOperator carry the same config as the plain file', () => {
    const configMap = `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: istio\ndata:\n  mesh: |\n    ${plain}`;
    const operator = `apiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\nspec:\n  meshConfig:\n    ${plain}`;
    const expected = parseMeshConfig(plain, 'a.yaml').config;
    assert.equal(expected?.rootNamespace, 'mizzen-system');
    assert.deepEqual(parseMeshConfig(configMap, 'b.yaml').config, expected);
    assert.deepEqual(parseMeshConfig(operator, 'c.yaml').config, expected);
  });

  it('JSON files are read too', () => {
    const r = parseMeshConfig(
      '{"trustDomain": "example.org", "defaultConfig": {"concurrency": 0}}',
      'mesh.json',
    );
    assert.equal(r.config?.trustDomain, 'example.org');
    assert.equal(r.config?.defaultConfig.concurrency, 0);
  });

  it('positions inside a ConfigMap literal block point into the file, with a |- block indicator', () => {
    const text = [
      'apiVersion: v1',
      'kind: ConfigMap',
      'metadata: {name: istio}',
      'data:',
      '  meshNetworks: "networks: {}"',
      '  mesh: |-',
      '      trustDomain: cluster.local',
      '      proxyListenPort: 0',
      '',
    ].join('\n');
    const lines = parseMeshConfig(text, 'cm.yaml').issues.map(formatIssue);
    assert.deepEqual(lines, [
      'cm.yaml:5:3 data.meshNetworks: data.meshNetworks is not read: Mizzen does not support multi-network meshes yet',
      'cm.yaml:8:7 proxyListenPort: 0 is not a valid port (1-65535)',
    ]);
  });
});

describe('loading files', () => {
  let dir: string | undefined;
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('loadMeshConfig reads and validates a file, naming it as given', async () => {
    dir = await mkdtemp(join(tmpdir(), 'mizzen-mesh-'));
    const file = join(dir, 'mesh');
    await writeFile(file, 'accessLogFile: /dev/stdout\nproxyListenPort: 0\n');
    const r = await loadMeshConfig(file);
    assert.deepEqual(r.issues.map(formatIssue), [
      `${file}:2:1 proxyListenPort: 0 is not a valid port (1-65535)`,
    ]);
    await writeFile(file, 'accessLogFile: /dev/stdout\n');
    const ok = await loadMeshConfig(file);
    assert.equal(meshConfigOrThrow(ok).accessLogFile, '/dev/stdout');
  });

  it('an unreadable file is a MizzenError with the CONFIG_UNREADABLE code', async () => {
    await assert.rejects(loadMeshConfig('/nonexistent/mizzen/mesh.yaml'), (err: unknown) => {
      assert.ok(err instanceof MizzenError);
      assert.equal(err.code, 'MZ_ERR_CONFIG_UNREADABLE');
      assert.match(err.message, /cannot read mesh config \/nonexistent\/mizzen\/mesh\.yaml/);
      return true;
    });
  });

  it('meshConfigOrThrow lists every error', () => {
    const r = parseMeshConfig('proxyListenPort: 0\nrootNamespace: A_B\n', 'm.yaml');
    assert.throws(
      () => meshConfigOrThrow(r),
      (err: unknown) =>
        err instanceof MizzenError &&
        err.code === 'MZ_ERR_CONFIG_INVALID' &&
        err.message.includes('m.yaml:1:1 proxyListenPort') &&
        err.message.includes('m.yaml:2:1 rootNamespace'),
    );
  });
});

it('leaves no handles open', async () => {
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(process.getActiveResourcesInfo().sort(), BASELINE);
});
