#!/usr/bin/env node
// postinstall: builds the SO_ORIGINAL_DST addon in native/ (transparent capture needs it).
// The addon is optional — every mode without capture works without it — so a failed build
// warns instead of failing `npm ci`; the capture tests then skip and say why.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

if (process.platform !== 'linux') process.exit(0);
// Node's headers: the machine's (Debian's nodejs-dev / the system Node), never a download.
const nodedir = ['/usr', '/usr/local'].find((d) => existsSync(`${d}/include/node/node_api.h`));
if (!nodedir) {
  console.warn(
    'mizzen: Node headers not found in /usr/include/node; skipping the native addon (capture unavailable)',
  );
  process.exit(0);
}
const r = spawnSync(
  'node-gyp',
  ['rebuild', '--directory', 'native', `--nodedir=${nodedir}`, '--loglevel=warn'],
  {
    stdio: 'inherit',
    shell: false,
  },
);
if (r.status !== 0) {
  console.warn(
    `mizzen: building native/ failed (${r.error?.message ?? `exit ${r.status}`}); transparent capture will be unavailable`,
  );
}
