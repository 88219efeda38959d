/**
 * A network-namespace lab for tests: pods as namespaces on a bridge, service VIPs, and a way
 * to run anything inside them. Needs root and iproute2; `netnsSkipReason()` says why not.
 *
 * Topology, chosen so nothing can leak (../../../shared/PLATFORM-NOTES.md):
 *   - a "node" namespace holds the bridge and has no default route;
 *   - each pod namespace gets eth0, whose veth peer is created straight in the node namespace
 *     and enslaved to the bridge. The root namespace gets no link, address or route;
 *   - addresses come from test ranges: pods 198.18.0.0/24 and fd00:6d7a::/64 (RFC 2544
 *     benchmarking and a ULA), service VIPs 198.19.0.0/24 and fd00:6d7a:5::/112;
 *   - pods route everything to the bridge, so a VIP is reachable only through capture; an
 *     uncaptured connection to a VIP is refused at once by the node namespace (the VIP ranges
 *     are local there and nothing listens), like a ClusterIP without endpoints.
 *
 * Never send traffic from the root namespace to these addresses: run every client inside a
 * namespace (`lab.tcpRequest`, `lab.spawn`, `lab.run`).
 *
 * Names: every namespace is `<prefix><name>` with a per-run prefix `mzt<pid>-`. Namespaces
 * outlive a crash (bind mounts in /run/netns), so `NetnsLab.create` first removes those of runs
 * whose process is gone, and `destroy` removes this run's: it kills what runs inside (`ip netns
 * pids`, which only lists our processes), deletes the namespaces and their /etc/netns files.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ETC_NETNS,
  hasCommand,
  must,
  type RunResult,
  runCommand,
  teardownByPrefix,
  teardownStale as teardownStaleRuns,
} from '../../src/cli/demo/netns-topology.ts';

// The namespace primitives are the demo's (one implementation); this lab adds the test topology.
export { type RunResult, runCommand, teardownByPrefix };

const NODE = 'node';
const BRIDGE = 'br0';
const POD_V4 = (i: number) => `198.18.0.${10 + i}`;
const POD_V6 = (i: number) => `fd00:6d7a::${(10 + i).toString(16)}`;
const GATEWAY_V4 = '198.18.0.1';
const GATEWAY_V6 = 'fd00:6d7a::1';
const VIP_V4 = (i: number) => `198.19.0.${10 + i}`;
const VIP_V6 = (i: number) => `fd00:6d7a:5::${(10 + i).toString(16)}`;
const VIP_RANGE_V4 = '198.19.0.0/24';
const VIP_RANGE_V6 = 'fd00:6d7a:5::/112';

/**
 * Why namespace tests cannot run here, or undefined when they can. `iptables` also requires
 * iptables-restore/ip6tables-restore; `setpriv` requires util-linux's setpriv.
 */
export async function netnsSkipReason(
  need: { iptables?: boolean; setpriv?: boolean } = {},
): Promise<string | undefined> {
  if (process.platform !== 'linux') return `not Linux (${process.platform})`;
  if (process.getuid?.() !== 0) return 'not root';
  const commands = ['ip'];
  if (need.iptables)
    commands.push('iptables-restore', 'ip6tables-restore', 'iptables-save', 'ip6tables-save');
  if (need.setpriv) commands.push('setpriv');
  for (const c of commands)
    if (!(await hasCommand(c))) return `${c} not installed (run scripts/install-test-deps.sh)`;
  // Root in a container may still lack CAP_SYS_ADMIN: try the real thing.
  const probe = `mzt${process.pid}-probe${Math.random().toString(36).slice(2, 8)}`;
  const r = await runCommand('ip', ['netns', 'add', probe]);
  if (r.code !== 0) return `cannot create network namespaces: ${r.stderr.trim()}`;
  await runCommand('ip', ['netns', 'del', probe]);
  return undefined;
}

export interface Pod {
  readonly name: string;
  /** Namespace name (pass to `ip netns exec`). */
  readonly netns: string;
  readonly ipv4: string;
  readonly ipv6: string;
}

export interface Service {
  readonly name: string;
  readonly ipv4: string;
  readonly ipv6: string;
  /** Host names that resolve to the VIPs in every pod's /etc/hosts. */
  readonly hostnames: readonly string[];
}

export interface SpawnInOptions {
  /** Run as this uid/gid (via setpriv, groups cleared), e.g. 1337 for the proxy. */
  readonly uid?: number;
  readonly gid?: number;
  readonly env?: NodeJS.ProcessEnv;
  readonly stdio?: SpawnOptions['stdio'];
}

