import assert from 'node:assert/strict';
import { test } from 'node:test';
import { packAny, typed } from '../../../src/lib/xds/any.ts';
import {
  canonicalResourcesJson,
  canonicalStringify,
  formatDuration,
  formatTimestamp,
  toProto3Json,
} from '../../../src/lib/xds/canonical-json.ts';
import {
  CLUSTER_TYPE_URL,
  ENDPOINT_TYPE_URL,
  HTTP_PROTOCOL_OPTIONS_TYPE_URL,
  ROUTE_TYPE_URL,
  TYPED_STRUCT_TYPE_URL,
} from '../../../src/lib/xds/type-urls.ts';
import { toProtoStruct } from '../../../src/lib/xds/well-known.ts';

test('proto3 JSON: durations, wrappers, enums, 64-bit strings, defaults omitted, Any expanded', () => {
  const json = toProto3Json(CLUSTER_TYPE_URL, {
    name: 'outbound|80||a.default.svc.cluster.local',
    type: 'EDS',
    lb_policy: 'ROUND_ROBIN', // the default enum value: omitted
    connect_timeout: { seconds: 10, nanos: 500_000_000 },
    per_connection_buffer_limit_bytes: { value: 0 }, // a set wrapper prints even 0
    ignore_health_on_host_removal: false, // a default scalar: omitted
    typed_extension_protocol_options: {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': typed(HTTP_PROTOCOL_OPTIONS_TYPE_URL, {
        explicit_http_config: { http2_protocol_options: {} },
        common_http_protocol_options: {
          idle_timeout: { seconds: 3600 },
          max_requests_per_connection: { value: 5 },
        },
      }),
    },
    metadata: {
      filter_metadata: { istio: toProtoStruct({ svc: 'a', n: 1.5, ok: true, none: null, l: ['x'] }) },
    },
    ring_hash_lb_config: { minimum_ring_size: { value: 1024 } },
  });
  assert.deepEqual(json, {
    name: 'outbound|80||a.default.svc.cluster.local',
    type: 'EDS',
    connect_timeout: '10.500s',
    per_connection_buffer_limit_bytes: 0,
    typed_extension_protocol_options: {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
        '@type': HTTP_PROTOCOL_OPTIONS_TYPE_URL,
        explicit_http_config: { http2_protocol_options: {} },
        common_http_protocol_options: { idle_timeout: '3600s', max_requests_per_connection: 5 },
      },
    },
    metadata: { filter_metadata: { istio: { svc: 'a', n: 1.5, ok: true, none: null, l: ['x'] } } },
    ring_hash_lb_config: { minimum_ring_size: '1024' },
  });
});

test('unknown fields, bad enum values and double-set oneofs are errors with field paths', () => {
  assert.throws(
    () =>
      toProto3Json(CLUSTER_TYPE_URL, {
        name: 'c',
        conect_timeout: { seconds: 1 },
        type: 'EDS',
        cluster_type: { name: 'x' },
      }),
    (err: Error) =>
      /conect_timeout: unknown field/.test(err.message) &&
      /cluster_type: "type" is also set/.test(err.message),
  );
});

test('an Any of a type that is not loaded cannot be expanded', () => {
  const any = { type_url: 'type.googleapis.com/nope.Nope', value: new Uint8Array() };
  assert.throws(() => toProto3Json(undefined, any), /unknown type/);
});

test('Any holding a well-known type puts its JSON under "value"', () => {
  const json = toProto3Json(TYPED_STRUCT_TYPE_URL, {
    type_url: 'type.googleapis.com/x.Y',
    value: toProtoStruct({ a: 1 }),
  });
  assert.deepEqual(json, { type_url: 'type.googleapis.com/x.Y', value: { a: 1 } });
});

test('floats print as their shortest float32 form; bytes as base64', () => {
  const json = toProto3Json(ROUTE_TYPE_URL, {
    name: 'r',
    virtual_hosts: [
      {
        name: 'v',
        domains: ['*'],
        routes: [
          {
            match: { prefix: '/' },
            direct_response: { status: 200, body: { inline_bytes: Buffer.from('hi') } },
          },
        ],
      },
    ],
  }) as { virtual_hosts: { routes: { direct_response: { body: { inline_bytes: string } } }[] }[] };
  assert.equal(json.virtual_hosts[0].routes[0].direct_response.body.inline_bytes, 'aGk=');
  assert.equal(toProto3Json('google.protobuf.FloatValue', { value: 0.1 }), 0.1);
  assert.equal(toProto3Json('google.protobuf.DoubleValue', { value: 0.1 }), 0.1);
  assert.equal(toProto3Json('google.protobuf.Int64Value', { value: '9007199254740993' }), '9007199254740993');
});

test('canonicalResourcesJson sorts resources by name and keys at every level, packed or not', () => {
  const text = canonicalResourcesJson(ENDPOINT_TYPE_URL, [
    { cluster_name: 'b', endpoints: [] },
    packAny(ENDPOINT_TYPE_URL, { cluster_name: 'a', policy: { overprovisioning_factor: { value: 140 } } }),
  ]);
  assert.equal(
    text,
    `[
  {
    "@type": "${ENDPOINT_TYPE_URL}",
    "cluster_name": "a",
    "policy": {
      "overprovisioning_factor": 140
    }
  },
  {
    "@type": "${ENDPOINT_TYPE_URL}",
    "cluster_name": "b"
  }
]
`,
  );
  assert.equal(
    canonicalStringify({ b: 1, a: { d: [{ z: 1, y: 2 }], c: null } }),
    '{\n  "a": {\n    "c": null,\n    "d": [\n      {\n        "y": 2,\n        "z": 1\n      }\n    ]\n  },\n  "b": 1\n}\n',
  );
});

test('durations and timestamps in proto3 JSON form', () => {
  assert.equal(formatDuration(1n, 0), '1s');
  assert.equal(formatDuration(0n, 1_000_000), '0.001s');
  assert.equal(formatDuration(0n, 1_000), '0.000001s');
  assert.equal(formatDuration(0n, 1), '0.000000001s');
  assert.equal(formatDuration(-1n, -500_000_000), '-1.500s');
  assert.equal(formatDuration(0n, -500_000_000), '-0.500s');
  assert.equal(formatTimestamp(0n, 0), '1970-01-01T00:00:00Z');
  assert.equal(formatTimestamp(1_700_000_000n, 120_000_000), '2023-11-14T22:13:20.120Z');
});
