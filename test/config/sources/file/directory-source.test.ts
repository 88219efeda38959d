/**
 * The directory source against real files in a temp directory, with real watchers. Every wait
 * is on an event (a store event, a scan, the source settling) under a timeout guard; nothing
 * sleeps. Between steps the test waits for the source to settle, so a write never races a scan
 * still reading the previous step.
 */
import assert from 'node:assert/strict';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  renameSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { type TestContext, test } from 'node:test';
import {
  DirectorySource,
  type DirectorySourceOptions,
} from '../../../../src/config/sources/file/directory-source.ts';
import { MemorySource } from '../../../../src/config/sources/memory/memory-source.ts';
import { type ConfigStoreController, createConfigStore } from '../../../../src/config/store.ts';
import { MizzenError } from '../../../../src/lib/errors.ts';
import { setLogSink } from '../../../../src/lib/log.ts';
import { assertNoOpenHandles, authz, docs, dr, makeTempDir, Recorder, within } from '../../helpers.ts';

interface Running {
  readonly dir: string;
  readonly source: DirectorySource;
  readonly store: ConfigStoreController;
  readonly rec: Recorder;
  /** Writes a file (creating directories), relative to the temp dir. */
  write(rel: string, text: string): void;
  /** Waits until the source has nothing left to scan. */
  settle(): Promise<void>;
  stop(): Promise<void>;
}

async function start(
  ctx: TestContext,
  setup: (dir: string) => void = () => {},
  options: Partial<DirectorySourceOptions> & { sub?: string } = {},
): Promise<Running> {
  const { dir, cleanup } = makeTempDir();
  setup(dir);
  const root = options.sub ? path.join(dir, options.sub) : dir;
  const source = new DirectorySource({ debounceMs: 20, ...options, path: root });
  const store = createConfigStore({ sources: [source] });
  const rec = new Recorder(store);
  const ac = new AbortController();
  const running = store.run(ac.signal);
  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      ac.abort();
      await running;
      cleanup();
    })());
  // Stops the source even when an assertion failed half-way.
  ctx.after(stop);
  await within(store.waitForSync(), 'initial sync');
  return {
    dir,
    source,
    store,
    rec,
    write: (rel, text) => {
      mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
      writeFileSync(path.join(dir, rel), text);
    },
    settle: () => within(source.settled(), 'the source to settle'),
    stop,
  };
}

function write(dir: string, rel: string, text: string): void {
  mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
  writeFileSync(path.join(dir, rel), text);
}

const host = (r: { spec: unknown } | undefined) => (r?.spec as { host: string } | undefined)?.host;

test('initial load: recursive, multi-document, YAML and JSON; hidden entries and other extensions ignored', async (ctx) => {
  const t = await start(ctx, (dir) => {
    write(dir, 'a.yaml', docs(dr('a'), authz('p', 'prod')));
    write(dir, 'nested/deeper/b.yml', dr('b', { namespace: 'prod' }));
    write(dir, 'c.json', dr('c', { json: true }));
    write(dir, 'UPPER.YAML', dr('upper'));
    write(dir, '.hidden.yaml', dr('hidden-file'));
    write(dir, '.git/d.yaml', dr('hidden-dir'));
    write(dir, 'notes.txt', dr('txt'));
    write(dir, 'a.yaml~', dr('backup'));
    write(dir, 'deploy.yaml', 'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n');
  });
  const names = (kind: string) => t.store.list(kind).map((r) => `${r.meta.namespace}/${r.meta.name}`);
  assert.deepEqual(names('DestinationRule'), ['default/a', 'default/c', 'default/upper', 'prod/b']);
  assert.deepEqual(names('AuthorizationPolicy'), ['prod/p']);
  const b = t.store.get('DestinationRule', 'prod', 'b')!;
  assert.deepEqual(b.meta.source, { file: path.join(t.dir, 'nested/deeper/b.yml'), line: 1, column: 1 });
  assert.equal(t.store.get('AuthorizationPolicy', 'prod', 'p')!.meta.source?.line, 8);
  const statuses = t.store.statuses();
  assert.equal(statuses.length, 1);
  assert.equal(statuses[0].level, 'info');
  assert.equal(statuses[0].reason, 'skipped');
  assert.equal(statuses[0].file, path.join(t.dir, 'deploy.yaml'));
  const events = await t.rec.next(5, 'the initial adds');
  assert.ok(events.every((e) => e.type === 'add'));
  await t.stop();
});

