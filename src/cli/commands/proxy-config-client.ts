/**
 * How `proxy-status` and `proxy-config` reach what they show: mizzend's monitoring port
 * (`/debug/syncz`, `/debug/config_dump?proxyID=`) and a proxy's admin port (`/config_dump`,
 * `/clusters?format=json`). Also turns the proxy the user named into one connected proxy, and
 * finds its admin address when `--admin` is not given. Every failure is a `CommandFailure`
 * whose message names the address or the proxy and says what to try.
 */
import http from 'node:http';
import { InvalidArgumentError } from 'commander';
import { ExitCode } from '../exit-codes.ts';

/** A failure the command reports as `error: <message>` and exits with `code`. */
export class CommandFailure extends Error {
  readonly code: number;
  constructor(message: string, code: number = ExitCode.INTERNAL) {
    super(message);
    this.name = 'CommandFailure';
    this.code = code;
  }
}

export const DEFAULT_MIZZEND_ADDRESS = 'localhost:15014';
/** Envoy's (and Istio's proxyAdminPort) default admin port. */
export const DEFAULT_ADMIN_PORT = 15000;
const REQUEST_TIMEOUT_MS = 10_000;

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

export function formatHostPort(a: HostPort): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

/** `host:port` or `[v6]:port`; undefined when malformed. */
export function parseHostPort(value: string): HostPort | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(value.trim());
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return undefined;
  return { host: m[1] ?? m[2], port };
}

/** commander parser for address flags. */
export function hostPortArg(value: string): HostPort {
  const a = parseHostPort(value);
  if (!a) throw new InvalidArgumentError('expected host:port (or [ipv6]:port) with a port 1-65535.');
  return a;
}

export function portArg(value: string): number {
  if (!/^\d{1,5}$/.test(value) || Number(value) < 1 || Number(value) > 65535) {
    throw new InvalidArgumentError('a port is a number 1-65535.');
  }
  return Number(value);
}

/** mizzend's address: the flag, else MIZZEND_ADDRESS, else localhost:15014. */
export function mizzendAddress(
  flag: HostPort | undefined,
  env: Readonly<Record<string, string | undefined>>,
) {
  if (flag) return flag;
  const fromEnv = env.MIZZEND_ADDRESS;
  if (fromEnv !== undefined && fromEnv !== '') {
    const a = parseHostPort(fromEnv);
    if (!a) {
      throw new CommandFailure(
        `MIZZEND_ADDRESS=${JSON.stringify(fromEnv)} is not host:port (or [ipv6]:port)`,
        ExitCode.USAGE,
      );
    }
    return a;
  }
  return parseHostPort(DEFAULT_MIZZEND_ADDRESS) as HostPort;
}

