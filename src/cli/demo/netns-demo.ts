/**
 * `mizzenctl demo --netns`: the sample application with real transparent capture. Every
 * workload runs unchanged in its own network namespace and calls plain `http://reviews:9080`;
 * `mizzen-proxy iptables` redirects its traffic to its sidecar (uid 1337), which routes it by
 * the example VirtualServices and DestinationRules. Needs root, iproute2, iptables, setpriv.
 *
 * Routing comes from the VirtualServices and DestinationRules in the config directory
 * (`examples/` by default), re-read when a file there changes. What the namespace mesh cannot
 * serve is left out, and said so at start: VirtualServices bound to a Gateway (there is no
 * ingress gateway here), hosts outside the sample services (httpbin.org: no real network), and
 * TLS settings (mizzend has no CA yet, so sidecars talk plaintext).
 *
 * On Ctrl-C/SIGTERM (the caller aborts `signal`), on a fatal error, or when mizzend dies, every
 * namespace, /etc/netns file, process and temporary file is removed; a crashed run's leftovers
 * are removed at the next start.
 */
import { type FSWatcher, readdirSync, readFileSync, statSync, watch } from 'node:fs';
import { extname, join, relative } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { ExitCode } from '../exit-codes.ts';
import type { CliIo } from '../io.ts';
import {
  type MeshServiceSpec,
  type MeshWorkloadSpec,
  NetnsMesh,
  PROXY_ADMIN_PORT,
  SAMPLES_MAIN,
} from './netns-mesh.ts';
import { netnsUnavailableReason } from './netns-topology.ts';

/** Namespace name base of the demo: `mzd<pid>-<pod>`. */
export const DEMO_NETNS_BASE = 'mzd';
export const DEMO_NAMESPACE = 'bookinfo';
/** The pod curl lines run in: a client with a sidecar and no application (Istio's `sleep`). */
export const CLIENT_POD = 'sleep';

export const DEMO_SERVICES: readonly MeshServiceSpec[] = [
  { name: 'productpage', port: 9080, protocol: 'HTTP' },
  { name: 'details', port: 9080, protocol: 'HTTP' },
  { name: 'reviews', port: 9080, protocol: 'HTTP' },
  // reviews calls ratings over gRPC: the hop must be HTTP/2 end to end.
  { name: 'ratings', port: 9080, protocol: 'GRPC' },
  { name: 'tcp-echo', port: 9000, protocol: 'TCP' },
  { name: 'ws-echo', port: 8090, protocol: 'HTTP' },
];

function sample(app: string, version: string, port: number, serviceAccount: string): MeshWorkloadSpec {
  return {
    name: `${app}-${version}`,
    app,
    version,
    serviceAccount,
    command: [
      process.execPath,
      SAMPLES_MAIN,
      app,
      '--port',
      String(port),
      '--host',
      '0.0.0.0',
      '--version',
      version,
      '--exit-with-stdin',
    ],
    env: { POD_NAME: `${app}-${version}` },
    ready: /^ready name=/,
  };
}

export const DEMO_WORKLOADS: readonly MeshWorkloadSpec[] = [
  sample('productpage', 'v1', 9080, 'bookinfo-productpage'),
  sample('details', 'v1', 9080, 'bookinfo-details'),
  sample('reviews', 'v1', 9080, 'bookinfo-reviews'),
  sample('reviews', 'v2', 9080, 'bookinfo-reviews'),
  sample('reviews', 'v3', 9080, 'bookinfo-reviews'),
  sample('ratings', 'v1', 9080, 'bookinfo-ratings'),
  sample('tcp-echo', 'v1', 9000, 'tcp-echo'),
  sample('ws-echo', 'v1', 8090, 'ws-echo'),
  { name: CLIENT_POD, app: CLIENT_POD, serviceAccount: CLIENT_POD },
];