test('add, modify and delete files', async (ctx) => {
  const t = await start(ctx);
  t.write('a.yaml', docs(dr('a'), dr('b')));
  const added = await t.rec.next(2, 'two adds');
  assert.deepEqual(
    added.map((e) => [e.type, e.id]),
    [
      ['add', 'DestinationRule/default/a'],
      ['add', 'DestinationRule/default/b'],
    ],
  );
  await t.settle();

  t.write('a.yaml', docs(dr('a', { host: 'changed.example.com' }), dr('b')));
  const [update] = await t.rec.next(1, 'an update');
  assert.equal(update.type, 'update');
  assert.equal(update.id, 'DestinationRule/default/a');
  assert.equal(host(update.current), 'changed.example.com');
  assert.ok(Number(update.current!.meta.resourceVersion) > Number(update.previous!.meta.resourceVersion));
  await t.settle();

  rmSync(path.join(t.dir, 'a.yaml'));
  const deleted = await t.rec.next(2, 'two deletes');
  assert.deepEqual(deleted.map((e) => e.type).sort(), ['delete', 'delete']);
  assert.equal(t.store.snapshot().size, 0);
  await t.stop();
});

test('a bad file is rejected with a logged error and a status; its last good objects keep serving', async (ctx) => {
  const lines: string[] = [];
  const previousSink = setLogSink((line) => lines.push(line));
  try {
    const t = await start(ctx, (dir) => write(dir, 'a.yaml', docs(dr('a'), dr('b'))));
    await t.rec.next(2, 'initial adds');
    const before = t.store.get('DestinationRule', 'default', 'b')!;
    await t.settle();

    // The second document breaks, the first changes: the sibling loads, the broken one keeps its last good version.
    const broken = dr('b').replace('spec:\n', 'spec:\n  bogusField: 1\n');
    t.write('a.yaml', docs(dr('a', { host: 'new.example.com' }), broken));
    const [update] = await t.rec.next(1, 'the sibling update');
    assert.equal(update.id, 'DestinationRule/default/a');
    assert.equal(
      t.store.get('DestinationRule', 'default', 'b'),
      before,
      'last good version, same resourceVersion',
    );
    const [status] = t.store.statuses();
    assert.equal(status.level, 'error');
    assert.equal(status.reason, 'invalid');
    assert.equal(status.file, path.join(t.dir, 'a.yaml'));
    assert.equal(status.document, 1);
    assert.deepEqual(status.lastGood, [{ kind: 'DestinationRule', namespace: 'default', name: 'b' }]);
    assert.match(
      status.messages[0],
      new RegExp(`^${escapeRegExp(path.join(t.dir, 'a.yaml'))}:\\d+:\\d+ spec\\.bogusField: `),
    );
    const logged = lines.filter((l) => l.includes('config:file') && l.includes('rejected config'));
    assert.equal(logged.length, 1);
    assert.ok(logged[0].includes('spec.bogusField'), logged[0]);
    assert.ok(
      lines.some((l) => l.includes('keeping last good version') && l.includes('DestinationRule/default/b')),
    );
    await t.settle();

    // The whole file becomes unparseable: everything it held keeps serving.
    t.write('a.yaml', 'apiVersion: [unclosed\n');
    await within(t.source.nextScan(), 'a scan');
    await t.settle();
    assert.equal(t.store.list('DestinationRule').length, 2);
    const [syntax] = t.store.statuses();
    assert.equal(syntax.reason, 'syntax');
    assert.deepEqual(
      syntax.lastGood?.map((k) => k.name),
      ['a', 'b'],
    );

    // Fixed: the file's content rules again.
    t.write('a.yaml', dr('b', { host: 'fixed.example.com' }));
    const fixed = await t.rec.next(2, 'the fixed file');
    assert.deepEqual(
      fixed.map((e) => [e.type, e.id]),
      [
        ['update', 'DestinationRule/default/b'],
        ['delete', 'DestinationRule/default/a'],
      ],
    );
    assert.equal(host(fixed[0].current), 'fixed.example.com');
    await t.settle();
    assert.deepEqual(t.store.statuses(), []);
    await t.stop();
  } finally {
    setLogSink(previousSink);
  }
});

