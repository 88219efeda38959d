/**
 * Route table matching from hand-written RouteConfiguration objects: virtual host selection
 * (exact, *.suffix, prefix*, '*', ports), every path kind, case sensitivity, every header
 * matcher kind with invert and missing-as-empty, query parameters, gRPC, runtime fractions,
 * and compile errors (NACK reasons) that name the offending field.
 */
import { type TestContext, test } from 'node:test';
import { HeaderMap } from '../../../../../src/proxy/network/http/headers.ts';
import {
  compileRouteConfiguration,
  MatchScratch,
  type RouteTable,
} from '../../../../../src/proxy/network/http/router/route-table.ts';
import { assertNoOpenHandles } from '../../../support/harness.ts';

function table(cfg: unknown): RouteTable {
  const r = compileRouteConfiguration(cfg);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.value;
}

function req(path: string, opts: { host?: string; method?: string; headers?: [string, string][] } = {}) {
  return {
    headers: HeaderMap.from(opts.headers ?? []),
    method: opts.method ?? 'GET',
    path,
    authority: opts.host ?? 'example.com',
    scheme: 'http',
  };
}

function routeName(t: RouteTable, r: ReturnType<typeof req>, random = 0.5): string | undefined {
  return t.route(r, new MatchScratch(() => random))?.name;
}

const r = (name: string, match: Record<string, unknown>) => ({ name, match, route: { cluster: 'c' } });

test('virtual host selection: exact, longest suffix, longest prefix, then *', (t: TestContext) => {
  const tb = table({
    virtual_hosts: [
      {
        name: 'exact',
        domains: ['api.example.com', 'api.example.com:8080'],
        routes: [r('exact', { prefix: '/' })],
      },
      { name: 'suffix', domains: ['*.example.com'], routes: [r('suffix', { prefix: '/' })] },
      { name: 'longer-suffix', domains: ['*.eu.example.com'], routes: [r('longer-suffix', { prefix: '/' })] },
      { name: 'prefix', domains: ['api.*'], routes: [r('prefix', { prefix: '/' })] },
      { name: 'default', domains: ['*'], routes: [r('default', { prefix: '/' })] },
    ],
  });
  const cases: [string, string][] = [
    ['api.example.com', 'exact'],
    ['API.Example.COM', 'exact'],
    ['api.example.com:8080', 'exact'],
    ['api.example.com:9090', 'prefix'], // the port is part of the host unless stripped
    ['www.example.com', 'suffix'],
    ['x.eu.example.com', 'longer-suffix'],
    ['example.com', 'default'],
    ['api.other.org', 'prefix'],
    ['other.org', 'default'],
  ];
  t.plan(cases.length);
  for (const [host, want] of cases) t.assert.equal(routeName(tb, req('/', { host })), want, host);
});

test('ignore_port_in_host_matching strips ports, including on IPv6 literals', (t: TestContext) => {
  t.plan(3);
  const tb = table({
    ignore_port_in_host_matching: true,
    virtual_hosts: [
      { name: 'a', domains: ['a.local'], routes: [r('a', { prefix: '/' })] },
      { name: 'v6', domains: ['[::1]'], routes: [r('v6', { prefix: '/' })] },
    ],
  });
  t.assert.equal(routeName(tb, req('/', { host: 'a.local:8080' })), 'a');
  t.assert.equal(routeName(tb, req('/', { host: '[::1]:80' })), 'v6');
  t.assert.equal(routeName(tb, req('/', { host: 'b.local' })), undefined);
});

test('path kinds and case sensitivity', (t: TestContext) => {
  const tb = table({
    virtual_hosts: [
      {
        name: 'v',
        domains: ['*'],
        routes: [
          r('exact', { path: '/exact' }),
          r('ci-exact', { path: '/CI', case_sensitive: { value: false } }),
          r('sep', { path_separated_prefix: '/api' }),
          r('regex', { safe_regex: { regex: '/users/[0-9]+' } }),
          r('ci-prefix', { prefix: '/Static/', case_sensitive: { value: false } }),
          r('prefix', { prefix: '/p' }),
        ],
      },
    ],
  });
  const cases: [string, string | undefined][] = [
    ['/exact', 'exact'],
    ['/exact?q=1', 'exact'],
    ['/exact/more', undefined],
    ['/ci', 'ci-exact'],
    ['/Ci?x', 'ci-exact'],
    ['/api', 'sep'],
    ['/api/v1', 'sep'],
    ['/api?x=1', 'sep'],
    ['/apiv1', undefined],
    ['/users/42', 'regex'],
    ['/users/42?x=y', 'regex'],
    ['/users/42/x', undefined],
    ['/static/app.js', 'ci-prefix'],
    ['/STATIC/app.js', 'ci-prefix'],
    ['/pq', 'prefix'],
    ['/q', undefined],
  ];
  t.plan(cases.length);
  for (const [path, want] of cases) t.assert.equal(routeName(tb, req(path)), want, path);
});

