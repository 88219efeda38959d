import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeText } from '../../src/api/decode.ts';
import { formatIssue } from '../../src/api/yaml-document.ts';

const decode = (text: string) => decodeText(text, 'x.yaml', { defaultNamespace: 'default' });
const lines = (text: string) => decode(text).issues.map((i) => `${i.severity} ${formatIssue(i)}`);

describe('decodeText', () => {
  it('gives objects without a namespace the default one, and keeps the source position', () => {
    const { documents } = decode(
      '# c\napiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: gw}\nspec:\n  selector: {istio: ingressgateway}\n  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]\n',
    );
    const r = documents[0].resource;
    assert.ok(r);
    assert.equal(r.meta.namespace, 'default');
    assert.deepEqual(r.meta.source, { file: 'x.yaml', line: 2, column: 1 });
    assert.equal(r.version, 'v1');
  });

  it('skips an Istio kind Mizzen does not implement with a warning that says so', () => {
    const text =
      'apiVersion: networking.istio.io/v1alpha3\nkind: EnvoyFilter\nmetadata: {name: lua}\nspec: {}\n';
    assert.deepEqual(lines(text), [
      'warning x.yaml:2:1 kind: EnvoyFilter (networking.istio.io) is not supported by Mizzen and has no effect: it patches Envoy configuration, and mizzen-proxy is not Envoy',
    ]);
    assert.equal(decode(text).documents[0].skipped?.kind, 'EnvoyFilter');
  });

  it('rejects a misspelt Istio kind, and a version the kind is not served at', () => {
    assert.deepEqual(
      lines('apiVersion: networking.istio.io/v1\nkind: VirtualServce\nmetadata: {name: a}\n'),
      ['error x.yaml:2:1 kind: unknown Istio kind "networking.istio.io/v1/VirtualServce"'],
    );
    assert.deepEqual(
      lines('apiVersion: security.istio.io/v1alpha3\nkind: PeerAuthentication\nmetadata: {name: a}\n'),
      [
        'error x.yaml:1:1 apiVersion: PeerAuthentication is not served at "security.istio.io/v1alpha3"; use security.istio.io/v1, security.istio.io/v1beta1',
      ],
    );
  });

  it('checks the envelope: metadata and its name are required, names and namespaces are DNS names', () => {
    assert.deepEqual(lines('apiVersion: networking.istio.io/v1\nkind: Gateway\n'), [
      'error x.yaml:1:1 metadata: metadata is required',
    ]);
    assert.deepEqual(
      lines(
        'apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata:\n  name: Bad_Name\n  namespace: Prod\n',
      ),
      [
        "error x.yaml:4:3 metadata.name: \"Bad_Name\" is not a valid name: lower-case letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters",
        'error x.yaml:5:3 metadata.namespace: "Prod" is not a valid namespace: lower-case letters, digits and \'-\', at most 63 characters',
      ],
    );
    assert.deepEqual(
      lines('apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: a}\nspecs: {}\n'),
      ['error x.yaml:4:1 specs: unknown field "specs"; an object has apiVersion, kind, metadata and spec'],
    );
  });

  it('a bad document does not affect its siblings', () => {
    const text =
      'apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: Bad}\n---\n' +
      'apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: good}\nspec: {servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]}\n';
    const { documents } = decode(text);
    assert.equal(documents[0].resource, undefined);
    assert.equal(documents[1].resource?.meta.name, 'good');
  });
});

describe('protobuf field names', () => {
  it('reads a snake_case name as its camelCase field, with a warning at the key as written', () => {
    const text = [
      'apiVersion: networking.istio.io/v1',
      'kind: VirtualService',
      'metadata: {name: a}',
      'spec:',
      '  hosts: [reviews]',
      '  export_to: ["."]',
      '  http:',
      '  - route: [{destination: {host: reviews}}]',
      '    cors_policy: {allow_origins: [{exact: 5}]}',
    ].join('\n');
    const decoded = decode(text);
    const warning = (name: string, camel: string) =>
      `"${name}" is the protobuf name of "${camel}": Istio reads it from files, but the Kubernetes API server (Istio's CRD schema) only accepts "${camel}"`;
    assert.deepEqual(lines(text), [
      `warning x.yaml:6:3 spec.export_to: ${warning('export_to', 'exportTo')}`,
      `warning x.yaml:9:5 spec.http[0].cors_policy: ${warning('cors_policy', 'corsPolicy')}`,
      `warning x.yaml:9:19 spec.http[0].cors_policy.allow_origins: ${warning('allow_origins', 'allowOrigins')}`,
      // An error below a renamed field names the path as written.
      'error x.yaml:9:36 spec.http[0].cors_policy.allow_origins[0].exact: expected a string, got an integer (5)',
    ]);
    assert.equal(decoded.documents[0].resource, undefined);
    const ok = decode(text.replace('exact: 5', 'exact: "https://a.example.com"')).documents[0].resource;
    assert.ok(ok);
    const spec = ok.spec as { exportTo?: string[]; http?: { corsPolicy?: { allowOrigins?: unknown[] } }[] };
    assert.deepEqual(spec.exportTo, ['.']);
    assert.deepEqual(spec.http?.[0].corsPolicy?.allowOrigins, [{ exact: 'https://a.example.com' }]);
  });

  it('rejects both spellings of one field', () => {
    const text =
      'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: a}\n' +
      'spec: {hosts: [r], exportTo: ["*"], export_to: ["."], http: [{route: [{destination: {host: r}}]}]}\n';
    const errors = decode(text).issues.filter((i) => i.severity === 'error');
    assert.equal(errors.length, 1);
    assert.match(formatIssue(errors[0]), /^x\.yaml:4:\d+ spec\.export_to: /);
  });
});