test('a new file that is invalid loads nothing and reports every problem; its good siblings load', async (ctx) => {
  const t = await start(ctx);
  t.write('new.yaml', docs(dr('good'), dr('Bad_Name'), authz('fine')));
  const added = await t.rec.next(2, 'the two good documents');
  assert.deepEqual(
    added.map((e) => e.id),
    ['DestinationRule/default/good', 'AuthorizationPolicy/default/fine'],
  );
  const [s] = t.store.statuses();
  assert.equal(s.document, 1);
  assert.deepEqual(s.key, { kind: 'DestinationRule', namespace: 'default', name: 'Bad_Name' });
  assert.equal(s.lastGood, undefined);
  await t.stop();
});

test('renaming a file keeps its objects without a delete', async (ctx) => {
  const t = await start(ctx, (dir) => write(dir, 'a.yaml', docs(dr('a'), authz('p'))));
  await t.rec.next(2, 'initial adds');
  const before = t.store.get('DestinationRule', 'default', 'a')!;
  await t.settle();
  renameSync(path.join(t.dir, 'a.yaml'), path.join(t.dir, 'b.yaml'));
  const moved = await t.rec.next(2, 'the moved objects');
  assert.deepEqual(
    moved.map((e) => e.type),
    ['update', 'update'],
    'the source location changed; nothing was deleted',
  );
  const after = t.store.get('DestinationRule', 'default', 'a')!;
  assert.equal(after.meta.source?.file, path.join(t.dir, 'b.yaml'));
  assert.deepEqual(after.spec, before.spec);
  await t.settle();
  t.write('sentinel.yaml', dr('sentinel'));
  const [next] = await t.rec.next(1, 'the sentinel');
  assert.equal(next.id, 'DestinationRule/default/sentinel', 'no late delete or add from the rename');
  await t.stop();
});

test("editors' atomic saves (temp file renamed over the original, or backup-and-write) are seen", async (ctx) => {
  const t = await start(ctx, (dir) => write(dir, 'a.yaml', dr('a')));
  await t.rec.next(1, 'initial add');
  await t.settle();

  // Hidden temp file, then rename over (VS Code, JetBrains, most tools).
  writeFileSync(path.join(t.dir, '.a.yaml.tmp'), dr('a', { host: 'v2.example.com' }));
  renameSync(path.join(t.dir, '.a.yaml.tmp'), path.join(t.dir, 'a.yaml'));
  const [v2] = await t.rec.next(1, 'the first save');
  assert.deepEqual([v2.type, host(v2.current)], ['update', 'v2.example.com']);
  await t.settle();

  // Visible temp file with another extension, renamed over.
  writeFileSync(path.join(t.dir, 'a.yaml.4913.tmp'), dr('a', { host: 'v3.example.com' }));
  renameSync(path.join(t.dir, 'a.yaml.4913.tmp'), path.join(t.dir, 'a.yaml'));
  const [v3] = await t.rec.next(1, 'the second save');
  assert.deepEqual([v3.type, host(v3.current)], ['update', 'v3.example.com']);
  await t.settle();

  // vim without backupcopy: the original is renamed to a backup, then a new file is written.
  renameSync(path.join(t.dir, 'a.yaml'), path.join(t.dir, 'a.yaml~'));
  writeFileSync(path.join(t.dir, 'a.yaml'), dr('a', { host: 'v4.example.com' }));
  rmSync(path.join(t.dir, 'a.yaml~'));
  const [v4] = await t.rec.next(1, 'the third save');
  assert.deepEqual([v4.type, host(v4.current)], ['update', 'v4.example.com']);
  await t.stop();
});

