/**
 * Field coverage for every kind in the kinds table, one subtest per kind and question, so a
 * failing kind reads as a checklist:
 * 1. every field path Istio documents (the CRD-generated types of the newest version) exists
 *    in our schema, and our schema has no field Istio does not document;
 * 2. the kind's valid fixtures together set every field path of our schema.
 * Maps and google.protobuf.Struct values are leaves (`headers{}`).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { INVALID } from '../../src/api/schema/dsl.ts';
import { schemaFieldPaths, setFieldPaths } from '../../src/api/schema/introspect.ts';
import { KINDS } from '../../src/api/schema/kinds.ts';
import { Issues } from '../../src/api/validation.ts';
import { parseYamlDocuments } from '../../src/api/yaml-document.ts';
import { decodeFixture, fixtureFiles, kebabKind } from '../support/fixtures.ts';
import { istioSpecFieldPaths, newestTypesFile } from '../support/istio-crd-fields.ts';

const typesFiles = KINDS.map((def) => ({ def, file: newestTypesFile(def.group, def.versions, def.kind) }));
const istioPaths = istioSpecFieldPaths(
  typesFiles.flatMap(({ def, file }) => (file ? [{ file, kind: def.kind }] : [])),
);

function listing(title: string, paths: readonly string[]): string {
  return `${title} (${paths.length}):\n  ${paths.join('\n  ')}`;
}

/**
 * Fields Istio documents but its webhook always rejects ("not supported yet"), so no valid
 * fixture can set them; an invalid fixture of the kind must set each instead.
 */
const TARGET_NAMESPACES = ['targetRef.namespace', 'targetRefs[].namespace'];
const ALWAYS_REJECTED: Readonly<Record<string, readonly string[]>> = {
  VirtualService: ['http[].fault.abort.http2Error', 'http[].fault.delay.exponentialDelay'],
  // Istio refuses any namespace in a policy's target reference (cross-namespace is unsupported).
  AuthorizationPolicy: TARGET_NAMESPACES,
  RequestAuthentication: TARGET_NAMESPACES,
  Telemetry: TARGET_NAMESPACES,
  // Sidecar ingress reuses Gateway's ServerTLSSettings, but Istio's webhook refuses these there.
  Sidecar: [
    'ingress[].tls.credentialNames[]',
    'ingress[].tls.subjectAltNames[]',
    'ingress[].tls.tlsCertificates[].caCertificates',
    'ingress[].tls.tlsCertificates[].privateKey',
    'ingress[].tls.tlsCertificates[].serverCertificate',
  ],
};

/**
 * Fields newer Istio releases added after the CRDs @kubernetes-models/istio was generated from,
 * each with the Istio source that shows it: matched against the end of a field path.
 */
const NEWER_THAN_MODELS: Readonly<Record<string, readonly RegExp[]>> = {
  // istio/istio pkg/config/validation/testdata/crds/destinationrule-valid.yaml
  DestinationRule: [/connectionPool\.http\.http2KeepAlive\.(interval|timeout)$/],
  // the same ConnectionPoolSettings message
  Sidecar: [/onnectionPool\.http\.http2KeepAlive\.(interval|timeout)$/],
};

/** Field paths the structurally valid documents of a kind's invalid fixtures set. */
function invalidFixturePaths(def: (typeof KINDS)[number]): Set<string> {
  const set = new Set<string>();
  for (const f of fixtureFiles(def.kind, false)) {
    for (const doc of parseYamlDocuments(f.text, f.name).documents) {
      const obj = doc.value as { kind?: string; spec?: unknown };
      if (obj?.kind !== def.kind) continue;
      const spec = def.spec.parse(obj.spec ?? {}, ['spec'], new Issues());
      if (spec !== INVALID) for (const p of setFieldPaths(def.spec, spec)) set.add(p);
    }
  }
  return set;
}

for (const { def, file } of typesFiles) {
  describe(`${def.kind} field coverage`, () => {
    const ours = schemaFieldPaths(def.spec);

    it('has Istio CRD types to compare with', () => {
      assert.ok(
        file,
        `no ${def.kind}.d.ts for ${def.group} ${def.versions.join('/')} in @kubernetes-models/istio`,
      );
    });

    it('our schema has every field Istio documents', () => {
      const theirs = istioPaths.get(file ?? '') ?? [];
      const missing = theirs.filter((p) => !ours.includes(p));
      assert.ok(
        missing.length === 0,
        listing(`${def.kind}: fields Istio documents that our schema lacks`, missing),
      );
    });

    it('our schema has no field Istio does not document', () => {
      const theirs = new Set(istioPaths.get(file ?? '') ?? []);
      const newer = NEWER_THAN_MODELS[def.kind] ?? [];
      const extra = ours.filter((p) => !theirs.has(p) && !newer.some((re) => re.test(p)));
      assert.ok(
        extra.length === 0,
        listing(`${def.kind}: fields in our schema that Istio does not document`, extra),
      );
    });

    it(`valid fixtures (test/api/testdata/${kebabKind(def.kind)}/valid) set every field`, () => {
      const set = new Set<string>();
      for (const f of fixtureFiles(def.kind, true)) {
        for (const d of decodeFixture(f).documents) {
          if (d.resource?.kind === def.kind)
            for (const p of setFieldPaths(def.spec, d.resource.spec)) set.add(p);
        }
      }
      const rejected = new Set(ALWAYS_REJECTED[def.kind] ?? []);
      const unset = ours.filter((p) => !set.has(p) && !rejected.has(p));
      assert.ok(unset.length === 0, listing(`${def.kind}: fields no valid fixture sets`, unset));
    });

    if (ALWAYS_REJECTED[def.kind]) {
      it(`invalid fixtures set the fields Istio always rejects`, () => {
        const set = invalidFixturePaths(def);
        const unset = (ALWAYS_REJECTED[def.kind] ?? []).filter((p) => !set.has(p));
        assert.ok(
          unset.length === 0,
          listing(`${def.kind}: always-rejected fields no invalid fixture sets`, unset),
        );
      });
    }
  });
}
