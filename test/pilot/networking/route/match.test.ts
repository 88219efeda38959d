/** HTTPMatchRequest -> RouteMatch: every kind of condition, and what counts as a catch-all. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { validateMessageShape } from '../../../../src/lib/xds/message-shape.ts';
import { ROUTE_TYPE_URL } from '../../../../src/lib/xds/type-urls.ts';
import {
  buildRouteMatch,
  isCatchAllMatch,
  parseRoutingClaim,
} from '../../../../src/pilot/networking/route/match.ts';

function assertMatchShape(match: object): void {
  const rc = {
    name: 'x',
    virtual_hosts: [{ name: 'v', domains: ['*'], routes: [{ match, direct_response: { status: 200 } }] }],
  };
  assert.deepEqual(validateMessageShape(ROUTE_TYPE_URL, rc), []);
}

test('no match: prefix / without case sensitivity set (Istio default routes)', () => {
  assert.deepEqual(buildRouteMatch(undefined), { prefix: '/' });
});

test('uri kinds and ignoreUriCase', () => {
  const exact = buildRouteMatch({ uri: { exact: '/a' } });
  const prefix = buildRouteMatch({ uri: { prefix: '/b' }, ignoreUriCase: true });
  const regex = buildRouteMatch({ uri: { regex: '/c.*' } });
  for (const m of [exact, prefix, regex]) assertMatchShape(m);
  assert.deepEqual(exact, { path: '/a', case_sensitive: { value: true } });
  assert.deepEqual(prefix, { prefix: '/b', case_sensitive: { value: false } });
  assert.deepEqual(regex, { safe_regex: { regex: '/c.*' }, case_sensitive: { value: true } });
});

test('headers and withoutHeaders: sorted by name; presence; inversion; pseudo-headers after', () => {
  const m = buildRouteMatch({
    headers: { zeta: { prefix: 'p' }, alpha: {} },
    withoutHeaders: { beta: { exact: 'x' }, gamma: {} },
    method: { exact: 'GET' },
    authority: { regex: 'a.*' },
    scheme: { exact: 'http' },
  });
  assertMatchShape(m);
  assert.deepEqual(m.headers, [
    { name: 'alpha', present_match: true },
    { name: 'beta', string_match: { exact: 'x' }, invert_match: true, treat_missing_header_as_empty: true },
    { name: 'gamma', present_match: true, invert_match: true },
    { name: 'zeta', string_match: { prefix: 'p' } },
    { name: ':method', string_match: { exact: 'GET' } },
    { name: ':authority', string_match: { safe_regex: { regex: 'a.*' } } },
    { name: ':scheme', string_match: { exact: 'http' } },
  ]);
});

test('query parameters: sorted, presence or string match', () => {
  const m = buildRouteMatch({ queryParams: { b: { exact: '1' }, a: {} } });
  assertMatchShape(m);
  assert.deepEqual(m.query_parameters, [
    { name: 'a', present_match: true },
    { name: 'b', string_match: { exact: '1' } },
  ]);
});

test('JWT claims in headers become metadata matchers on the jwt_authn payload (string or list claims)', () => {
  const m = buildRouteMatch({
    headers: { '@request.auth.claims[groups][admin]': { exact: 'yes' } },
    withoutHeaders: { '@request.auth.claims.iss': { prefix: 'evil' } },
  });
  assertMatchShape(m);
  assert.equal(m.headers, undefined);
  const [groups, iss] = m.dynamic_metadata as Record<string, unknown>[];
  assert.deepEqual(groups.path, [{ key: 'payload' }, { key: 'groups' }, { key: 'admin' }]);
  assert.equal(iss.invert, true);
  assert.deepEqual(parseRoutingClaim('@request.auth.claims.a.b'), ['a', 'b']);
  assert.deepEqual(parseRoutingClaim('@request.auth.claims[a.b]'), ['a.b']);
  assert.equal(parseRoutingClaim('@request.auth.claims'), undefined);
  assert.equal(parseRoutingClaim('@request.auth.claims[a]x'), undefined);
  assert.equal(parseRoutingClaim('x-user'), undefined);
});

test('catch-all: prefix / or regex .* with no other condition', () => {
  assert.equal(isCatchAllMatch({ prefix: '/' }), true);
  assert.equal(isCatchAllMatch({ safe_regex: { regex: '.*' } }), true);
  assert.equal(isCatchAllMatch({ prefix: '/', query_parameters: [{ name: 'q' }] }), false);
  assert.equal(isCatchAllMatch({ prefix: '/a' }), false);
});