test('directories created later are watched, and removing one deletes its objects', async (ctx) => {
  const t = await start(ctx);
  mkdirSync(path.join(t.dir, 'team-a/sub'), { recursive: true });
  writeFileSync(path.join(t.dir, 'team-a/sub/x.yaml'), dr('x'));
  const [x] = await t.rec.next(1, 'the file in the new directory');
  assert.equal(x.id, 'DestinationRule/default/x');
  await t.settle();

  // The new directory is watched itself: a file added there later is seen too.
  writeFileSync(path.join(t.dir, 'team-a/sub/y.yaml'), dr('y'));
  const [y] = await t.rec.next(1, 'a second file in the new directory');
  assert.equal(y.id, 'DestinationRule/default/y');
  await t.settle();

  // Deleted and recreated under the same name: the new directory is watched, not the old inode.
  rmSync(path.join(t.dir, 'team-a'), { recursive: true });
  const removed = await t.rec.next(2, 'the deletes');
  assert.deepEqual(
    removed.map((e) => e.type),
    ['delete', 'delete'],
  );
  await t.settle();
  mkdirSync(path.join(t.dir, 'team-a/sub'), { recursive: true });
  await t.settle();
  writeFileSync(path.join(t.dir, 'team-a/sub/z.yaml'), dr('z'));
  const [z] = await t.rec.next(1, 'a file in the recreated directory');
  assert.equal(z.id, 'DestinationRule/default/z');
  await t.stop();
});

test('a config path that does not exist yet is waited for', async (ctx) => {
  const t = await start(ctx, () => {}, { sub: 'later/config' });
  assert.equal(t.store.hasSynced(), true, 'a missing path is an empty, synced source');
  const [missing] = t.store.statuses();
  assert.equal(missing.reason, 'missing');
  assert.equal(missing.level, 'warning');
  await t.settle();

  mkdirSync(path.join(t.dir, 'later'));
  await t.settle();
  mkdirSync(path.join(t.dir, 'later/config'));
  writeFileSync(path.join(t.dir, 'later/config/a.yaml'), dr('a'));
  const [a] = await t.rec.next(1, 'the object in the new directory');
  assert.equal(a.id, 'DestinationRule/default/a');
  await t.settle();
  assert.deepEqual(t.store.statuses(), []);

  rmSync(path.join(t.dir, 'later'), { recursive: true });
  const [gone] = await t.rec.next(1, 'the delete');
  assert.equal(gone.type, 'delete');
  await t.settle();
  assert.equal(t.store.statuses()[0]?.reason, 'missing');
  await t.stop();
});

test('re-writing a file with unchanged content, or touching it, produces no event', async (ctx) => {
  const content = docs(dr('a'), authz('p'));
  const t = await start(ctx, (dir) => write(dir, 'a.yaml', content));
  const initial = await t.rec.next(2, 'initial adds');
  await t.settle();

  let scanned = t.source.nextScan();
  t.write('a.yaml', content);
  await within(scanned, 'the scan after the re-write');
  await t.settle();
  scanned = t.source.nextScan();
  const later = new Date(Date.now() + 60_000);
  utimesSync(path.join(t.dir, 'a.yaml'), later, later);
  await within(scanned, 'the scan after the touch');
  await t.settle();

  t.write('sentinel.yaml', dr('sentinel'));
  const [next] = await t.rec.next(1, 'the sentinel');
  assert.equal(next.id, 'DestinationRule/default/sentinel', 'nothing came before the sentinel');
  assert.equal(
    t.store.get('DestinationRule', 'default', 'a'),
    initial[0].current,
    'same object, same resourceVersion',
  );
  await t.stop();
});

