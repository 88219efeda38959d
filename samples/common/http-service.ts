/**
 * The HTTP server every bookinfo workload runs on: one port that speaks HTTP/1.1 and HTTP/2
 * without TLS (h2c with prior knowledge, told apart by the HTTP/2 connection preface), so the
 * application answers whichever protocol a sidecar chooses for the upstream hop. gRPC unary
 * calls (ratings) are served on the same HTTP/2 connections.
 *
 * Handlers see one small request/response model, whatever the protocol; bodies are read whole
 * (with a limit), which suits these tiny JSON and HTML services.
 */
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import type { GrpcUnaryService } from './grpc-unary.ts';
import { DEFAULT_GRACE_MS, type Workload, type WorkloadContext, withGrace } from './workload.ts';

export interface SampleRequest {
  readonly method: string;
  /** The path without the query string, as sent (not percent-decoded). */
  readonly path: string;
  readonly query: URLSearchParams;
  /** Lower-case names; repeated headers joined with ', ' (cookies with '; '). */
  readonly headers: Readonly<Record<string, string | undefined>>;
  readonly body: Buffer;
  readonly protocol: 'HTTP/1.0' | 'HTTP/1.1' | 'HTTP/2';
}

export interface SampleResponse {
  readonly status: number;
  readonly headers?: Readonly<Record<string, string | readonly string[]>>;
  readonly body?: string | Buffer;
}

export type HttpHandler = (req: SampleRequest) => Promise<SampleResponse> | SampleResponse;

export function json(status: number, value: unknown, headers: Record<string, string> = {}): SampleResponse {
  return {
    status,
    headers: { 'content-type': 'application/json', ...headers },
    body: `${JSON.stringify(value)}\n`,
  };
}

export function html(status: number, text: string, headers: Record<string, string> = {}): SampleResponse {
  return { status, headers: { 'content-type': 'text/html; charset=utf-8', ...headers }, body: text };
}

export function plain(status: number, text: string, headers: Record<string, string> = {}): SampleResponse {
  return { status, headers: { 'content-type': 'text/plain; charset=utf-8', ...headers }, body: text };
}

export interface Route {
  readonly method: 'GET' | 'POST';
  /** Anchored; capture groups are passed to `handle`. */
  readonly pattern: RegExp;
  handle(req: SampleRequest, params: readonly string[]): Promise<SampleResponse> | SampleResponse;
}

/** Dispatches on method and path; HEAD is served as GET. Unknown path: 404; wrong method: 405. */
export function router(routes: readonly Route[]): HttpHandler {
  return (req) => {
    const method = req.method === 'HEAD' ? 'GET' : req.method;
    const allowed: string[] = [];
    for (const route of routes) {
      const match = route.pattern.exec(req.path);
      if (!match) continue;
      if (route.method === method) return route.handle(req, match.slice(1));
      allowed.push(route.method === 'GET' ? 'GET, HEAD' : route.method);
    }
    if (allowed.length > 0) {
      return json(
        405,
        { error: `method ${req.method} not allowed on ${req.path}` },
        { allow: allowed.join(', ') },
      );
    }
    return json(404, { error: `no such path: ${req.path}` });
  };
}

/** `GET /health`: the liveness answer every sample gives. */
export function healthRoute(name: string, version: string): Route {
  return {
    method: 'GET',
    pattern: /^\/health$/,
    handle: () => json(200, { status: 'ok', name, version }),
  };
}

/** `GET /status/{code}`: answers with that status, to produce errors on demand. */
export function statusRoute(name: string, version: string): Route {
  return {
    method: 'GET',
    pattern: /^\/status\/(\d{3})$/,
    handle: (_req, [code]) => {
      const status = Number(code);
      if (status < 200 || status > 599) return json(400, { error: `status must be 200..599, got ${code}` });
      return json(status, { status, name, version });
    },
  };
}

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
/** Headers HTTP/2 forbids (RFC 9113 §8.2.2); dropped if a handler sets them. */
const CONNECTION_HEADERS = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
]);
const IDLE_TIMEOUT_MS = 120_000;

export interface HttpServiceOptions {
  readonly ctx: WorkloadContext;
  readonly handler: HttpHandler;
  readonly grpc?: GrpcUnaryService;
  /** Largest request body accepted (413 above it). */
  readonly maxBodyBytes?: number;
  /** Runs after the server has closed (release clients, agents). */
  readonly onClosed?: () => void | Promise<void>;
}

