/**
 * What the demo prints once the mesh is up: commands to try (each line that starts with
 * `curl` or `npx node` runs as is in a shell; the demo's test executes every one of them) and
 * where to look.
 */
import type { DemoTopology } from './topology.ts';

export interface DemoInfo {
  /** The configuration directory as the user named it. */
  readonly configDir: string;
  /** mizzend's debug base URL. */
  readonly monitoring: string;
  readonly grpcPort: number;
  readonly topology: DemoTopology;
  readonly proxies: (name: string) => { admin: number; status: number } | undefined;
  /** Each proxy's Istio metrics port on its own address (0: a free port, not shown). */
  readonly prometheusPort: number;
  readonly startSeconds: number;
}

/** `localhost` reads better than 127.0.0.1 and reaches it (curl falls back from ::1). */
function hostForUrl(host: string): string {
  return host === '127.0.0.1' ? 'localhost' : host;
}

/** Pads the command so the `#` comments line up. */
function cmd(command: string, comment?: string): string {
  return comment ? `  ${command.padEnd(72)} # ${comment}` : `  ${command}`;
}

export function instructions(info: DemoInfo): string[] {
  const { topology } = info;
  const apps = new Set(topology.workloads.map((w) => w.app));
  const out: string[] = [];
  out.push(`The mesh is up (${info.startSeconds.toFixed(1)} s). Try it through the ingress gateway:`);
  out.push('');
  for (const g of topology.gateways) {
    const http = g.servers.find((s) => s.protocol === 'HTTP');
    if (http) {
      const base = `http://${hostForUrl(http.host)}:${http.port}`;
      if (apps.has('productpage')) {
        out.push(
          cmd(
            `curl -s ${base}/productpage | grep -o 'Reviews served by: [^<]*'`,
            'the page; which reviews version answered',
          ),
        );
        out.push(
          cmd(
            `curl -s ${base}/api/v1/products/0/reviews`,
            '"podname": reviews v1/v2/v3 by the weights in the VS',
          ),
        );
        out.push(
          cmd(
            `curl -s -H 'end-user: jason' ${base}/api/v1/products/0/reviews`,
            'jason always gets reviews-v2 (header match)',
          ),
        );
        out.push(cmd(`curl -s ${base}/api/v1/products/0`, 'details, through productpage'));
        out.push(cmd(`curl -s ${base}/api/v1/products/0/ratings`, 'ratings, through productpage'));
      }
      if (apps.has('ws-echo')) {
        out.push(
          cmd(
            `npx node samples/ws-echo/client.ts ws://${hostForUrl(http.host)}:${http.port}/echo hello`,
            'WebSocket through the gateway',
          ),
        );
      }
    }
    const tcp = g.servers.find((s) => s.protocol === 'TCP');
    if (tcp && apps.has('tcp-echo')) {
      out.push(
        cmd(
          `npx node samples/tcp-echo/client.ts ${tcp.host}:${tcp.port} hello`,
          'TCP through the gateway: "one hello"',
        ),
      );
    }
  }
  out.push('');
  out.push('Where to look:');
  out.push('');
  // mizzenctl finds mizzend on 127.0.0.1:15014 by default; say where it is otherwise.
  const mizzendFlag = info.monitoring.endsWith(':15014')
    ? ''
    : ` --mizzend ${info.monitoring.replace(/^http:\/\//, '')}`;
  out.push(
    cmd(`npx mizzenctl proxy-status${mizzendFlag}`, 'every proxy; CDS/LDS/EDS/RDS SYNCED, NOT SENT or STALE'),
  );
  const sample = topology.workloads.find((w) => w.app === 'productpage') ?? topology.workloads[0];
  if (sample) {
    out.push(
      cmd(
        `npx mizzenctl proxy-config routes ${sample.name}.${sample.namespace}${mizzendFlag}`,
        "a proxy's config, like istioctl (clusters, listeners, endpoints, ...)",
      ),
    );
  }
  out.push(cmd(`curl -s ${info.monitoring}/debug/syncz`, 'mizzend: each proxy and what it ACKed'));
  out.push(
    cmd(`curl -s ${info.monitoring}/debug/configz`, 'every object; rejected documents with file:line'),
  );
  out.push(cmd(`curl -s ${info.monitoring}/debug/registryz`, 'services and their endpoints'));
  out.push(cmd(`curl -s ${info.monitoring}/metrics`, 'pilot_* metrics'));
  out.push(
    `  (mizzend also serves ${info.monitoring}/debug/config_dump?proxyID=<name>.<namespace>; xDS on 127.0.0.1:${info.grpcPort})`,
  );
  out.push('');
  out.push(
    '  Each proxy: admin API (/config_dump /clusters /listeners /stats /stats/prometheus) and readiness:',
  );
  const rows: string[][] = [['proxy', 'app', 'inbound', 'admin', 'readiness']];
  for (const w of topology.workloads) {
    const p = info.proxies(w.name);
    rows.push([
      w.name,
      `${w.appEndpoint.host}:${w.appEndpoint.port}`,
      `${w.inbound.host}:${w.inbound.port}`,
      p ? `http://${w.ip}:${p.admin}` : '-',
      p ? `http://${w.ip}:${p.status}/healthz/ready` : '-',
    ]);
  }
  for (const g of topology.gateways) {
    const p = info.proxies(g.name);
    rows.push([
      g.name,
      '-',
      g.servers.map((s) => `${s.host}:${s.port}`).join(' '),
      p ? `http://${g.ip}:${p.admin}` : '-',
      p ? `http://${g.ip}:${p.status}/healthz/ready` : '-',
    ]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const r of rows)
    out.push(
      `    ${r
        .map((c, i) => c.padEnd(widths[i]))
        .join('  ')
        .trimEnd()}`,
    );
  if (info.prometheusPort !== 0) {
    const first = topology.workloads[0];
    out.push('');
    out.push(
      `  Istio's metrics (istio_requests_total, istio_tcp_*, with peer labels) on each proxy's address at :${info.prometheusPort}, e.g.`,
    );
    if (first)
      out.push(
        cmd(
          `curl -s http://${first.ip}:${info.prometheusPort}/stats/prometheus | grep istio_requests_total`,
          `what ${first.name}'s sidecar saw`,
        ),
      );
  }
  out.push('');
  out.push(`Live edits: change a file under ${info.configDir} and save; mizzend validates it and pushes it`);
  out.push('to the proxies, no restart. For example, in virtual-services.yaml give the "default" route');
  out.push('of reviews weight 50 to subset v2 and 50 to subset v3, then repeat the reviews curl above.');
  out.push('A broken document is rejected alone (its file:line is in the log) and the last good config');
  out.push('keeps serving. A workload or proxy that dies is restarted.');
  out.push('');
  out.push('Press Ctrl-C to stop.');
  return out;
}