test('two files defining the same object: the first in path order wins, the other is a conflict', async (ctx) => {
  const t = await start(ctx, (dir) => {
    write(dir, 'b.yaml', dr('dup', { host: 'from-b.example.com' }));
    write(dir, 'a.yaml', dr('dup', { host: 'from-a.example.com' }));
  });
  assert.equal(host(t.store.get('DestinationRule', 'default', 'dup')), 'from-a.example.com');
  const [conflict] = t.store.statuses();
  assert.equal(conflict.reason, 'conflict');
  assert.equal(conflict.file, path.join(t.dir, 'b.yaml'));
  assert.equal(
    conflict.messages[0],
    `${path.join(t.dir, 'b.yaml')}:4:3 metadata.name: DestinationRule/default/dup is also defined at ${path.join(t.dir, 'a.yaml')}:4:3, which comes first in path order and takes precedence; this definition is ignored`,
  );
  await t.rec.next(1, 'initial add');
  await t.settle();

  rmSync(path.join(t.dir, 'a.yaml'));
  const [takeover] = await t.rec.next(1, 'the other definition taking over');
  assert.equal(takeover.type, 'update');
  assert.equal(host(takeover.current), 'from-b.example.com');
  await t.settle();
  assert.deepEqual(t.store.statuses(), []);
  await t.stop();
});

test('objects without a namespace go to the configured default namespace', async (ctx) => {
  const t = await start(
    ctx,
    (dir) => write(dir, 'a.yaml', docs(dr('a'), dr('b', { namespace: 'explicit' }))),
    {
      defaultNamespace: 'istio-config',
    },
  );
  assert.ok(t.store.get('DestinationRule', 'istio-config', 'a'));
  assert.ok(t.store.get('DestinationRule', 'explicit', 'b'));
  assert.equal(t.store.get('DestinationRule', 'default', 'a'), undefined);
  await t.stop();
});

test('Kubernetes ConfigMap mounts: symlinked files and an atomically swapped ..data link', async (ctx) => {
  const t = await start(ctx, (dir) => {
    write(dir, '..2026_01/a.yaml', dr('a'));
    symlinkSync('..2026_01', path.join(dir, '..data'));
    symlinkSync('..data/a.yaml', path.join(dir, 'a.yaml'));
    symlinkSync('nowhere.yaml', path.join(dir, 'dangling.yaml'));
    symlinkSync('.', path.join(dir, 'loop'));
  });
  assert.deepEqual(
    t.store.list('DestinationRule').map((r) => r.meta.source?.file),
    [path.join(t.dir, 'a.yaml')],
    'through the visible symlink only; dangling links and loops are harmless',
  );
  await t.rec.next(1, 'initial add');
  await t.settle();

  // What the kubelet does on a ConfigMap update.
  write(t.dir, '..2026_02/a.yaml', dr('a', { host: 'updated.example.com' }));
  symlinkSync('..2026_02', path.join(t.dir, '..data_tmp'));
  renameSync(path.join(t.dir, '..data_tmp'), path.join(t.dir, '..data'));
  rmSync(path.join(t.dir, '..2026_01'), { recursive: true });
  const [update] = await t.rec.next(1, 'the update through the swapped link');
  assert.equal(host(update.current), 'updated.example.com');
  await t.stop();
});

test('an unreadable file keeps its last good objects and reports why', {
  skip: process.getuid?.() === 0 && 'root reads any file',
}, async (ctx) => {
  const t = await start(ctx, (dir) => write(dir, 'a.yaml', dr('a')));
  await t.rec.next(1, 'initial add');
  await t.settle();
  const scanned = t.source.nextScan();
  chmodSync(path.join(t.dir, 'a.yaml'), 0o000);
  await within(scanned, 'the scan after chmod');
  await t.settle();
  assert.ok(t.store.get('DestinationRule', 'default', 'a'));
  const [s] = t.store.statuses();
  assert.equal(s.reason, 'unreadable');
  assert.deepEqual(
    s.lastGood?.map((k) => k.name),
    ['a'],
  );
  chmodSync(path.join(t.dir, 'a.yaml'), 0o644);
  await t.stop();
});

test('a file larger than maxFileBytes is refused with a status', async (ctx) => {
  const t = await start(ctx, (dir) => write(dir, 'big.yaml', docs(dr('a'), dr('b'), dr('c'))), {
    maxFileBytes: 64,
  });
  assert.equal(t.store.snapshot().size, 0);
  const [s] = t.store.statuses();
  assert.equal(s.reason, 'unreadable');
  assert.match(s.messages[0], /larger than the 64 allowed/);
  await t.stop();
});

