/**
 * What the demo runs, read from the configuration directory itself, so the YAML stays the one
 * source of truth (edit an address there and the demo follows):
 *
 * - every WorkloadEntry whose `app` label names a sample workload (samples/workloads.ts) is a
 *   process pair: the application and its sidecar. The entry's address is the workload's
 *   identity (`--ip`, which is how mizzend recognises the proxy) and its labels are the
 *   proxy's labels;
 * - the Sidecar selecting it says where the application listens (the ingress listener's
 *   `defaultEndpoint`), where its sidecar receives mesh traffic (ingress `bind`:port), and at
 *   which addresses the application reaches other services (egress listeners with `bind`);
 * - every Gateway is served by one `router` proxy labelled with the Gateway's selector, whose
 *   identity is the first server `bind` address.
 *
 * Documents that do not decode are skipped here: mizzend reports them with file:line.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { isWorkloadName, type WorkloadName } from '../../../samples/workloads.ts';
import { decodeText } from '../../api/decode.ts';
import type { Gateway } from '../../api/networking/gateway.ts';
import type { Sidecar } from '../../api/networking/sidecar.ts';
import type { WorkloadEntry } from '../../api/networking/workload-entry.ts';
import type { ConfigResource } from '../../api/resource.ts';

/** An address the demo will bind (or a proxy will), with what it is for error messages. */
export interface Endpoint {
  readonly host: string;
  readonly port: number;
}

export interface EgressTarget {
  /** The service's short name (`reviews`), from the imported host. */
  readonly service: string;
  readonly host: string;
  readonly port: number;
  readonly protocol: string;
}

export interface DemoWorkload {
  /** The WorkloadEntry's name: `reviews-v2`; also the proxy's pod name. */
  readonly name: string;
  readonly namespace: string;
  readonly app: WorkloadName;
  readonly version: string;
  readonly ip: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly serviceAccount?: string;
  /** Where the application listens (the Sidecar ingress defaultEndpoint). */
  readonly appEndpoint: Endpoint;
  /** Where the sidecar receives mesh traffic for it (ingress bind:port). */
  readonly inbound: Endpoint;
  readonly egress: readonly EgressTarget[];
  /** `file` of the Sidecar, for messages. */
  readonly sidecarSource: string;
}

export interface DemoGateway {
  /** Pod name of the router proxy: `<gateway name>`. */
  readonly name: string;
  readonly namespace: string;
  readonly ip: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly servers: readonly { readonly host: string; readonly port: number; readonly protocol: string }[];
  readonly source: string;
}

export interface DemoTopology {
  readonly workloads: readonly DemoWorkload[];
  readonly gateways: readonly DemoGateway[];
}

export class TopologyError extends Error {}

const CONFIG_FILE = /\.(ya?ml|json)$/i;

function configFiles(root: string): string[] {
  if (statSync(root).isFile()) return [root];
  const out: string[] = [];
  for (const entry of readdirSync(root, { withFileTypes: true })) {
    if (entry.name.startsWith('.')) continue;
    const full = join(root, entry.name);
    if (entry.isDirectory()) out.push(...configFiles(full));
    else if (CONFIG_FILE.test(entry.name)) out.push(full);
  }
  return out.sort();
}

/** `127.0.0.1:9081` or `[::1]:9081`; undefined for unix sockets and malformed text. */
function parseEndpoint(text: string | undefined): Endpoint | undefined {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(text ?? '');
  return m ? { host: m[1], port: Number(m[2]) } : undefined;
}