test('header matchers: every kind, invert_match, treat_missing_header_as_empty, pseudo-headers', (t: TestContext) => {
  const tb = table({
    virtual_hosts: [
      {
        name: 'v',
        domains: ['*'],
        routes: [
          r('exact', { prefix: '/exact', headers: [{ name: 'x-v', exact_match: 'a' }] }),
          r('sm-exact-ic', {
            prefix: '/smi',
            headers: [{ name: 'x-v', string_match: { exact: 'ABC', ignore_case: true } }],
          }),
          r('sm-prefix', { prefix: '/smp', headers: [{ name: 'x-v', string_match: { prefix: 'pre' } }] }),
          r('sm-suffix', { prefix: '/sms', headers: [{ name: 'x-v', string_match: { suffix: 'fix' } }] }),
          r('sm-contains', { prefix: '/smc', headers: [{ name: 'x-v', string_match: { contains: 'mid' } }] }),
          r('sm-regex', {
            prefix: '/smr',
            headers: [{ name: 'x-v', string_match: { safe_regex: { regex: 'v[0-9]+' } } }],
          }),
          r('legacy-regex', { prefix: '/lr', headers: [{ name: 'x-v', safe_regex_match: { regex: 'a+' } }] }),
          r('prefix-m', { prefix: '/pm', headers: [{ name: 'x-v', prefix_match: 'ab' }] }),
          r('suffix-m', { prefix: '/sm', headers: [{ name: 'x-v', suffix_match: 'yz' }] }),
          r('contains-m', { prefix: '/cm', headers: [{ name: 'x-v', contains_match: 'q' }] }),
          r('range', {
            prefix: '/range',
            headers: [{ name: 'x-n', range_match: { start: '10', end: '20' } }],
          }),
          r('present', { prefix: '/present', headers: [{ name: 'x-p', present_match: true }] }),
          r('absent', { prefix: '/absent', headers: [{ name: 'x-p', present_match: false }] }),
          r('name-only', { prefix: '/name', headers: [{ name: 'x-p' }] }),
          r('inverted', {
            prefix: '/inv',
            headers: [{ name: 'x-v', exact_match: 'no', invert_match: true }],
          }),
          r('inverted-present', {
            prefix: '/ip',
            headers: [{ name: 'x-p', present_match: true, invert_match: true }],
          }),
          r('missing-empty', {
            prefix: '/missing',
            headers: [{ name: 'x-e', string_match: { exact: '' }, treat_missing_header_as_empty: true }],
          }),
          r('method', { prefix: '/method', headers: [{ name: ':method', exact_match: 'POST' }] }),
          r('joined', { prefix: '/joined', headers: [{ name: 'x-m', exact_match: 'a,b' }] }),
        ],
      },
    ],
  });
  const H = (name: string, value: string): [string, string][] => [[name, value]];
  const cases: [string, [string, string][], string | undefined, string?][] = [
    ['/exact', H('x-v', 'a'), 'exact'],
    ['/exact', H('x-v', 'A'), undefined],
    ['/smi', H('x-v', 'abc'), 'sm-exact-ic'],
    ['/smp', H('x-v', 'prefix'), 'sm-prefix'],
    ['/sms', H('x-v', 'suffix'), 'sm-suffix'],
    ['/smc', H('x-v', 'amidb'), 'sm-contains'],
    ['/smr', H('x-v', 'v12'), 'sm-regex'],
    ['/smr', H('x-v', 'xv12'), undefined, 'regex must match the whole value'],
    ['/lr', H('x-v', 'aaa'), 'legacy-regex'],
    ['/pm', H('x-v', 'abc'), 'prefix-m'],
    ['/sm', H('x-v', 'xyz'), 'suffix-m'],
    ['/cm', H('x-v', 'aqa'), 'contains-m'],
    ['/range', H('x-n', '10'), 'range'],
    ['/range', H('x-n', '20'), undefined, 'range end is exclusive'],
    ['/range', H('x-n', 'x'), undefined],
    ['/present', H('x-p', ''), 'present'],
    ['/present', [], undefined],
    ['/absent', [], 'absent'],
    ['/absent', H('x-p', '1'), undefined],
    ['/name', H('x-p', '1'), 'name-only'],
    ['/name', [], undefined],
    ['/inv', H('x-v', 'yes'), 'inverted'],
    ['/inv', H('x-v', 'no'), undefined],
    ['/inv', [], undefined, 'an inverted value matcher does not match an absent header'],
    ['/ip', [], 'inverted-present'],
    ['/missing', [], 'missing-empty'],
    [
      '/joined',
      [
        ['x-m', 'a'],
        ['x-m', 'b'],
      ],
      'joined',
      'several lines are joined with ","',
    ],
  ];
  t.plan(cases.length + 1);
  for (const [path, headers, want, why] of cases)
    t.assert.equal(routeName(tb, req(path, { headers })), want, why ?? `${path} ${JSON.stringify(headers)}`);
  t.assert.equal(routeName(tb, req('/method', { method: 'POST' })), 'method');
});