/** Removes leftovers of earlier test runs whose process is gone (`mzt<pid>-*`). */
export function teardownStale(): Promise<string[]> {
  return teardownStaleRuns('mzt');
}

export class NetnsLab {
  readonly prefix: string;
  /** The node namespace (bridge, no default route). */
  readonly nodeNetns: string;
  readonly pods = new Map<string, Pod>();
  readonly services = new Map<string, Service>();
  readonly #children = new Set<ChildProcess>();
  #destroyed = false;

  private constructor(prefix: string) {
    this.prefix = prefix;
    this.nodeNetns = `${prefix}${NODE}`;
  }

  /**
   * Cleans leftovers of crashed runs, then builds the node namespace. `tag` makes the prefix
   * unique when one process holds several labs.
   */
  static async create(tag = ''): Promise<NetnsLab> {
    const prefix = `mzt${process.pid}-${tag}`;
    await teardownStale();
    await teardownByPrefix(prefix);
    const lab = new NetnsLab(prefix);
    try {
      const n = lab.nodeNetns;
      await must('ip', ['netns', 'add', n]);
      await must('ip', ['-n', n, 'link', 'set', 'lo', 'up']);
      await must('ip', ['-n', n, 'link', 'add', BRIDGE, 'type', 'bridge']);
      await must('ip', ['-n', n, 'addr', 'add', `${GATEWAY_V4}/24`, 'dev', BRIDGE]);
      await must('ip', ['-n', n, '-6', 'addr', 'add', `${GATEWAY_V6}/64`, 'dev', BRIDGE, 'nodad']);
      await must('ip', ['-n', n, 'link', 'set', BRIDGE, 'up']);
      // The VIP ranges are local to the node namespace with nothing listening, so an uncaptured
      // VIP is refused at once (a TCP reset) instead of waiting on rate-limited ICMP errors.
      await must('ip', ['-n', n, 'route', 'add', 'local', VIP_RANGE_V4, 'dev', 'lo']);
      await must('ip', ['-n', n, '-6', 'route', 'add', 'local', VIP_RANGE_V6, 'dev', 'lo']);
    } catch (err) {
      await lab.destroy();
      throw err;
    }
    return lab;
  }

  /** A pod namespace with eth0 on the bridge, its addresses and default routes. */
  async addPod(name: string): Promise<Pod> {
    assert.ok(/^[a-z0-9-]{1,40}$/.test(name) && name !== NODE, `bad pod name ${name}`);
    assert.ok(!this.pods.has(name), `pod ${name} exists`);
    const index = this.pods.size;
    const pod: Pod = { name, netns: `${this.prefix}${name}`, ipv4: POD_V4(index), ipv6: POD_V6(index) };
    const ns = pod.netns;
    const peer = `veth${index}`;
    await must('ip', ['netns', 'add', ns]);
    this.pods.set(name, pod);
    await must('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    // Created in the pod namespace with the peer placed straight into the node namespace: the
    // root namespace never sees either end.
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
    await must('ip', ['-n', ns, 'addr', 'add', `${pod.ipv4}/24`, 'dev', 'eth0']);
    await must('ip', ['-n', ns, '-6', 'addr', 'add', `${pod.ipv6}/64`, 'dev', 'eth0', 'nodad']);
    await must('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
    await must('ip', ['-n', ns, 'route', 'add', 'default', 'via', GATEWAY_V4]);
    await must('ip', ['-n', ns, '-6', 'route', 'add', 'default', 'via', GATEWAY_V6]);
    this.#writeHosts();
    return pod;
  }

  /**
   * A service VIP pair (IPv4 and IPv6) that every pod resolves by name (`name`, plus
   * `name.<namespace>.svc.cluster.local` when `namespace` is given). Nothing answers on a VIP:
   * it is reached only through capture, as a ClusterIP is with a sidecar and no kube-proxy.
   */
  addService(name: string, namespace?: string): Service {
    assert.ok(!this.services.has(name), `service ${name} exists`);
    const index = this.services.size;
    const hostnames = namespace ? [name, `${name}.${namespace}.svc.cluster.local`] : [name];
    const service: Service = { name, ipv4: VIP_V4(index), ipv6: VIP_V6(index), hostnames };
    this.services.set(name, service);
    this.#writeHosts();
    return service;
  }

  #writeHosts(): void {
    const lines = ['127.0.0.1 localhost', '::1 localhost ip6-localhost ip6-loopback'];
    for (const pod of this.pods.values()) lines.push(`${pod.ipv4} ${pod.name}`, `${pod.ipv6} ${pod.name}`);
    for (const s of this.services.values()) {
      lines.push(`${s.ipv4} ${s.hostnames.join(' ')}`, `${s.ipv6} ${s.hostnames.join(' ')}`);
    }
    const text = `${lines.join('\n')}\n`;
    for (const pod of this.pods.values()) {
      const dir = join(ETC_NETNS, pod.netns);
      mkdirSync(dir, { recursive: true });
      // In place (same inode), so processes already running see the new entries.
      writeFileSync(join(dir, 'hosts'), text);
    }
  }

  #argv(netns: string, command: string, args: readonly string[], opts: SpawnInOptions): string[] {
    const argv = ['netns', 'exec', netns];
    if (opts.uid !== undefined) {
      argv.push('setpriv', `--reuid=${opts.uid}`, `--regid=${opts.gid ?? opts.uid}`, '--clear-groups');
    }
    return [...argv, command, ...args];
  }

