/**
 * In-process generation benchmark (no gRPC): the item-8 mesh of issue 3 through the real config
 * store, ServiceEntry registry, endpoint index, PushContext and registered generators, then
 *
 *   full     every proxy's CDS (wildcard), EDS (the EDS clusters it would name), LDS (wildcard)
 *            and RDS (the route names of its listeners), on a fresh PushContext per round,
 *            each response also encoded as the ADS server encodes it;
 *   warm     the same again on the same PushContext (what a second stream of a proxy costs);
 *   eds      one endpoint change at a time: the changed clusters for every proxy that
 *            needs the push, as the ADS server generates them for SotW and delta streams.
 *
 * Prints ms in total and per proxy, response bytes, and heap. Measures, never asserts.
 *
 *   node_modules/.bin/node --expose-gc bench/generators/run.ts [--proxies 2000] [--workloads 200]
 *     [--services 1000] [--endpoints 10] [--namespaces 10] [--rounds 3] [--eds-rounds 20] [--no-encode]
 *
 * `--workloads 0` gives every proxy its own labels and no service (bench/control-plane's load
 * client). Add `--cpu-prof` before the script for a profile.
 */
import { parseArgs } from 'node:util';
import { meshConfigOrThrow, parseMeshConfig } from '../../src/api/mesh/mesh-config.ts';
import { MemorySource } from '../../src/config/sources/memory/memory-source.ts';
import { createConfigStore } from '../../src/config/store.ts';
import { encodeDiscoveryResponse } from '../../src/lib/xds/discovery.ts';
import {
  CLUSTER_TYPE_URL,
  ENDPOINT_TYPE_URL,
  LISTENER_TYPE_URL,
  ROUTE_TYPE_URL,
  shortTypeName,
} from '../../src/lib/xds/type-urls.ts';
import type { Proxy } from '../../src/pilot/model/proxy.ts';
import { initPushContext, type PushContext } from '../../src/pilot/model/push-context.ts';
import { newPushRequest, type PushRequest } from '../../src/pilot/model/push-request.ts';
import type { WatchedResourceView, XdsResource } from '../../src/pilot/xds/generator-registry.ts';
import { edsClusterNames } from '../../src/pilot/xds/generators/eds.ts';
import { defaultGenerators } from '../../src/pilot/xds/generators/index.ts';
import { routeNamesFor } from '../../src/pilot/xds/generators/rds.ts';
import { EndpointIndex } from '../../src/registry/endpoint-index.ts';
import { ServiceEntryRegistry } from '../../src/registry/serviceentry/registry.ts';
import { EndpointIndexUpdater, type RegistryChange } from '../../src/registry/updater.ts';
import { type MeshSize, meshObjects, sidecarProxy, workloadEntry } from './mesh.ts';

const { values: args } = parseArgs({
  options: {
    proxies: { type: 'string', default: '2000' },
    workloads: { type: 'string', default: '200' },
    services: { type: 'string', default: '1000' },
    endpoints: { type: 'string', default: '10' },
    namespaces: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '3' },
    'eds-rounds': { type: 'string', default: '20' },
    'no-encode': { type: 'boolean', default: false },
  },
});
const int = (name: keyof typeof args) => {
  const v = Number(args[name]);
  if (!Number.isInteger(v) || v < 0)
    throw new Error(`--${name} must be a non-negative integer, got ${args[name]}`);
  return v;
};
const size: MeshSize = {
  services: int('services'),
  endpointsPerService: int('endpoints'),
  namespaces: Math.max(1, int('namespaces')),
};
const proxyCount = int('proxies');
const workloads = Math.min(int('workloads'), size.services);
const rounds = Math.max(1, int('rounds'));
const edsRounds = int('eds-rounds');

const gc = (globalThis as { gc?: () => void }).gc;
const mb = (n: number) => `${(n / 1024 / 1024).toFixed(0)} MB`;
function memory(label: string): void {
  gc?.();
  const m = process.memoryUsage();
  console.log(
    `  ${label}: heap ${mb(m.heapUsed)}, rss ${mb(m.rss)}${gc ? '' : ' (no --expose-gc: before GC)'}`,
  );
}
const ms = (n: number) => n.toFixed(n < 10 ? 2 : 0);
const TYPES = [CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL, LISTENER_TYPE_URL, ROUTE_TYPE_URL] as const;

// ---- the control plane, in process ----

const mesh = meshConfigOrThrow(parseMeshConfig('', 'mesh.yaml'));
const source = new MemorySource({ file: 'bench-mesh' });
const store = createConfigStore({ sources: [source] });
const endpointIndex = new EndpointIndex();
let changes: RegistryChange[] = [];
const registry = new ServiceEntryRegistry({
  updater: new EndpointIndexUpdater(endpointIndex, (c) => changes.push(c)),
  store,
  trustDomain: mesh.trustDomain,
});
const abort = new AbortController();
const running = Promise.all([store.run(abort.signal), registry.run(abort.signal)]);

