/**
 * ConfigView on its own: readiness, the previous version serving while the new one warms,
 * per-source timeouts (fake timers), and make-before-break event order.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  CLUSTER_TYPE_URL,
  ENDPOINT_TYPE_URL,
  LISTENER_TYPE_URL,
  ROUTE_TYPE_URL,
  shortTypeName,
} from '../../../src/lib/xds/type-urls.ts';
import type { DecodedResource, Dependency } from '../../../src/proxy/xds/resource-types/resource-type.ts';
import { type AcceptedResource, ConfigView, type XdsUpdate } from '../../../src/proxy/xds/warming.ts';
import { FakeTimers } from './fake-timers.ts';

let seq = 0;
function res(typeUrl: string, name: string, deps: Dependency[] = []): DecodedResource {
  return { typeUrl, name, message: {}, compiled: undefined, hash: String(++seq), dependencies: deps };
}
const eds = (name: string, t?: number): Dependency => ({
  typeUrl: ENDPOINT_TYPE_URL,
  name,
  ...(t === undefined ? {} : { initialFetchTimeoutMs: t }),
});
const rds = (name: string): Dependency => ({ typeUrl: ROUTE_TYPE_URL, name });

class Source {
  readonly maps = new Map<string, Map<string, AcceptedResource>>();
  readonly absent = new Set<string>();
  put(r: DecodedResource): this {
    let m = this.maps.get(r.typeUrl);
    if (!m) this.maps.set(r.typeUrl, (m = new Map()));
    m.set(r.name, { resource: r, version: 'v', acceptedAt: 0 });
    return this;
  }
  drop(typeUrl: string, name: string): this {
    this.maps.get(typeUrl)?.delete(name);
    return this;
  }
  accepted = (t: string) => this.maps.get(t) ?? new Map();
  resolved = (d: Dependency) => this.maps.get(d.typeUrl)?.has(d.name) === true || this.absent.has(d.name);
}

function show(events: XdsUpdate[]): string[] {
  return events.map((e) =>
    [
      shortTypeName(e.typeUrl),
      ...e.added.map((r) => `+${r.name}`),
      ...e.updated.map((r) => `~${r.name}`),
      ...e.removed.map((n) => `-${n}`),
    ].join(' '),
  );
}

function setup(defaultTimeoutMs = 15_000) {
  const timers = new FakeTimers();
  const timeouts: string[] = [];
  const view = new ConfigView({
    defaultTimeoutMs,
    timers,
    onTimeout: (t, n) => timeouts.push(`${shortTypeName(t)}/${n}`),
  });
  return { timers, timeouts, view, src: new Source() };
}

test('a parent waits for its dependencies; leaves are shown only with an active parent', () => {
  const { view, src } = setup();
  src.put(res(CLUSTER_TYPE_URL, 'a', [eds('a')])).put(res(CLUSTER_TYPE_URL, 's'));
  assert.deepEqual(show(view.reconcile(src)), ['CDS +s']);
  assert.deepEqual([...view.wanted(ENDPOINT_TYPE_URL)], ['a']);
  assert.equal(view.isWarming(CLUSTER_TYPE_URL, 'a'), true);
  src.put(res(ENDPOINT_TYPE_URL, 'a')).put(res(ENDPOINT_TYPE_URL, 'unreferenced'));
  assert.deepEqual(show(view.reconcile(src)), ['EDS +a', 'CDS +a']);
  assert.equal(view.warmingCount(CLUSTER_TYPE_URL), 0);
  assert.deepEqual(show(view.reconcile(src)), [], 'nothing changed, nothing emitted');
});

test('an update warms while the previous version serves; a newer update restarts the warming', () => {
  const { view, src, timers } = setup();
  src.put(res(LISTENER_TYPE_URL, 'l', [rds('r1')])).put(res(ROUTE_TYPE_URL, 'r1'));
  assert.deepEqual(show(view.reconcile(src)), ['RDS +r1', 'LDS +l']);
  const v1 = view.active(LISTENER_TYPE_URL).get('l')?.resource;
  src.put(res(LISTENER_TYPE_URL, 'l', [rds('r2')]));
  assert.deepEqual(show(view.reconcile(src)), []);
  assert.equal(view.active(LISTENER_TYPE_URL).get('l')?.resource, v1);
  assert.deepEqual([...view.wanted(ROUTE_TYPE_URL)].sort(), ['r1', 'r2']);
  timers.tick(10_000);
  src.put(res(LISTENER_TYPE_URL, 'l', [rds('r3')]));
  view.reconcile(src);
  assert.deepEqual(timers.pending(), [15_000], 'the replaced warming has a fresh timer');
  assert.deepEqual([...view.wanted(ROUTE_TYPE_URL)].sort(), ['r1', 'r3']);
  src.put(res(ROUTE_TYPE_URL, 'r3'));
  assert.deepEqual(show(view.reconcile(src)), ['RDS +r3', 'LDS ~l', 'RDS -r1']);
  assert.deepEqual(timers.pending(), []);
});

test('the longest dependency timeout decides; 0 means wait forever; removal cancels the timer', () => {
  const { view, src, timers, timeouts } = setup(15_000);
  src.put(res(CLUSTER_TYPE_URL, 'a', [eds('x', 1_000), eds('y')]));
  src.put(res(CLUSTER_TYPE_URL, 'b', [eds('z', 0)]));
  src.put(res(CLUSTER_TYPE_URL, 'c', [eds('w', 500)]));
  view.reconcile(src);
  assert.deepEqual(timers.pending(), [500, 15_000]);
  timers.tick(500);
  assert.deepEqual(timeouts, ['CDS/c']);
  assert.deepEqual(show(view.reconcile(src)), ['CDS +c']);
  timers.tick(14_500);
  assert.deepEqual(timeouts, ['CDS/c', 'CDS/a']);
  assert.deepEqual(show(view.reconcile(src)), ['CDS +a']);
  src.drop(CLUSTER_TYPE_URL, 'b');
  assert.deepEqual(show(view.reconcile(src)), []);
  assert.equal(view.warmingCount(CLUSTER_TYPE_URL), 0);
  assert.deepEqual(timers.pending(), []);
});

test('absent or rejected dependencies resolve the warming; parents are removed before their leaves', () => {
  const { view, src } = setup();
  src.absent.add('gone');
  src
    .put(res(CLUSTER_TYPE_URL, 'a', [eds('gone')]))
    .put(res(CLUSTER_TYPE_URL, 'b', [eds('b')]))
    .put(res(ENDPOINT_TYPE_URL, 'b'));
  assert.deepEqual(show(view.reconcile(src)), ['EDS +b', 'CDS +a +b']);
  src.drop(CLUSTER_TYPE_URL, 'b');
  assert.deepEqual(show(view.reconcile(src)), ['CDS -b', 'EDS -b']);
  view.close();
});
