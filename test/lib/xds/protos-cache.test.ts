/**
 * The proto descriptor cache (src/lib/xds/protos.ts, `enableEnvoyProtoCache`): the root rebuilt
 * from protobufjs JSON with the light build must be the parsed root — same messages, fields,
 * numbers, kinds, oneofs, enums — and encode to the same bytes; the first start writes the
 * cache, later starts read it without loading proto-loader; a corrupt file is rewritten. The
 * root is per process, so the start-up cases run in child processes.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Enum, Namespace, Root, Type } from 'protobufjs';
import { envoyProtoCacheFile, parseEnvoyProtos } from '../../../src/lib/xds/protos.ts';

const NODE = process.execPath;
const PROTOS = join(import.meta.dirname, '..', '..', '..', 'src', 'lib', 'xds', 'protos.ts');

/** Every message and enum of a root, described by what encoding and reflection depend on. */
function describeRoot(root: Root): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (ns: Namespace) => {
    for (const nested of ns.nestedArray) {
      if ('fieldsArray' in nested) {
        const t = nested as Type;
        const fields = [...t.fieldsArray]
          .sort((a, b) => a.id - b.id || a.name.localeCompare(b.name))
          .map((f) =>
            JSON.stringify([
              f.name,
              f.id,
              f.type,
              (f as { rule?: string }).rule,
              (f as { keyType?: string }).keyType,
              f.packed,
              f.repeated,
              f.map,
              f.partOf?.name,
              f.hasPresence,
              f.resolvedType?.fullName,
              f.options,
            ]),
          );
        const oneofs = t.oneofsArray.map((o) => `${o.name}:${o.oneof.join(',')}`);
        out.set(t.fullName, JSON.stringify({ fields, oneofs, options: t.options }));
      } else if ('values' in nested) {
        out.set(nested.fullName, JSON.stringify((nested as Enum).values));
      }
      if ('nestedArray' in nested) walk(nested as Namespace);
    }
  };
  walk(root);
  return out;
}

test('the root rebuilt from JSON with protobufjs light is the parsed root, byte for byte on encode', () => {
  const parsed = parseEnvoyProtos();
  const light = createRequire(import.meta.url)('protobufjs/light.js') as typeof import('protobufjs');
  const cached = light.Root.fromJSON(JSON.parse(JSON.stringify(parsed.toJSON())));
  cached.resolveAll();
  const a = describeRoot(parsed);
  const b = describeRoot(cached);
  assert.ok(a.size > 600, `${a.size} types and enums`);
  assert.deepEqual([...b.keys()].sort(), [...a.keys()].sort());
  for (const [name, d] of a) assert.equal(b.get(name), d, name);

  // A listener with nested Any (typed_config), packed repeated, maps, oneofs, wrappers, enums.
  const listener = {
    name: 'l',
    address: { socket_address: { address: '0.0.0.0', port_value: 15001 } },
    traffic_direction: 'OUTBOUND',
    filter_chains: [
      {
        filter_chain_match: { destination_port: { value: 80 }, server_names: ['a', 'b'] },
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type':
                'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
              stat_prefix: 's',
              rds: { route_config_name: 'r', config_source: { ads: {}, resource_api_version: 'V3' } },
              http_filters: [
                {
                  name: 'envoy.filters.http.router',
                  typed_config: {
                    '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router',
                  },
                },
              ],
            },
          },
        ],
      },
    ],
    metadata: { filter_metadata: { istio: { fields: { k: { string_value: 'v' } } } } },
  };
  const cluster = {
    name: 'c',
    type: 'EDS',
    load_assignment: {
      cluster_name: 'c',
      endpoints: [{ lb_endpoints: [{ load_balancing_weight: { value: 3 } }], priority: 1 }],
    },
    common_lb_config: { healthy_panic_threshold: { value: 50 } },
    typed_extension_protocol_options: {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
        '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
        explicit_http_config: { http2_protocol_options: { max_concurrent_streams: { value: 100 } } },
      },
    },
  };
  const retry = { retriable_status_codes: [500, 503], num_retries: { value: 2 } };
  for (const [name, msg] of [
    ['envoy.config.listener.v3.Listener', listener],
    ['envoy.config.cluster.v3.Cluster', cluster],
    ['envoy.config.route.v3.RetryPolicy', retry],
  ] as const) {
    const pt = parsed.lookupType(name);
    const ct = cached.lookupType(name);
    const bytes = Buffer.from(pt.encode(pt.fromObject(msg)).finish());
    assert.deepEqual(Buffer.from(ct.encode(ct.fromObject(msg)).finish()), bytes, `${name} encodes the same`);
    const opts = { longs: String, enums: String, defaults: true, json: true, oneofs: true };
    assert.deepEqual(
      ct.toObject(ct.decode(bytes), opts),
      pt.toObject(pt.decode(bytes), opts),
      `${name} decodes the same`,
    );
  }
});

