/**
 * Directory source: every `.yaml`, `.yml` and `.json` file under a directory (recursive,
 * multi-document), watched. A change anywhere schedules a rescan after a quiet period
 * (debounce); a rescan stats every file, re-reads only files whose stat changed, re-decodes
 * only files whose content changed, and hands the complete object set to the store, which
 * emits events only for objects that really changed.
 *
 * Rules: hidden entries (dot-prefixed files and directories) and other extensions are
 * ignored; symlinks are followed (Kubernetes ConfigMap mounts are symlink farms), loops are
 * not. Objects without a namespace go to `defaultNamespace`. When two files define the same
 * (kind, namespace, name), the first in path order wins and the other is reported as a
 * conflict. Bad documents become statuses (see decode-file.ts for last-good semantics).
 * The path may also name a single file, or not exist yet: its nearest existing ancestor is
 * watched until it appears.
 */
import { createHash } from 'node:crypto';
import type { BigIntStats, Dirent } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { isDns1123Label } from '../../../api/common/validators.ts';
import { type ConfigKey, type ConfigResource, configKey } from '../../../api/resource.ts';
import { Debouncer } from '../../../lib/debounce.ts';
import { ErrorCode, errorMessage, MizzenError } from '../../../lib/errors.ts';
import { logger } from '../../../lib/log.ts';
import { type ConfigSink, type ConfigSource, DEFAULT_NAMESPACE } from '../../source.ts';
import { type ConfigStatus, compareStatuses, makeStatus, StatusReason } from '../../status.ts';
import { decodeConfigFile, type FileObject } from './decode-file.ts';
import { DirectoryWatchers } from './watchers.ts';

const log = logger('config:file');

export const CONFIG_FILE_EXTENSIONS: readonly string[] = ['.yaml', '.yml', '.json'];

export interface DirectorySourceOptions {
  /** Directory to read (or a single file). Relative paths stay relative in locations. */
  readonly path: string;
  /** Source name for the store and statuses. Default `file:<path>`. */
  readonly name?: string;
  /** Namespace for objects that name none. Default `default`. */
  readonly defaultNamespace?: string;
  /** Watch for changes while running (default true). Without, only `rescan()` re-reads. */
  readonly watch?: boolean;
  /** Quiet period after the last change before rescanning, in ms (default 100). */
  readonly debounceMs?: number;
  /** Longest a burst of changes can delay a rescan, in ms (default 1000, at least debounceMs). */
  readonly maxDebounceMs?: number;
  /**
   * Also rescan every this many ms (default 0: never), for file systems that do not report
   * changes (NFS, some FUSE mounts). Polling starts by itself, at 2000 ms, if watching fails.
   */
  readonly pollIntervalMs?: number;
  /** Larger files are refused with a status (default 16 MiB). */
  readonly maxFileBytes?: number;
}

export const DEFAULT_DEBOUNCE_MS = 100;
export const DEFAULT_MAX_DEBOUNCE_MS = 1000;
const FALLBACK_POLL_MS = 2000;
const DEFAULT_MAX_FILE_BYTES = 16 * 1024 * 1024;
/** Files modified this recently may change again within the same timestamp tick: re-read them. */
const RACY_WINDOW_MS = 2000;
/** Files read in parallel during a scan. */
const READ_CONCURRENCY = 16;

interface FileState {
  /** `dev:ino:size:mtime:ctime` at the last read ('' forces a re-read). */
  readonly signature: string;
  /** Modified so close to the read that a same-signature change is possible. */
  readonly racy: boolean;
  /** Content hash; undefined while unreadable. */
  readonly hash: string | undefined;
  readonly objects: ReadonlyMap<string, FileObject>;
  readonly statuses: readonly ConfigStatus[];
}

interface Walk {
  readonly files: string[];
  /** Directories that could not be listed: what they held before is kept. */
  readonly unreadable: Map<string, Error>;
  readonly statuses: ConfigStatus[];
}

interface ScanWaiter {
  readonly after: number;
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
}

export class DirectorySource implements ConfigSource {
  readonly name: string;
  readonly path: string;
  readonly defaultNamespace: string;
  readonly watch: boolean;
  readonly pollIntervalMs: number;
  readonly maxFileBytes: number;
  readonly #debouncer: Debouncer;
  #files = new Map<string, FileState>();
  #walkStatuses: ConfigStatus[] = [];
  #conflicts: ConfigStatus[] = [];
  #effective: readonly ConfigResource[] = [];
  #sink: ConfigSink | undefined;
  #watchers: DirectoryWatchers | undefined;
  #poll: NodeJS.Timeout | undefined;
  #scanning: Promise<void> | undefined;
  #again = false;
  #urgent = false;
  #scansStarted = 0;
  #waiters: ScanWaiter[] = [];
  #settledWaiters: (() => void)[] = [];
  #stopped = true;

