import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeMessage, encodeMessage } from '../../../src/lib/xds/protos.ts';
import {
  fromProtoDuration,
  fromProtoStruct,
  toProtoDuration,
  toProtoStruct,
} from '../../../src/lib/xds/well-known.ts';

test('durations: milliseconds <-> {seconds, nanos}', () => {
  assert.deepEqual(toProtoDuration(1500), { seconds: 1, nanos: 500_000_000 });
  assert.deepEqual(toProtoDuration(0.001), { seconds: 0, nanos: 1000 });
  assert.deepEqual(toProtoDuration(-1500), { seconds: -1, nanos: -500_000_000 });
  assert.equal(fromProtoDuration({ seconds: '2', nanos: 250_000_000 }), 2250);
  assert.equal(fromProtoDuration(null), undefined);
});

test('Struct round trip through the wire keeps JSON values', () => {
  const json = { a: 'x', n: 2, b: false, z: null, o: { p: [1, 'two', { q: true }] } };
  const bytes = encodeMessage('google.protobuf.Struct', toProtoStruct(json));
  const decoded = decodeMessage<{ fields: Record<string, unknown> }>('google.protobuf.Struct', bytes);
  assert.deepEqual(fromProtoStruct(decoded), json);
  assert.deepEqual(fromProtoStruct(null), {});
});
