/**
 * `mizzenctl analyze` as users run it: the real bin/mizzenctl.js in a child process, its
 * exact output and exit codes.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parse } from 'yaml';

/** Handles the runner itself holds (its stdio pipes), to compare with at the end. */
const BASELINE = process.getActiveResourcesInfo().sort();
const ROOT = join(import.meta.dirname, '../../..');
const NODE = join(ROOT, 'node_modules/.bin/node');
const BIN = join(ROOT, 'bin/mizzenctl.js');

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function mizzenctl(args: string[], options: { cwd?: string; stdin?: string } = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(NODE, [BIN, ...args], {
      cwd: options.cwd ?? ROOT,
      env: { ...process.env, TERM: 'dumb', NO_COLOR: '1' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(options.stdin ?? '');
  });
}

const work = mkdtempSync(join(tmpdir(), 'mizzenctl-analyze-'));
after(() => rmSync(work, { recursive: true, force: true }));

function file(rel: string, text: string): string {
  const path = join(work, rel);
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, text);
  return path;
}

const REVIEWS_TYPO = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts:
  - reviews
  http:
  - route:
    - destination:
        host: reviews
        subset: v1
      weight: 90
    - destination:
        host: reviewz
      weight: 10
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: reviews
spec:
  hosts: [reviews.default.svc.cluster.local]
  ports: [{number: 9080, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1, labels: {version: v1}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: reviews
spec:
  host: reviews
  subsets:
  - name: v1
    labels: {version: v1}
`;

const WARNING_ONLY = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: nowhere
spec:
  host: nowhere.example.com
`;

file('typo/reviews.yaml', REVIEWS_TYPO);
file('warn/dr.yaml', WARNING_ONLY);

const TYPO_LINE =
  'Error [IST0101] (VirtualService default/reviews reviews.yaml:15) Referenced host not found: "reviewz"';
const WARN_LINE =
  'Warning [IST0174] (DestinationRule default/nowhere dr.yaml:6) The host "nowhere.example.com" of this DestinationRule matches no service (ServiceEntry or Kubernetes Service) visible in namespace "default".';

test('analyze examples/ accepts the bookinfo example: exit 0, nothing on stdout', async () => {
  const r = await mizzenctl(['analyze', 'examples/']);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr, '\u2714 No validation issues found when analyzing examples/.\n');
  assert.equal(r.code, 0);
});

test('an error prints one exact line, names the file as given, and exits 79', async () => {
  const r = await mizzenctl(['analyze', 'reviews.yaml'], { cwd: join(work, 'typo') });
  assert.equal(r.stdout, `${TYPO_LINE}\n`);
  assert.equal(
    r.stderr,
    'Error: Analyzers found issues when analyzing reviews.yaml.\nSee https://istio.io/latest/docs/reference/config/analysis for more information about causes and resolutions.\n',
  );
  assert.equal(r.code, 79);
});

test('-o json prints istioctl-shaped objects', async () => {
  const r = await mizzenctl(['analyze', '-o', 'json', 'reviews.yaml'], { cwd: join(work, 'typo') });
  assert.equal(r.code, 79);
  assert.deepEqual(JSON.parse(r.stdout), [
    {
      code: 'IST0101',
      documentationUrl:
        'https://istio.io/latest/docs/reference/config/analysis/ist0101/?ref=mizzenctl-analyze',
      level: 'Error',
      message: 'Referenced host not found: "reviewz"',
      origin: 'VirtualService default/reviews',
      reference: 'reviews.yaml:15',
    },
  ]);
});

test('-o yaml prints the same list as YAML', async () => {
  const r = await mizzenctl(['analyze', '--output=yaml', 'typo/reviews.yaml'], { cwd: work });
  assert.equal(r.code, 79);
  assert.deepEqual(parse(r.stdout), [
    {
      code: 'IST0101',
      documentationUrl:
        'https://istio.io/latest/docs/reference/config/analysis/ist0101/?ref=mizzenctl-analyze',
      level: 'Error',
      message: 'Referenced host not found: "reviewz"',
      origin: 'VirtualService default/reviews',
      reference: 'typo/reviews.yaml:15',
    },
  ]);
});

test('warnings print but pass the default failure threshold (Error)', async () => {
  const r = await mizzenctl(['analyze', 'dr.yaml'], { cwd: join(work, 'warn') });
  assert.equal(r.stdout, `${WARN_LINE}\n`);
  assert.equal(r.stderr, '');
  assert.equal(r.code, 0);
});

test('--failure-threshold Warning makes warnings fail (case-insensitive level)', async () => {
  const r = await mizzenctl(['analyze', '--failure-threshold', 'warning', 'dr.yaml'], {
    cwd: join(work, 'warn'),
  });
  assert.equal(r.stdout, `${WARN_LINE}\n`);
  assert.equal(r.code, 79);
});

test('--output-threshold hides lower levels; the exit code still counts them', async () => {
  const hidden = await mizzenctl(['analyze', '--output-threshold', 'Error', 'dr.yaml'], {
    cwd: join(work, 'warn'),
  });
  assert.equal(hidden.stdout, '');
  assert.equal(hidden.stderr, '\u2714 No validation issues found when analyzing dr.yaml.\n');
  assert.equal(hidden.code, 0);
  const failing = await mizzenctl(
    ['analyze', '--output-threshold', 'Error', '--failure-threshold', 'Warning', 'dr.yaml'],
    { cwd: join(work, 'warn') },
  );
  assert.equal(failing.stdout, '');
  assert.equal(failing.code, 79);
});

test('files and directories combine (-f and arguments); directories are searched recursively', async () => {
  file('tree/a/b/dr.yaml', WARNING_ONLY.replace(/nowhere/g, 'deep'));
  file('tree/top.yml', WARNING_ONLY.replace(/nowhere/g, 'top'));
  file('tree/notes.txt', 'not config');
  const r = await mizzenctl(['analyze', 'tree', '-f', 'warn/dr.yaml'], { cwd: work });
  assert.equal(r.code, 0);
  assert.deepEqual(
    r.stdout
      .trim()
      .split('\n')
      .map((l) => l.match(/\((\S+ \S+ \S+)\)/)?.[1]),
    [
      'DestinationRule default/deep tree/a/b/dr.yaml:6',
      'DestinationRule default/nowhere warn/dr.yaml:6',
      'DestinationRule default/top tree/top.yml:6',
    ],
  );
});

test('a YAML syntax error is IST0106 with its file and line', async () => {
  file('syntax/bad.yaml', 'apiVersion: v1\nkind: [Service\nmetadata: {}\n');
  const r = await mizzenctl(['analyze', 'syntax/bad.yaml'], { cwd: work });
  assert.match(r.stdout, /^Error \[IST0106\] \(syntax\/bad\.yaml:\d+\) Schema validation error: YAML: .+\n$/);
  assert.equal(r.code, 79);
});

test('a missing input exits 66 and names it; nothing is analyzed', async () => {
  const r = await mizzenctl(['analyze', 'typo/reviews.yaml', 'no-such-dir/'], { cwd: work });
  assert.equal(r.stdout, '');
  assert.equal(r.stderr, 'error: cannot read "no-such-dir/": no such file or directory\n');
  assert.equal(r.code, 66);
});

test('an unreadable entry inside a directory (a dangling link) exits 66', async () => {
  mkdirSync(join(work, 'dangling'), { recursive: true });
  symlinkSync(join(work, 'dangling/missing-target.yaml'), join(work, 'dangling/link.yaml'));
  const r = await mizzenctl(['analyze', 'dangling'], { cwd: work });
  assert.equal(r.stderr, 'error: cannot read "dangling/link.yaml": no such file or directory\n');
  assert.equal(r.code, 66);
});

test('standard input is read for "-"', async () => {
  const r = await mizzenctl(['analyze', '-'], { stdin: REVIEWS_TYPO });
  assert.equal(r.stdout, `${TYPO_LINE.replace('reviews.yaml:15', '-:15')}\n`);
  assert.equal(r.code, 79);
});

test('--suppress silences a code on one resource', async () => {
  const r = await mizzenctl(['analyze', '-S', 'IST0101=VirtualService reviews.default', 'reviews.yaml'], {
    cwd: join(work, 'typo'),
  });
  assert.equal(r.stdout, '');
  assert.equal(r.code, 0);
});

test('usage errors exit 64: unknown option, bad format, bad level, nothing to analyze', async () => {
  for (const args of [
    ['analyze', '--bogus', 'x.yaml'],
    ['analyze', '-o', 'xml', 'x.yaml'],
    ['analyze', '--failure-threshold', 'fatal', 'x.yaml'],
    ['analyze'],
    ['frobnicate'],
  ]) {
    const r = await mizzenctl(args);
    assert.equal(r.code, 64, args.join(' '));
    assert.equal(r.stdout, '', args.join(' '));
    assert.notEqual(r.stderr, '', args.join(' '));
  }
});

test('--help describes the command and its exit codes; -L lists the analyzers', async () => {
  const help = await mizzenctl(['analyze', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Usage: mizzenctl analyze \[options\] \[paths\.\.\.\]/);
  assert.match(help.stdout, /--failure-threshold <level>/);
  assert.match(help.stdout, /79 {2}some message reached --failure-threshold/);
  const list = await mizzenctl(['analyze', '-L']);
  assert.equal(list.code, 0);
  assert.match(list.stdout, /^\* destinationrule\.CaCertificateAnalyzer:\n/);
  assert.match(list.stdout, /IST0101 ReferencedResourceNotFound/);
});

test('leaves no open handles', async () => {
  // A closed handle is released in the close phase after its 'close' event: two turns.
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(process.getActiveResourcesInfo().sort(), BASELINE);
});
