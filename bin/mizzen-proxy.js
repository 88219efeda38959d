#!/usr/bin/env node
// mizzen-proxy: the Mizzen data plane (proxy + agent). Sources are TypeScript run by Node 24's
// type stripping; when an older Node runs this file, re-run it on the Node 24 that `npm ci`
// installed beside it.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
if (Number(process.versions.node.split('.')[0]) < 24) {
  const pinned = join(root, 'node_modules', 'node', 'bin', 'node');
  if (!existsSync(pinned)) {
    process.stderr.write(
      'mizzen-proxy needs Node.js 24 or newer; run `npm ci` in the Mizzen checkout first.\n',
    );
    process.exit(3);
  }
  // A long-running server: forward stop signals to the child and exit with its code.
  const child = spawn(pinned, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
  });
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 : 1)));
} else {
  // Before the first TypeScript import: with the compile cache warm, Node skips type stripping
  // (and never loads its ~17 MB TypeScript transformer), which is a quarter of the proxy's RSS.
  try {
    const { enableCompileCache } = await import('node:module');
    enableCompileCache?.();
  } catch {
    // a read-only temp directory and the like: only start-up time and memory are lost
  }
  const { main } = await import('../src/proxy/cmd/mizzen-proxy.ts');
  process.exitCode = await main(process.argv.slice(2));
}
