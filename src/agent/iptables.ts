/**
 * Transparent capture rules, the counterpart of Istio's `istio-iptables` (the sidecar's init
 * container): nat-table REDIRECT of outbound TCP to the proxy's 15001 and of inbound TCP to
 * 15006, with Istio's chains (ISTIO_INBOUND, ISTIO_REDIRECT, ISTIO_IN_REDIRECT, ISTIO_OUTPUT),
 * its include/exclude options and its annotations' meanings.
 *
 * Rules are generated as iptables-restore input (`buildCaptureRules`, pure) and applied in one
 * atomic `iptables-restore --noflush` per family in the network namespace this process runs in
 * (callers use `ip netns exec`). Everything installed lives in the four ISTIO_* chains plus the
 * jumps to them from PREROUTING and OUTPUT, so `cleanCapture` can remove exactly that, whatever
 * options were used to install it.
 *
 * Deliberate differences from istio-iptables: TPROXY inbound mode, DNS capture and KubeVirt
 * interfaces are rejected with a clear error (not silently ignored); interface exclusions are
 * the first rules of ISTIO_INBOUND/ISTIO_OUTPUT instead of RETURNs in PREROUTING/OUTPUT (same
 * effect, and nothing of ours is left outside our chains); only TCP is captured, so the OUTPUT
 * jump is `-p tcp`.
 */
import { spawn } from 'node:child_process';
import { access } from 'node:fs/promises';
import { isIPv4, isIPv6 } from 'node:net';
import { ErrorCode, MizzenError } from '../lib/errors.ts';

export const ISTIO_INBOUND = 'ISTIO_INBOUND';
export const ISTIO_REDIRECT = 'ISTIO_REDIRECT';
export const ISTIO_IN_REDIRECT = 'ISTIO_IN_REDIRECT';
export const ISTIO_OUTPUT = 'ISTIO_OUTPUT';
/** Every chain we create, in creation order. */
export const CAPTURE_CHAINS = [ISTIO_INBOUND, ISTIO_REDIRECT, ISTIO_IN_REDIRECT, ISTIO_OUTPUT] as const;

export const DEFAULT_PROXY_PORT = 15001;
export const DEFAULT_INBOUND_CAPTURE_PORT = 15006;
export const DEFAULT_INBOUND_TUNNEL_PORT = 15008;
export const DEFAULT_PROXY_UID = '1337';
/** Proxy ports Istio's injector always excludes from inbound capture: Prometheus, health, status. */
export const ALWAYS_EXCLUDED_INBOUND_PORTS = ['15090', '15021', '15020'] as const;
/** The address the proxy binds as source for inbound passthrough (Istio's 127.0.0.6 / ::6). */
export const INBOUND_PASSTHROUGH_SOURCE_V4 = '127.0.0.6/32';
export const INBOUND_PASSTHROUGH_SOURCE_V6 = '::6/128';
const LOOPBACK_V4 = '127.0.0.1/32';
const LOOPBACK_V6 = '::1/128';

/**
 * Capture settings as Istio spells them: strings, comma-separated lists, `*` for "all". A field
 * left undefined takes the default Istio's sidecar injector passes (capture everything in and
 * out, proxy uid 1337); an empty string disables that part, as in istio-iptables.
 */
export interface CaptureSettings {
  /** -p: port outbound TCP is redirected to. */
  envoyPort?: string;
  /** -z: port inbound TCP is redirected to. */
  inboundCapturePort?: string;
  /** -e: the HBONE tunnel port, never captured. */
  inboundTunnelPort?: string;
  /** -u: uid(s) whose traffic is never captured (the proxy's). */
  proxyUid?: string;
  /** -g: gid(s) whose traffic is never captured; defaults to the uid list, as Istio. */
  proxyGid?: string;
  /** -m: REDIRECT (TPROXY is not supported). */
  inboundInterceptionMode?: string;
  /** -b: inbound ports to capture, `*` for all, empty for none. */
  inboundPorts?: string;
  /** -d: inbound ports not captured when -b is `*` (added to ALWAYS_EXCLUDED_INBOUND_PORTS). */
  inboundPortsExclude?: string;
  /** -i: outbound destination CIDRs to capture, `*` for all, empty for none. */
  outboundIpRangesInclude?: string;
  /** -x: outbound destination CIDRs never captured. */
  outboundIpRangesExclude?: string;
  /** -q: outbound ports always captured, whatever the destination. */
  outboundPortsInclude?: string;
  /** -o: outbound ports never captured. */
  outboundPortsExclude?: string;
  /** -c: interfaces whose traffic is never captured, either way. */
  excludeInterfaces?: string;
}

