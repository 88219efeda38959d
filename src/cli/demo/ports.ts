/**
 * Port preflight: before starting anything, the demo binds every fixed address it will use,
 * so a taken one is reported by address, purpose and (when Linux lets us see it) the process
 * holding it — instead of a component failing half-way through start-up.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { createServer } from 'node:net';

export interface PortClaim {
  readonly host: string;
  readonly port: number;
  /** What the demo wants it for: `reviews-v2 sidecar inbound (examples/bookinfo/sidecars.yaml)`. */
  readonly purpose: string;
}

/** Resolves undefined when host:port can be bound, else the error code (EADDRINUSE, ...). */
export function probe(host: string, port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(undefined)));
  });
}

/** `/proc/net/tcp` encodes IPv4 addresses as little-endian hex. */
function procAddress(host: string, port: number): string {
  const bytes = host.split('.').map(Number).reverse();
  const hex = bytes.map((b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex}:${port.toString(16).padStart(4, '0')}`.toUpperCase();
}

/**
 * Best effort: the pid and command line of the process listening on host:port (or on the
 * wildcard address at that port). Undefined when it cannot be seen (another user's process).
 */
export function holderOf(host: string, port: number): string | undefined {
  let table: string;
  try {
    table = readFileSync('/proc/net/tcp', 'utf8');
  } catch {
    return undefined;
  }
  const wanted = new Set([procAddress(host, port), procAddress('0.0.0.0', port)]);
  let inode: string | undefined;
  for (const line of table.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    // f[1] local address, f[3] state (0A = LISTEN), f[9] inode.
    if (f.length > 9 && wanted.has(f[1]) && f[3] === '0A') inode = f[9];
  }
  if (!inode) return undefined;
  const target = `socket:[${inode}]`;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`) !== target) continue;
      } catch {
        continue;
      }
      let cmd = '';
      try {
        cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
      } catch {}
      return `pid ${pid}${cmd ? ` (${cmd.length > 100 ? `${cmd.slice(0, 97)}...` : cmd})` : ''}`;
    }
  }
  return undefined;
}

/** One line per address that cannot be bound; empty when all are free. */
export async function checkPorts(claims: readonly PortClaim[]): Promise<string[]> {
  const problems: string[] = [];
  const seen = new Map<string, string>();
  for (const c of claims) {
    if (c.port === 0) continue;
    const key = `${c.host}:${c.port}`;
    const first = seen.get(key);
    if (first !== undefined) {
      problems.push(`${key} is wanted twice: by ${first} and by ${c.purpose}`);
      continue;
    }
    seen.set(key, c.purpose);
    const code = await probe(c.host, c.port);
    if (code === undefined) continue;
    if (code === 'EADDRINUSE') {
      const holder = holderOf(c.host, c.port);
      problems.push(`${key} (${c.purpose}) is already in use${holder ? ` by ${holder}` : ''}`);
    } else if (code === 'EADDRNOTAVAIL') {
      problems.push(`${key} (${c.purpose}): the address is not local to this machine`);
    } else {
      problems.push(`${key} (${c.purpose}) cannot be bound: ${code}`);
    }
  }
  return problems;
}