test('query parameters, gRPC-only routes and runtime fractions', (t: TestContext) => {
  t.plan(8);
  const tb = table({
    virtual_hosts: [
      {
        name: 'v',
        domains: ['*'],
        routes: [
          r('q-exact', {
            prefix: '/q',
            query_parameters: [{ name: 'debug', string_match: { exact: 'on' } }],
          }),
          r('q-present', { prefix: '/q', query_parameters: [{ name: 'flag', present_match: true }] }),
          r('grpc', { prefix: '/svc', grpc: {} }),
          r('fraction', {
            prefix: '/f',
            runtime_fraction: { default_value: { numerator: 25, denominator: 'HUNDRED' }, runtime_key: 'k' },
          }),
          r('fallback', { prefix: '/' }),
        ],
      },
    ],
  });
  t.assert.equal(routeName(tb, req('/q?debug=on')), 'q-exact');
  t.assert.equal(routeName(tb, req('/q?debug=%6Fn')), 'q-exact', 'values are percent-decoded');
  t.assert.equal(routeName(tb, req('/q?flag')), 'q-present');
  t.assert.equal(routeName(tb, req('/q?debug=off')), 'fallback');
  t.assert.equal(
    routeName(tb, req('/svc/M', { headers: [['content-type', 'application/grpc+proto']] })),
    'grpc',
  );
  t.assert.equal(routeName(tb, req('/svc/M')), 'fallback');
  t.assert.equal(routeName(tb, req('/f', {}), 0.2), 'fraction');
  t.assert.equal(routeName(tb, req('/f', {}), 0.3), 'fallback');
});

