/**
 * Support for downstream TLS and listener tests: the test certificates, a TLS client that
 * reports what the handshake established and what came back, and a network filter that records
 * the ConnectionInfo a chain received.
 */
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import type { DownstreamInfo } from '../../../src/proxy/listener/listener-filters.ts';
import { registerNetworkFilter } from '../../../src/proxy/network/network-filter.ts';

export const TESTDATA = new URL('./testdata/', import.meta.url).pathname;
export const pem = (name: string): Buffer => readFileSync(`${TESTDATA}${name}`);

export interface TlsResult {
  readonly established: boolean;
  readonly alpn: string | false | undefined;
  readonly serverCn: string | undefined;
  readonly authorized: boolean;
  readonly text: string;
  readonly error: string | undefined;
}

/**
 * Connects with TLS, writes `send` once connected, and collects the reply until the server
 * closes (or `until` matches). Never rejects: failures are in the result.
 */
export function tlsExchange(
  port: number,
  options: tls.ConnectionOptions,
  send: string,
  until?: (text: string) => boolean,
): Promise<TlsResult> {
  return new Promise((resolve) => {
    let text = '';
    let established = false;
    let alpn: string | false | undefined;
    let serverCn: string | undefined;
    let authorized = false;
    let error: string | undefined;
    let done = false;
    const s = tls.connect({ host: '127.0.0.1', port, ca: pem('ca.crt'), ...options }, () => {
      established = true;
      alpn = s.alpnProtocol ?? undefined;
      authorized = s.authorized;
      const cn = s.getPeerCertificate()?.subject?.CN;
      serverCn = Array.isArray(cn) ? cn[0] : cn;
      s.write(send);
    });
    const finish = () => {
      if (done) return;
      done = true;
      s.destroy();
      resolve({ established, alpn, serverCn, authorized, text, error });
    };
    s.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      if (until?.(text)) finish();
    });
    s.on('error', (e: Error & { code?: string }) => {
      error = e.code ?? e.message;
    });
    s.on('close', finish);
  });
}

/** Network filter type `mizzen.test.CaptureInfo`: records each connection's info. */
export const captured: DownstreamInfo[] = [];
registerNetworkFilter({
  typeName: 'mizzen.test.CaptureInfo',
  compile: (reader, name) => {
    reader.done();
    return {
      name,
      open(info) {
        captured.push(info as DownstreamInfo);
        return undefined;
      },
    };
  },
});
