/**
 * Helpers for the sample-application tests: start workloads in-process on 127.0.0.1 port 0
 * with their log lines captured, plain HTTP/1.1 and HTTP/2 requests that leave no pooled
 * connection behind, a guard for waits, and the open-handle check each file ends with.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { test } from 'node:test';
import type { SampleEnv } from '../../samples/common/env.ts';
import { type RunningWorkload, startWorkload } from '../../samples/run.ts';
import type { WorkloadName } from '../../samples/workloads.ts';

/** Rejects if `promise` has not settled within `ms`: a guard against hanging, never a wait for time. */
export async function within<T>(promise: Promise<T>, what: string, ms = 10_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, guard]);
  } finally {
    clearTimeout(timer);
  }
}

export interface Started extends RunningWorkload {
  readonly logs: string[];
  readonly url: string;
}

/** Starts a workload in this process on 127.0.0.1:0. Close it with `close()`. */
export async function start(name: WorkloadName, version = 'v1', env: SampleEnv = {}): Promise<Started> {
  const logs: string[] = [];
  const w = await startWorkload({
    name,
    version,
    host: '127.0.0.1',
    port: 0,
    env,
    logSink: (l) => logs.push(l),
  });
  return Object.assign(w, { logs, url: `http://127.0.0.1:${w.port}` });
}

export interface Reply {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

/** One HTTP/1.1 request on a fresh connection (no agent, so nothing stays open). */
export function request(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method: options.method ?? 'GET', headers: options.headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** GETs JSON; the body is typed loosely because tests read whatever fields they check. */
export async function getJson(
  url: string,
  headers: Record<string, string> = {},
  // biome-ignore lint/suspicious/noExplicitAny: tests index into arbitrary JSON answers
): Promise<{ status: number; json: any }> {
  const res = await request(url, { headers });
  assert.match(String(res.headers['content-type']), /^application\/json/, `content type of ${url}`);
  return { status: res.status, json: JSON.parse(res.body) };
}

/** Requests over HTTP/2 with prior knowledge (h2c) on one session, then closes it. */
export async function h2Requests(
  origin: string,
  requests: readonly { path: string; method?: string; headers?: Record<string, string> }[],
): Promise<Reply[]> {
  const session = http2.connect(origin);
  session.on('error', () => {});
  try {
    const out: Reply[] = [];
    for (const r of requests) {
      out.push(
        await new Promise<Reply>((resolve, reject) => {
          const stream = session.request({ ':method': r.method ?? 'GET', ':path': r.path, ...r.headers });
          let headers: http2.IncomingHttpHeaders = {};
          const chunks: Buffer[] = [];
          stream.on('response', (h) => {
            headers = h;
          });
          stream.on('data', (c: Buffer) => chunks.push(c));
          stream.on('end', () =>
            resolve({
              status: Number(headers[':status']),
              headers: headers as http.IncomingHttpHeaders,
              body: Buffer.concat(chunks).toString('utf8'),
            }),
          );
          stream.on('error', reject);
          stream.end();
        }),
      );
    }
    return out;
  } finally {
    await new Promise<void>((resolve) => session.close(() => resolve()));
  }
}

/** A port on 127.0.0.1 that nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A plain HTTP server standing in for an upstream; records each request. */
export async function fakeUpstream(
  respond: (
    req: http.IncomingMessage,
  ) => { status: number; body: unknown } | Promise<{ status: number; body: unknown }>,
): Promise<{ url: string; seen: http.IncomingMessage[]; close: () => Promise<void> }> {
  const seen: http.IncomingMessage[] = [];
  const server = http.createServer(async (req, res) => {
    seen.push(req);
    const out = await respond(req);
    const body = typeof out.body === 'string' ? out.body : JSON.stringify(out.body);
    res.writeHead(out.status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
    });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

const WATCHED = new Set(['Timeout', 'ProcessWrap', 'PipeWrap', 'Http2Session']);
// The test process's own stdio may be pipes: those present when this module loads are not ours.
const baselinePipes = process.getActiveResourcesInfo().filter((t) => t === 'PipeWrap').length;

function openHandles(): string[] {
  const open = process.getActiveResourcesInfo().filter((t) => t.startsWith('TCP') || WATCHED.has(t));
  const pipes = open.filter((t) => t === 'PipeWrap').length;
  const others = open.filter((t) => t !== 'PipeWrap');
  return [...others, ...Array<string>(Math.max(0, pipes - baselinePipes)).fill('PipeWrap')];
}

/**
 * CODE-STYLE §C.8: the file's last test fails when anything the file opened is still open.
 * Sockets finish closing a few event-loop turns after close(), so turns, not time, are given.
 */
export function testNoOpenHandles(): void {
  test('leaves no open handles', async () => {
    for (let i = 0; i < 10_000 && openHandles().length > 0; i++) await new Promise((r) => setImmediate(r));
    const open = openHandles();
    if (open.length > 0) setTimeout(() => process.exit(1), 2_000).unref();
    assert.deepEqual(open, [], 'handles left open');
  });
}
