/**
 * Summarises a V8 .cpuprofile (from `run.ts --prof`): self time per function and per area of the
 * code (our modules by folder, Node internals, GC, idle), as percentages of the busy time.
 * `--skip S` leaves out the first S seconds (start-up: module loading, proto compilation).
 * Usage: node bench/proxy/profile-summary.ts FILE.cpuprofile [--top 30] [--skip 0]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const { values, positionals } = parseArgs({
  options: { top: { type: 'string', default: '30' }, skip: { type: 'string', default: '0' } },
  allowPositionals: true,
});
const profile = JSON.parse(readFileSync(positionals[0], 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const self = new Map<number, number>();
const skipUs = Number(values.skip) * 1e6;
let at = 0;
profile.samples.forEach((id, i) => {
  at += profile.timeDeltas[i] ?? 0;
  if (at < skipUs) return;
  self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
});

function area(n: ProfileNode): string {
  const { functionName: f, url } = n.callFrame;
  if (f === '(idle)') return '(idle)';
  if (f === '(garbage collector)') return 'GC';
  if (f === '(program)') return '(program: native, syscalls outside JS frames)';
  if (url.includes('node_modules')) return 'node_modules';
  if (url.includes('/src/')) return url.slice(url.indexOf('/src/') + 1).replace(/\/[^/]*$/, '/');
  if (url.startsWith('node:internal/')) return `node: ${url.slice(5).split('/').slice(0, 2).join('/')}`;
  if (url.startsWith('node:')) return `node: ${url.slice(5)}`;
  if (url === '') return `native: ${f}`;
  return 'other';
}

let busy = 0;
const perFn = new Map<string, number>();
const perArea = new Map<string, number>();
for (const [id, t] of self) {
  const n = byId.get(id) as ProfileNode;
  const a = area(n);
  if (a === '(idle)') continue;
  busy += t;
  const where = n.callFrame.url
    ? `${n.callFrame.url.replace(/^.*\/(src|node_modules)\//, '$1/')}:${n.callFrame.lineNumber + 1}`
    : '';
  const key = `${n.callFrame.functionName || '(anonymous)'} ${where}`;
  perFn.set(key, (perFn.get(key) ?? 0) + t);
  perArea.set(a, (perArea.get(a) ?? 0) + t);
}
const pct = (t: number) => `${((t / busy) * 100).toFixed(1)}%`;
console.log(`busy ${(busy / 1e6).toFixed(2)} s of samples\n\nby area:`);
for (const [a, t] of [...perArea].sort((x, y) => y[1] - x[1])) console.log(`  ${pct(t).padStart(6)}  ${a}`);
console.log('\nby function (self time):');
for (const [f, t] of [...perFn].sort((x, y) => y[1] - x[1]).slice(0, Number(values.top)))
  console.log(`  ${pct(t).padStart(6)}  ${f}`);