/** Runs a child that enables the cache in `dir`, loads the root and reports what it loaded. */
function start(dir: string): { protoLoader: boolean; decoded: string; files: string[] } {
  const script = `
    import { createRequire } from 'node:module';
    const p = await import(${JSON.stringify(PROTOS)});
    p.enableEnvoyProtoCache(${JSON.stringify(dir)});
    const bytes = p.encodeMessage('envoy.config.cluster.v3.Cluster', { name: 'c1', type: 'STATIC' });
    const decoded = p.decodeMessage('envoy.config.cluster.v3.Cluster', bytes);
    const cache = createRequire(import.meta.url).cache;
    const protoLoader = Object.keys(cache).some((k) => k.includes('/@grpc/proto-loader/'));
    console.log(JSON.stringify({ protoLoader, decoded: decoded.name + '/' + decoded.type, env: process.env.MIZZEN_PROTO_CACHE }));
  `;
  const out = execFileSync(NODE, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    env: { ...process.env, MIZZEN_PROTO_CACHE: '' },
  });
  const r = JSON.parse(out.trim().split('\n').at(-1) as string);
  assert.equal(r.env, dir, 'children inherit the cache directory');
  return { protoLoader: r.protoLoader, decoded: r.decoded, files: readdirSync(dir) };
}

test('first start parses and writes the cache; the next reads it without proto-loader; corrupt is rewritten', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mizzen-proto-cache-test-'));
  try {
    const file = envoyProtoCacheFile(dir);
    const first = start(dir);
    assert.deepEqual(first, { protoLoader: true, decoded: 'c1/STATIC', files: [file.slice(dir.length + 1)] });
    const warm = start(dir);
    assert.deepEqual(warm, { ...first, protoLoader: false });
    writeFileSync(file, '{"nested": {"truncated');
    const repaired = start(dir);
    assert.equal(repaired.protoLoader, true, 'a corrupt cache falls back to parsing');
    assert.equal(repaired.decoded, 'c1/STATIC');
    assert.equal(start(dir).protoLoader, false, 'and was rewritten');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a cache folder that is a symlink or writable by others is neither read nor written', () => {
  const base = mkdtempSync(join(tmpdir(), 'mizzen-proto-cache-test-'));
  try {
    const target = join(base, 'target');
    mkdirSync(target, { mode: 0o700 });
    const link = join(base, 'link');
    symlinkSync(target, link);
    assert.equal(start(link).protoLoader, true);
    assert.deepEqual(readdirSync(target), [], 'nothing written through the link');

    const open = join(base, 'open');
    mkdirSync(open);
    chmodSync(open, 0o777);
    assert.equal(start(open).protoLoader, true);
    assert.deepEqual(readdirSync(open), [], 'nothing written into a folder others can write');
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});

test('the cache file name changes with the proto file list and package versions (not with the directory)', () => {
  const a = envoyProtoCacheFile('/x');
  assert.match(a, /^\/x\/envoy-protos-[0-9a-f]{16}\.json$/);
  assert.equal(envoyProtoCacheFile('/y').slice(3), a.slice(3));
});