export type PortList = readonly string[];
export type CidrList = readonly { readonly text: string; readonly v6: boolean; readonly loopback: boolean }[];

/** Resolved, validated capture options; the only input `buildCaptureRules` reads. */
export interface CaptureOptions {
  readonly proxyPort: number;
  readonly inboundCapturePort: number;
  readonly inboundTunnelPort: number;
  readonly proxyUids: readonly string[];
  readonly proxyGids: readonly string[];
  readonly inboundPorts: '*' | PortList;
  readonly inboundPortsExclude: PortList;
  readonly outboundIpRangesInclude: '*' | CidrList;
  readonly outboundIpRangesExclude: CidrList;
  readonly outboundPortsInclude: PortList;
  readonly outboundPortsExclude: PortList;
  readonly excludeInterfaces: readonly string[];
}

export interface ResolvedCapture {
  readonly options: CaptureOptions;
  /** Things that were accepted but adjusted (an always-excluded port in an include list). */
  readonly warnings: readonly string[];
}

/** Istio's list splitting: commas, surrounding spaces trimmed, empty items dropped. */
function splitList(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

const PORT_TEXT = /^(\d{1,5})(?::(\d{1,5}))?$/;
const ID_TEXT = /^\d{1,10}$/;
const INTERFACE_TEXT = /^[A-Za-z0-9_.:@+-]{1,15}$/;

/**
 * Validates `settings` (defaults applied) into CaptureOptions. Throws one MizzenError
 * (MZ_ERR_INVALID_ARGUMENT) listing every problem, each naming its option.
 */
export function resolveCaptureOptions(settings: CaptureSettings = {}): ResolvedCapture {
  const problems: string[] = [];
  const warnings: string[] = [];

  const port = (flag: string, value: string | undefined, fallback: number): number => {
    const text = (value ?? '').trim();
    if (text === '') return fallback;
    const n = Number(text);
    if (!/^\d+$/.test(text) || n < 1 || n > 65535) {
      problems.push(`${flag}: "${value}" is not a port (1-65535)`);
      return fallback;
    }
    return n;
  };
  const ports = (flag: string, value: string | undefined): string[] => {
    const out: string[] = [];
    for (const item of splitList(value ?? '')) {
      const m = PORT_TEXT.exec(item);
      const lo = m ? Number(m[1]) : 0;
      const hi = m?.[2] !== undefined ? Number(m[2]) : lo;
      if (!m || lo < 1 || hi > 65535 || hi < lo) {
        problems.push(`${flag}: "${item}" is not a port (1-65535) or a port range (low:high)`);
        continue;
      }
      const canonical = m[2] !== undefined ? `${lo}:${hi}` : String(lo);
      if (!out.includes(canonical)) out.push(canonical);
    }
    return out;
  };
  const ids = (flag: string, value: string): string[] => {
    const out = splitList(value);
    for (const id of out) if (!ID_TEXT.test(id)) problems.push(`${flag}: "${id}" is not a numeric id`);
    return out;
  };
  const cidrs = (flag: string, value: string | undefined, allowWildcard: boolean): '*' | CidrList => {
    const text = (value ?? '').trim();
    if (text === '*') {
      if (!allowWildcard) problems.push(`${flag}: "*" is not allowed here; list CIDRs to exclude`);
      return allowWildcard ? '*' : [];
    }
    const out: { text: string; v6: boolean; loopback: boolean }[] = [];
    for (const item of splitList(text)) {
      const parsed = parseCidr(item);
      if (!parsed) {
        problems.push(`${flag}: "${item}" is not a CIDR (for example 10.0.0.0/8 or fd00::/8)`);
        continue;
      }
      if (!out.some((c) => c.text === parsed.text)) out.push(parsed);
    }
    return out;
  };

  const proxyPort = port('envoy-port (-p)', settings.envoyPort, DEFAULT_PROXY_PORT);
  const inboundCapturePort = port(
    'inbound-capture-port (-z)',
    settings.inboundCapturePort,
    DEFAULT_INBOUND_CAPTURE_PORT,
  );
  const inboundTunnelPort = port(
    'inbound-tunnel-port (-e)',
    settings.inboundTunnelPort,
    DEFAULT_INBOUND_TUNNEL_PORT,
  );
  const uidText = settings.proxyUid?.trim() || DEFAULT_PROXY_UID;
  const proxyUids = ids('proxy-uid (-u)', uidText);
  const proxyGids = ids('proxy-gid (-g)', settings.proxyGid?.trim() || uidText);

  const mode = (settings.inboundInterceptionMode ?? '').trim() || 'REDIRECT';
  if (mode === 'TPROXY') {
    problems.push('istio-inbound-interception-mode (-m): TPROXY is not supported; use REDIRECT');
  } else if (mode !== 'REDIRECT') {
    problems.push(`istio-inbound-interception-mode (-m): "${mode}" is not a mode; use REDIRECT`);
  }

  const always = [...ALWAYS_EXCLUDED_INBOUND_PORTS, String(inboundTunnelPort)];
  const inboundText = settings.inboundPorts === undefined ? '*' : settings.inboundPorts.trim();
  let inboundPorts: '*' | string[];
  if (inboundText === '*') inboundPorts = '*';
  else {
    inboundPorts = [];
    for (const p of ports('istio-inbound-ports (-b)', inboundText)) {
      // The proxy's own ports are never captured: capturing them would break health checks
      // and scraping. Istio gets this from its injector; we enforce it here.
      if (always.includes(p))
        warnings.push(`istio-inbound-ports (-b): port ${p} is the proxy's own; not captured`);
      else inboundPorts.push(p);
    }
  }
  const userExcluded = ports('istio-local-exclude-ports (-d)', settings.inboundPortsExclude);
  const inboundPortsExclude: string[] = [...ALWAYS_EXCLUDED_INBOUND_PORTS];
  for (const p of userExcluded) if (!inboundPortsExclude.includes(p)) inboundPortsExclude.push(p);

  const outboundIpRangesInclude = cidrs(
    'istio-service-cidr (-i)',
    settings.outboundIpRangesInclude === undefined ? '*' : settings.outboundIpRangesInclude,
    true,
  );
  const outboundIpRangesExclude = cidrs(
    'istio-service-exclude-cidr (-x)',
    settings.outboundIpRangesExclude,
    false,
  );
  const outboundPortsInclude = ports('istio-outbound-ports (-q)', settings.outboundPortsInclude);
  const outboundPortsExclude = ports(
    'istio-local-outbound-ports-exclude (-o)',
    settings.outboundPortsExclude,
  );
  const excludeInterfaces = splitList(settings.excludeInterfaces ?? '');
  for (const name of excludeInterfaces) {
    if (!INTERFACE_TEXT.test(name))
      problems.push(`istio-exclude-interfaces (-c): "${name}" is not an interface name`);
  }

  if (problems.length > 0) {
    throw new MizzenError(ErrorCode.INVALID_ARGUMENT, `invalid capture options:\n  ${problems.join('\n  ')}`);
  }
  return {
    options: {
      proxyPort,
      inboundCapturePort,
      inboundTunnelPort,
      proxyUids,
      proxyGids,
      inboundPorts,
      inboundPortsExclude,
      outboundIpRangesInclude: outboundIpRangesInclude as '*' | CidrList,
      outboundIpRangesExclude: outboundIpRangesExclude as CidrList,
      outboundPortsInclude,
      outboundPortsExclude,
      excludeInterfaces,
    },
    warnings,
  };
}

/** `addr/len` → canonical text (lower-case address), family and whether it is loopback. */
function parseCidr(text: string): { text: string; v6: boolean; loopback: boolean } | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const addr = text.slice(0, slash).toLowerCase();
  const lenText = text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(lenText)) return undefined;
  const len = Number(lenText);
  if (isIPv4(addr)) {
    if (len > 32) return undefined;
    return { text: `${addr}/${len}`, v6: false, loopback: addr.startsWith('127.') };
  }
  if (isIPv6(addr)) {
    if (len > 128) return undefined;
    return { text: `${addr}/${len}`, v6: true, loopback: addr === '::1' || addr === '0:0:0:0:0:0:0:1' };
  }
  return undefined;
}

