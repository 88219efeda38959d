/**
 * HeaderMap as the forwarding path uses it: a parsed head that no one mutated is re-emitted
 * byte for byte (names keep their case, values their spacing), removals drop exactly their
 * lines, added entries follow in lowercase, and pre-encoded fields (`addField`) behave like
 * ordinary added entries for lookups while their bytes are copied as encoded.
 */
import { type TestContext, test } from 'node:test';
import {
  classifyName,
  encodeField,
  H_HOST,
  H_OTHER,
  H_X_ENVOY_OTHER,
  H_X_ENVOY_PEER_METADATA,
  H_X_ENVOY_PEER_METADATA_ID,
  H_X_FORWARDED_PROTO,
  type HeaderMap,
  writeLatin1,
} from '../../../../src/proxy/network/http/headers.ts';
import { parseHead } from './h1-head.ts';

function encoded(h: HeaderMap): string {
  const out = Buffer.alloc(h.encodedLength());
  const end = h.encodeInto(out, 0);
  return out.toString('latin1', 0, end);
}

const FIELDS =
  'Host: a.example\r\nX-Mixed-Case:   spaced value\t\r\nAccept: */*\r\nx-long: ' +
  'v'.repeat(200) +
  '\r\nUser-Agent: t\r\n';

test('an unmutated head is forwarded byte for byte', (t: TestContext) => {
  const h = parseHead(`GET / HTTP/1.1\r\n${FIELDS}\r\n`);
  // The parser trims trailing whitespace from values it hands out, but the wire bytes stay.
  t.assert.equal(h.get('x-mixed-case'), 'spaced value');
  t.assert.equal(encoded(h), FIELDS);
  t.assert.equal(h.encodedLength(), FIELDS.length);
});

test('a removed header loses exactly its line; added ones follow in lowercase', (t: TestContext) => {
  const h = parseHead(`GET / HTTP/1.1\r\n${FIELDS}\r\n`);
  h.remove('accept');
  h.addKnown(H_X_FORWARDED_PROTO, 'http');
  h.add('x-added', 'é and a value longer than sixteen characters');
  const want =
    'Host: a.example\r\nX-Mixed-Case:   spaced value\t\r\nx-long: ' +
    'v'.repeat(200) +
    '\r\nUser-Agent: t\r\nx-forwarded-proto: http\r\nx-added: é and a value longer than sixteen characters\r\n';
  t.assert.equal(encoded(h), want);
  // Length is exact for latin1 values (é is one byte).
  t.assert.equal(h.encodedLength(), Buffer.byteLength(want, 'latin1'));
});

test('a header replaced by a filter is re-encoded; the others stay verbatim', (t: TestContext) => {
  const h = parseHead(`GET / HTTP/1.1\r\n${FIELDS}\r\n`);
  h.setKnown(H_HOST, 'b.example');
  const text = encoded(h);
  t.assert.ok(text.startsWith('X-Mixed-Case:   spaced value\t\r\nAccept: */*\r\n'), text);
  t.assert.ok(text.endsWith('User-Agent: t\r\nhost: b.example\r\n'), text);
  t.assert.equal(text.includes('a.example'), false);
});

test('pre-encoded fields: copied as encoded, visible to lookups, removable', (t: TestContext) => {
  const h = parseHead(`GET / HTTP/1.1\r\nHost: a\r\n\r\n`);
  const id = encodeField('x-envoy-peer-metadata-id', 'sidecar~10.0.0.1~p.ns~ns.svc.cluster.local');
  const value = encodeField('x-envoy-peer-metadata', 'Q2hBS0JrNUJUVVVTQlJvRGNHOWs=');
  t.assert.equal(id.id, H_X_ENVOY_PEER_METADATA_ID);
  t.assert.equal(value.id, H_X_ENVOY_PEER_METADATA);
  h.addField(id);
  h.addField(value);
  t.assert.equal(h.getKnown(H_X_ENVOY_PEER_METADATA), 'Q2hBS0JrNUJUVVVTQlJvRGNHOWs=');
  t.assert.equal(h.get('x-envoy-peer-metadata-id'), 'sidecar~10.0.0.1~p.ns~ns.svc.cluster.local');
  t.assert.equal(
    encoded(h),
    'Host: a\r\nx-envoy-peer-metadata-id: sidecar~10.0.0.1~p.ns~ns.svc.cluster.local\r\n' +
      'x-envoy-peer-metadata: Q2hBS0JrNUJUVVVTQlJvRGNHOWs=\r\n',
  );
  t.assert.deepEqual(
    h.entries().map(([n]) => n),
    ['host', 'x-envoy-peer-metadata-id', 'x-envoy-peer-metadata'],
  );
  // Removing the first added entry keeps the second's bytes paired with it.
  t.assert.equal(h.removeKnown(H_X_ENVOY_PEER_METADATA_ID), 1);
  t.assert.equal(encoded(h), 'Host: a\r\nx-envoy-peer-metadata: Q2hBS0JrNUJUVVVTQlJvRGNHOWs=\r\n');
  t.assert.equal(h.clone().get('x-envoy-peer-metadata'), 'Q2hBS0JrNUJUVVVTQlJvRGNHOWs=');
});

test('peer metadata headers are well-known x-envoy ids whatever their case', (t: TestContext) => {
  const name = (s: string) => classifyName(Buffer.from(s, 'latin1'), 0, s.length);
  t.assert.equal(name('X-Envoy-Peer-Metadata'), H_X_ENVOY_PEER_METADATA);
  t.assert.equal(name('x-envoy-peer-metadata-ID'), H_X_ENVOY_PEER_METADATA_ID);
  t.assert.equal(name('x-envoy-peer-metadata-idx'), H_X_ENVOY_OTHER);
  t.assert.equal(name('x-peer-metadata'), H_OTHER);
  const h = parseHead(`GET / HTTP/1.1\r\nHost: a\r\nX-Envoy-Peer-Metadata: v\r\n\r\n`);
  t.assert.equal(h.hasEnvoyHeaders(), true);
  t.assert.equal(h.getKnown(H_X_ENVOY_PEER_METADATA), 'v');
  t.assert.equal(h.remove('x-envoy-peer-metadata'), 1);
  t.assert.equal(encoded(h), 'Host: a\r\n');
});

test('writeLatin1 writes short and long strings alike, one byte per code unit', (t: TestContext) => {
  for (const s of ['', 'http', 'ñ', 'a value that is longer than sixteen', `${'é'.repeat(20)}x`]) {
    const out = Buffer.alloc(s.length + 4, 0x2e);
    const end = writeLatin1(out, s, 2);
    t.assert.equal(end, s.length + 2);
    t.assert.equal(out.toString('latin1'), `..${s}..`);
  }
});
