import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  CLUSTER_TYPE_URL,
  ENDPOINT_TYPE_URL,
  messageNameOf,
  metricTypeLabel,
  ROUTER_TYPE_URL,
  shortTypeName,
  typeUrlOf,
  WILDCARD_TYPE_URLS,
} from '../../../src/lib/xds/type-urls.ts';

test('names, short names and metric labels', () => {
  assert.equal(messageNameOf(CLUSTER_TYPE_URL), 'envoy.config.cluster.v3.Cluster');
  assert.equal(typeUrlOf('envoy.config.cluster.v3.Cluster'), CLUSTER_TYPE_URL);
  assert.equal(typeUrlOf(CLUSTER_TYPE_URL), CLUSTER_TYPE_URL);
  assert.equal(shortTypeName(ENDPOINT_TYPE_URL), 'EDS');
  assert.equal(metricTypeLabel(CLUSTER_TYPE_URL), 'cds');
  assert.equal(shortTypeName(ROUTER_TYPE_URL), 'envoy.extensions.filters.http.router.v3.Router');
  assert.ok(WILDCARD_TYPE_URLS.has(CLUSTER_TYPE_URL) && !WILDCARD_TYPE_URLS.has(ENDPOINT_TYPE_URL));
});