export interface RoutingConfig {
  /** The YAML mizzend gets (VirtualServices and DestinationRules). */
  readonly yaml: string;
  /** What was left out, and why (one line each). */
  readonly skipped: readonly string[];
  /** Documents that could not be read, `file:line: message`. */
  readonly errors: readonly string[];
}

/** The YAML files under `path` (itself, when it is a file), in path order. */
function yamlFiles(path: string): string[] {
  const out: string[] = [];
  if (!statSync(path).isDirectory()) return [path];
  let entries: string[];
  try {
    entries = readdirSync(path).sort();
  } catch {
    return out;
  }
  for (const name of entries) {
    if (name.startsWith('.')) continue;
    const child = join(path, name);
    if (statSync(child).isDirectory()) out.push(...yamlFiles(child));
    else if (['.yaml', '.yml'].includes(extname(name).toLowerCase())) out.push(child);
  }
  return out;
}

const SERVICE_NAMES = new Set(DEMO_SERVICES.map((s) => s.name));

/** A host as written in a VS/DR, reduced to the sample service it names (or undefined). */
function sampleService(host: unknown): string | undefined {
  if (typeof host !== 'string') return undefined;
  const short = host.split('.')[0];
  const rest = host.slice(short.length);
  if (!SERVICE_NAMES.has(short)) return undefined;
  return ['', `.${DEMO_NAMESPACE}`, `.${DEMO_NAMESPACE}.svc.cluster.local`].includes(rest)
    ? short
    : undefined;
}

/**
 * Removes `tls` from the trafficPolicy at `holder.trafficPolicy` (and its portLevelSettings),
 * dropping port settings and the policy itself when nothing else is left (an empty policy is
 * invalid). Returns whether there was any TLS.
 */
function stripTls(holder: unknown): boolean {
  if (!holder || typeof holder !== 'object') return false;
  const h = holder as Record<string, unknown>;
  const p = h.trafficPolicy as Record<string, unknown> | undefined;
  if (!p || typeof p !== 'object') return false;
  let had = 'tls' in p;
  delete p.tls;
  if (Array.isArray(p.portLevelSettings)) {
    p.portLevelSettings = p.portLevelSettings.filter((s: Record<string, unknown>) => {
      if (!s || typeof s !== 'object' || !('tls' in s)) return true;
      had = true;
      delete s.tls;
      return Object.keys(s).some((k) => k !== 'port');
    });
    if ((p.portLevelSettings as unknown[]).length === 0) delete p.portLevelSettings;
  }
  if (Object.keys(p).length === 0) delete h.trafficPolicy;
  return had;
}

/**
 * The VirtualServices and DestinationRules of `configDir` (recursively) that the namespace mesh
 * can serve, adapted (see the header comment), with what was left out.
 */
export function buildRoutingConfig(configDir: string): RoutingConfig {
  const docs: unknown[] = [];
  const skipped: string[] = [];
  const errors: string[] = [];
  for (const file of yamlFiles(configDir)) {
    const where = relative(process.cwd(), file) || file;
    const parsed = parseAllDocuments(readFileSync(file, 'utf8'), { prettyErrors: true });
    for (const doc of parsed) {
      if (doc.errors.length > 0) {
        for (const e of doc.errors) errors.push(`${where}:${e.linePos?.[0].line ?? 0}: ${e.message}`);
        continue;
      }
      const obj = doc.toJS() as Record<string, unknown> | null;
      if (!obj || typeof obj !== 'object') continue;
      const kind = obj.kind;
      if (kind !== 'VirtualService' && kind !== 'DestinationRule') continue;
      const meta = (obj.metadata ?? {}) as Record<string, unknown>;
      const spec = (obj.spec ?? {}) as Record<string, unknown>;
      const id = `${kind} ${meta.namespace ?? 'default'}/${meta.name} (${where})`;
      if ((meta.namespace ?? 'default') !== DEMO_NAMESPACE) {
        skipped.push(`${id}: not in namespace ${DEMO_NAMESPACE}`);
        continue;
      }
      if (kind === 'VirtualService') {
        const gateways = Array.isArray(spec.gateways) ? spec.gateways : [];
        if (gateways.some((g) => g !== 'mesh')) {
          skipped.push(`${id}: bound to a Gateway; the namespace demo has no ingress gateway`);
          continue;
        }
        const hosts = Array.isArray(spec.hosts) ? spec.hosts : [];
        if (!hosts.every((h) => sampleService(h))) {
          skipped.push(`${id}: routes hosts outside the sample services (no real network here)`);
          continue;
        }
      } else {
        if (!sampleService(spec.host)) {
          skipped.push(`${id}: host outside the sample services (no real network here)`);
          continue;
        }
        let tls = stripTls(spec);
        if (Array.isArray(spec.subsets)) for (const s of spec.subsets) tls = stripTls(s) || tls;
        if (tls) skipped.push(`${id}: TLS settings left out (no CA here: sidecars talk plaintext)`);
      }
      docs.push(obj);
    }
  }
  return { yaml: docs.map((d) => stringify(d)).join('---\n'), skipped, errors };
}

