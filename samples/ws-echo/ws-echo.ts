/**
 * ws-echo: a WebSocket echo server (RFC 6455 over HTTP/1.1). Every text or binary message comes
 * back unchanged as one frame (fragmented messages are joined first); pings get pongs; a close
 * is answered with a close and the server then closes TCP. Protocol violations close the
 * connection with the code RFC 6455 gives them (1002, 1007, 1009). Plain HTTP: `GET /` and
 * `GET /health` answer JSON naming the version.
 *
 * Settings: MAX_FRAME_BYTES (default 1 MiB), MAX_MESSAGE_BYTES (default 4 MiB).
 */
import http from 'node:http';
import type net from 'node:net';
import { envInt } from '../common/env.ts';
import { DEFAULT_GRACE_MS, type Workload, type WorkloadContext, withGrace } from '../common/workload.ts';
import {
  acceptKey,
  CloseCode,
  encodeClosePayload,
  encodeFrame,
  FrameParser,
  isValidKey,
  MessageAssembler,
  Opcode,
  WebSocketProtocolError,
} from './frame-codec.ts';

function hasToken(header: string | undefined, token: string): boolean {
  return (header ?? '').split(',').some((t) => t.trim().toLowerCase() === token);
}

function refuse(socket: net.Socket, status: number, reason: string, message: string, extra = ''): void {
  const body = `${message}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`,
  );
}

/** One accepted WebSocket connection. */
class EchoConnection {
  readonly socket: net.Socket;
  readonly #parser: FrameParser;
  readonly #assembler: MessageAssembler;
  #closeSent = false;
  #failed = false;

  constructor(socket: net.Socket, maxFrame: number, maxMessage: number) {
    this.socket = socket;
    this.#parser = new FrameParser({ maxFramePayload: maxFrame, from: 'client' });
    this.#assembler = new MessageAssembler(maxMessage);
  }

  receive(chunk: Buffer): void {
    if (this.#failed) return;
    try {
      for (const frame of this.#parser.push(chunk)) {
        const event = this.#assembler.accept(frame);
        if (!event) continue;
        switch (event.type) {
          case 'message':
            // Once our close is sent, no more data goes out (RFC 6455 §5.5.1).
            if (!this.#closeSent) this.#send(encodeFrame({ opcode: event.opcode, payload: event.data }));
            break;
          case 'ping':
            if (!this.#closeSent) this.#send(encodeFrame({ opcode: Opcode.PONG, payload: event.payload }));
            break;
          case 'pong':
            break;
          case 'close':
            // Answer with the same code (none if none was given), then close TCP: the server
            // closes first (RFC 6455 §7.1.1).
            this.close(event.code, '');
            this.#failed = true;
            this.socket.end();
            return;
        }
      }
    } catch (err) {
      if (!(err instanceof WebSocketProtocolError)) throw err;
      this.#failed = true;
      this.close(err.closeCode, err.message);
      this.socket.end();
    }
  }

  /** Sends a close frame once. */
  close(code: number | undefined, reason: string): void {
    if (this.#closeSent) return;
    this.#closeSent = true;
    this.#send(encodeFrame({ opcode: Opcode.CLOSE, payload: encodeClosePayload(code, reason) }));
  }

  #send(frame: Buffer): void {
    if (this.socket.writableEnded) return;
    // Backpressure: read no more until the peer has taken what we owe it.
    if (!this.socket.write(frame) && !this.socket.isPaused()) {
      this.socket.pause();
      this.socket.once('drain', () => this.socket.resume());
    }
  }
}

export async function startWsEcho(ctx: WorkloadContext): Promise<Workload> {
  const maxFrame = envInt(ctx.env, 'MAX_FRAME_BYTES', 1024 * 1024, 125, 256 * 1024 * 1024);
  const maxMessage = envInt(ctx.env, 'MAX_MESSAGE_BYTES', 4 * 1024 * 1024, 125, 1024 * 1024 * 1024);
  const connections = new Set<EchoConnection>();
  let closing = false;

  const server = http.createServer((req, res) => {
    if (closing) res.setHeader('connection', 'close');
    const path = (req.url ?? '/').split('?')[0];
    const reply = (status: number, value: unknown) => {
      const body = `${JSON.stringify(value)}\n`;
      res.writeHead(status, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
      });
      res.end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD')
      reply(405, { error: `method ${req.method} not allowed` });
    else if (path === '/health') reply(200, { status: 'ok', name: ctx.name, version: ctx.version });
    else if (path === '/') {
      reply(200, {
        name: ctx.name,
        version: ctx.version,
        usage: 'open a WebSocket to this URL; messages are echoed',
      });
    } else reply(404, { error: `no such path: ${path}` });
  });

  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    socket.on('error', () => {});
    if (closing) {
      refuse(socket, 503, 'Service Unavailable', 'shutting down');
      return;
    }
    if (!hasToken(req.headers.upgrade, 'websocket')) {
      refuse(socket, 400, 'Bad Request', 'only the websocket upgrade is supported');
      return;
    }
    if (req.method !== 'GET' || req.httpVersion === '1.0' || !hasToken(req.headers.connection, 'upgrade')) {
      refuse(
        socket,
        400,
        'Bad Request',
        'a WebSocket handshake is a GET with Connection: Upgrade over HTTP/1.1',
      );
      return;
    }
    if (req.headers['sec-websocket-version'] !== '13') {
      refuse(
        socket,
        426,
        'Upgrade Required',
        'only WebSocket version 13 is supported',
        'Sec-WebSocket-Version: 13\r\n',
      );
      return;
    }
    const key = req.headers['sec-websocket-key'];
    if (!isValidKey(key)) {
      refuse(socket, 400, 'Bad Request', 'Sec-WebSocket-Key must be the base64 of 16 bytes');
      return;
    }
    socket.setNoDelay(true);
    socket.setTimeout(0);
    socket.write(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${acceptKey(key as string)}\r\n\r\n`,
    );
    const conn = new EchoConnection(socket, maxFrame, maxMessage);
    connections.add(conn);
    ctx.log.access('websocket open', {
      remote: `${socket.remoteAddress}:${socket.remotePort}`,
      path: req.url,
    });
    socket.on('close', () => connections.delete(conn));
    // The peer's FIN ends the conversation; ours follows.
    socket.on('end', () => socket.end());
    socket.on('data', (chunk: Buffer) => conn.receive(chunk));
    if (head.length > 0) conn.receive(head);
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
        server.closeIdleConnections();
        // Going away: each client answers the close, then the connection ends.
        for (const conn of connections) conn.close(CloseCode.GOING_AWAY, 'server shutting down');
        const wsDone = new Promise<void>((resolve) => {
          const check = () => (connections.size === 0 ? resolve() : undefined);
          for (const conn of connections) conn.socket.once('close', () => queueMicrotask(check));
          check();
        });
        await withGrace(
          Promise.all([done, wsDone]).then(() => {}),
          graceMs,
          () => {
            server.closeAllConnections();
            for (const conn of connections) conn.socket.destroy();
          },
        );
      })();
      return closed;
    },
  };
}