/**
 * The annotations Istio's injector turns into istio-iptables flags, with the same meanings.
 * `sidecar.istio.io/interceptionMode` and `status.sidecar.istio.io/port` included.
 */
export const CAPTURE_ANNOTATIONS = {
  interceptionMode: 'sidecar.istio.io/interceptionMode',
  includeInboundPorts: 'traffic.sidecar.istio.io/includeInboundPorts',
  excludeInboundPorts: 'traffic.sidecar.istio.io/excludeInboundPorts',
  includeOutboundIPRanges: 'traffic.sidecar.istio.io/includeOutboundIPRanges',
  excludeOutboundIPRanges: 'traffic.sidecar.istio.io/excludeOutboundIPRanges',
  includeOutboundPorts: 'traffic.sidecar.istio.io/includeOutboundPorts',
  excludeOutboundPorts: 'traffic.sidecar.istio.io/excludeOutboundPorts',
  excludeInterfaces: 'traffic.sidecar.istio.io/excludeInterfaces',
  kubevirtInterfaces: 'traffic.sidecar.istio.io/kubevirtInterfaces',
  statusPort: 'status.sidecar.istio.io/port',
} as const;

/**
 * CaptureSettings from a workload's annotations, as Istio's injector builds the init container's
 * arguments: absent annotations keep the defaults (capture all in and out), and the status port
 * is excluded from inbound capture. Throws (MZ_ERR_INVALID_ARGUMENT) on annotations whose
 * feature is not supported, naming the annotation.
 */
