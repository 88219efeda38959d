/**
 * Helpers for the assembly tests: a real AdsServer with the real generators over FakeMizzend's
 * push context (Istio YAML in), a ProxyServer assembled in-process from a real bootstrap, free
 * loopback ports, and small HTTP/TCP clients. Everything binds 127.0.0.1.
 */
import http from 'node:http';
import net from 'node:net';
import { loadBootstrap, parseBootstrapArgs } from '../../../src/agent/bootstrap.ts';
import type { PushContext } from '../../../src/pilot/model/push-context.ts';
import { AdsServer } from '../../../src/pilot/xds/ads-server.ts';
import { ProxyServer } from '../../../src/proxy/proxy-server.ts';
import { FakeMizzend } from '../../support/fake-mizzend.ts';

/** A port that was free a moment ago (bound on 127.0.0.1 and released). */
export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', () => resolve()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

export interface ControlPlane {
  readonly cp: FakeMizzend;
  readonly ads: AdsServer<PushContext>;
  readonly port: number;
  /** Applies Istio YAML and pushes what it changed to every connected proxy. */
  apply(yaml: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * Mesh config for these tests: no locality-weighted balancing and no auto mTLS, which the engine
 * does not support yet (clusters carrying them are NACKed).
 */
export const TEST_MESH = 'localityLbSetting: {enabled: false}\nenableAutoMtls: false\n';

export async function startControlPlane(configYaml: string, mesh = TEST_MESH): Promise<ControlPlane> {
  const cp = await FakeMizzend.start({ configYaml, mesh });
  const ads = new AdsServer<PushContext>({ generators: cp.generators, pushContext: () => cp.push });
  const port = await ads.listen(0, '127.0.0.1');
  return {
    cp,
    ads,
    port,
    async apply(yaml) {
      const req = await cp.applyConfig(yaml);
      if (req) ads.push(req);
    },
    async close() {
      await ads.close({ graceMs: 0 });
      await cp.close();
    },
  };
}

/** A sidecar proxy (interception NONE) for workload app=client in namespace default. */
export function sidecar(xdsPort: number, extra: readonly string[] = []): ProxyServer {
  const bootstrap = loadBootstrap({
    flags: parseBootstrapArgs([
      'sidecar',
      // Not a backend's address: mizzend finds a proxy's own workload by its IP.
      '--ip',
      '127.0.0.9',
      '--pod-name',
      'client-1',
      '--namespace',
      'default',
      '--label',
      'app=client',
      '--interception-mode',
      'NONE',
      '--discovery-address',
      `127.0.0.1:${xdsPort}`,
      // Istio's metrics listener on a free loopback port, not 0.0.0.0:15090.
      '--prometheus-port',
      '0',
      '--prometheus-address',
      '127.0.0.9',
      ...extra,
    ]),
    env: {},
    hostname: () => 'client-1',
    interfaceAddresses: () => ['127.0.0.9'],
  });
  return new ProxyServer({ bootstrap, adminPort: 0, statusPort: 0, listenerDrainMs: 10_000 });
}

export interface Reply {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
  /** The local port of the client socket: equal ports mean the same connection. */
  readonly localPort: number;
}

export function request(
  port: number,
  path: string,
  options: { host?: string; headers?: Record<string, string>; agent?: http.Agent; method?: string } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: options.method ?? 'GET',
        headers: { host: options.host ?? 'localhost', ...options.headers },
        agent: options.agent ?? false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
            localPort: req.socket?.localPort ?? 0,
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** Sends `data` over a fresh TCP connection, half-closes, and resolves with all it got back. */
export function tcpExchange(port: number, data: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    let got = '';
    s.on('data', (d: Buffer) => {
      got += d.toString('latin1');
    });
    s.on('end', () => {
      s.end();
      resolve(got);
    });
    s.on('error', reject);
    s.on('connect', () => s.end(data));
  });
}

/** Polls `check` once per event-loop turn batch until it holds; fails after `ms`. */
export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  ms = 5000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