interface Conn {
  kind: 'sniffing' | 'h1' | 'h2';
  /** HTTP/1.1 requests received and not yet answered. */
  busy: number;
}

function noBody(method: string, status: number): boolean {
  return method === 'HEAD' || status === 204 || status === 304;
}

function bodyBuffer(res: SampleResponse): Buffer {
  if (res.body === undefined) return Buffer.alloc(0);
  return typeof res.body === 'string' ? Buffer.from(res.body) : res.body;
}

export async function startHttpService(options: HttpServiceOptions): Promise<Workload> {
  const { ctx, handler, grpc } = options;
  const maxBody = options.maxBodyBytes ?? 64 * 1024;
  const conns = new Map<net.Socket, Conn>();
  let closing = false;

  async function respond(req: SampleRequest): Promise<SampleResponse> {
    try {
      return await handler(req);
    } catch (err) {
      ctx.log.error('handler failed', { method: req.method, path: req.path, err });
      return json(500, { error: `internal error: ${err instanceof Error ? err.message : String(err)}` });
    }
  }

  function toRequest(
    method: string,
    target: string,
    headers: Record<string, string | undefined>,
    body: Buffer,
    protocol: SampleRequest['protocol'],
  ): SampleRequest {
    const q = target.indexOf('?');
    return {
      method,
      path: q < 0 ? target : target.slice(0, q),
      query: new URLSearchParams(q < 0 ? '' : target.slice(q + 1)),
      headers,
      body,
      protocol,
    };
  }

  const h1 = http.createServer();
  h1.timeout = IDLE_TIMEOUT_MS;
  h1.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const started = process.hrtime.bigint();
    const conn = conns.get(req.socket);
    if (conn) conn.busy++;
    res.on('close', () => {
      if (conn) conn.busy--;
      // Shutting down: a connection that has answered its last request is closed now.
      if (closing && conn?.busy === 0) req.socket.end();
    });
    // Shutting down, or a refused body left unread: this is the connection's last response.
    let lastResponse = closing;
    const headers: Record<string, string | undefined> = {};
    for (const [k, v] of Object.entries(req.headers)) headers[k] = Array.isArray(v) ? v.join(', ') : v;
    const write = (out: SampleResponse) => {
      const body = noBody(req.method ?? 'GET', out.status) ? Buffer.alloc(0) : bodyBuffer(out);
      const outHeaders: Record<string, string | readonly string[]> = { ...out.headers };
      if (lastResponse) outHeaders.connection = 'close';
      if (out.status !== 204 && out.status !== 304)
        outHeaders['content-length'] = String(bodyBuffer(out).length);
      res.writeHead(out.status, outHeaders as http.OutgoingHttpHeaders);
      res.end(body);
      ctx.log.access('request', {
        method: req.method,
        path: req.url,
        status: out.status,
        protocol: `HTTP/${req.httpVersion}`,
        ms: Number(process.hrtime.bigint() - started) / 1e6,
      });
    };
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > maxBody) {
      lastResponse = true;
      write(json(413, { error: `request body over ${maxBody} bytes` }));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    req.on('data', (chunk: Buffer) => {
      if (refused) return;
      size += chunk.length;
      if (size > maxBody) {
        refused = true;
        lastResponse = true;
        write(json(413, { error: `request body over ${maxBody} bytes` }));
        return;
      }
      chunks.push(chunk);
    });
    req.on('error', () => req.socket.destroy());
    req.on('end', () => {
      if (refused) return;
      const protocol = req.httpVersion === '1.0' ? 'HTTP/1.0' : 'HTTP/1.1';
      respond(toRequest(req.method ?? 'GET', req.url ?? '/', headers, Buffer.concat(chunks), protocol)).then(
        write,
      );
    });
  });

  const h2 = http2.createServer({ maxSessionMemory: 16 });
  const sessions = new Set<http2.ServerHttp2Session>();
  h2.on('session', (session: http2.ServerHttp2Session) => {
    sessions.add(session);
    session.on('close', () => sessions.delete(session));
    session.on('error', () => {});
    if (closing) session.close();
  });
  h2.on('stream', (stream: http2.ServerHttp2Stream, rawHeaders: http2.IncomingHttpHeaders) => {
    const started = process.hrtime.bigint();
    stream.on('error', () => {});
    const method = String(rawHeaders[':method'] ?? 'GET');
    const target = String(rawHeaders[':path'] ?? '/');
    if (grpc?.accepts(rawHeaders)) {
      grpc.serve(stream, rawHeaders);
      return;
    }
    const headers: Record<string, string | undefined> = {};
    for (const [k, v] of Object.entries(rawHeaders)) {
      if (k.startsWith(':')) continue;
      headers[k] = Array.isArray(v) ? v.join(k === 'cookie' ? '; ' : ', ') : v;
    }
    if (rawHeaders[':authority'] !== undefined && headers.host === undefined)
      headers.host = String(rawHeaders[':authority']);
    const write = (out: SampleResponse) => {
      if (stream.destroyed || stream.closed) return;
      const outHeaders: http2.OutgoingHttpHeaders = { ':status': out.status };
      for (const [k, v] of Object.entries(out.headers ?? {})) {
        if (!CONNECTION_HEADERS.has(k.toLowerCase())) outHeaders[k.toLowerCase()] = v as string | string[];
      }
      const full = bodyBuffer(out);
      if (out.status !== 204 && out.status !== 304) outHeaders['content-length'] = full.length;
      const body = noBody(method, out.status) ? Buffer.alloc(0) : full;
      stream.respond(outHeaders, { endStream: body.length === 0 });
      if (body.length > 0) stream.end(body);
      ctx.log.access('request', {
        method,
        path: target,
        status: out.status,
        protocol: 'HTTP/2',
        ms: Number(process.hrtime.bigint() - started) / 1e6,
      });
    };
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    stream.on('data', (chunk: Buffer) => {
      if (refused) return;
      size += chunk.length;
      if (size > maxBody) {
        refused = true;
        // The rest of the body is read and dropped; memory stays bounded.
        write(json(413, { error: `request body over ${maxBody} bytes` }));
        return;
      }
      chunks.push(chunk);
    });
    stream.on('end', () => {
      if (refused) return;
      respond(toRequest(method, target, headers, Buffer.concat(chunks), 'HTTP/2')).then(write);
    });
  });

  // Reads just enough of a new connection to tell HTTP/2 (the fixed preface) from HTTP/1.x,
  // then puts the bytes back and hands the socket to the matching server.
  function sniff(socket: net.Socket, conn: Conn): void {
    let head: Buffer = Buffer.alloc(0);
    const giveUp = () => socket.destroy();
    const onData = (chunk: Buffer) => {
      head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
      const n = Math.min(head.length, PREFACE.length);
      const isH2 = head.subarray(0, n).equals(PREFACE.subarray(0, n));
      if (isH2 && head.length < PREFACE.length) return;
      socket.removeListener('data', onData);
      socket.removeListener('end', giveUp);
      socket.removeListener('timeout', giveUp);
      socket.setTimeout(0);
      socket.pause();
      socket.unshift(head);
      conn.kind = isH2 ? 'h2' : 'h1';
      if (isH2) {
        // The HTTP/2 session reads the put-back bytes itself; resuming would drop them.
        h2.emit('connection', socket);
      } else {
        h1.emit('connection', socket);
        socket.resume();
      }
    };
    socket.on('data', onData);
    socket.on('end', giveUp);
    socket.setTimeout(IDLE_TIMEOUT_MS);
    socket.on('timeout', giveUp);
  }

  const outer = net.createServer((socket) => {
    socket.on('error', () => {});
    if (closing) {
      socket.destroy();
      return;
    }
    const conn: Conn = { kind: 'sniffing', busy: 0 };
    conns.set(socket, conn);
    socket.on('close', () => conns.delete(socket));
    sniff(socket, conn);
  });

  await new Promise<void>((resolve, reject) => {
    outer.once('error', reject);
    outer.listen({ host: ctx.host, port: ctx.port }, () => {
      outer.removeListener('error', reject);
      resolve();
    });
  });
  outer.on('error', (err) => ctx.log.error('listener error', { err }));
  const port = (outer.address() as net.AddressInfo).port;

  let closed: Promise<void> | undefined;
  return {
    name: ctx.name,
    version: ctx.version,
    host: ctx.host,
    port,
    close(graceMs = DEFAULT_GRACE_MS) {
      closed ??= (async () => {
        closing = true;
        const done = new Promise<void>((resolve) => outer.close(() => resolve()));
        for (const [socket, conn] of conns) {
          if (conn.kind === 'sniffing' || (conn.kind === 'h1' && conn.busy === 0)) socket.destroy();
        }
        for (const session of sessions) session.close();
        await withGrace(done, graceMs, () => {
          for (const session of sessions) session.destroy();
          for (const socket of conns.keys()) socket.destroy();
        });
        await options.onClosed?.();
      })();
      return closed;
    },
  };
}