  /**
   * Starts `command` inside `netns` (its pid is the command's: `ip netns exec` and setpriv
   * exec). Killed by `destroy` if still running.
   */
  spawn(netns: string, command: string, args: readonly string[], opts: SpawnInOptions = {}): ChildProcess {
    assert.ok(!this.#destroyed, 'lab destroyed');
    assert.ok(netns.startsWith(this.prefix), `${netns} is not one of this lab's namespaces`);
    const child = spawn('ip', this.#argv(netns, command, args, opts), {
      stdio: opts.stdio ?? ['ignore', 'pipe', 'pipe'],
      env: opts.env ?? process.env,
    });
    this.#children.add(child);
    child.on('close', () => this.#children.delete(child));
    return child;
  }

  /** Starts Node (this test's own binary) inside `netns`. */
  spawnNode(netns: string, args: readonly string[], opts: SpawnInOptions = {}): ChildProcess {
    return this.spawn(netns, process.execPath, args, opts);
  }

  /** Runs `command` inside `netns` to completion. */
  async run(
    netns: string,
    command: string,
    args: readonly string[],
    opts: SpawnInOptions & { input?: string } = {},
  ) {
    assert.ok(netns.startsWith(this.prefix), `${netns} is not one of this lab's namespaces`);
    return runCommand('ip', this.#argv(netns, command, args, opts), opts.input);
  }

  /**
   * From inside `netns`: connects to host:port, sends `send` (if any), and returns everything
   * the server sent until it closed, or the connection error's code. Bounded by `timeoutMs`.
   */
  async tcpRequest(
    netns: string,
    host: string,
    port: number,
    opts: { send?: string; timeoutMs?: number; uid?: number } = {},
  ): Promise<{ data: string } | { error: string }> {
    const script = `
      const net = require('node:net');
      const [host, port, send, timeout] = process.argv.slice(1);
      let data = '';
      const s = net.connect({ host, port: Number(port) });
      s.setEncoding('utf8');
      s.setTimeout(Number(timeout), () => { process.stdout.write(JSON.stringify({ error: 'ETIMEDOUT' })); process.exit(0); });
      s.on('connect', () => { if (send) s.write(send); });
      s.on('data', (d) => (data += d));
      s.on('end', () => s.end());
      s.on('close', (hadError) => { if (!hadError) process.stdout.write(JSON.stringify({ data })); });
      s.on('error', (e) => process.stdout.write(JSON.stringify({ error: e.code || e.message })));
    `;
    const args = ['-e', script, host, String(port), opts.send ?? '', String(opts.timeoutMs ?? 10_000)];
    const r = await this.run(netns, process.execPath, args, opts.uid === undefined ? {} : { uid: opts.uid });
    if (r.code !== 0 || r.stdout === '')
      throw new Error(`tcp client in ${netns} failed (${r.code}): ${r.stderr}`);
    return JSON.parse(r.stdout) as { data: string } | { error: string };
  }

  /** Kills everything started in the lab's namespaces and removes them; safe to call twice. */
  async destroy(): Promise<void> {
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
    this.pods.clear();
    this.services.clear();
  }
}

/** Resolves with the first stdout line of `child` that matches `pattern` (e.g. "ready"). */
export function waitForLine(child: ChildProcess, pattern: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffer = '';
    let stderr = '';
    const onData = (d: Buffer) => {
      buffer += d.toString('utf8');
      let nl = buffer.indexOf('\n');
      while (nl >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        if (pattern.test(line)) {
          child.stdout?.off('data', onData);
          child.off('exit', onExit);
          resolve(line);
          return;
        }
        nl = buffer.indexOf('\n');
      }
    };
    const onExit = (code: number | null) =>
      reject(new Error(`process exited (${code}) before printing ${pattern}: ${stderr}`));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    child.stdout?.on('data', onData);
    child.once('exit', onExit);
  });
}
