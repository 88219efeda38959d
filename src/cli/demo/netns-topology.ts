/**
 * Pods as network namespaces on one bridge, for `mizzenctl demo --netns` and the namespace e2e
 * tests: a "node" namespace holding the bridge, one namespace per workload, a service VIP per
 * service resolved by name through a per-namespace /etc/hosts.
 *
 * Topology, chosen so nothing can leak to the real network (docs: ../../../../shared/PLATFORM-NOTES.md):
 *   - the node namespace holds the bridge and has no default route;
 *   - each pod's eth0 is created inside the pod namespace with its veth peer placed straight into
 *     the node namespace, so the root namespace gets no link, address or route;
 *   - VIPs exist only as names in /etc/hosts and as a `local` route in the node namespace: a pod
 *     reaches a VIP only through its sidecar's capture; an uncaptured connection is refused at
 *     once by the node namespace, like a ClusterIP without endpoints.
 *
 * Names: every namespace is `<prefix><name>`; the prefix is `<base><pid>-[tag]`. Namespaces survive
 * a crash (bind mounts in /run/netns), so `create` removes the leftovers of runs whose process is
 * gone before building, and `destroy` kills what runs inside (`ip netns pids` lists only
 * processes in our namespaces) and removes the namespaces and their /etc/netns files.
 *
 * Each namespace also gets a resolv.conf pointing at its own loopback, so lookups of names that
 * are not in /etc/hosts fail at once.
 *
 * IPv4 only: the mesh config (WorkloadEntries, ServiceEntry addresses) is single-stack.
 */
import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Exec, type ExecResult, spawnExec } from '../../agent/iptables.ts';

/** `ip netns exec NS` bind-mounts /etc/netns/NS/<file> over /etc/<file>: per-pod /etc/hosts. */
export const ETC_NETNS = '/etc/netns';
const NODE = 'node';
const BRIDGE = 'mzbr0';

/** A finished command (the agent's process runner: one implementation for iptables and ip). */
export type RunResult = ExecResult;

/** Runs a command to completion, feeding `input` on stdin. Rejects only if it cannot start. */
export const runCommand: Exec = spawnExec;

