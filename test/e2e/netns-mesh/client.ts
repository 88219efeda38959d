/**
 * Test client run inside a pod namespace (as root, so its traffic is captured by the sidecar).
 * Prints one JSON line with what it saw; exits 0 unless it could not run at all.
 *
 *   node client.ts http URL COUNT [HEADER=VALUE ...]  → {"statuses":{"200":N},"versions":{"v1":N},"errors":{...}}
 *   node client.ts tcp HOST PORT TEXT                  → {"data":"..."} or {"error":"..."}
 *   node client.ts ws URL MESSAGE                      → {"echo":"..."} or {"error":"..."}
 */
import net from 'node:net';

const [mode, ...args] = process.argv.slice(2);
const TIMEOUT_MS = 10_000;
const out = (v: unknown) => process.stdout.write(`${JSON.stringify(v)}\n`);

async function httpMode(url: string, count: number, headerArgs: string[]): Promise<void> {
  const headers: Record<string, string> = {};
  for (const h of headerArgs) {
    const eq = h.indexOf('=');
    headers[h.slice(0, eq)] = h.slice(eq + 1);
  }
  const statuses: Record<string, number> = {};
  const versions: Record<string, number> = {};
  const errors: Record<string, number> = {};
  let next = 0;
  // A few requests in flight, as a real client would; counts are independent of speed.
  const worker = async () => {
    while (next < count) {
      next++;
      try {
        const r = await fetch(url, { headers, signal: AbortSignal.timeout(TIMEOUT_MS) });
        const text = await r.text();
        statuses[r.status] = (statuses[r.status] ?? 0) + 1;
        let version = 'none';
        try {
          version = String(JSON.parse(text).version ?? 'none');
        } catch {
          // not JSON (an error body from the proxy)
        }
        versions[version] = (versions[version] ?? 0) + 1;
      } catch (err) {
        const e = err as Error & { cause?: { code?: string } };
        const code = e.cause?.code ?? e.name;
        errors[code] = (errors[code] ?? 0) + 1;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(8, count) }, worker));
  out({ statuses, versions, errors });
}

function tcpMode(host: string, port: number, text: string): void {
  let data = '';
  const s = net.connect({ host, port });
  s.setEncoding('utf8');
  s.setTimeout(TIMEOUT_MS, () => {
    out({ error: 'ETIMEDOUT', data });
    s.destroy();
  });
  // Half-close after sending: the echo server answers, then ends its side.
  s.on('connect', () => s.end(text));
  s.on('data', (d: string) => (data += d));
  s.on('close', (hadError) => {
    if (!hadError) out({ data });
  });
  s.on('error', (e: NodeJS.ErrnoException) => out({ error: e.code ?? e.message }));
}

function wsMode(url: string, message: string): void {
  const ws = new WebSocket(url);
  const timer = setTimeout(() => {
    out({ error: 'ETIMEDOUT' });
    ws.close();
  }, TIMEOUT_MS);
  ws.addEventListener('open', () => ws.send(message));
  ws.addEventListener('message', (e) => {
    clearTimeout(timer);
    out({ echo: String(e.data) });
    ws.close(1000);
  });
  ws.addEventListener('error', () => {
    clearTimeout(timer);
    out({ error: 'websocket error' });
  });
}

if (mode === 'http') await httpMode(args[0], Number(args[1]), args.slice(2));
else if (mode === 'tcp') tcpMode(args[0], Number(args[1]), args[2]);
else if (mode === 'ws') wsMode(args[0], args[1]);
else {
  process.stderr.write(`unknown mode ${mode}\n`);
  process.exit(2);
}