export function captureSettingsFromAnnotations(
  annotations: Readonly<Record<string, string>>,
): CaptureSettings {
  const a = CAPTURE_ANNOTATIONS;
  if (annotations[a.kubevirtInterfaces]) {
    throw new MizzenError(ErrorCode.INVALID_ARGUMENT, `annotation ${a.kubevirtInterfaces} is not supported`);
  }
  const mode = annotations[a.interceptionMode];
  if (mode !== undefined && mode !== 'REDIRECT') {
    throw new MizzenError(
      ErrorCode.INVALID_ARGUMENT,
      `annotation ${a.interceptionMode}: "${mode}" is not supported; only REDIRECT is`,
    );
  }
  const excludeInbound = [annotations[a.statusPort] ?? '', annotations[a.excludeInboundPorts] ?? '']
    .filter((s) => s.trim() !== '')
    .join(',');
  const settings: CaptureSettings = { inboundInterceptionMode: 'REDIRECT' };
  if (annotations[a.includeInboundPorts] !== undefined)
    settings.inboundPorts = annotations[a.includeInboundPorts];
  if (excludeInbound !== '') settings.inboundPortsExclude = excludeInbound;
  if (annotations[a.includeOutboundIPRanges] !== undefined) {
    settings.outboundIpRangesInclude = annotations[a.includeOutboundIPRanges];
  }
  if (annotations[a.excludeOutboundIPRanges] !== undefined) {
    settings.outboundIpRangesExclude = annotations[a.excludeOutboundIPRanges];
  }
  if (annotations[a.includeOutboundPorts] !== undefined)
    settings.outboundPortsInclude = annotations[a.includeOutboundPorts];
  if (annotations[a.excludeOutboundPorts] !== undefined)
    settings.outboundPortsExclude = annotations[a.excludeOutboundPorts];
  if (annotations[a.excludeInterfaces] !== undefined)
    settings.excludeInterfaces = annotations[a.excludeInterfaces];
  return settings;
}

export interface CaptureRules {
  /** iptables-restore input for IPv4. */
  readonly ipv4: string;
  /** ip6tables-restore input for IPv6. */
  readonly ipv6: string;
}

/** iptables-restore input (for `iptables-restore --noflush`) for both families. */
export function buildCaptureRules(options: CaptureOptions): CaptureRules {
  return { ipv4: buildFamily(options, false), ipv6: buildFamily(options, true) };
}

