/**
 * The agent's status server (Istio's 15021): `GET /healthz/ready` answers 200 once the proxy
 * has its initial config applied and is not draining, 503 otherwise. Kubernetes readiness
 * probes point here; it never blocks on the control plane.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface StatusServerOptions {
  /** Whether the proxy is ready (initial config applied, not draining). */
  readonly ready: () => boolean;
}

export class StatusServer {
  readonly #server: http.Server;

  constructor(options: StatusServerOptions) {
    this.#server = http.createServer({ keepAliveTimeout: 5000 }, (req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (path !== '/healthz/ready') {
        res
          .writeHead(404, { 'content-type': 'text/plain' })
          .end(`unknown path ${path}; try /healthz/ready\n`);
        return;
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('use GET\n');
        return;
      }
      const ok = options.ready();
      res
        .writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' })
        .end(ok ? '' : 'proxy is not ready: initial config not applied yet, or draining\n');
    });
  }

  /** Binds; resolves with the bound port (useful with port 0). */
  listen(port: number, host = '127.0.0.1'): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => {
        this.#server.off('error', reject);
        resolve((this.#server.address() as AddressInfo).port);
      });
    });
  }

  get port(): number {
    const a = this.#server.address();
    return a && typeof a === 'object' ? a.port : 0;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.#server.listening) {
        resolve();
        return;
      }
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }
}
