/**
 * Test backends on 127.0.0.1, port 0: an HTTP/1.1 server that records every request (method,
 * url, raw headers, body) and answers with a JSON echo, a fixed status, a hang or a reset; a
 * WebSocket-style upgrade echo; and a raw TCP echo server for tcp_proxy tests.
 */
import http from 'node:http';
import net from 'node:net';

export interface RecordedRequest {
  readonly method: string;
  readonly url: string;
  /** Raw header pairs as received (name case preserved). */
  readonly rawHeaders: readonly string[];
  /** Lowercased header object (node's merge rules). */
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
  readonly httpVersion: string;
}

export type Behaviour =
  | { kind: 'echo'; status?: number; headers?: Record<string, string> }
  | { kind: 'status'; status: number; body?: string; headers?: Record<string, string> }
  | { kind: 'hang' }
  | { kind: 'reset' }
  | { kind: 'chunked'; chunks: string[]; trailers?: Record<string, string> }
  | { kind: 'close-delimited'; body: string };

export class FakeUpstream {
  readonly name: string;
  readonly server: http.Server;
  port = 0;
  readonly requests: RecordedRequest[] = [];
  /** Per-request behaviour; the default echoes. */
  behave: (req: RecordedRequest, index: number) => Behaviour = () => ({ kind: 'echo' });
  private readonly sockets = new Set<net.Socket>();
  private readonly hanging = new Set<http.ServerResponse>();
  connections = 0;

  constructor(name = 'upstream') {
    this.name = name;
    this.server = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => this.onRequest(req, res));
    this.server.on('connection', (s) => {
      this.connections++;
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    this.server.on('upgrade', (req, socket, head) => {
      this.requests.push({
        method: req.method ?? '',
        url: req.url ?? '',
        rawHeaders: req.rawHeaders,
        headers: req.headers,
        body: '',
        httpVersion: req.httpVersion,
      });
      socket.write(
        'HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: websocket\r\nsec-websocket-accept: fake\r\n\r\n',
      );
      if (head.length > 0) socket.write(head);
      // Echo every byte back, uppercased so the test sees it went through the backend.
      socket.on('data', (d: Buffer) => socket.write(d.toString('latin1').toUpperCase()));
      socket.on('end', () => socket.end());
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', () => resolve()));
    this.port = (this.server.address() as net.AddressInfo).port;
    return this;
  }

  get count(): number {
    return this.requests.length;
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const rec: RecordedRequest = {
        method: req.method ?? '',
        url: req.url ?? '',
        rawHeaders: req.rawHeaders,
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        httpVersion: req.httpVersion,
      };
      const index = this.requests.length;
      this.requests.push(rec);
      const b = this.behave(rec, index);
      switch (b.kind) {
        case 'echo': {
          const body = JSON.stringify({
            upstream: this.name,
            method: rec.method,
            url: rec.url,
            headers: rec.headers,
            body: rec.body,
          });
          res.writeHead(b.status ?? 200, {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
            ...b.headers,
          });
          res.end(body);
          break;
        }
        case 'status': {
          const body = b.body ?? '';
          res.writeHead(b.status, { 'content-length': Buffer.byteLength(body), ...b.headers });
          res.end(body);
          break;
        }
        case 'hang':
          this.hanging.add(res);
          res.on('close', () => this.hanging.delete(res));
          break;
        case 'reset':
          req.socket.destroy();
          break;
        case 'chunked': {
          res.writeHead(200, b.trailers ? { trailer: Object.keys(b.trailers).join(', ') } : {});
          for (const c of b.chunks) res.write(c);
          if (b.trailers) res.addTrailers(b.trailers);
          res.end();
          break;
        }
        case 'close-delimited': {
          // Raw HTTP/1.0-style response: no length, body ends at close.
          const s = req.socket;
          s.write(`HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n${b.body}`);
          s.end();
          break;
        }
      }
    });
  }

  async close(): Promise<void> {
    for (const r of this.hanging) r.destroy();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

export async function startUpstream(name?: string): Promise<FakeUpstream> {
  return new FakeUpstream(name).start();
}

/** A TCP server that echoes bytes uppercased and supports half-close (ends after the peer). */
export class TcpEchoServer {
  readonly server: net.Server;
  port = 0;
  private readonly sockets = new Set<net.Socket>();
  received = '';
  connections = 0;
  /** When set, the server half-closes first after sending this. */
  greeting: string | undefined;

  constructor() {
    this.server = net.createServer({ allowHalfOpen: true }, (s) => {
      this.connections++;
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
      s.on('error', () => {});
      if (this.greeting !== undefined) {
        s.end(this.greeting);
        s.on('data', (d: Buffer) => {
          this.received += d.toString('latin1');
        });
        return;
      }
      s.on('data', (d: Buffer) => {
        this.received += d.toString('latin1');
        s.write(d.toString('latin1').toUpperCase());
      });
      s.on('end', () => s.end('<bye>'));
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', () => resolve()));
    this.port = (this.server.address() as net.AddressInfo).port;
    return this;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
