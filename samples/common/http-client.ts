/**
 * GET requests to an upstream service over HTTP/1.1 with keep-alive, a timeout for the whole
 * exchange and a bound on the response size. Failures become an UpstreamError whose message
 * says what went wrong (refused, timed out, bad JSON, status), for pages that degrade.
 */
import http from 'node:http';

export class UpstreamError extends Error {
  /** The upstream's HTTP status when it answered, undefined when it did not. */
  readonly status: number | undefined;
  constructor(message: string, status?: number, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UpstreamError';
    this.status = status;
  }
}

export interface UpstreamResponse {
  readonly status: number;
  readonly body: Buffer;
}

export interface UpstreamOptions {
  /** Base URL, e.g. http://reviews:9080. */
  readonly base: URL;
  /** Host header to send instead of the base URL's host:port. */
  readonly authority?: string;
  readonly timeoutMs: number;
  readonly maxResponseBytes?: number;
}

export class Upstream {
  readonly #options: UpstreamOptions;
  readonly #agent = new http.Agent({ keepAlive: true, maxSockets: 64, maxFreeSockets: 16 });

  constructor(options: UpstreamOptions) {
    this.#options = options;
  }

  get base(): URL {
    return this.#options.base;
  }

  /** GETs `path` and returns the response, whatever its status. */
  get(path: string, headers: Readonly<Record<string, string>>): Promise<UpstreamResponse> {
    const { base, authority, timeoutMs } = this.#options;
    const max = this.#options.maxResponseBytes ?? 1024 * 1024;
    const url = new URL(path, base);
    const what = `GET ${url.href}`;
    return new Promise((resolve, reject) => {
      const req = http.request(url, {
        method: 'GET',
        agent: this.#agent,
        headers: { ...headers, ...(authority ? { host: authority } : {}), accept: 'application/json' },
      });
      const timer = setTimeout(() => {
        req.destroy(new UpstreamError(`${what}: no response within ${timeoutMs} ms`));
      }, timeoutMs);
      const fail = (err: unknown) => {
        clearTimeout(timer);
        reject(
          err instanceof UpstreamError
            ? err
            : new UpstreamError(`${what}: ${describe(err)}`, undefined, { cause: err }),
        );
      };
      req.on('error', fail);
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > max) {
            req.destroy(new UpstreamError(`${what}: response larger than ${max} bytes`, res.statusCode));
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () => {
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) });
        });
        res.on('error', fail);
      });
      req.end();
    });
  }

  /** GETs `path` and parses a 200 JSON answer; anything else is an UpstreamError. */
  async getJson(path: string, headers: Readonly<Record<string, string>>): Promise<unknown> {
    const res = await this.get(path, headers);
    const url = new URL(path, this.#options.base).href;
    if (res.status !== 200) {
      const text = res.body.toString('utf8').trim().slice(0, 200);
      throw new UpstreamError(`GET ${url}: HTTP ${res.status}${text ? ` ${text}` : ''}`, res.status);
    }
    try {
      return JSON.parse(res.body.toString('utf8'));
    } catch {
      throw new UpstreamError(`GET ${url}: response is not JSON`, res.status);
    }
  }

  close(): void {
    this.#agent.destroy();
  }
}

function describe(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e?.code === 'ECONNREFUSED') return 'connection refused';
  if (e?.code === 'ECONNRESET') return 'connection reset';
  if (e?.code === 'ENOTFOUND' || e?.code === 'EAI_AGAIN') return `host not found (${e.code})`;
  return e?.message ?? String(err);
}
