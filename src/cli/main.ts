/**
 * mizzenctl entry point: builds the command tree and maps results to exit codes. Each verb
 * lives in `commands/<verb>.ts`.
 */
export async function main(argv: readonly string[]): Promise<number> {
  process.stderr.write(`mizzenctl: no commands yet (${argv.join(' ')})\n`);
  return 1;
}
