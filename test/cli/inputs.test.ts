import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { gatherInputs } from '../../src/cli/inputs.ts';
import { ErrorCode, MizzenError } from '../../src/lib/errors.ts';

const work = mkdtempSync(join(tmpdir(), 'mizzenctl-inputs-'));
after(() => rmSync(work, { recursive: true, force: true }));

function put(rel: string, text = 'kind: x\n'): void {
  const path = join(work, rel);
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, text);
}

const noStdin = (): Buffer => {
  throw new Error('stdin must not be read');
};

test('directories are walked recursively in name order; only .yaml, .yml and .json are read', () => {
  put('cfg/b.yaml');
  put('cfg/a/z.json');
  put('cfg/a/y.YML');
  put('cfg/readme.md');
  put('cfg/c.yaml.bak');
  const { sources, notes } = gatherInputs([`${work}/cfg/`], noStdin);
  assert.deepEqual(
    sources.map((s) => s.name.slice(work.length + 1)),
    ['cfg/a/y.YML', 'cfg/a/z.json', 'cfg/b.yaml'],
  );
  assert.deepEqual(notes, []);
});

test('names keep the path as given; a file reached twice is read once; a BOM is dropped', () => {
  put('dup/one.yaml', '\ufeffkind: one\n');
  const dir = join(work, 'dup');
  const { sources } = gatherInputs([join(dir, 'one.yaml'), dir, `${dir}/./one.yaml`], noStdin);
  assert.deepEqual(
    sources.map((s) => [s.name, s.text]),
    [[join(dir, 'one.yaml'), 'kind: one\n']],
  );
});

test('an explicit file of another type is skipped with a note, as istioctl does', () => {
  put('other/notes.txt');
  const { sources, notes } = gatherInputs([join(work, 'other/notes.txt')], noStdin);
  assert.deepEqual(sources, []);
  assert.deepEqual(notes, [
    `Skipping file ${join(work, 'other/notes.txt')}, recognized file extensions are: .json, .yaml, .yml`,
  ]);
});

test('symbolic links are followed, and a directory loop is walked once', () => {
  put('loop/real/x.yaml');
  symlinkSync(join(work, 'loop'), join(work, 'loop/real/back'));
  const { sources } = gatherInputs([join(work, 'loop')], noStdin);
  assert.deepEqual(
    sources.map((s) => s.name.slice(work.length + 1)),
    ['loop/real/x.yaml'],
  );
});

test('"-" reads standard input', () => {
  const { sources } = gatherInputs(['-'], () => Buffer.from('kind: stdin\n'));
  assert.deepEqual(sources, [{ name: '-', text: 'kind: stdin\n' }]);
});

test('a missing path is a CONFIG_UNREADABLE error that names it', () => {
  assert.throws(
    () => gatherInputs(['nope/missing.yaml'], noStdin),
    (err: unknown) =>
      err instanceof MizzenError &&
      err.code === ErrorCode.CONFIG_UNREADABLE &&
      err.message === 'cannot read "nope/missing.yaml": no such file or directory',
  );
});

test('an unreadable directory is a CONFIG_UNREADABLE error (skipped as root, which may read anything)', (t) => {
  if (process.getuid?.() === 0) {
    t.skip('root ignores file permissions');
    return;
  }
  put('locked/x.yaml');
  const dir = join(work, 'locked');
  chmodSync(dir, 0o000);
  try {
    assert.throws(
      () => gatherInputs([dir], noStdin),
      (err: unknown) => err instanceof MizzenError && /permission denied/.test(err.message),
    );
  } finally {
    chmodSync(dir, 0o755);
  }
});