  constructor(options: DirectorySourceOptions) {
    const p = options?.path;
    if (typeof p !== 'string' || p === '') {
      throw new MizzenError(ErrorCode.INVALID_ARGUMENT, 'directory source: path must be a non-empty string');
    }
    this.path = p;
    this.name = options.name ?? `file:${p}`;
    this.defaultNamespace = options.defaultNamespace ?? DEFAULT_NAMESPACE;
    if (!isDns1123Label(this.defaultNamespace)) {
      throw new MizzenError(
        ErrorCode.INVALID_ARGUMENT,
        `directory source: defaultNamespace ${JSON.stringify(this.defaultNamespace)} is not a valid namespace name (lower-case letters, digits and '-')`,
      );
    }
    this.watch = options.watch ?? true;
    const debounceMs = options.debounceMs ?? DEFAULT_DEBOUNCE_MS;
    const maxDebounceMs = options.maxDebounceMs ?? Math.max(DEFAULT_MAX_DEBOUNCE_MS, debounceMs);
    this.pollIntervalMs = checkMs('pollIntervalMs', options.pollIntervalMs ?? 0);
    this.maxFileBytes = options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
    if (!Number.isInteger(this.maxFileBytes) || this.maxFileBytes < 1) {
      throw new MizzenError(
        ErrorCode.INVALID_ARGUMENT,
        `directory source: maxFileBytes must be a positive integer, got ${options.maxFileBytes}`,
      );
    }
    checkMs('debounceMs', debounceMs);
    checkMs('maxDebounceMs', maxDebounceMs);
    if (maxDebounceMs < debounceMs) {
      throw new MizzenError(
        ErrorCode.INVALID_ARGUMENT,
        `directory source: maxDebounceMs (${maxDebounceMs}) must be at least debounceMs (${debounceMs})`,
      );
    }
    this.#debouncer = new Debouncer(() => this.#requestScan(), {
      delayMs: debounceMs,
      maxDelayMs: maxDebounceMs,
    });
  }

  /** The objects the source currently serves (after conflict resolution), in path order. */
  resources(): readonly ConfigResource[] {
    return this.#effective;
  }

  statuses(): readonly ConfigStatus[] {
    const all = [
      ...this.#walkStatuses,
      ...[...this.#files.values()].flatMap((f) => f.statuses),
      ...this.#conflicts,
    ];
    return all.sort(compareStatuses);
  }

  /** Scans now (after any scan in progress) and resolves when a scan that started after this call is done. */
  rescan(): Promise<void> {
    const wait = this.nextScan();
    this.#debouncer.cancel();
    this.#urgent = true;
    this.#requestScan();
    return wait;
  }

  /** Resolves when a scan that starts after this call has completed (tests, reload tooling). */
  nextScan(): Promise<void> {
    return new Promise((resolve, reject) =>
      this.#waiters.push({ after: this.#scansStarted, resolve, reject }),
    );
  }

  /** Resolves once no scan is running or scheduled (the source has caught up with what it was told). */
  settled(): Promise<void> {
    if (this.#isSettled()) return Promise.resolve();
    return new Promise((resolve) => this.#settledWaiters.push(resolve));
  }

  #isSettled(): boolean {
    return this.#scanning === undefined && !this.#debouncer.pending;
  }

  /** One scan without running: the objects and statuses of the path right now (for `mizzenctl analyze`). */
  async load(): Promise<{ resources: readonly ConfigResource[]; statuses: readonly ConfigStatus[] }> {
    await this.rescan();
    return { resources: this.resources(), statuses: this.statuses() };
  }

  async run(sink: ConfigSink, signal: AbortSignal): Promise<void> {
    if (this.#sink) throw new MizzenError(ErrorCode.INVALID_ARGUMENT, `${this.name} is already running`);
    if (signal.aborted) return;
    this.#sink = sink;
    this.#stopped = false;
    const stopped = new Promise<void>((resolve) =>
      signal.addEventListener('abort', () => resolve(), { once: true }),
    );
    if (this.watch) {
      this.#watchers = new DirectoryWatchers(
        (dir, name) => {
          if (log.enabled('debug')) log.debug('change seen', { dir, entry: name });
          this.#debouncer.trigger();
        },
        (dir, err, phase) => this.#watchFailed(dir, err, phase),
      );
    }
    if (this.pollIntervalMs > 0) this.#startPolling(this.pollIntervalMs);
    try {
      // A scan is never interrupted, so this resolves even if the signal aborts meanwhile.
      await this.rescan();
      if (!signal.aborted) {
        sink.synced();
        log.info('config directory loaded', {
          path: this.path,
          files: this.#files.size,
          objects: this.#effective.length,
          problems: this.statuses().filter((s) => s.level === 'error').length,
        });
      }
      await stopped;
    } finally {
      this.#stopped = true;
      this.#debouncer.cancel();
      if (this.#poll) clearInterval(this.#poll);
      this.#poll = undefined;
      await this.#scanning;
      await this.#watchers?.close();
      this.#watchers = undefined;
      const waiters = this.#waiters;
      this.#waiters = [];
      for (const w of waiters) w.reject(new Error(`${this.name} stopped`));
      const settled = this.#settledWaiters;
      this.#settledWaiters = [];
      for (const resolve of settled) resolve();
      this.#sink = undefined;
    }
  }

  /**
   * A watch could not be set up (`phase: 'watch'`: inotify limits, permissions) or a working
   * watcher failed (`'event'`). Either way polling takes over as a safety net; a failed
   * watcher also triggers a rescan, which sets the watch up again if it can.
   */
  #watchFailed(dir: string, err: Error, phase: 'watch' | 'event'): void {
    if (this.#stopped) return;
    if (!this.#poll) {
      log.warn('cannot watch config directory; polling instead', {
        dir,
        error: errorMessage(err),
        intervalMs: FALLBACK_POLL_MS,
      });
      this.#startPolling(FALLBACK_POLL_MS);
    }
    // Not on a set-up failure: it happens during a scan, and rescanning would only fail again.
    if (phase === 'event') this.#debouncer.trigger();
  }

  #startPolling(ms: number): void {
    this.#poll = setInterval(() => this.#debouncer.trigger(), ms);
  }

  #requestScan(): void {
    if (this.#scanning) {
      this.#again = true;
      return;
    }
    this.#urgent = false;
    this.#scanning = this.#scan()
      .catch((err: unknown) =>
        log.error('config directory scan failed', { path: this.path, error: errorMessage(err) }),
      )
      .finally(() => {
        this.#scanning = undefined;
        if (this.#again) {
          this.#again = false;
          if (this.#urgent) this.#requestScan();
          else if (!this.#stopped) this.#debouncer.trigger();
        }
        if (this.#isSettled()) {
          const waiters = this.#settledWaiters;
          this.#settledWaiters = [];
          for (const resolve of waiters) resolve();
        }
      });
  }

  async #scan(): Promise<void> {
    const seq = ++this.#scansStarted;
    try {
      const walk = await this.#walk();
      const previous = this.#files;
      const loaded = new Map<string, FileState>();
      await forEachLimit(walk.files, READ_CONCURRENCY, async (file) => {
        const state = await this.#load(file, previous.get(file));
        if (state) loaded.set(file, state);
      });
      // Files under a directory that could not be listed keep what they had.
      for (const [file, state] of previous) {
        if (!loaded.has(file) && [...walk.unreadable.keys()].some((dir) => isUnder(file, dir)))
          loaded.set(file, state);
      }
      for (const [file, state] of previous) {
        if (!loaded.has(file)) log.info('config file removed', { file, objects: state.objects.size });
      }
      this.#files = new Map([...loaded].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
      this.#walkStatuses = walk.statuses;
      this.#resolve();
      this.#sink?.replace(this.#effective);
    } finally {
      const ready = this.#waiters.filter((w) => w.after < seq);
      this.#waiters = this.#waiters.filter((w) => w.after >= seq);
      for (const w of ready) w.resolve();
    }
  }

  /** First definition in path order wins; later ones become conflict statuses. */
  #resolve(): void {
    const winners = new Map<string, { file: string; object: FileObject }>();
    const conflicts: ConfigStatus[] = [];
    for (const [file, state] of this.#files) {
      for (const [id, object] of state.objects) {
        const first = winners.get(id);
        if (!first) {
          winners.set(id, { file, object });
          continue;
        }
        conflicts.push(
          makeStatus({
            source: this.name,
            level: 'error',
            reason: StatusReason.CONFLICT,
            file,
            document: object.document,
            key: configKey(object.resource),
            issues: [
              {
                file,
                line: object.at.line,
                column: object.at.column,
                path: ['metadata', 'name'],
                severity: 'error',
                message: `${id} is also defined at ${first.file}:${first.object.at.line}:${first.object.at.column}, which comes first in path order and takes precedence; this definition is ignored`,
              },
            ],
          }),
        );
      }
    }
    const before = new Set(this.#conflicts.flatMap((s) => s.messages));
    for (const s of conflicts)
      for (const m of s.messages) if (!before.has(m)) log.error('conflicting config', { error: m });
    this.#conflicts = conflicts;
    this.#effective = Object.freeze([...winners.values()].map((w) => w.object.resource));
  }

  async #walk(): Promise<Walk> {
    const walk: Walk = { files: [], unreadable: new Map(), statuses: [] };
    const watched = new Set<string>();
    const visited = new Set<string>();
    const visit = async (dir: string, id: string): Promise<void> => {
      if (visited.has(id)) return; // a symlink loop, or the same directory linked twice
      visited.add(id);
      watched.add(dir);
      // Watch before listing, so a file created between the two is not missed.
      this.#watchers?.ensure(dir, id);
      let entries: Dirent[];
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (err) {
        if (isGone(err)) return;
        this.#unreadable(walk, dir, err as Error);
        return;
      }
      entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      for (const e of entries) {
        if (e.name.startsWith('.')) continue;
        const p = path.join(dir, e.name);
        if (e.isFile()) {
          if (isConfigFile(e.name)) walk.files.push(p);
          continue;
        }
        if (!e.isDirectory() && !e.isSymbolicLink()) continue;
        let st: BigIntStats;
        try {
          st = await stat(p, { bigint: true });
        } catch (err) {
          if (!isGone(err)) this.#unreadable(walk, p, err as Error); // a dangling symlink is gone, not broken
          continue;
        }
        if (st.isDirectory()) await visit(p, `${st.dev}:${st.ino}`);
        else if (st.isFile() && isConfigFile(e.name)) walk.files.push(p);
      }
    };

    let root: BigIntStats | undefined;
    try {
      root = await stat(this.path, { bigint: true });
    } catch (err) {
      if (!isGone(err)) {
        this.#unreadable(walk, this.path, err as Error);
        this.#watchers?.retain(watched);
        return walk;
      }
    }
    if (root?.isDirectory()) await visit(this.path, `${root.dev}:${root.ino}`);
    else if (root?.isFile()) {
      walk.files.push(this.path);
      // Every change in its directory counts: the file may be a symlink whose target is
      // swapped by renaming another entry (a ConfigMap's `..data`).
      await this.#watchForPath(watched, path.dirname(this.path));
    } else {
      if (this.#walkStatuses.every((s) => s.reason !== StatusReason.MISSING)) {
        log.warn('config path does not exist; waiting for it', { path: this.path });
      }
      walk.statuses.push(
        makeStatus({
          source: this.name,
          level: 'warning',
          reason: StatusReason.MISSING,
          file: this.path,
          issues: [
            {
              file: this.path,
              line: 0,
              column: 0,
              path: [],
              severity: 'warning',
              message: 'config path does not exist (it is watched and loaded when it appears)',
            },
          ],
        }),
      );
      await this.#watchForPath(watched);
    }
    this.#watchers?.retain(watched);
    return walk;
  }

  /**
   * Watches the nearest existing ancestor of the path for the entry leading to it, or all of
   * `dir` when given.
   */
  async #watchForPath(watched: Set<string>, dir?: string): Promise<void> {
    if (!this.#watchers) return;
    if (dir !== undefined) {
      try {
        const st = await stat(dir, { bigint: true });
        watched.add(dir);
        this.#watchers.ensure(dir, `${st.dev}:${st.ino}`);
      } catch (err) {
        if (!isGone(err)) log.warn('cannot watch config file directory', { dir, error: errorMessage(err) });
      }
      return;
    }
    let child = path.resolve(this.path);
    for (;;) {
      const parent = path.dirname(child);
      try {
        const st = await stat(parent, { bigint: true });
        if (st.isDirectory()) {
          watched.add(parent);
          this.#watchers.ensure(parent, `${st.dev}:${st.ino}`, path.basename(child));
          return;
        }
      } catch (err) {
        if (!isGone(err)) return;
      }
      if (parent === child) return;
      child = parent;
    }
  }

  #unreadable(walk: Walk, p: string, err: Error): void {
    walk.unreadable.set(p, err);
    const message = `cannot read: ${errorMessage(err)}; what it held before keeps serving`;
    if (!this.#walkStatuses.some((s) => s.file === p && s.issues[0]?.message === message)) {
      log.error('cannot read config directory', { path: p, error: errorMessage(err) });
    }
    walk.statuses.push(
      makeStatus({
        source: this.name,
        level: 'error',
        reason: StatusReason.UNREADABLE,
        file: p,
        issues: [{ file: p, line: 0, column: 0, path: [], severity: 'error', message }],
      }),
    );
  }

  /** Reads one file if it changed since `previous`; undefined when it has gone. */
  async #load(file: string, previous: FileState | undefined): Promise<FileState | undefined> {
    let st: BigIntStats;
    try {
      st = await stat(file, { bigint: true });
    } catch (err) {
      return isGone(err) ? undefined : this.#failedRead(file, previous, errorMessage(err));
    }
    if (!st.isFile()) return undefined;
    const signature = `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
    if (previous && previous.signature === signature && !previous.racy) return previous;
    if (st.size > BigInt(this.maxFileBytes)) {
      return this.#failedRead(
        file,
        previous,
        `file is ${st.size} bytes, larger than the ${this.maxFileBytes} allowed`,
      );
    }
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      return isGone(err) ? undefined : this.#failedRead(file, previous, errorMessage(err));
    }
    const racy = Number(st.mtimeNs / 1_000_000n) + RACY_WINDOW_MS > Date.now();
    const hash = createHash('sha256').update(text).digest('base64');
    if (previous && previous.hash === hash) return { ...previous, signature, racy };
    const decoded = decodeConfigFile(text, file, {
      source: this.name,
      defaultNamespace: this.defaultNamespace,
      previous: previous?.objects,
    });
    logDecoded(file, decoded.statuses, decoded.objects);
    return { signature, racy, hash, objects: decoded.objects, statuses: decoded.statuses };
  }

  #failedRead(file: string, previous: FileState | undefined, reason: string): FileState {
    const objects = previous?.objects ?? new Map<string, FileObject>();
    const lastGood: ConfigKey[] = [...objects.values()].map((o) => configKey(o.resource));
    const message = `cannot read: ${reason}${lastGood.length > 0 ? '; its last good objects keep serving' : ''}`;
    if (previous?.statuses[0]?.issues[0]?.message !== message)
      log.error('cannot read config file', { file, error: reason });
    const status = makeStatus({
      source: this.name,
      level: 'error',
      reason: StatusReason.UNREADABLE,
      file,
      issues: [{ file, line: 0, column: 0, path: [], severity: 'error', message }],
      ...(lastGood.length > 0 ? { lastGood } : {}),
    });
    // An empty signature makes the next scan try again.
    return { signature: '', racy: true, hash: undefined, objects, statuses: [status] };
  }
}

function logDecoded(
  file: string,
  statuses: readonly ConfigStatus[],
  objects: ReadonlyMap<string, FileObject>,
): void {
  for (const s of statuses) {
    const fields = { file, ...(s.document !== undefined ? { document: s.document } : {}) };
    if (s.level === 'error')
      for (const m of s.messages) log.error('rejected config', { ...fields, error: m });
    else if (s.level === 'warning')
      for (const m of s.messages) log.warn('config warning', { ...fields, warning: m });
    else if (log.enabled('debug'))
      for (const m of s.messages) log.debug('skipped document', { ...fields, note: m });
  }
  for (const [id, o] of objects) if (o.retained) log.warn('keeping last good version', { file, key: id });
  if (log.enabled('debug')) log.debug('config file read', { file, objects: objects.size });
}

function isConfigFile(name: string): boolean {
  return CONFIG_FILE_EXTENSIONS.includes(path.extname(name).toLowerCase());
}

function isGone(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

function isUnder(file: string, dir: string): boolean {
  return file === dir || file.startsWith(dir.endsWith(path.sep) ? dir : dir + path.sep);
}

function checkMs(field: string, value: number): number {
  if (!Number.isFinite(value) || value < 0) {
    throw new MizzenError(
      ErrorCode.INVALID_ARGUMENT,
      `directory source: ${field} must be a number of milliseconds >= 0, got ${value}`,
    );
  }
  return value;
}

async function forEachLimit<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
