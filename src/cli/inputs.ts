/**
 * Command-line paths -> the texts to analyze. Files are taken as given; directories are
 * walked recursively (in name order, following symbolic links once) for .yaml, .yml and
 * .json files; `-` is standard input. Every file keeps the name the user's path gives it,
 * so messages point at `examples/bookinfo/reviews.yaml`, not at an absolute path. A path
 * that is missing or unreadable is an error naming it: the analysis would be incomplete.
 */
import { readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { extname } from 'node:path';
import type { SourceText } from '../analysis/input.ts';
import { ErrorCode, MizzenError } from '../lib/errors.ts';

export const CONFIG_EXTENSIONS = ['.json', '.yaml', '.yml'];

export interface GatherResult {
  readonly sources: SourceText[];
  /** Notes for the user (skipped files), one line each. */
  readonly notes: string[];
}

function reason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT':
      return 'no such file or directory';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ENOTDIR':
      return 'not a directory';
    case 'ELOOP':
      return 'too many levels of symbolic links';
    case 'EISDIR':
      return 'is a directory';
    default:
      return (err as Error).message;
  }
}

function unreadable(path: string, err: unknown): MizzenError {
  return new MizzenError(ErrorCode.CONFIG_UNREADABLE, `cannot read ${JSON.stringify(path)}: ${reason(err)}`, {
    cause: err,
  });
}

function joinPath(dir: string, name: string): string {
  return dir.endsWith('/') ? `${dir}${name}` : `${dir}/${name}`;
}

function decodeText(buf: Buffer): string {
  const text = buf.toString('utf8');
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** Throws a MizzenError with code CONFIG_UNREADABLE for a missing or unreadable path. */
export function gatherInputs(paths: readonly string[], readStdin: () => Buffer): GatherResult {
  const sources: SourceText[] = [];
  const notes: string[] = [];
  const seenFiles = new Set<string>();
  const seenDirs = new Set<string>();

  const addFile = (path: string): void => {
    let real: string;
    try {
      real = realpathSync(path);
    } catch (err) {
      throw unreadable(path, err);
    }
    if (seenFiles.has(real)) return;
    seenFiles.add(real);
    try {
      sources.push({ name: path, text: decodeText(readFileSync(path)) });
    } catch (err) {
      throw unreadable(path, err);
    }
  };

  const walk = (dir: string): void => {
    let real: string;
    let entries: string[];
    try {
      real = realpathSync(dir);
      if (seenDirs.has(real)) return;
      seenDirs.add(real);
      entries = readdirSync(dir).sort();
    } catch (err) {
      throw unreadable(dir, err);
    }
    for (const name of entries) {
      const path = joinPath(dir, name);
      let isDir: boolean;
      try {
        isDir = statSync(path).isDirectory();
      } catch (err) {
        throw unreadable(path, err);
      }
      if (isDir) walk(path);
      else if (CONFIG_EXTENSIONS.includes(extname(name).toLowerCase())) addFile(path);
    }
  };

  for (const path of paths) {
    if (path === '-') {
      sources.push({ name: '-', text: decodeText(readStdin()) });
      continue;
    }
    let isDir: boolean;
    try {
      isDir = statSync(path).isDirectory();
    } catch (err) {
      throw unreadable(path, err);
    }
    if (isDir) walk(path);
    else if (CONFIG_EXTENSIONS.includes(extname(path).toLowerCase())) addFile(path);
    else notes.push(`Skipping file ${path}, recognized file extensions are: ${CONFIG_EXTENSIONS.join(', ')}`);
  }
  return { sources, notes };
}
