#!/usr/bin/env node
// mizzenctl: the Mizzen CLI. Sources are TypeScript run by Node 24's type stripping; when an
// older Node runs this file, re-run it on the Node 24 that `npm ci` installed beside it.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
if (Number(process.versions.node.split('.')[0]) < 24) {
  const pinned = join(root, 'node_modules', 'node', 'bin', 'node');
  if (!existsSync(pinned)) {
    process.stderr.write('mizzenctl needs Node.js 24 or newer; run `npm ci` in the Mizzen checkout first.\n');
    process.exit(3);
  }
  const r = spawnSync(pinned, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
  });
  process.exit(r.status ?? 1);
}
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
