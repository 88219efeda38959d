/**
 * The metadata-exchange codec: a protobuf Struct that protobufjs (the reference encoder here)
 * reads back identically and whose protobufjs encoding we read; Istio's label defaults; and
 * untrusted input — oversized, not base64, truncated, too deep, random bytes — giving an unknown
 * peer, never an exception.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { messageType } from '../../../src/lib/xds/protos.ts';
import { fromProtoStruct, toProtoStruct } from '../../../src/lib/xds/well-known.ts';
import {
  decodePeerHeader,
  decodeStruct,
  encodePeerHeader,
  encodeStruct,
  exchangeSubset,
  MAX_HEADER_BYTES,
  peerFromMetadata,
  UNKNOWN_PEER,
} from '../../../src/proxy/telemetry/peer-metadata.ts';
import { seeded } from '../support/harness.ts';
import { nodeMetadata } from './support.ts';

const SAMPLE = {
  NAME: 'reviews-v1-abc',
  NAMESPACE: 'default',
  LABELS: { app: 'reviews', version: 'v1' },
  APP_CONTAINERS: 'reviews',
  NUMBER: 3.25,
  FLAG: true,
  NOTHING: null,
  LIST: ['a', 1, false, { x: 'y' }],
  NESTED: { deeper: { deepest: 'ok' } },
  UNICODE: 'grüße ✓',
};

test('our Struct encoding is what protobufjs decodes, and protobufjs encoding is what we decode', () => {
  const Struct = messageType('google.protobuf.Struct');
  const ours = encodeStruct(SAMPLE);
  const viaPbjs = fromProtoStruct(Struct.toObject(Struct.decode(ours)) as { fields?: unknown });
  assert.deepEqual(viaPbjs, SAMPLE);
  const theirs = Buffer.from(Struct.encode(Struct.fromObject(toProtoStruct(SAMPLE))).finish());
  assert.deepEqual(decodeStruct(theirs), SAMPLE);
});

test('the exchange sends the Istio subset: no IPs, no proxy config, only telemetry labels', () => {
  const md = {
    ...nodeMetadata('reviews-v1', 'reviews', 'v1'),
    PROXY_CONFIG: { a: 1 },
    ISTIO_VERSION: '1.24',
  };
  const sub = exchangeSubset(md);
  assert.deepEqual(Object.keys(sub).sort(), [
    'CLUSTER_ID',
    'LABELS',
    'MESH_ID',
    'NAME',
    'NAMESPACE',
    'SERVICE_ACCOUNT',
    'WORKLOAD_NAME',
  ]);
  assert.deepEqual(sub.LABELS, { app: 'reviews', version: 'v1' });
  const peer = decodePeerHeader(encodePeerHeader(md), 'sidecar~1.2.3.4~x.default~default.svc.cluster.local');
  assert.equal(peer?.workload, 'reviews-v1');
  assert.equal(peer?.app, 'reviews');
  assert.equal(peer?.version, 'v1');
  assert.equal(peer?.namespace, 'default');
  assert.equal(peer?.cluster, 'Kubernetes');
  assert.equal(peer?.id, 'sidecar~1.2.3.4~x.default~default.svc.cluster.local');
});

test("Istio's defaults: unknown everywhere, canonical revision latest; canonical labels win", () => {
  assert.equal(UNKNOWN_PEER.workload, 'unknown');
  assert.equal(UNKNOWN_PEER.app, 'unknown');
  assert.equal(UNKNOWN_PEER.canonicalService, 'unknown');
  assert.equal(UNKNOWN_PEER.canonicalRevision, 'latest');
  const p = peerFromMetadata(
    {
      WORKLOAD_NAME: 'w',
      LABELS: {
        'app.kubernetes.io/name': 'kname',
        'app.kubernetes.io/version': 'kver',
        'service.istio.io/canonical-name': 'cname',
        'service.istio.io/canonical-revision': 'crev',
      },
    },
    '',
  );
  assert.deepEqual(
    [p.app, p.version, p.canonicalService, p.canonicalRevision],
    ['kname', 'kver', 'cname', 'crev'],
  );
  const w = peerFromMetadata({ WORKLOAD_NAME: 'only-workload', LABELS: 'not-an-object' }, '');
  assert.equal(w.canonicalService, 'only-workload');
  assert.equal(w.app, 'unknown');
});

test('untrusted headers: absent, oversized, not base64, malformed or too deep → unknown, no throw', () => {
  assert.equal(decodePeerHeader(undefined, undefined), undefined);
  assert.equal(decodePeerHeader('', 'id'), undefined);
  assert.equal(decodePeerHeader('A'.repeat(MAX_HEADER_BYTES + 4), 'id'), undefined);
  assert.equal(decodePeerHeader('not base64 at all!', 'id'), undefined);
  // A length prefix pointing past the end.
  assert.equal(decodePeerHeader(Buffer.from([0x0a, 0x7f, 0x01]).toString('base64'), 'id'), undefined);
  // Wire type 7 does not exist.
  assert.equal(decodePeerHeader(Buffer.from([0x0f]).toString('base64'), 'id'), undefined);
  // 40 levels of nested structs.
  let deep: Record<string, unknown> = { leaf: 'x' };
  for (let i = 0; i < 40; i++) deep = { d: deep };
  assert.equal(decodePeerHeader(encodeStruct(deep as never).toString('base64'), 'id'), undefined);
  // __proto__ keys do not reach the prototype.
  const proto = encodeStruct(JSON.parse('{"__proto__": {"WORKLOAD_NAME": "evil"}, "NAMESPACE": "ns"}'));
  const peer = decodePeerHeader(proto.toString('base64'), 'id');
  assert.equal(peer?.workload, 'unknown');
  assert.equal(peer?.namespace, 'ns');
});

test('fuzz: random and mutated bytes never throw', () => {
  const rnd = seeded(42);
  const valid = encodeStruct(SAMPLE);
  let decoded = 0;
  for (let i = 0; i < 3000; i++) {
    let bytes: Buffer;
    if (i % 2 === 0) {
      bytes = Buffer.alloc(Math.floor(rnd() * 64));
      for (let j = 0; j < bytes.length; j++) bytes[j] = Math.floor(rnd() * 256);
    } else {
      bytes = Buffer.from(valid);
      const flips = 1 + Math.floor(rnd() * 4);
      for (let j = 0; j < flips; j++) bytes[Math.floor(rnd() * bytes.length)] = Math.floor(rnd() * 256);
      if (rnd() < 0.3) bytes = bytes.subarray(0, Math.floor(rnd() * bytes.length));
    }
    const peer = decodePeerHeader(bytes.toString('base64'), `fuzz-${i}`);
    if (peer !== undefined) {
      decoded++;
      assert.equal(typeof peer.workload, 'string');
      assert.ok(peer.workload.length <= 256);
    }
  }
  assert.ok(decoded > 0, 'some mutations still decode');
});
