#!/usr/bin/env node
// mizzend: the Mizzen control plane. Sources are TypeScript run by Node 24's type stripping;
// when an older Node runs this file, re-run it on the Node 24 that `npm ci` installed beside it.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
if (Number(process.versions.node.split('.')[0]) < 24) {
  const pinned = join(root, 'node_modules', 'node', 'bin', 'node');
  if (!existsSync(pinned)) {
    process.stderr.write('mizzend needs Node.js 24 or newer; run `npm ci` in the Mizzen checkout first.\n');
    process.exit(3);
  }
  // A long-running server: forward stop signals to the child and exit with its code.
  const child = spawn(pinned, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
  });
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  // Killed by a signal (before it could handle it): the shell convention, 128 + its number.
  child.on('exit', (code, signal) =>
    process.exit(code ?? (signal ? 128 + (constants.signals[signal] ?? 0) : 1)),
  );
} else {
  const { main } = await import('../src/pilot/cmd/mizzend.ts');
  process.exitCode = await main(process.argv.slice(2));
}