function buildFamily(o: CaptureOptions, v6: boolean): string {
  const loopback = v6 ? LOOPBACK_V6 : LOOPBACK_V4;
  const passthroughSource = v6 ? INBOUND_PASSTHROUGH_SOURCE_V6 : INBOUND_PASSTHROUGH_SOURCE_V4;
  const tunnel = String(o.inboundTunnelPort);
  const lines: string[] = ['*nat'];
  for (const chain of CAPTURE_CHAINS) lines.push(`:${chain} - [0:0]`);
  const add = (chain: string, rule: string) => lines.push(`-A ${chain} ${rule}`);

  for (const nic of o.excludeInterfaces) add(ISTIO_INBOUND, `-i ${nic} -j RETURN`);
  add(ISTIO_INBOUND, `-p tcp --dport ${tunnel} -j RETURN`);
  add(ISTIO_REDIRECT, `-p tcp -j REDIRECT --to-ports ${o.proxyPort}`);
  add(ISTIO_IN_REDIRECT, `-p tcp -j REDIRECT --to-ports ${o.inboundCapturePort}`);

  // Inbound: everything but the excluded ports, or only the listed ports.
  if (o.inboundPorts === '*' || o.inboundPorts.length > 0) {
    add('PREROUTING', `-p tcp -j ${ISTIO_INBOUND}`);
    if (o.inboundPorts === '*') {
      for (const p of o.inboundPortsExclude) add(ISTIO_INBOUND, `-p tcp --dport ${p} -j RETURN`);
      add(ISTIO_INBOUND, `-p tcp -j ${ISTIO_IN_REDIRECT}`);
    } else {
      for (const p of o.inboundPorts) add(ISTIO_INBOUND, `-p tcp --dport ${p} -j ${ISTIO_IN_REDIRECT}`);
    }
  }

  add('OUTPUT', `-p tcp -j ${ISTIO_OUTPUT}`);
  for (const nic of o.excludeInterfaces) add(ISTIO_OUTPUT, `-o ${nic} -j RETURN`);
  // Port exclusions come before the proxy's loop-back special case, as in Istio.
  for (const p of o.outboundPortsExclude) add(ISTIO_OUTPUT, `-p tcp --dport ${p} -j RETURN`);
  // The proxy's inbound passthrough connects to the app from this source: never capture it.
  add(ISTIO_OUTPUT, `-o lo -s ${passthroughSource} -j RETURN`);

  const include = o.outboundIpRangesInclude;
  const includesLoopback = include !== '*' && include.some((c) => c.loopback);
  const owners = [
    ...o.proxyUids.map((id) => ['--uid-owner', id] as const),
    ...o.proxyGids.map((id) => ['--gid-owner', id] as const),
  ];
  for (const [match, id] of owners) {
    // The proxy calling the pod's own IP (an app calling itself through its service VIP) goes
    // over lo: send it to inbound capture so the server side of the mesh sees it.
    add(
      ISTIO_OUTPUT,
      `-o lo ! -d ${loopback} -p tcp ! --dport ${tunnel} -m owner ${match} ${id} -j ${ISTIO_IN_REDIRECT}`,
    );
    // An app calling its own pod IP over lo is not captured, unless loopback was asked for.
    if (!includesLoopback) add(ISTIO_OUTPUT, `-o lo -m owner ! ${match} ${id} -j RETURN`);
    // The proxy's own outbound connections are never captured: that would loop.
    add(ISTIO_OUTPUT, `-m owner ${match} ${id} -j RETURN`);
  }

  add(ISTIO_OUTPUT, `-d ${loopback} -j RETURN`);
  for (const c of o.outboundIpRangesExclude) if (c.v6 === v6) add(ISTIO_OUTPUT, `-d ${c.text} -j RETURN`);
  for (const p of o.outboundPortsInclude) add(ISTIO_OUTPUT, `-p tcp --dport ${p} -j ${ISTIO_REDIRECT}`);
  if (include === '*') add(ISTIO_OUTPUT, `-j ${ISTIO_REDIRECT}`);
  else for (const c of include) if (c.v6 === v6) add(ISTIO_OUTPUT, `-d ${c.text} -j ${ISTIO_REDIRECT}`);

  lines.push('COMMIT', '');
  return lines.join('\n');
}

