/**
 * HTTP/2 peers for the proxy's h2 tests: a node:http2 client that collects one response
 * (headers, body, trailers, reset code), and an h2c backend whose behaviour each test sets.
 */
import { once } from 'node:events';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';

export interface H2Response {
  status: number;
  headers: http2.IncomingHttpHeaders;
  body: string;
  trailers: http2.IncomingHttpHeaders | undefined;
  /** RST_STREAM code when the stream was reset (0 = ended normally). */
  rstCode: number;
}

/** Sends one request on `session` and collects the response. */
export function h2request(
  session: http2.ClientHttp2Session,
  headers: http2.OutgoingHttpHeaders,
  body?: string | Buffer,
  trailers?: http2.OutgoingHttpHeaders,
): Promise<H2Response> {
  return new Promise((resolve) => {
    const endStream = body === undefined && trailers === undefined;
    const req = session.request(
      { ':method': body === undefined ? 'GET' : 'POST', ':path': '/', ...headers },
      { endStream, waitForTrailers: trailers !== undefined },
    );
    if (trailers !== undefined) req.on('wantTrailers', () => req.sendTrailers(trailers));
    const out: H2Response = { status: 0, headers: {}, body: '', trailers: undefined, rstCode: 0 };
    const chunks: Buffer[] = [];
    req.on('response', (h) => {
      out.status = Number(h[':status']);
      out.headers = h;
    });
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('trailers', (t) => {
      out.trailers = t;
    });
    req.on('error', () => {});
    req.on('close', () => {
      out.body = Buffer.concat(chunks).toString('utf8');
      out.rstCode = req.rstCode ?? 0;
      resolve(out);
    });
    if (!endStream) {
      if (body !== undefined) req.end(body);
      else req.end();
    }
  });
}

export interface SeenRequest {
  headers: http2.IncomingHttpHeaders;
  body: string;
  trailers: http2.IncomingHttpHeaders | undefined;
}

export type H2Handler = (stream: http2.ServerHttp2Stream, seen: SeenRequest) => void;

/** An h2c backend: records each request, then lets `handler` answer it once its body ended. */
export class H2Backend {
  readonly server: http2.Http2Server;
  port = 0;
  readonly seen: SeenRequest[] = [];
  readonly sessions = new Set<http2.ServerHttp2Session>();
  sessionsTotal = 0;
  /** Called on the headers, before the body (for streaming tests); default waits for the end. */
  onHeaders: ((stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => boolean) | undefined;
  handler: H2Handler = (stream, seen) => {
    stream.respond({ ':status': 200, 'content-type': 'text/plain' });
    stream.end(`echo:${seen.body}`);
  };

  constructor(settings: http2.Settings = {}) {
    this.server = http2.createServer({ settings });
    this.server.on('session', (s) => {
      this.sessionsTotal++;
      this.sessions.add(s);
      s.on('close', () => this.sessions.delete(s));
      s.on('error', () => {});
    });
    this.server.on('stream', (stream, headers) => {
      stream.on('error', () => {});
      if (this.onHeaders?.(stream, headers)) return;
      const seen: SeenRequest = { headers, body: '', trailers: undefined };
      this.seen.push(seen);
      const chunks: Buffer[] = [];
      stream.on('data', (d: Buffer) => chunks.push(d));
      stream.on('trailers', (t) => {
        seen.trailers = t;
      });
      stream.on('end', () => {
        seen.body = Buffer.concat(chunks).toString('utf8');
        this.handler(stream, seen);
      });
    });
  }

  async listen(): Promise<this> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async close(): Promise<void> {
    for (const s of this.sessions) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** An h2c client session to the proxy; resolves once connected. */
export async function h2connect(port: number): Promise<http2.ClientHttp2Session> {
  const s = http2.connect(`http://127.0.0.1:${port}`);
  s.on('error', () => {});
  await once(s, 'connect');
  return s;
}

export function closeSession(s: http2.ClientHttp2Session): Promise<void> {
  if (s.closed || s.destroyed) return Promise.resolve();
  return new Promise((resolve) => s.close(() => resolve()));
}