console.log(
  `mesh: ${size.services} services x 2 ports, ${size.services * size.endpointsPerService} endpoints, ` +
    `${Math.ceil(size.services / 10)} DestinationRules + VirtualServices, ${size.namespaces} namespaces; ` +
    `${proxyCount} sidecars of ${workloads > 0 ? `${workloads} workloads` : 'distinct workloads serving nothing'}`,
);
let t0 = performance.now();
source.create(meshObjects(size));
await store.waitForSync();
await store.idle();
changes = [];
console.log(`setup: config + registry ${ms(performance.now() - t0)} ms`);

const pushInput = () => ({ config: store.snapshot(), registry: registry.snapshot(), endpointIndex, mesh });
const generators = defaultGenerators();
const proxies: Proxy[] = [];
for (let p = 0; p < proxyCount; p++) proxies.push(sidecarProxy(p, workloads, size));

// What each proxy subscribes to, as Envoy would after CDS and LDS: computed once, outside timing.
const wildcard = (typeUrl: string): WatchedResourceView => ({
  typeUrl,
  wildcard: true,
  resourceNames: new Set(),
});
const named = (typeUrl: string, names: Iterable<string>): WatchedResourceView => ({
  typeUrl,
  wildcard: false,
  resourceNames: new Set(names),
});
const watches: Map<string, WatchedResourceView>[] = [];
{
  const push = initPushContext(pushInput());
  const byName = new Map<string, WatchedResourceView>();
  const intern = (w: WatchedResourceView) => {
    const key = `${w.typeUrl}|${[...w.resourceNames].join(',')}`;
    let v = byName.get(key);
    if (!v) byName.set(key, (v = w));
    return v;
  };
  for (const proxy of proxies) {
    watches.push(
      new Map([
        [CLUSTER_TYPE_URL, wildcard(CLUSTER_TYPE_URL)],
        [ENDPOINT_TYPE_URL, intern(named(ENDPOINT_TYPE_URL, edsClusterNames(push, proxy)))],
        [LISTENER_TYPE_URL, wildcard(LISTENER_TYPE_URL)],
        [ROUTE_TYPE_URL, intern(named(ROUTE_TYPE_URL, routeNamesFor(push, proxy)))],
      ]),
    );
  }
}

function encode(typeUrl: string, resources: readonly XdsResource[]): number {
  return encodeDiscoveryResponse({
    version_info: 'bench/1',
    resources: resources.map((r) => r.resource),
    type_url: typeUrl,
    nonce: 'n',
    control_plane: { identifier: 'mizzend' },
  }).length;
}

/** What the ADS server sends of a generated list (it drops unsubscribed names; see ads-server.ts). */
const checked = new WeakMap<readonly XdsResource[], ReadonlySet<string>>();
function subscribed(all: readonly XdsResource[], watched: WatchedResourceView): readonly XdsResource[] {
  if (watched.wildcard || checked.get(all) === watched.resourceNames) return all;
  if (all.every((r) => watched.resourceNames.has(r.name))) {
    checked.set(all, watched.resourceNames);
    return all;
  }
  return all.filter((r) => watched.resourceNames.has(r.name));
}

interface PassResult {
  /** CPU time (user + system) of generation and of encoding: less sensitive to a busy machine than wall time. */
  readonly cpuMs: { readonly generate: number; readonly encode: number };
  readonly generateMs: Record<string, number>;
  readonly encodeMs: number;
  readonly bytes: Record<string, number>;
  readonly resources: Record<string, number>;
}

/**
 * Every type for every proxy from `push`: first all generation, then all encoding (as the ADS
 * server encodes SotW responses), timed apart so one's garbage does not land in the other.
 */
function fullPass(push: PushContext): PassResult {
  const req: PushRequest<PushContext> = newPushRequest({ full: true, push });
  const generateMs: Record<string, number> = {};
  const bytes: Record<string, number> = {};
  const resources: Record<string, number> = {};
  for (const t of TYPES) generateMs[t] = bytes[t] = resources[t] = 0;
  const outputs: (readonly XdsResource[])[][] = [];
  const cpu0 = process.cpuUsage();
  for (let p = 0; p < proxies.length; p++) {
    const proxy = proxies[p];
    const out: (readonly XdsResource[])[] = [];
    for (const t of TYPES) {
      const gen = generators.get(t, proxy.metadata.generator);
      const watched = watches[p].get(t) as WatchedResourceView;
      const s = performance.now();
      const all = gen ? gen.generate(proxy, watched, req) : [];
      out.push(subscribed(all, watched));
      generateMs[t] += performance.now() - s;
    }
    outputs.push(out);
  }
  const cpu1 = process.cpuUsage();
  const cpuMs = (a: NodeJS.CpuUsage, b: NodeJS.CpuUsage) => (b.user - a.user + b.system - a.system) / 1000;
  const s = performance.now();
  if (args['no-encode']) {
    return { cpuMs: { generate: cpuMs(cpu0, cpu1), encode: 0 }, generateMs, encodeMs: 0, bytes, resources };
  }
  for (const out of outputs) {
    for (let i = 0; i < TYPES.length; i++) {
      bytes[TYPES[i]] += encode(TYPES[i], out[i]);
      resources[TYPES[i]] += out[i].length;
    }
  }
  const encodeMs = performance.now() - s;
  return {
    cpuMs: { generate: cpuMs(cpu0, cpu1), encode: cpuMs(cpu1, process.cpuUsage()) },
    generateMs,
    encodeMs,
    bytes,
    resources,
  };
}