/** The rules in `save` (iptables-save output) that jump to one of our chains, from other chains. */
function jumpsToCaptureChains(save: string): string[] {
  const out: string[] = [];
  let table = '';
  for (const line of save.split('\n')) {
    if (line.startsWith('*')) table = line.slice(1).trim();
    if (table !== 'nat' || !line.startsWith('-A ')) continue;
    const [, chain] = line.split(' ', 3);
    if ((CAPTURE_CHAINS as readonly string[]).includes(chain)) continue;
    const target = /\s-j\s+(\S+)/.exec(line)?.[1];
    if (target && (CAPTURE_CHAINS as readonly string[]).includes(target)) out.push(line);
  }
  return out;
}

/** Our chains that exist in the nat table of `save` (iptables-save output). */
function existingCaptureChains(save: string): string[] {
  const found = new Set<string>();
  let table = '';
  for (const line of save.split('\n')) {
    if (line.startsWith('*')) table = line.slice(1).trim();
    if (table === 'nat' && line.startsWith(':')) {
      const name = line.slice(1).split(' ')[0];
      if ((CAPTURE_CHAINS as readonly string[]).includes(name)) found.add(name);
    }
  }
  return CAPTURE_CHAINS.filter((c) => found.has(c));
}

/**
 * iptables-restore input that removes exactly our capture, given the current state
 * (`iptables-save -t nat` output): the jumps into our chains, then the chains. Empty when
 * nothing of ours is installed.
 */
export function buildCleanRules(save: string): string {
  const jumps = jumpsToCaptureChains(save);
  const chains = existingCaptureChains(save);
  if (jumps.length === 0 && chains.length === 0) return '';
  const lines = ['*nat'];
  for (const jump of jumps) lines.push(`-D${jump.slice(2)}`);
  for (const chain of chains) lines.push(`-F ${chain}`);
  for (const chain of chains) lines.push(`-X ${chain}`);
  lines.push('COMMIT', '');
  return lines.join('\n');
}

/**
 * Input that installs `rules` over whatever capture is already there, atomically: old jumps are
 * deleted and our chains flushed in the same transaction that adds the new rules, so applying
 * twice (or over rules from real istio-iptables) leaves exactly one copy.
 */
export function buildReplaceRules(rules: string, save: string): string {
  const jumps = jumpsToCaptureChains(save);
  const chains = existingCaptureChains(save);
  if (jumps.length === 0 && chains.length === 0) return rules;
  const lines = rules.split('\n');
  const firstRule = lines.findIndex((l) => l.startsWith('-A '));
  const prelude = [...jumps.map((j) => `-D${j.slice(2)}`), ...chains.map((c) => `-F ${c}`)];
  lines.splice(firstRule, 0, ...prelude);
  return lines.join('\n');
}

export interface ExecResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}
/** Runs a command, feeding `input` on stdin. Rejects only when it cannot be started. */
export type Exec = (command: string, args: readonly string[], input?: string) => Promise<ExecResult>;

export const spawnExec: Exec = (command, args, input) =>
  new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr }));
    // A command that exits before reading stdin makes the write fail with EPIPE; its exit code
    // and stderr tell the real story, so the write error itself is not reported.
    child.stdin.on('error', () => {});
    child.stdin.end(input ?? '');
  });

interface Family {
  readonly name: 'IPv4' | 'IPv6';
  readonly save: string;
  readonly restore: string;
}
const FAMILIES: readonly Family[] = [
  { name: 'IPv4', save: 'iptables-save', restore: 'iptables-restore' },
  { name: 'IPv6', save: 'ip6tables-save', restore: 'ip6tables-restore' },
];

async function run(exec: Exec, command: string, args: readonly string[], input?: string): Promise<string> {
  let result: ExecResult;
  try {
    result = await exec(command, args, input);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new MizzenError(
        ErrorCode.INVALID_ARGUMENT,
        `${command} not found: install iptables (Debian: apt-get install iptables)`,
        { cause: err },
      );
    }
    throw err;
  }
  if (result.code !== 0) {
    const detail = result.stderr.trim() || result.stdout.trim() || `exit code ${result.code}`;
    throw new MizzenError(ErrorCode.INVALID_ARGUMENT, `${command} ${args.join(' ')} failed: ${detail}`);
  }
  return result.stdout;
}

// --wait: with the legacy backend another iptables user may hold the xtables lock briefly.
const RESTORE_ARGS = ['--noflush', '--wait=10'];

