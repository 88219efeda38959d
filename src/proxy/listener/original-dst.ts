/**
 * The original destination of a connection that iptables REDIRECTed to the proxy (transparent
 * capture on 15001/15006): what Envoy's `original_dst` listener filter and ORIGINAL_DST
 * clusters read with getsockopt(SO_ORIGINAL_DST).
 *
 * Node has no getsockopt, so the first choice is the small N-API addon in native/ (built by
 * `npm ci`). Without it, the fallback scans the network namespace's /proc/net/nf_conntrack for
 * the accepted socket's 4-tuple (O(connections); needs root or CAP_NET_ADMIN to read). Nothing
 * here loads until an original-destination lookup is asked for, so listeners that bind
 * ip:port (capture mode NONE) never need either.
 *
 * A connection whose original destination is the listener itself was not redirected (someone
 * connected to 15001 directly, or the rules are missing): it is refused, or the proxy would
 * connect to itself in a loop.
 */
import { constants } from 'node:fs';
import { access, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { isIPv4, type Socket, SocketAddress } from 'node:net';
import { fileURLToPath } from 'node:url';
import { addressBytes } from '../common/cidr.ts';

export interface OriginalDst {
  /** Canonical text: dotted IPv4, or compressed IPv6. */
  readonly address: string;
  readonly port: number;
  readonly family: 4 | 6;
  /** How it was found. */
  readonly method: OriginalDstMethod;
}
export type OriginalDstMethod = 'addon' | 'conntrack';

export const OriginalDstErrorCode = {
  /** Neither the addon nor conntrack can be used here; the message says why for each. */
  UNAVAILABLE: 'MZ_ERR_ORIGINAL_DST_UNAVAILABLE',
  /** The connection was not redirected: its original destination is the listener itself. */
  NOT_REDIRECTED: 'MZ_ERR_ORIGINAL_DST_NOT_REDIRECTED',
  /** The lookup failed for this connection (socket closed, no file descriptor, no entry). */
  LOOKUP_FAILED: 'MZ_ERR_ORIGINAL_DST_LOOKUP_FAILED',
} as const;
export type OriginalDstErrorCode = (typeof OriginalDstErrorCode)[keyof typeof OriginalDstErrorCode];

export class OriginalDstError extends Error {
  readonly code: OriginalDstErrorCode;
  constructor(code: OriginalDstErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'OriginalDstError';
    this.code = code;
  }
}

/** The addon's interface (native/src/original_dst.c). */
export interface OriginalDstAddon {
  getOriginalDst(fd: number): { address: string; port: number; family: number };
}

/** Where `node-gyp rebuild --directory native` puts the addon. */
export const ADDON_PATH = fileURLToPath(
  new URL('../../../native/build/Release/original_dst.node', import.meta.url),
);
export const CONNTRACK_PATH = '/proc/net/nf_conntrack';

export type AddonLoad = { readonly addon: OriginalDstAddon } | { readonly error: string };
const loaded = new Map<string, AddonLoad>();

/** Loads the addon once per path; `{error}` says why it cannot be used (never throws). */
export function loadOriginalDstAddon(path: string = ADDON_PATH): AddonLoad {
  let result = loaded.get(path);
  if (result) return result;
  if (process.platform !== 'linux') {
    result = { error: `SO_ORIGINAL_DST exists only on Linux (this is ${process.platform})` };
  } else {
    try {
      const mod = createRequire(import.meta.url)(path) as Partial<OriginalDstAddon>;
      result =
        typeof mod.getOriginalDst === 'function'
          ? { addon: mod as OriginalDstAddon }
          : { error: `${path} does not export getOriginalDst` };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      result = {
        error:
          code === 'MODULE_NOT_FOUND' || code === 'ERR_DLOPEN_FAILED'
            ? `native addon not built (${path}); build it with: node-gyp rebuild --directory native --nodedir=/usr`
            : `native addon ${path} failed to load: ${(err as Error).message}`,
      };
    }
  }
  loaded.set(path, result);
  return result;
}

export interface OriginalDstOptions {
  /** `auto` (default): the addon, else conntrack. The others force one method. */
  readonly method?: 'auto' | OriginalDstMethod;
  readonly addonPath?: string;
  readonly conntrackPath?: string;
}

/**
 * Which method `getOriginalDst` will use with these options, or why none can be used. Meant
 * for config time, so an original-destination listener can be rejected with the reason.
 */
export async function originalDstAvailability(
  options: OriginalDstOptions = {},
): Promise<{ readonly method: OriginalDstMethod } | { readonly error: string }> {
  const method = options.method ?? 'auto';
  const reasons: string[] = [];
  if (method !== 'conntrack') {
    const load = loadOriginalDstAddon(options.addonPath);
    if ('addon' in load) return { method: 'addon' };
    reasons.push(load.error);
  }
  if (method !== 'addon') {
    const path = options.conntrackPath ?? CONNTRACK_PATH;
    try {
      // Only checks readability; a read of a large table is left to lookups.
      await access(path, constants.R_OK);
      return { method: 'conntrack' };
    } catch (err) {
      reasons.push(conntrackProblem(path, err));
    }
  }
  return { error: `no way to read original destinations: ${reasons.join('; ')}` };
}

function conntrackProblem(path: string, err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EACCES') return `${path} is not readable (needs root or CAP_NET_ADMIN)`;
  if (code === 'ENOENT') return `${path} does not exist (nf_conntrack not loaded, or no procfs support)`;
  return `${path}: ${(err as Error).message}`;
}

/** The socket's file descriptor from libuv's handle (an internal field: checked, not trusted). */
function socketFd(socket: Socket): number | undefined {
  const handle = (socket as unknown as { _handle?: { fd?: unknown } })._handle;
  const fd = handle?.fd;
  return typeof fd === 'number' && Number.isInteger(fd) && fd >= 0 ? fd : undefined;
}

/** Canonical address text, so equal addresses compare equal ("::ffff:1.2.3.4" → "1.2.3.4"). */
function canonical(address: string): string {
  const bytes = addressBytes(address);
  if (!bytes) return address;
  if (bytes.length === 4) return bytes.join('.');
  return new SocketAddress({ address, family: 'ipv6' }).address;
}

/**
 * The original destination of `socket`, an accepted connection of a capture listener. Rejects
 * with OriginalDstError: NOT_REDIRECTED when the connection was not redirected (refuse it),
 * UNAVAILABLE when no method can be used, LOOKUP_FAILED otherwise.
 */
export async function getOriginalDst(socket: Socket, options: OriginalDstOptions = {}): Promise<OriginalDst> {
  const method = options.method ?? 'auto';
  const local = socket.localAddress;
  const localPort = socket.localPort;
  if (local === undefined || localPort === undefined) {
    throw new OriginalDstError(OriginalDstErrorCode.LOOKUP_FAILED, 'the connection is already closed');
  }
  const reasons: string[] = [];
  let found: OriginalDst | undefined;

  if (method !== 'conntrack') {
    const load = loadOriginalDstAddon(options.addonPath);
    const fd = socketFd(socket);
    if ('error' in load) reasons.push(load.error);
    else if (fd === undefined) reasons.push('the socket has no file descriptor');
    else {
      try {
        const r = load.addon.getOriginalDst(fd);
        found = {
          address: canonical(r.address),
          port: r.port,
          family: r.family === 6 ? 6 : 4,
          method: 'addon',
        };
      } catch (err) {
        // ENOENT: conntrack has no NAT for this connection, i.e. it reached us directly.
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw notRedirected(local, localPort);
        throw new OriginalDstError(OriginalDstErrorCode.LOOKUP_FAILED, (err as Error).message, {
          cause: err,
        });
      }
    }
  }

  if (!found && method !== 'addon') {
    const path = options.conntrackPath ?? CONNTRACK_PATH;
    let table: string | undefined;
    try {
      table = await readFile(path, 'latin1');
    } catch (err) {
      reasons.push(conntrackProblem(path, err));
    }
    if (table !== undefined) {
      const remote = socket.remoteAddress;
      const remotePort = socket.remotePort;
      if (remote === undefined || remotePort === undefined) {
        throw new OriginalDstError(OriginalDstErrorCode.LOOKUP_FAILED, 'the connection is already closed');
      }
      found = findInConntrack(table, local, localPort, remote, remotePort);
      if (!found) {
        throw new OriginalDstError(
          OriginalDstErrorCode.LOOKUP_FAILED,
          `no conntrack entry in ${path} for ${remote}:${remotePort} -> ${local}:${localPort}`,
        );
      }
    }
  }

  if (!found) {
    throw new OriginalDstError(
      OriginalDstErrorCode.UNAVAILABLE,
      `no way to read original destinations: ${reasons.join('; ')}`,
    );
  }
  if (found.port === localPort && found.address === canonical(local)) throw notRedirected(local, localPort);
  return found;
}

function notRedirected(local: string, port: number): OriginalDstError {
  const address = canonical(local);
  const where = isIPv4(address) ? `${address}:${port}` : `[${address}]:${port}`;
  return new OriginalDstError(
    OriginalDstErrorCode.NOT_REDIRECTED,
    `connection to ${where} was not redirected by iptables (its original destination is the listener itself); refused so the proxy does not connect to itself`,
  );
}

/**
 * Finds the TCP entry whose reply tuple is (local → remote) — after REDIRECT, replies come from
 * the listener's address — and returns the original tuple's destination. A live entry wins over
 * a closing one left by an earlier connection that used the same ports.
 */
export function findInConntrack(
  table: string,
  local: string,
  localPort: number,
  remote: string,
  remotePort: number,
): OriginalDst | undefined {
  const wantLocal = canonical(local);
  const wantRemote = canonical(remote);
  const lp = String(localPort);
  const rp = String(remotePort);
  let closing: OriginalDst | undefined;
  for (const line of table.split('\n')) {
    // Cheap filters first: the table can hold many thousands of lines.
    if (!line.includes(` sport=${lp} `) || !line.includes(` dport=${rp}`) || !/ tcp /.test(line)) continue;
    const fields = line.trim().split(/\s+/);
    const tuple: Record<string, string>[] = [{}, {}];
    let index = -1;
    for (const f of fields) {
      const eq = f.indexOf('=');
      if (eq < 0) continue;
      const key = f.slice(0, eq);
      if (key === 'src') index++;
      if (index < 0 || index > 1) continue;
      if (key === 'src' || key === 'dst' || key === 'sport' || key === 'dport')
        tuple[index][key] = f.slice(eq + 1);
    }
    const [orig, reply] = tuple;
    if (!orig.dst || !orig.dport || !reply.src || !reply.dst) continue;
    if (reply.sport !== lp || reply.dport !== rp) continue;
    if (canonical(reply.src) !== wantLocal || canonical(reply.dst) !== wantRemote) continue;
    const address = canonical(orig.dst);
    const found: OriginalDst = {
      address,
      port: Number(orig.dport),
      family: isIPv4(address) ? 4 : 6,
      method: 'conntrack',
    };
    if (!/ (TIME_WAIT|CLOSE) /.test(line)) return found;
    closing ??= found;
  }
  return closing;
}