function selects(
  selector: Readonly<Record<string, string>> | undefined,
  labels: Record<string, string>,
): boolean {
  if (!selector) return false;
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

/** `./reviews.bookinfo.svc.cluster.local` -> `reviews`; `*` parts are skipped. */
function shortName(host: string): string | undefined {
  const name = host.includes('/') ? host.slice(host.indexOf('/') + 1) : host;
  if (name.includes('*')) return undefined;
  return name.split('.')[0];
}

export function loadTopology(configDir: string): DemoTopology {
  const entries: ConfigResource<WorkloadEntry>[] = [];
  const sidecars: ConfigResource<Sidecar>[] = [];
  const gateways: ConfigResource<Gateway>[] = [];
  for (const file of configFiles(configDir)) {
    const decoded = decodeText(readFileSync(file, 'utf8'), relative(process.cwd(), file) || file, {
      defaultNamespace: 'default',
    });
    for (const d of decoded.documents) {
      const r = d.resource;
      if (!r) continue;
      if (r.kind === 'WorkloadEntry') entries.push(r as ConfigResource<WorkloadEntry>);
      else if (r.kind === 'Sidecar') sidecars.push(r as ConfigResource<Sidecar>);
      else if (r.kind === 'Gateway') gateways.push(r as ConfigResource<Gateway>);
    }
  }
  const byName = <T extends ConfigResource>(a: T, b: T) =>
    `${a.meta.namespace}/${a.meta.name}` < `${b.meta.namespace}/${b.meta.name}` ? -1 : 1;
  sidecars.sort(byName);
  const workloads: DemoWorkload[] = [];
  for (const we of entries.sort(byName)) {
    const labels = { ...(we.spec.labels ?? {}) };
    const app = labels.app;
    if (!app || !isWorkloadName(app)) continue;
    const where = `WorkloadEntry ${we.meta.namespace}/${we.meta.name}`;
    const ip = we.spec.address;
    if (!ip || !/^127\.\d+\.\d+\.\d+$/.test(ip)) {
      throw new TopologyError(
        `${where}: address ${JSON.stringify(ip ?? '')} is not a loopback IPv4 address; the demo runs every workload on 127/8`,
      );
    }
    const sidecar = sidecars.find(
      (s) => s.meta.namespace === we.meta.namespace && selects(s.spec.workloadSelector?.labels, labels),
    );
    const ingress = sidecar?.spec.ingress?.[0];
    const appEndpoint = parseEndpoint(ingress?.defaultEndpoint);
    if (!sidecar || !ingress || !appEndpoint || !ingress.bind) {
      throw new TopologyError(
        `${where}: no Sidecar in namespace ${we.meta.namespace} selects it with an ingress listener that has a bind address and a defaultEndpoint host:port; the demo reads from it where the application listens and where its sidecar receives traffic`,
      );
    }
    const egress: EgressTarget[] = [];
    for (const l of sidecar.spec.egress ?? []) {
      if (!l.port?.number || !l.bind || l.bind.startsWith('unix:')) continue;
      for (const h of l.hosts) {
        const service = shortName(h);
        if (service)
          egress.push({ service, host: l.bind, port: l.port.number, protocol: l.port.protocol ?? '' });
      }
    }
    workloads.push({
      name: we.meta.name,
      namespace: we.meta.namespace,
      app,
      version: labels.version ?? 'v1',
      ip,
      labels,
      serviceAccount: we.spec.serviceAccount,
      appEndpoint,
      inbound: { host: ingress.bind, port: ingress.port.number ?? 0 },
      egress,
      sidecarSource: sidecar.meta.source?.file ?? '',
    });
  }
  const demoGateways: DemoGateway[] = [];
  for (const gw of gateways.sort(byName)) {
    const servers = (gw.spec.servers ?? []).map((s) => ({
      host: s.bind ?? '0.0.0.0',
      port: s.port?.number ?? 0,
      protocol: (s.port?.protocol ?? '').toUpperCase(),
    }));
    const source = gw.meta.source?.file ?? '';
    for (const s of servers) {
      if (!/^127\.\d+\.\d+\.\d+$/.test(s.host)) {
        throw new TopologyError(
          `Gateway ${gw.meta.namespace}/${gw.meta.name} (${source}): server port ${s.port} binds ${s.host}; the demo keeps every listener on loopback, so give each server a bind address in 127/8`,
        );
      }
    }
    demoGateways.push({
      name: gw.meta.name,
      namespace: gw.meta.namespace,
      ip: servers[0]?.host ?? '127.0.0.1',
      labels: { ...(gw.spec.selector ?? {}) },
      servers,
      source,
    });
  }
  return { workloads, gateways: demoGateways };
}

/**
 * The application's settings for its egress: `<SERVICE>_URL` (HTTP base URL), `<SERVICE>_TARGET`
 * (gRPC host:port) and `<SERVICE>_AUTHORITY` (the Host / :authority the sidecar routes by),
 * the names the sample workloads read (samples/README.md).
 */
export function egressEnv(w: DemoWorkload): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of w.egress) {
    const key = e.service.toUpperCase().replace(/[^A-Z0-9]/g, '_');
    env[`${key}_URL`] = `http://${e.host}:${e.port}`;
    env[`${key}_TARGET`] = `${e.host}:${e.port}`;
    env[`${key}_AUTHORITY`] = `${e.service}:${e.port}`;
  }
  return env;
}