/** GET `path` from `address` and parse the JSON body; `what` names the server in errors. */
export function getJson(address: HostPort, path: string, what: string): Promise<unknown> {
  const where = `${what} at ${formatHostPort(address)}`;
  return new Promise((resolve, reject) => {
    const req = http.get(
      { host: address.host, port: address.port, path, agent: false, timeout: REQUEST_TIMEOUT_MS },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err) => reject(new CommandFailure(`reading from ${where}: ${err.message}`)));
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode !== 200) {
            let detail = body.trim();
            try {
              const parsed = JSON.parse(body) as { error?: unknown };
              if (typeof parsed.error === 'string') detail = parsed.error;
            } catch {
              // plain-text error body
            }
            reject(new CommandFailure(`${where} answered ${path} with HTTP ${res.statusCode}: ${detail}`));
            return;
          }
          try {
            resolve(JSON.parse(body));
          } catch {
            reject(new CommandFailure(`${where} answered ${path} with something that is not JSON`));
          }
        });
      },
    );
    req.on('timeout', () => {
      req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS / 1000}s`));
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      const why =
        err.code === 'ECONNREFUSED'
          ? 'connection refused'
          : err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN'
            ? `host ${address.host} not found`
            : err.message;
      reject(new CommandFailure(`cannot reach ${where}: ${why}`));
    });
  });
}

/** One `/debug/syncz` entry, the fields these commands read. */
export interface SyncTypeStatus {
  readonly type_url: string;
  readonly type: string;
  readonly state: string;
  readonly sent_nonce?: string;
  readonly acked_nonce?: string;
  readonly sent_version?: string;
  readonly acked_version?: string;
  readonly acked_at?: string;
  readonly sent_at?: string;
  readonly last_nack?: { readonly nonce: string; readonly message: string; readonly at?: string };
}

export interface SyncEntry {
  readonly proxy: string;
  readonly node_id: string;
  readonly cluster_id: string;
  readonly istio_version: string;
  readonly peer: string;
  readonly connected_at?: string;
  readonly types: readonly SyncTypeStatus[];
  /** The proxy's admin address (host:port) when mizzend knows it (announced by the proxy). */
  readonly admin_address?: string;
  /** Or only its admin port (Istio's ProxyConfig.proxyAdminPort), on the xDS peer's host. */
  readonly admin_port?: number;
  readonly [key: string]: unknown;
}

export async function fetchSyncz(mizzend: HostPort): Promise<SyncEntry[]> {
  const body = await getJson(mizzend, '/debug/syncz', 'mizzend');
  const valid = (e: unknown) =>
    typeof e === 'object' &&
    e !== null &&
    typeof (e as SyncEntry).proxy === 'string' &&
    typeof (e as SyncEntry).node_id === 'string' &&
    Array.isArray((e as SyncEntry).types);
  if (!Array.isArray(body) || !body.every(valid)) {
    throw new CommandFailure(
      `mizzend at ${formatHostPort(mizzend)}: /debug/syncz is not a list of proxies with proxy, node_id and types`,
    );
  }
  return body as SyncEntry[];
}

/**
 * The connected proxy `name` means: its `pod.namespace` id, its node id, or a pod name
 * (`pod`, or `pod` with `namespace`) that only one proxy has. With several connections of
 * one proxy (a reconnect mizzend has not yet dropped), the newest wins.
 */
export function resolveProxy(
  entries: readonly SyncEntry[],
  name: string,
  namespace: string | undefined,
  mizzend: HostPort,
): SyncEntry {
  const wanted = namespace && !name.includes('.') && !name.includes('~') ? `${name}.${namespace}` : name;
  let found = entries.filter((e) => e.proxy === wanted || e.node_id === wanted);
  if (found.length === 0 && !wanted.includes('.')) {
    found = entries.filter((e) => e.proxy.split('.')[0] === wanted);
    const ids = new Set(found.map((e) => e.proxy));
    if (ids.size > 1) {
      throw new CommandFailure(
        `proxy "${name}" is ambiguous; it could be ${[...ids].sort().join(', ')}: name it as pod.namespace`,
      );
    }
  }
  if (found.length === 0) {
    const known = [...new Set(entries.map((e) => e.proxy))].sort();
    const list = known.length ? `connected proxies: ${known.join(', ')}` : 'no proxy is connected';
    throw new CommandFailure(
      `proxy "${wanted}" is not connected to mizzend at ${formatHostPort(mizzend)}; ${list}`,
    );
  }
  return found.reduce((a, b) => ((b.connected_at ?? '') > (a.connected_at ?? '') ? b : a));
}

/** Whether mizzend's entry says where the proxy's admin API is (not a guess). */
export function adminAnnounced(entry: SyncEntry): boolean {
  return typeof entry.admin_address === 'string' && parseHostPort(entry.admin_address) !== undefined;
}

/** Loopback only: a guessed address must never send anything off this machine. */
export function isLoopback(host: string): boolean {
  return /^(::ffff:)?127\.\d+\.\d+\.\d+$/.test(host) || host === '::1' || host === 'localhost';
}

/**
 * Where the proxy's admin API may be, best first, from what mizzend knows: the address the
 * proxy announced; else, on the announced admin port or `adminPort`, the proxy's own IP (from
 * its node id: `mizzenctl demo` binds each admin there) and then the host its xDS stream
 * comes from (a proxy's default admin address is 127.0.0.1). Guesses are loopback addresses
 * only; a proxy elsewhere needs `--admin`.
 */
export function adminCandidates(entry: SyncEntry, adminPort: number): HostPort[] {
  const announced = typeof entry.admin_address === 'string' ? parseHostPort(entry.admin_address) : undefined;
  if (announced) return [announced];
  const port =
    Number.isInteger(entry.admin_port) && (entry.admin_port as number) > 0
      ? (entry.admin_port as number)
      : adminPort;
  const nodeIp = entry.node_id.split('~')[1] ?? '';
  const peerHost = parseHostPort(entry.peer.replace(/^ipv[46]:/, ''))?.host.replace(/^::ffff:/, '') ?? '';
  const hosts = [...new Set([nodeIp, peerHost])].filter(isLoopback);
  if (hosts.length === 0) {
    throw new CommandFailure(
      `proxy ${entry.proxy} is at ${nodeIp || peerHost}, not on this machine's loopback, and did not announce ` +
        'its admin address: give it with --admin host:port',
    );
  }
  return hosts.map((host) => ({ host, port }));
}