export interface ApplyOptions {
  /** Also install the IPv6 rules (default: when this namespace has IPv6 at all). */
  readonly ipv6?: boolean;
  readonly exec?: Exec;
}

export interface ApplyReport {
  /** The iptables-restore input applied per family (empty for a family that was skipped). */
  readonly applied: { readonly ipv4: string; readonly ipv6: string };
  readonly ipv6Skipped?: string;
}

/** Whether the current network namespace has IPv6 (the kernel lists addresses only then). */
async function hasIpv6(): Promise<boolean> {
  try {
    await access('/proc/net/if_inet6');
    return true;
  } catch {
    return false;
  }
}

/**
 * Installs the capture rules in the current network namespace: one `iptables-restore --noflush`
 * (and one `ip6tables-restore`) each, replacing any capture already installed. For IPv6 it also
 * adds ::6/128 on lo, the inbound passthrough source (IPv6 loopback is only ::1/128).
 */
export async function applyCapture(options: CaptureOptions, apply: ApplyOptions = {}): Promise<ApplyReport> {
  const exec = apply.exec ?? spawnExec;
  const rules = buildCaptureRules(options);
  const wantV6 = apply.ipv6 ?? (await hasIpv6());
  const applied = { ipv4: '', ipv6: '' };
  for (const family of FAMILIES) {
    const v6 = family.name === 'IPv6';
    if (v6 && !wantV6) continue;
    try {
      const save = await run(exec, family.save, ['-t', 'nat']);
      const input = buildReplaceRules(v6 ? rules.ipv6 : rules.ipv4, save);
      await run(exec, family.restore, RESTORE_ARGS, input);
      applied[v6 ? 'ipv6' : 'ipv4'] = input;
    } catch (err) {
      // Each family is atomic on its own; never leave IPv4 captured and IPv6 not (or the
      // reverse): remove what this call installed, best effort, and report the first error.
      if (applied.ipv4 !== '') await removeFamily(exec, FAMILIES[0]).catch(() => {});
      throw err;
    }
  }
  if (wantV6) await addPassthroughAddress(exec);
  return wantV6 ? { applied } : { applied, ipv6Skipped: 'IPv6 is disabled in this network namespace' };
}

async function addPassthroughAddress(exec: Exec): Promise<void> {
  const r = await exec('ip', ['-6', 'addr', 'add', INBOUND_PASSTHROUGH_SOURCE_V6, 'dev', 'lo', 'nodad']);
  if (r.code !== 0 && !/exists|already assigned/i.test(r.stderr)) {
    throw new MizzenError(
      ErrorCode.INVALID_ARGUMENT,
      `ip -6 addr add ::6/128 dev lo failed: ${r.stderr.trim()}`,
    );
  }
}

/** Removes our capture from one family; returns the iptables-restore input ('' when none). */
async function removeFamily(exec: Exec, family: Family, dryRun = false): Promise<string> {
  const input = buildCleanRules(await run(exec, family.save, ['-t', 'nat']));
  if (input !== '' && !dryRun) await run(exec, family.restore, RESTORE_ARGS, input);
  return input;
}

export interface CleanReport {
  /** The iptables-restore input that removed our rules, per family ('' when none were there). */
  readonly removed: { readonly ipv4: string; readonly ipv6: string };
}

/**
 * Removes exactly the capture installed by `applyCapture` (or istio-iptables) from the current
 * network namespace: the jumps into ISTIO_INBOUND/ISTIO_OUTPUT, the four chains and the ::6
 * passthrough address. With `dryRun` it only reports what it would remove.
 */
export async function cleanCapture(opts: { exec?: Exec; dryRun?: boolean } = {}): Promise<CleanReport> {
  const exec = opts.exec ?? spawnExec;
  const removed = { ipv4: '', ipv6: '' };
  const v6Present = await hasIpv6();
  for (const family of FAMILIES) {
    const v6 = family.name === 'IPv6';
    if (v6 && !v6Present) continue;
    removed[v6 ? 'ipv6' : 'ipv4'] = await removeFamily(exec, family, opts.dryRun);
  }
  if (v6Present && !opts.dryRun) {
    // Absent is fine: clean is idempotent.
    await exec('ip', ['-6', 'addr', 'del', INBOUND_PASSTHROUGH_SOURCE_V6, 'dev', 'lo']);
  }
  return { removed };
}
