/**
 * How long `mizzenctl analyze` takes as configurations grow. For each size it times,
 * over several runs, the two halves of an analysis in process (decode: parse + validate;
 * analyze: every analyzer) and prints min / median / max and the cost per object, so
 * that growth that is not linear shows at a glance. Then it runs the real CLI once per
 * size on files written to a temporary directory (wall time including Node's startup).
 *
 *   node_modules/.bin/node bench/analyze/run.ts [sizes...]   (default: 1000 2000 4000 8000)
 *
 * A benchmark, not a test: it asserts nothing about time.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { analyze } from '../../src/analysis/analyze.ts';
import { AnalysisInput } from '../../src/analysis/input.ts';
import { generateMesh } from './generate.ts';

const RUNS = 7;
const WARMUP = 2;
const ROOT = join(import.meta.dirname, '../..');

function stats(samples: number[]): { min: number; median: number; max: number } {
  const s = [...samples].sort((a, b) => a - b);
  return { min: s[0], median: s[Math.floor(s.length / 2)], max: s[s.length - 1] };
}

const ms = (x: number): string => x.toFixed(1).padStart(8);

const sizes = process.argv
  .slice(2)
  .map(Number)
  .filter((n) => Number.isInteger(n) && n > 0);
if (sizes.length === 0) sizes.push(1000, 2000, 4000, 8000);

console.log(
  `mizzenctl analyze benchmark: ${RUNS} runs after ${WARMUP} warm-up runs, times in ms (min / median / max)`,
);
console.log(`node ${process.version}, ${process.platform} ${process.arch}\n`);
console.log(
  `${'objects'.padStart(8)} ${'phase'.padEnd(8)} ${'min'.padStart(8)} ${'median'.padStart(8)} ${'max'.padStart(8)}   µs/object (median)`,
);

const cliRows: string[] = [];
for (const size of sizes) {
  const { files, objects } = generateMesh(size);
  const decode: number[] = [];
  const analysis: number[] = [];
  let messages = 0;
  for (let run = 0; run < WARMUP + RUNS; run++) {
    const t0 = performance.now();
    const input = AnalysisInput.fromTexts(files, { defaultNamespace: 'default' });
    const t1 = performance.now();
    const result = analyze(input);
    const t2 = performance.now();
    messages = result.messages.length;
    if (run >= WARMUP) {
      decode.push(t1 - t0);
      analysis.push(t2 - t1);
    }
  }
  const total = decode.map((d, i) => d + analysis[i]);
  for (const [phase, samples] of [
    ['decode', decode],
    ['analyze', analysis],
    ['total', total],
  ] as const) {
    const s = stats(samples);
    console.log(
      `${String(objects).padStart(8)} ${phase.padEnd(8)} ${ms(s.min)} ${ms(s.median)} ${ms(s.max)}   ${((s.median * 1000) / objects).toFixed(1)}`,
    );
  }
  if (messages !== 0)
    console.log(`         (the generated mesh produced ${messages} messages; expected none)`);

  const dir = mkdtempSync(join(tmpdir(), 'mizzen-bench-analyze-'));
  try {
    for (const f of files) writeFileSync(join(dir, f.name), f.text);
    const t0 = performance.now();
    const r = spawnSync(
      join(ROOT, 'node_modules/.bin/node'),
      [join(ROOT, 'bin/mizzenctl.js'), 'analyze', dir],
      {
        encoding: 'utf8',
      },
    );
    const wall = performance.now() - t0;
    cliRows.push(`${String(objects).padStart(8)}   ${ms(wall)}   exit ${r.status}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

console.log('\nmizzenctl analyze DIR as a process (one run, wall time in ms, including Node startup):');
for (const row of cliRows) console.log(row);