/** The lines printed under "Try:": each runs as is in a root shell. */
export function demoCurlLines(mesh: NetnsMesh): string[] {
  const client = mesh.pod(CLIENT_POD).netns;
  const inClient = `ip netns exec ${client}`;
  const reviewsV2 = mesh.pod('reviews-v2').netns;
  return [
    `${inClient} curl -s http://productpage:9080/productpage | grep -o 'Reviews served by: [^<]*'   # v1, v2 or v3 by weight`,
    `${inClient} curl -s http://reviews:9080/reviews/0   # JSON; "podname" says which version answered`,
    `${inClient} curl -s -H 'end-user: jason' http://reviews:9080/reviews/0   # always reviews-v2 (header route)`,
    `${inClient} curl -s http://details:9080/details/0`,
    `${inClient} curl -s http://ratings:9080/ratings/0`,
    `${inClient} curl -s http://ws-echo:8090/health`,
    `${inClient} bash -c 'exec 3<>/dev/tcp/tcp-echo/9000; echo hello >&3; head -n1 <&3'   # TCP through capture: "one hello"`,
    `ip netns exec ${reviewsV2} curl -s localhost:${PROXY_ADMIN_PORT}/clusters | head   # a sidecar's admin API`,
    `ip netns exec ${mesh.topology.nodeNetns} curl -s ${mesh.monitoringUrl}/debug/syncz   # mizzend: every proxy and what it ACKed`,
  ];
}

export interface NetnsDemoOptions {
  /** Where the VirtualServices and DestinationRules come from (watched). */
  readonly configDir: string;
  readonly io: CliIo;
  /** Aborting stops the demo and removes everything it created. */
  readonly signal: AbortSignal;
  /** Namespace name tag (tests run several demos from one process). */
  readonly tag?: string;
  /** Show the workloads' and proxies' own output (default: only warnings and errors). */
  readonly verbose?: boolean;
}