test('compile errors name the field (NACK reasons)', (t: TestContext) => {
  const bad: [unknown, string][] = [
    [
      {
        virtual_hosts: [
          {
            name: 'v',
            domains: ['*'],
            routes: [
              {
                match: { prefix: '/', tls_context: { presented: { value: true } } },
                route: { cluster: 'c' },
              },
            ],
          },
        ],
      },
      'virtual_hosts[0].routes[0].match.tls_context',
    ],
    [
      {
        virtual_hosts: [
          {
            name: 'v',
            domains: ['*'],
            routes: [{ match: { safe_regex: { regex: '(?<=a)b' } }, route: { cluster: 'c' } }],
          },
        ],
      },
      'virtual_hosts[0].routes[0].match.safe_regex.regex',
    ],
    [
      {
        virtual_hosts: [
          {
            name: 'v',
            domains: ['*'],
            routes: [
              {
                match: { prefix: '/' },
                route: { cluster: 'c', hash_policy: [{ header: { header_name: 'x' } }] },
              },
            ],
          },
        ],
      },
      'virtual_hosts[0].routes[0].route.hash_policy',
    ],
    [
      {
        virtual_hosts: [
          {
            name: 'v',
            domains: ['*'],
            routes: [
              { match: { prefix: '/' }, route: { cluster: 'c', retry_policy: { retry_on: '5xx,bogus' } } },
            ],
          },
        ],
      },
      'virtual_hosts[0].routes[0].route.retry_policy.retry_on',
    ],
    [
      {
        virtual_hosts: [
          { name: 'a', domains: ['x'], routes: [] },
          { name: 'b', domains: ['x'], routes: [] },
        ],
      },
      'virtual_hosts[1].domains[0]',
    ],
    [{ virtual_hosts: [{ name: 'v', domains: ['a*b'], routes: [] }] }, 'virtual_hosts[0].domains[0]'],
    [
      {
        virtual_hosts: [
          {
            name: 'v',
            domains: ['*'],
            routes: [
              {
                match: { prefix: '/' },
                route: { cluster: 'c' },
                request_headers_to_add: [{ header: { key: 'x', value: '%UNKNOWN_THING%' } }],
              },
            ],
          },
        ],
      },
      'virtual_hosts[0].routes[0].request_headers_to_add[0].header.value',
    ],
    [
      {
        virtual_hosts: [
          {
            name: 'v',
            domains: ['*'],
            routes: [
              {
                match: { prefix: '/' },
                route: { cluster: 'c' },
                request_headers_to_add: [{ header: { key: 'host', value: 'x' } }],
              },
            ],
          },
        ],
      },
      'virtual_hosts[0].routes[0].request_headers_to_add[0].header.key',
    ],
    [
      {
        virtual_hosts: [
          {
            name: 'v',
            domains: ['*'],
            routes: [
              {
                match: { prefix: '/' },
                route: {
                  weighted_clusters: {
                    clusters: [{ name: 'a', weight: { value: 1 } }],
                    total_weight: { value: 100 },
                  },
                },
              },
            ],
          },
        ],
      },
      'virtual_hosts[0].routes[0].route.weighted_clusters.total_weight',
    ],
    [
      {
        virtual_hosts: [
          {
            name: 'v',
            domains: ['*'],
            routes: [{ match: { prefix: '/' }, route: { cluster: 'c' }, some_future_field: { x: 1 } }],
          },
        ],
      },
      'virtual_hosts[0].routes[0].some_future_field',
    ],
    [
      {
        virtual_hosts: [
          {
            name: 'v',
            domains: ['*'],
            routes: [
              {
                match: { prefix: '/' },
                direct_response: { status: 200, body: { inline_string: 'x'.repeat(5000) } },
              },
            ],
          },
        ],
      },
      'virtual_hosts[0].routes[0].direct_response.body',
    ],
  ];
  t.plan(bad.length * 2);
  for (const [cfg, path] of bad) {
    const res = compileRouteConfiguration(cfg);
    t.assert.equal(res.ok, false, path);
    t.assert.ok(
      !res.ok && res.errors.some((e) => e.path === path),
      `${path} in ${JSON.stringify(!res.ok && res.errors)}`,
    );
  }
});

test('proto-loader shapes: oneof names, defaults and wrapper objects are understood', (t: TestContext) => {
  t.plan(2);
  // What proto-loader emits with {keepCase, defaults, oneofs, enums: String, longs: String}.
  const tb = table({
    name: 'r',
    virtual_hosts: [
      {
        name: 'v',
        domains: ['*'],
        routes: [
          {
            name: 'x',
            match: {
              prefix: '/',
              path_specifier: 'prefix',
              headers: [],
              query_parameters: [],
              case_sensitive: null,
              grpc: null,
              runtime_fraction: null,
            },
            route: {
              cluster: 'c',
              cluster_specifier: 'cluster',
              timeout: { seconds: '3', nanos: 500000000 },
              priority: 'DEFAULT',
              prefix_rewrite: '',
              host_rewrite_specifier: undefined,
            },
            action: 'route',
            metadata: null,
            request_headers_to_add: [],
            request_headers_to_remove: [],
          },
        ],
        require_tls: 'NONE',
        include_request_attempt_count: false,
      },
    ],
    internal_only_headers: [],
    validate_clusters: null,
  });
  t.assert.equal(tb.virtualHosts[0].routes[0].timeoutMs, 3500);
  t.assert.equal(routeName(tb, req('/anything')), 'x');
});

test('no open handles', async () => {
  await assertNoOpenHandles();
});