test('load() reads once without watching; a single file works as the path', async () => {
  const { dir, cleanup } = makeTempDir();
  try {
    write(dir, 'x/a.yaml', docs(dr('a'), dr('Bad_Name')));
    write(dir, 'x/b.yaml', authz('p'));
    const source = new DirectorySource({ path: path.join(dir, 'x') });
    const loaded = await within(source.load(), 'load');
    assert.deepEqual(
      loaded.resources.map((r) => r.meta.name),
      ['a', 'p'],
    );
    assert.equal(loaded.statuses.length, 1);
    assert.equal(loaded.statuses[0].reason, 'invalid');

    const single = new DirectorySource({ path: path.join(dir, 'x/b.yaml') });
    const one = await within(single.load(), 'load one file');
    assert.deepEqual(
      one.resources.map((r) => r.meta.name),
      ['p'],
    );
    assert.equal(one.resources[0].meta.source?.file, path.join(dir, 'x/b.yaml'));

    const missing = await within(
      new DirectorySource({ path: path.join(dir, 'nope') }).load(),
      'load missing',
    );
    assert.deepEqual(missing.resources, []);
    assert.equal(missing.statuses[0].reason, 'missing');
  } finally {
    cleanup();
  }
});

test('a single watched file: edits are seen through its directory', async (ctx) => {
  const t = await start(ctx, (dir) => write(dir, 'only.yaml', dr('a')), { sub: 'only.yaml' });
  await t.rec.next(1, 'initial add');
  await t.settle();
  t.write('other.yaml', dr('other')); // not the watched file
  t.write('only.yaml', dr('a', { host: 'edited.example.com' }));
  const [edit] = await t.rec.next(1, 'the edit');
  assert.equal(host(edit.current), 'edited.example.com');
  assert.equal(t.store.get('DestinationRule', 'default', 'other'), undefined);
  await t.stop();
});

test('a single file that is a symlink swapped through ..data (a mounted ConfigMap key) is followed', async (ctx) => {
  const t = await start(
    ctx,
    (dir) => {
      write(dir, 'mount/..v1/mesh.yaml', dr('a'));
      symlinkSync('..v1', path.join(dir, 'mount/..data'));
      symlinkSync('..data/mesh.yaml', path.join(dir, 'mount/mesh.yaml'));
    },
    { sub: 'mount/mesh.yaml' },
  );
  await t.rec.next(1, 'initial add');
  await t.settle();
  write(t.dir, 'mount/..v2/mesh.yaml', dr('a', { host: 'v2.example.com' }));
  symlinkSync('..v2', path.join(t.dir, 'mount/..data_tmp'));
  renameSync(path.join(t.dir, 'mount/..data_tmp'), path.join(t.dir, 'mount/..data'));
  const [update] = await t.rec.next(1, 'the update through the swapped link');
  assert.equal(host(update.current), 'v2.example.com');
  await t.stop();
});

test('without watching, changes are read on rescan() only; pollIntervalMs rescans by itself', async (ctx) => {
  const manual = await start(ctx, () => {}, { watch: false });
  manual.write('a.yaml', dr('a'));
  manual.write('b.yaml', dr('b'));
  await within(manual.source.rescan(), 'a manual rescan');
  const added = await manual.rec.next(2, 'the adds after rescan');
  assert.deepEqual(
    added.map((e) => e.id),
    ['DestinationRule/default/a', 'DestinationRule/default/b'],
  );
  await manual.stop();

  const polled = await start(ctx, () => {}, { watch: false, pollIntervalMs: 10 });
  polled.write('a.yaml', dr('a'));
  const [a] = await polled.rec.next(1, 'the add found by polling');
  assert.equal(a.id, 'DestinationRule/default/a');
  await polled.stop();
});

test('an unreadable directory keeps what it held and reports why', {
  skip: process.getuid?.() === 0 && 'root reads any directory',
}, async (ctx) => {
  const t = await start(ctx, (dir) => write(dir, 'locked/a.yaml', dr('a')));
  await t.rec.next(1, 'initial add');
  await t.settle();
  const scanned = t.source.nextScan();
  chmodSync(path.join(t.dir, 'locked'), 0o000);
  writeFileSync(path.join(t.dir, 'trigger.yaml'), dr('trigger'));
  await within(scanned, 'the scan after chmod');
  await t.settle();
  assert.ok(t.store.get('DestinationRule', 'default', 'a'), 'still served');
  const s = t.store.statuses().find((x) => x.reason === 'unreadable');
  assert.equal(s?.file, path.join(t.dir, 'locked'));
  assert.match(s!.messages[0], /cannot read: .*what it held before keeps serving/);
  chmodSync(path.join(t.dir, 'locked'), 0o755);
  await t.stop();
});

