/**
 * mizzen-proxy's memory budget depends on what it never loads: a child process imports the
 * proxy's entry module, enables the proto descriptor cache as bin/mizzen-proxy.js does, builds a
 * ProxyServer and runs an xDS stream attempt (to a port nobody listens on), then lists the npm
 * packages in its module cache. @grpc/grpc-js must not be there; with a warm descriptor cache
 * @grpc/proto-loader must not be either, nor the YAML parsers and re2-wasm. Loading grpc-js afterwards shows the check can see it.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

const SRC = join(import.meta.dirname, '..', '..', '..', 'src');

function packagesLoaded(cacheDir: string): { before: string[]; control: string[]; disconnected: number } {
  const script = `
    import { createRequire } from 'node:module';
    import { once } from 'node:events';
    await import(${JSON.stringify(join(SRC, 'proxy/cmd/mizzen-proxy.ts'))});
    const protos = await import(${JSON.stringify(join(SRC, 'lib/xds/protos.ts'))});
    protos.enableEnvoyProtoCache(${JSON.stringify(cacheDir)});
    const { ProxyServer } = await import(${JSON.stringify(join(SRC, 'proxy/proxy-server.ts'))});
    const { loadBootstrap, parseBootstrapArgs } = await import(${JSON.stringify(join(SRC, 'agent/bootstrap.ts'))});
    const { setLogLevel } = await import(${JSON.stringify(join(SRC, 'lib/log.ts'))});
    setLogLevel('none');
    const bootstrap = loadBootstrap({
      flags: parseBootstrapArgs(['sidecar', '--ip', '127.0.0.9', '--pod-name', 'p-1', '--namespace', 'default',
        '--discovery-address', '127.0.0.1:1']),
      env: {},
    });
    const proxy = new ProxyServer({ bootstrap, adminPort: 0, statusPort: 0 });
    const gone = once(proxy.xds, 'disconnected');
    proxy.xds.start();
    const [event] = await gone;
    proxy.xds.close();
    await proxy.close();
    const packages = () => [...new Set(Object.keys(createRequire(import.meta.url).cache)
      .map((k) => /node_modules\\/((?:@[^/]+\\/)?[^/]+)\\//.exec(k)?.[1]).filter(Boolean))].sort();
    const before = packages();
    await import('@grpc/grpc-js');
    console.log(JSON.stringify({ before, control: packages(), disconnected: event.code }));
  `;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    cwd: join(SRC, '..'),
    env: { ...process.env, MIZZEN_PROTO_CACHE: '' },
  });
  return JSON.parse(out.trim().split('\n').at(-1) as string);
}

test('the proxy never loads @grpc/grpc-js, and with a warm proto cache not @grpc/proto-loader either', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mizzen-proxy-imports-'));
  try {
    const cold = packagesLoaded(dir);
    assert.equal(cold.disconnected, 14, 'the stream attempt ran and failed UNAVAILABLE');
    assert.ok(!cold.before.includes('@grpc/grpc-js'), `grpc-js loaded: ${cold.before.join(' ')}`);
    assert.ok(cold.before.includes('@grpc/proto-loader'), 'a cold cache parses the .proto files');
    assert.ok(cold.control.includes('@grpc/grpc-js'), 'the check sees grpc-js once it is loaded');

    const warm = packagesLoaded(dir);
    assert.ok(!warm.before.includes('@grpc/grpc-js'), `grpc-js loaded: ${warm.before.join(' ')}`);
    assert.ok(!warm.before.includes('@grpc/proto-loader'), `proto-loader loaded: ${warm.before.join(' ')}`);
    assert.ok(warm.before.includes('protobufjs'), 'protobufjs (light) is what reads the cache');
    // A proxy whose config has no regex and which reads no YAML loads neither (lib/lazy-module.ts).
    for (const lazy of ['yaml', 'js-yaml', 're2-wasm']) {
      assert.ok(!warm.before.includes(lazy), `${lazy} loaded at start-up: ${warm.before.join(' ')}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
