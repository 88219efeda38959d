/**
 * What mizzen-proxy's resident memory is made of: loads the proxy's parts one after another in
 * this process and prints RSS, V8 heap (used / committed) and external memory after a full GC at
 * each step. Run it twice: the first run fills Node's compile cache, the second shows a proxy
 * started the way bin/mizzen-proxy.js starts it (TypeScript already stripped and cached).
 *
 * Usage: node --expose-gc bench/proxy/memory.ts [--cold]   (--cold: no compile cache)
 */
import { enableCompileCache } from 'node:module';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) {
  console.error('run with --expose-gc');
  process.exit(2);
}
if (!process.argv.includes('--cold')) enableCompileCache();

const rows: Record<string, string>[] = [];
let last = 0;
function step(what: string): void {
  gc?.();
  const m = process.memoryUsage();
  const mb = (n: number) => (n / 1048576).toFixed(1);
  rows.push({
    step: what,
    'RSS MB': mb(m.rss),
    'Δ RSS': mb(m.rss - last),
    'heap used': mb(m.heapUsed),
    'heap committed': mb(m.heapTotal),
    external: mb(m.external),
  });
  last = m.rss;
}

step('node + this script');
await import('@grpc/grpc-js');
step('+ @grpc/grpc-js');
await import('@grpc/proto-loader');
step('+ @grpc/proto-loader');
const protos = await import('../../src/lib/xds/protos.ts');
protos.envoyProtos();
step('+ Envoy protos loaded (src/lib/xds/protos.ts)');
await import('re2-wasm');
step('+ re2-wasm (RE2 for safe_regex)');
const { ProxyServer } = await import('../../src/proxy/proxy-server.ts');
step('+ every proxy module imported');
const { loadBootstrap, parseBootstrapArgs } = await import('../../src/agent/bootstrap.ts');
const bootstrap = loadBootstrap({
  flags: parseBootstrapArgs(['sidecar', '--ip', '127.0.0.9', '--pod-name', 'm-1', '--namespace', 'default']),
  env: {},
});
const p = new ProxyServer({ bootstrap, adminPort: 0, statusPort: 0 });
step('+ ProxyServer constructed (no config)');
await p.close();
console.table(rows);
