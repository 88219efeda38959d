/**
 * nginx and haproxy set up as the same four listeners mizzen-proxy gets in the benchmark
 * (HTTP/1.1, h2c, gRPC over h2c, TCP pass-through), each one process on one core with
 * keep-alive upstream connections and no access log, so the comparison is like for like.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface PeerPorts {
  readonly http: number;
  readonly h2: number;
  readonly grpc: number;
  readonly tcp: number;
  readonly upstreamHttp: number;
  readonly upstreamGrpc: number;
}

const STREAM_MODULE = '/usr/lib/nginx/modules/ngx_stream_module.so';

/** Writes nginx.conf into `dir`; returns the argv that runs it in the foreground, one process. */
export function nginxCommand(dir: string, p: PeerPorts): string[] {
  const conf = join(dir, 'nginx.conf');
  const proxy = `proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection "";`;
  writeFileSync(
    conf,
    `${existsSync(STREAM_MODULE) ? `load_module ${STREAM_MODULE};` : ''}
pid ${dir}/nginx.pid;
error_log stderr error;
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fcgi; uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  keepalive_requests 1000000;
  upstream backend { server 127.0.0.1:${p.upstreamHttp}; keepalive 128; keepalive_requests 1000000; }
  upstream grpcb { server 127.0.0.1:${p.upstreamGrpc}; keepalive 128; }
  server { listen 127.0.0.1:${p.http}; location / { ${proxy} } }
  server { listen 127.0.0.1:${p.h2} http2; location / { ${proxy} } }
  server { listen 127.0.0.1:${p.grpc} http2; location / { grpc_pass grpc://grpcb; } }
}
${existsSync(STREAM_MODULE) ? `stream { server { listen 127.0.0.1:${p.tcp}; proxy_pass 127.0.0.1:${p.upstreamHttp}; } }` : ''}
`,
  );
  // master_process off: the one process that serves is the one we measure.
  return ['nginx', '-c', conf, '-p', dir, '-g', 'daemon off; master_process off;'];
}

/** Writes haproxy.cfg into `dir`; returns the argv that runs it in the foreground, one thread. */
export function haproxyCommand(dir: string, p: PeerPorts): string[] {
  const conf = join(dir, 'haproxy.cfg');
  writeFileSync(
    conf,
    `global
  nbthread 1
  maxconn 4000
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  option http-keep-alive
frontend http
  bind 127.0.0.1:${p.http}
  default_backend be
frontend h2
  bind 127.0.0.1:${p.h2} proto h2
  default_backend be
frontend grpc
  bind 127.0.0.1:${p.grpc} proto h2
  default_backend grpc
backend be
  http-reuse always
  server s1 127.0.0.1:${p.upstreamHttp}
backend grpc
  http-reuse always
  server s1 127.0.0.1:${p.upstreamGrpc} proto h2
listen tcp
  mode tcp
  bind 127.0.0.1:${p.tcp}
  server s1 127.0.0.1:${p.upstreamHttp}
`,
  );
  return ['haproxy', '-f', conf, '-db'];
}

export const hasNginxStream = (): boolean => existsSync(STREAM_MODULE);
