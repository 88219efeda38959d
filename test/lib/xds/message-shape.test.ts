import assert from 'node:assert/strict';
import { test } from 'node:test';
import { validateMessageShape } from '../../../src/lib/xds/message-shape.ts';
import { CLUSTER_TYPE_URL, LISTENER_TYPE_URL, ROUTER_TYPE_URL } from '../../../src/lib/xds/type-urls.ts';

test('a well-formed message has no problems', () => {
  assert.deepEqual(
    validateMessageShape(CLUSTER_TYPE_URL, {
      name: 'c',
      type: 'STATIC',
      connect_timeout: { seconds: '5', nanos: 0 },
      load_assignment: { cluster_name: 'c', endpoints: [{ lb_endpoints: [] }] },
      cluster_discovery_type: 'type', // decoded objects name their oneof member
    }),
    [],
  );
});

test('every problem is reported with its path', () => {
  const problems = validateMessageShape(
    LISTENER_TYPE_URL,
    {
      name: 7,
      address: { socket_address: { port_value: -1, adress: 'x', protocol: 'SCTP' } },
      filter_chains: { not: 'a list' },
      listener_filters: [{ name: 'f', typed_config: { '@type': 'type.googleapis.com/nope.Nope' } }],
      per_connection_buffer_limit_bytes: { value: 1.5 },
    },
    'listener[l]',
  );
  assert.deepEqual(
    problems.sort(),
    [
      'listener[l].address.socket_address.adress: unknown field of envoy.config.core.v3.SocketAddress',
      'listener[l].address.socket_address.port_value: -1 is not a valid uint32',
      'listener[l].address.socket_address.protocol: "SCTP" is not a value of enum Protocol (TCP, UDP)',
      'listener[l].filter_chains: expected a list',
      'listener[l].listener_filters[0].typed_config.@type: unknown type "type.googleapis.com/nope.Nope" (not in ENVOY_PROTO_FILES)',
      'listener[l].name: 7 is not a valid string',
      'listener[l].per_connection_buffer_limit_bytes.value: 1.5 is not a valid uint32',
    ].sort(),
  );
});

test('fields inside an expanded Any are checked against its type', () => {
  const problems = validateMessageShape(LISTENER_TYPE_URL, {
    listener_filters: [{ name: 'r', typed_config: { '@type': ROUTER_TYPE_URL, dynamic_statz: true } }],
  });
  assert.deepEqual(problems, [
    'listener_filters[0].typed_config.dynamic_statz: unknown field of envoy.extensions.filters.http.router.v3.Router',
  ]);
});

test('an unknown message type is one problem, never an exception', () => {
  assert.deepEqual(validateMessageShape('nope.Nope', {}), ['<root>: unknown message type "nope.Nope"']);
});