test('a directory that cannot be watched falls back to polling', {
  skip: process.getuid?.() === 0 && 'root can watch any directory',
}, async (ctx) => {
  const lines: string[] = [];
  const previousSink = setLogSink((line) => lines.push(line));
  ctx.after(() => setLogSink(previousSink));
  const t = await start(
    ctx,
    (dir) => {
      write(dir, 'locked/a.yaml', dr('a'));
      chmodSync(path.join(dir, 'locked'), 0o000);
      // Registered before the source's own cleanup, so the directory can be removed even if an assertion fails.
      ctx.after(() => {
        if (existsSync(path.join(dir, 'locked'))) chmodSync(path.join(dir, 'locked'), 0o755);
      });
    },
    { pollIntervalMs: 0 },
  );
  assert.ok(
    lines.some((l) => l.includes('polling instead')),
    'the fallback is logged',
  );
  assert.equal(t.store.statuses()[0]?.reason, 'unreadable');
  chmodSync(path.join(t.dir, 'locked'), 0o755);
  const [a] = await t.rec.next(1, 'the object once the directory is readable');
  assert.equal(a.id, 'DestinationRule/default/a');
  await t.stop();
});

test('beside another source in one store: listed first, the directory wins a shared key', async (ctx) => {
  const { dir, cleanup } = makeTempDir();
  write(dir, 'a.yaml', dr('shared', { host: 'from-file.example.com' }));
  const files = new DirectorySource({ path: dir, debounceMs: 20 });
  const mem = new MemorySource({ name: 'api' });
  mem.apply(docs(dr('shared', { host: 'from-api.example.com' }), dr('api-only')));
  const store = createConfigStore({ sources: [files, mem] });
  const ac = new AbortController();
  const running = store.run(ac.signal);
  ctx.after(async () => {
    ac.abort();
    await running;
    cleanup();
  });
  await within(store.waitForSync(), 'sync of both sources');
  assert.equal(host(store.get('DestinationRule', 'default', 'shared')), 'from-file.example.com');
  assert.ok(store.get('DestinationRule', 'default', 'api-only'));
  const conflict = store.statuses().find((x) => x.reason === 'conflict');
  assert.equal(conflict?.source, 'api');
  const rec = new Recorder(store, 'DestinationRule', { replay: false });
  rmSync(path.join(dir, 'a.yaml'));
  const [takeover] = await rec.next(1, 'the api object taking over');
  assert.deepEqual([takeover.type, host(takeover.current)], ['update', 'from-api.example.com']);
});

test('options are validated with messages that name the field', () => {
  const bad = (o: Partial<DirectorySourceOptions>, re: RegExp) =>
    assert.throws(
      () => new DirectorySource({ path: '/tmp/x', ...o }),
      (e: unknown) => e instanceof MizzenError && re.test(e.message),
    );
  bad({ path: '' }, /path must be a non-empty string/);
  bad({ debounceMs: -5 }, /debounceMs must be a number of milliseconds >= 0, got -5/);
  bad({ debounceMs: 500, maxDebounceMs: 100 }, /maxDebounceMs \(100\) must be at least debounceMs \(500\)/);
  bad({ pollIntervalMs: Number.NaN }, /pollIntervalMs/);
  bad({ defaultNamespace: 'Bad_NS' }, /defaultNamespace "Bad_NS" is not a valid namespace name/);
  bad({ maxFileBytes: 0 }, /maxFileBytes must be a positive integer/);
  const s = new DirectorySource({ path: 'relative/dir' });
  assert.equal(s.name, 'file:relative/dir');
  assert.equal(s.defaultNamespace, 'default');
});

test('leaves no open handles', assertNoOpenHandles);

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