/** Runs the namespace demo until `signal` aborts; resolves with the exit code. */
export async function runNetnsDemo(opts: NetnsDemoOptions): Promise<number> {
  const { io, signal } = opts;
  const say = (line: string) => io.stdout(`${line}\n`);
  const fail = (line: string) => io.stderr(`mizzenctl demo --netns: ${line}\n`);

  const reason = await netnsUnavailableReason();
  if (reason) {
    fail(
      `${reason}.\nThe namespace demo creates network namespaces and iptables rules; plain \`mizzenctl demo\` needs neither.`,
    );
    return ExitCode.INTERNAL;
  }
  let routing: RoutingConfig;
  try {
    statSync(opts.configDir);
    routing = buildRoutingConfig(opts.configDir);
  } catch (err) {
    fail(`cannot read ${opts.configDir}: ${(err as Error).message}`);
    return ExitCode.UNREADABLE_INPUT;
  }
  for (const e of routing.errors) fail(e);
  if (routing.errors.length > 0) return ExitCode.UNREADABLE_INPUT;
  if (signal.aborted) return ExitCode.OK;

  say(`Starting the namespace mesh from ${relative(process.cwd(), opts.configDir) || '.'} ...`);
  for (const s of routing.skipped) say(`  left out: ${s}`);
  let mesh: NetnsMesh | undefined;
  let watcher: FSWatcher | undefined;
  try {
    const started = NetnsMesh.start({
      base: DEMO_NETNS_BASE,
      tag: opts.tag,
      namespace: DEMO_NAMESPACE,
      services: DEMO_SERVICES,
      workloads: DEMO_WORKLOADS,
      config: { 'routing.yaml': routing.yaml },
      signal,
      onProgress: (line) => say(line),
      onOutput: (source, line) => {
        if (opts.verbose || /\b(warn|error|WARN|ERROR)\b/.test(line)) io.stderr(`[${source}] ${line}\n`);
      },
    });
    const aborted = new Promise<'aborted'>((resolve) => {
      if (signal.aborted) resolve('aborted');
      signal.addEventListener('abort', () => resolve('aborted'), { once: true });
    });
    const first = await Promise.race([started, aborted]);
    if (first === 'aborted') {
      say('Stopping ...');
      // The aborted start removes what it built; wait for that to finish.
      mesh = await started.catch(() => undefined);
      if (!mesh) say('Stopped; namespaces, rules, processes and temporary files removed.');
      return ExitCode.OK;
    }
    mesh = first;
    say(`Waiting for ${mesh.workloads.size} sidecars to be synced ...`);
    await Promise.race([mesh.waitSynced(120_000), aborted]);
    if (signal.aborted) {
      say('Stopping ...');
      return ExitCode.OK;
    }

    const live = mesh;
    let timer: NodeJS.Timeout | undefined;
    watcher = watch(opts.configDir, { recursive: statSync(opts.configDir).isDirectory() }, () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        let next: RoutingConfig;
        try {
          next = buildRoutingConfig(opts.configDir);
        } catch (err) {
          // A file removed or renamed while being read: the next event reads it again.
          fail(`cannot read ${opts.configDir}: ${(err as Error).message}`);
          return;
        }
        if (next.errors.length > 0) {
          for (const e of next.errors) fail(e);
          say('Routing unchanged: fix the file above.');
          return;
        }
        live.writeConfig('routing.yaml', next.yaml);
        say('Routing updated from the config directory.');
      }, 200);
    });
    signal.addEventListener('abort', () => clearTimeout(timer), { once: true });

    say('');
    say('Every workload runs in its own network namespace; its traffic is captured by iptables');
    say('and sent through its sidecar. Applications call plain http://reviews:9080.');
    say('');
    for (const w of mesh.workloads.values())
      say(`  ${w.spec.name.padEnd(16)} ${w.pod.ip.padEnd(14)} netns ${w.pod.netns}`);
    for (const s of mesh.topology.services.values()) say(`  ${s.name.padEnd(16)} VIP ${s.vip}`);
    say('');
    say('Try (as root):');
    for (const line of demoCurlLines(mesh)) say(`  ${line}`);
    say('');
    say(
      `Edit a VirtualService or DestinationRule under ${relative(process.cwd(), opts.configDir) || '.'}: the change is applied live.`,
    );
    say('Press Ctrl-C to stop.');

    const mizzend = mesh.mizzend;
    const mizzendDied = new Promise<'mizzend'>((resolve) => mizzend?.once('exit', () => resolve('mizzend')));
    const ended = await Promise.race([aborted, mizzendDied]);
    if (ended === 'mizzend') {
      fail('mizzend exited unexpectedly; stopping.');
      return ExitCode.INTERNAL;
    }
    say('Stopping ...');
    return ExitCode.OK;
  } catch (err) {
    fail((err as Error).message);
    return ExitCode.INTERNAL;
  } finally {
    watcher?.close();
    await mesh?.close();
    if (mesh) say('Stopped; namespaces, rules, processes and temporary files removed.');
  }
}
