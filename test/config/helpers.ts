/**
 * Test helpers for the config store: temp directories, YAML fixtures, an event recorder that
 * waits on events (never on time), and the open-handle check every test file ends with.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ConfigResource } from '../../src/api/resource.ts';
import type { ConfigEvent, ConfigStoreController } from '../../src/config/store.ts';

/** Guards a wait: rejects if `promise` has not settled after `ms` (default 10 s). Never used to wait for time. */
export async function within<T>(promise: Promise<T>, what: string, ms = 10_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, guard]);
  } finally {
    clearTimeout(timer);
  }
}

export function makeTempDir(prefix = 'mizzen-config-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface Recorded {
  readonly type: ConfigEvent['type'];
  readonly id: string;
  readonly event: ConfigEvent;
  readonly previous: ConfigResource | undefined;
  readonly current: ConfigResource | undefined;
}

/** Records every event of a store (or of one kind) and lets a test wait for the next ones. */
export class Recorder {
  readonly events: Recorded[] = [];
  #read = 0;
  #wake: (() => void) | undefined;
  readonly stop: () => void;

  constructor(store: ConfigStoreController, kind = '*', options: { replay?: boolean } = {}) {
    this.stop = store.on(
      kind,
      (previous, current, event) => {
        const k = event.key;
        this.events.push({
          type: event.type,
          id: `${k.kind}/${k.namespace}/${k.name}`,
          event,
          previous,
          current,
        });
        this.#wake?.();
      },
      { name: 'test-recorder', ...options },
    );
  }

  /** Events not yet taken with `next`/`take`. */
  get unread(): Recorded[] {
    return this.events.slice(this.#read);
  }

  /** Waits until `n` unread events exist and takes them. */
  async next(n = 1, what = `${n} config event(s)`): Promise<Recorded[]> {
    await within(
      new Promise<void>((resolve) => {
        const check = () => {
          if (this.events.length - this.#read >= n) {
            this.#wake = undefined;
            resolve();
          }
        };
        this.#wake = check;
        check();
      }),
      what,
    );
    const out = this.events.slice(this.#read, this.#read + n);
    this.#read += n;
    return out;
  }

  /** Waits for events until one matches `stop`; returns all of them (the match last). */
  async until(stop: (r: Recorded) => boolean, what: string): Promise<Recorded[]> {
    const out: Recorded[] = [];
    for (;;) {
      const [r] = await this.next(1, what);
      out.push(r);
      if (stop(r)) return out;
    }
  }
}

/** A DestinationRule as YAML; `host` and `labels` vary content, nothing else is needed. */
export function dr(
  name: string,
  options: { namespace?: string; host?: string; labels?: Record<string, string>; json?: boolean } = {},
): string {
  const { namespace, host = `${name}.example.com`, labels } = options;
  if (options.json) {
    return JSON.stringify({
      apiVersion: 'networking.istio.io/v1',
      kind: 'DestinationRule',
      metadata: { name, ...(namespace ? { namespace } : {}), ...(labels ? { labels } : {}) },
      spec: { host },
    });
  }
  const lines = [
    'apiVersion: networking.istio.io/v1',
    'kind: DestinationRule',
    'metadata:',
    `  name: ${name}`,
  ];
  if (namespace) lines.push(`  namespace: ${namespace}`);
  if (labels) {
    lines.push('  labels:');
    for (const [k, v] of Object.entries(labels)) lines.push(`    ${k}: "${v}"`);
  }
  lines.push('spec:', `  host: ${host}`);
  return `${lines.join('\n')}\n`;
}

/** An AuthorizationPolicy with an empty spec (valid whatever the kind's schema grows into). */
export function authz(name: string, namespace?: string): string {
  return [
    'apiVersion: security.istio.io/v1',
    'kind: AuthorizationPolicy',
    'metadata:',
    `  name: ${name}`,
    ...(namespace ? [`  namespace: ${namespace}`] : []),
    'spec: {}',
    '',
  ].join('\n');
}

export function docs(...parts: string[]): string {
  return parts.join('---\n');
}

/** Resources that are allowed to outlive the tests: the runner's stdio pipes. */
const ALLOWED = new Set(['PipeWrap', 'TTYWrap']);

/**
 * Fails when a test left a watcher, timer or socket open. Two loop turns first: a closed
 * handle is released in the close phase after its 'close' event.
 */
export async function assertNoOpenHandles(): Promise<void> {
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  const open = process.getActiveResourcesInfo().filter((r) => !ALLOWED.has(r));
  assert.deepEqual(open, [], `open handles left behind: ${open.join(', ')}`);
}
