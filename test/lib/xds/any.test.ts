import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isPackedAny, packAny, typed, unpackAny } from '../../../src/lib/xds/any.ts';
import {
  HTTP_CONNECTION_MANAGER_TYPE_URL,
  LISTENER_TYPE_URL,
  ROUTER_TYPE_URL,
} from '../../../src/lib/xds/type-urls.ts';

test('packAny / unpackAny round trip, nested typed_config expanded with @type', () => {
  const any = packAny(LISTENER_TYPE_URL, {
    name: 'l',
    filter_chains: [
      {
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: typed(HTTP_CONNECTION_MANAGER_TYPE_URL, {
              stat_prefix: 'in',
              http_filters: [{ name: 'router', typed_config: typed(ROUTER_TYPE_URL, {}) }],
            }),
          },
        ],
      },
    ],
  });
  assert.ok(isPackedAny(any));
  assert.equal(any.type_url, LISTENER_TYPE_URL);
  const l = unpackAny<{
    name: string;
    filter_chains: { filters: { typed_config: Record<string, unknown> }[] }[];
  }>(any);
  assert.equal(l.name, 'l');
  const hcm = l.filter_chains[0].filters[0].typed_config;
  assert.equal(hcm['@type'], HTTP_CONNECTION_MANAGER_TYPE_URL);
  assert.equal(hcm.stat_prefix, 'in');
  assert.equal(
    (hcm.http_filters as { typed_config: Record<string, unknown> }[])[0].typed_config['@type'],
    ROUTER_TYPE_URL,
  );
});

test('typed() refuses a type URL that is not loaded (protobufjs would silently send an empty Any)', () => {
  assert.throws(
    () => typed('type.googleapis.com/envoy.extensions.filters.http.nope.v3.Nope', {}),
    /unknown type URL/,
  );
});

test('isPackedAny tells packed from expanded', () => {
  assert.equal(isPackedAny({ '@type': LISTENER_TYPE_URL }), false);
  assert.equal(isPackedAny({ type_url: LISTENER_TYPE_URL, value: 'x' }), false);
  assert.equal(isPackedAny(null), false);
});
