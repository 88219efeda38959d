/**
 * tcp-echo: a line echo server over plain TCP, like Istio's tcp-echo sample. Each line received
 * is sent back prefixed (`hello` -> `one hello` on v1, `two hello` on v2), so a client sees
 * which version answered. When the client half-closes (FIN), a last unterminated line is
 * answered too and then the server closes its side: the half-close is honoured, not treated as
 * an abort.
 *
 * Settings: PREFIX (default by version: v1 one, v2 two, v3 three, otherwise the version),
 * MAX_LINE_BYTES (default 65536; a longer line gets an error reply and the connection ends).
 */
import net from 'node:net';
import { envInt, envString } from '../common/env.ts';
import { DEFAULT_GRACE_MS, type Workload, type WorkloadContext, withGrace } from '../common/workload.ts';

const PREFIX_BY_VERSION: Readonly<Record<string, string>> = { v1: 'one', v2: 'two', v3: 'three' };

export async function startTcpEcho(ctx: WorkloadContext): Promise<Workload> {
  const prefix = envString(ctx.env, 'PREFIX', PREFIX_BY_VERSION[ctx.version] ?? ctx.version);
  const maxLine = envInt(ctx.env, 'MAX_LINE_BYTES', 65_536, 1, 16 * 1024 * 1024);
  const prefixBytes = Buffer.from(`${prefix} `);
  const sockets = new Set<net.Socket>();
  let closing = false;

  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    if (closing) {
      socket.destroy();
      return;
    }
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    ctx.log.access('connection', { remote: `${socket.remoteAddress}:${socket.remotePort}` });
    let pending = Buffer.alloc(0);
    let overflowed = false;
    // After our side has ended (shutdown), lines are no longer answered.
    const reply = (line: Buffer) =>
      socket.writableEnded || socket.write(Buffer.concat([prefixBytes, line, Buffer.from('\n')]));
    socket.on('data', (chunk: Buffer) => {
      let data = pending.length > 0 ? Buffer.concat([pending, chunk]) : chunk;
      let nl = data.indexOf(0x0a);
      let wantMore = true;
      while (nl >= 0) {
        const end = nl > 0 && data[nl - 1] === 0x0d ? nl - 1 : nl;
        wantMore = reply(data.subarray(0, end));
        data = data.subarray(nl + 1);
        nl = data.indexOf(0x0a);
      }
      if (data.length > maxLine) {
        overflowed = true;
        pending = Buffer.alloc(0);
        socket.end(`error: line longer than ${maxLine} bytes\n`);
        // Whatever else the client sends is read and dropped.
        socket.removeAllListeners('data');
        socket.resume();
        return;
      }
      pending = Buffer.from(data);
      // Backpressure: stop reading while the reply side is full.
      if (!wantMore) {
        socket.pause();
        socket.once('drain', () => socket.resume());
      }
    });
    socket.on('end', () => {
      if (overflowed) return;
      if (pending.length > 0) reply(pending);
      pending = Buffer.alloc(0);
      socket.end();
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: ctx.host, port: ctx.port }, () => {
      server.removeListener('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => ctx.log.error('listener error', { err }));

  let closed: Promise<void> | undefined;
  return {
    name: ctx.name,
    version: ctx.version,
    host: ctx.host,
    port: (server.address() as net.AddressInfo).port,
    close(graceMs = DEFAULT_GRACE_MS) {
      closed ??= (async () => {
        closing = true;
        const done = new Promise<void>((resolve) => server.close(() => resolve()));
        // Ends our side; each connection closes once its client has ended too.
        for (const socket of sockets) socket.end();
        await withGrace(done, graceMs, () => {
          for (const socket of sockets) socket.destroy();
        });
      })();
      return closed;
    },
  };
}
