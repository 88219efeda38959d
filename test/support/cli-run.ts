/**
 * Running `mizzenctl` in tests: as users run it (bin/mizzenctl.js in a child process) and in
 * process through the command layer, with output captured; plus a reader for its tables.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import type { CliIo } from '../../src/cli/io.ts';
import { run } from '../../src/cli/main.ts';
import { NODE, ROOT } from './mesh-processes.ts';

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** bin/mizzenctl.js with only PATH, HOME and `env` in its environment. */
export function mizzenctl(
  args: readonly string[],
  home: string,
  env: Record<string, string> = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(NODE, [path.join(ROOT, 'bin/mizzenctl.js'), ...args], {
      env: { PATH: process.env.PATH ?? '', HOME: home, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The command layer in process, `env` standing for the process environment. */
export async function mizzenctlInProcess(
  args: readonly string[],
  env: Record<string, string> = {},
): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: (t) => {
      stdout += t;
    },
    stderr: (t) => {
      stderr += t;
    },
    stdoutIsTTY: false,
    env,
    readStdin: () => Buffer.from(''),
  };
  const code = await run([...args], io);
  return { code, stdout, stderr };
}

/** Table rows as cells, cut at the columns where the header's cells start. */
export function tableRows(table: string): string[][] {
  const lines = table.trimEnd().split('\n');
  const starts = [...lines[0].matchAll(/(?:^|\s{2,})(\S)/g)].map((m) => (m.index ?? 0) + m[0].length - 1);
  return lines.map((l) => starts.map((s, i) => l.slice(s, starts[i + 1]).trim()));
}