/** Runs a command; its stdout, or an error naming the command and its stderr when it fails. */
export async function must(command: string, args: readonly string[], input?: string): Promise<string> {
  const r = await runCommand(command, args, input);
  if (r.code !== 0)
    throw new Error(`${command} ${args.join(' ')} failed (exit ${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

export async function hasCommand(command: string): Promise<boolean> {
  try {
    return (await runCommand('sh', ['-c', `command -v ${command}`])).code === 0;
  } catch {
    return false;
  }
}

/**
 * Why namespaces with capture cannot be built here (not Linux, not root, a missing command,
 * no CAP_SYS_ADMIN), or undefined when they can. Each reason says how to fix it.
 */
export async function netnsUnavailableReason(): Promise<string | undefined> {
  if (process.platform !== 'linux') return `network namespaces need Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'network namespaces and iptables need root (run with sudo)';
  const install: Record<string, string> = {
    ip: 'apt-get install iproute2',
    'iptables-restore': 'apt-get install iptables',
    'iptables-save': 'apt-get install iptables',
    setpriv: 'apt-get install util-linux',
  };
  for (const [command, how] of Object.entries(install))
    if (!(await hasCommand(command))) return `${command} is not installed (${how})`;
  // Root inside a container may still lack CAP_SYS_ADMIN: try the real thing.
  const probe = `mzprobe${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const r = await runCommand('ip', ['netns', 'add', probe]);
  if (r.code !== 0) return `cannot create network namespaces: ${r.stderr.trim()}`;
  await runCommand('ip', ['netns', 'del', probe]);
  return undefined;
}

export interface Pod {
  readonly name: string;
  /** Namespace name, for `ip netns exec`. */
  readonly netns: string;
  readonly ip: string;
}

export interface ServiceVip {
  readonly name: string;
  readonly vip: string;
  /** Names that resolve to the VIP in every pod. */
  readonly hostnames: readonly string[];
}

export interface TopologyOptions {
  /** Namespace name base, e.g. `mzd` (demo) or `mze` (tests); the pid and `tag` follow. */
  readonly base: string;
  /** Makes the prefix unique when one process builds several topologies. */
  readonly tag?: string;
  /** First three octets of the pod /24 (the bridge is .1, pods from .10). */
  readonly podNet?: string;
  /** First three octets of the VIP /24 (VIPs from .10). */
  readonly vipNet?: string;
}

export interface SpawnInOptions {
  /** Run as this uid (gid the same, groups cleared) via setpriv, e.g. 1337 for the proxy. */
  readonly uid?: number;
  readonly env?: NodeJS.ProcessEnv;
  readonly stdio?: SpawnOptions['stdio'];
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function listNamespaces(): Promise<string[]> {
  const out = await must('ip', ['netns', 'list']);
  return out
    .split('\n')
    .map((l) => l.trim().split(' ')[0])
    .filter((n) => n !== '');
}

/** Kills every process in `netns` (SIGKILL) and waits until the kernel lists none. */
export async function killInside(netns: string): Promise<void> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const r = await runCommand('ip', ['netns', 'pids', netns]);
    const pids = r.stdout
      .split('\n')
      .map((s) => Number(s.trim()))
      .filter((n) => Number.isInteger(n) && n > 0);
    if (pids.length === 0) return;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`processes in network namespace ${netns} did not exit after SIGKILL`);
}

/** Removes every namespace and /etc/netns entry named `prefix*`: pods first, the node last. */
export async function teardownByPrefix(prefix: string): Promise<void> {
  const names = (await listNamespaces()).filter((n) => n.startsWith(prefix));
  names.sort((a, b) => Number(a === `${prefix}${NODE}`) - Number(b === `${prefix}${NODE}`));
  for (const ns of names) await killInside(ns);
  for (const ns of names) await must('ip', ['netns', 'del', ns]);
  let etc: string[] = [];
  try {
    etc = readdirSync(ETC_NETNS);
  } catch {
    // no /etc/netns at all
  }
  for (const entry of etc)
    if (entry.startsWith(prefix)) rmSync(join(ETC_NETNS, entry), { recursive: true, force: true });
}

/** Removes leftovers of crashed runs (`<base><pid>-*` whose pid is gone); returns their prefixes. */
export async function teardownStale(base: string): Promise<string[]> {
  const pattern = new RegExp(`^${base}(\\d+)-`);
  const prefixes = new Set<string>();
  const consider = (name: string) => {
    const m = pattern.exec(name);
    if (m && Number(m[1]) !== process.pid && !isAlive(Number(m[1]))) prefixes.add(m[0]);
  };
  for (const ns of await listNamespaces()) consider(ns);
  try {
    for (const entry of readdirSync(ETC_NETNS)) consider(entry);
  } catch {
    // no /etc/netns
  }
  for (const prefix of prefixes) await teardownByPrefix(prefix);
  return [...prefixes];
}

export class NetnsTopology {
  readonly prefix: string;
  /** The node namespace: bridge, gateway address, no default route. */
  readonly nodeNetns: string;
  /** The bridge's address in the node namespace: where pods reach the control plane. */
  readonly gateway: string;
  readonly pods = new Map<string, Pod>();
  readonly services = new Map<string, ServiceVip>();
  /** Prefixes of crashed runs removed by `create`. */
  readonly cleaned: readonly string[];
  readonly #podNet: string;
  readonly #vipNet: string;
  readonly #children = new Set<ChildProcess>();
  #destroyed = false;
  #destroying: Promise<void> | undefined;

  private constructor(prefix: string, podNet: string, vipNet: string, cleaned: readonly string[]) {
    this.prefix = prefix;
    this.nodeNetns = `${prefix}${NODE}`;
    this.#podNet = podNet;
    this.#vipNet = vipNet;
    this.gateway = `${podNet}.1`;
    this.cleaned = cleaned;
  }

  /** Cleans crashed runs' leftovers, then builds the node namespace and its bridge. */
  static async create(opts: TopologyOptions): Promise<NetnsTopology> {
    const podNet = opts.podNet ?? '10.244.0';
    const vipNet = opts.vipNet ?? '10.96.0';
    for (const [what, net] of [
      ['podNet', podNet],
      ['vipNet', vipNet],
    ])
      if (!/^\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(net)) throw new Error(`${what}: "${net}" is not three octets`);
    const prefix = `${opts.base}${process.pid}-${opts.tag ?? ''}`;
    const cleaned = await teardownStale(opts.base);
    await teardownByPrefix(prefix);
    const topo = new NetnsTopology(prefix, podNet, vipNet, cleaned);
    try {
      const n = topo.nodeNetns;
      await must('ip', ['netns', 'add', n]);
      await must('ip', ['-n', n, 'link', 'set', 'lo', 'up']);
      await must('ip', ['-n', n, 'link', 'add', BRIDGE, 'type', 'bridge']);
      await must('ip', ['-n', n, 'addr', 'add', `${topo.gateway}/24`, 'dev', BRIDGE]);
      await must('ip', ['-n', n, 'link', 'set', BRIDGE, 'up']);
      // VIPs are local here with nothing listening: an uncaptured VIP connection is reset at
      // once instead of waiting on ICMP errors.
      await must('ip', ['-n', n, 'route', 'add', 'local', `${vipNet}.0/24`, 'dev', 'lo']);
    } catch (err) {
      await topo.destroy();
      throw err;
    }
    return topo;
  }

  /** A pod namespace: eth0 on the bridge, an address, a default route via the bridge. */
  async addPod(name: string): Promise<Pod> {
    if (!/^[a-z0-9-]{1,30}$/.test(name) || name === NODE) throw new Error(`bad pod name "${name}"`);
    if (this.pods.has(name)) throw new Error(`pod ${name} exists`);
    const index = this.pods.size;
    if (index > 200) throw new Error('at most 200 pods');
    const pod: Pod = { name, netns: `${this.prefix}${name}`, ip: `${this.#podNet}.${10 + index}` };
    const ns = pod.netns;
    const peer = `mzv${index}`;
    await must('ip', ['netns', 'add', ns]);
    this.pods.set(name, pod);
    await must('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    await must('ip', [
      '-n',
      ns,
      'link',
      'add',
      'eth0',
      'type',
      'veth',
      'peer',
      'name',
      peer,
      'netns',
      this.nodeNetns,
    ]);
    await must('ip', ['-n', this.nodeNetns, 'link', 'set', peer, 'master', BRIDGE, 'up']);
    await must('ip', ['-n', ns, 'addr', 'add', `${pod.ip}/24`, 'dev', 'eth0']);
    await must('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
    await must('ip', ['-n', ns, 'route', 'add', 'default', 'via', this.gateway]);
    this.#writeHosts();
    return pod;
  }

  /** A service VIP that every pod resolves by each of `hostnames`. */
  addService(name: string, hostnames: readonly string[]): ServiceVip {
    if (this.services.has(name)) throw new Error(`service ${name} exists`);
    const index = this.services.size;
    if (index > 200) throw new Error('at most 200 services');
    const service: ServiceVip = { name, vip: `${this.#vipNet}.${10 + index}`, hostnames };
    this.services.set(name, service);
    this.#writeHosts();
    return service;
  }

  #writeHosts(): void {
    const lines = ['127.0.0.1 localhost', '::1 localhost ip6-localhost ip6-loopback'];
    for (const pod of this.pods.values()) lines.push(`${pod.ip} ${pod.name}`);
    for (const s of this.services.values()) lines.push(`${s.vip} ${s.hostnames.join(' ')}`);
    const text = `${lines.join('\n')}\n`;
    for (const pod of [...this.pods.values(), { netns: this.nodeNetns }]) {
      const dir = join(ETC_NETNS, pod.netns);
      mkdirSync(dir, { recursive: true });
      // Rewritten in place (same inode): processes already running see new entries.
      writeFileSync(join(dir, 'hosts'), text);
      // Names not in hosts fail at once (nothing answers DNS on the pod's loopback) instead of
      // waiting on the machine's resolvers, which a pod cannot reach.
      writeFileSync(join(dir, 'resolv.conf'), 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n');
    }
  }

  #check(netns: string): void {
    if (this.#destroyed) throw new Error('topology destroyed');
    if (!netns.startsWith(this.prefix)) throw new Error(`${netns} is not one of this run's namespaces`);
  }

  /** The `ip` argv that runs `command` inside `netns` (as `uid` when given). */
  argv(netns: string, command: string, args: readonly string[], uid?: number): string[] {
    const argv = ['netns', 'exec', netns];
    if (uid !== undefined) argv.push('setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups');
    return [...argv, command, ...args];
  }

  /**
   * Starts `command` inside `netns`; the child's pid is the command's (`ip netns exec` and
   * setpriv exec). Killed by `destroy` if still running.
   */
  spawn(netns: string, command: string, args: readonly string[], opts: SpawnInOptions = {}): ChildProcess {
    this.#check(netns);
    const child = spawn('ip', this.argv(netns, command, args, opts.uid), {
      stdio: opts.stdio ?? ['ignore', 'pipe', 'pipe'],
      env: opts.env ?? process.env,
    });
    this.#children.add(child);
    child.on('close', () => this.#children.delete(child));
    return child;
  }

  /** Runs `command` inside `netns` to completion. */
  async run(
    netns: string,
    command: string,
    args: readonly string[],
    opts: { uid?: number; input?: string } = {},
  ): Promise<RunResult> {
    this.#check(netns);
    return runCommand('ip', this.argv(netns, command, args, opts.uid), opts.input);
  }

  /** Kills everything started in this run's namespaces and removes them; safe to call twice. */
  destroy(): Promise<void> {
    this.#destroying ??= this.#destroy();
    return this.#destroying;
  }

  async #destroy(): Promise<void> {
    this.#destroyed = true;
    const closing = [...this.#children].map(
      (c) =>
        new Promise<void>((resolve) =>
          c.exitCode !== null || c.signalCode !== null ? resolve() : c.once('close', () => resolve()),
        ),
    );
    await teardownByPrefix(this.prefix);
    for (const c of this.#children) c.kill('SIGKILL');
    await Promise.all(closing);
  }
}
