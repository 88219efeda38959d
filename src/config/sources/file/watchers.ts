/**
 * One non-recursive `fs.watch` per directory of the tree. Node's `recursive: true` is not
 * used: on Linux it is emulated in JavaScript and has missed files in directories created
 * after the watch started; a watcher per directory, (re)installed by each scan before the
 * directory is listed, cannot miss them. Directories are watched rather than files so that
 * editors' atomic saves (write a temp file, rename it over the original) are seen, and a
 * watcher is replaced when its directory was deleted and recreated (new inode).
 */
import { type FSWatcher, watch } from 'node:fs';

interface Watched {
  readonly watcher: FSWatcher;
  /** `dev:ino` of the directory when the watcher was made. */
  readonly id: string;
  /** Only events about this entry name count (used to watch for a missing path to appear). */
  readonly only: string | undefined;
  readonly closed: Promise<void>;
}

/** `watch`: a watch could not be set up; `event`: a working watcher failed. */
export type WatchErrorHandler = (dir: string, error: Error, phase: 'watch' | 'event') => void;

export class DirectoryWatchers {
  readonly #watched = new Map<string, Watched>();
  readonly #closing = new Set<Promise<void>>();
  readonly #onEvent: (dir: string, name: string | null) => void;
  readonly #onError: WatchErrorHandler;

  constructor(onEvent: (dir: string, name: string | null) => void, onError: WatchErrorHandler) {
    this.#onEvent = onEvent;
    this.#onError = onError;
  }

  get size(): number {
    return this.#watched.size;
  }

  /**
   * Makes sure `dir` (identified by `id`) is watched. Returns false when watching failed for
   * a reason other than the directory having gone (the caller falls back to polling).
   */
  ensure(dir: string, id: string, only?: string): boolean {
    const current = this.#watched.get(dir);
    if (current && current.id === id && current.only === only) return true;
    if (current) this.#close(dir);
    let watcher: FSWatcher;
    try {
      watcher = watch(dir, { persistent: true }, (_type, name) => {
        const entry = name === null || name === undefined ? null : String(name);
        if (only !== undefined && entry !== null && entry !== only) return;
        this.#onEvent(dir, entry);
      });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return true; // gone already: its parent reports it
      this.#onError(dir, err as Error, 'watch');
      return false;
    }
    // Node closes the handle itself before emitting 'error' and then never emits 'close'.
    let markClosed!: () => void;
    const closed = new Promise<void>((resolve) => (markClosed = resolve));
    watcher.once('close', markClosed);
    watcher.on('error', (err) => {
      markClosed();
      // Only the current registration may be removed: a stale watcher's late error must not
      // close its replacement.
      if (this.#watched.get(dir)?.watcher === watcher) this.#close(dir);
      this.#onError(dir, err, 'event');
    });
    this.#watched.set(dir, { watcher, id, only, closed });
    return true;
  }

  /** Stops watching every directory not in `keep`. */
  retain(keep: ReadonlySet<string>): void {
    for (const dir of [...this.#watched.keys()]) if (!keep.has(dir)) this.#close(dir);
  }

  /** Stops everything; resolves once every watcher's handle is closed. */
  async close(): Promise<void> {
    for (const dir of [...this.#watched.keys()]) this.#close(dir);
    await Promise.all(this.#closing);
  }

  #close(dir: string): void {
    const w = this.#watched.get(dir);
    if (!w) return;
    this.#watched.delete(dir);
    w.watcher.removeAllListeners('change');
    w.watcher.close();
    const closing = w.closed.finally(() => this.#closing.delete(closing));
    this.#closing.add(closing);
  }
}
