/**
 * A stand-in for the sidecar in the capture e2e: what mizzen-proxy's original-destination
 * listeners do, reduced to reporting. Each accepted connection gets one line
 * `<label> orig=<address:port> via=<method>`, then:
 *   - inbound listeners (`passthrough`) connect to the original destination from 127.0.0.6/::6,
 *     as Envoy's inbound passthrough does, and relay its answer;
 *   - outbound listeners relay the answer of `forward[orig]` when there is one;
 *   - a connection that was not redirected gets `refused <code>` and is closed.
 * Usage: node capture-proxy.ts '{"listeners":[{"port":15001,"label":"out"}],"forward":{},"method":"auto"}'
 */
import { connect, createServer, type Socket } from 'node:net';
import { getOriginalDst, type OriginalDstOptions } from '../../../../src/proxy/listener/original-dst.ts';

interface Config {
  listeners: { port: number; label: string; passthrough?: boolean }[];
  /** "addr:port" (IPv6 bracketed) → "host:port" */
  forward?: Record<string, string>;
  method?: OriginalDstOptions['method'];
}
const config = JSON.parse(process.argv[2]) as Config;

function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}
function split(target: string): { host: string; port: number } {
  const i = target.lastIndexOf(':');
  return { host: target.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(target.slice(i + 1)) };
}

function relay(client: Socket, host: string, port: number, localAddress?: string): void {
  const upstream = connect({ host, port, ...(localAddress ? { localAddress } : {}) });
  upstream.on('error', (err: NodeJS.ErrnoException) => client.end(`upstream-error ${err.code}\n`));
  upstream.pipe(client);
  client.on('error', () => upstream.destroy());
}

async function onConnection(client: Socket, label: string, passthrough: boolean): Promise<void> {
  client.on('error', () => {});
  let orig: Awaited<ReturnType<typeof getOriginalDst>>;
  try {
    orig = await getOriginalDst(client, config.method ? { method: config.method } : {});
  } catch (err) {
    client.end(`refused ${(err as { code?: string }).code}\n`);
    return;
  }
  const key = hostPort(orig.address, orig.port);
  client.write(`${label} orig=${key} via=${orig.method}\n`);
  if (passthrough) {
    relay(client, orig.address, orig.port, orig.family === 6 ? '::6' : '127.0.0.6');
    return;
  }
  const target = config.forward?.[key];
  if (!target) {
    client.end();
    return;
  }
  const { host, port } = split(target);
  relay(client, host, port);
}

let listening = 0;
for (const l of config.listeners) {
  createServer((socket) => void onConnection(socket, l.label, l.passthrough === true)).listen(l.port, '::', () => {
    if (++listening === config.listeners.length) console.log('ready');
  });
}