function report(label: string, r: PassResult, buildMs?: number): number {
  const gen = Object.values(r.generateMs).reduce((a, b) => a + b, 0);
  const total = gen + r.encodeMs + (buildMs ?? 0);
  const parts = TYPES.map((t) => `${shortTypeName(t)} ${ms(r.generateMs[t])}`).join(', ');
  console.log(
    `  ${label}: ${ms(total)} ms = ${buildMs !== undefined ? `push context ${ms(buildMs)} + ` : ''}` +
      `generate ${ms(gen)} (${parts}) + encode ${ms(r.encodeMs)}; ` +
      `${((gen + r.encodeMs) / proxies.length).toFixed(3)} ms/proxy; ` +
      `CPU generate ${ms(r.cpuMs.generate)} + encode ${ms(r.cpuMs.encode)}`,
  );
  return total;
}

console.log('\nfull push, every proxy, SotW responses:');
const totals: number[] = [];
let last: PassResult | undefined;
for (let round = 0; round < rounds; round++) {
  gc?.();
  t0 = performance.now();
  const push = initPushContext(pushInput());
  const buildMs = performance.now() - t0;
  last = fullPass(push);
  totals.push(report(`round ${round + 1} (cold)`, last, buildMs));
  if (round === rounds - 1) {
    memory('after the cold pass, push context held');
    console.log('  cache entries:', JSON.stringify(push.caches.sizes()));
    report('warm (same push context)', fullPass(push));
  }
}
totals.sort((a, b) => a - b);
console.log(`  median cold: ${ms(totals[Math.floor(totals.length / 2)])} ms`);
if (last) {
  const per = (t: string) =>
    `${shortTypeName(t)} ${(last.bytes[t] / proxies.length / 1024).toFixed(1)} KiB/${Math.round(last.resources[t] / proxies.length)}`;
  console.log(`  per proxy, bytes/resources: ${TYPES.map(per).join(', ')}`);
  const totalBytes = Object.values(last.bytes).reduce((a, b) => a + b, 0);
  console.log(`  all responses: ${mb(totalBytes)}`);
}

// ---- incremental EDS ----

if (edsRounds > 0) {
  console.log(`\nincremental EDS push, one endpoint change, ${edsRounds} rounds:`);
  const push = initPushContext(pushInput());
  fullPass(push); // warm, as a running server is
  const eds = generators.get(ENDPOINT_TYPE_URL);
  if (!eds) throw new Error('no EDS generator');
  const sotw: number[] = [];
  const delta: number[] = [];
  let affected = 0;
  let sotwBytes = 0;
  for (let round = 0; round < edsRounds; round++) {
    const svc = (round * 37 + 10) % size.services;
    source.apply(workloadEntry(svc, 0, size, round + 1));
    await store.idle();
    const change = changes.pop();
    changes = [];
    if (!change || change.full) throw new Error(`endpoint change of svc-${svc} was not incremental`);
    const req: PushRequest<PushContext> = newPushRequest({
      full: false,
      configsUpdated: change.configsUpdated,
      reason: 'endpoint',
      push,
    });
    let n = 0;
    let s = performance.now();
    for (let p = 0; p < proxies.length; p++) {
      if (!eds.needsPush(proxies[p], req)) continue;
      n++;
      const w = watches[p].get(ENDPOINT_TYPE_URL) as WatchedResourceView;
      const d = eds.generateDelta?.(proxies[p], w, req);
      sotwBytes += encode(ENDPOINT_TYPE_URL, d ? d.resources : eds.generate(proxies[p], w, req));
    }
    sotw.push(performance.now() - s);
    s = performance.now();
    for (let p = 0; p < proxies.length; p++) {
      if (!eds.needsPush(proxies[p], req)) continue;
      eds.generateDelta?.(proxies[p], watches[p].get(ENDPOINT_TYPE_URL) as WatchedResourceView, req);
    }
    delta.push(performance.now() - s);
    affected += n;
  }
  const stat = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return `median ${ms(s[Math.floor(s.length / 2)])} ms, max ${ms(s[s.length - 1])} ms`;
  };
  console.log(`  affected proxies per change: ${Math.round(affected / edsRounds)}`);
  console.log(`  changed clusters for every affected proxy, encoded: ${stat(sotw)}`);
  console.log(`  generateDelta only: ${stat(delta)}`);
  console.log(`  bytes per affected proxy: ${Math.round(sotwBytes / Math.max(1, affected))}`);
  memory('after the EDS rounds');
}

abort.abort();
await running;
